import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { dockerExecutor } from '../helpers.js';

/** Test suites run through boxrun with `testFramework`, their real reports parsed. */
describe('test-report parsing on the real engine', () => {
  let executor: DockerExecutor;
  beforeAll(() => {
    executor = dockerExecutor();
  });
  afterAll(async () => {
    await executor.close();
  });

  describe('doctest (C++)', () => {
    const doctest = (body: string) => ({
      runtime: 'cpp',
      files: [{ path: 'main.cpp', content: `#include <doctest/doctest.h>\n${body}` }],
      testFramework: 'doctest' as const,
    });

    it('builds with doctest’s main and reports a passing suite as ok', async () => {
      const r = await executor.execute(
        doctest(
          'int add(int a, int b) { return a + b; }\nTEST_CASE("add") { CHECK(add(1, 2) == 3); CHECK(add(2, 2) == 4); }\n',
        ),
      );
      expect(r).toHaveStatus('ok');
      expect(r.verdict).toBe('accepted');
      expect(r.testReport).toEqual({
        passed: 1,
        failed: 0,
        skipped: 0,
        total: 1,
        assertions: { passed: 2, failed: 0, total: 2 },
        failures: [],
      });
      expect([r.passed, r.total]).toEqual([1, 1]);
    });

    it('reports failed cases with their check, file and line; the run is a runtime_error', async () => {
      const r = await executor.execute(
        doctest(
          [
            'int add(int a, int b) { return a + b + (a > 5); }',
            'TEST_CASE("small") { CHECK(add(1, 2) == 3); }',
            'TEST_CASE("large") {',
            '  CHECK(add(10, 20) == 30);',
            '}',
            'TEST_CASE("skipped" * doctest::skip()) { CHECK(false); }',
            '',
          ].join('\n'),
        ),
      );
      expect(r).toHaveStatus('runtime_error');
      expect(r.exitCode).not.toBe(0);
      expect(r.verdict).toBe('wrong_answer');
      expect(r.message).toBe('1 of 3 tests failed');
      expect(r.testReport).toMatchObject({ passed: 1, failed: 1, skipped: 1, total: 3 });
      expect(r.testReport!.failures).toEqual([
        {
          name: 'large',
          file: 'main.cpp',
          line: 5,
          message: 'CHECK( add(10, 20) == 30 ) is NOT correct!\nvalues: CHECK( 31 == 30 )',
        },
      ]);
    });

    it('gives a suite that does not compile compile_error', async () => {
      const r = await executor.execute(doctest('TEST_CASE("x") { CHECK(undefined_thing); }\n'));
      expect(r).toHaveStatus('compile_error');
      expect(r.verdict).toBe('compile_error');
      expect(r.testReport).toBeUndefined();
    });
  });

  describe('JUnit XML (pytest --junitxml)', () => {
    const pytest = (source: string) => ({
      runtime: 'python',
      files: [{ path: 'test_sample.py', content: source }],
      command: [
        'python3',
        '-m',
        'pytest',
        '-q',
        '-p',
        'no:cacheprovider',
        '--junitxml=report.xml',
        'test_sample.py',
      ],
      testFramework: 'junit' as const,
    });

    it('collects report.xml and parses failures, errors and skips', async () => {
      const r = await executor.execute(
        pytest(
          [
            'import pytest',
            'def test_ok():',
            '    assert 1 + 1 == 2',
            'def test_wrong():',
            '    assert 2 + 2 == 5',
            '@pytest.mark.skip(reason="later")',
            'def test_skipped():',
            '    pass',
            'def test_raises():',
            '    raise KeyError("k")',
            '',
          ].join('\n'),
        ),
      );
      expect(r).toHaveStatus('runtime_error');
      expect(r.verdict).toBe('wrong_answer');
      expect(r.files.map((f) => f.path)).toEqual(['report.xml']);
      expect(r.testReport).toMatchObject({ passed: 1, failed: 2, skipped: 1, total: 4 });
      expect(r.testReport!.failures).toEqual([
        { name: 'test_sample.test_wrong', message: 'assert (2 + 2) == 5', file: 'test_sample.py', line: 5 },
        { name: 'test_sample.test_raises', message: "KeyError: 'k'", file: 'test_sample.py', line: 10 },
      ]);
    });

    it('reports a passing pytest run as ok', async () => {
      const r = await executor.execute(
        pytest('def test_a():\n    assert True\n\ndef test_b():\n    assert [1] == [1]\n'),
      );
      expect(r).toHaveStatus('ok');
      expect(r.verdict).toBe('accepted');
      expect(r.testReport).toMatchObject({ passed: 2, failed: 0, total: 2 });
    });

    it('says so when the command wrote no report', async () => {
      const r = await executor.execute({
        ...pytest('def test_a():\n    pass\n'),
        command: ['python3', 'test_sample.py'],
      });
      expect(r).toHaveStatus('runtime_error');
      expect(r.verdict).toBe('runtime_error');
      expect(r.message).toContain('no JUnit XML report');
      expect(r.testReport).toBeUndefined();
    });
  });

  describe('TAP (node --test --test-reporter=tap)', () => {
    it('parses node:test’s TAP from stdout, subtests included', async () => {
      const source = [
        "const { describe, it, test } = require('node:test');",
        "const assert = require('node:assert');",
        "test('adds', () => assert.strictEqual(1 + 2, 3));",
        "describe('suite', () => {",
        "  it('passes', () => {});",
        "  it('fails', () => assert.strictEqual(1 + 1, 3, 'one and one'));",
        '});',
        "test('skipped', { skip: true }, () => {});",
        '',
      ].join('\n');
      const r = await executor.execute({
        runtime: 'javascript',
        files: [{ path: 'sample.test.js', content: source }],
        command: ['node', '--test', '--test-reporter=tap', 'sample.test.js'],
        testFramework: 'tap',
      });
      expect(r).toHaveStatus('runtime_error');
      expect(r.verdict).toBe('wrong_answer');
      expect(r.testReport).toMatchObject({ passed: 2, failed: 1, skipped: 1, total: 4 });
      expect(r.testReport!.failures).toEqual([
        {
          name: 'suite > fails',
          message: 'one and one (expected: 3, actual: 2)',
          file: 'sample.test.js',
          line: 6,
        },
      ]);
    });
  });
});
