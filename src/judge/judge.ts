import { WORK_DIR } from '../backends/supervisor/protocol.js';
import { BoxrunError, isBoxrunError } from '../core/errors.js';
import type { ExecuteOptions, Executor, PreparedProgram } from '../core/executor.js';
import { MAX_TEST_DATA_BYTES, type TestCase, type TestFramework } from '../core/judge-request.js';
import { type ExecutionRequest, type ExecutionRequestInput, MAX_STDIN_BYTES } from '../core/request.js';
import { type Encoding, type ExecutionResult, notRunResult } from '../core/result.js';
import { type TestCaseResult, VERDICTS, type Verdict } from '../core/test-case-result.js';
import { mergeReports, type TestReport } from '../core/test-report.js';
import { parseDoctestSummary } from '../reports/doctest-summary.js';
import { parseJUnitXml } from '../reports/junit-xml.js';
import { parseTap } from '../reports/tap.js';
import { resultOrigin, validateRequest } from '../runtimes/plan.js';
import { compareOutput } from './compare.js';

export const DEFAULT_JUDGE_CONCURRENCY = 2;
/** Per-test output kept in the result: enough to show a wrong answer, bounded for 1000 tests. */
export const TEST_STDOUT_BYTES = 64 * 1024;
export const TEST_STDERR_BYTES = 8 * 1024;
/** Where a JUnit report is looked for when the request names no output paths. */
export const DEFAULT_JUNIT_REPORT = 'report.xml';

export interface JudgeOptions extends ExecuteOptions {
  /** Test cases running at once when the request does not say (default 2). */
  concurrency?: number;
  /** The most a test case's `timeoutMs` may ask for (the config's `maxLimits.timeoutMs`). */
  maxTimeoutMs?: number;
  /** Called as each test case finishes, in the order they finish. */
  onTestResult?: (result: TestCaseResult) => void;
}

type JudgingExecutor = Pick<Executor, 'prepare' | 'runPrepared' | 'isolationLevel'>;

/** Whether a request asks for judging (test cases or a test framework) rather than one plain run. */
export function isJudgedRequest(input: ExecutionRequestInput): boolean {
  const req = input as { tests?: unknown; testFramework?: unknown };
  return req.tests !== undefined || req.testFramework !== undefined;
}

/**
 * Executor.execute of every backend: a judged request (tests, testFramework) is judged; any other
 * is prepared and run once.
 */
export async function executeRequest(
  executor: JudgingExecutor,
  input: ExecutionRequestInput,
  options: ExecuteOptions,
  maxTimeoutMs: number,
): Promise<ExecutionResult> {
  // Test cases / test suites: the judge prepares once and runs each case through runPrepared.
  if (isJudgedRequest(input)) return judge(executor, input, { ...options, maxTimeoutMs });
  const prepared = await executor.prepare(input, options);
  return prepared.failed ?? executor.runPrepared(prepared, {}, options);
}

/**
 * Judges a request: with `tests`, compiles once and runs every test case in a fresh sandbox (at
 * most `concurrency` at once), comparing each output with the expected one; with `testFramework`,
 * runs the program as a test suite and parses its report. Failures of the program are verdicts in
 * the result; only boxrun's own faults (invalid request, no engine, canceled) throw.
 */
export async function judge(
  executor: JudgingExecutor,
  input: ExecutionRequestInput,
  options: JudgeOptions = {},
): Promise<ExecutionResult> {
  const request = validateRequest(input);
  if (request.tests && request.testFramework) {
    throw new BoxrunError('INVALID_REQUEST', 'testFramework: cannot be combined with tests', {
      details: { path: 'testFramework' },
    });
  }
  if (request.tests) return judgeTests(executor, request, request.tests, options);
  if (request.testFramework) return runTestSuite(executor, request, request.testFramework, options);
  throw new BoxrunError('INVALID_REQUEST', 'tests: a judged request needs tests or testFramework', {
    details: { path: 'tests' },
  });
}

/** ExecuteOptions for prepare/run, without the judge's own and without live output. */
function executeOptions(options: JudgeOptions): ExecuteOptions {
  const { concurrency: _c, maxTimeoutMs: _m, onTestResult: _t, onOutput: _o, ...rest } = options;
  return rest;
}

