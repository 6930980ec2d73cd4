import type { TestFailure, TestReport } from '../core/test-report.js';

const CASES =
  /^\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped/m;
const ASSERTIONS = /^\[doctest\] assertions:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed/m;
const SEPARATOR = /^={20,}\s*$/;
const LOCATION = /^(.+?):(\d+):\s*$/;
const TEST_CASE = /^TEST CASE:\s+(.*?)\s*$/;
/** `file:line: ERROR: …`, `FATAL ERROR:`; doctest prints WARNING and MESSAGE lines the same way. */
const CHECK = /^(.+?):(\d+): (ERROR|FATAL ERROR): (.*)$/;

/**
 * doctest's console output → report. The counts come from the closing summary lines
 * (`[doctest] test cases: 4 | 1 passed | 3 failed | 1 skipped`, `[doctest] assertions: …`);
 * each failed check from the per-case blocks between `=====` lines:
 *
 *     main.cpp:8:
 *     TEST CASE:  large numbers
 *       a subcase name
 *
 *     main.cpp:9: ERROR: CHECK( add(10, 20) == 30 ) is NOT correct!
 *       values: CHECK( 31 == 30 )
 *
 * doctest's "test cases: N" counts the cases that ran; `total` here adds the skipped ones, as
 * JUnit's `tests` does. Returns null when the output has neither a summary nor a failure block
 * (the program was not a doctest binary, or died before writing anything).
 */
export function parseDoctestSummary(output: string): TestReport | null {
  const failures = parseFailureBlocks(output);
  const cases = CASES.exec(output);
  if (!cases) {
    if (failures.length === 0) return null;
    // No summary (killed mid-run): every case that printed a failure failed; nothing else is known.
    const failed = new Set(failures.map((f) => f.name.split(' / ')[0])).size;
    return { passed: 0, failed, skipped: 0, total: failed, failures };
  }
  const [, , passed, failed, skipped] = cases.map(Number) as [number, number, number, number, number];
  const report: TestReport = { passed, failed, skipped, total: passed + failed + skipped, failures };
  const assertions = ASSERTIONS.exec(output);
  if (assertions) {
    const [, total, aPassed, aFailed] = assertions.map(Number) as [number, number, number, number];
    report.assertions = { passed: aPassed, failed: aFailed, total };
  }
  return report;
}

function parseFailureBlocks(output: string): TestFailure[] {
  const failures: TestFailure[] = [];
  const lines = output.split(/\r?\n/);
  let testCase: string | null = null;
  let subcases: string[] = [];
  let inHeader = false;
  let current: TestFailure | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (SEPARATOR.test(line)) {
      testCase = null;
      subcases = [];
      current = null;
      // A block starts with the test case's location line.
      inHeader = LOCATION.test(lines[i + 1] ?? '');
      continue;
    }
    if (line.startsWith('[doctest]')) {
      current = null;
      continue;
    }
    const caseMatch = TEST_CASE.exec(line);
    if (inHeader && caseMatch) {
      testCase = caseMatch[1]!;
      continue;
    }
    if (inHeader && testCase !== null) {
      // Subcase names follow the TEST CASE line, indented, until the blank line.
      if (line.trim() === '') inHeader = false;
      else subcases.push(line.trim().replace(/^SUBCASE:\s*/, ''));
      continue;
    }
    const check = CHECK.exec(line);
    if (check && testCase !== null) {
      current = {
        name: [testCase, ...subcases].join(' / '),
        message: check[4]!.trim(),
        file: check[1]!,
        line: Number(check[2]),
      };
      failures.push(current);
      continue;
    }
    // Continuation lines of a failed check: `  values: CHECK( 31 == 30 )`, `  logged: …`.
    if (current && /^\s+\S/.test(line)) current.message += `\n${line.trim()}`;
    else if (line.trim() === '' || /^.+?:\d+: [A-Z ]+:/.test(line)) current = null;
  }
  return failures;
}
