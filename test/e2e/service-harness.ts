import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll } from 'vitest';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { type ConfigOverrides, loadConfig } from '../../src/config/config.js';
import { buildApp } from '../../src/server/app.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { openExecutionStore } from '../../src/store/open-store.js';
import { postgresBinaries, ThrowawayPostgres } from '../support/postgres.js';

/**
 * BOXRUN_TEST_STORE=postgres runs the service suites against PostgreSQL instead of SQLite: one
 * throwaway cluster per test file, one database per store path (a restart on the same path finds
 * its records again).
 */
const onPostgres = process.env.BOXRUN_TEST_STORE === 'postgres';
let cluster: Promise<ThrowawayPostgres> | null = null;
const databases = new Map<string, string>();
if (onPostgres) {
  afterAll(async () => (await cluster)?.destroy());
}

async function storeUrlFor(dbPath: string): Promise<string | null> {
  if (!onPostgres) return null;
  cluster ??= (async () => {
    const found = postgresBinaries();
    if ('missing' in found) throw new Error(`BOXRUN_TEST_STORE=postgres: ${found.missing}`);
    return ThrowawayPostgres.create(found.bin);
  })();
  const pg = await cluster;
  let url = databases.get(dbPath);
  if (!url) {
    url = pg.createDatabase(`t_${createHash('sha256').update(dbPath).digest('hex').slice(0, 16)}`);
    databases.set(dbPath, url);
  }
  return url;
}

export interface RunningService {
  url: string;
  app: FastifyInstance;
  executor: DockerExecutor;
  dbPath: string;
  close(): Promise<void>;
}

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-e2e-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A real service: the Fastify app listening on 127.0.0.1 (any free port), real Docker, a SQLite file
 * (or the PostgreSQL database of store.url, e.g. BOXRUN_STORE_URL).
 */
export async function startService(
  dir: string,
  overrides: ConfigOverrides = {},
  dbPath = join(dir, 'boxrun.db'),
  options: { sessions?: boolean } = {},
): Promise<RunningService> {
  const storeUrl = await storeUrlFor(dbPath);
  const config = loadConfig({
    overrides: {
      ...overrides,
      ...(storeUrl ? { store: { url: storeUrl } } : {}),
      server: {
        host: '127.0.0.1',
        port: 0,
        shutdownGraceMs: 2000,
        maxConcurrent: 2,
        dbPath,
        ...overrides.server,
      },
    },
  });
  const store = await openExecutionStore(config);
  const executor = new DockerExecutor({ config });
  const sessions = options.sessions ? new SessionManager({ config, engines: executor }) : undefined;
  const app = await buildApp({
    config,
    executor,
    store,
    logger: pino({ level: process.env.BOXRUN_TEST_LOG ?? 'silent' }),
    ...(sessions ? { sessions } : {}),
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  let closed: Promise<void> | null = null;
  return {
    url,
    app,
    executor,
    dbPath,
    close: () => {
      closed ??= (async () => {
        await app.close();
        await sessions?.close();
        await executor.close();
        await store.close();
      })();
      return closed;
    },
  };
}

/** A parsed response body, loosely typed for assertions. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions themselves
export type Json = any;

export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, json };
}

/** Polls until `check` returns a value (not undefined); generous deadline for a loaded 2-core machine. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const py = (code: string, extra: Record<string, unknown> = {}) => ({
  runtime: 'python',
  files: [{ path: 'main.py', content: code }],
  ...extra,
});

/** `boxrun serve` as a child process (for SIGTERM and restart), its URL read from its stderr. */
export async function spawnServe(
  dbPath: string,
  env: Record<string, string> = {},
): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null> }> {
  const storeUrl = await storeUrlFor(dbPath);
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '../../bin/boxrun.js'), 'serve', '--port', '0', '--db', dbPath],
    {
      env: {
        ...process.env,
        BOXRUN_SERVER_LOG_LEVEL: 'warn',
        ...(storeUrl ? { BOXRUN_STORE_URL: storeUrl } : {}),
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = err.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', () => reject(new Error(`serve exited: ${err}`)));
  });
  return { url, child, exited };
}
