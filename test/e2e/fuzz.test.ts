import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { type ConfigOverrides, loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/server/app.js';
import { hashApiKey } from '../../src/server/auth.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { KyselyExecutionStore } from '../../src/store/kysely-execution-store.js';

/**
 * Request fuzzing of every route (fast-check) through `app.inject()`, nothing mocked: one service
 * whose executor points at an engine that does not exist (every request that passes validation
 * meets a real ENGINE_UNAVAILABLE), and one on the real engine with API keys and small limits, so
 * the requests that happen to be valid run real, short sandboxes. Properties: never a 500, never a
 * stack trace, every error answer is JSON with a message, and the process stays up.
 */

const KEY = 'fuzz-key-0123456789';

interface Service {
  app: FastifyInstance;
  close(): Promise<void>;
}

async function service(dir: string, overrides: ConfigOverrides): Promise<Service> {
  const config = loadConfig({
    overrides: {
      ...overrides,
      server: { host: '127.0.0.1', port: 0, shutdownGraceMs: 1000, maxConcurrent: 2, ...overrides.server },
    },
  });
  const store = await KyselyExecutionStore.openSqlite(join(dir, 'boxrun.db'));
  const executor = new DockerExecutor({ config });
  const sessions = new SessionManager({ config, engines: executor, maxSessions: 2, maxPerKey: 1 });
  const app = await buildApp({
    config,
    executor,
    store,
    sessions,
    logger: pino({ level: process.env.BOXRUN_TEST_LOG ?? 'silent' }),
  });
  await app.ready();
  return {
    app,
    close: async () => {
      await app.close();
      await sessions.close();
      await executor.close();
      await store.close();
    },
  };
}

// ---- arbitraries ----------------------------------------------------------------------------

const deep = (depth: number, leaf: unknown) => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
};

const weirdString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    '../../etc/passwd',
    '/etc/shadow',
    'a\u0000b',
    '%00',
    '\ud800',
    '__proto__',
    'constructor',
    ' '.repeat(70),
    'x'.repeat(100_000),
    '{"a":',
    'null',
    'python',
    'c',
    'bash',
    '*',
    'http://127.0.0.1/',
    'http://169.254.169.254/latest/meta-data/',
  ),
);

const scalar = fc.oneof(
  weirdString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, 0.5),
);

const anything = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: scalar },
  { weight: 1, arbitrary: fc.integer({ min: 20, max: 200 }).map((d) => deep(d, 1)) },
  { weight: 1, arbitrary: fc.constant('y'.repeat(2 * 1024 * 1024)) },
  { weight: 1, arbitrary: fc.array(fc.constant({}), { maxLength: 2000 }) },
);

const limits = fc.dictionary(
  fc.constantFrom('timeoutMs', 'cpuTimeMs', 'memoryMb', 'cpus', 'pids', 'outputBytes', 'diskMb', 'x'),
  fc.oneof(fc.integer({ min: -10, max: 4000 }), scalar),
  { maxKeys: 4 },
);

const file = fc.record(
  {
    path: fc.oneof(fc.constantFrom('main.py', 'main.c', 'main.sh', 'a/b.txt'), weirdString),
    name: weirdString,
    content: fc.oneof(
      fc.constantFrom('print(1)', 'int main(){return 0;}', 'echo hi', ''),
      weirdString,
      scalar,
    ),
    encoding: fc.oneof(fc.constantFrom('utf8', 'base64', 'hex'), weirdString),
    executable: fc.oneof(fc.boolean(), scalar),
  },
  { requiredKeys: [] },
);

