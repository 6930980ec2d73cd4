import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError, type BoxrunErrorCode, isBoxrunError } from '../core/errors.js';
import type { Executor, HealthReport } from '../core/executor.js';
import { type IsolationTier, resolveIsolationTier } from '../core/isolation.js';
import type { ExecutionRequest, ExecutionRequestInput } from '../core/request.js';
import type { ExecutionResult } from '../core/result.js';
import {
  type Completion,
  InProcessLiveEvents,
  type LiveEvent,
  type LiveEvents,
} from '../executions/live-events.js';
import { FairQueue, type QueueJob } from '../queue/fair-queue.js';
import type {
  BatchRecord,
  ExecutionFailure,
  ExecutionRecord,
  ExecutionStore,
  ListPage,
  ListQuery,
  NewExecution,
} from '../store/execution-store.js';
import type { ServiceMetrics } from './metrics.js';
import { type WebhookPayload, WebhookSender } from './webhook-sender.js';

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

/** An accepted execution this process queues or runs; its events go through `LiveEvents`. */
interface LiveExecution {
  record: ExecutionRecord;
  lane: string;
}

interface Job extends QueueJob {
  caller: string;
}

export interface ReadinessReport {
  ready: boolean;
  engine: HealthReport['engine'];
  images: HealthReport['images'];
  queue: { queued: number; running: number; maxQueued: number; maxConcurrent: number };
  store: { writable: boolean; error?: string };
  draining: boolean;
  problems: string[];
  /** Worth knowing but not a reason to refuse work: low disk, running on a fallback backend. */
  warnings: string[];
}

export interface ExecutionServiceOptions {
  config: BoxrunConfig;
  executor: Executor;
  store: ExecutionStore;
  logger: Logger;
  metrics: ServiceMetrics;
  /** More readiness checks: problems make /readyz 503, warnings are only reported. */
  readinessChecks?: () => Promise<{ problems: string[]; warnings: string[] }>;
  webhookSecret: string;
  /** A webhook in another API's format (Judge0's PUT) for the executions it recognises. */
  webhookFormat?: (record: ExecutionRecord) => WebhookPayload | null;
  /** Refuses (ISOLATION_UNAVAILABLE) a tier known to be unavailable, before anything is stored. */
  assertTierAvailable?: (tier: IsolationTier) => void;
}

const ENGINE_CODES = new Set<BoxrunErrorCode>(['ENGINE_UNAVAILABLE', 'IMAGE_NOT_FOUND', 'SANDBOX_FAILED']);
const HEALTH_TTL_MS = 2000;

/** The public face of a record: what GET, lists, webhooks and SSE return. */
export function executionView(record: ExecutionRecord, extra: Record<string, unknown> = {}) {
  const verdict = record.result
    ? record.result.status
    : record.error
      ? record.error.code === 'CANCELED'
        ? 'canceled'
        : 'error'
      : null;
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: record.id,
    status: record.state,
    verdict,
    runtime: record.runtime,
    caller: record.caller,
    batchId: record.batchId,
    attempts: record.attempts,
    createdAt: iso(record.createdAt)!,
    startedAt: iso(record.startedAt),
    finishedAt: iso(record.finishedAt),
    queueWaitMs: record.startedAt === null ? null : record.startedAt - record.createdAt,
    result: record.result,
    error: record.error,
    ...extra,
  };
}

/**
 * Accepts executions (written to the store before anything is acknowledged), runs them through the
 * fair queue on the executor, records every transition, streams output to subscribers and hands
 * finished ones to the webhook sender. Knows nothing about HTTP.
 */
export class ExecutionService {
  private readonly config: BoxrunConfig;
  private readonly executor: Executor;
  private readonly store: ExecutionStore;
  private readonly logger: Logger;
  private readonly metrics: ServiceMetrics;
  private readonly readinessChecks: ExecutionServiceOptions['readinessChecks'];
  private readonly assertTierAvailable: ExecutionServiceOptions['assertTierAvailable'];
  readonly queue: FairQueue<Job>;
  private readonly webhooks: WebhookSender;
  private readonly live = new Map<string, LiveExecution>();
  private readonly events: LiveEvents;
  private readonly inflightByCaller = new Map<string, number>();
  private health: { at: number; report: HealthReport } | null = null;
  private healthPending: Promise<HealthReport> | null = null;
  private cleanupTimer: NodeJS.Timeout | null = null;
  private healthTimer: NodeJS.Timeout | null = null;
  private draining = false;
  /** Executions of submissions whose store write is in flight (they hold queue room). */
  private admitting = 0;
  private stopped: Promise<void> | null = null;
  private readonly canceledByCaller = new BoxrunError('CANCELED', 'canceled by the caller');
  private readonly stoppedForShutdown = new BoxrunError('SHUTTING_DOWN', 'the service is shutting down');

