import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { BullmqJobProducer } from '../../src/executions/cluster/bullmq-job-queue.js';
import type { ExecutionStore } from '../../src/store/execution-store.js';
import { openExecutionStore } from '../../src/store/open-store.js';
import { postgresBinaries, ThrowawayPostgres } from '../support/postgres.js';
import { redisBinary, ThrowawayRedis } from '../support/redis.js';
import { LOADED_WALL_MS } from '../support/timing.js';
import { eventually, py } from './service-harness.js';

// `boxrun serve --role worker` on the shared engine, fed through BullMQ (real Redis) with records in
// a real PostgreSQL, as an API node would feed it.
const pgBin = postgresBinaries();
const redisBin = redisBinary();
const skip = 'missing' in pgBin ? pgBin.missing : 'missing' in redisBin ? redisBin.missing : false;
if (skip) console.warn(`cluster worker e2e skipped: ${skip}`);

const BOXRUN = join(import.meta.dirname, '../../bin/boxrun.js');

describe.skipIf(skip)('boxrun serve --role worker (real Redis, PostgreSQL, Docker)', () => {
  let pg: ThrowawayPostgres;
  let redis: ThrowawayRedis;
  let storeUrl: string;
  let store: ExecutionStore;
  let producer: BullmqJobProducer;
  let worker: ChildProcess;
  let exited: Promise<number | null>;
  let stderr = '';

  beforeAll(async () => {
    pg = await ThrowawayPostgres.create((pgBin as { bin: string }).bin);
    redis = await ThrowawayRedis.create((redisBin as { bin: string }).bin);
    storeUrl = pg.createDatabase('cluster');
    store = await openExecutionStore(loadConfig({ overrides: { store: { url: storeUrl } } }));
    producer = new BullmqJobProducer({ redisUrl: redis.url, maxQueued: 1000, maxConcurrent: 2 });
    worker = spawn(
      process.execPath,
      [BOXRUN, 'serve', '--role', 'worker', '--port', '0', '--max-concurrent', '2'],
      {
        env: {
          ...process.env,
          BOXRUN_SERVER_LOG_LEVEL: 'warn',
          BOXRUN_STORE_URL: storeUrl,
          BOXRUN_CLUSTER_REDIS: redis.url,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    exited = new Promise((resolve) => worker.on('exit', (code) => resolve(code)));
    worker.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await eventually(
      async () => (/taking executions; probes on http/.test(stderr) ? true : undefined),
      LOADED_WALL_MS,
    );
  }, 300_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    await producer?.close();
    await store?.close();
    await redis?.destroy();
    pg?.destroy();
  }, 120_000);

  const probes = () => /probes on (http:\/\/\S+)/.exec(stderr)![1]!;

  it('runs an execution written to the store and queued, and records its result', async () => {
    const id = crypto.randomUUID();
    await store.insert([
      {
        id,
        caller: 'alice',
        batchId: null,
        runtime: 'python',
        request: py('print(6 * 7)'),
        callbackUrl: null,
        createdAt: Date.now(),
      },
    ]);
    await producer.add({ id, lane: 'caller:alice', caller: 'alice' });
    const record = await eventually(async () => {
      const r = await store.get(id);
      return r?.state === 'done' ? r : undefined;
    }, LOADED_WALL_MS);
    expect(record.result).toMatchResult({ status: 'ok', stdout: '42\n', exitCode: 0 });
    expect(record.attempts).toBe(1);
  }, 300_000);

  it('reports itself in boxrun cluster status and is ready', async () => {
    const ready = await fetch(`${probes()}/readyz`);
    expect(await ready.json()).toMatchObject({ ready: true, role: 'worker' });
    expect((await fetch(`${probes()}/healthz`)).status).toBe(200);
    const { stdout } = await promisify(execFile)(process.execPath, [
      BOXRUN,
      'cluster',
      'status',
      '--json',
      '--redis',
      redis.url,
    ]);
    const status = JSON.parse(stdout) as {
      workers: { max: number; version: string }[];
      queue: { waiting: number };
    };
    expect(status.workers).toHaveLength(1);
    expect(status.workers[0]).toMatchObject({ max: 2, version: '0.1.0' });
    expect(status.queue.waiting).toBe(0);
  }, 120_000);

  it('drains on SIGTERM: the running execution finishes, then the worker exits 0', async () => {
    const id = crypto.randomUUID();
    await store.insert([
      {
        id,
        caller: 'bob',
        batchId: null,
        runtime: 'python',
        request: py('import time\ntime.sleep(2)\nprint("slept")'),
        callbackUrl: null,
        createdAt: Date.now(),
      },
    ]);
    await producer.add({ id, lane: 'caller:bob', caller: 'bob' });
    await eventually(
      async () => ((await store.get(id))?.state === 'running' ? true : undefined),
      LOADED_WALL_MS,
    );
    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    const record = await store.get(id);
    expect(record?.state).toBe('done');
    expect(record?.result).toMatchResult({ status: 'ok', stdout: 'slept\n' });
  }, 300_000);
});
