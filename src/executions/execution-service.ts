import type { Logger } from 'pino';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { Executor, HealthReport } from '../core/executor.js';
import type { IsolationTier } from '../core/isolation.js';
import type { ExecutionRequest } from '../core/request.js';
import type {
  BatchRecord,
  ExecutionRecord,
  ExecutionStore,
  ListPage,
  ListQuery,
} from '../store/execution-store.js';
import { Admission, type Caller, laneOf, type SubmitItem } from './admission.js';
import { InProcessCallerSlots } from './caller-slots.js';
import { EngineHealth } from './engine-health.js';
import type { ExecutionMetrics } from './execution-metrics.js';
import { ExecutionRunner } from './execution-runner.js';
import { executionView } from './execution-view.js';
import { InProcessJobQueue } from './in-process-job-queue.js';
import type { ExecutionJob, QueueDepth } from './job-queue.js';
import { type Completion, InProcessLiveEvents, type LiveEvent, type LiveEvents } from './live-events.js';
import { type WebhookPayload, WebhookSender } from './webhook-sender.js';

export type { Caller, SubmitItem } from './admission.js';
export { executionView } from './execution-view.js';

export interface ReadinessReport {
  ready: boolean;
  engine: HealthReport['engine'];
  images: HealthReport['images'];
  queue: QueueDepth;
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
  metrics: ExecutionMetrics;
  /** More readiness checks: problems make /readyz 503, warnings are only reported. */
  readinessChecks?: () => Promise<{ problems: string[]; warnings: string[] }>;
  webhookSecret: string;
  /** A webhook in another API's format (Judge0's PUT) for the executions it recognises. */
  webhookFormat?: (record: ExecutionRecord) => WebhookPayload | null;
  /** Refuses (ISOLATION_UNAVAILABLE) a tier known to be unavailable, before anything is stored. */
  assertTierAvailable?: (tier: IsolationTier) => void;
}

/**
 * The embedded execution lifecycle: admission (the producer), the fair queue, the runner (the
 * worker side), live events, engine health and readiness, retention and webhooks, all in one
 * process. Every accepted execution is written to the store before anything is acknowledged, every
 * transition is recorded. Knows nothing about HTTP.
 */
export class ExecutionService {
  private readonly config: BoxrunConfig;
  private readonly store: ExecutionStore;
  private readonly logger: Logger;
  private readonly metrics: ExecutionMetrics;
  private readonly readinessChecks: ExecutionServiceOptions['readinessChecks'];
  private readonly queue: InProcessJobQueue;
  private readonly admission: Admission;
  private readonly runner: ExecutionRunner;
  private readonly health: EngineHealth;
  private readonly slots = new InProcessCallerSlots();
  private readonly webhooks: WebhookSender;
  /** Queued and running executions of this process, updated in place as they move. */
  private readonly live = new Map<string, ExecutionRecord>();
  private readonly events: LiveEvents;
  private cleanupTimer: NodeJS.Timeout | null = null;
  private draining = false;
  private stopped: Promise<void> | null = null;
  private readonly canceledByCaller = new BoxrunError('CANCELED', 'canceled by the caller');
  private readonly stoppedForShutdown = new BoxrunError('SHUTTING_DOWN', 'the service is shutting down');