function checkTests(tests: TestCase[], maxTimeoutMs: number | undefined): void {
  let total = 0;
  for (const [i, test] of tests.entries()) {
    const stdinBytes = Buffer.byteLength(test.stdin);
    if (stdinBytes > MAX_STDIN_BYTES) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `tests.${i}.stdin: exceeds the limit of ${MAX_STDIN_BYTES} bytes`,
        {
          details: { path: `tests.${i}.stdin` },
        },
      );
    }
    if (maxTimeoutMs !== undefined && test.timeoutMs !== undefined && test.timeoutMs > maxTimeoutMs) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `tests.${i}.timeoutMs: ${test.timeoutMs} exceeds the maximum of ${maxTimeoutMs}`,
        { details: { path: `tests.${i}.timeoutMs` } },
      );
    }
    total += stdinBytes + Buffer.byteLength(test.expectedOutput ?? '');
  }
  if (total > MAX_TEST_DATA_BYTES) {
    throw new BoxrunError(
      'INVALID_REQUEST',
      `tests: ${total} bytes of test data exceeds ${MAX_TEST_DATA_BYTES}`,
      {
        details: { path: 'tests' },
      },
    );
  }
}

async function judgeTests(
  executor: JudgingExecutor,
  request: ExecutionRequest,
  tests: TestCase[],
  options: JudgeOptions,
): Promise<ExecutionResult> {
  checkTests(tests, options.maxTimeoutMs);
  const runOptions = executeOptions(options);
  // The validated request: prepare plans it without parsing it again.
  const prepared = await executor.prepare(request, runOptions);
  if (prepared.failed) return compileFailed(prepared.failed, tests);

  const concurrency = request.concurrency ?? options.concurrency ?? DEFAULT_JUDGE_CONCURRENCY;
  const runs = await runBounded(tests, concurrency, async (test, i) => {
    const run = await runTest(executor, prepared, test, runOptions);
    const result = testCaseResult(i, test, run, request);
    options.onTestResult?.(result);
    return { run: slim(run), result };
  });

  const results = runs.map((r) => r.result);
  const decidingIndex = results.findIndex((r) => r.verdict !== 'accepted');
  const decidingAt = decidingIndex === -1 ? runs.length - 1 : decidingIndex;
  const deciding = runs[decidingAt]!;
  const verdict: Verdict = decidingIndex === -1 ? 'accepted' : deciding.result.verdict;
  const message =
    decidingIndex === -1
      ? undefined
      : `test ${deciding.result.name}: ${deciding.result.verdict.replace('_', ' ')}${deciding.result.message ? `: ${deciding.result.message}` : ''}`;
  const { message: _runMessage, ...run } = deciding.run;
  return {
    ...run,
    // The worst test's resources, as judges report them.
    durationMs: Math.max(...results.map((r) => r.durationMs)),
    cpuTimeMs: Math.max(...results.map((r) => r.cpuTimeMs)),
    peakMemoryBytes: Math.max(...results.map((r) => r.peakMemoryBytes)),
    ...(message ? { message } : {}),
    ...(prepared.compile ? { compile: prepared.compile } : {}),
    tests: results,
    verdict,
    passed: results.filter((r) => r.verdict === 'accepted').length,
    total: results.length,
  };
}

/** One test case's run; an engine fault on one test is that test's internal_error, not the judge's. */
async function runTest(
  executor: JudgingExecutor,
  prepared: PreparedProgram,
  test: TestCase,
  options: ExecuteOptions,
): Promise<ExecutionResult> {
  try {
    return await executor.runPrepared(
      prepared,
      {
        stdin: test.stdin,
        ...(test.args ? { argv: test.args } : {}),
        ...(test.timeoutMs ? { timeoutMs: test.timeoutMs } : {}),
      },
      options,
    );
  } catch (error) {
    if (isBoxrunError(error, 'CANCELED') || options.signal?.aborted) throw error;
    if (isBoxrunError(error) && error.code !== 'SANDBOX_FAILED' && error.code !== 'INTERNAL') throw error;
    return {
      ...(prepared.failed ??
        notRunResult('internal_error', resultOrigin(prepared.plan, prepared.id, executor.isolationLevel()))),
      status: 'internal_error',
      message: (error as Error).message,
    };
  }
}

