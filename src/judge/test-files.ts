import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BoxrunError } from '../core/errors.js';
import type { CompareOptions, TestCase } from '../core/judge-request.js';

/** Expected-output extensions, in the order they are looked for beside `name.in`. */
export const EXPECTED_EXTENSIONS = ['.out', '.ans', '.expected'] as const;

export interface LoadedTests {
  tests: TestCase[];
  /** A JSON file may carry the comparison too. */
  compare?: Partial<CompareOptions>;
}

/**
 * The judge's usual layout: `name.in` with `name.out` (or `.ans`, `.expected`) beside it. Names
 * sort naturally (2 before 10); an input without an expected output only has to run cleanly.
 */
export function loadTestDirectory(dir: string): TestCase[] {
  const entries = new Set(readdirSync(dir));
  const names = [...entries]
    .filter((f) => f.endsWith('.in'))
    .map((f) => f.slice(0, -'.in'.length))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (names.length === 0) {
    throw new BoxrunError('INVALID_REQUEST', `no test cases in ${dir}: expected name.in / name.out files`);
  }
  return names.map((name) => {
    const expected = EXPECTED_EXTENSIONS.map((ext) => `${name}${ext}`).find((f) => entries.has(f));
    return {
      name,
      stdin: readFileSync(join(dir, `${name}.in`), 'utf8'),
      ...(expected ? { expectedOutput: readFileSync(join(dir, expected), 'utf8') } : {}),
    };
  });
}

/** A JSON file: either the `tests` array itself or `{ "tests": [...], "compare": {...} }`. */
export function loadTestJson(path: string): LoadedTests {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new BoxrunError('INVALID_REQUEST', `cannot read tests from ${path}: ${(error as Error).message}`);
  }
  if (Array.isArray(parsed)) return { tests: parsed as TestCase[] };
  if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { tests?: unknown }).tests)) {
    const { tests, compare } = parsed as { tests: TestCase[]; compare?: Partial<CompareOptions> };
    return { tests, ...(compare ? { compare } : {}) };
  }
  throw new BoxrunError(
    'INVALID_REQUEST',
    `${path}: expected a JSON array of tests or an object with "tests"`,
  );
}

/** A directory of `.in`/`.out` pairs or a JSON file. */
export function loadTests(path: string): LoadedTests {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (error) {
    throw new BoxrunError(
      'INVALID_REQUEST',
      `cannot read tests ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return isDir ? { tests: loadTestDirectory(path) } : loadTestJson(path);
}
