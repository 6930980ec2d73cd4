import { Command, Option } from 'commander';
import { COMPARE_MODES, type CompareOptions, TEST_FRAMEWORKS } from '../../core/judge-request.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import type { ExecutionResult } from '../../core/result.js';
import type { TestCaseResult } from '../../core/test-case-result.js';
import { judge } from '../../judge/judge.js';
import { loadTests } from '../../judge/test-files.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import { backendType, nonNegativeNumber, positiveInt, requestFiles, runtimeFor } from '../args.js';
import { UsageError } from '../exit-codes.js';
import { say, withExecutor } from '../with-executor.js';

/** `boxrun test`: 0 when every test is accepted, 1 when one is not, 2 for a usage error. */
export const EXIT_ALL_ACCEPTED = 0;
export const EXIT_NOT_ACCEPTED = 1;

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

/** `boxrun test`: judge a program on the configured executor (or `--executor`). */
export function testCommand(): Command {
  return new Command('test')
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
    .option('--abs-tolerance <x>', 'float mode: absolute tolerance', nonNegativeNumber)
    .option('--rel-tolerance <x>', 'float mode: relative tolerance', nonNegativeNumber)
    .addOption(
      new Option('--framework <name>', 'run the program as a test suite and parse its report').choices(
        TEST_FRAMEWORKS,
      ),
    )
    .option('--timeout-ms <n>', 'wall-clock limit per test', positiveInt)
    .option('--memory-mb <n>', 'memory limit (MiB)', positiveInt)
    .option('--concurrency <n>', 'test cases running at once (default 2)', positiveInt)
    .option('--executor <type>', 'run on this backend instead of [executor] type', backendType)
    .option('--json', 'print the full JSON result on stdout')
    .action((file: string, command: string[], opts) =>
      withExecutor(opts.executor ? { type: opts.executor } : {}, async ({ executor, config }) => {
        if (!opts.tests && !opts.framework)
          throw new UsageError('give --tests <dir-or-json> or --framework <name>');
        if (opts.tests && opts.framework) throw new UsageError('--tests and --framework cannot be combined');
        if (command.length > 0 && !opts.framework)
          throw new UsageError('a command is only taken with --framework');
        const loaded = opts.tests ? loadTests(opts.tests) : null;
        const compare: Partial<CompareOptions> = {
          ...loaded?.compare,
          ...(opts.compare ? { mode: opts.compare } : {}),
          ...(opts.absTolerance !== undefined ? { absTolerance: opts.absTolerance } : {}),
          ...(opts.relTolerance !== undefined ? { relTolerance: opts.relTolerance } : {}),
        };
        const request: ExecutionRequestInput = {
          runtime: runtimeFor(file, opts.lang),
          files: requestFiles(file, opts.file),
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
      }),
    );
}