/** Runs `fn` over `items` with at most `limit` at once; results in item order; the first error wins. */
export async function runBounded<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failure;
  return results;
}

export function decodeOutput(text: string, encoding: Encoding): string {
  return encoding === 'base64' ? Buffer.from(text, 'base64').toString('utf8') : text;
}

/** The first `maxBytes` of an output, cut on a character boundary. */
export function truncateOutput(
  text: string,
  encoding: Encoding,
  maxBytes: number,
): { text: string; truncated: boolean } {
  const bytes = Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8');
  if (bytes.length <= maxBytes) return { text, truncated: false };
  if (encoding === 'base64') return { text: bytes.subarray(0, maxBytes).toString('base64'), truncated: true };
  let cut = maxBytes;
  // Back off to the start of a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return { text: bytes.subarray(0, cut).toString('utf8'), truncated: true };
}

/** A run's result with its outputs cut to the per-test size, so 1000 tests stay small. */
function slim(run: ExecutionResult): ExecutionResult {
  return {
    ...run,
    stdout: truncateOutput(run.stdout, run.stdoutEncoding, TEST_STDOUT_BYTES).text,
    stderr: truncateOutput(run.stderr, run.stderrEncoding, TEST_STDERR_BYTES).text,
  };
}

/** A status that is no verdict of its own (a failed Dockerfile build) counts as a compile error. */
function verdictForStatus(status: string): Verdict {
  if ((VERDICTS as readonly string[]).includes(status)) return status as Verdict;
  return status === 'build_error' ? 'compile_error' : 'internal_error';
}

/** A JVM stops at its own heap limit (below the sandbox's) and exits with this error. */
const JAVA_OUT_OF_MEMORY = /java\.lang\.OutOfMemoryError/;

export function verdictOf(
  run: ExecutionResult,
  test: Pick<TestCase, 'expectedOutput'>,
  compare: ExecutionRequest['compare'],
): { verdict: Verdict; message?: string } {
  switch (run.status) {
    case 'ok': {
      if (test.expectedOutput === undefined) return { verdict: 'accepted' };
      const comparison = compareOutput(
        decodeOutput(run.stdout, run.stdoutEncoding),
        test.expectedOutput,
        compare,
      );
      return comparison.equal
        ? { verdict: 'accepted' }
        : { verdict: 'wrong_answer', ...(comparison.message ? { message: comparison.message } : {}) };
    }
    case 'runtime_error':
      if (JAVA_OUT_OF_MEMORY.test(decodeOutput(run.stderr, run.stderrEncoding))) {
        return {
          verdict: 'memory_limit',
          message: 'java.lang.OutOfMemoryError (the JVM heap is sized from the memory limit)',
        };
      }
      return { verdict: 'runtime_error', ...(run.message ? { message: run.message } : exitMessage(run)) };
    default:
      return { verdict: verdictForStatus(run.status), ...(run.message ? { message: run.message } : {}) };
  }
}

function exitMessage(run: ExecutionResult): { message?: string } {
  if (run.signal) return { message: `killed by ${run.signal}` };
  if (run.exitCode !== null) return { message: `exit code ${run.exitCode}` };
  return {};
}

function testCaseResult(
  index: number,
  test: TestCase,
  run: ExecutionResult,
  request: ExecutionRequest,
): TestCaseResult {
  const { verdict, message } = verdictOf(run, test, request.compare);
  const stdout = truncateOutput(run.stdout, run.stdoutEncoding, TEST_STDOUT_BYTES);
  const stderr = truncateOutput(run.stderr, run.stderrEncoding, TEST_STDERR_BYTES);
  return {
    index: index + 1,
    name: test.name ?? String(index + 1),
    verdict,
    status: run.status,
    exitCode: run.exitCode,
    signal: run.signal,
    durationMs: run.durationMs,
    cpuTimeMs: run.cpuTimeMs,
    peakMemoryBytes: run.peakMemoryBytes,
    stdout: stdout.text,
    stdoutEncoding: run.stdoutEncoding,
    stdoutTruncated: stdout.truncated,
    stderr: stderr.text,
    stderrEncoding: run.stderrEncoding,
    stderrTruncated: stderr.truncated,
    ...(message ? { message } : {}),
  };
}

