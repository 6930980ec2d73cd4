import { isBoxrunError } from '../core/errors.js';
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

/** A mistake in how boxrun was called (a missing file, conflicting options): exit 2. */
export class UsageError extends Error {}

/** Our own faults end the CLI with a code that says which kind. */
export function exitCodeForError(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if (!isBoxrunError(error)) return EXIT_INTERNAL;
  switch (error.code) {
    case 'INVALID_REQUEST':
    case 'UNKNOWN_RUNTIME':
    case 'CONFIG_INVALID':
    case 'FORBIDDEN':
    case 'PAYLOAD_TOO_LARGE':
      return EXIT_USAGE;
    case 'ENGINE_UNAVAILABLE':
    case 'IMAGE_NOT_FOUND':
    case 'ISOLATION_UNAVAILABLE':
      return EXIT_UNAVAILABLE;
    default:
      return EXIT_INTERNAL;
  }
}

/** The sentence for stderr: our message for known faults, the stack for a bug. */
export function errorLine(error: unknown): string {
  if (error instanceof UsageError || isBoxrunError(error)) return `boxrun: ${error.message}`;
  return `boxrun: internal error: ${(error as Error)?.stack ?? String(error)}`;
}
