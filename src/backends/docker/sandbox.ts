import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { BoxrunError } from '../../core/errors.js';
import {
  encodeFrame,
  encodeJob,
  FrameDecoder,
  type SupervisorJob,
  type SupervisorReport,
} from '../supervisor/protocol.js';
import { translateEngineError } from './engine.js';

/** Everything one supervised run produced, before it is turned into a verdict. */
export interface SandboxOutcome {
  report: SupervisorReport | null;
  stdout: Buffer;
  stderr: Buffer;
  files: { path: string; mode: number; content: Buffer }[];
  refused: { path: string; reason: string }[];
  /** The host's backstop fired: the supervisor did not finish in time and the container was killed. */
  hostTimedOut: boolean;
  /** The engine says the container was OOM-killed (only asked when the supervisor did not report). */
  engineOomKilled: boolean;
  /** What went wrong on boxrun's side, when the supervisor could not report. */
  failure: string | null;
}

export interface SandboxRunOptions {
  /** Wall limit of the program; the host kills the container this long after the job was sent plus slack. */
  timeoutMs: number;
  outputBytes: number;
  signal?: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /**
   * Session mode (`boxrun-sv --session`): the attach stream survives the job, so the same
   * container can run the next one after this one's report.
   */
  keepOpen?: boolean;
  /** Leave the program's stdin open after the job's own stdin: feed it with writeStdin/closeStdin. */
  openStdin?: boolean;
  /** The supervisor has started the program. */
  onStarted?: () => void;
}

/** Stdin written while a job runs goes out in frames of this size at most. */
const LIVE_STDIN_CHUNK = 16 * 1024;

/** Host-side slack past the program's own timeout before the container itself is killed. */
const BACKSTOP_SLACK_MS = 5000;

/**
 * One container with boxrun-sv as PID 1, attached before start so nothing is lost. Single use:
 * run() once, then destroy(). The pool creates these ahead of time; the one-shot path on demand.
 */
export class Sandbox {
  /** A job is between its frames being sent and its report (writeStdin is only valid then). */
  private jobRunning = false;

  private constructor(
    readonly container: Docker.Container,
    private readonly stream: Duplex,
  ) {}

