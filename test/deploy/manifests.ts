import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

/** Reading and checking the files of deploy/ (test/deploy/*.test.ts). Pure: no engine, no network. */

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const deployPath = (...parts: string[]): string => join(repoRoot, 'deploy', ...parts);

/**
 * The cluster contract the lead fixed for issue 15; the other half (roles, queue, drain) is built
 * against the same lines, so a manifest that drifts from it fails here.
 */
export const clusterContract = {
  roles: ['all', 'api', 'worker'] as const,
  env: { role: 'BOXRUN_CLUSTER_ROLE', redis: 'BOXRUN_CLUSTER_REDIS', storeUrl: 'BOXRUN_STORE_URL' },
  probes: { liveness: '/healthz', readiness: '/readyz', metrics: '/metrics' },
  serveArgs: (role: 'api' | 'worker' | 'all'): string[] => ['serve', '--role', role],
};

export type Yaml = Record<string, unknown>;

export function isObject(v: unknown): v is Yaml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every document of a YAML file (Kubernetes files hold several, split by ---). */
export function readYamlDocuments(path: string): Yaml[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors[0]?.message}`);
    return doc.toJS({ maxAliasCount: 100 }) as Yaml;
  });
}

/** A compose file as Compose reads it: `<<` merge keys resolved (the file shares blocks by anchor). */
export function readComposeFile(path: string): Yaml {
  return parse(readFileSync(path, 'utf8'), { merge: true, maxAliasCount: 100 }) as Yaml;
}

/**
 * Compose's variable interpolation, applied to every string value as `docker compose` does before
 * it validates: `$$` is a literal `$`; `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
 * `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, defaults may nest.
 */
export function interpolate(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') return interpolateString(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (isObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  return value;
}

function interpolateString(text: string, env: Record<string, string | undefined>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      // Find the matching brace (defaults may hold ${…} themselves).
      let depth = 1;
      let j = i + 2;
      for (; j < text.length && depth > 0; j++) {
        if (text[j] === '{') depth++;
        else if (text[j] === '}') depth--;
      }
      if (depth !== 0) throw new Error(`unclosed \${ in ${JSON.stringify(text)}`);
      out += expand(text.slice(i + 2, j - 1), env);
      i = j;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))?.[0];
    if (!name) throw new Error(`a lone $ in ${JSON.stringify(text)} (write $$ for a literal one)`);
    out += env[name] ?? '';
    i += 1 + name.length;
  }
  return out;
}

function expand(body: string, env: Record<string, string | undefined>): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/.exec(body);
  if (!match) throw new Error(`invalid interpolation \${${body}}`);
  const [, name = '', operator, operand = ''] = match;
  const value = env[name];
  const unsetOrEmpty = value === undefined || value === '';
  const missing = operator?.startsWith(':') ? unsetOrEmpty : value === undefined;
  switch (operator) {
    case undefined:
      return value ?? '';
    case ':-':
    case '-':
      return missing ? interpolateString(operand, env) : (value ?? '');
    case ':?':
    case '?':
      if (missing) throw new Error(`required variable ${name} is missing a value: ${operand}`);
      return value ?? '';
    default:
      // :+ and +: the alternative when set.
      return missing ? '' : interpolateString(operand, env);
  }
}

/** `10s`, `1m30s`, `500ms` → milliseconds (Compose's duration format). */
export function parseDurationMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g, (_, n: string, unit: string) => {
    total += Number(n) * (units[unit] ?? Number.NaN);
    return '';
  });
  if (rest !== '' || text === '') throw new Error(`not a duration: ${text}`);
  return total;
}

/**
 * Unknown fields. kubernetes-models' validate() checks types, enums and required fields but lets
 * any unknown key through (its schemas have no additionalProperties: false), so a misspelled
 * `readinesProbe` would pass. This walks an object beside the model's own type declarations
 * (the package's .d.ts files, generated from the Kubernetes OpenAPI) and names every key that the
 * API type does not have.
 */
export function unknownFields(obj: unknown, declarationFile: string, at = ''): string[] {
  if (!isObject(obj)) return [];
  const type = readInterface(declarationFile);
  const problems: string[] = [];
  for (const [key, value] of Object.entries(obj)) {
    if (at === '' && (key === 'apiVersion' || key === 'kind')) continue;
    const property = type.properties.get(key);
    if (property === undefined) {
      problems.push(`${at}.${key}`.replace(/^\./, ''));
      continue;
    }
    const element = /^Array<(\w+)>$/.exec(property)?.[1];
    const target = type.imports.get(element ?? property);
    if (!target) continue;
    if (element && Array.isArray(value)) {
      value.forEach((item, i) => {
        problems.push(...unknownFields(item, target, `${at}.${key}[${i}]`));
      });
    } else if (!element) {
      problems.push(...unknownFields(value, target, `${at}.${key}`));
    }
  }
  return problems;
}

interface DeclaredInterface {
  /** property name → its declared type, as written in the .d.ts */
  properties: Map<string, string>;
  /** imported type name → the .d.ts that declares it */
  imports: Map<string, string>;
}

const interfaceCache = new Map<string, DeclaredInterface>();

function readInterface(file: string): DeclaredInterface {
  const cached = interfaceCache.get(file);
  if (cached) return cached;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const [, name = '', from = ''] = m;
    if (from.startsWith('@kubernetes-models/base')) continue;
    imports.set(name, from.startsWith('.') ? join(dirname(file), `${from}.d.ts`) : packageFile(from, file));
  }
  // The first interface is the model's (later ones repeat it for the class).
  const body = /^export interface \w+[^{]*\{\n([\s\S]*?)^\}/m.exec(text)?.[1] ?? '';
  const properties = new Map<string, string>();
  // One line each; a map type (`{ [key: string]: string }`) spans lines and opens with `{`.
  for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)) properties.set(m[1] ?? '', m[2] ?? '');
  if (properties.size === 0) throw new Error(`no properties read from ${file}`);
  const declared = { properties, imports };
  interfaceCache.set(file, declared);
  return declared;
}

/** The .d.ts of a kubernetes-models class, e.g. ('apps/v1', 'Deployment'). */
export function modelDeclaration(group: string, kind: string): string {
  return packageFile(`kubernetes-models/${group}/${kind}`, fileURLToPath(import.meta.url));
}

/**
 * `@scope/pkg/a/b` (as imported from `fromFile`) → `<that package's folder>/a/b.d.ts`. Resolved by
 * hand: the packages' export maps point type-less conditions at .js files.
 */
function packageFile(specifier: string, fromFile: string): string {
  const parts = specifier.split('/');
  const nameLength = specifier.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, nameLength).join('/');
  const main = createRequire(fromFile).resolve(name);
  const marker = `${join('node_modules', name)}/`;
  const root = main.slice(0, main.lastIndexOf(marker) + marker.length);
  return join(root, `${parts.slice(nameLength).join('/')}.d.ts`);
}

/**
 * The BOXRUN_* names src/config reads: one per leaf of the config tree (BOXRUN_SERVER_PORT for
 * server.port), as its fromEnv walks it, plus the optional docker keys it adds to the walk.
 */
export function configEnvNames(config: Record<string, unknown>): Set<string> {
  const names = new Set<string>(['BOXRUN_STATE_DIR', 'BOXRUN_CONFIG']);
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [key, value] of Object.entries(node)) {
      const name = `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
      if (isObject(value)) walk(value, name);
      else names.add(name);
    }
  };
  walk(config, 'BOXRUN');
  for (const key of ['HOST', 'HOSTS', 'RUNTIME', 'SECCOMP_PROFILE', 'APPARMOR_PROFILE', 'RUN_LABEL'])
    names.add(`BOXRUN_DOCKER_${key}`);
  return names;
}
