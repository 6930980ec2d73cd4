import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewExecution } from './execution-store.js';
import { KyselyExecutionStore } from './kysely-execution-store.js';

// The contract over both databases is test/integration/store.test.ts; here what only SQLite has.
const dirs: string[] = [];
function dbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-store-'));
  dirs.push(dir);
  return join(dir, 'boxrun.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const execution = (id: string): NewExecution => ({
  id,
  caller: 'anonymous',
  batchId: null,
  runtime: 'python',
  request: { runtime: 'python', files: [] },
  callbackUrl: null,
  createdAt: Date.now(),
});

describe('KyselyExecutionStore on SQLite', () => {
  it('adopts a database made before migrations existed, keeping its records and sequence', async () => {
    const path = dbPath();
    // The schema boxrun 0.1 wrote by hand (PRAGMA user_version = 1, no migrations table).
    const old = new Database(path);
    old.exec(`
      CREATE TABLE executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        caller TEXT NOT NULL, batch_id TEXT, runtime TEXT, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, request TEXT NOT NULL, callback_url TEXT, result TEXT,
        error TEXT, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER);
      CREATE INDEX executions_state ON executions (state, seq);
      CREATE TABLE batches (id TEXT PRIMARY KEY, caller TEXT NOT NULL, created_at INTEGER NOT NULL, size INTEGER NOT NULL);
      CREATE TABLE webhook_deliveries (execution_id TEXT PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
        url TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER,
        last_error TEXT, next_attempt_at INTEGER, delivered_at INTEGER);
      CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO executions (id, caller, state, request, created_at) VALUES ('legacy', 'alice', 'queued', '{}', 1);
      INSERT INTO settings VALUES ('webhook_secret', 'kept');
      PRAGMA user_version = 1;
    `);
    old.close();
    const store = await KyselyExecutionStore.openSqlite(path);
    expect(await store.get('legacy')).toMatchObject({ caller: 'alice', state: 'queued', seq: 1 });
    expect(await store.getSetting('webhook_secret')).toBe('kept');
    await store.insert([execution('new')]);
    expect((await store.get('new'))?.seq).toBe(2);
    await store.close();
  });

  it('fails with STORE_UNAVAILABLE (and writes nothing) when the database is locked', async () => {
    const path = dbPath();
    const store = await KyselyExecutionStore.openSqlite(path, { busyTimeoutMs: 50 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE'); // holds the write lock from another connection
    await expect(store.insert([execution('x')])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    other.exec('ROLLBACK');
    expect(await store.get('x')).toBeUndefined();
    other.close();
    await store.close();
  });
});