/** Valid requests with random programs and inputs: these run (briefly) on the real engine. */
const validExecution = fc.record(
  {
    runtime: fc.constantFrom('python', 'bash'),
    files: fc
      .tuple(fc.constantFrom('main.py', 'main.sh'), fc.string({ maxLength: 200 }))
      .map(([path, content]) => [{ path, content }]),
    stdin: fc.string({ maxLength: 100 }),
    argv: fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
    limits: fc.record(
      { timeoutMs: fc.integer({ min: 1, max: 3000 }), memoryMb: fc.integer({ min: 8, max: 256 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['runtime', 'files'] },
);

/** Near-valid execution requests: right field names, values that are sometimes right. */
const nearValidExecution = fc.record(
  {
    runtime: fc.oneof(fc.constantFrom('python', 'bash', 'c', 'cobol', ''), scalar),
    version: fc.oneof(fc.constantFrom('3', '*', '3.11'), scalar),
    files: fc.oneof(fc.array(file, { maxLength: 3 }), anything),
    main: weirdString,
    stdin: fc.oneof(fc.string(), scalar),
    argv: fc.oneof(fc.array(fc.string(), { maxLength: 4 }), anything),
    env: fc.oneof(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), anything),
    limits: fc.oneof(limits, anything),
    compileLimits: limits,
    network: fc.oneof(fc.constantFrom('none', 'full', 'localhost', 'allowlist'), scalar),
    allowHosts: fc.array(weirdString, { maxLength: 2 }),
    image: weirdString,
    dockerfile: weirdString,
    callbackUrl: fc.oneof(fc.constantFrom('http://127.0.0.1:1/', 'https://example.invalid/h'), weirdString),
    tests: anything,
  },
  { requiredKeys: [] },
);

const executionBody = fc.oneof(validExecution, nearValidExecution);

const pistonBody = fc.record(
  {
    language: fc.oneof(fc.constantFrom('python', 'bash', 'c', 'py', 'cobol'), scalar),
    version: fc.oneof(fc.constantFrom('*', '3', '3.11', '5.2', 'x'), scalar),
    files: fc.oneof(fc.array(file, { maxLength: 3 }), anything),
    stdin: fc.oneof(fc.string(), scalar),
    args: fc.oneof(fc.array(fc.string(), { maxLength: 3 }), anything),
    run_timeout: fc.oneof(fc.integer({ min: -2, max: 3000 }), scalar),
    compile_timeout: fc.oneof(fc.integer({ min: -2, max: 3000 }), scalar),
    run_memory_limit: fc.oneof(fc.integer({ min: -2, max: 512 * 1024 * 1024 }), scalar),
    run_cpu_time: scalar,
  },
  { requiredKeys: [] },
);

const sessionBody = fc.record(
  {
    runtime: fc.oneof(fc.constantFrom('python', 'bash'), scalar),
    command: fc.oneof(fc.constantFrom('echo hi', 'true'), fc.array(fc.string(), { maxLength: 3 }), anything),
    limits: fc.oneof(limits, anything),
    env: anything,
    network: scalar,
    content: fc.oneof(fc.string(), scalar),
    encoding: scalar,
    timeoutMs: scalar,
    idleTimeoutMs: scalar,
  },
  { requiredKeys: [] },
);

const id = fc.oneof(
  fc.uuid(),
  fc.string({ minLength: 1, maxLength: 80 }),
  fc.constantFrom('..', '%2e%2e', 'a%00b', '%', 'x'.repeat(300), '0', '-1', '__proto__'),
);

const PATHS: [string, string, fc.Arbitrary<unknown> | null][] = [
  ['POST', '/v1/executions', executionBody],
  ['GET', '/v1/executions', null],
  ['GET', '/v1/executions/:id', null],
  ['DELETE', '/v1/executions/:id', null],
  ['GET', '/v1/executions/:id/events', null],
  [
    'POST',
    '/v1/batches',
    fc.record(
      { requests: fc.oneof(fc.array(executionBody, { maxLength: 3 }), anything), callbackUrl: weirdString },
      { requiredKeys: [] },
    ),
  ],
  ['GET', '/v1/batches/:id', null],
  ['GET', '/v1/runtimes', null],
  ['GET', '/healthz', null],
  ['GET', '/readyz', null],
  ['GET', '/metrics', null],
  ['GET', '/docs/json', null],
  ['POST', '/api/v2/execute', pistonBody],
  ['GET', '/api/v2/runtimes', null],
  ['GET', '/api/v2/packages', null],
  ['POST', '/v1/sessions', sessionBody],
  ['GET', '/v1/sessions', null],
  ['GET', '/v1/sessions/:id', null],
  ['DELETE', '/v1/sessions/:id', null],
  ['POST', '/v1/sessions/:id/commands', sessionBody],
  ['GET', '/v1/sessions/:id/files', null],
  ['PUT', '/v1/sessions/:id/files', sessionBody],
  ['DELETE', '/v1/sessions/:id/files', null],
  ['GET', '/v1/sessions/:id/attach', null],
];

const query = fc.oneof(
  fc.constant(''),
  fc
    .dictionary(
      fc.oneof(fc.constantFrom('wait', 'status', 'limit', 'cursor', 'path'), fc.string({ maxLength: 10 })),
      fc.oneof(
        fc.constantFrom(
          'true',
          'false',
          '0',
          '1',
          'done',
          'queued',
          '-1',
          '501',
          '1e3',
          'NaN',
          '',
          '../x',
          'czE=',
        ),
        fc.string({ maxLength: 200 }),
      ),
      { maxKeys: 3 },
    )
    .map((q) => `?${new URLSearchParams(q).toString()}`),
  fc.constantFrom(
    '?wait=true&wait=false',
    '?limit=1&limit=2',
    '?%zz=1',
    '?a[b]=1',
    `?cursor=${'A'.repeat(500)}`,
  ),
);

const contentType = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/json; charset=utf-16',
    '',
  ),
  fc.string({ maxLength: 40 }),
);

const authorization = fc.oneof(
  fc.constant(undefined),
  { weight: 6, arbitrary: fc.constant(`Bearer ${KEY}`) },
  fc.string({ maxLength: 60 }).map((s) => `Bearer ${s}`),
  fc.constantFrom('Basic dXNlcjpwYXNz', 'Bearer', 'bearer  x', ''),
  fc.string({ maxLength: 60 }),
);

const rawBody = (structured: fc.Arbitrary<unknown> | null) =>
  fc.oneof(
    { weight: 5, arbitrary: (structured ?? anything).map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 2, arbitrary: anything.map((v) => JSON.stringify(v) ?? 'null') },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    // Deep nesting as text: far past anything a schema walks, without recursing in the test itself.
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1000, max: 20_000 })
        .map((d) =>
          d % 2 ? `${'['.repeat(d)}1${']'.repeat(d)}` : `{"files":${'{"a":'.repeat(d)}1${'}'.repeat(d + 1)}`,
        ),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );

