import { join } from 'node:path';
import type { BoxrunConfig } from '../config/config.js';
import { KyselyExecutionStore } from './kysely-execution-store.js';

/** The embedded store's file: server.dbPath, or boxrun.db in the state directory. */
export function storePath(config: BoxrunConfig): string {
  return config.server.dbPath || join(config.stateDir, 'boxrun.db');
}

/** The configured store, migrated to this boxrun's schema: PostgreSQL when store.url is set, SQLite otherwise. */
export function openExecutionStore(config: BoxrunConfig): Promise<KyselyExecutionStore> {
  const { url, connectTimeoutMs, poolSize } = config.store;
  return url
    ? KyselyExecutionStore.openPostgres(url, { connectTimeoutMs, poolSize })
    : KyselyExecutionStore.openSqlite(storePath(config));
}
