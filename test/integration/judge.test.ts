import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import type { ExecutionRequestInput } from '../../src/core/request.js';
import type { Verdict } from '../../src/core/test-case-result.js';
import { judge } from '../../src/judge/judge.js';
import { loadTestDirectory } from '../../src/judge/test-files.js';
import { dockerExecutor } from '../helpers.js';

const aplusb = (path: string) => fileURLToPath(new URL(`../fixtures/judge/aplusb/${path}`, import.meta.url));
const tests = loadTestDirectory(aplusb('tests'));

const languages = {
  cpp: { runtime: 'cpp', file: (kind: string) => `cpp/${kind}.cpp` },
  python: { runtime: 'python', file: (kind: string) => `python/${kind}.py` },
  java: { runtime: 'java', file: (kind: string) => `java/${kind[0]!.toUpperCase()}${kind.slice(1)}.java` },
} as const;

const all = (v: Verdict): Verdict[] => [v, v, v, v];
/** Per-test verdicts for the four tests of A+B (test 2 has a negative a, test 4 overflows 32 bits). */
const expected: Record<keyof typeof languages, Record<string, Verdict[]>> = {
  cpp: {
    accepted: all('accepted'),
    wa: ['accepted', 'accepted', 'accepted', 'wrong_answer'],
    tle: all('time_limit'),
    mle: all('memory_limit'),
  },
  python: {
    accepted: all('accepted'),
    wa: ['accepted', 'wrong_answer', 'accepted', 'accepted'],
    tle: all('time_limit'),
    mle: all('memory_limit'),
  },
  java: {
    accepted: all('accepted'),
    wa: ['accepted', 'accepted', 'accepted', 'wrong_answer'],
    tle: all('time_limit'),
    mle: all('memory_limit'),
  },
};

function solution(language: keyof typeof languages, kind: string): ExecutionRequestInput {
  const { runtime, file } = languages[language];
  const path = file(kind);
  return {
    runtime,
    files: [{ path: path.split('/')[1]!, content: readFileSync(aplusb(path), 'utf8') }],
    tests,
    // A 1 s limit for the endless loops; a small memory limit for the allocators.
    limits: kind === 'tle' ? { timeoutMs: 1000 } : kind === 'mle' ? { memoryMb: 128 } : {},
  };
}

