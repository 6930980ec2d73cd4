import { Command } from 'commander';
import type { IsolationTier } from '../../core/isolation.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import {
  backendType,
  isolationTier,
  positiveInt,
  positiveNumber,
  readInput,
  requestFiles,
  runtimeFor,
} from '../args.js';
import { exitCodeFor, verdictLine } from '../exit-codes.js';
import { say, withExecutor } from '../with-executor.js';

/** `boxrun run`: one program, once, on the configured executor (or `--executor`). */
export function runCommand(): Command {
  return new Command('run')
    .description('run a source file in a sandbox')
    .argument('<file>', 'source file; its extension picks the runtime unless --lang is given')
    .argument('[args...]', 'arguments for the program (after --)')
    .option('-l, --lang <runtime>', `runtime: ${defaultRegistry.names().join(', ')}`)
    .option('-f, --file <path...>', 'extra files to put beside the source')
    .option('--stdin <file>', 'file to feed to the program on stdin ("-" for this stdin)')
    .option('--timeout-ms <n>', 'wall-clock limit', positiveInt)
    .option('--cpu-ms <n>', 'CPU-time limit', positiveInt)
    .option('--memory-mb <n>', 'memory limit (MiB)', positiveInt)
    .option('--cpus <n>', 'CPU cores', positiveNumber)
    .option('-o, --output <path...>', 'files to copy out of the sandbox (relative paths, globs)')
    .option('--executor <type>', 'run on this backend instead of [executor] type', backendType)
    .option('--json', 'print exactly one JSON ExecutionResult on stdout')
    .option(
      '--isolation <tier>',
      'container, or vm (gVisor; see boxrun setup --isolation gvisor)',
      isolationTier,
    )
    .action((file: string, args: string[], opts) =>
      withExecutor(opts.executor ? { type: opts.executor } : {}, async ({ executor }) => {
        const stdin = opts.stdin
          ? readInput(opts.stdin === '-' ? '/dev/stdin' : opts.stdin, 'stdin file')
          : undefined;
        const request: ExecutionRequestInput = {
          runtime: runtimeFor(file, opts.lang),
          files: requestFiles(file, opts.file),
          argv: args,
          ...(stdin ? { stdin: stdin.toString('base64'), stdinEncoding: 'base64' as const } : {}),
          outputPaths: opts.output ?? [],
          limits: {
            ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
            ...(opts.cpuMs ? { cpuTimeMs: opts.cpuMs } : {}),
            ...(opts.memoryMb ? { memoryMb: opts.memoryMb } : {}),
            ...(opts.cpus ? { cpus: opts.cpus } : {}),
          },
          ...(opts.isolation ? { isolation: opts.isolation as IsolationTier } : {}),
        };
        const result = await executor.execute(request, {
          ...(opts.json
            ? {}
            : {
                onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) =>
                  (stream === 'stdout' ? process.stdout : process.stderr).write(chunk),
              }),
        });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(result)}\n`);
          process.exitCode = 0;
          return;
        }
        if (result.compile && result.status === 'compile_error') {
          process.stderr.write(result.compile.stdout);
          process.stderr.write(result.compile.stderr);
        }
        say(verdictLine(result));
        process.exitCode = exitCodeFor(result);
      }),
    );
}
