import { type ChildProcess, spawn } from 'node:child_process';
import { BoxrunError } from '../../core/errors.js';
import type { SandboxOutcome, SandboxRunOptions } from '../docker/sandbox.js';
import { encodeFrame, encodeJob, FrameDecoder, type SupervisorJob } from '../supervisor/protocol.js';

/** How to start boxrun-sv (directly, or wrapped in bwrap/prlimit/setpriv) as a child process. */
export interface ProcessLaunch {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Written to the child's fd 3 and closed (bwrap reads its seccomp program from there). */
  extraInput?: Buffer;
}

/** Host-side slack past the program's own timeout before the supervisor itself is killed. */
const BACKSTOP_SLACK_MS = 5000;

/**
 * boxrun-sv as a child process, spoken to over plain pipes: the same protocol as the Docker
 * backend's attached stdio, without the multiplexing. Single use: run() once, then wait().
 */
export class ProcessSandbox {
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once('close', (code) => resolve(code));
    });
  }

  static start(launch: ProcessLaunch): Promise<ProcessSandbox> {
    return new Promise((resolve, reject) => {
      const child = spawn(launch.command, launch.args, {
        stdio: launch.extraInput ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe'],
        env: launch.env ?? {},
        ...(launch.cwd ? { cwd: launch.cwd } : {}),
        ...(launch.uid !== undefined ? { uid: launch.uid } : {}),
        ...(launch.gid !== undefined ? { gid: launch.gid } : {}),
        // Its own process group, so the backstop can kill the supervisor and whatever it left.
        detached: true,
      });
      child.once('error', (error) =>
        reject(new BoxrunError('SANDBOX_FAILED', `cannot start ${launch.command}: ${error.message}`)),
      );
      child.once('spawn', () => {
        const fd3 = child.stdio[3] as import('node:stream').Writable | null | undefined;
        if (launch.extraInput && fd3) {
          fd3.on('error', () => {});
          fd3.end(launch.extraInput);
        }
        resolve(new ProcessSandbox(child));
      });
      // A supervisor that died early makes writes fail with EPIPE; the outcome says what happened.
      child.stdin?.on('error', () => {});
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGKILL to the supervisor's process group (the program has its own; the supervisor kills that). */
  kill(): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }

  /** Resolves when the process has exited; kills it first when `force`. */
  async wait(force = false): Promise<number | null> {
    if (force) this.kill();
    return this.exited;
  }

  run(job: SupervisorJob, options: SandboxRunOptions): Promise<SandboxOutcome> {
    const outcome: SandboxOutcome = {
      report: null,
      stdout: Buffer.alloc(0),
      stderr: Buffer.alloc(0),
      files: [],
      refused: [],
      hostTimedOut: false,
      engineOomKilled: false,
      failure: null,
    };
    const stdoutChunks: Buffer[] = [];
    const stderrChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const inputBytes = job.files.reduce((n, f) => n + f.content.length, 0);
    const decoder = new FrameDecoder(Math.max(options.outputBytes, inputBytes, 64 * 1024 * 1024) + 4096);
    let diagnostics = '';
    const { child } = this;

    return new Promise<SandboxOutcome>((resolve) => {
      let settled = false;
      const finish = async () => {
        if (settled) return;
        settled = true;
        clearTimeout(backstop);
        options.signal?.removeEventListener('abort', onAbort);
        child.stdout?.removeAllListeners('data');
        outcome.stdout = Buffer.concat(stdoutChunks);
        outcome.stderr = Buffer.concat(stderrChunks);
        if (!outcome.report) {
          const code = await this.exited;
          if (!outcome.failure && !outcome.hostTimedOut) {
            outcome.failure = `sandbox ended without a report (exit ${code ?? child.signalCode})${diagnostics ? `: ${diagnostics.trim()}` : ''}`;
          }
        }
        resolve(outcome);
      };

      child.stdout?.on('data', (chunk: Buffer) => {
        let events: ReturnType<FrameDecoder['push']>;
        try {
          events = decoder.push(chunk);
        } catch (e) {
          outcome.failure = `protocol error: ${(e as Error).message}`;
          this.kill();
          return void finish();
        }
        for (const ev of events) {
          switch (ev.type) {
            case 'stdout':
            case 'stderr': {
              const isOut = ev.type === 'stdout';
              const used = isOut ? stdoutBytes : stderrBytes;
              const room = Math.max(0, options.outputBytes - used);
              const data = ev.data.length > room ? ev.data.subarray(0, room) : ev.data;
              if (data.length > 0) {
                (isOut ? stdoutChunks : stderrChunks).push(data);
                options.onOutput?.(ev.type, data);
              }
              if (isOut) stdoutBytes += data.length;
              else stderrBytes += data.length;
              break;
            }
            case 'file':
              outcome.files.push({ path: ev.path, mode: ev.mode, content: ev.content });
              break;
            case 'refused':
              outcome.refused.push({ path: ev.path, reason: ev.reason });
              break;
            case 'result':
              outcome.report = ev.report;
              void finish();
              return;
            case 'error':
              outcome.failure = `supervisor: ${ev.message}`;
              void finish();
              return;
            case 'started':
              break;
          }
        }
      });
      child.stderr?.on('data', (chunk: Buffer) => {
        if (diagnostics.length < 4096) diagnostics += chunk.toString('utf8');
      });
      child.once('close', () => void finish());

      const backstop = setTimeout(() => {
        outcome.hostTimedOut = true;
        this.kill();
      }, options.timeoutMs + BACKSTOP_SLACK_MS);

      const onAbort = () => {
        child.stdin?.write(encodeFrame('K'));
        setTimeout(() => this.kill(), 2000).unref();
      };
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });

      for (const frame of encodeJob(job)) child.stdin?.write(frame);
    });
  }
}
