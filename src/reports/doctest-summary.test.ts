import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDoctestSummary } from './doctest-summary.js';

/** Real output of doctest 2.4.9 (Debian's doctest-dev) from programs run in the cpp image. */
const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/judge/reports/${name}`, import.meta.url), 'utf8');

describe('parseDoctestSummary', () => {
  it('reads the counts of a passing run', () => {
    expect(parseDoctestSummary(fixture('doctest-pass.txt'))).toEqual({
      passed: 2,
      failed: 0,
      skipped: 0,
      total: 2,
      assertions: { passed: 4, failed: 0, total: 4 },
      failures: [],
    });
  });

  it('reads the counts of a failing run, skipped cases included in the total', () => {
    const report = parseDoctestSummary(fixture('doctest-fail.txt'))!;
    expect(report).toMatchObject({
      passed: 1,
      failed: 3,
      skipped: 1,
      total: 5,
      assertions: { passed: 2, failed: 4, total: 6 },
    });
  });

  it('lists every failed check with its test case, location and values', () => {
    const { failures } = parseDoctestSummary(fixture('doctest-fail.txt'))!;
    expect(failures).toEqual([
      {
        name: 'large numbers',
        file: 'main.cpp',
        line: 9,
        message: 'CHECK( add(10, 20) == 30 ) is NOT correct!\nvalues: CHECK( 31 == 30 )',
      },
      {
        name: 'large numbers',
        file: 'main.cpp',
        line: 10,
        message: 'CHECK_EQ( add(6, 1), 7 ) is NOT correct!\nvalues: CHECK_EQ( 8, 7 )',
      },
      {
        name: 'large numbers',
        file: 'main.cpp',
        line: 11,
        message: 'REQUIRE( add(100, 1) == 101 ) is NOT correct!\nvalues: REQUIRE( 102 == 101 )',
      },
      { name: 'throws', file: 'main.cpp', line: 15, message: 'test case THREW exception: unknown exception' },
      { name: 'message', file: 'main.cpp', line: 16, message: 'custom failure message' },
    ]);
  });

  it('names the subcase of a failure and reports a crashed case', () => {
    const report = parseDoctestSummary(fixture('doctest-subcase-crash.txt'))!;
    expect(report).toMatchObject({ passed: 0, failed: 2, skipped: 1, total: 3 });
    expect(report.failures).toEqual([
      {
        name: 'vectors can be sized / adding to the vector increases its size',
        file: 'main.cpp',
        line: 8,
        message: 'CHECK( v.size() == 7 ) is NOT correct!\nvalues: CHECK( 6 == 7 )',
      },
      {
        name: 'crashes',
        file: 'main.cpp',
        line: 15,
        message: 'test case CRASHED: SIGSEGV - Segmentation violation signal',
      },
    ]);
  });

  it('counts the failed cases from their blocks when the summary is missing', () => {
    const cut = fixture('doctest-fail.txt').split('[doctest] test cases')[0]!;
    expect(parseDoctestSummary(cut)).toMatchObject({ passed: 0, failed: 3, total: 3 });
  });

  it('returns null for output that is not doctest', () => {
    expect(parseDoctestSummary('hello\n')).toBeNull();
    expect(parseDoctestSummary('')).toBeNull();
  });

  it('accepts the padded summary of older doctest versions', () => {
    const out =
      '[doctest] test cases:  1 |  1 passed | 0 failed | 0 skipped\n[doctest] assertions:  3 |  3 passed | 0 failed |\n';
    expect(parseDoctestSummary(out)).toMatchObject({
      passed: 1,
      total: 1,
      assertions: { total: 3, passed: 3 },
    });
  });
});
