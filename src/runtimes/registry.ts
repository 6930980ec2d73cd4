import { extname } from 'node:path';
import { BoxrunError } from '../core/errors.js';
import { RUNTIMES, type RuntimeDefinition } from './definitions.js';

/** Looks runtimes up by name, alias or file extension. */
export class RuntimeRegistry {
  private readonly byName = new Map<string, RuntimeDefinition>();

  constructor(readonly all: readonly RuntimeDefinition[] = RUNTIMES) {
    for (const r of all) {
      for (const key of [r.name, ...r.aliases]) this.byName.set(key.toLowerCase(), r);
    }
  }

  names(): string[] {
    return this.all.map((r) => r.name);
  }

  find(nameOrAlias: string): RuntimeDefinition | undefined {
    return this.byName.get(nameOrAlias.toLowerCase());
  }

  get(nameOrAlias: string): RuntimeDefinition {
    const runtime = this.find(nameOrAlias);
    if (!runtime) {
      throw new BoxrunError(
        'UNKNOWN_RUNTIME',
        `unknown runtime '${nameOrAlias}'; available: ${this.names().join(', ')}`,
        { details: { runtimes: this.names() } },
      );
    }
    return runtime;
  }

  forFile(path: string): RuntimeDefinition | undefined {
    const ext = extname(path).toLowerCase();
    return ext ? this.all.find((r) => r.extensions.includes(ext)) : undefined;
  }
}

export const defaultRegistry = new RuntimeRegistry();
