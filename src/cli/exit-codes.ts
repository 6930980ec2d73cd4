import type { ExecutionResult } from '../core/result.js';

export const EXIT_USAGE = 2;
/** sysexits' EX_UNAVAILABLE: no engine, missing image. */
export const EXIT_UNAVAILABLE = 69;
export const EXIT_INTERNAL = 70;

/** The CLI's exit code mirrors the program's, with the conventions of `timeout` and the shell. */
export function exitCodeFor(result: ExecutionResult): number {
  switch (result.status) {
    case 'ok':
      return 0;
    case 'compile_error':
    case 'build_error':
      return 1;
    case 'time_limit':
      return 124;
    case 'memory_limit':
      return 137;
    case 'output_limit':
      return 125;
    case 'internal_error':
      return EXIT_INTERNAL;
    case 'runtime_error': {
      if (result.exitCode !== null) return result.exitCode === 0 ? 1 : result.exitCode;
      const signals: Record<string, number> = {
        SIGSEGV: 11,
        SIGABRT: 6,
        SIGFPE: 8,
        SIGKILL: 9,
        SIGBUS: 7,
        SIGILL: 4,
        SIGTERM: 15,
      };
      return 128 + (signals[result.signal ?? ''] ?? 1);
    }
  }
}

export function verdictLine(result: ExecutionResult): string {
  const parts = [`[boxrun] ${result.status}`];
  if (result.exitCode !== null) parts.push(`exit=${result.exitCode}`);
  if (result.signal) parts.push(`signal=${result.signal}`);
  parts.push(
    `time=${result.durationMs}ms`,
    `cpu=${result.cpuTimeMs}ms`,
    `mem=${(result.peakMemoryBytes / 1048576).toFixed(1)}MiB`,
  );
  if (result.message) parts.push(`(${result.message})`);
  return parts.join(' ');
}