describe('judge on the real engine', () => {
  let executor: DockerExecutor;
  beforeAll(() => {
    executor = dockerExecutor();
  });
  afterAll(async () => {
    await executor.close();
  });

  describe('A+B in C++, Python and Java', () => {
    for (const language of Object.keys(languages) as (keyof typeof languages)[]) {
      for (const [kind, verdicts] of Object.entries(expected[language])) {
        it(`gives ${language} ${kind} the verdicts ${[...new Set(verdicts)].join(', ')}`, async () => {
          const r = await executor.execute(solution(language, kind));
          expect(r.tests!.map((t) => t.verdict)).toEqual(verdicts);
          expect(r.verdict).toBe(verdicts.find((v) => v !== 'accepted') ?? 'accepted');
          expect(r.passed).toBe(verdicts.filter((v) => v === 'accepted').length);
          expect(r.total).toBe(4);
          expect(r.tests!.map((t) => t.name)).toEqual(['1', '2', '3', '4']);
          if (kind === 'accepted') {
            expect(r).toHaveStatus('ok');
            expect(r.tests!.map((t) => t.stdout)).toEqual(tests.map((t) => t.expectedOutput));
            for (const t of r.tests!) expect(t.peakMemoryBytes).toBeGreaterThan(0);
          }
          if (kind === 'wa') expect(r.message).toMatch(/wrong answer: line 1: expected/);
        });
      }
    }
  });

  it('compiles once and runs the compiled program for every test', async () => {
    const prepare = vi.spyOn(executor, 'prepare');
    const runPrepared = vi.spyOn(executor, 'runPrepared');
    try {
      const r = await executor.execute(solution('cpp', 'accepted'));
      expect(r.verdict).toBe('accepted');
      expect(prepare).toHaveBeenCalledTimes(1);
      expect(runPrepared).toHaveBeenCalledTimes(4);
      const prepared = await prepare.mock.results[0]!.value;
      // Every run got the same compiled artefact.
      for (const call of runPrepared.mock.calls) expect(call[0]).toBe(prepared);
      expect(r.compile).toHaveStatus('ok');
    } finally {
      prepare.mockRestore();
      runPrepared.mockRestore();
    }
  });

  it('gives every test compile_error and runs nothing when compiling fails', async () => {
    const runPrepared = vi.spyOn(executor, 'runPrepared');
    try {
      const r = await executor.execute({
        runtime: 'cpp',
        files: [{ path: 'main.cpp', content: 'int main() { return missing; }\n' }],
        tests,
      });
      expect(r).toHaveStatus('compile_error');
      expect(r.verdict).toBe('compile_error');
      expect(r.tests!.map((t) => t.verdict)).toEqual(all('compile_error'));
      expect(r.passed).toBe(0);
      expect(r.compile?.stderr).toContain('missing');
      expect(runPrepared).not.toHaveBeenCalled();
    } finally {
      runPrepared.mockRestore();
    }
  });

  it('carries no state from one test to the next', async () => {
    const program = [
      'import os',
      "seen = [p for p in ('marker', '/tmp/marker') if os.path.exists(p)]",
      "print('seen ' + ' '.join(seen) if seen else 'fresh')",
      "for p in ('marker', '/tmp/marker'):",
      "    open(p, 'w').write('left behind')",
    ].join('\n');
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'main.py', content: program }],
      tests: [1, 2, 3].map(() => ({ stdin: '', expectedOutput: 'fresh\n' })),
      concurrency: 1,
    });
    expect(r.tests!.map((t) => t.stdout)).toEqual(['fresh\n', 'fresh\n', 'fresh\n']);
    expect(r.verdict).toBe('accepted');
  });

  describe('comparison modes', () => {
    // Prints "1.0000001  2 " and two newlines: trailing blanks, a double space, a near-integer.
    const program = "import sys\nsys.stdout.write('1.0000001  2 \\n\\n')\n";
    const judged = async (expectedOutput: string, compare?: ExecutionRequestInput['compare']) =>
      (
        await executor.execute({
          runtime: 'python',
          files: [{ path: 'main.py', content: program }],
          tests: [{ stdin: '', expectedOutput }],
          ...(compare ? { compare } : {}),
        })
      ).verdict;

    it('exact: byte for byte', async () => {
      expect(await judged('1.0000001  2 \n\n', { mode: 'exact' })).toBe('accepted');
      expect(await judged('1.0000001  2\n', { mode: 'exact' })).toBe('wrong_answer');
    });

    it('trim (default): trailing blanks and final newlines ignored, inner spacing kept', async () => {
      expect(await judged('1.0000001  2')).toBe('accepted');
      expect(await judged('1.0000001 2')).toBe('wrong_answer');
    });

    it('tokens: any whitespace between tokens', async () => {
      expect(await judged('1.0000001\n2', { mode: 'tokens' })).toBe('accepted');
      expect(await judged('1 2', { mode: 'tokens' })).toBe('wrong_answer');
    });

    it('float: numbers within the tolerance', async () => {
      expect(await judged('1 2', { mode: 'float' })).toBe('accepted');
      expect(await judged('1 2', { mode: 'float', absTolerance: 1e-9 })).toBe('wrong_answer');
      expect(await judged('1 2.000001', { mode: 'float', relTolerance: 1e-6 })).toBe('accepted');
    });
  });

  it('gives each test its own arguments and time limit', async () => {
    const program =
      'import sys, time\nif sys.argv[1:] == ["sleep"]:\n    time.sleep(30)\nprint(" ".join(sys.argv[1:]))\n';
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'main.py', content: program }],
      argv: ['default'],
      tests: [
        { name: 'default-args', stdin: '', expectedOutput: 'default' },
        { name: 'own-args', stdin: '', args: ['a', 'b'], expectedOutput: 'a b' },
        { name: 'own-limit', stdin: '', args: ['sleep'], timeoutMs: 1000 },
      ],
    });
    expect(r.tests!.map((t) => [t.name, t.verdict])).toEqual([
      ['default-args', 'accepted'],
      ['own-args', 'accepted'],
      ['own-limit', 'time_limit'],
    ]);
    expect(r.verdict).toBe('time_limit');
  });

  it('keeps the first 64 KiB of a test’s output and says it cut the rest', async () => {
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'main.py', content: "print('x' * 100000)\n" }],
      tests: [{ stdin: '', expectedOutput: 'x'.repeat(100_000) }],
    });
    expect(r.verdict).toBe('accepted');
    expect(r.tests![0]!.stdout).toHaveLength(64 * 1024);
    expect(r.tests![0]!.stdoutTruncated).toBe(true);
  });

  it('judge() works as a library call on any executor', async () => {
    const r = await judge(executor, { ...solution('python', 'accepted'), concurrency: 4 });
    expect(r.verdict).toBe('accepted');
  });
});

describe('boxrun test (CLI)', () => {
  const run = promisify(execFile);
  const cli = fileURLToPath(new URL('../../bin/boxrun.js', import.meta.url));
  const boxrun = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, 'test', ...args], { timeout: 120_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('prints a table and a summary, exit 0 when every test is accepted', async () => {
    const r = await boxrun([aplusb('cpp/accepted.cpp'), '--tests', aplusb('tests')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^test\s+verdict\s+time\s+memory/);
    expect(r.stdout).toMatch(/^4\s+accepted\s+\d+ ms\s+[\d.]+ MiB$/m);
    expect(r.stdout).toMatch(/^accepted: 4\/4 passed/m);
  });

  it('exits 1 when a test is not accepted and prints the full result with --json', async () => {
    const r = await boxrun([aplusb('python/wa.py'), '--tests', aplusb('tests'), '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(result.verdict).toBe('wrong_answer');
    expect(result.tests).toHaveLength(4);
  });

  it('exits 2 on a usage error', async () => {
    const r = await boxrun([aplusb('cpp/accepted.cpp')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--tests');
  });
});