function compileFailed(failed: ExecutionResult, tests: TestCase[]): ExecutionResult {
  return {
    ...failed,
    tests: tests.map((test, i) => ({
      index: i + 1,
      name: test.name ?? String(i + 1),
      verdict: 'compile_error',
      status: 'compile_error',
      exitCode: null,
      signal: null,
      durationMs: 0,
      cpuTimeMs: 0,
      peakMemoryBytes: 0,
      stdout: '',
      stdoutEncoding: 'utf8',
      stdoutTruncated: false,
      stderr: '',
      stderrEncoding: 'utf8',
      stderrTruncated: false,
    })),
    verdict: 'compile_error',
    passed: 0,
    total: tests.length,
  };
}

/** Paths in reports are inside the sandbox; the caller knows them relative to its files. */
function relativeToWorkDir(report: TestReport): TestReport {
  const prefix = `${WORK_DIR}/`;
  return {
    ...report,
    failures: report.failures.map((f) =>
      f.file?.startsWith(prefix) ? { ...f, file: f.file.slice(prefix.length) } : f,
    ),
  };
}

function parseReport(
  framework: TestFramework,
  run: ExecutionResult,
): { report: TestReport | null; problem?: string } {
  try {
    switch (framework) {
      case 'doctest': {
        const report = parseDoctestSummary(decodeOutput(run.stdout, run.stdoutEncoding));
        return report ? { report } : { report: null, problem: 'no doctest summary in the output' };
      }
      case 'tap':
        return { report: parseTap(decodeOutput(run.stdout, run.stdoutEncoding)) };
      case 'junit': {
        const xml = run.files.filter((f) => f.path.endsWith('.xml'));
        if (xml.length === 0) return { report: null, problem: 'no JUnit XML report among the output files' };
        return { report: mergeReports(xml.map((f) => parseJUnitXml(decodeOutput(f.content, f.encoding)))) };
      }
    }
  } catch (error) {
    return {
      report: null,
      problem: `the ${framework} report could not be read: ${(error as Error).message}`,
    };
  }
}

/**
 * A test suite run once: doctest (compiled with doctest's main; its console summary), TAP (on
 * stdout) or JUnit XML (a report file collected through `outputPaths`, `report.xml` by default).
 * A suite with failures is not `ok`: its status is `runtime_error` (most runners also exit non-zero)
 * and its verdict `wrong_answer`; the parsed report is attached either way.
 */
async function runTestSuite(
  executor: JudgingExecutor,
  request: ExecutionRequest,
  framework: TestFramework,
  options: JudgeOptions,
): Promise<ExecutionResult> {
  const withReport =
    framework === 'junit' && request.outputPaths.length === 0
      ? { ...request, outputPaths: [DEFAULT_JUNIT_REPORT] }
      : request;
  const runOptions = executeOptions(options);
  const prepared = await executor.prepare(withReport, { ...runOptions, testFramework: framework });
  if (prepared.failed) return { ...prepared.failed, verdict: 'compile_error', passed: 0, total: 0 };
  const run = await executor.runPrepared(
    prepared,
    {},
    { ...runOptions, ...(options.onOutput ? { onOutput: options.onOutput } : {}) },
  );

  const { report, problem } = parseReport(framework, run);
  const testReport = report ? relativeToWorkDir(report) : null;
  let { status } = run;
  let verdict: Verdict;
  let message = run.message;
  if (status !== 'ok' && status !== 'runtime_error') {
    verdict = verdictForStatus(status);
  } else if (!testReport) {
    verdict = 'runtime_error';
    status = 'runtime_error';
    message = problem;
  } else if (testReport.failed > 0) {
    verdict = 'wrong_answer';
    status = 'runtime_error';
    message = `${testReport.failed} of ${testReport.total} tests failed`;
  } else if (status === 'runtime_error') {
    verdict = 'runtime_error';
  } else {
    verdict = 'accepted';
  }
  return {
    ...run,
    status,
    ...(message ? { message } : {}),
    ...(testReport ? { testReport, passed: testReport.passed, total: testReport.total } : {}),
    verdict,
  };
}
