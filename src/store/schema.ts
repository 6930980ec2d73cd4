import type { Generated } from 'kysely';
import type { DeliveryState, ExecutionState } from './execution-store.js';

/** The tables as Kysely sees them. JSON columns are TEXT in both databases (one query text for both). */
export interface StoreSchema {
  executions: {
    seq: Generated<number>;
    id: string;
    caller: string;
    batch_id: string | null;
    runtime: string | null;
    state: ExecutionState;
    attempts: Generated<number>;
    request: string;
    callback_url: string | null;
    result: string | null;
    error: string | null;
    created_at: number;
    started_at: number | null;
    finished_at: number | null;
    idempotency_key: string | null;
  };
  batches: {
    id: string;
    caller: string;
    created_at: number;
    size: number;
  };
  webhook_deliveries: {
    execution_id: string;
    url: string;
    state: DeliveryState;
    attempts: number;
    last_status: number | null;
    last_error: string | null;
    next_attempt_at: number | null;
    delivered_at: number | null;
  };
  settings: { key: string; value: string };
}
