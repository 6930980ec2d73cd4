import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { BoxrunError } from '../core/errors.js';
import type { ExecutionResult } from '../core/result.js';
import type {
  BatchRecord,
  ExecutionFailure,
  ExecutionRecord,
  ExecutionState,
  ExecutionStore,
  ListPage,
  ListQuery,
  NewExecution,
  RecoveryReport,
  WebhookDelivery,
} from './execution-store.js';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS executions (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  caller TEXT NOT NULL,
  batch_id TEXT,
  runtime TEXT,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL,
  callback_url TEXT,
  result TEXT,
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER
);
CREATE INDEX IF NOT EXISTS executions_state ON executions (state, seq);
CREATE INDEX IF NOT EXISTS executions_caller ON executions (caller, seq);
CREATE INDEX IF NOT EXISTS executions_batch ON executions (batch_id);
CREATE INDEX IF NOT EXISTS executions_finished ON executions (finished_at) WHERE state = 'done';
CREATE TABLE IF NOT EXISTS batches (
  id TEXT PRIMARY KEY,
  caller TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  execution_id TEXT PRIMARY KEY REFERENCES executions (id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_status INTEGER,
  last_error TEXT,
  next_attempt_at INTEGER,
  delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_pending ON webhook_deliveries (state);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface ExecutionRow {
  seq: number;
  id: string;
  caller: string;
  batch_id: string | null;
  runtime: string | null;
  state: ExecutionState;
  attempts: number;
  request: string;
  callback_url: string | null;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
}

interface DeliveryRow {
  execution_id: string;
  url: string;
  state: WebhookDelivery['state'];
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: number | null;
  delivered_at: number | null;
}

function toRecord(row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    seq: row.seq,
    caller: row.caller,
    batchId: row.batch_id,
    runtime: row.runtime,
    state: row.state,
    attempts: row.attempts,
    request: JSON.parse(row.request) as Record<string, unknown>,
    callbackUrl: row.callback_url,
    result: row.result ? (JSON.parse(row.result) as ExecutionResult) : null,
    error: row.error ? (JSON.parse(row.error) as ExecutionFailure) : null,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    executionId: row.execution_id,
    url: row.url,
    state: row.state,
    attempts: row.attempts,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    deliveredAt: row.delivered_at,
  };
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const seq = Number(text.slice(1));
  if (!text.startsWith('s') || !Number.isSafeInteger(seq) || seq < 0) {
    throw new BoxrunError('INVALID_REQUEST', 'cursor: not a cursor this service handed out', {
      details: { path: 'cursor' },
    });
  }
  return seq;
}

export interface SqliteStoreOptions {
  /** How long a write waits for a lock held by another connection before failing. */
  busyTimeoutMs?: number;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so a write that returned
 * survives a crash of the process or the machine — the service acknowledges only after it.
 */
export class SqliteExecutionStore implements ExecutionStore {
  private readonly db: Database.Database;
  private closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  static open(path: string, options: SqliteStoreOptions = {}): SqliteExecutionStore {
    let db: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new Error(`database schema ${version} is newer than this boxrun (${SCHEMA_VERSION})`);
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (error) {
      throw new BoxrunError(
        'STORE_UNAVAILABLE',
        `cannot open the store ${path}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return new SqliteExecutionStore(db);
  }

  /** Every statement goes through here: SQLite errors become STORE_UNAVAILABLE. */
  private guard<T>(what: string, fn: () => T): T {
    if (this.closed) throw new BoxrunError('STORE_UNAVAILABLE', 'the store is closed');
    try {
      return fn();
    } catch (error) {
      if (error instanceof BoxrunError) throw error;
      throw new BoxrunError('STORE_UNAVAILABLE', `store: ${what} failed: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  insert(executions: NewExecution[], batch?: BatchRecord): void {
    this.guard('insert', () => {
      const insertExecution = this.db.prepare(
        `INSERT INTO executions (id, caller, batch_id, runtime, state, request, callback_url, created_at)
         VALUES (@id, @caller, @batchId, @runtime, 'queued', @request, @callbackUrl, @createdAt)`,
      );
      const insertBatch = this.db.prepare(
        'INSERT INTO batches (id, caller, created_at, size) VALUES (@id, @caller, @createdAt, @size)',
      );
      this.db.transaction(() => {
        if (batch) insertBatch.run(batch);
        for (const e of executions) insertExecution.run({ ...e, request: JSON.stringify(e.request) });
      })();
    });
  }

  get(id: string): ExecutionRecord | undefined {
    return this.guard('get', () => {
      const row = this.db.prepare('SELECT * FROM executions WHERE id = ?').get(id) as
        | ExecutionRow
        | undefined;
      return row ? toRecord(row) : undefined;
    });
  }

  list(query: ListQuery): ListPage {
    return this.guard('list', () => {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: query.limit + 1 };
      if (query.caller !== undefined) {
        where.push('caller = @caller');
        params.caller = query.caller;
      }
      if (query.state) {
        where.push('state = @state');
        params.state = query.state;
      }
      if (query.cursor) {
        where.push('seq < @before');
        params.before = decodeCursor(query.cursor);
      }
      const rows = this.db
        .prepare(
          `SELECT * FROM executions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT @limit`,
        )
        .all(params) as ExecutionRow[];
      const more = rows.length > query.limit;
      const items = rows.slice(0, query.limit).map(toRecord);
      const last = items[items.length - 1];
      return { items, nextCursor: more && last ? encodeCursor(last.seq) : null };
    });
  }

  queued(): ExecutionRecord[] {
    return this.guard('queued', () =>
      (
        this.db
          .prepare("SELECT * FROM executions WHERE state = 'queued' ORDER BY seq")
          .all() as ExecutionRow[]
      ).map(toRecord),
    );
  }

  markRunning(id: string, at: number): number {
    return this.guard('markRunning', () => {
      const row = this.db
        .prepare(
          "UPDATE executions SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ? AND state = 'queued' RETURNING attempts",
        )
        .get(at, id) as { attempts: number } | undefined;
      if (!row) throw new BoxrunError('NOT_FOUND', `execution ${id} is not queued`);
      return row.attempts;
    });
  }

  finish(id: string, outcome: { result: ExecutionResult } | { error: ExecutionFailure }, at: number): void {
    this.guard('finish', () => {
      this.db
        .prepare("UPDATE executions SET state = 'done', result = ?, error = ?, finished_at = ? WHERE id = ?")
        .run(
          'result' in outcome ? JSON.stringify(outcome.result) : null,
          'error' in outcome ? JSON.stringify(outcome.error) : null,
          at,
          id,
        );
    });
  }

  requeue(id: string): void {
    this.guard('requeue', () => {
      this.db
        .prepare(
          "UPDATE executions SET state = 'queued', started_at = NULL, attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'running'",
        )
        .run(id);
    });
  }

  recover(policy: 'requeue' | 'fail', at: number): RecoveryReport {
    return this.guard('recover', () => {
      const report: RecoveryReport = { requeued: [], failed: [] };
      const rows = this.db
        .prepare("SELECT id, attempts FROM executions WHERE state = 'running' ORDER BY seq")
        .all() as { id: string; attempts: number }[];
      const requeue = this.db.prepare(
        "UPDATE executions SET state = 'queued', started_at = NULL WHERE id = ? AND state = 'running'",
      );
      const fail = this.db.prepare(
        "UPDATE executions SET state = 'done', error = ?, finished_at = ? WHERE id = ? AND state = 'running'",
      );
      this.db.transaction(() => {
        for (const row of rows) {
          // Re-queued once at most: a program that takes the service down must not do it forever.
          if (policy === 'requeue' && row.attempts < 2) {
            requeue.run(row.id);
            report.requeued.push(row.id);
          } else {
            const error: ExecutionFailure = {
              code: 'INTERNAL',
              message: 'service restarted while the execution was running',
            };
            fail.run(JSON.stringify(error), at, row.id);
            report.failed.push(row.id);
          }
        }
      })();
      return report;
    });
  }

  getBatch(id: string): BatchRecord | undefined {
    return this.guard('getBatch', () => {
      const row = this.db.prepare('SELECT * FROM batches WHERE id = ?').get(id) as
        | { id: string; caller: string; created_at: number; size: number }
        | undefined;
      return row ? { id: row.id, caller: row.caller, createdAt: row.created_at, size: row.size } : undefined;
    });
  }

  batchExecutions(id: string): ExecutionRecord[] {
    return this.guard('batchExecutions', () =>
      (
        this.db.prepare('SELECT * FROM executions WHERE batch_id = ? ORDER BY seq').all(id) as ExecutionRow[]
      ).map(toRecord),
    );
  }

  saveDelivery(d: WebhookDelivery): void {
    this.guard('saveDelivery', () => {
      this.db
        .prepare(
          `INSERT INTO webhook_deliveries (execution_id, url, state, attempts, last_status, last_error, next_attempt_at, delivered_at)
           VALUES (@executionId, @url, @state, @attempts, @lastStatus, @lastError, @nextAttemptAt, @deliveredAt)
           ON CONFLICT (execution_id) DO UPDATE SET url = excluded.url, state = excluded.state,
             attempts = excluded.attempts, last_status = excluded.last_status, last_error = excluded.last_error,
             next_attempt_at = excluded.next_attempt_at, delivered_at = excluded.delivered_at`,
        )
        .run(d);
    });
  }

  getDelivery(executionId: string): WebhookDelivery | undefined {
    return this.guard('getDelivery', () => {
      const row = this.db
        .prepare('SELECT * FROM webhook_deliveries WHERE execution_id = ?')
        .get(executionId) as DeliveryRow | undefined;
      return row ? toDelivery(row) : undefined;
    });
  }

  pendingDeliveries(): WebhookDelivery[] {
    return this.guard('pendingDeliveries', () =>
      (
        this.db
          .prepare("SELECT * FROM webhook_deliveries WHERE state = 'pending' ORDER BY next_attempt_at")
          .all() as DeliveryRow[]
      ).map(toDelivery),
    );
  }

  deleteFinishedBefore(cutoff: number): number {
    return this.guard('deleteFinishedBefore', () =>
      this.db.transaction(() => {
        // A webhook still being retried keeps its execution.
        const deleted = this.db
          .prepare(
            `DELETE FROM executions WHERE state = 'done' AND finished_at < ?
               AND id NOT IN (SELECT execution_id FROM webhook_deliveries WHERE state = 'pending')`,
          )
          .run(cutoff).changes;
        this.db
          .prepare(
            'DELETE FROM batches WHERE id NOT IN (SELECT DISTINCT batch_id FROM executions WHERE batch_id IS NOT NULL)',
          )
          .run();
        return deleted;
      })(),
    );
  }

  checkWritable(): void {
    this.guard('write check', () => {
      this.db
        .prepare(
          "INSERT INTO settings (key, value) VALUES ('last_write_check', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(String(Date.now()));
    });
  }

  getSetting(key: string): string | undefined {
    return this.guard('getSetting', () => {
      const row = this.db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as
        | { value: string }
        | undefined;
      return row?.value;
    });
  }

  setSetting(key: string, value: string): void {
    this.guard('setSetting', () => {
      this.db
        .prepare(
          'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
