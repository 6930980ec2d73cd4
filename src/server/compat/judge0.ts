import { unzipSync } from 'fflate';
import type { ExecutionRequestInput } from '../../core/request.js';
import type { ExecutionResult, StepResult } from '../../core/result.js';
import { signalNumber } from '../../core/verdict.js';
import { compareOutput } from '../../judge/compare.js';
import type { RuntimeDefinition } from '../../runtimes/definitions.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import type { ExecutionRecord } from '../../store/execution-store.js';
import type { PistonRuntimes } from './piston-runtimes.js';

/**
 * Judge0 CE's API mapped onto boxrun (judge0/judge0: app/models/submission.rb, app/enumerations/
 * status.rb, app/jobs/isolate_job.rb, judge0.conf). Pure functions: the routes are in
 * src/server/routes/judge0.ts.
 */

export const JUDGE0_STATUSES = [
  { id: 1, description: 'In Queue' },
  { id: 2, description: 'Processing' },
  { id: 3, description: 'Accepted' },
  { id: 4, description: 'Wrong Answer' },
  { id: 5, description: 'Time Limit Exceeded' },
  { id: 6, description: 'Compilation Error' },
  { id: 7, description: 'Runtime Error (SIGSEGV)' },
  { id: 8, description: 'Runtime Error (SIGXFSZ)' },
  { id: 9, description: 'Runtime Error (SIGFPE)' },
  { id: 10, description: 'Runtime Error (SIGABRT)' },
  { id: 11, description: 'Runtime Error (NZEC)' },
  { id: 12, description: 'Runtime Error (Other)' },
  { id: 13, description: 'Internal Error' },
  { id: 14, description: 'Exec Format Error' },
] as const;

const status = (id: number) => JUDGE0_STATUSES[id - 1]!;

/** judge0.conf's defaults and maxima (Judge0 CE 1.13). */
export const JUDGE0_LIMITS = {
  cpu_time_limit: { default: 5, min: 0, max: 15 },
  cpu_extra_time: { default: 1, min: 0, max: 5 },
  wall_time_limit: { default: 10, min: 1, max: 20 },
  memory_limit: { default: 128_000, min: 2048, max: 512_000 },
  stack_limit: { default: 64_000, min: 0, max: 128_000 },
  max_processes_and_or_threads: { default: 60, min: 0, max: 120, exclusiveMin: true },
  max_file_size: { default: 1024, min: 0, max: 4096 },
  number_of_runs: { default: 1, min: 0, max: 20, exclusiveMin: true },
} as const;
export const MAX_BATCH_SIZE = 20;
/** MAX_EXTRACT_SIZE: additional_files may unpack to at most 10 MiB. */
const MAX_EXTRACT_BYTES = 10_240 * 1024;

/**
 * Judge0 CE's ids of the languages boxrun has (the ids clients hard-code), one id per runtime so a
 * stored execution maps back to its id. Names say what really runs (the versions Piston's table
 * measured), not Judge0's.
 */
const LANGUAGE_IDS: Record<string, number> = {
  bash: 46,
  c: 50,
  cpp: 54,
  go: 60,
  java: 62,
  javascript: 63,
  python: 71,
  rust: 73,
  typescript: 74,
};
const DISPLAY: Record<string, (version: string) => string> = {
  bash: (v) => `Bash (${v})`,
  c: (v) => `C (GCC ${v})`,
  cpp: (v) => `C++ (GCC ${v})`,
  go: (v) => `Go (${v})`,
  java: (v) => `Java (OpenJDK ${v})`,
  javascript: (v) => `JavaScript (Node.js ${v})`,
  python: (v) => `Python (${v})`,
  rust: (v) => `Rust (${v})`,
  typescript: (v) => `TypeScript (${v})`,
};

export interface Judge0Language {
  id: number;
  name: string;
  runtime: RuntimeDefinition;
}