/** Submissions are where the depth is: they are drawn more often than the other routes. */
const routeRequest = fc.oneof(
  ...PATHS.map(([method, path, body]) => ({
    weight: method === 'POST' ? 6 : 1,
    arbitrary: fc.record({
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant(method) },
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
      ),
      url: fc
        .tuple(
          id,
          fc.oneof({ weight: 3, arbitrary: fc.constantFrom('', '?wait=false', '?wait=true') }, query),
        )
        .map(([i, q]) => path.replace(':id', encodeURIComponent(i)) + q),
      body: rawBody(body),
      contentType,
      authorization,
    }),
  })),
  // Random paths, ids and traversal tricks that match no route (or the wrong one).
  {
    weight: 3,
    arbitrary: fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      url: fc.oneof(
        fc.webPath().map((p) => p || '/'),
        fc.constantFrom(
          '/v1/executions/../../etc/passwd',
          '/v1//executions',
          '//',
          '/v1/executions/%',
          '/api/v2/',
          '/docs/../v1/executions',
          '/%2e%2e/%2e%2e',
        ),
        fc.string({ maxLength: 50 }).map((s) => `/v1/${encodeURIComponent(s)}`),
      ),
      body: rawBody(null),
      contentType,
      authorization,
    }),
  },
);

type FuzzRequest = typeof routeRequest extends fc.Arbitrary<infer T> ? T : never;

