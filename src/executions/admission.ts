import { randomUUID } from 'node:crypto';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError, isBoxrunError } from '../core/errors.js';
import type { HealthReport } from '../core/executor.js';
import { type IsolationTier, resolveIsolationTier } from '../core/isolation.js';
import type { ExecutionRequest } from '../core/request.js';
import type { ExecutionRecord, ExecutionStore, NewExecution } from '../store/execution-store.js';
import type { CallerSlots } from './caller-slots.js';
import type { JobProducer } from './job-queue.js';

/** Who is asking: the API key's name (or `anonymous`) and that key's limits. */
export interface Caller {
  name: string;
  /** Queued + running executions allowed at once; 0 = only the global limits. */
  maxConcurrent: number;
  /** Floor and ceiling of the isolation tier this caller's requests run with. */
  minIsolation?: IsolationTier | undefined;
  maxIsolation?: IsolationTier | undefined;
}

export interface SubmitItem {
  request: ExecutionRequest;
  callbackUrl: string | null;
}

export interface AdmissionOptions {
  config: BoxrunConfig;
  store: ExecutionStore;
  producer: JobProducer;
  slots: CallerSlots;
  /** True while the node stops: nothing new is accepted. */
  isDraining: () => boolean;
  /** The engine's last known health, when this node has an engine (null: unknown or none). */
  engineReport: () => HealthReport | null;
  /** Refuses (ISOLATION_UNAVAILABLE) a tier known to be unavailable, before anything is stored. */
  assertTierAvailable?: ((tier: IsolationTier) => void) | undefined;
  /** Called for each accepted record (written to the store) just before it is added to the queue. */
  onAccepted: (record: ExecutionRecord) => void;
  /** The freshest copy of a record this node holds (a live one), for a replayed submission. */
  current: (record: ExecutionRecord) => ExecutionRecord;
}

/**
 * The producer side of the lifecycle: checks a submission against the node's state and the caller's
 * limits, writes it to the store, and only then hands it to the queue. Nothing is acknowledged that
 * is not written; nothing is written that was refused.
 */
export class Admission {
  /** Executions of submissions whose store write is in flight (they hold queue room). */
  private admitting = 0;

  constructor(private readonly options: AdmissionOptions) {}

  /**
   * Refuses (without writing anything) when draining, the engine is known to be down, the caller is
   * over its limit or the queue has no room; otherwise writes every execution in one transaction,
   * then queues them. Rejects with STORE_UNAVAILABLE when the write fails: nothing accepted. The
   * caller's slots and the queue room are reserved before the write, so concurrent submissions
   * cannot overrun them while it is in flight.
   */
  async submit(
    caller: Caller,
    items: SubmitItem[],
    batchId: string | null = null,
    idempotencyKey?: string,
  ): Promise<ExecutionRecord[]> {
    const { config, store, producer, slots } = this.options;
    if (this.options.isDraining())
      throw new BoxrunError('SHUTTING_DOWN', 'the service is shutting down; retry shortly');
    const engine = this.options.engineReport()?.engine;
    if (engine && !engine.reachable) {
      throw new BoxrunError(
        'ENGINE_UNAVAILABLE',
        `container engine unavailable: ${engine.error ?? 'unreachable'}`,
      );
    }
    const slot = slots.take(caller.name, items.length, caller.maxConcurrent);
    if (!slot.taken) {
      throw new BoxrunError(
        'RATE_LIMITED',
        `caller ${caller.name} has ${slot.held} executions queued or running; its limit is ${caller.maxConcurrent}`,
      );
    }
    let written = false;
    try {
      if (!producer.hasRoom(items.length + this.admitting)) {
        const depth = producer.depth();
        throw new BoxrunError(
          'QUEUE_FULL',
          `the queue is full (${depth.queued} waiting, limit ${depth.maxQueued}); retry later`,
        );
      }
      // The tier is decided here, once, and stored with the request: a re-queued execution after a
      // restart runs on the same tier, and the record says which one was asked for.
      const policy = {
        default: config.isolation.default,
        min: caller.minIsolation,
        max: caller.maxIsolation,
      };
      const tiered = items.map((item) => {
        const isolation = resolveIsolationTier(item.request.isolation, policy, caller.name);
        if (!isolation) return item;
        this.options.assertTierAvailable?.(isolation);
        return { ...item, request: { ...item.request, isolation } };
      });
      const now = Date.now();
      const executions: NewExecution[] = tiered.map((item) => ({
        id: randomUUID(),
        caller: caller.name,
        batchId,
        runtime: item.request.runtime ?? null,
        request: item.request as unknown as Record<string, unknown>,
        callbackUrl: item.callbackUrl,
        createdAt: now,
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      }));
      this.admitting += items.length;
      try {
        await store.insert(
          executions,
          batchId ? { id: batchId, caller: caller.name, createdAt: now, size: items.length } : undefined,
        );
      } finally {
        this.admitting -= items.length;
      }
      written = true;
      const records = executions.map(
        (e): ExecutionRecord => ({
          ...e,
          seq: 0,
          state: 'queued',
          attempts: 0,
          result: null,
          error: null,
          startedAt: null,
          finishedAt: null,
        }),
      );
      for (const record of records) {
        this.options.onAccepted(record);
        await producer.add({ id: record.id, lane: laneOf(record), caller: record.caller });
      }
      return records;
    } finally {
      if (!written) slots.release(caller.name, items.length);
    }
  }

  /**
   * One execution under the client's Idempotency-Key: a retry with the same key (to this or another
   * node sharing the store) gets the first submission's execution instead of a second run.
   */
  async submitIdempotent(
    caller: Caller,
    item: SubmitItem,
    key: string,
  ): Promise<{ record: ExecutionRecord; replayed: boolean }> {
    const { store, current } = this.options;
    const existing = await store.byIdempotencyKey(caller.name, key);
    if (existing) return { record: current(existing), replayed: true };
    try {
      const [record] = await this.submit(caller, [item], null, key);
      return { record: record!, replayed: false };
    } catch (error) {
      // Two submissions with one key at once: the second insert hits the unique index.
      if (!isBoxrunError(error, 'STORE_UNAVAILABLE')) throw error;
      const winner = await store.byIdempotencyKey(caller.name, key).catch(() => undefined);
      if (!winner) throw error;
      return { record: current(winner), replayed: true };
    }
  }
}

/** Fairness lanes: a caller's single requests form one, every batch its own. */
export function laneOf(record: Pick<ExecutionRecord, 'caller' | 'batchId'>): string {
  return record.batchId ? `batch:${record.batchId}` : `caller:${record.caller}`;
}