export function judge0Languages(registry: RuntimeRegistry, piston: PistonRuntimes): Judge0Language[] {
  const out: Judge0Language[] = [];
  for (const runtime of registry.all) {
    const id = LANGUAGE_IDS[runtime.name];
    if (id === undefined) continue;
    const version = piston.all.find((p) => p.boxrun === runtime.name)?.version ?? runtime.version;
    out.push({ id, name: DISPLAY[runtime.name]?.(version) ?? `${runtime.name} (${version})`, runtime });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** /languages/{id}: Judge0's shape, the commands as boxrun runs them (`%s`: compiler_options). */
export function languageDetail(lang: Judge0Language) {
  const r = lang.runtime;
  const cmd = (argv: string[]) =>
    argv
      .map((a) =>
        a.replaceAll('{file}', r.sourceFile).replaceAll('{name}', r.sourceFile.replace(/\.[^.]*$/, '')),
      )
      .join(' ');
  return {
    id: lang.id,
    name: lang.name,
    is_archived: false,
    source_file: r.sourceFile,
    compile_cmd: r.compile ? `${r.compile[0]} %s ${cmd(r.compile.slice(1))}` : null,
    run_cmd: cmd(r.run),
  };
}

export type Judge0Errors = Record<string, string[]>;

/** A submission as Judge0's controller permits it, after base64 decoding. */
export interface Judge0Submission {
  source_code?: unknown;
  language_id?: unknown;
  compiler_options?: unknown;
  command_line_arguments?: unknown;
  number_of_runs?: unknown;
  stdin?: unknown;
  expected_output?: unknown;
  cpu_time_limit?: unknown;
  cpu_extra_time?: unknown;
  wall_time_limit?: unknown;
  memory_limit?: unknown;
  stack_limit?: unknown;
  max_processes_and_or_threads?: unknown;
  enable_per_process_and_thread_time_limit?: unknown;
  enable_per_process_and_thread_memory_limit?: unknown;
  max_file_size?: unknown;
  redirect_stderr_to_stdout?: unknown;
  callback_url?: unknown;
  additional_files?: unknown;
  enable_network?: unknown;
}

/** Judge0's Base64Service: strict base64 in, text out (bytes that are not UTF-8 stay bytes). */
export function decodeBase64Field(value: unknown): Buffer | null {
  if (value === undefined || value === null) return null;
  return Buffer.from(String(value), 'base64');
}

/** Rails' numericality messages. */
function numberField(
  body: Judge0Submission,
  name: keyof typeof JUDGE0_LIMITS,
  errors: Judge0Errors,
  integer = false,
): number {
  const spec = JUDGE0_LIMITS[name];
  const raw = body[name];
  if (raw === undefined || raw === null || raw === '') return spec.default;
  const value = typeof raw === 'number' ? raw : Number(raw);
  const add = (m: string) => {
    errors[name] = [...(errors[name] ?? []), m];
  };
  if (!Number.isFinite(value)) {
    add('is not a number');
    return spec.default;
  }
  if (integer && !Number.isInteger(value)) add('must be an integer');
  if ('exclusiveMin' in spec ? value <= spec.min : value < spec.min)
    add(`must be greater than${'exclusiveMin' in spec ? '' : ' or equal to'} ${spec.min}`);
  if (value > spec.max) add(`must be less than or equal to ${spec.max}`);
  return value;
}

const bool = (v: unknown, fallback: boolean) =>
  v === undefined || v === null ? fallback : v === true || v === 'true' || v === 1 || v === '1';

/** What the adapter keeps in the execution's labels to answer GET with Judge0's fields. */
export const LABEL = 'judge0.';

/** Judge0's command_line_arguments go through bash after these characters are removed (isolate_job). */
export function splitArguments(text: string): string[] {
  return text
    .replace(/[$&;<>|`]/g, '')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
}

export interface MappedSubmission {
  request: ExecutionRequestInput;
  callbackUrl: string | null;
}

/**
 * Validates a submission as Judge0 does (422 with `{field: [messages]}`) and maps it onto an
 * execution request. `runCommand` gives the run step's argv of a plan (for redirect_stderr_to_stdout).
 */
export function mapSubmission(
  body: Judge0Submission,
  languages: Judge0Language[],
  base64: boolean,
): { ok: true; value: MappedSubmission } | { ok: false; errors: Judge0Errors } {
  const errors: Judge0Errors = {};
  const text = (name: 'source_code' | 'stdin' | 'expected_output'): Buffer | null => {
    const v = body[name];
    if (v === undefined || v === null) return null;
    return base64 ? Buffer.from(String(v), 'base64') : Buffer.from(String(v), 'utf8');
  };
  const source = text('source_code');
  if (!source || source.length === 0) errors.source_code = ["can't be blank"];
  const languageId = Number(body.language_id);
  const language = languages.find((l) => l.id === languageId);
  if (body.language_id === undefined || body.language_id === null || body.language_id === '')
    errors.language_id = ["can't be blank"];
  else if (!language) errors.language_id = [`language with id ${body.language_id} doesn't exist`];

  const cpu = numberField(body, 'cpu_time_limit', errors);
  const extra = numberField(body, 'cpu_extra_time', errors);
  const wall = numberField(body, 'wall_time_limit', errors);
  const memory = numberField(body, 'memory_limit', errors, true);
  const stack = numberField(body, 'stack_limit', errors, true);
  const procs = numberField(body, 'max_processes_and_or_threads', errors, true);
  const fileSize = numberField(body, 'max_file_size', errors, true);
  const runs = numberField(body, 'number_of_runs', errors, true);

  const compilerOptions = body.compiler_options == null ? '' : String(body.compiler_options);
  if (compilerOptions.length > 512) errors.compiler_options = ['is too long (maximum is 512 characters)'];
  else if (compilerOptions.trim() && language && !language.runtime.compile)
    errors.compiler_options = ['setting compiler options is only allowed for compiled languages'];
  const args = body.command_line_arguments == null ? '' : String(body.command_line_arguments);
  if (args.length > 512) errors.command_line_arguments = ['is too long (maximum is 512 characters)'];

  const files: { path: string; content: string; encoding: 'base64' }[] = [];
  if (body.additional_files !== undefined && body.additional_files !== null && body.additional_files !== '') {
    try {
      let total = 0;
      const entries = unzipSync(new Uint8Array(Buffer.from(String(body.additional_files), 'base64')), {
        filter: (f) => {
          total += f.originalSize;
          if (total > MAX_EXTRACT_BYTES) throw new Error('too large');
          return !f.name.endsWith('/');
        },
      });
      for (const [path, bytes] of Object.entries(entries)) {
        files.push({
          path: path.replace(/^\.\//, ''),
          content: Buffer.from(bytes).toString('base64'),
          encoding: 'base64',
        });
      }
    } catch {
      errors.additional_files = ['must be a base64 encoded zip of at most 10240 KB'];
    }
  }
  if (Object.keys(errors).length > 0 || !language || !source) return { ok: false, errors };

  const runtime = language.runtime;
  const stdin = text('stdin') ?? Buffer.alloc(0);
  const expected = text('expected_output');
  const redirect = bool(body.redirect_stderr_to_stdout, false);
  const labels: Record<string, string> = {
    [`${LABEL}language_id`]: String(language.id),
    [`${LABEL}cpu_extra_time`]: String(extra),
    [`${LABEL}memory_limit`]: String(memory),
    [`${LABEL}stack_limit`]: String(stack),
    [`${LABEL}max_file_size`]: String(fileSize),
    [`${LABEL}number_of_runs`]: String(runs),
    [`${LABEL}redirect_stderr_to_stdout`]: String(redirect),
    [`${LABEL}compiler_options`]: compilerOptions,
    [`${LABEL}command_line_arguments`]: args,
  };
  if (expected) labels[`${LABEL}expected_output`] = expected.toString('base64');
  const main = { path: runtime.sourceFile, content: source.toString('base64'), encoding: 'base64' as const };
  const request: ExecutionRequestInput = {
    runtime: runtime.name,
    files: [main, ...files.filter((f) => f.path !== main.path)],
    main: main.path,
    argv: splitArguments(args),
    stdin: stdin.toString('base64'),
    stdinEncoding: 'base64',
    limits: {
      cpuTimeMs: Math.max(1, Math.round(cpu * 1000)),
      timeoutMs: Math.max(1, Math.round(wall * 1000)),
      memoryMb: Math.max(8, Math.ceil(memory / 1024)),
      pids: Math.max(4, procs),
      diskMb: Math.max(1, Math.ceil(fileSize / 1024)),
    },
    network: bool(body.enable_network, false) ? 'full' : 'none',
    ...(compilerOptions.trim() ? { compilerOptions: splitArguments(compilerOptions) } : {}),
    labels,
  };
  if (runs > 1) {
    // Judge0 runs the program number_of_runs times and reports the mean time and memory.
    request.tests = Array.from({ length: runs }, () => ({ stdin: stdin.toString('utf8') }));
  }
  const callback = body.callback_url == null || body.callback_url === '' ? null : String(body.callback_url);
  return { ok: true, value: { request, callbackUrl: callback } };
}

/** With redirect_stderr_to_stdout the run command runs under a shell that merges the streams. */
export function redirectStderr(runArgv: string[]): string[] {
  return ['/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', ...runArgv];
}

export const JUDGE0_FIELDS = [
  'source_code',
  'language_id',
  'stdin',
  'expected_output',
  'stdout',
  'status_id',
  'created_at',
  'finished_at',
  'time',
  'memory',
  'stderr',
  'token',
  'number_of_runs',
  'cpu_time_limit',
  'cpu_extra_time',
  'wall_time_limit',
  'memory_limit',
  'stack_limit',
  'max_processes_and_or_threads',
  'enable_per_process_and_thread_time_limit',
  'enable_per_process_and_thread_memory_limit',
  'max_file_size',
  'compile_output',
  'exit_code',
  'exit_signal',
  'message',
  'wall_time',
  'compiler_options',
  'command_line_arguments',
  'redirect_stderr_to_stdout',
  'callback_url',
  'additional_files',
  'enable_network',
  'started_at',
  'queued_at',
  'updated_at',
  'queue_host',
  'execution_host',
  'status',
  'language',
] as const;
export type Judge0Field = (typeof JUDGE0_FIELDS)[number];
export const DEFAULT_FIELDS: Judge0Field[] = [
  'token',
  'time',
  'memory',
  'stdout',
  'stderr',
  'compile_output',
  'message',
  'status',
];

/** Judge0's ?fields=: `*` for all, unknown names are an error, none means the defaults. */
export function parseFields(raw: unknown): { fields: Judge0Field[] } | { invalid: string[] } {
  const names = String(raw ?? '')
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  const invalid = names.filter((n) => n !== '*' && !(JUDGE0_FIELDS as readonly string[]).includes(n));
  if (invalid.length) return { invalid };
  if (names.includes('*')) return { fields: [...JUDGE0_FIELDS] };
  return { fields: names.length ? (names as Judge0Field[]) : DEFAULT_FIELDS };
}

function bytesOf(text: string, encoding: string): Buffer {
  return Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);
/** Rails renders a decimal column as a string: 5 → "5.0". */
const decimal = (value: number) => (Number.isInteger(value) ? value.toFixed(1) : String(value));

/** Judge0's status of a finished run (isolate_job determine_status). */
function runStatus(step: StepResult, expected: Buffer | null): number {
  switch (step.status) {
    case 'ok':
      if (!expected) return 3;
      return compareOutput(
        bytesOf(step.stdout, step.stdoutEncoding).toString('utf8'),
        expected.toString('utf8'),
      ).equal
        ? 3
        : 4;
    case 'compile_error':
    case 'build_error':
      return 6;
    case 'time_limit':
      return 5;
    // isolate writes stdout to a file limited by max_file_size: too much output is SIGXFSZ.
    case 'output_limit':
      return 8;
    case 'internal_error':
      return 13;
    default:
      switch (step.signal) {
        case 'SIGSEGV':
          return 7;
        case 'SIGXFSZ':
          return 8;
        case 'SIGFPE':
          return 9;
        case 'SIGABRT':
          return 10;
        case null:
          // A memory limit ends the program by the cgroup's SIGKILL: Runtime Error (Other) in Judge0.
          return step.status === 'memory_limit' ? 12 : 11;
        default:
          return 12;
      }
  }
}

/** isolate's message for how the run ended, as Judge0 passes it on. */
function runMessage(step: StepResult, statusId: number): string | null {
  if (statusId === 5) return 'Time limit exceeded';
  if (statusId === 13) return step.message ?? 'Internal error';
  if (step.signal || step.status === 'memory_limit')
    return `Caught fatal signal ${signalNumber(step.signal ?? 'SIGKILL')}`;
  if (step.exitCode) return `Exited with error status ${step.exitCode}`;
  return null;
}

const label = (record: ExecutionRecord, name: string) =>
  (record.request.labels as Record<string, string> | undefined)?.[`${LABEL}${name}`];

/** True when the execution came in through the Judge0 API. */
export function isJudge0Execution(record: ExecutionRecord): boolean {
  return label(record, 'language_id') !== undefined;
}

/**
 * A stored execution as Judge0's SubmissionSerializer renders it. With `base64` false, a text
 * field that is not valid UTF-8 makes `unconvertible` true (Judge0 then answers with an error).
 */
export function submissionView(
  record: ExecutionRecord,
  fields: readonly Judge0Field[],
  base64: boolean,
  languages: Judge0Language[],
): { body: Record<string, unknown>; unconvertible: boolean } {
  const req = record.request as unknown as ExecutionRequestInput;
  const result: ExecutionResult | null = record.result;
  const languageId = Number(label(record, 'language_id'));
  const language = languages.find((l) => l.id === languageId);
  const expectedB64 = label(record, 'expected_output');
  const expected = expectedB64 === undefined ? null : Buffer.from(expectedB64, 'base64');
  let unconvertible = false;
  const out = (bytes: Buffer | null): string | null => {
    if (!bytes || bytes.length === 0) return null;
    if (base64) return bytes.toString('base64');
    const text = bytes.toString('utf8');
    if (!Buffer.from(text, 'utf8').equals(bytes)) unconvertible = true;
    return text;
  };
  const plain = (value: string | null): string | null =>
    value === null ? null : base64 ? Buffer.from(value, 'utf8').toString('base64') : value;

  let statusId: number;
  let step: StepResult | null = null;
  if (record.state === 'queued') statusId = 1;
  else if (record.state === 'running') statusId = 2;
  else if (!result) statusId = 13;
  else {
    step = result;
    statusId =
      result.status === 'compile_error'
        ? 6
        : result.tests
          ? testsStatus(result, expected)
          : runStatus(result, expected);
  }
  const runs = result?.tests ?? [];
  const mean = (pick: (t: { durationMs: number; cpuTimeMs: number; peakMemoryBytes: number }) => number) =>
    runs.length ? runs.reduce((a, t) => a + pick(t), 0) / runs.length : step ? pick(step) : 0;
  const compiled = result?.compile;
  const compileOutput =
    compiled && (compiled.stdout || compiled.stderr)
      ? Buffer.concat([
          bytesOf(compiled.stdout, compiled.stdoutEncoding),
          bytesOf(compiled.stderr, compiled.stderrEncoding),
        ])
      : null;
  const ran = step && statusId !== 6;
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  const source = req.files?.[0];
  const limits = req.limits ?? {};
  const all: Record<Judge0Field, unknown> = {
    source_code: out(source ? bytesOf(source.content, source.encoding ?? 'utf8') : null),
    language_id: languageId,
    stdin: out(req.stdin ? bytesOf(req.stdin, req.stdinEncoding ?? 'utf8') : null),
    expected_output: out(expected),
    stdout: ran ? out(bytesOf(step!.stdout, step!.stdoutEncoding)) : null,
    status_id: statusId,
    created_at: iso(record.createdAt),
    finished_at: iso(record.finishedAt),
    time: ran ? seconds(mean((t) => t.cpuTimeMs)) : null,
    memory: ran ? Math.round(mean((t) => t.peakMemoryBytes) / 1024) : null,
    stderr: ran ? out(bytesOf(step!.stderr, step!.stderrEncoding)) : null,
    token: record.id,
    number_of_runs: Number(label(record, 'number_of_runs') ?? 1),
    cpu_time_limit: decimal((limits.cpuTimeMs ?? 0) / 1000),
    cpu_extra_time: decimal(Number(label(record, 'cpu_extra_time') ?? JUDGE0_LIMITS.cpu_extra_time.default)),
    wall_time_limit: decimal((limits.timeoutMs ?? 0) / 1000),
    memory_limit: Number(label(record, 'memory_limit') ?? (limits.memoryMb ?? 0) * 1024),
    stack_limit: Number(label(record, 'stack_limit') ?? JUDGE0_LIMITS.stack_limit.default),
    max_processes_and_or_threads: limits.pids ?? null,
    enable_per_process_and_thread_time_limit: false,
    enable_per_process_and_thread_memory_limit: false,
    max_file_size: Number(label(record, 'max_file_size') ?? JUDGE0_LIMITS.max_file_size.default),
    compile_output: out(compileOutput),
    exit_code: ran ? (step!.exitCode ?? (step!.signal ? null : 0)) : null,
    exit_signal: ran
      ? signalNumber(step!.signal ?? (step!.status === 'memory_limit' ? 'SIGKILL' : null))
      : null,
    message: plain(step ? runMessage(step, statusId) : record.error ? record.error.message : null),
    wall_time: ran ? seconds(mean((t) => t.durationMs)) : null,
    compiler_options: label(record, 'compiler_options') || null,
    command_line_arguments: label(record, 'command_line_arguments') || null,
    redirect_stderr_to_stdout: label(record, 'redirect_stderr_to_stdout') === 'true',
    callback_url: record.callbackUrl,
    additional_files: null,
    enable_network: req.network === 'full',
    started_at: iso(record.startedAt),
    queued_at: iso(record.createdAt),
    updated_at: iso(record.finishedAt ?? record.startedAt ?? record.createdAt),
    queue_host: null,
    execution_host: null,
    status: { id: statusId, description: status(statusId).description },
    language: language ? { id: language.id, name: language.name } : null,
  };
  const body: Record<string, unknown> = {};
  for (const f of fields) body[f] = all[f];
  return { body, unconvertible };
}

/** number_of_runs > 1: the first run that is not accepted decides, as in Judge0's last-run-wins loop. */
function testsStatus(result: ExecutionResult, expected: Buffer | null): number {
  const worst = result.tests?.find((t) => t.verdict !== 'accepted');
  if (!worst) return runStatus(result, expected);
  return runStatus(
    {
      ...result,
      status: worst.status,
      exitCode: worst.exitCode,
      signal: worst.signal,
    },
    expected,
  );
}