  constructor(options: ExecutionServiceOptions) {
    this.config = options.config;
    this.executor = options.executor;
    this.store = options.store;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.readinessChecks = options.readinessChecks;
    this.events = new InProcessLiveEvents((error) =>
      this.logger.warn({ err: error }, 'event listener failed'),
    );
    this.assertTierAvailable = options.assertTierAvailable;
    const server = this.config.server;
    this.queue = new FairQueue<Job>({
      maxConcurrent: server.maxConcurrent,
      maxQueued: server.maxQueued,
      run: (job, signal) => this.run(job, signal),
      onError: (job, error) => this.logger.error({ err: error, executionId: job.id }, 'queue job failed'),
    });
    this.webhooks = new WebhookSender({
      store: this.store,
      secret: options.webhookSecret,
      maxAttempts: server.webhookMaxAttempts,
      backoffMs: server.webhookBackoffMs,
      timeoutMs: server.webhookTimeoutMs,
      allowPrivate: server.allowPrivateCallbacks,
      logger: this.logger,
      metrics: this.metrics,
      payloadFor: async (id) => {
        const record = await this.get(id);
        if (!record) return null;
        return options.webhookFormat?.(record) ?? { method: 'POST', body: executionView(record) };
      },
    });
  }

  /**
   * Recovers what a previous process left: `running` ones are re-queued once or failed
   * (server.recoverRunning), `queued` ones are queued again in their original order, pending
   * webhooks resume. Then starts the retention cleanup and the engine health checks.
   */
  async start(): Promise<{ requeued: number; failed: number; queued: number; webhooks: number }> {
    const now = Date.now();
    const recovered = await this.store.recover(this.config.server.recoverRunning, now);
    for (const id of recovered.failed) {
      const record = await this.store.get(id);
      if (record) this.afterFinish(record);
    }
    const queued = await this.store.queued();
    for (const record of queued) {
      this.countInflight(record.caller, 1);
      this.track(record, { force: true });
    }
    const webhooks = await this.webhooks.resumePending();
    const report = {
      requeued: recovered.requeued.length,
      failed: recovered.failed.length,
      queued: queued.length,
      webhooks,
    };
    if (report.queued || report.failed || report.webhooks)
      this.logger.info(report, 'recovered executions from the store');
    this.cleanupTimer = setInterval(
      () => void this.cleanup(),
      this.config.server.cleanupIntervalSeconds * 1000,
    );
    this.cleanupTimer.unref();
    this.healthTimer = setInterval(() => {
      this.engineHealth(true).catch(() => {});
    }, 10_000);
    this.healthTimer.unref();
    this.engineHealth(true).catch(() => {});
    return report;
  }

  /** Deletes finished executions past the retention period; returns how many. */
  async cleanup(now = Date.now()): Promise<number> {
    const hours = this.config.server.retentionHours;
    if (hours <= 0) return 0;
    try {
      const deleted = await this.store.deleteFinishedBefore(now - hours * 3_600_000);
      if (deleted) this.logger.info({ deleted }, 'retention cleanup');
      return deleted;
    } catch (error) {
      this.logger.error({ err: error }, 'retention cleanup failed');
      return 0;
    }
  }

  private laneOf(caller: string, batchId: string | null): string {
    return batchId ? `batch:${batchId}` : `caller:${caller}`;
  }

  /** Queues a record whose caller's in-flight count already includes it. */
  private track(record: ExecutionRecord, options: { force?: boolean } = {}): void {
    const lane = this.laneOf(record.caller, record.batchId);
    this.live.set(record.id, { record, lane });
    this.events.open(record.id);
    this.queue.enqueue({ id: record.id, lane, caller: record.caller }, options);
  }

  private countInflight(caller: string, delta: number): void {
    const count = (this.inflightByCaller.get(caller) ?? 0) + delta;
    if (count > 0) this.inflightByCaller.set(caller, count);
    else this.inflightByCaller.delete(caller);
  }

