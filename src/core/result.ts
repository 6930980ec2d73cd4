import type { Encoding, ExecutionStatus, IsolationLevel } from './status.js';
import type { TestCaseResult, Verdict } from './test-case-result.js';
import type { TestReport } from './test-report.js';

export { type Encoding, EXECUTION_STATUSES, type ExecutionStatus, type IsolationLevel } from './status.js';

export interface OutputFile {
  path: string;
  content: string;
  encoding: Encoding;
  mode: number;
  size: number;
}

export interface RefusedFile {
  path: string;
  reason: string;
}

/** The custom image of a request with a Dockerfile. */
export interface BuildInfo {
  /** boxrun/custom:<content hash> */
  image: string;
  /** True when an image built from the same Dockerfile and context was already there. */
  cached: boolean;
  durationMs: number;
  /** The builder's output (the tail, when it is long); empty when cached. */
  log: string;
  /** Set when the build failed or timed out. */
  error?: string;
}

/** What one step (compile or run) did. */
export interface StepResult {
  status: ExecutionStatus;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutEncoding: Encoding;
  stderrEncoding: Encoding;
  timedOut: boolean;
  oomKilled: boolean;
  outputTruncated: boolean;
  durationMs: number;
  cpuTimeMs: number;
  peakMemoryBytes: number;
  /** Set when status is internal_error or the program could not be started. */
  message?: string;
}

export interface ExecutionResult extends StepResult {
  id: string;
  runtime: string | null;
  image: string;
  files: OutputFile[];
  refusedFiles: RefusedFile[];
  isolationLevel: IsolationLevel;
  /** The compile step's own result, for compiled runtimes. */
  compile?: StepResult;
  /** Judged requests (`tests`): one result per test case, in the request's order. */
  tests?: TestCaseResult[];
  /** Judged requests: the first non-accepted test's verdict in test order, or `accepted`. */
  verdict?: Verdict;
  /** Test cases (or, with `testFramework`, test-suite cases) that passed, of `total`. */
  passed?: number;
  total?: number;
  /** With `testFramework`: the parsed doctest / JUnit XML / TAP report. */
  testReport?: TestReport;
  /** For requests with a Dockerfile: how the image was built (or found built). */
  build?: BuildInfo;
}

/** What ran where: the fields of a result that do not depend on how the program did. */
export interface ResultOrigin {
  id: string;
  runtime: string | null;
  image: string;
  isolationLevel: IsolationLevel;
}

/**
 * The result of an execution whose program never ran (its image build or its compile step failed,
 * or boxrun failed first): no output, no measurements.
 */
export function notRunResult(
  status: ExecutionStatus,
  origin: ResultOrigin,
  message?: string,
): ExecutionResult {
  return {
    id: origin.id,
    status,
    exitCode: null,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutEncoding: 'utf8',
    stderrEncoding: 'utf8',
    timedOut: false,
    oomKilled: false,
    outputTruncated: false,
    durationMs: 0,
    cpuTimeMs: 0,
    peakMemoryBytes: 0,
    ...(message !== undefined ? { message } : {}),
    runtime: origin.runtime,
    image: origin.image,
    files: [],
    refusedFiles: [],
    isolationLevel: origin.isolationLevel,
  };
}

/** The result of every run of a program whose compile step failed. */
export function compileFailureResult(origin: ResultOrigin, compile: StepResult): ExecutionResult {
  return {
    ...notRunResult('compile_error', origin, `compilation failed (${compile.status})`),
    compile,
  };
}
