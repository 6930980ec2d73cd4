/** One failing test case of a test suite, as its framework reported it. */
export interface TestFailure {
  /** The test case (with its suite or class, and subcase, when the framework names them). */
  name: string;
  message: string;
  file?: string;
  line?: number;
}

/** What a test framework's report says, in one shape for doctest, JUnit XML and TAP. */
export interface TestReport {
  passed: number;
  failed: number;
  skipped: number;
  /** passed + failed + skipped. */
  total: number;
  /** Assertion counts, when the framework reports them (doctest). */
  assertions?: { passed: number; failed: number; total: number };
  failures: TestFailure[];
}

export function emptyReport(): TestReport {
  return { passed: 0, failed: 0, skipped: 0, total: 0, failures: [] };
}

/** Several reports (one JUnit file per test class, say) as one. */
export function mergeReports(reports: TestReport[]): TestReport {
  const out = emptyReport();
  for (const r of reports) {
    out.passed += r.passed;
    out.failed += r.failed;
    out.skipped += r.skipped;
    out.total += r.total;
    out.failures.push(...r.failures);
    if (r.assertions) {
      out.assertions ??= { passed: 0, failed: 0, total: 0 };
      out.assertions.passed += r.assertions.passed;
      out.assertions.failed += r.assertions.failed;
      out.assertions.total += r.assertions.total;
    }
  }
  return out;
}
