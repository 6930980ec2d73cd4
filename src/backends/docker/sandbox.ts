import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import {
  type JobEnd,
  jobEnd,
  runSupervisorJob,
  type SandboxOutcome,
  type SandboxRunOptions,
} from '../supervisor/job-runner.js';
import { encodeFrame, type SupervisorJob } from '../supervisor/protocol.js';
import { AttachTransport } from './attach-transport.js';
import { isGone, translateEngineError } from './engine.js';

/** Stdin written while a job runs goes out in frames of this size at most. */
const LIVE_STDIN_CHUNK = 16 * 1024;

/**
 * One container with boxrun-sv as PID 1, attached before start so nothing is lost. Single use —
 * run() once, then finish() (or destroy()) — unless a recycling warm pool lent it: then finish()
 * hands it back when its supervisor proved it clean. The pool creates these ahead of time; the
 * one-shot path on demand.
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

  /** Set by a recycling warm pool while it lends this sandbox out: takes it back after the job. */
  recycler: ((end: JobEnd) => Promise<void>) | null = null;

  /** The job to run should end with a reset that lets the sandbox run another (limit `recycle=1`). */
  get recycling(): boolean {
    return this.recycler !== null;
  }

  /**
   * After a job (its outcome, or null when it threw before one): back to the pool that lent it if
   * the supervisor proved it clean, destroyed otherwise.
   */
  finish(outcome: SandboxOutcome | null): Promise<void> {
    const recycler = this.recycler;
    this.recycler = null;
    return recycler ? recycler(jobEnd(outcome)) : this.destroy();
  }

  run(job: SupervisorJob, options: SandboxRunOptions): Promise<SandboxOutcome> {
    this.jobRunning = true;
    const transport = new AttachTransport(this.container, this.stream, () => {
      this.jobRunning = false;
    });
    return runSupervisorJob(job, options, transport);
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
      if (!isGone(error)) throw translateEngineError(error, 'removing a sandbox');
    }
  }
}
