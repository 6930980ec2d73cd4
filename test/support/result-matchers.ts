import { expect } from 'vitest';

/**
 * Matchers for executor results (ExecutionResult, StepResult, or a result as the HTTP API returns
 * it). They check `status` before anything else and, whenever anything does not match, print the
 * whole result — status, message, compile step, streams, durations — so a failure says whether the
 * output was lost or the program never ran, instead of only `expected '' to be 'hello\n'`.
 *
 *   expect(r).toHaveStatus('time_limit');
 *   expect(r).toSucceedWith('hello boxrun\n');
 *   expect(r).toMatchResult({ status: 'ok', stdout: /forked=\d+/, exitCode: 0 });
 *
 * Registered for the engine tests by vitest.config.ts (setupFiles).
 */

type Expected = string | number | boolean | null | RegExp | { asymmetricMatch(actual: unknown): boolean };

/** The fields a result is matched on: `status` first, then any other field of the result. */
export type ResultExpectation = { status: string } & Record<string, Expected | undefined>;

interface ResultMatchers<R = unknown> {
  toHaveStatus(status: string): R;
  toSucceedWith(stdout: string | RegExp): R;
  toMatchResult(expected: ResultExpectation): R;
}

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: must match vitest's own declaration to merge with it
  interface Matchers<T = any> extends ResultMatchers<T> {}
}

const STREAM_SHOWN = 2000;

function clip(text: unknown): string {
  if (typeof text !== 'string') return JSON.stringify(text);
  if (text.length <= STREAM_SHOWN) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, STREAM_SHOWN))} … (${text.length} chars)`;
}

function describeStep(step: Record<string, unknown>, indent: string): string[] {
  const lines = [
    `${indent}status: ${String(step.status)}${step.message ? ` — ${String(step.message)}` : ''}`,
    `${indent}exitCode: ${String(step.exitCode)}  signal: ${String(step.signal)}  timedOut: ${String(step.timedOut)}  oomKilled: ${String(step.oomKilled)}  outputTruncated: ${String(step.outputTruncated)}`,
    `${indent}durationMs: ${String(step.durationMs)}  cpuTimeMs: ${String(step.cpuTimeMs)}  peakMemoryBytes: ${String(step.peakMemoryBytes)}`,
    `${indent}stdout: ${clip(step.stdout)}`,
    `${indent}stderr: ${clip(step.stderr)}`,
  ];
  return lines;
}

/** The whole result, readable: what a failing assertion on it prints. */
export function describeResult(result: unknown): string {
  if (typeof result !== 'object' || result === null) return `not a result: ${JSON.stringify(result)}`;
  const r = result as Record<string, unknown>;
  const lines = [
    `id: ${String(r.id)}  runtime: ${String(r.runtime)}  image: ${String(r.image)}  isolation: ${String(r.isolationLevel)}`,
    ...describeStep(r, ''),
  ];
  if (r.compile && typeof r.compile === 'object') {
    lines.push('compile:', ...describeStep(r.compile as Record<string, unknown>, '  '));
  }
  if (r.build && typeof r.build === 'object') {
    const b = r.build as Record<string, unknown>;
    lines.push(`build: ${String(b.image)} cached=${String(b.cached)} error=${String(b.error ?? null)}`);
  }
  if (Array.isArray(r.files) && r.files.length > 0)
    lines.push(`files: ${r.files.map((f: { path?: string }) => f.path).join(', ')}`);
  if (Array.isArray(r.refusedFiles) && r.refusedFiles.length > 0)
    lines.push(`refusedFiles: ${JSON.stringify(r.refusedFiles)}`);
  if (r.verdict !== undefined) lines.push(`verdict: ${String(r.verdict)}`);
  return lines.join('\n');
}

function fieldMatches(
  actual: unknown,
  expected: Expected,
  equals: (a: unknown, b: unknown) => boolean,
): boolean {
  if (expected instanceof RegExp) return typeof actual === 'string' && expected.test(actual);
  return equals(actual, expected);
}

function show(expected: Expected): string {
  if (expected instanceof RegExp) return String(expected);
  if (typeof expected === 'object' && expected !== null) return String(expected);
  return JSON.stringify(expected);
}

expect.extend({
  toMatchResult(received: unknown, expected: ResultExpectation) {
    const r = (typeof received === 'object' && received !== null ? received : {}) as Record<string, unknown>;
    // Status first: when it is wrong, the other fields only repeat the same failure less clearly.
    const fields = ['status', ...Object.keys(expected).filter((k) => k !== 'status')];
    const wrong: string[] = [];
    for (const field of fields) {
      const want = expected[field];
      if (want === undefined) continue;
      if (!fieldMatches(r[field], want, (a, b) => this.equals(a, b))) {
        wrong.push(`${field}: expected ${show(want)}, got ${clip(r[field])}`);
        if (field === 'status') break;
      }
    }
    const pass = wrong.length === 0;
    return {
      pass,
      message: () =>
        pass
          ? `expected the result not to match ${JSON.stringify(expected)}\n${describeResult(received)}`
          : `result does not match — ${wrong.join('; ')}\n${describeResult(received)}`,
    };
  },
  toHaveStatus(received: unknown, status: string) {
    const r = (typeof received === 'object' && received !== null ? received : {}) as Record<string, unknown>;
    const pass = r.status === status;
    return {
      pass,
      message: () =>
        `expected status ${pass ? 'not ' : ''}${JSON.stringify(status)}, got ${JSON.stringify(r.status)}\n${describeResult(received)}`,
    };
  },
  toSucceedWith(received: unknown, stdout: string | RegExp) {
    const r = (typeof received === 'object' && received !== null ? received : {}) as Record<string, unknown>;
    const problems: string[] = [];
    if (r.status !== 'ok') problems.push(`status: expected "ok", got ${JSON.stringify(r.status)}`);
    else if (!fieldMatches(r.stdout, stdout, (a, b) => this.equals(a, b)))
      problems.push(`stdout: expected ${show(stdout)}, got ${clip(r.stdout)}`);
    const pass = problems.length === 0;
    return {
      pass,
      message: () =>
        `${pass ? `expected the result not to succeed with ${show(stdout)}` : problems.join('; ')}\n${describeResult(received)}`,
    };
  },
});
