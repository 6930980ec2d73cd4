import type { CompareOptions } from '../core/judge-request.js';

export interface Comparison {
  equal: boolean;
  /** Where the first difference is, for a wrong answer. */
  message?: string;
}

/** Used by float mode when the request gives neither tolerance. */
export const DEFAULT_FLOAT_TOLERANCE = 1e-6;

const MAX_SHOWN = 40;

function show(text: string): string {
  const one = JSON.stringify(text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text);
  return one;
}

export function compareExact(got: string, expected: string): Comparison {
  if (got === expected) return { equal: true };
  const at = firstDifference(got, expected);
  return {
    equal: false,
    message: `byte ${at}: expected ${show(expected.slice(at))}, got ${show(got.slice(at))}`,
  };
}

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Lines without trailing whitespace (a `\r` included), and without the empty lines at the end. */
export function trimmedLines(text: string): string[] {
  const lines = text.split('\n').map((line) => line.replace(/\s+$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function compareTrim(got: string, expected: string): Comparison {
  const g = trimmedLines(got);
  const e = trimmedLines(expected);
  for (let i = 0; i < Math.max(g.length, e.length); i++) {
    if (g[i] !== e[i]) {
      if (g[i] === undefined) return { equal: false, message: `expected ${e.length} lines, got ${g.length}` };
      if (e[i] === undefined)
        return {
          equal: false,
          message: `expected ${e.length} lines, got ${g.length} (extra: ${show(g[i]!)})`,
        };
      return { equal: false, message: `line ${i + 1}: expected ${show(e[i]!)}, got ${show(g[i]!)}` };
    }
  }
  return { equal: true };
}

export function tokensOf(text: string): string[] {
  return text.split(/\s+/).filter((t) => t !== '');
}

function compareTokenLists(
  g: string[],
  e: string[],
  same: (got: string, expected: string) => boolean,
): Comparison {
  for (let i = 0; i < Math.min(g.length, e.length); i++) {
    if (!same(g[i]!, e[i]!))
      return { equal: false, message: `token ${i + 1}: expected ${show(e[i]!)}, got ${show(g[i]!)}` };
  }
  if (g.length !== e.length) return { equal: false, message: `expected ${e.length} tokens, got ${g.length}` };
  return { equal: true };
}

export function compareTokens(got: string, expected: string): Comparison {
  return compareTokenLists(tokensOf(got), tokensOf(expected), (a, b) => a === b);
}

/** A decimal number as judges print them; `nan`, `inf` and hex are compared as text. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function numbersClose(
  got: number,
  expected: number,
  absTolerance: number,
  relTolerance: number,
): boolean {
  const diff = Math.abs(got - expected);
  // A tiny epsilon absorbs the rounding of the subtraction itself (0.3 - 0.1 - 0.2 ≠ 0).
  const slack = Number.EPSILON * Math.max(1, Math.abs(expected));
  return diff <= absTolerance + slack || diff <= relTolerance * Math.abs(expected) + slack;
}

export function compareFloat(
  got: string,
  expected: string,
  tolerance: { absTolerance?: number; relTolerance?: number } = {},
): Comparison {
  const bothMissing = tolerance.absTolerance === undefined && tolerance.relTolerance === undefined;
  const abs = bothMissing ? DEFAULT_FLOAT_TOLERANCE : (tolerance.absTolerance ?? 0);
  const rel = bothMissing ? DEFAULT_FLOAT_TOLERANCE : (tolerance.relTolerance ?? 0);
  return compareTokenLists(tokensOf(got), tokensOf(expected), (g, e) => {
    if (NUMBER.test(g) && NUMBER.test(e)) return numbersClose(Number(g), Number(e), abs, rel);
    return g === e;
  });
}

/** The program's output against the expected one, in the request's comparison mode (trim by default). */
export function compareOutput(
  got: string,
  expected: string,
  options: Partial<CompareOptions> = {},
): Comparison {
  switch (options.mode ?? 'trim') {
    case 'exact':
      return compareExact(got, expected);
    case 'trim':
      return compareTrim(got, expected);
    case 'tokens':
      return compareTokens(got, expected);
    case 'float':
      return compareFloat(got, expected, options);
  }
}