/** BOXRUN_FUZZ_SEED replays a failure that fast-check reported (its seed and path). */
const replay = process.env.BOXRUN_FUZZ_SEED
  ? {
      seed: Number(process.env.BOXRUN_FUZZ_SEED),
      ...(process.env.BOXRUN_FUZZ_PATH ? { path: process.env.BOXRUN_FUZZ_PATH } : {}),
    }
  : {};

const STACK = /\n\s+at [^\n]+:\d+:\d+|node:internal|\/src\/[\w/-]+\.ts|\/node_modules\//;

/** One request and the properties every answer has. */
async function check(app: FastifyInstance, r: FuzzRequest, seen: Map<number, number>): Promise<void> {
  const headers: Record<string, string> = {};
  if (r.contentType) headers['content-type'] = r.contentType;
  if (r.authorization !== undefined) headers.authorization = r.authorization;
  const method = r.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'HEAD';
  const withBody = r.body !== undefined && method !== 'GET' && method !== 'HEAD';
  const res = await app.inject({ method, url: r.url, headers, ...(withBody ? { payload: r.body } : {}) });
  seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
  const where = `${r.method} ${r.url.slice(0, 200)} → ${res.statusCode}: ${res.body.slice(0, 300)}`;
  expect(res.statusCode, where).not.toBe(500);
  expect(res.statusCode, where).toBeLessThan(500 + 4); // 500–503 only ever as 503
  if (res.statusCode > 500) expect(res.statusCode, where).toBe(503);
  expect(STACK.test(res.body), where).toBe(false);
  if (res.statusCode >= 400 && method !== 'HEAD') {
    expect(res.headers['content-type'], where).toMatch(/application\/json/);
    const json = JSON.parse(res.body) as { error?: { message?: unknown; code?: unknown }; message?: unknown };
    // /readyz answers 503 with its report: the reasons are its `problems`.
    const problems = (json as { problems?: unknown }).problems;
    const message =
      json.error?.message ?? json.message ?? (Array.isArray(problems) ? problems.join('; ') : undefined);
    expect(typeof message, where).toBe('string');
    expect((message as string).length, where).toBeGreaterThan(0);
  }
}

describe('fuzz: every route, never a 500, never a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-fuzz-'));
  let dead: Service;
  let real: Service;

  beforeAll(async () => {
    dead = await service(join(dir, 'dead'), { docker: { host: 'unix:///nonexistent/boxrun-fuzz.sock' } });
    // Valid requests run for real, but briefly; keys on, so authorization is fuzzed against them.
    real = await service(join(dir, 'real'), {
      limits: { timeoutMs: 2000, memoryMb: 128 },
      compileLimits: { timeoutMs: 10_000 },
      maxLimits: { timeoutMs: 10_000, memoryMb: 512 },
      server: { apiKeys: [{ name: 'fuzz', sha256: hashApiKey(KEY), maxConcurrent: 4 }] },
    });
  });
  afterAll(async () => {
    await dead?.close();
    await real?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('against an engine that is not there (every valid request meets a real 503)', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(routeRequest, (r) => check(dead.app, r, seen)),
      { numRuns: Number(process.env.BOXRUN_FUZZ_RUNS ?? 1500), ...replay },
    );
    console.info(`fuzz (no engine): answers by status ${JSON.stringify(Object.fromEntries(seen))}`);
    expect((await dead.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('against the real engine with API keys (valid requests run real, short sandboxes)', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(routeRequest, (r) => check(real.app, r, seen)),
      { numRuns: Number(process.env.BOXRUN_FUZZ_REAL_RUNS ?? 300), ...replay },
    );
    console.info(`fuzz (real engine): answers by status ${JSON.stringify(Object.fromEntries(seen))}`);
    const ok = await real.app.inject({
      method: 'POST',
      url: '/v1/executions',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { runtime: 'python', files: [{ path: 'main.py', content: 'print("still here")' }] },
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().result.stdout).toBe('still here\n');
  });
});
