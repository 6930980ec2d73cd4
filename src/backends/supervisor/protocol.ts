/**
 * The wire protocol spoken with boxrun-sv (supervisor/boxrun-sv.c) over the container's stdio.
 * Frames are [type:u8][length:u32 BE][payload] in both directions.
 */
import type { StepJob } from '../../core/plan.js';

export const SUPERVISOR_PATH = '/usr/local/bin/boxrun-sv';
export const WORK_DIR = '/box';
export const STDIN_CHUNK = 64 * 1024;

/** The job frame's content: a step's job as core describes it. */
export type SupervisorJob = StepJob;

export interface SupervisorReport {
  exitCode: number;
  signal: number;
  timedOut: boolean;
  cpuExceeded: boolean;
  canceled: boolean;
  oomKills: number;
  cpuTimeUs: number;
  maxRssKb: number;
  cgroupPeakBytes: number;
  durationUs: number;
  stdoutBytes: number;
  stderrBytes: number;
  outputLimited: 'stdout' | 'stderr' | null;
  execError: string | null;
  /**
   * Only for a job sent with the limit `recycle=1`: "clean" when the supervisor reset the container
   * and proved it as it was at start (it then waits for the next job), otherwise why not (it exits).
   */
  reset?: string;
  /** How long that reset took, in µs. */
  resetUs?: number;
}

export function encodeFrame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

function modeHeader(mode: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(mode >>> 0, 0);
  return b;
}

/** Everything the supervisor needs before 'R'; stdin follows in chunks, then EOF. */
export function encodeJob(job: SupervisorJob): Buffer[] {
  const frames: Buffer[] = [];
  for (const [key, value] of Object.entries(job.limits))
    frames.push(encodeFrame('L', `${key}=${Math.round(value)}`));
  for (const f of job.files) {
    frames.push(encodeFrame('F', Buffer.concat([modeHeader(f.mode), Buffer.from(`${f.path}\0`), f.content])));
  }
  if (job.cwd) frames.push(encodeFrame('C', job.cwd));
  for (const a of job.argv) frames.push(encodeFrame('A', a));
  for (const [k, v] of Object.entries(job.env)) frames.push(encodeFrame('E', `${k}=${v}`));
  for (const p of job.outputPatterns) frames.push(encodeFrame('O', p));
  for (let i = 0; i < job.stdin.length; i += STDIN_CHUNK) {
    frames.push(encodeFrame('I', job.stdin.subarray(i, i + STDIN_CHUNK)));
  }
  frames.push(encodeFrame('i'));
  frames.push(encodeFrame('R'));
  return frames;
}

export type SupervisorEvent =
  | { type: 'started' }
  | { type: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'file'; path: string; mode: number; content: Buffer }
  | { type: 'refused'; path: string; reason: string }
  | { type: 'result'; report: SupervisorReport }
  | { type: 'error'; message: string };

/**
 * Incremental decoder: feed it bytes as they come, get whole events back. Chunks of a frame still
 * incomplete are only collected, and joined once the frame is whole: joining on every chunk made a
 * large output file (one frame, many small chunks) cost quadratic host CPU — 30 MB took seconds.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly waiting: Buffer[] = [];
  private waitingBytes = 0;

  constructor(private readonly maxFrameBytes: number) {}

  push(chunk: Buffer): SupervisorEvent[] {
    this.waiting.push(chunk);
    this.waitingBytes += chunk.length;
    if (this.buffer.length + this.waitingBytes < this.bytesNeeded()) return [];
    this.buffer = Buffer.concat([this.buffer, ...this.waiting]);
    this.waiting.length = 0;
    this.waitingBytes = 0;
    const events: SupervisorEvent[] = [];
    while (this.buffer.length >= 5) {
      const length = this.buffer.readUInt32BE(1);
      if (length > this.maxFrameBytes)
        throw new Error(`supervisor frame of ${length} bytes exceeds the limit`);
      if (this.buffer.length < 5 + length) break;
      const type = String.fromCharCode(this.buffer[0] ?? 0);
      const payload = this.buffer.subarray(5, 5 + length);
      this.buffer = this.buffer.subarray(5 + length);
      events.push(decodeEvent(type, payload));
    }
    return events;
  }

  /** Bytes the frame in progress needs in all (its header first). */
  private bytesNeeded(): number {
    return this.buffer.length >= 5 ? 5 + this.buffer.readUInt32BE(1) : 5;
  }

  get pendingBytes(): number {
    return this.buffer.length + this.waitingBytes;
  }
}

function splitAtNul(payload: Buffer): [string, Buffer] {
  const nul = payload.indexOf(0);
  if (nul < 0) throw new Error('supervisor frame without a NUL-terminated path');
  return [payload.subarray(0, nul).toString('utf8'), payload.subarray(nul + 1)];
}

function decodeEvent(type: string, payload: Buffer): SupervisorEvent {
  switch (type) {
    case 'S':
      return { type: 'started' };
    case 'o':
      return { type: 'stdout', data: Buffer.from(payload) };
    case 'e':
      return { type: 'stderr', data: Buffer.from(payload) };
    case 'f': {
      const mode = payload.readUInt32BE(0);
      const [path, content] = splitAtNul(payload.subarray(4));
      return { type: 'file', path, mode, content: Buffer.from(content) };
    }
    case 'x': {
      const [path, reason] = splitAtNul(payload);
      return { type: 'refused', path, reason: reason.toString('utf8') };
    }
    case 'r':
      return { type: 'result', report: JSON.parse(payload.toString('utf8')) as SupervisorReport };
    case '!':
      return { type: 'error', message: payload.toString('utf8') };
    default:
      throw new Error(`unknown supervisor frame type ${JSON.stringify(type)}`);
  }
}
