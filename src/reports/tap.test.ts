import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTap } from './tap.js';

/** Real output of `node --test --test-reporter=tap` (Node 18) in the javascript image. */
const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/judge/reports/${name}`, import.meta.url), 'utf8');

describe('parseTap', () => {
  it('reads a passing node:test run', () => {
    expect(parseTap(fixture('node18-tap-pass.txt'))).toEqual({
      passed: 2,
      failed: 0,
      skipped: 0,
      total: 2,
      failures: [],
    });
  });

  it('counts leaves: subtests instead of their parent, SKIP and TODO as skipped', () => {
    expect(parseTap(fixture('node18-tap-fail.txt'))).toMatchObject({
      passed: 2,
      failed: 2,
      skipped: 2,
      total: 6,
    });
  });

  it('takes messages, expected/actual and locations from the YAML diagnostics', () => {
    expect(parseTap(fixture('node18-tap-fail.txt')).failures).toEqual([
      {
        name: 'fails an assertion',
        message: 'one and one (expected: 3, actual: 2)',
        file: '/box/sample.test.js',
        line: 4,
      },
      { name: 'suite-like > inner fails', message: 'inner boom', file: '/box/sample.test.js', line: 9 },
    ]);
  });

  it('walks describe blocks nested two levels deep', () => {
    const report = parseTap(fixture('node18-tap-describe.txt'));
    expect(report).toMatchObject({ passed: 2, failed: 1, skipped: 0, total: 3 });
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({
      name: 'math > multiplies',
      file: '/box/describe.test.js',
      line: 5,
    });
    expect(report.failures[0]!.message).toContain('Expected values to be strictly deep-equal');
    expect(report.failures[0]!.message).toContain('(expected: {"a":5}, actual: {"a":4})');
  });

  it('reads plain TAP as prove prints it', () => {
    const tap = [
      'TAP version 13',
      '1..5',
      'ok 1 - first',
      'not ok 2 - second',
      '  ---',
      '  message: "got 3"',
      '  at:',
      '    file: t/basic.t',
      '    line: 7',
      '  ...',
      'ok 3 # skip no network',
      'not ok 4 - later # TODO not written',
      'ok 5 - hash \\# in name',
    ].join('\n');
    const report = parseTap(tap);
    expect(report).toMatchObject({ passed: 2, failed: 1, skipped: 2, total: 5 });
    expect(report.failures).toEqual([{ name: 'second', message: 'got 3', file: 't/basic.t', line: 7 }]);
  });

  it('counts tests the plan promised but that never ran', () => {
    const report = parseTap('1..4\nok 1\nok 2\n');
    expect(report).toMatchObject({ passed: 2, failed: 2, total: 4 });
    expect(report.failures).toEqual([{ name: '(plan)', message: 'planned 4 tests, 2 ran' }]);
  });

  it('counts a bail out as a failure', () => {
    const report = parseTap('1..3\nok 1 - a\nBail out! database is down\n');
    expect(report).toMatchObject({ passed: 1, failed: 1, total: 2 });
    expect(report.failures).toEqual([{ name: 'Bail out!', message: 'database is down' }]);
  });

  it('reads a skipped plan and empty output as no tests', () => {
    expect(parseTap('1..0 # SKIP no tests here\n')).toMatchObject({ total: 0, failed: 0 });
    expect(parseTap('')).toMatchObject({ total: 0, failed: 0 });
  });

  it('counts a failed parent whose children all passed (a failing hook)', () => {
    const tap = [
      '    ok 1 - inner',
      '    1..1',
      'not ok 1 - outer',
      '  ---',
      "  error: 'after hook failed'",
      '  ...',
      '1..1',
    ];
    const report = parseTap(tap.join('\n'));
    expect(report).toMatchObject({ passed: 1, failed: 1, total: 2 });
    expect(report.failures).toEqual([{ name: 'outer', message: 'after hook failed' }]);
  });
});
