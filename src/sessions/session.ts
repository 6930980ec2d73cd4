import { posix } from 'node:path';
import type { Sandbox } from '../backends/docker/sandbox.js';
import type { SandboxOutcome } from '../backends/supervisor/job-runner.js';
import type { SupervisorJob } from '../backends/supervisor/protocol.js';
import { toStepResult } from '../backends/supervisor/step-result.js';
import { BoxrunError } from '../core/errors.js';
import { type ResourceLimits, relativePathSchema } from '../core/request.js';
import type { StepResult } from '../core/result.js';

/** What one command of a session did: the same fields as one step of an execution. */
export type CommandResult = StepResult;

export interface CommandOptions {
  /** Directory the command starts in, relative to the session's work dir. */
  cwd?: string;
  env?: Record<string, string>;
  /** Wall limit of this command; the session's `limits.timeoutMs` otherwise. */
  timeoutMs?: number;
  /** Whole stdin, given up front. Ignored with `interactive`. */
  stdin?: string | Buffer;
  /** Leave stdin open: feed it through the handle's `sendStdin` / `closeStdin`. */
  interactive?: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Aborting kills the command (the session goes on). */
  signal?: AbortSignal;
}

/** A command that was started: write to its stdin while it runs, kill it, wait for its result. */
export interface CommandHandle {
  /** False once the command has ended (the data is dropped then). */
  sendStdin(data: string | Buffer): boolean;
  closeStdin(): boolean;
  kill(): void;
  /** Resolves when the supervisor has started the program. */
  readonly started: Promise<void>;
  readonly result: Promise<CommandResult>;
}

export interface FileEntry {
  name: string;
  /** Relative to the work dir. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  modifiedAt: string;
}

export type SessionState = 'running' | 'closed';

export interface SessionInfo {
  id: string;
  key: string | null;
  runtime: string | null;
  image: string;
  network: string;
  state: SessionState;
  /** Why it was closed: 'closed', 'idle timeout', 'max lifetime', 'sandbox gone', 'shutdown'. */
  closedReason: string | null;
  createdAt: string;
  lastActivityAt: string;
  /** When the idle TTL ends it, counted from the last command's end. */
  idleExpiresAt: string;
  expiresAt: string;
  commandsRun: number;
  busy: boolean;
  limits: ResourceLimits;
}

export interface SessionInit {
  id: string;
  key: string | null;
  runtime: string | null;
  image: string;
  network: string;
  limits: ResourceLimits;
  /** Environment of every command (the runtime's and boxrun's base, then the session's own). */
  env: Record<string, string>;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  sandbox: Sandbox;
  /** Called once, when the session ends for any reason (the manager forgets it then). */
  onClose: (session: Session) => void;
}

/** Host-side slack past a command's timeout before the session's container is killed. */
const FILES_JOB_TIMEOUT_MS = 60_000;
const MAX_READ_BYTES = 64 * 1024 * 1024;

