import { type Kysely, type Migration, type MigrationProvider, sql } from 'kysely';

export type StoreDialect = 'sqlite' | 'postgres';

/**
 * Versioned schema changes, applied in name order at every start (Kysely's Migrator records them in
 * `kysely_migration` and, on PostgreSQL, serialises concurrent starts with an advisory lock). Append
 * new ones; never edit one that shipped. `001` uses IF NOT EXISTS throughout because SQLite databases
 * made before migrations existed already hold exactly that schema: they migrate by being adopted.
 */
export function migrations(dialect: StoreDialect): Record<string, Migration> {
  return {
    '001_initial': {
      async up(db: Kysely<unknown>) {
        // Millisecond timestamps overflow a 32-bit integer: BIGINT (INTEGER affinity in SQLite).
        await db.schema
          .createTable('executions')
          .ifNotExists()
          .addColumn('seq', dialect === 'sqlite' ? sql`integer` : 'bigserial', (c) =>
            dialect === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey(),
          )
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('caller', 'text', (c) => c.notNull())
          .addColumn('batch_id', 'text')
          .addColumn('runtime', 'text')
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('request', 'text', (c) => c.notNull())
          .addColumn('callback_url', 'text')
          .addColumn('result', 'text')
          .addColumn('error', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'bigint')
          .addColumn('finished_at', 'bigint')
          .execute();
        const index = (name: string) => db.schema.createIndex(name).ifNotExists().on('executions');
        await index('executions_state').columns(['state', 'seq']).execute();
        await index('executions_caller').columns(['caller', 'seq']).execute();
        await index('executions_batch').column('batch_id').execute();
        await index('executions_finished')
          .column('finished_at')
          .where(sql.ref('state'), '=', 'done')
          .execute();
        await db.schema
          .createTable('batches')
          .ifNotExists()
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('caller', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('size', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('webhook_deliveries')
          .ifNotExists()
          .addColumn('execution_id', 'text', (c) =>
            c.primaryKey().references('executions.id').onDelete('cascade'),
          )
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_status', 'integer')
          .addColumn('last_error', 'text')
          .addColumn('next_attempt_at', 'bigint')
          .addColumn('delivered_at', 'bigint')
          .execute();
        await db.schema
          .createIndex('webhook_pending')
          .ifNotExists()
          .on('webhook_deliveries')
          .column('state')
          .execute();
        await db.schema
          .createTable('settings')
          .ifNotExists()
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}

/** `002`: a client's Idempotency-Key, unique per caller (NULLs never collide). */
const idempotencyKeys: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('executions').addColumn('idempotency_key', 'text').execute();
    await db.schema
      .createIndex('executions_idempotency')
      .unique()
      .on('executions')
      .columns(['caller', 'idempotency_key'])
      .execute();
  },
};

export function migrationProvider(dialect: StoreDialect): MigrationProvider {
  return {
    getMigrations: async () => ({ ...migrations(dialect), '002_idempotency_key': idempotencyKeys }),
  };
}
