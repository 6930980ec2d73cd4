import type { BoxrunError } from '../../core/errors.js';
import {
  encodeFrame,
  encodeJob,
  FrameDecoder,
  type SupervisorJob,
  type SupervisorReport,
} from './protocol.js';

/** Everything one supervised run produced, before it is turned into a verdict. */
export interface SandboxOutcome {
  report: SupervisorReport | null;
  stdout: Buffer;
  stderr: Buffer;
  files: { path: string; mode: number; content: Buffer }[];
  refused: { path: string; reason: string }[];
  /** The host's backstop fired: the supervisor did not finish in time and the sandbox was killed. */
  hostTimedOut: boolean;
  /** The engine says the container was OOM-killed (only asked when the supervisor did not report). */
  engineOomKilled: boolean;
  /** What went wrong on boxrun's side, when the supervisor could not report. */
  failure: string | null;
}

/** How a recycled sandbox's job ended, as far as its reuse goes. */
export type JobEnd = 'clean' | 'not_reused' | 'reset_failed';

/**
 * Whether the sandbox that ran this job may run another: only when its supervisor reset it and
 * proved it clean. A job that hit a limit, was canceled or broke off is never followed by another
 * in its sandbox (the supervisor does not even try); anything else is a failed reset.
 */
export function jobEnd(outcome: SandboxOutcome | null): JobEnd {
  const r = outcome?.report;
  if (!outcome || !r || outcome.failure || outcome.hostTimedOut || r.reset === undefined) return 'not_reused';
  if (r.timedOut || r.cpuExceeded || r.canceled || r.oomKills !== 0) return 'not_reused';
  return r.reset === 'clean' ? 'clean' : 'reset_failed';
}

export interface SandboxRunOptions {
  /** Wall limit of the program; the host kills the sandbox this long after the job was sent plus slack. */
  timeoutMs: number;
  outputBytes: number;
  signal?: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  /**
   * Session mode (`boxrun-sv --session`): the connection survives the job, so the same
   * sandbox can run the next one after this one's report.
   */
  keepOpen?: boolean;
  /** Leave the program's stdin open after the job's own stdin: feed it with writeStdin/closeStdin. */
  openStdin?: boolean;
  /** The supervisor has started the program. */
  onStarted?: () => void;
}

/** What the transport hands the run: the supervisor's output, and the end of the connection. */
export interface SupervisorFeed {
  /** Bytes the supervisor wrote to its stdout: protocol frames. */
  frames(chunk: Buffer): void;
  /** Bytes the supervisor wrote to its stderr (the first 4 KiB explain a run without a report). */
  diagnostics(chunk: Buffer): void;
  /** The connection ended, or broke with `error` (the run then rejects with it). */
  end(error?: BoxrunError): void;
  /** The run is over: anything fed from now on is ignored. */
  readonly settled: boolean;
}

/**
 * How one supervisor is reached: a container's attach stream (Docker, Podman) or a child process's
 * pipes (host, namespace). Everything else about a run is the same for all of them.
 */
export interface SupervisorTransport {
  /** Starts feeding what the supervisor writes into `feed`. */
  listen(feed: SupervisorFeed): void;
  /** Writes frames to the supervisor's stdin. */
  send(frames: Buffer[]): void;
  /** Kills the supervisor from outside (backstop, protocol error, an abort it did not act on). */
  kill(): void;
  /** The run is over: stop feeding it. `keep`: a session's next job comes over the same connection. */
  release(keep: boolean): void;
  /** How the supervisor ended, asked only when it did not report; may reject with a BoxrunError. */
  exitStatus(): Promise<{ exit: number | string | null; oomKilled: boolean }>;
}

/** Host-side slack past the program's own timeout before the sandbox itself is killed. */
const BACKSTOP_SLACK_MS = 5000;
/** After an abort ('K'), how long the supervisor has to report before it is killed from outside. */
const ABORT_GRACE_MS = 2000;
const DIAGNOSTICS_BYTES = 4096;

