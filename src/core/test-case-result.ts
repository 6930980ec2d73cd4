import type { Encoding, ExecutionStatus } from './status.js';

export const VERDICTS = [
  'accepted',
  'wrong_answer',
  'time_limit',
  'memory_limit',
  'runtime_error',
  'output_limit',
  'compile_error',
  'internal_error',
] as const;
export type Verdict = (typeof VERDICTS)[number];

/** One test case of a judged request. */
export interface TestCaseResult {
  /** 1-based position in the request's `tests`. */
  index: number;
  /** The test's name, or its position when it has none. */
  name: string;
  verdict: Verdict;
  /** How the run ended; `ok` for a wrong answer (the program ran, its output was wrong). */
  status: ExecutionStatus;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
  cpuTimeMs: number;
  peakMemoryBytes: number;
  /** The program's output, cut at 64 KiB (`stdoutTruncated` then says so). */
  stdout: string;
  stdoutEncoding: Encoding;
  stdoutTruncated: boolean;
  /** The first 8 KiB of stderr. */
  stderr: string;
  stderrEncoding: Encoding;
  stderrTruncated: boolean;
  /** Why the verdict is not `accepted`: the first difference, the limit hit, … */
  message?: string;
}
