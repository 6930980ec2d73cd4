import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { Executor } from '../../core/executor.js';
import type { ExecutionStore } from '../../store/execution-store.js';
import { EngineHealth } from '../engine-health.js';
import type { ExecutionMetrics } from '../execution-metrics.js';
import { ExecutionRunner } from '../execution-runner.js';
import type { ExecutionJob } from '../job-queue.js';
import { InProcessLiveEvents } from '../live-events.js';
import { BullmqJobConsumer } from './bullmq-job-queue.js';

/** Heartbeats: one key per worker, refreshed every HEARTBEAT_MS, gone HEARTBEAT_TTL_S after its last. */
export const WORKERS_PREFIX = 'boxrun:workers:';
const HEARTBEAT_MS = 5000;
const HEARTBEAT_TTL_S = 20;

export interface WorkerHeartbeat {
  id: string;
  host: string;
  engine: string;
  running: number;
  max: number;
  pool: number | null;
  version: string;
  at: number;
}

export interface ClusterWorkerOptions {
  config: BoxrunConfig;
  executor: Executor;
  store: ExecutionStore;
  logger: Logger;
  metrics: ExecutionMetrics;
  /** What heartbeats call the engine (its DOCKER_HOST or socket). */
  engine: string;
  version: string;
  /** Shorter locks for tests (default 30 s: a dead worker's jobs run again within about that). */
  lockDurationMs?: number;
}

/**
 * A `worker` node: takes executions from the BullMQ queue and runs them on its local engine. The
 * record is read from the store (the API node wrote it before enqueueing), marked running (once
 * more if a dead worker's job stalled: attempts ≤ 2 with server.recoverRunning = requeue, else the
 * stalled job fails with WORKER_LOST), run, and its result written only if no other attempt started
 * since. SIGTERM drains: stop taking, finish what runs, exit.
 */
export class ClusterWorker {
  readonly id = `${hostname()}-${randomUUID().slice(0, 8)}`;
  private readonly consumer: BullmqJobConsumer;
  private readonly runner: ExecutionRunner;
  private readonly health: EngineHealth;
  private readonly redis: Redis;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private stopped: Promise<void> | null = null;
  private readonly stoppedForShutdown = new BoxrunError('SHUTTING_DOWN', 'the worker is shutting down');

  constructor(private readonly options: ClusterWorkerOptions) {
    const { config, store, logger } = options;
    this.health = new EngineHealth(options.executor, logger);
    this.redis = new Redis(config.cluster.redis, { maxRetriesPerRequest: 2 });
    this.runner = new ExecutionRunner({
      executor: options.executor,
      store,
      // Output is published here and dropped: live output across nodes is not wired yet.
      events: new InProcessLiveEvents(() => {}),
      logger,
      metrics: options.metrics,
      shutdownReason: this.stoppedForShutdown,
      rerunStalled: true,
      onEngineError: () => this.health.check(true).catch(() => {}),
      onFinished: () => {},
    });
    this.consumer = new BullmqJobConsumer({
      redisUrl: config.cluster.redis,
      concurrency: config.server.maxConcurrent,
      run: (job, signal) => this.run(job, signal),
      maxStalledCount: config.server.recoverRunning === 'requeue' ? 1 : 0,
      ...(options.lockDurationMs
        ? { lockDurationMs: options.lockDurationMs, stalledIntervalMs: options.lockDurationMs }
        : {}),
      onGaveUp: (job, reason) => this.gaveUp(job, reason),
      onError: (error) => logger.warn({ err: error }, 'queue error'),
    });
  }

  start(): void {
    this.health.start();
    const beat = () =>
      void this.heartbeat().catch((error) => this.options.logger.warn({ err: error }, 'heartbeat failed'));
    this.heartbeatTimer = setInterval(beat, HEARTBEAT_MS);
    this.heartbeatTimer.unref();
    beat();
  }

  private async heartbeat(): Promise<void> {
    const pool = (this.options.executor as { poolStats?: () => { size?: number } | null }).poolStats?.();
    const beat: WorkerHeartbeat = {
      id: this.id,
      host: hostname(),
      engine: this.options.engine,
      running: this.consumer.running,
      max: this.options.config.server.maxConcurrent,
      pool: pool?.size ?? null,
      version: this.options.version,
      at: Date.now(),
    };
    await this.redis.set(`${WORKERS_PREFIX}${this.id}`, JSON.stringify(beat), 'EX', HEARTBEAT_TTL_S);
  }

  private async run(job: ExecutionJob, signal: AbortSignal): Promise<void> {
    const record = await this.options.store.get(job.id);
    // Canceled (or finished by an earlier attempt) before this worker took it.
    if (!record || record.state === 'done') return;
    const ended = await this.runner.run(record, signal);
    // Stopped by a drain past its grace (the record is queued again) or not markable as running
    // (the store was unreachable): failing the job makes BullMQ queue it once more (attempts: 2).
    if (ended === 'requeued')
      throw new BoxrunError('SHUTTING_DOWN', 'stopped by a worker drain; queued again');
    if (typeof ended === 'object') throw ended.lost;
  }

  private async gaveUp(job: ExecutionJob, reason: string): Promise<void> {
    const written = await this.options.store.finish(
      job.id,
      { error: { code: 'WORKER_LOST', message: `the worker running it stopped (${reason})` } },
      Date.now(),
    );
    if (written) this.options.logger.warn({ executionId: job.id }, 'execution failed: its worker was lost');
  }

  /** The engine's health for /readyz. */
  engineHealth() {
    return this.health.check();
  }

  get running(): number {
    return this.consumer.running;
  }

  /** Readiness of a worker: engine, store and Redis reachable, not draining. */
  async readiness(): Promise<{ ready: boolean; problems: string[]; running: number; draining: boolean }> {
    const problems: string[] = [];
    const health = await this.health.check();
    problems.push(...health.problems);
    if (!health.engine.reachable) problems.push(`engine unreachable: ${health.engine.error ?? 'unknown'}`);
    await this.options.store
      .checkWritable()
      .catch((error: Error) => problems.push(`store not writable: ${error.message}`));
    await this.redis.ping().catch((error: Error) => problems.push(`redis unreachable: ${error.message}`));
    const draining = this.stopped !== null;
    if (draining) problems.push('draining');
    return { ready: problems.length === 0, problems, running: this.consumer.running, draining };
  }

  /** Drain: stop taking jobs, let running ones finish within `graceMs`, then stop them (re-queued). */
  shutdown(graceMs = this.options.config.server.shutdownGraceMs): Promise<void> {
    this.stopped ??= (async () => {
      await this.consumer.pause();
      this.health.stop();
      if (!(await this.consumer.idle(graceMs))) await this.consumer.abortRunning(this.stoppedForShutdown);
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      await this.redis.del(`${WORKERS_PREFIX}${this.id}`).catch(() => {});
      await this.consumer.close();
      await this.redis.quit().catch(() => {});
    })();
    return this.stopped;
  }
}
