import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { SupervisorFeed, SupervisorTransport } from '../supervisor/job-runner.js';
import { translateEngineError } from './engine.js';

/**
 * One job's connection to a container's supervisor: the attach stream, on which Docker multiplexes
 * the container's stdout (protocol frames) and stderr (diagnostics).
 */
export class AttachTransport implements SupervisorTransport {
  private feed: SupervisorFeed | null = null;
  private demuxBuffer: Buffer = Buffer.alloc(0);

  constructor(
    private readonly container: Docker.Container,
    private readonly stream: Duplex,
    /** Called when the job is over (the sandbox accepts live stdin only until then). */
    private readonly onRelease: () => void,
  ) {}

  // Docker multiplexes the attached streams: [type][0 0 0][size u32 BE][payload].
  private readonly onData = (chunk: Buffer): void => {
    const feed = this.feed;
    if (!feed) return;
    this.demuxBuffer = this.demuxBuffer.length === 0 ? chunk : Buffer.concat([this.demuxBuffer, chunk]);
    while (this.demuxBuffer.length >= 8) {
      const size = this.demuxBuffer.readUInt32BE(4);
      if (this.demuxBuffer.length < 8 + size) break;
      const kind = this.demuxBuffer[0];
      const payload = this.demuxBuffer.subarray(8, 8 + size);
      this.demuxBuffer = this.demuxBuffer.subarray(8 + size);
      if (kind === 1) feed.frames(payload);
      else if (kind === 2) feed.diagnostics(payload);
      if (feed.settled) return;
    }
  };

  private readonly onEnd = (): void => this.feed?.end();

  private readonly onError = (e: Error): void => {
    if (this.feed && !this.feed.settled) this.feed.end(translateEngineError(e, 'talking to a sandbox'));
  };

  listen(feed: SupervisorFeed): void {
    this.feed = feed;
    this.stream.on('data', this.onData);
    this.stream.on('end', this.onEnd);
    this.stream.on('close', this.onEnd);
    this.stream.on('error', this.onError);
  }

  send(frames: Buffer[]): void {
    // One write for the whole job instead of one per frame: fewer syscalls and engine copies.
    this.stream.cork();
    for (const frame of frames) this.stream.write(frame);
    this.stream.uncork();
  }

  kill(): void {
    void this.container.kill().catch(() => {});
  }

  release(keep: boolean): void {
    this.onRelease();
    if (keep) {
      // The session goes on: only this job's listeners go, the stream stays for the next one.
      this.stream.off('data', this.onData);
      this.stream.off('end', this.onEnd);
      this.stream.off('close', this.onEnd);
      this.stream.off('error', this.onError);
    } else {
      this.stream.removeAllListeners('data');
      this.stream.destroy();
    }
  }

  async exitStatus(): Promise<{ exit: number; oomKilled: boolean }> {
    try {
      const info = await this.container.inspect();
      return { exit: info.State.ExitCode, oomKilled: info.State.OOMKilled === true };
    } catch (e) {
      throw translateEngineError(e, 'inspecting a sandbox');
    }
  }
}
