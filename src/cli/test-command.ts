import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DockerExecutor } from '../backends/docker/docker-executor.js';
import { loadConfig } from '../config/config.js';
import { isBoxrunError } from '../core/errors.js';
import type { ExecutionRequestInput } from '../core/request.js';
import type { ExecutionResult } from '../core/result.js';
import { judge } from '../judge/judge.js';
import { COMPARE_MODES, type CompareOptions, TEST_FRAMEWORKS } from '../judge/judge-request.js';
import type { TestCaseResult } from '../judge/test-case-result.js';
import { loadTests } from '../judge/test-files.js';
import { defaultRegistry } from '../runtimes/registry.js';
import { EXIT_INTERNAL, EXIT_UNAVAILABLE, EXIT_USAGE } from './exit-codes.js';

/** `boxrun test`: 0 when every test is accepted, 1 when one is not, 2 for a usage error. */
export const EXIT_ALL_ACCEPTED = 0;
export const EXIT_NOT_ACCEPTED = 1;

const say = (line: string) => process.stderr.write(`${line}\n`);

class UsageError extends Error {}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function tolerance(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

function readFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** The per-test table: name, verdict, time, memory, and why a test was not accepted. */
export function formatTestTable(tests: TestCaseResult[]): string {
  const rows = tests.map((t) => [
    t.name,
    t.verdict,
    `${t.durationMs} ms`,
    mib(t.peakMemoryBytes),
    t.message ?? '',
  ]);
  const header = ['test', 'verdict', 'time', 'memory', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    ...rows.map((r) => line([r[0]!, r[1]!, r[2]!, r[3]!, r[4]!.split('\n')[0]!.slice(0, 80)])),
  ].join('\n');
}

export function summaryLine(result: ExecutionResult): string {
  const parts = [`${result.verdict ?? result.status}: ${result.passed ?? 0}/${result.total ?? 0} passed`];
  if (result.tests?.length)
    parts.push(`max time ${result.durationMs} ms`, `max memory ${mib(result.peakMemoryBytes)}`);
  else parts.push(`time ${result.durationMs} ms`);
  return parts.join(' · ');
}

function printReport(result: ExecutionResult): void {
  const r = result.testReport;
  if (!r) {
    console.log(`no test report${result.message ? `: ${result.message}` : ''}`);
    return;
  }
  const assertions = r.assertions ? `; assertions ${r.assertions.total} (${r.assertions.failed} failed)` : '';
  console.log(`tests ${r.total}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped${assertions}`);
  for (const f of r.failures) {
    const where = f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : '';
    console.log(`  FAIL ${f.name}${where}: ${f.message.split('\n').join('\n       ')}`);
  }
}

export function registerTestCommand(program: Command): void {
  program
    .command('test')
    .description('judge a program: compile once, run each test case in a fresh sandbox, compare outputs')
    .argument('<file>', 'source file; its extension picks the runtime unless --lang is given')
    .argument('[command...]', 'with --framework: the command that runs the suite (after --)')
    .option(
      '-t, --tests <path>',
      'directory of name.in/name.out (.ans, .expected) pairs, or a JSON file of tests',
    )
    .option('-l, --lang <runtime>', `runtime: ${defaultRegistry.names().join(', ')}`)
    .option('-f, --file <path...>', 'extra files to put beside the source')
    .addOption(new Option('--compare <mode>', 'output comparison (default trim)').choices(COMPARE_MODES))
    .option('--abs-tolerance <x>', 'float mode: absolute tolerance', tolerance)
    .option('--rel-tolerance <x>', 'float mode: relative tolerance', tolerance)
    .addOption(
      new Option('--framework <name>', 'run the program as a test suite and parse its report').choices(
        TEST_FRAMEWORKS,
      ),
    )
    .option('--timeout-ms <n>', 'wall-clock limit per test', positiveInt)
    .option('--memory-mb <n>', 'memory limit (MiB)', positiveInt)
    .option('--concurrency <n>', 'test cases running at once (default 2)', positiveInt)
    .option('--json', 'print the full JSON result on stdout')
    .action(async (file: string, command: string[], opts) => {
      let executor: DockerExecutor | null = null;
      try {
        if (!opts.tests && !opts.framework)
          throw new UsageError('give --tests <dir-or-json> or --framework <name>');
        if (opts.tests && opts.framework) throw new UsageError('--tests and --framework cannot be combined');
        if (command.length > 0 && !opts.framework)
          throw new UsageError('a command is only taken with --framework');
        const runtime = opts.lang ?? defaultRegistry.forFile(file)?.name;
        if (!runtime) {
          throw new UsageError(
            `cannot tell the runtime of ${file} from its extension; pass --lang (${defaultRegistry.names().join(', ')})`,
          );
        }
        const files: NonNullable<ExecutionRequestInput['files']> = [
          file,
          ...((opts.file as string[]) ?? []),
        ].map((path, i) => ({
          path: basename(path),
          content: readFile(path, i === 0 ? 'source file' : 'file').toString('base64'),
          encoding: 'base64' as const,
        }));
        const loaded = opts.tests ? loadTests(opts.tests) : null;
        const compare: Partial<CompareOptions> = {
          ...loaded?.compare,
          ...(opts.compare ? { mode: opts.compare } : {}),
          ...(opts.absTolerance !== undefined ? { absTolerance: opts.absTolerance } : {}),
          ...(opts.relTolerance !== undefined ? { relTolerance: opts.relTolerance } : {}),
        };
        const request: ExecutionRequestInput = {
          runtime,
          files,
          ...(loaded ? { tests: loaded.tests } : {}),
          ...(Object.keys(compare).length > 0 ? { compare } : {}),
          ...(opts.framework ? { testFramework: opts.framework } : {}),
          ...(command.length > 0 ? { command } : {}),
          ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
          limits: {
            ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
            ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}),
          },
        };
        const config = loadConfig();
        executor = new DockerExecutor({ config });
        const result = await judge(executor, request, { maxTimeoutMs: config.maxLimits.timeoutMs });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(result)}\n`);
        } else {
          if (result.status === 'compile_error' && result.compile) {
            process.stderr.write(result.compile.stdout);
            process.stderr.write(result.compile.stderr);
          }
          if (result.tests) console.log(formatTestTable(result.tests));
          else printReport(result);
          console.log(summaryLine(result));
          if (result.message && result.verdict !== 'accepted') say(`boxrun: ${result.message}`);
        }
        process.exitCode = result.verdict === 'accepted' ? EXIT_ALL_ACCEPTED : EXIT_NOT_ACCEPTED;
      } catch (error) {
        if (error instanceof UsageError) {
          say(`boxrun: ${error.message}`);
          process.exitCode = EXIT_USAGE;
        } else if (isBoxrunError(error)) {
          say(`boxrun: ${error.message}`);
          process.exitCode =
            error.code === 'INVALID_REQUEST' ||
            error.code === 'UNKNOWN_RUNTIME' ||
            error.code === 'CONFIG_INVALID'
              ? EXIT_USAGE
              : error.code === 'ENGINE_UNAVAILABLE' || error.code === 'IMAGE_NOT_FOUND'
                ? EXIT_UNAVAILABLE
                : EXIT_INTERNAL;
        } else {
          say(`boxrun: internal error: ${(error as Error)?.stack ?? String(error)}`);
          process.exitCode = EXIT_INTERNAL;
        }
      } finally {
        await executor?.close();
      }
    });
}
