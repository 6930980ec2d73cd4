import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  type Selectable,
  SqliteDialect,
  sql,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import { BoxrunError } from '../core/errors.js';
import type { ExecutionResult } from '../core/result.js';
import type {
  BatchRecord,
  ExecutionFailure,
  ExecutionRecord,
  ExecutionStore,
  ListPage,
  ListQuery,
  NewExecution,
  RecoveryReport,
  WebhookDelivery,
} from './execution-store.js';
import { migrationProvider, type StoreDialect } from './migrations.js';
import type { StoreSchema } from './schema.js';

type ExecutionRow = Selectable<StoreSchema['executions']>;
type DeliveryRow = Selectable<StoreSchema['webhook_deliveries']>;

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

function deliveryRow(d: WebhookDelivery): DeliveryRow {
  return {
    execution_id: d.executionId,
    url: d.url,
    state: d.state,
    attempts: d.attempts,
    last_status: d.lastStatus,
    last_error: d.lastError,
    next_attempt_at: d.nextAttemptAt,
    delivered_at: d.deliveredAt,
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

export interface PostgresStoreOptions {
  /** How long taking a connection may wait (a database that is down fails within it). */
  connectTimeoutMs?: number;
  /** Connections this process keeps at most. */
  poolSize?: number;
}

/** BIGINT (int8) arrives from pg as a string; our BIGINTs are millisecond times and sequence numbers. */
const pgTypes = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The PostgreSQL URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

/**
 * Execution records in SQLite (embedded, the default) or PostgreSQL (a cluster's shared store): one
 * set of queries written with Kysely, run through its SqliteDialect over better-sqlite3 or its
 * PostgresDialect over pg. The SQLite file is in WAL mode with synchronous=FULL, PostgreSQL commits
 * are durable by default: a write that returned survives a crash, and the service acknowledges only
 * after it.
 */
export class KyselyExecutionStore implements ExecutionStore {
  private closed: Promise<void> | null = null;

  private constructor(
    private readonly db: Kysely<StoreSchema>,
    readonly dialect: StoreDialect,
    /** Where the records are, for messages (no password). */
    readonly location: string,
  ) {}

  static async openSqlite(path: string, options: SqliteStoreOptions = {}): Promise<KyselyExecutionStore> {
    let sqlite: Database.Database;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      sqlite = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('synchronous = FULL');
      sqlite.pragma('foreign_keys = ON');
    } catch (error) {
      throw new BoxrunError(
        'STORE_UNAVAILABLE',
        `cannot open the store ${path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const db = new Kysely<StoreSchema>({ dialect: new SqliteDialect({ database: sqlite }) });
    return KyselyExecutionStore.migrated(new KyselyExecutionStore(db, 'sqlite', path));
  }

  static async openPostgres(url: string, options: PostgresStoreOptions = {}): Promise<KyselyExecutionStore> {
    const pool = new pg.Pool({
      connectionString: url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      max: options.poolSize ?? 10,
      types: pgTypes,
    });
    const location = redactUrl(url);
    // A connection the server closed (restart, failover, outage) must not take the process down:
    // pg emits it as an 'error' event on the client (idle or checked out) and on the pool. The
    // query in flight rejects on its own; the next one takes a new connection or fails with
    // STORE_UNAVAILABLE.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<StoreSchema>({ dialect: new PostgresDialect({ pool }) });
    return KyselyExecutionStore.migrated(new KyselyExecutionStore(db, 'postgres', location));
  }

  /** Applies the migrations this boxrun knows; refuses a database migrated by a newer boxrun. */
  private static async migrated(store: KyselyExecutionStore): Promise<KyselyExecutionStore> {
    const migrator = new Migrator({ db: store.db, provider: migrationProvider(store.dialect) });
    const { error, results } = await migrator.migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) {
      await store.close();
      const message = error instanceof Error ? error.message : `migration ${failed?.migrationName} failed`;
      throw new BoxrunError('STORE_UNAVAILABLE', `cannot open the store ${store.location}: ${message}`, {
        cause: error,
      });
    }
    return store;
  }

  /** Every statement goes through here: database errors become STORE_UNAVAILABLE. */
  private async guard<T>(what: string, fn: (db: Kysely<StoreSchema>) => Promise<T>): Promise<T> {
    if (this.closed) throw new BoxrunError('STORE_UNAVAILABLE', 'the store is closed');
    try {
      return await fn(this.db);
    } catch (error) {
      if (error instanceof BoxrunError) throw error;
      throw new BoxrunError(
        'STORE_UNAVAILABLE',
        `store: ${what} failed: ${(error as Error).message || String(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * A transaction whose failure reports the statement's or the commit's own error. SQLite rolls back
   * by itself on some errors (SQLITE_FULL: disk full, often at COMMIT in WAL mode); a ROLLBACK after
   * that fails with "no transaction is active", which must not hide the reason the caller sees.
   */
  private async transaction<T>(
    db: Kysely<StoreSchema>,
    fn: (trx: Transaction<StoreSchema>) => Promise<T>,
  ): Promise<T> {
    const trx = await db.startTransaction().execute();
    try {
      const result = await fn(trx);
      await trx.commit().execute();
      return result;
    } catch (error) {
      await trx
        .rollback()
        .execute()
        .catch(() => {});
      throw error;
    }
  }

  insert(executions: NewExecution[], batch?: BatchRecord): Promise<void> {
    return this.guard('insert', (db) =>
      this.transaction(db, async (trx) => {
        if (batch) {
          await trx
            .insertInto('batches')
            .values({ id: batch.id, caller: batch.caller, created_at: batch.createdAt, size: batch.size })
            .execute();
        }
        if (executions.length === 0) return;
        await trx
          .insertInto('executions')
          .values(
            executions.map((e) => ({
              id: e.id,
              caller: e.caller,
              batch_id: e.batchId,
              runtime: e.runtime,
              state: 'queued' as const,
              request: JSON.stringify(e.request),
              callback_url: e.callbackUrl,
              created_at: e.createdAt,
              idempotency_key: e.idempotencyKey ?? null,
            })),
          )
          .execute();
      }),
    );
  }

  get(id: string): Promise<ExecutionRecord | undefined> {
    return this.guard('get', async (db) => {
      const row = await db.selectFrom('executions').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : undefined;
    });
  }

  byIdempotencyKey(caller: string, key: string): Promise<ExecutionRecord | undefined> {
    return this.guard('byIdempotencyKey', async (db) => {
      const row = await db
        .selectFrom('executions')
        .selectAll()
        .where('caller', '=', caller)
        .where('idempotency_key', '=', key)
        .executeTakeFirst();
      return row ? toRecord(row) : undefined;
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.guard('list', async (db) => {
      let q = db.selectFrom('executions').selectAll();
      if (query.caller !== undefined) q = q.where('caller', '=', query.caller);
      if (query.state) q = q.where('state', '=', query.state);
      if (query.cursor) q = q.where('seq', '<', decodeCursor(query.cursor));
      const rows = await q
        .orderBy('seq', 'desc')
        .limit(query.limit + 1)
        .execute();
      const more = rows.length > query.limit;
      const items = rows.slice(0, query.limit).map(toRecord);
      const last = items[items.length - 1];
      return { items, nextCursor: more && last ? encodeCursor(last.seq) : null };
    });
  }

  queued(): Promise<ExecutionRecord[]> {
    return this.guard('queued', async (db) =>
      (
        await db.selectFrom('executions').selectAll().where('state', '=', 'queued').orderBy('seq').execute()
      ).map(toRecord),
    );
  }

  markRunning(id: string, at: number, options: { rerun?: boolean } = {}): Promise<number> {
    return this.guard('markRunning', async (db) => {
      const row = await db
        .updateTable('executions')
        .set((eb) => ({ state: 'running', started_at: at, attempts: eb('attempts', '+', 1) }))
        .where('id', '=', id)
        .where('state', 'in', options.rerun ? ['queued', 'running'] : ['queued'])
        .returning('attempts')
        .executeTakeFirst();
      if (!row)
        throw new BoxrunError(
          'NOT_FOUND',
          `execution ${id} is not ${options.rerun ? 'unfinished' : 'queued'}`,
        );
      return row.attempts;
    });
  }

  finish(
    id: string,
    outcome: { result: ExecutionResult } | { error: ExecutionFailure },
    at: number,
    attempt?: number,
  ): Promise<boolean> {
    return this.guard('finish', async (db) => {
      // Only an unfinished execution takes a result: a result is never written twice. With an
      // attempt, only that attempt's: a worker presumed dead whose job runs again elsewhere cannot
      // overwrite (or pre-empt) the rerun's result.
      let update = db
        .updateTable('executions')
        .set({
          state: 'done',
          result: 'result' in outcome ? JSON.stringify(outcome.result) : null,
          error: 'error' in outcome ? JSON.stringify(outcome.error) : null,
          finished_at: at,
        })
        .where('id', '=', id)
        .where('state', '!=', 'done');
      if (attempt !== undefined) update = update.where('attempts', '=', attempt);
      const done = await update.executeTakeFirst();
      return done.numUpdatedRows > 0n;
    });
  }

  requeue(id: string): Promise<void> {
    return this.guard('requeue', async (db) => {
      await db
        .updateTable('executions')
        .set({
          state: 'queued',
          started_at: null,
          attempts: sql<number>`CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END`,
        })
        .where('id', '=', id)
        .where('state', '=', 'running')
        .execute();
    });
  }

  recover(policy: 'requeue' | 'fail', at: number): Promise<RecoveryReport> {
    return this.guard('recover', (db) =>
      this.transaction(db, async (trx) => {
        const report: RecoveryReport = { requeued: [], failed: [] };
        const rows = await trx
          .selectFrom('executions')
          .select(['id', 'attempts'])
          .where('state', '=', 'running')
          .orderBy('seq')
          .execute();
        const error: ExecutionFailure = {
          code: 'INTERNAL',
          message: 'service restarted while the execution was running',
        };
        for (const row of rows) {
          // Re-queued once at most: a program that takes the service down must not do it forever.
          if (policy === 'requeue' && row.attempts < 2) {
            await trx
              .updateTable('executions')
              .set({ state: 'queued', started_at: null })
              .where('id', '=', row.id)
              .where('state', '=', 'running')
              .execute();
            report.requeued.push(row.id);
          } else {
            await trx
              .updateTable('executions')
              .set({ state: 'done', error: JSON.stringify(error), finished_at: at })
              .where('id', '=', row.id)
              .where('state', '=', 'running')
              .execute();
            report.failed.push(row.id);
          }
        }
        return report;
      }),
    );
  }

  getBatch(id: string): Promise<BatchRecord | undefined> {
    return this.guard('getBatch', async (db) => {
      const row = await db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? { id: row.id, caller: row.caller, createdAt: row.created_at, size: row.size } : undefined;
    });
  }

  batchExecutions(id: string): Promise<ExecutionRecord[]> {
    return this.guard('batchExecutions', async (db) =>
      (await db.selectFrom('executions').selectAll().where('batch_id', '=', id).orderBy('seq').execute()).map(
        toRecord,
      ),
    );
  }

  saveDelivery(d: WebhookDelivery): Promise<void> {
    return this.guard('saveDelivery', async (db) => {
      const row = deliveryRow(d);
      const { execution_id: _, ...update } = row;
      await db
        .insertInto('webhook_deliveries')
        .values(row)
        .onConflict((oc) => oc.column('execution_id').doUpdateSet(update))
        .execute();
    });
  }

  getDelivery(executionId: string): Promise<WebhookDelivery | undefined> {
    return this.guard('getDelivery', async (db) => {
      const row = await db
        .selectFrom('webhook_deliveries')
        .selectAll()
        .where('execution_id', '=', executionId)
        .executeTakeFirst();
      return row ? toDelivery(row) : undefined;
    });
  }

  pendingDeliveries(): Promise<WebhookDelivery[]> {
    return this.guard('pendingDeliveries', async (db) =>
      (
        await db
          .selectFrom('webhook_deliveries')
          .selectAll()
          .where('state', '=', 'pending')
          .orderBy('next_attempt_at')
          .execute()
      ).map(toDelivery),
    );
  }

  deleteFinishedBefore(cutoff: number): Promise<number> {
    return this.guard('deleteFinishedBefore', (db) =>
      this.transaction(db, async (trx) => {
        // A webhook still being retried keeps its execution.
        const deleted = await trx
          .deleteFrom('executions')
          .where('state', '=', 'done')
          .where('finished_at', '<', cutoff)
          .where('id', 'not in', (eb) =>
            eb.selectFrom('webhook_deliveries').select('execution_id').where('state', '=', 'pending'),
          )
          .executeTakeFirst();
        await trx
          .deleteFrom('batches')
          .where('id', 'not in', (eb) =>
            eb.selectFrom('executions').select('batch_id as id').distinct().where('batch_id', 'is not', null),
          )
          .execute();
        return Number(deleted.numDeletedRows);
      }),
    );
  }

  async checkWritable(): Promise<void> {
    await this.setSettingAs('write check', 'last_write_check', String(Date.now()));
  }

  getSetting(key: string): Promise<string | undefined> {
    return this.guard('getSetting', async (db) => {
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value;
    });
  }

  setSetting(key: string, value: string): Promise<void> {
    return this.setSettingAs('setSetting', key, value);
  }

  /** Keeps the first value written under `key` (two replicas starting at once agree on one). */
  async settingOnce(key: string, value: string): Promise<string> {
    return this.guard('settingOnce', async (db) => {
      await db
        .insertInto('settings')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
      return row?.value ?? value;
    });
  }

  private setSettingAs(what: string, key: string, value: string): Promise<void> {
    return this.guard(what, async (db) => {
      await db
        .insertInto('settings')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    });
  }

  close(): Promise<void> {
    this.closed ??= this.db.destroy();
    return this.closed;
  }
}
