import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewExecution } from './execution-store.js';
import { SqliteExecutionStore } from './sqlite-execution-store.js';

const dirs: string[] = [];
function openStore() {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-store-'));
  dirs.push(dir);
  const path = join(dir, 'boxrun.db');
  return { store: SqliteExecutionStore.open(path), path };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const execution = (id: string, extra: Partial<NewExecution> = {}): NewExecution => ({
  id,
  caller: 'anonymous',
  batchId: null,
  runtime: 'python',
  request: { runtime: 'python', files: [] },
  callbackUrl: null,
  createdAt: Date.now(),
  ...extra,
});

describe('SqliteExecutionStore', () => {
  it('pages newest first with a cursor and filters by state and caller', () => {
    const { store } = openStore();
    store.insert(
      ['a', 'b', 'c', 'd', 'e'].map((id) => execution(id, { caller: id === 'e' ? 'bob' : 'alice' })),
    );
    store.markRunning('b', Date.now());
    const first = store.list({ caller: 'alice', limit: 2 });
    expect(first.items.map((r) => r.id)).toEqual(['d', 'c']);
    const second = store.list({ caller: 'alice', limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((r) => r.id)).toEqual(['b', 'a']);
    expect(second.nextCursor).toBeNull();
    expect(store.list({ state: 'running', limit: 10 }).items.map((r) => r.id)).toEqual(['b']);
    expect(() => store.list({ limit: 1, cursor: 'garbage!' })).toThrow(/cursor/);
    store.close();
  });

  it('survives a reopen: queued stay queued, running are re-queued once then failed', () => {
    const { store, path } = openStore();
    store.insert([execution('q'), execution('r')]);
    expect(store.markRunning('r', Date.now())).toBe(1);
    store.close();

    const again = SqliteExecutionStore.open(path);
    expect(again.recover('requeue', Date.now())).toEqual({ requeued: ['r'], failed: [] });
    expect(again.queued().map((r) => r.id)).toEqual(['q', 'r']);
    again.markRunning('r', Date.now()); // second attempt, and the process dies again
    expect(again.recover('requeue', Date.now())).toEqual({ requeued: [], failed: ['r'] });
    expect(again.get('r')).toMatchObject({ state: 'done', error: { code: 'INTERNAL' } });
    again.close();
  });

  it('deletes finished executions past retention, keeping ones with pending webhooks', () => {
    const { store } = openStore();
    const inBatch = { batchId: 'batch' };
    store.insert([execution('old', inBatch), execution('hooked', inBatch), execution('new', inBatch)], {
      id: 'batch',
      caller: 'anonymous',
      createdAt: 0,
      size: 3,
    });
    store.finish('old', { error: { code: 'CANCELED', message: 'x' } }, 1000);
    store.finish('hooked', { error: { code: 'CANCELED', message: 'x' } }, 1000);
    store.finish('new', { error: { code: 'CANCELED', message: 'x' } }, 5000);
    store.saveDelivery({
      executionId: 'hooked',
      url: 'http://127.0.0.1:9/',
      state: 'pending',
      attempts: 1,
      lastStatus: 500,
      lastError: null,
      nextAttemptAt: 0,
      deliveredAt: null,
    });
    expect(store.deleteFinishedBefore(2000)).toBe(1);
    expect(store.get('old')).toBeUndefined();
    expect(store.get('hooked')).toBeDefined();
    expect(store.getBatch('batch')).toBeDefined();
    store.close();
  });

  it('fails with STORE_UNAVAILABLE (and writes nothing) when the database is locked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'boxrun-store-'));
    dirs.push(dir);
    const path = join(dir, 'boxrun.db');
    const store = SqliteExecutionStore.open(path, { busyTimeoutMs: 50 });
    const other = SqliteExecutionStore.open(path);
    // Hold the write lock from another connection.
    (other as unknown as { db: { exec(sql: string): void } }).db.exec('BEGIN IMMEDIATE');
    expect(() => store.insert([execution('x')])).toThrow(
      expect.objectContaining({ code: 'STORE_UNAVAILABLE' }),
    );
    (other as unknown as { db: { exec(sql: string): void } }).db.exec('ROLLBACK');
    expect(store.get('x')).toBeUndefined();
    other.close();
    store.close();
  });
});
