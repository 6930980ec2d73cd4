import { z } from 'zod';

/**
 * The judging fields of an execution request. Self-contained (zod only) because
 * src/core/request.ts spreads them into `executionRequestObject`.
 */

export const MAX_TESTS = 1000;
/** stdin + expected output of every test case together. */
export const MAX_TEST_DATA_BYTES = 64 * 1024 * 1024;
const MAX_TEST_TEXT_CHARS = 16 * 1024 * 1024;

export const COMPARE_MODES = ['exact', 'trim', 'tokens', 'float'] as const;
export type CompareMode = (typeof COMPARE_MODES)[number];

export const TEST_FRAMEWORKS = ['doctest', 'junit', 'tap'] as const;
export type TestFramework = (typeof TEST_FRAMEWORKS)[number];

export const testCaseSchema = z
  .object({
    name: z.string().min(1).max(256).optional(),
    stdin: z.string().max(MAX_TEST_TEXT_CHARS).default(''),
    /** Without it the test only has to run cleanly. */
    expectedOutput: z.string().max(MAX_TEST_TEXT_CHARS).optional(),
    /** Replaces the request's argv for this test. */
    args: z
      .array(z.string().max(128 * 1024))
      .max(1024)
      .optional(),
    /** Replaces the request's wall-clock limit for this test. */
    timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
  })
  .strict();

export const compareSchema = z
  .object({
    mode: z.enum(COMPARE_MODES).default('trim'),
    /** float mode: |got - expected| <= absTolerance passes. */
    absTolerance: z.number().min(0).optional(),
    /** float mode: |got - expected| <= relTolerance * |expected| passes. */
    relTolerance: z.number().min(0).optional(),
  })
  .strict();

/** Spread into `executionRequestObject`: every field optional, so a plain request is unchanged. */
export const judgeRequestFields = {
  /** Compile once, run each test case in a fresh sandbox. */
  tests: z.array(testCaseSchema).min(1).max(MAX_TESTS).optional(),
  compare: compareSchema.optional(),
  /** Run the program as a test suite and parse its report. */
  testFramework: z.enum(TEST_FRAMEWORKS).optional(),
  /** Test cases running at once (default: the judge's configured concurrency). */
  concurrency: z.number().int().min(1).max(64).optional(),
};

export type TestCase = z.output<typeof testCaseSchema>;
export type CompareOptions = z.output<typeof compareSchema>;