/** Paths in the files API: relative to the work dir, no `..`; '.' and '' mean the work dir. */
export function checkSessionPath(path: string, allowRoot = false): string {
  const trimmed = path.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (allowRoot && (trimmed === '' || trimmed === '.')) return '.';
  const parsed = relativePathSchema.safeParse(trimmed);
  if (!parsed.success) {
    throw new BoxrunError('INVALID_REQUEST', `path: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
      details: { path: 'path' },
    });
  }
  return parsed.data;
}

function supervisorLimits(limits: ResourceLimits, timeoutMs: number): Record<string, number> {
  return {
    timeout_ms: timeoutMs,
    cpu_ms: limits.cpuTimeMs,
    output_bytes: limits.outputBytes,
    files_bytes: MAX_READ_BYTES,
    file_size_bytes: limits.diskMb * 1024 * 1024,
    stack_bytes: Math.min(limits.memoryMb, 256) * 1024 * 1024,
    // Applied only where the sandbox has a kernel of its own (boxrun-sv --user: gVisor).
    nproc: limits.pids,
  };
}

/**
 * One container whose supervisor runs in session mode: commands run one after another in it,
 * files in the work dir (and /tmp, e.g. packages installed with `pip --user`) persist between
 * them, processes do not. The session ends on close(), its idle TTL, its max lifetime, or when the
 * attach connection drops (then the supervisor exits by itself and the container is removed).
 */
export class Session {
  readonly id: string;
  readonly key: string | null;
  readonly runtime: string | null;
  readonly image: string;
  readonly network: string;
  readonly limits: ResourceLimits;
  readonly createdAt = new Date();
  readonly files: SessionFiles;
  private readonly env: Record<string, string>;
  private readonly sandbox: Sandbox;
  private readonly idleTimeoutMs: number;
  private readonly maxLifetimeMs: number;
  private readonly onCloseCallback: (session: Session) => void;
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly lifetimeTimer: NodeJS.Timeout;
  /** Commands run strictly one after another: the supervisor takes a job only after a report. */
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private commands = 0;
  private closing: Promise<void> | null = null;
  private reason: string | null = null;

  constructor(init: SessionInit) {
    this.id = init.id;
    this.key = init.key;
    this.runtime = init.runtime;
    this.image = init.image;
    this.network = init.network;
    this.limits = init.limits;
    this.env = init.env;
    this.sandbox = init.sandbox;
    this.idleTimeoutMs = init.idleTimeoutMs;
    this.maxLifetimeMs = init.maxLifetimeMs;
    this.onCloseCallback = init.onClose;
    this.files = new SessionFiles(this);
    this.lifetimeTimer = setTimeout(() => void this.close('max lifetime'), init.maxLifetimeMs);
    this.lifetimeTimer.unref();
    this.armIdleTimer();
    this.sandbox.onDisconnect(() => void this.close('sandbox gone'));
  }

  get state(): SessionState {
    return this.reason === null ? 'running' : 'closed';
  }

  get closedReason(): string | null {
    return this.reason;
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  info(): SessionInfo {
    return {
      id: this.id,
      key: this.key,
      runtime: this.runtime,
      image: this.image,
      network: this.network,
      state: this.state,
      closedReason: this.reason,
      createdAt: this.createdAt.toISOString(),
      lastActivityAt: new Date(this.lastActivity).toISOString(),
      idleExpiresAt: new Date(this.lastActivity + this.idleTimeoutMs).toISOString(),
      expiresAt: new Date(this.createdAt.getTime() + this.maxLifetimeMs).toISOString(),
      commandsRun: this.commands,
      busy: this.busy,
      limits: this.limits,
    };
  }

  /** Runs a command to its end: a shell string (`/bin/sh -c`) or an argv array. */
  run(command: string | string[], options: CommandOptions = {}): Promise<CommandResult> {
    return this.start(command, { ...options, interactive: false }).result;
  }

  /** Starts a command (after the ones before it); its stdin may stay open (`interactive`). */
  start(command: string | string[], options: CommandOptions = {}): CommandHandle {
    const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
    if (argv.length === 0 || argv[0] === '') {
      throw new BoxrunError('INVALID_REQUEST', 'command: must not be empty', {
        details: { path: 'command' },
      });
    }
    const cwd = options.cwd !== undefined ? checkSessionPath(options.cwd, true) : undefined;
    const timeoutMs = options.timeoutMs ?? this.limits.timeoutMs;
    const job: SupervisorJob = {
      files: [],
      argv,
      env: { ...this.env, ...options.env },
      ...(cwd && cwd !== '.' ? { cwd } : {}),
      limits: supervisorLimits(this.limits, timeoutMs),
      outputPatterns: [],
      stdin:
        options.interactive || options.stdin === undefined
          ? Buffer.alloc(0)
          : Buffer.isBuffer(options.stdin)
            ? options.stdin
            : Buffer.from(options.stdin, 'utf8'),
    };
    let running = false;
    let ended = false;
    let killRequested = false;
    const early: (Buffer | 'eof')[] = [];
    const kill = new AbortController();
    let markStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const onAbort = () => kill.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const result = this.enqueue(async () => {
      if (killRequested || options.signal?.aborted) {
        throw new BoxrunError('CANCELED', 'command canceled before it started');
      }
      running = true;
      const promise = this.sandbox.run(job, {
        timeoutMs,
        outputBytes: this.limits.outputBytes,
        keepOpen: true,
        openStdin: !!options.interactive,
        signal: kill.signal,
        onStarted: markStarted,
        onOutput: (stream, chunk) => (stream === 'stdout' ? options.onStdout : options.onStderr)?.(chunk),
      });
      for (const item of early.splice(0)) {
        if (item === 'eof') this.sandbox.closeStdin();
        else this.sandbox.writeStdin(item);
      }
      try {
        const outcome = await promise;
        this.commands++;
        return this.resultOf(outcome, timeoutMs);
      } finally {
        ended = true;
        markStarted();
        options.signal?.removeEventListener('abort', onAbort);
      }
    });
    result.catch(() => markStarted());

    return {
      started,
      result,
      sendStdin: (data) => {
        if (ended || !options.interactive) return false;
        const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
        if (!running) {
          early.push(bytes);
          return true;
        }
        return this.sandbox.writeStdin(bytes);
      },
      closeStdin: () => {
        if (ended || !options.interactive) return false;
        if (!running) {
          early.push('eof');
          return true;
        }
        return this.sandbox.closeStdin();
      },
      kill: () => {
        killRequested = true;
        kill.abort();
      },
    };
  }

  private resultOf(outcome: SandboxOutcome, timeoutMs: number): CommandResult {
    const endedBy = this.reason;
    if (!outcome.report) {
      // The supervisor could not report: the container is gone or broken, and so is the session.
      void this.close('sandbox gone');
    }
    const limits = { ...this.limits, timeoutMs };
    const step = toStepResult(outcome, limits);
    if (!outcome.report && endedBy)
      return { ...step, message: `the session ended (${endedBy}) while the command ran` };
    if (outcome.report?.canceled) return { ...step, message: 'command killed' };
    return step;
  }

  /** Runs `task` after every command queued before it; keeps the idle timer off meanwhile. */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.reason !== null) {
      return Promise.reject(new BoxrunError('NOT_FOUND', `session ${this.id} is closed (${this.reason})`));
    }
    this.pending++;
    this.clearIdleTimer();
    const run = this.queue.then(async () => {
      if (this.reason !== null) {
        throw new BoxrunError('NOT_FOUND', `session ${this.id} is closed (${this.reason})`);
      }
      return task();
    });
    const settle = () => {
      this.pending--;
      this.lastActivity = Date.now();
      if (this.pending === 0) this.armIdleTimer();
    };
    this.queue = run.then(settle, settle);
    return run;
  }

  /** A job with no program of the user's: writes files, reads them back, lists, deletes. */
  async runInternal(job: Omit<SupervisorJob, 'env' | 'limits' | 'stdin'>): Promise<SandboxOutcome> {
    return this.enqueue(async () => {
      const outcome = await this.sandbox.run(
        {
          ...job,
          env: this.env,
          stdin: Buffer.alloc(0),
          limits: { ...supervisorLimits(this.limits, FILES_JOB_TIMEOUT_MS), output_bytes: 4 * 1024 * 1024 },
        },
        { timeoutMs: FILES_JOB_TIMEOUT_MS, outputBytes: 4 * 1024 * 1024, keepOpen: true },
      );
      if (!outcome.report) {
        void this.close('sandbox gone');
        throw new BoxrunError('SANDBOX_FAILED', `session ${this.id}: ${outcome.failure ?? 'sandbox ended'}`);
      }
      return outcome;
    });
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    if (this.reason !== null) return;
    this.idleTimer = setTimeout(() => void this.close('idle timeout'), this.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Ends the session and removes its container; idempotent. A running command is killed. */
  close(reason = 'closed'): Promise<void> {
    if (this.closing) return this.closing;
    this.reason = reason;
    this.clearIdleTimer();
    clearTimeout(this.lifetimeTimer);
    this.closing = (async () => {
      if (!this.busy) this.sandbox.endSession();
      try {
        await this.sandbox.destroy();
      } finally {
        this.onCloseCallback(this);
      }
    })();
    return this.closing;
  }
}

/** The files API of a session; every call is a small job in the session's container. */
export class SessionFiles {
  constructor(private readonly session: Session) {}

  /** Creates parent directories; overwrites an existing file. */
  async write(path: string, content: string | Buffer, options: { executable?: boolean } = {}): Promise<void> {
    const rel = checkSessionPath(path);
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    const outcome = await this.session.runInternal({
      files: [{ path: rel, content: bytes, mode: options.executable ? 0o755 : 0o644 }],
      argv: ['true'],
      outputPatterns: [],
    });
    if (outcome.report?.execError) throw new BoxrunError('SANDBOX_FAILED', outcome.report.execError);
  }

  /** The file's bytes; NOT_FOUND when there is no regular file at `path`. */
  async readBytes(path: string): Promise<Buffer> {
    const rel = checkSessionPath(path);
    const outcome = await this.session.runInternal({ files: [], argv: ['true'], outputPatterns: [rel] });
    const file = outcome.files.find((f) => f.path === rel);
    if (file) return file.content;
    const refused = outcome.refused.find((f) => f.path === rel);
    if (refused && refused.reason !== 'not found') {
      throw new BoxrunError('INVALID_REQUEST', `${rel}: ${refused.reason}`, { details: { path: rel } });
    }
    throw new BoxrunError('NOT_FOUND', `no file ${rel} in session ${this.session.id}`, {
      details: { path: rel },
    });
  }

  async read(path: string): Promise<string> {
    return (await this.readBytes(path)).toString('utf8');
  }

  /** Entries of a directory (not recursive); NOT_FOUND when it does not exist. */
  async list(path = '.'): Promise<FileEntry[]> {
    const rel = checkSessionPath(path, true);
    // GNU find prints one NUL-terminated record per entry, whatever the names contain.
    const outcome = await this.session.runInternal({
      files: [],
      argv: ['find', rel, '-mindepth', '1', '-maxdepth', '1', '-printf', '%y %s %m %T@ %P\\0'],
      outputPatterns: [],
    });
    const records = outcome.stdout.toString('utf8').split('\0').filter(Boolean);
    if (outcome.report?.exitCode !== 0 && records.length === 0) {
      throw new BoxrunError('NOT_FOUND', `no directory ${rel} in session ${this.session.id}`, {
        details: { path: rel },
      });
    }
    const types: Record<string, FileEntry['type']> = { f: 'file', d: 'dir', l: 'symlink' };
    return records
      .map((record) => {
        const [type = '', size = '0', mode = '0', mtime = '0', ...rest] = record.split(' ');
        const name = rest.join(' ');
        return {
          name,
          path: rel === '.' ? name : posix.join(rel, name),
          type: types[type] ?? 'other',
          size: Number(size),
          mode: Number.parseInt(mode, 8),
          modifiedAt: new Date(Number(mtime) * 1000).toISOString(),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async exists(path: string): Promise<boolean> {
    const rel = checkSessionPath(path);
    const outcome = await this.session.runInternal({
      files: [],
      argv: ['test', '-e', rel],
      outputPatterns: [],
    });
    return outcome.report?.exitCode === 0;
  }

  /** Removes a file or a directory tree; NOT_FOUND when nothing is there. */
  async remove(path: string): Promise<void> {
    const rel = checkSessionPath(path);
    const outcome = await this.session.runInternal({
      files: [],
      argv: ['sh', '-c', 'test -e "$1" || test -L "$1" || exit 3; rm -rf -- "$1"', 'rm', rel],
      outputPatterns: [],
    });
    if (outcome.report?.exitCode === 3) {
      throw new BoxrunError('NOT_FOUND', `no file ${rel} in session ${this.session.id}`, {
        details: { path: rel },
      });
    }
    if (outcome.report?.exitCode !== 0) {
      throw new BoxrunError('SANDBOX_FAILED', `removing ${rel}: ${outcome.stderr.toString('utf8').trim()}`);
    }
  }
}
