import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConfigOverrides, loadConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { Executor, HealthReport } from '../core/executor.js';
import { type IsolationTier, VM_TIER_SETUP_COMMAND } from '../core/isolation.js';
import { KyselyExecutionStore } from '../store/kysely-execution-store.js';
import { buildApp } from './app.js';
import { hashApiKey } from './auth.js';

/**
 * Routing only: these requests are all refused before anything would run, so the executor is a
 * stand-in that fails the test if it is ever asked to execute. Execution is tested in test/e2e/.
 */
function refusingExecutor(): Executor {
  const health: HealthReport = {
    ok: true,
    engine: { reachable: true, endpoint: 'test' },
    images: [],
    problems: [],
  };
  const never = () => Promise.reject(new Error('route tests must not execute code'));
  return {
    execute: never,
    prepare: never,
    runPrepared: never,
    healthCheck: async () => health,
    warmup: async () => {},
    capabilities: never,
    isolationLevel: () => 'container',
    close: async () => {},
  } as Executor;
}

const open: { app: FastifyInstance; store: KyselyExecutionStore; dir: string }[] = [];
afterEach(async () => {
  for (const { app, store, dir } of open.splice(0)) {
    await app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function makeApp(server: ConfigOverrides['server'] = {}, busyTimeoutMs?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-app-'));
  const config = loadConfig({
    env: {},
    overrides: { stateDir: dir, server: { shutdownGraceMs: 0, ...server } },
  });
  const store = await KyselyExecutionStore.openSqlite(
    join(dir, 'boxrun.db'),
    busyTimeoutMs ? { busyTimeoutMs } : {},
  );
  const app = await buildApp({
    config,
    executor: refusingExecutor(),
    store,
    logger: pino({ level: 'silent' }),
  });
  open.push({ app, store, dir });
  return { app, store, dir };
}

const python = { runtime: 'python', files: [{ path: 'a.py', content: 'print(1)' }] };

describe('service routes (no execution)', () => {
  it('answers 400 with the JSON path of an invalid field', async () => {
    const { app } = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      payload: { runtime: 'python', files: [{ path: '../x.py', content: '' }] },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'INVALID_REQUEST', path: 'files.0.path' });
  });

  it('answers 400 listing the runtimes for an unknown runtime', async () => {
    const { app } = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      payload: { ...python, runtime: 'cobol' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('UNKNOWN_RUNTIME');
    expect(res.json().error.details.runtimes).toContain('python');
  });

  it('answers 400 for limits above the configured maxima, naming the field', async () => {
    const { app } = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      payload: { ...python, limits: { timeoutMs: 3_000_000 } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.path).toBe('limits.timeoutMs');
  });

  it('answers 400 (not 500) for malformed JSON and bad query values', async () => {
    const { app } = await makeApp();
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      headers: { 'content-type': 'application/json' },
      payload: '{"runtime":',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).not.toMatch(/at .*\.js/); // no stack trace
    const query = await app.inject({ method: 'GET', url: '/v1/executions?limit=zero' });
    expect(query.statusCode).toBe(400);
    expect(query.json().error.path).toBe('limit');
  });

  it('refuses a callback URL that resolves to a private address', async () => {
    const { app } = await makeApp();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      payload: { ...python, callbackUrl: 'http://localhost:8080/hook' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.path).toBe('callbackUrl');
  });

  it('answers 404 for unknown executions, batches and routes', async () => {
    const { app } = await makeApp();
    expect((await app.inject({ url: '/v1/executions/nope' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/v1/batches/nope' })).statusCode).toBe(404);
    const res = await app.inject({ url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it('answers 413 for a body over the limit', async () => {
    const { app } = await makeApp({ bodyLimitBytes: 2048 });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      payload: { ...python, stdin: 'x'.repeat(4096) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('with API keys: 401 without or with a wrong key, 413 over the key size, probes stay open', async () => {
    const { app } = await makeApp({
      apiKeys: [{ name: 'small', sha256: hashApiKey('k-small'), maxBodyBytes: 1024 }],
    });
    const none = await app.inject({ method: 'POST', url: '/v1/executions', payload: python });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/Bearer/);
    const wrong = await app.inject({
      method: 'GET',
      url: '/v1/executions',
      headers: { authorization: 'Bearer k-other' },
    });
    expect(wrong.statusCode).toBe(401);
    const ok = await app.inject({
      method: 'GET',
      url: '/v1/executions',
      headers: { authorization: 'Bearer k-small' },
    });
    expect(ok.statusCode).toBe(200);
    const big = await app.inject({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization: 'Bearer k-small' },
      payload: { ...python, stdin: 'x'.repeat(2000) },
    });
    expect(big.statusCode).toBe(413);
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
  });

  it('returns the first execution for a retry with the same Idempotency-Key, per caller', async () => {
    const { app } = await makeApp({
      apiKeys: [
        { name: 'alice', sha256: hashApiKey('k-alice') },
        { name: 'bob', sha256: hashApiKey('k-bob') },
      ],
    });
    const submit = (key: string, idempotencyKey: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/executions?wait=false',
        payload: python,
        headers: { authorization: `Bearer ${key}`, 'idempotency-key': idempotencyKey },
      });
    const first = await submit('k-alice', 'order-1');
    expect(first.statusCode).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retries = await Promise.all([submit('k-alice', 'order-1'), submit('k-alice', 'order-1')]);
    for (const retry of retries) {
      expect(retry.json().id).toBe(first.json().id);
      expect(retry.headers['idempotent-replayed']).toBe('true');
    }
    const other = await submit('k-bob', 'order-1');
    expect(other.json().id).not.toBe(first.json().id);
    const list = await app.inject({ url: '/v1/executions', headers: { authorization: 'Bearer k-alice' } });
    expect(list.json().items).toHaveLength(1);
    const bad = await submit('k-alice', 'has space');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.path).toBe('headers.idempotency-key');
  });

  it("answers 403 for another key's execution", async () => {
    const { app, store } = await makeApp({
      apiKeys: [
        { name: 'alice', sha256: hashApiKey('k-alice') },
        { name: 'bob', sha256: hashApiKey('k-bob') },
      ],
    });
    await store.insert([
      {
        id: 'exec-1',
        caller: 'alice',
        batchId: null,
        runtime: 'python',
        request: python,
        callbackUrl: null,
        createdAt: Date.now(),
      },
    ]);
    await store.finish('exec-1', { error: { code: 'CANCELED', message: 'canceled' } }, Date.now());
    const asBob = await app.inject({
      url: '/v1/executions/exec-1',
      headers: { authorization: 'Bearer k-bob' },
    });
    expect(asBob.statusCode).toBe(403);
    const asAlice = await app.inject({
      url: '/v1/executions/exec-1',
      headers: { authorization: 'Bearer k-alice' },
    });
    expect(asAlice.json()).toMatchObject({ id: 'exec-1', status: 'done', verdict: 'canceled' });
  });

  it('answers 503 and acknowledges nothing when the store cannot be written', async () => {
    const { app, dir } = await makeApp({}, 50);
    const other = new Database(join(dir, 'boxrun.db'));
    other.exec('BEGIN IMMEDIATE');
    try {
      const res = await app.inject({ method: 'POST', url: '/v1/executions?wait=false', payload: python });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('STORE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBeDefined();
      const depth = app.boxrun.queueDepth();
      expect(depth.queued + depth.running).toBe(0);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    const list = await app.inject({ url: '/v1/executions' });
    expect(list.json().items).toEqual([]);
  });

  it('lists runtimes, Piston runtimes, and serves the OpenAPI document', async () => {
    const { app } = await makeApp();
    const runtimes = (await app.inject({ url: '/v1/runtimes' })).json();
    expect(runtimes.find((r: { name: string }) => r.name === 'c')).toMatchObject({ compiled: true });
    const piston = (await app.inject({ url: '/api/v2/runtimes' })).json();
    expect(piston[0]).toHaveProperty('language');
    expect(piston[0]).toHaveProperty('aliases');
    const doc = (await app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/executions',
        '/api/v2/execute',
        '/judge0/submissions',
        '/judge0/submissions/batch',
        '/judge0/submissions/{token}',
        '/judge0/languages',
        '/judge0/statuses',
      ]),
    );
  });

  it('serves Judge0 under the configured prefix, or not at all', async () => {
    const moved = (await makeApp({ judge0Prefix: '/api/judge0' })).app;
    expect((await moved.inject({ url: '/api/judge0/statuses' })).json()).toHaveLength(14);
    expect((await moved.inject({ url: '/judge0/statuses' })).statusCode).toBe(404);
    const off = (await makeApp({ judge0Prefix: '' })).app;
    expect((await off.inject({ url: '/judge0/statuses' })).statusCode).toBe(404);
  });

  it('maps X-Auth-Token onto the API keys for Judge0 routes only', async () => {
    const { app } = await makeApp({ apiKeys: [{ name: 'k', sha256: hashApiKey('secret') }] });
    const ok = await app.inject({ url: '/judge0/languages', headers: { 'x-auth-token': 'secret' } });
    expect(ok.statusCode).toBe(200);
    const bad = await app.inject({ url: '/judge0/languages', headers: { 'x-auth-token': 'nope' } });
    expect({ status: bad.statusCode, body: bad.body }).toEqual({ status: 401, body: '' });
    const v1 = await app.inject({ url: '/v1/runtimes', headers: { 'x-auth-token': 'secret' } });
    expect(v1.statusCode).toBe(401);
  });

  it("answers Piston's errors as {message} with 400", async () => {
    const { app } = await makeApp();
    const missing = await app.inject({ method: 'POST', url: '/api/v2/execute', payload: { version: '*' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toEqual({ message: 'language is required as a string' });
    const unknown = await app.inject({
      method: 'POST',
      url: '/api/v2/execute',
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ language: 'cobol', version: '*', files: [] }),
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual({ message: 'cobol-* runtime is unknown' });
    const big = await app.inject({
      method: 'POST',
      url: '/api/v2/execute',
      payload: { language: 'python', version: '3', files: [{ content: '' }], run_timeout: 10_000_000 },
    });
    expect(big.json().message).toMatch(/run_timeout cannot exceed/);
  });
});

describe('isolation tiers at admission', () => {
  async function tieredApp(
    overrides: ConfigOverrides,
    assertTierAvailable?: (tier: IsolationTier) => void,
  ): Promise<{ app: FastifyInstance; store: KyselyExecutionStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'boxrun-app-'));
    const config = loadConfig({
      env: {},
      overrides: { ...overrides, stateDir: dir, server: { shutdownGraceMs: 0, ...overrides.server } },
    });
    const store = await KyselyExecutionStore.openSqlite(join(dir, 'boxrun.db'));
    const app = await buildApp({
      config,
      executor: refusingExecutor(),
      store,
      logger: pino({ level: 'silent' }),
      start: false,
      ...(assertTierAvailable ? { assertTierAvailable } : {}),
    });
    open.push({ app, store, dir });
    return { app, store };
  }

  it('refuses with 403 when a key pinned to vm asks for container', async () => {
    const { app, store } = await tieredApp({
      server: { apiKeys: [{ name: 'judge', sha256: hashApiKey('k-judge'), minIsolation: 'vm' }] },
    });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions?wait=false',
      headers: { authorization: 'Bearer k-judge' },
      payload: { ...python, isolation: 'container' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error).toMatchObject({ code: 'FORBIDDEN', path: 'isolation' });
    expect(res.json().error.message).toContain("at least 'vm'");
    expect((await store.list({ limit: 10 })).items).toHaveLength(0);
  });

  it("stores the caller's floor as the tier of a request that names none", async () => {
    const { app, store } = await tieredApp({ isolation: { anonymousMin: 'vm' } });
    const res = await app.inject({ method: 'POST', url: '/v1/executions?wait=false', payload: python });
    expect(res.statusCode).toBe(202);
    expect((await store.get(res.json().id))?.request).toMatchObject({ isolation: 'vm' });
  });

  it('answers 503 naming the setup command when the vm tier is not available', async () => {
    const { app, store } = await tieredApp({}, (tier) => {
      if (tier === 'vm') {
        throw new BoxrunError(
          'ISOLATION_UNAVAILABLE',
          `isolation 'vm' is not available: run \`${VM_TIER_SETUP_COMMAND}\``,
        );
      }
    });
    const res = await app.inject({
      method: 'POST',
      url: '/v1/executions?wait=false',
      payload: { ...python, isolation: 'vm' },
    });
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('ISOLATION_UNAVAILABLE');
    expect(res.json().error.message).toContain('boxrun setup --isolation gvisor');
    expect((await store.list({ limit: 10 })).items).toHaveLength(0);
    const container = await app.inject({
      method: 'POST',
      url: '/v1/executions?wait=false',
      payload: { ...python, isolation: 'container' },
    });
    expect(container.statusCode).toBe(202);
  });
});
