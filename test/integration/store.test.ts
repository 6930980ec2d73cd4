import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionStore, NewExecution } from '../../src/store/execution-store.js';
import { KyselyExecutionStore } from '../../src/store/kysely-execution-store.js';
import { postgresBinaries, ThrowawayPostgres } from '../support/postgres.js';

/**
 * The store's contract, run against both databases: SQLite (embedded default) and PostgreSQL (a
 * throwaway cluster on loopback, installed from Debian's package when missing).
 */
const pgBin = postgresBinaries();
if ('missing' in pgBin) console.warn(`store conformance on PostgreSQL skipped: ${pgBin.missing}`);

let pg: ThrowawayPostgres | null = null;
let databases = 0;
const dirs: string[] = [];
beforeAll(async () => {
  if ('bin' in pgBin) pg = await ThrowawayPostgres.create(pgBin.bin);
});
afterAll(() => {
  pg?.destroy();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Open = () => Promise<{ store: ExecutionStore; reopen: () => Promise<ExecutionStore> }>;
const backends: [string, Open, boolean][] = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'boxrun-store-'));
      dirs.push(dir);
      const path = join(dir, 'boxrun.db');
      return {
        store: await KyselyExecutionStore.openSqlite(path),
        reopen: () => KyselyExecutionStore.openSqlite(path),
      };
    },
    false,
  ],
  [
    'postgres',
    async () => {
      const url = pg!.createDatabase(`conformance_${++databases}`);
      return {
        store: await KyselyExecutionStore.openPostgres(url),
        reopen: () => KyselyExecutionStore.openPostgres(url),
      };
    },
    'missing' in pgBin,
  ],
];

const execution = (id: string, extra: Partial<NewExecution> = {}): NewExecution => ({
  id,
  caller: 'anonymous',
  batchId: null,
  runtime: 'python',
  request: { runtime: 'python', files: [{ path: 'a.py', content: 'print("é")' }] },
  callbackUrl: null,
  createdAt: Date.now(),
  ...extra,
});

