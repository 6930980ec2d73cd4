import { describe, expect, it } from 'vitest';
import type { Executor, PreparedProgram, RunVariant } from '../core/executor.js';
import type { ExecutionResult } from '../core/result.js';
import { judge, runBounded, truncateOutput, verdictOf } from './judge.js';

function runResult(overrides: Partial<ExecutionResult> = {}): ExecutionResult {
  return {
    id: 'x',
    status: 'ok',
    exitCode: 0,
    signal: null,
    stdout: '',
    stderr: '',
    stdoutEncoding: 'utf8',
    stderrEncoding: 'utf8',
    timedOut: false,
    oomKilled: false,
    outputTruncated: false,
    durationMs: 1,
    cpuTimeMs: 1,
    peakMemoryBytes: 1024,
    runtime: 'python',
    image: 'boxrun/python:3.11',
    files: [],
    refusedFiles: [],
    isolationLevel: 'container',
    ...overrides,
  };
}

/**
 * The judge's own logic (ordering, concurrency, verdicts) against an Executor that answers from a
 * function; the real engine is exercised in test/integration/judge.test.ts.
 */
function scriptedExecutor(answer: (variant: RunVariant) => Promise<Partial<ExecutionResult>>) {
  const stats = { prepared: 0, running: 0, maxRunning: 0 };
  const executor: Pick<Executor, 'prepare' | 'runPrepared' | 'isolationLevel'> = {
    isolationLevel: () => 'container',
    async prepare() {
      stats.prepared++;
      return {
        id: 'p',
        plan: { runtime: null, image: 'img' },
        files: [],
        failed: null,
      } as unknown as PreparedProgram;
    },
    async runPrepared(_p, variant = {}) {
      stats.running++;
      stats.maxRunning = Math.max(stats.maxRunning, stats.running);
      try {
        return runResult(await answer(variant));
      } finally {
        stats.running--;
      }
    },
  };
  return { executor, stats };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const echo = async (v: RunVariant) => {
  await sleep(Number(v.stdin) * 5);
  return { stdout: `${v.stdin}\n` };
};

describe('judge', () => {
  it('prepares once and runs at most `concurrency` test cases at once', async () => {
    const { executor, stats } = scriptedExecutor(echo);
    const tests = ['3', '1', '2', '4', '1', '2'].map((s) => ({ stdin: s, expectedOutput: s }));
    const r = await judge(executor, {
      runtime: 'python',
      files: [{ path: 'a.py', content: '' }],
      tests,
      concurrency: 2,
    });
    expect(stats.prepared).toBe(1);
    expect(stats.maxRunning).toBe(2);
    expect(r.verdict).toBe('accepted');
    expect(r.passed).toBe(6);
    expect(r.tests!.map((t) => t.name)).toEqual(['1', '2', '3', '4', '5', '6']);
  });

  it('takes the overall verdict from the first non-accepted test in test order, not in finish order', async () => {
    const { executor } = scriptedExecutor(async (v) => {
      if (v.stdin !== 'slow-wrong') return { status: 'time_limit', timedOut: true };
      await sleep(30);
      return { stdout: 'no' };
    });
    const r = await judge(executor, {
      runtime: 'python',
      files: [{ path: 'a.py', content: '' }],
      tests: [
        { name: 'first', stdin: 'slow-wrong', expectedOutput: 'yes' },
        { name: 'second', stdin: 'fast-tle', expectedOutput: 'yes' },
      ],
    });
    expect(r.verdict).toBe('wrong_answer');
    expect(r.message).toBe('test first: wrong answer: line 1: expected "yes", got "no"');
    expect(r.tests!.map((t) => t.verdict)).toEqual(['wrong_answer', 'time_limit']);
    expect(r.passed).toBe(0);
  });

  it('passes stdin, args and the per-test time limit to each run', async () => {
    const seen: RunVariant[] = [];
    const { executor } = scriptedExecutor(async (v) => {
      seen.push(v);
      return {};
    });
    await judge(executor, {
      runtime: 'python',
      files: [{ path: 'a.py', content: '' }],
      tests: [{ stdin: 'in', args: ['-x'], timeoutMs: 500 }],
    });
    expect(seen).toEqual([{ stdin: 'in', argv: ['-x'], timeoutMs: 500 }]);
  });

  it('refuses a per-test time limit above the maximum, and tests with a test framework', async () => {
    const { executor } = scriptedExecutor(echo);
    const base = { runtime: 'python', files: [{ path: 'a.py', content: '' }] };
    await expect(
      judge(executor, { ...base, tests: [{ stdin: '', timeoutMs: 9000 }] }, { maxTimeoutMs: 5000 }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining('tests.0.timeoutMs'),
    });
    await expect(
      judge(executor, { ...base, tests: [{ stdin: '' }], testFramework: 'tap' }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('reports the worst time and memory of all tests', async () => {
    const { executor } = scriptedExecutor(async (v) => ({
      durationMs: Number(v.stdin),
      peakMemoryBytes: 1000 - Number(v.stdin),
    }));
    const r = await judge(executor, {
      runtime: 'python',
      files: [{ path: 'a.py', content: '' }],
      tests: [{ stdin: '10' }, { stdin: '300' }, { stdin: '20' }],
    });
    expect(r.durationMs).toBe(300);
    expect(r.peakMemoryBytes).toBe(990);
  });
});

describe('verdictOf', () => {
  it('maps execution statuses to verdicts and compares the output of a clean run', () => {
    expect(verdictOf(runResult({ stdout: '3\n' }), { expectedOutput: '3' }, undefined).verdict).toBe(
      'accepted',
    );
    expect(verdictOf(runResult({ stdout: '4\n' }), { expectedOutput: '3' }, undefined).verdict).toBe(
      'wrong_answer',
    );
    expect(verdictOf(runResult({ stdout: 'anything' }), {}, undefined).verdict).toBe('accepted');
    expect(verdictOf(runResult({ status: 'memory_limit' }), {}, undefined).verdict).toBe('memory_limit');
    expect(verdictOf(runResult({ status: 'runtime_error', exitCode: 3 }), {}, undefined)).toEqual({
      verdict: 'runtime_error',
      message: 'exit code 3',
    });
  });

  it('counts a JVM out of heap as a memory limit', () => {
    const run = runResult({
      status: 'runtime_error',
      exitCode: 1,
      stderr: 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space\n',
    });
    expect(verdictOf(run, {}, undefined).verdict).toBe('memory_limit');
  });

  it('compares binary (base64) output as its bytes', () => {
    const run = runResult({ stdout: Buffer.from('ok\n').toString('base64'), stdoutEncoding: 'base64' });
    expect(verdictOf(run, { expectedOutput: 'ok' }, undefined).verdict).toBe('accepted');
  });
});

describe('truncateOutput', () => {
  it('cuts on a UTF-8 character boundary and says so', () => {
    expect(truncateOutput('aé', 'utf8', 2)).toEqual({ text: 'a', truncated: true });
    expect(truncateOutput('abc', 'utf8', 3)).toEqual({ text: 'abc', truncated: false });
    expect(truncateOutput(Buffer.from([1, 2, 3]).toString('base64'), 'base64', 2)).toEqual({
      text: Buffer.from([1, 2]).toString('base64'),
      truncated: true,
    });
  });
});

describe('runBounded', () => {
  it('keeps item order and rethrows the first failure after the running ones settle', async () => {
    await expect(
      runBounded([3, 1, 2], 2, async (n) => {
        await sleep(n);
        return n * 2;
      }),
    ).resolves.toEqual([6, 2, 4]);
    await expect(
      runBounded([1, 2, 3], 1, async (n) => {
        if (n === 2) throw new Error('two');
        return n;
      }),
    ).rejects.toThrow('two');
  });
});