/**
 * Runs one job on a supervisor over `transport`: sends the job's frames, collects the program's
 * output (capped per stream), output files and refusals into a SandboxOutcome, and finishes on the
 * report, a supervisor error or the end of the connection. The host keeps a backstop (kill at
 * timeout + 5 s) and turns an abort into 'K', then a kill.
 */
export function runSupervisorJob(
  job: SupervisorJob,
  options: SandboxRunOptions,
  transport: SupervisorTransport,
): Promise<SandboxOutcome> {
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
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const used = { stdout: 0, stderr: 0 };
  const inputBytes = job.files.reduce((n, f) => n + f.content.length, 0);
  // One output file is one frame: a compile step may return up to its files_bytes (256 MiB).
  const filesBytes = job.limits.files_bytes ?? 0;
  const decoder = new FrameDecoder(
    Math.max(options.outputBytes, inputBytes, filesBytes, 64 * 1024 * 1024) + 4096,
  );
  let diagnostics = '';

  return new Promise<SandboxOutcome>((resolve, reject) => {
    let settled = false;
    let abortKill: NodeJS.Timeout | undefined;
    const finish = async (error?: BoxrunError) => {
      if (settled) return;
      settled = true;
      clearTimeout(backstop);
      options.signal?.removeEventListener('abort', onAbort);
      const keep = options.keepOpen === true && outcome.report !== null;
      // The session goes on: this job's abort must not kill the sandbox the next job runs in.
      if (keep) clearTimeout(abortKill);
      transport.release(keep);
      outcome.stdout = Buffer.concat(chunks.stdout);
      outcome.stderr = Buffer.concat(chunks.stderr);
      if (error) return reject(error);
      if (!outcome.report) {
        // The supervisor died without a word: ask the transport what happened to it.
        let ended: Awaited<ReturnType<SupervisorTransport['exitStatus']>>;
        try {
          ended = await transport.exitStatus();
        } catch (e) {
          return reject(e);
        }
        outcome.engineOomKilled = ended.oomKilled;
        if (!outcome.failure && !outcome.hostTimedOut && !outcome.engineOomKilled) {
          outcome.failure = `sandbox ended without a report (exit ${ended.exit})${diagnostics ? `: ${diagnostics.trim()}` : ''}`;
        }
      }
      resolve(outcome);
    };

    const onFrames = (chunk: Buffer) => {
      if (settled) return;
      let events: ReturnType<FrameDecoder['push']>;
      try {
        events = decoder.push(chunk);
      } catch (e) {
        outcome.failure = `protocol error: ${(e as Error).message}`;
        transport.kill();
        return void finish();
      }
      for (const ev of events) {
        switch (ev.type) {
          case 'stdout':
          case 'stderr': {
            // The supervisor caps each stream; this is the belt to its braces.
            const room = Math.max(0, options.outputBytes - used[ev.type]);
            const data = ev.data.length > room ? ev.data.subarray(0, room) : ev.data;
            if (data.length > 0) {
              chunks[ev.type].push(data);
              options.onOutput?.(ev.type, data);
            }
            used[ev.type] += data.length;
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
            return void finish();
          case 'error':
            outcome.failure = `supervisor: ${ev.message}`;
            return void finish();
          case 'started':
            options.onStarted?.();
            break;
        }
      }
    };

    transport.listen({
      frames: onFrames,
      diagnostics: (chunk) => {
        if (diagnostics.length < DIAGNOSTICS_BYTES) diagnostics += chunk.toString('utf8');
      },
      end: (error) => void finish(error),
      get settled() {
        return settled;
      },
    });

    const backstop = setTimeout(() => {
      outcome.hostTimedOut = true;
      transport.kill();
    }, options.timeoutMs + BACKSTOP_SLACK_MS);

    const onAbort = () => {
      transport.send([encodeFrame('K')]);
      abortKill = setTimeout(() => transport.kill(), ABORT_GRACE_MS);
      abortKill.unref();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    const frames = encodeJob(job);
    // encodeJob ends with stdin EOF ('i') and run ('R'); an open stdin leaves the EOF out.
    transport.send(options.openStdin ? [...frames.slice(0, -2), ...frames.slice(-1)] : frames);
  });
}