  /**
   * Admission: refuses (without writing anything) when draining, the engine is known to be down,
   * the caller is over its limit or the queue has no room; otherwise writes every execution in one
   * transaction, then queues them. Rejects with STORE_UNAVAILABLE when the write fails: nothing
   * accepted. The caller's count and the queue room are reserved before the write, so concurrent
   * submissions cannot overrun them while it is in flight.
   */
  async submit(
    caller: Caller,
    items: SubmitItem[],
    batchId: string | null = null,
    idempotencyKey?: string,
  ): Promise<ExecutionRecord[]> {
    if (this.draining) throw new BoxrunError('SHUTTING_DOWN', 'the service is shutting down; retry shortly');
    const engine = this.health?.report.engine;
    if (engine && !engine.reachable) {
      throw new BoxrunError(
        'ENGINE_UNAVAILABLE',
        `container engine unavailable: ${engine.error ?? 'unreachable'}`,
      );
    }
    const inflight = this.inflightByCaller.get(caller.name) ?? 0;
    if (caller.maxConcurrent > 0 && inflight + items.length > caller.maxConcurrent) {
      throw new BoxrunError(
        'RATE_LIMITED',
        `caller ${caller.name} has ${inflight} executions queued or running; its limit is ${caller.maxConcurrent}`,
      );
    }
    if (!this.queue.hasRoom(items.length + this.admitting)) {
      throw new BoxrunError(
        'QUEUE_FULL',
        `the queue is full (${this.queue.queued} waiting, limit ${this.queue.maxQueued}); retry later`,
      );
    }
    // The tier is decided here, once, and stored with the request: a re-queued execution after a
    // restart runs on the same tier, and the record says which one was asked for.
    const policy = {
      default: this.config.isolation.default,
      min: caller.minIsolation,
      max: caller.maxIsolation,
    };
    const tiered = items.map((item) => {
      const isolation = resolveIsolationTier(item.request.isolation, policy, caller.name);
      if (!isolation) return item;
      this.assertTierAvailable?.(isolation);
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
    this.countInflight(caller.name, items.length);
    this.admitting += items.length;
    try {
      await this.store.insert(
        executions,
        batchId ? { id: batchId, caller: caller.name, createdAt: now, size: items.length } : undefined,
      );
    } catch (error) {
      this.countInflight(caller.name, -items.length);
      throw error;
    } finally {
      this.admitting -= items.length;
    }
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
      this.audit('accepted', record);
      this.track(record, { force: true });
    }
    return records;
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
    const existing = await this.store.byIdempotencyKey(caller.name, key);
    if (existing) return { record: this.live.get(existing.id)?.record ?? existing, replayed: true };
    try {
      const [record] = await this.submit(caller, [item], null, key);
      return { record: record!, replayed: false };
    } catch (error) {
      // Two submissions with one key at once: the second insert hits the unique index.
      if (!isBoxrunError(error, 'STORE_UNAVAILABLE')) throw error;
      const winner = await this.store.byIdempotencyKey(caller.name, key).catch(() => undefined);
      if (!winner) throw error;
      return { record: this.live.get(winner.id)?.record ?? winner, replayed: true };
    }
  }

  /** The current record: live (in memory) when it is queued or running, stored otherwise. */
  async get(id: string): Promise<ExecutionRecord | undefined> {
    return this.live.get(id)?.record ?? (await this.store.get(id));
  }

  getBatch(id: string): Promise<BatchRecord | undefined> {
    return this.store.getBatch(id);
  }

  /** A batch's executions, live state preferred over the stored one. */
  async batchExecutions(id: string): Promise<ExecutionRecord[]> {
    return (await this.store.batchExecutions(id)).map((r) => this.live.get(r.id)?.record ?? r);
  }

  listExecutions(query: ListQuery): Promise<ListPage> {
    return this.store.list(query);
  }

  async webhookState(id: string) {
    return (await this.store.getDelivery(id)) ?? null;
  }

  /** Resolves when the execution is done; rejects with SHUTTING_DOWN when the service stops first. */
  async waitFor(id: string): Promise<Completion> {
    const pending = this.events.completion(id);
    if (pending) return pending;
    const record = await this.store.get(id);
    if (!record) throw new BoxrunError('NOT_FOUND', `no execution ${id}`);
    const r = record.result;
    const output = r
      ? Buffer.concat([
          Buffer.from(r.stdout, r.stdoutEncoding === 'base64' ? 'base64' : 'utf8'),
          Buffer.from(r.stderr, r.stderrEncoding === 'base64' ? 'base64' : 'utf8'),
        ])
      : Buffer.alloc(0);
    return { record, output };
  }

  /**
   * Live events for a queued or running execution: what happened so far, then a listener for what
   * comes. Null when it is not live (done: the stored record is the whole story).
   */
  subscribe(
    id: string,
    listener: (event: LiveEvent) => void,
  ): { replay: LiveEvent[]; unsubscribe: () => void } | null {
    return this.events.subscribe(id, listener);
  }

  /** Cancels: a queued execution ends at once, a running one is killed; resolves with the record. */
  async cancel(id: string): Promise<ExecutionRecord | undefined> {
    const outcome = this.queue.cancel(id, this.canceledByCaller);
    if (outcome && 'removed' in outcome) {
      await this.finish(id, { error: { code: 'CANCELED', message: 'canceled before it started' } });
    } else if (outcome) {
      await outcome.stopping;
    }
    return this.get(id);
  }

  private async run(job: Job, signal: AbortSignal): Promise<void> {
    const live = this.live.get(job.id);
    if (!live) return;
    const startedAt = Date.now();
    try {
      live.record.attempts = await this.store.markRunning(job.id, startedAt);
    } catch (error) {
      // Not recorded as running: it stays queued in the store and runs after a restart.
      this.logger.error({ err: error, executionId: job.id }, 'cannot mark execution running');
      this.forget(live, error);
      return;
    }
    live.record.state = 'running';
    live.record.startedAt = startedAt;
    this.metrics.queueWait.observe((startedAt - live.record.createdAt) / 1000);
    this.events.publish(job.id, { type: 'status', status: 'running' });
    let outcome: { result: ExecutionResult } | { error: ExecutionFailure };
    try {
      const result = await this.executor.execute(live.record.request as ExecutionRequestInput, {
        signal,
        id: job.id,
        onOutput: (stream, chunk) => {
          this.events.publish(job.id, { type: 'output', stream, data: Buffer.from(chunk) });
        },
      });
      outcome = { result };
    } catch (error) {
      if (signal.aborted && signal.reason === this.stoppedForShutdown) {
        await this.requeueForShutdown(live);
        return;
      }
      const code: BoxrunErrorCode = isBoxrunError(error) ? error.code : 'INTERNAL';
      if (ENGINE_CODES.has(code)) {
        this.metrics.engineErrors.inc({ code });
        if (code === 'ENGINE_UNAVAILABLE') this.engineHealth(true).catch(() => {});
      }
      if (!isBoxrunError(error)) this.logger.error({ err: error, executionId: job.id }, 'execution failed');
      outcome = {
        error: {
          code,
          message:
            code === 'CANCELED'
              ? 'canceled by the caller'
              : isBoxrunError(error)
                ? error.message
                : 'internal error',
        },
      };
    }
    await this.finish(job.id, outcome);
  }

  private async requeueForShutdown(live: LiveExecution): Promise<void> {
    try {
      await this.store.requeue(live.record.id);
    } catch (error) {
      this.logger.error({ err: error, executionId: live.record.id }, 'cannot re-queue at shutdown');
    }
    live.record.state = 'queued';
    live.record.startedAt = null;
    this.logger.info({ executionId: live.record.id }, 'stopped by shutdown; re-queued for the next start');
  }

  private async finish(
    id: string,
    outcome: { result: ExecutionResult } | { error: ExecutionFailure },
  ): Promise<void> {
    const live = this.live.get(id);
    if (!live) return;
    const finishedAt = Date.now();
    try {
      await this.store.finish(id, outcome, finishedAt);
    } catch (error) {
      // The answer still goes to whoever waits; the store keeps it `running`, so a restart
      // re-queues or fails it according to server.recoverRunning.
      this.logger.error({ err: error, executionId: id }, 'cannot record the result');
    }
    const record = live.record;
    record.state = 'done';
    record.finishedAt = finishedAt;
    if ('result' in outcome) record.result = outcome.result;
    else record.error = outcome.error;
    this.live.delete(id);
    this.events.publish(id, { type: 'done', record });
    this.afterFinish(record);
  }

  /** Metrics, audit line, caller's count and webhook of a finished execution. */
  private afterFinish(record: ExecutionRecord): void {
    const status = executionView(record).verdict ?? 'error';
    const runtime = record.runtime ?? 'custom';
    this.metrics.executions.inc({ status, runtime });
    if (record.startedAt !== null && record.finishedAt !== null) {
      this.metrics.duration.observe({ runtime }, (record.finishedAt - record.startedAt) / 1000);
    }
    this.countInflight(record.caller, -1);
    this.audit('finished', record);
    if (record.callbackUrl) {
      this.webhooks.enqueue(record.id, record.callbackUrl).catch((error: unknown) => {
        this.logger.error({ err: error, executionId: record.id }, 'cannot schedule the webhook');
      });
    }
  }

  /** Drops a live execution without finishing it (store failure, shutdown): waiters get the error. */
  private forget(live: LiveExecution, error: unknown): void {
    this.live.delete(live.record.id);
    this.countInflight(live.record.caller, -1);
    this.events.publish(live.record.id, { type: 'closing', error });
  }

  /** One JSON line per acceptance and per outcome: who ran what with which limits. No file contents. */
  private audit(event: 'accepted' | 'finished', record: ExecutionRecord): void {
    const request = record.request as Partial<ExecutionRequest>;
    const result = record.result;
    this.logger.info(
      {
        audit: event,
        executionId: record.id,
        caller: record.caller,
        batchId: record.batchId,
        runtime: record.runtime,
        image: request.image,
        files: request.files?.length ?? 0,
        limits: request.limits,
        compileLimits: request.compileLimits,
        network: request.network,
        ...(event === 'finished'
          ? {
              verdict: executionView(record).verdict,
              exitCode: result?.exitCode ?? null,
              durationMs: result?.durationMs ?? null,
              error: record.error?.code ?? null,
              queueWaitMs: record.startedAt === null ? null : record.startedAt - record.createdAt,
            }
          : {}),
      },
      `execution ${event}`,
    );
  }

  /** The engine's health, cached for a moment (`fresh` forces a new check). */
  async engineHealth(fresh = false): Promise<HealthReport> {
    if (!fresh && this.health && Date.now() - this.health.at < HEALTH_TTL_MS) return this.health.report;
    this.healthPending ??= this.executor
      .healthCheck()
      .then((report) => {
        const wasDown = this.health && !this.health.report.engine.reachable;
        this.health = { at: Date.now(), report };
        if (!report.engine.reachable && !wasDown)
          this.logger.warn({ error: report.engine.error }, 'engine unreachable');
        return report;
      })
      .finally(() => {
        this.healthPending = null;
      });
    return this.healthPending;
  }

  async readiness(): Promise<ReadinessReport> {
    const health = await this.engineHealth();
    const problems = [...health.problems];
    let store: ReadinessReport['store'] = { writable: true };
    try {
      await this.store.checkWritable();
    } catch (error) {
      store = { writable: false, error: (error as Error).message };
      problems.push(`store not writable: ${(error as Error).message}`);
    }
    if (!this.queue.hasRoom(1)) problems.push(`queue full (${this.queue.queued} waiting)`);
    if (this.draining) problems.push('shutting down');
    const warnings: string[] = [];
    if (this.readinessChecks) {
      try {
        const extra = await this.readinessChecks();
        problems.push(...extra.problems);
        warnings.push(...extra.warnings);
      } catch (error) {
        warnings.push(`readiness check failed: ${(error as Error).message}`);
      }
    }
    return {
      ready: problems.length === 0,
      engine: health.engine,
      images: health.images,
      queue: {
        queued: this.queue.queued,
        running: this.queue.running,
        maxQueued: this.queue.maxQueued,
        maxConcurrent: this.queue.maxConcurrent,
      },
      store,
      draining: this.draining,
      problems,
      warnings,
    };
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /**
   * Graceful stop: refuse new work, let running executions finish within `graceMs`, stop and
   * re-queue (in the store) whatever still runs, tell waiters and subscribers. Queued executions
   * stay queued in the store for the next start. Idempotent.
   */
  shutdown(graceMs = this.config.server.shutdownGraceMs): Promise<void> {
    this.stopped ??= (async () => {
      this.draining = true;
      this.queue.pause();
      if (this.cleanupTimer) clearInterval(this.cleanupTimer);
      if (this.healthTimer) clearInterval(this.healthTimer);
      const idle = await this.queue.idle(graceMs);
      if (!idle) {
        this.logger.warn({ running: this.queue.running }, 'grace period over; stopping running executions');
        await this.queue.abortRunning(this.stoppedForShutdown);
      }
      for (const live of [...this.live.values()]) {
        this.forget(
          live,
          new BoxrunError(
            'SHUTTING_DOWN',
            `the service is shutting down; execution ${live.record.id} stays queued and runs after the restart`,
            { details: { id: live.record.id } },
          ),
        );
      }
      await this.webhooks.close();
    })();
    return this.stopped;
  }
}