describe.each(backends)('ExecutionStore on %s', (_name, open, skip) => {
  it.skipIf(skip)(
    'round-trips records and pages newest first with a cursor, filtered by state and caller',
    async () => {
      const { store } = await open();
      await store.insert(
        ['a', 'b', 'c', 'd', 'e'].map((id) => execution(id, { caller: id === 'e' ? 'bob' : 'alice' })),
      );
      expect(await store.get('a')).toMatchObject({
        id: 'a',
        state: 'queued',
        attempts: 0,
        request: { files: [{ content: 'print("é")' }] },
        createdAt: expect.any(Number),
        result: null,
      });
      await store.markRunning('b', Date.now());
      const first = await store.list({ caller: 'alice', limit: 2 });
      expect(first.items.map((r) => r.id)).toEqual(['d', 'c']);
      const second = await store.list({ caller: 'alice', limit: 2, cursor: first.nextCursor! });
      expect(second.items.map((r) => r.id)).toEqual(['b', 'a']);
      expect(second.nextCursor).toBeNull();
      expect((await store.list({ state: 'running', limit: 10 })).items.map((r) => r.id)).toEqual(['b']);
      await expect(store.list({ limit: 1, cursor: 'garbage!' })).rejects.toThrow(/cursor/);
      await store.close();
    },
  );

  it.skipIf(skip)('inserts a batch whole or not at all', async () => {
    const { store } = await open();
    const batch = { id: 'B', caller: 'alice', createdAt: 1, size: 2 };
    await store.insert([execution('x1', { batchId: 'B' }), execution('x2', { batchId: 'B' })], batch);
    expect((await store.batchExecutions('B')).map((r) => r.id)).toEqual(['x1', 'x2']);
    expect(await store.getBatch('B')).toEqual(batch);
    // x1 already exists: the whole second batch is refused, its new row included.
    await expect(
      store.insert([execution('y1', { batchId: 'C' }), execution('x1')], { ...batch, id: 'C' }),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await store.get('y1')).toBeUndefined();
    expect(await store.getBatch('C')).toBeUndefined();
    await store.close();
  });

  it.skipIf(skip)('keeps one execution per caller and Idempotency-Key', async () => {
    const { store } = await open();
    await store.insert([execution('k1', { caller: 'alice', idempotencyKey: 'key' })]);
    await store.insert([
      execution('k2', { caller: 'bob', idempotencyKey: 'key' }),
      execution('k3'),
      execution('k4'),
    ]);
    await expect(
      store.insert([execution('k5', { caller: 'alice', idempotencyKey: 'key' })]),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((await store.byIdempotencyKey('alice', 'key'))?.id).toBe('k1');
    expect((await store.byIdempotencyKey('bob', 'key'))?.id).toBe('k2');
    expect(await store.byIdempotencyKey('carol', 'key')).toBeUndefined();
    await store.close();
  });

  it.skipIf(skip)(
    "reruns a stalled execution as a new attempt and keeps only that attempt's result",
    async () => {
      const { store } = await open();
      await store.insert([execution('s')]);
      expect(await store.markRunning('s', 10)).toBe(1);
      // The first worker died; its job runs again elsewhere.
      expect(await store.markRunning('s', 20, { rerun: true })).toBe(2);
      const late = { error: { code: 'INTERNAL', message: 'the presumed-dead first attempt' } };
      expect(await store.finish('s', late, 30, 1)).toBe(false);
      const second = { error: { code: 'CANCELED', message: 'the second attempt' } };
      expect(await store.finish('s', second, 31, 2)).toBe(true);
      expect(await store.finish('s', late, 32, 2)).toBe(false);
      expect(await store.get('s')).toMatchObject({
        state: 'done',
        attempts: 2,
        error: second.error,
        finishedAt: 31,
      });
      await expect(store.markRunning('s', 40, { rerun: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await store.close();
    },
  );

  it.skipIf(skip)('marks running once, writes a result once and counts attempts', async () => {
    const { store } = await open();
    await store.insert([execution('r')]);
    expect(await store.markRunning('r', 10)).toBe(1);
    await expect(store.markRunning('r', 11)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const result = { status: 'ok', exitCode: 0, stdout: 'hi', stderr: '' } as never;
    expect(await store.finish('r', { result }, 20)).toBe(true);
    expect(await store.finish('r', { error: { code: 'CANCELED', message: 'late' } }, 30)).toBe(false);
    expect(await store.get('r')).toMatchObject({
      state: 'done',
      result,
      error: null,
      startedAt: 10,
      finishedAt: 20,
    });
    await store.close();
  });

  it.skipIf(skip)(
    'survives a reopen: queued stay queued, running are re-queued once then failed',
    async () => {
      const { store, reopen } = await open();
      await store.insert([execution('q'), execution('r')]);
      expect(await store.markRunning('r', Date.now())).toBe(1);
      await store.close();

      const again = await reopen();
      expect(await again.recover('requeue', Date.now())).toEqual({ requeued: ['r'], failed: [] });
      expect((await again.queued()).map((r) => r.id)).toEqual(['q', 'r']);
      await again.markRunning('r', Date.now()); // second attempt, and the process dies again
      expect(await again.recover('requeue', Date.now())).toEqual({ requeued: [], failed: ['r'] });
      expect(await again.get('r')).toMatchObject({ state: 'done', attempts: 2, error: { code: 'INTERNAL' } });
      await again.close();
    },
  );

  it.skipIf(skip)('requeue after a shutdown gives the attempt back', async () => {
    const { store } = await open();
    await store.insert([execution('s')]);
    await store.markRunning('s', 1);
    await store.requeue('s');
    expect(await store.get('s')).toMatchObject({ state: 'queued', attempts: 0, startedAt: null });
    await store.close();
  });

  it.skipIf(skip)('keeps webhook deliveries and deletes finished executions past retention', async () => {
    const { store } = await open();
    const inBatch = { batchId: 'batch' };
    await store.insert([execution('old', inBatch), execution('hooked', inBatch), execution('new', inBatch)], {
      id: 'batch',
      caller: 'anonymous',
      createdAt: 0,
      size: 3,
    });
    for (const [id, at] of [
      ['old', 1000],
      ['hooked', 1000],
      ['new', 5000],
    ] as const)
      await store.finish(id, { error: { code: 'CANCELED', message: 'x' } }, at);
    const delivery = {
      executionId: 'hooked',
      url: 'http://127.0.0.1:9/',
      state: 'pending' as const,
      attempts: 1,
      lastStatus: 500,
      lastError: null,
      nextAttemptAt: 1_800_000_000_000,
      deliveredAt: null,
    };
    await store.saveDelivery(delivery);
    await store.saveDelivery({ ...delivery, attempts: 2, lastError: 'timeout' });
    expect(await store.getDelivery('hooked')).toEqual({ ...delivery, attempts: 2, lastError: 'timeout' });
    expect((await store.pendingDeliveries()).map((d) => d.executionId)).toEqual(['hooked']);
    expect(await store.deleteFinishedBefore(2000)).toBe(1);
    expect(await store.get('old')).toBeUndefined();
    expect(await store.get('hooked')).toBeDefined();
    expect(await store.getBatch('batch')).toBeDefined();
    await store.close();
  });

  it.skipIf(skip)('settings: set overwrites, settingOnce keeps the first value', async () => {
    const { store } = await open();
    expect(await store.getSetting('k')).toBeUndefined();
    await store.setSetting('k', 'one');
    await store.setSetting('k', 'two');
    expect(await store.getSetting('k')).toBe('two');
    const [a, b] = await Promise.all([
      store.settingOnce('secret', 'first'),
      store.settingOnce('secret', 'second'),
    ]);
    expect(a).toBe(b);
    await store.checkWritable();
    await store.close();
    await expect(store.get('k')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe.skipIf('missing' in pgBin)('PostgreSQL store faults', () => {
  it('rejects with STORE_UNAVAILABLE while the database is down, and works again when it is back', async () => {
    const url = pg!.createDatabase('faults');
    const store = await KyselyExecutionStore.openPostgres(url, { connectTimeoutMs: 1000 });
    await store.insert([execution('before')]);
    pg!.stop();
    try {
      await expect(store.insert([execution('during')])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      await expect(store.checkWritable()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      pg!.start();
    }
    expect(await store.get('before')).toBeDefined();
    expect(await store.get('during')).toBeUndefined();
    await store.close();
  });

  it('refuses to open a database migrated by a newer boxrun', async () => {
    const url = pg!.createDatabase('newer');
    const store = await KyselyExecutionStore.openPostgres(url);
    await store.close();
    const { Client } = (await import('pg')).default;
    const client = new Client({ connectionString: url });
    await client.connect();
    await client.query(`INSERT INTO kysely_migration (name, timestamp) VALUES ('999_future', 'x')`);
    await client.end();
    await expect(KyselyExecutionStore.openPostgres(url)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
