import type { ExecutionResult } from '../core/result.js';

/** Where an accepted execution is in its life. `done` covers results, cancellations and failures. */
export type ExecutionState = 'queued' | 'running' | 'done';
export const EXECUTION_STATES = ['queued', 'running', 'done'] as const;

/** Why an execution ended without a result (canceled, engine gone, service restarted…). */
export interface ExecutionFailure {
  code: string;
  message: string;
}

export interface ExecutionRecord {
  id: string;
  /** Insertion order; the list cursor. */
  seq: number;
  /** The API key's name, or `anonymous` when the service runs without keys. */
  caller: string;
  batchId: string | null;
  runtime: string | null;
  state: ExecutionState;
  /** How many times a run was started (a restart may start it once more). */
  attempts: number;
  /** The validated request, as it will be given to the executor. */
  request: Record<string, unknown>;
  callbackUrl: string | null;
  result: ExecutionResult | null;
  error: ExecutionFailure | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export type NewExecution = Pick<
  ExecutionRecord,
  'id' | 'caller' | 'batchId' | 'runtime' | 'request' | 'callbackUrl' | 'createdAt'
> & {
  /** The client's Idempotency-Key: one execution per caller and key. */
  idempotencyKey?: string;
};

export interface BatchRecord {
  id: string;
  caller: string;
  createdAt: number;
  size: number;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  executionId: string;
  url: string;
  state: DeliveryState;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
}

export interface ListQuery {
  caller?: string;
  state?: ExecutionState;
  limit: number;
  /** Opaque, from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface ListPage {
  items: ExecutionRecord[];
  nextCursor: string | null;
}

export interface RecoveryReport {
  requeued: string[];
  failed: string[];
}

/**
 * Execution records. Every method either completes its write durably or rejects with a BoxrunError
 * with code STORE_UNAVAILABLE, so the service acknowledges only what was written. Async because the
 * records may live in a networked database (PostgreSQL) shared by every node of a cluster.
 */
export interface ExecutionStore {
  /** All in one transaction (a batch is accepted whole or not at all). */
  insert(executions: NewExecution[], batch?: BatchRecord): Promise<void>;
  get(id: string): Promise<ExecutionRecord | undefined>;
  /** The execution a caller submitted with this Idempotency-Key. */
  byIdempotencyKey(caller: string, key: string): Promise<ExecutionRecord | undefined>;
  list(query: ListQuery): Promise<ListPage>;
  /** Queued executions, oldest first (what a start has to run). */
  queued(): Promise<ExecutionRecord[]>;
  /**
   * queued → running; resolves with the attempt number, rejects NOT_FOUND when it is not queued.
   * `rerun`: also running → running (a cluster job found stalled runs again; attempts counts it).
   */
  markRunning(id: string, at: number, options?: { rerun?: boolean }): Promise<number>;
  /**
   * Records the outcome unless one was already recorded (and, given `attempt`, unless another
   * attempt started since); resolves with whether this call wrote it.
   */
  finish(
    id: string,
    outcome: { result: ExecutionResult } | { error: ExecutionFailure },
    at: number,
    attempt?: number,
  ): Promise<boolean>;
  /** Back to queued (a shutdown stopped it mid-run). */
  requeue(id: string): Promise<void>;
  /** Executions left `running` by a process that died: re-queue (once) or fail them. */
  recover(policy: 'requeue' | 'fail', at: number): Promise<RecoveryReport>;
  getBatch(id: string): Promise<BatchRecord | undefined>;
  batchExecutions(id: string): Promise<ExecutionRecord[]>;
  saveDelivery(delivery: WebhookDelivery): Promise<void>;
  getDelivery(executionId: string): Promise<WebhookDelivery | undefined>;
  pendingDeliveries(): Promise<WebhookDelivery[]>;
  /** Deletes finished executions (and their deliveries, empty batches) finished before `cutoff`. */
  deleteFinishedBefore(cutoff: number): Promise<number>;
  /** Rejects with STORE_UNAVAILABLE when a write would fail now (for /readyz). */
  checkWritable(): Promise<void>;
  /** Small key/value settings (e.g. the generated webhook secret). */
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  /** Writes `value` unless the key has one; resolves with the value kept (first writer wins). */
  settingOnce(key: string, value: string): Promise<string>;
  /** Idempotent. */
  close(): Promise<void>;
}
