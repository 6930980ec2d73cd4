import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { InvalidArgumentError } from 'commander';
import type { BackendType } from '../backends/selection/select-executor.js';
import { ISOLATION_TIERS, type IsolationTier } from '../core/isolation.js';
import type { ExecutionRequestInput } from '../core/request.js';
import { defaultRegistry } from '../runtimes/registry.js';
import { UsageError } from './exit-codes.js';

/** The argument parsers every command shares (commander calls them; they throw its error type). */
export function isolationTier(value: string): IsolationTier {
  if (!(ISOLATION_TIERS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${ISOLATION_TIERS.join(', ')}`);
  return value as IsolationTier;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number >= 0');
  return n;
}

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('must be a port number');
  return n;
}

export const BACKEND_TYPES: readonly BackendType[] = ['docker', 'podman', 'namespace', 'host'];

export function backendType(value: string): BackendType {
  const type = BACKEND_TYPES.find((t) => t === value);
  if (!type) throw new InvalidArgumentError(`must be one of ${BACKEND_TYPES.join(', ')}`);
  return type;
}

/** A file the user named; a missing one is a usage error, not a crash. */
export function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** The runtime a source file asks for: --lang, or its extension. */
export function runtimeFor(file: string, lang: string | undefined): string {
  const runtime = lang ?? defaultRegistry.forFile(file)?.name;
  if (!runtime) {
    throw new UsageError(
      `cannot tell the runtime of ${file} from its extension; pass --lang (${defaultRegistry.names().join(', ')})`,
    );
  }
  return runtime;
}

/** The source file first, then the extra files, each beside the others under its base name. */
export function requestFiles(
  source: string,
  extra: string[] = [],
): NonNullable<ExecutionRequestInput['files']> {
  return [source, ...extra].map((path, i) => ({
    path: basename(path),
    content: readInput(path, i === 0 ? 'source file' : 'file').toString('base64'),
    encoding: 'base64' as const,
  }));
}
