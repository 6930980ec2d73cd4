import semver from 'semver';
import type { RuntimeDefinition } from '../../runtimes/definitions.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';

/**
 * boxrun's runtimes as Piston lists them: Piston's language names and aliases (its packages'
 * metadata.json), the package a language comes from as `runtime` (gcc provides c and c++, node
 * provides javascript), and the full version of what the image installs, because Piston clients
 * match versions as semver ranges.
 */
export interface PistonRuntime {
  language: string;
  version: string;
  aliases: string[];
  /** Piston's package name when it differs from the language (Piston's `runtime` field). */
  runtime?: string;
  /** The boxrun runtime that runs it. */
  boxrun: string;
}

/**
 * Piston's names for each boxrun runtime. Versions are what Debian bookworm's packages (and the
 * pinned TypeScript) install in the images; test/e2e/piston-compat.test.ts checks them against
 * the images.
 */
const PISTON_NAMES: Record<string, Omit<PistonRuntime, 'boxrun'>> = {
  python: { language: 'python', version: '3.11.2', aliases: ['py', 'py3', 'python3', 'python3.11'] },
  javascript: {
    language: 'javascript',
    version: '18.20.4',
    aliases: ['node-javascript', 'node-js', 'javascript', 'js'],
    runtime: 'node',
  },
  typescript: {
    language: 'typescript',
    version: '5.9.3',
    aliases: ['ts', 'node-ts', 'tsc', 'typescript5', 'ts5'],
  },
  c: { language: 'c', version: '12.2.0', aliases: ['gcc'], runtime: 'gcc' },
  cpp: { language: 'c++', version: '12.2.0', aliases: ['cpp', 'g++'], runtime: 'gcc' },
  rust: { language: 'rust', version: '1.63.0', aliases: ['rs'] },
  go: { language: 'go', version: '1.19.8', aliases: ['go', 'golang'] },
  java: { language: 'java', version: '17.0.19', aliases: [] },
  bash: { language: 'bash', version: '5.2.15', aliases: ['sh'] },
};

function pistonEntry(r: RuntimeDefinition): PistonRuntime {
  const known = PISTON_NAMES[r.name];
  if (known) return { ...known, boxrun: r.name };
  // A runtime added to boxrun without a Piston name yet: its own name, its version as semver.
  const version = semver.coerce(r.version)?.version ?? '0.0.0';
  return { language: r.name, version, aliases: r.aliases, boxrun: r.name };
}

export class PistonRuntimes {
  readonly all: readonly PistonRuntime[];

  constructor(registry: RuntimeRegistry) {
    this.all = registry.all.map(pistonEntry);
  }

  /**
   * Piston's lookup: the language or one of its aliases, the version as a semver range (`3`,
   * `3.x`, `>=3.10`, `*`). boxrun's own names and aliases are accepted too (`cpp`, `node`).
   * The newest match wins, as in Piston.
   */
  find(language: string, version: string, registry: RuntimeRegistry): PistonRuntime | undefined {
    const boxrunName = registry.find(language)?.name;
    const range = semver.validRange(version) ? version : null;
    return this.all
      .filter((r) => r.language === language || r.aliases.includes(language) || r.boxrun === boxrunName)
      .filter((r) => (range ? semver.satisfies(r.version, range) : r.version === version))
      .sort((a, b) => semver.rcompare(a.version, b.version))[0];
  }

  /** Piston's packages: one per package (gcc once for c and c++), installed when its images are. */
  packages(installed: (boxrun: string) => boolean) {
    const byPackage = new Map<string, { language: string; language_version: string; installed: boolean }>();
    for (const r of this.all) {
      const name = r.runtime ?? r.language;
      const key = `${name}-${r.version}`;
      const prev = byPackage.get(key);
      const ok = installed(r.boxrun);
      byPackage.set(key, {
        language: name,
        language_version: r.version,
        installed: prev ? prev.installed && ok : ok,
      });
    }
    return [...byPackage.values()];
  }
}