  constructor(options: ExecutionServiceOptions) {
    this.config = options.config;
    this.store = options.store;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.readinessChecks = options.readinessChecks;
    this.events = new InProcessLiveEvents((error) =>
      this.logger.warn({ err: error }, 'event listener failed'),
    );
    this.health = new EngineHealth(options.executor, this.logger);
    const server = this.config.server;
    this.queue = new InProcessJobQueue({
      maxConcurrent: server.maxConcurrent,
      maxQueued: server.maxQueued,
      run: (job, signal) => this.run(job, signal),
      onError: (job, error) => this.logger.error({ err: error, executionId: job.id }, 'queue job failed'),
    });
    this.admission = new Admission({
      config: this.config,
      store: this.store,
      producer: this.queue,
      slots: this.slots,
      isDraining: () => this.draining,
      engineReport: () => this.health.lastReport,
      assertTierAvailable: options.assertTierAvailable,
      onAccepted: (record) => {
        this.audit('accepted', record);
        this.track(record);
      },
      current: (record) => this.live.get(record.id) ?? record,
    });
    this.runner = new ExecutionRunner({
      executor: options.executor,
      store: this.store,
      events: this.events,
      logger: this.logger,
      metrics: this.metrics,
      shutdownReason: this.stoppedForShutdown,
      onEngineError: () => this.health.check(true).catch(() => {}),
      onFinished: (record) => {
        this.live.delete(record.id);
        this.afterFinish(record);
      },
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
      this.slots.take(record.caller, 1, 0);
      this.track(record);
      await this.queue.add({ id: record.id, lane: laneOf(record), caller: record.caller });
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
    this.health.start();
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

  /** Makes a record live (its events open) before its job is queued. */
  private track(record: ExecutionRecord): void {
    this.live.set(record.id, record);
    this.events.open(record.id);
  }

  submit(caller: Caller, items: SubmitItem[], batchId: string | null = null, idempotencyKey?: string) {
    return this.admission.submit(caller, items, batchId, idempotencyKey);
  }

  submitIdempotent(caller: Caller, item: SubmitItem, key: string) {
    return this.admission.submitIdempotent(caller, item, key);
  }

  /** The current record: live (in memory) when it is queued or running, stored otherwise. */
  async get(id: string): Promise<ExecutionRecord | undefined> {
    return this.live.get(id) ?? (await this.store.get(id));
  }

  getBatch(id: string): Promise<BatchRecord | undefined> {
    return this.store.getBatch(id);
  }

  /** A batch's executions, live state preferred over the stored one. */
  async batchExecutions(id: string): Promise<ExecutionRecord[]> {
    return (await this.store.batchExecutions(id)).map((r) => this.live.get(r.id) ?? r);
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
    const outcome = await this.queue.cancel(id, this.canceledByCaller);
    const record = this.live.get(id);
    if (outcome && 'removed' in outcome) {
      if (record)
        await this.runner.finish(record, {
          error: { code: 'CANCELED', message: 'canceled before it started' },
        });
    } else if (outcome) {
      await outcome.stopping;
    }
    return this.get(id);
  }

  private async run(job: ExecutionJob, signal: AbortSignal): Promise<void> {
    const record = this.live.get(job.id);
    if (!record) return;
    const ended = await this.runner.run(record, signal);
    // Not recorded as running: it stays queued in the store and runs after a restart.
    if (typeof ended === 'object') this.forget(record, ended.lost);
  }

  /** Metrics, audit line, caller's count and webhook of a finished execution. */
  private afterFinish(record: ExecutionRecord): void {
    const status = executionView(record).verdict ?? 'error';
    const runtime = record.runtime ?? 'custom';
    this.metrics.executions.inc({ status, runtime });
    if (record.startedAt !== null && record.finishedAt !== null) {
      this.metrics.duration.observe({ runtime }, (record.finishedAt - record.startedAt) / 1000);
    }
    this.slots.release(record.caller, 1);
    this.audit('finished', record);
    if (record.callbackUrl) {
      this.webhooks.enqueue(record.id, record.callbackUrl).catch((error: unknown) => {
        this.logger.error({ err: error, executionId: record.id }, 'cannot schedule the webhook');
      });
    }
  }

  /** Drops a live execution without finishing it (store failure, shutdown): waiters get the error. */
  private forget(record: ExecutionRecord, error: unknown): void {
    this.live.delete(record.id);
    this.slots.release(record.caller, 1);
    this.events.publish(record.id, { type: 'closing', error });
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
  engineHealth(fresh = false): Promise<HealthReport> {
    return this.health.check(fresh);
  }

  /** Queued and running executions and their limits, on this node. */
  queueDepth(): QueueDepth {
    return this.queue.depth();
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
    const queue = this.queue.depth();
    if (!this.queue.hasRoom(1)) problems.push(`queue full (${queue.queued} waiting)`);
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
      queue,
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
      await this.queue.pause();
      if (this.cleanupTimer) clearInterval(this.cleanupTimer);
      this.health.stop();
      const idle = await this.queue.idle(graceMs);
      if (!idle) {
        this.logger.warn(
          { running: this.queue.depth().running },
          'grace period over; stopping running executions',
        );
        await this.queue.abortRunning(this.stoppedForShutdown);
      }
      for (const record of [...this.live.values()]) {
        this.forget(
          record,
          new BoxrunError(
            'SHUTTING_DOWN',
            `the service is shutting down; execution ${record.id} stays queued and runs after the restart`,
            { details: { id: record.id } },
          ),
        );
      }
      await this.webhooks.close();
    })();
    return this.stopped;
  }
}
