import { type ChildProcess, spawn } from 'node:child_process';
import { BoxrunError } from '../../core/errors.js';
import { runSupervisorJob, type SandboxOutcome, type SandboxRunOptions } from './job-runner.js';
import type { SupervisorJob } from './protocol.js';

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
    const { child } = this;
    return runSupervisorJob(job, options, {
      listen: (feed) => {
        child.stdout?.on('data', (chunk: Buffer) => feed.frames(chunk));
        child.stderr?.on('data', (chunk: Buffer) => feed.diagnostics(chunk));
        child.once('close', () => feed.end());
      },
      send: (frames) => {
        for (const frame of frames) child.stdin?.write(frame);
      },
      kill: () => this.kill(),
      release: () => child.stdout?.removeAllListeners('data'),
      exitStatus: async () => {
        const code = await this.exited;
        return { exit: code ?? child.signalCode, oomKilled: false };
      },
    });
  }
}