  static async start(docker: Docker, spec: Docker.ContainerCreateOptions): Promise<Sandbox> {
    let container: Docker.Container;
    try {
      container = await docker.createContainer(spec);
    } catch (error) {
      throw translateEngineError(error, `creating a sandbox from ${spec.Image}`);
    }
    try {
      // Attach before start: a short program's output would otherwise be gone before we listen.
      const stream = (await container.attach({
        stream: true,
        stdin: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as unknown as Duplex;
      // A TCP engine would otherwise hold our small job frames back (Nagle); no-op on a unix socket.
      (stream as Partial<Socket>).setNoDelay?.(true);
      await container.start();
      return new Sandbox(container, stream);
    } catch (error) {
      await container.remove({ force: true }).catch(() => {});
      throw translateEngineError(error, `starting a sandbox from ${spec.Image}`);
    }
  }

  get id(): string {
    return this.container.id;
  }

  /**
   * False once the attach connection has ended or broken: the supervisor (or the container) is
   * gone, so a warm pool must not hand this sandbox out.
   */
  get alive(): boolean {
    return !this.stream.destroyed && !this.stream.readableEnded && !this.stream.writableEnded;
  }

  /** Called once, when destroy() is first called (the warm pool counts busy sandboxes with it). */
  onDestroy: (() => void) | null = null;

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
    // One output file is one frame: a compile step may return up to its files_bytes (256 MiB).
    const filesBytes = job.limits.files_bytes ?? 0;
    const decoder = new FrameDecoder(
      Math.max(options.outputBytes, inputBytes, filesBytes, 64 * 1024 * 1024) + 4096,
    );
    let demuxBuffer: Buffer = Buffer.alloc(0);
    let diagnostics = '';

    return new Promise<SandboxOutcome>((resolve, reject) => {
      let settled = false;
      let abortKill: NodeJS.Timeout | undefined;
      const finish = async (error?: BoxrunError) => {
        if (settled) return;
        settled = true;
        this.jobRunning = false;
        clearTimeout(backstop);
        options.signal?.removeEventListener('abort', onAbort);
        if (options.keepOpen && outcome.report) {
          // The session goes on: only this job's listeners go, the stream stays for the next one.
          clearTimeout(abortKill);
          this.stream.off('data', onData);
          this.stream.off('end', onEnd);
          this.stream.off('close', onEnd);
          this.stream.off('error', onError);
        } else {
          this.stream.removeAllListeners('data');
          this.stream.destroy();
        }
        outcome.stdout = Buffer.concat(stdoutChunks);
        outcome.stderr = Buffer.concat(stderrChunks);
        if (error) return reject(error);
        if (!outcome.report) {
          // The supervisor died without a word: ask the engine what happened to it.
          try {
            const info = await this.container.inspect();
            outcome.engineOomKilled = info.State.OOMKilled === true;
            if (!outcome.failure && !outcome.hostTimedOut && !outcome.engineOomKilled) {
              outcome.failure = `sandbox ended without a report (exit ${info.State.ExitCode})${diagnostics ? `: ${diagnostics.trim()}` : ''}`;
            }
          } catch (e) {
            return reject(translateEngineError(e, 'inspecting a sandbox'));
          }
        }
        resolve(outcome);
      };

      const handleStdout = (chunk: Buffer) => {
        let events: ReturnType<FrameDecoder['push']>;
        try {
          events = decoder.push(chunk);
        } catch (e) {
          outcome.failure = `protocol error: ${(e as Error).message}`;
          void this.container.kill().catch(() => {});
          return void finish();
        }
        for (const ev of events) {
          switch (ev.type) {
            case 'stdout':
            case 'stderr': {
              // The supervisor caps each stream; this is the belt to its braces.
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
              break;
            case 'error':
              outcome.failure = `supervisor: ${ev.message}`;
              void finish();
              break;
            case 'started':
              options.onStarted?.();
              break;
          }
        }
      };

      // Docker multiplexes the attached streams: [type][0 0 0][size u32 BE][payload].
      const onData = (chunk: Buffer) => {
        demuxBuffer = demuxBuffer.length === 0 ? chunk : Buffer.concat([demuxBuffer, chunk]);
        while (demuxBuffer.length >= 8) {
          const size = demuxBuffer.readUInt32BE(4);
          if (demuxBuffer.length < 8 + size) break;
          const kind = demuxBuffer[0];
          const payload = demuxBuffer.subarray(8, 8 + size);
          demuxBuffer = demuxBuffer.subarray(8 + size);
          if (kind === 1) handleStdout(payload);
          else if (kind === 2 && diagnostics.length < 4096) diagnostics += payload.toString('utf8');
          if (settled) return;
        }
      };
      const onEnd = () => void finish();
      const onError = (e: Error) => {
        if (!settled) void finish(translateEngineError(e, 'talking to a sandbox'));
      };
      this.stream.on('data', onData);
      this.stream.on('end', onEnd);
      this.stream.on('close', onEnd);
      this.stream.on('error', onError);

      const backstop = setTimeout(() => {
        outcome.hostTimedOut = true;
        void this.container.kill().catch(() => {});
      }, options.timeoutMs + BACKSTOP_SLACK_MS);

      const onAbort = () => {
        this.stream.write(encodeFrame('K'));
        abortKill = setTimeout(() => void this.container.kill().catch(() => {}), 2000);
        abortKill.unref();
      };
      if (options.signal?.aborted) onAbort();
      else options.signal?.addEventListener('abort', onAbort, { once: true });

      this.jobRunning = true;
      const frames = encodeJob(job);
      // encodeJob ends with stdin EOF ('i') and run ('R'); an open stdin leaves the EOF out.
      const toSend = options.openStdin ? [...frames.slice(0, -2), ...frames.slice(-1)] : frames;
      // One write for the whole job instead of one per frame: fewer syscalls and engine copies.
      this.stream.cork();
      for (const frame of toSend) this.stream.write(frame);
      this.stream.uncork();
    });
  }

  /**
   * More stdin for the running job (run with `openStdin`). Returns false when no job is running:
   * frames sent between jobs would be taken for the next job's input.
   */
  writeStdin(data: Buffer | string): boolean {
    if (!this.jobRunning || this.stream.destroyed) return false;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let i = 0; i < bytes.length; i += LIVE_STDIN_CHUNK) {
      this.stream.write(encodeFrame('I', bytes.subarray(i, i + LIVE_STDIN_CHUNK)));
    }
    return true;
  }

  /** End of the running job's stdin; false when no job is running. */
  closeStdin(): boolean {
    if (!this.jobRunning || this.stream.destroyed) return false;
    this.stream.write(encodeFrame('i'));
    return true;
  }

  /** Called once when the attach connection closes (a session container lives only as long as it). */
  onDisconnect(listener: () => void): void {
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      listener();
    };
    if (this.stream.destroyed || this.stream.readableEnded) {
      queueMicrotask(once);
      return;
    }
    this.stream.once('close', once);
    this.stream.once('end', once);
    // Between jobs nobody else listens: an error there must end the session, not the process.
    this.stream.on('error', once);
  }

  /** Ends a session container's supervisor (frame 'X'); only between jobs. */
  endSession(): void {
    if (!this.jobRunning && !this.stream.destroyed) this.stream.write(encodeFrame('X'));
  }

  /** Remove the container; safe to call more than once and after the engine already removed it. */
  async destroy(): Promise<void> {
    const onDestroy = this.onDestroy;
    this.onDestroy = null;
    onDestroy?.();
    this.stream.destroy();
    try {
      await this.container.remove({ force: true, v: true });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404 && status !== 409) throw translateEngineError(error, 'removing a sandbox');
    }
  }
}
