import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { BoxrunError } from '../../core/errors.js';
import { IdleSignal } from '../../queue/idle-signal.js';
import type {
  CancelOutcome,
  ExecutionJob,
  JobConsumer,
  JobProducer,
  QueueDepth,
  RunJob,
} from '../job-queue.js';

/** The one BullMQ queue every node of a cluster shares (keys under `boxrun:` in Redis). */
export const QUEUE_NAME = 'executions';
const PREFIX = 'boxrun';
/** Per-lane counts of jobs added and not yet ended: the fairness priority (see docs/cluster.md). */
const LANES_KEY = `${PREFIX}:lanes`;
/** Cancel requests, by execution id, for whichever worker runs it. */
const CANCEL_CHANNEL = `${PREFIX}:cancel`;
/** BullMQ's highest priority number (2^21); lanes deeper than this share the last level. */
const MAX_PRIORITY = 2_097_152;
const DEPTH_TTL_MS = 500;

function connection(url: string) {
  // BullMQ's blocking worker connection needs maxRetriesPerRequest null (it retries itself).
  return { url, maxRetriesPerRequest: null };
}

export interface BullmqProducerOptions {
  redisUrl: string;
  maxQueued: number;
  /** For depth(): the cluster's concurrency as configured (informational). */
  maxConcurrent: number;
}

/**
 * The producer side on BullMQ: one queue for the whole cluster, a job per execution (job id =
 * execution id, so adding one twice is a no-op). Fairness: a job's priority is how many jobs of its
 * lane are already pending plus one, so every lane's next job competes at the same level and lanes
 * take turns — the in-process queue's round-robin, across every worker (docs/cluster.md).
 */
export class BullmqJobProducer implements JobProducer {
  private readonly queue: Queue;
  private readonly redis: Redis;
  private events: QueueEvents | null = null;
  private depthCache: { at: number; queued: number; running: number } = { at: 0, queued: 0, running: 0 };
  private closed = false;

  constructor(private readonly options: BullmqProducerOptions) {
    this.queue = new Queue(QUEUE_NAME, { connection: connection(options.redisUrl), prefix: PREFIX });
    this.redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
  }

  /** Refreshes the cached depth (admission's room check is synchronous). */
  async refreshDepth(): Promise<QueueDepth> {
    const counts = await this.queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
    this.depthCache = {
      at: Date.now(),
      queued: (counts.wait ?? 0) + (counts.prioritized ?? 0) + (counts.delayed ?? 0),
      running: counts.active ?? 0,
    };
    return this.depth();
  }

  hasRoom(count: number): boolean {
    if (Date.now() - this.depthCache.at > DEPTH_TTL_MS) this.refreshDepth().catch(() => {});
    return this.depthCache.queued + count <= this.options.maxQueued;
  }

  async add(job: ExecutionJob): Promise<void> {
    const pending = await this.redis.hincrby(LANES_KEY, job.lane, 1);
    await this.queue.add('execution', job, {
      jobId: job.id,
      priority: Math.min(pending, MAX_PRIORITY),
      // A job fails (and is retried once) only when a drain stopped it or the store refused it; an
      // execution's own failures are results, not job failures.
      attempts: 2,
      removeOnComplete: true,
      removeOnFail: { count: 1000 },
    });
    this.depthCache.queued++;
  }

  async cancel(id: string, reason: unknown): Promise<CancelOutcome> {
    const job = await this.queue.getJob(id);
    if (!job) return null;
    const state = await job.getState();
    if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
      try {
        await job.remove();
        await releaseLane(this.redis, (job.data as ExecutionJob).lane);
        return { removed: true };
      } catch {
        // Taken by a worker meanwhile (a locked job cannot be removed): stop it there instead.
      }
    }
    if (state === 'completed' || state === 'failed') return null;
    await this.redis.publish(CANCEL_CHANNEL, JSON.stringify({ id, reason: String(reason) }));
    this.events ??= new QueueEvents(QUEUE_NAME, {
      connection: connection(this.options.redisUrl),
      prefix: PREFIX,
    });
    const events = this.events;
    return {
      stopping: job.waitUntilFinished(events, 30_000).then(
        () => undefined,
        () => undefined,
      ),
    };
  }

  depth(): QueueDepth {
    return {
      queued: this.depthCache.queued,
      running: this.depthCache.running,
      maxQueued: this.options.maxQueued,
      maxConcurrent: this.options.maxConcurrent,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.queue.close(), this.events?.close(), this.redis.quit()]);
  }
}

async function releaseLane(redis: Redis, lane: string): Promise<void> {
  const left = await redis.hincrby(LANES_KEY, lane, -1);
  // A lane with nothing pending starts over; a negative count (a stalled job's lane counted twice) too.
  if (left <= 0) await redis.hdel(LANES_KEY, lane);
}

export interface BullmqConsumerOptions {
  redisUrl: string;
  /** Jobs this worker runs at once (its server.max_concurrent). */
  concurrency: number;
  run: RunJob;
  /**
   * A worker holds a lock on each job it runs, renewed every lockDurationMs/2; a job whose lock
   * lapsed (its worker died) is found by another worker's stalled check and queued again.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Times a job may be found stalled and run again (1: attempts ≤ 2; 0: fail it at once). */
  maxStalledCount: number;
  /** A job given up on after stalling too often: record its failure. */
  onGaveUp: (job: ExecutionJob, reason: string) => Promise<void>;
  onError: (error: unknown) => void;
}

/** The worker side on BullMQ: takes jobs (highest priority first) and runs them with `run`. */
export class BullmqJobConsumer implements JobConsumer {
  private readonly worker: Worker;
  private readonly subscriber: Redis;
  private readonly redis: Redis;
  private readonly events: QueueEvents;
  /** To read a given-up job's data (its lane). */
  private readonly queue: Queue;
  private readonly active = new Map<string, AbortController>();
  private readonly idleSignal = new IdleSignal();
  private closed: Promise<void> | null = null;

  constructor(private readonly options: BullmqConsumerOptions) {
    const conn = connection(options.redisUrl);
    this.redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
    this.subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    this.subscriber.subscribe(CANCEL_CHANNEL).catch(options.onError);
    this.subscriber.on('message', (_channel, message: string) => {
      try {
        const { id, reason } = JSON.parse(message) as { id: string; reason: string };
        this.active.get(id)?.abort(new BoxrunError('CANCELED', reason));
      } catch (error) {
        options.onError(error);
      }
    });
    this.worker = new Worker(QUEUE_NAME, (job: Job) => this.process(job), {
      connection: conn,
      prefix: PREFIX,
      concurrency: options.concurrency,
      lockDuration: options.lockDurationMs ?? 30_000,
      stalledInterval: options.stalledIntervalMs ?? 30_000,
      maxStalledCount: options.maxStalledCount,
    });
    this.worker.on('error', options.onError);
    // A job failed by the stalled check never reaches a processor: whoever hears it records it.
    // Every worker hears it; the store's conditional write keeps the first one only.
    this.events = new QueueEvents(QUEUE_NAME, { connection: conn, prefix: PREFIX });
    this.queue = new Queue(QUEUE_NAME, { connection: conn, prefix: PREFIX });
    this.events.on('failed', ({ jobId, failedReason }) => {
      void this.gaveUp(jobId, failedReason);
    });
  }

  private async gaveUp(jobId: string, reason: string): Promise<void> {
    if (!/stalled/i.test(reason)) return;
    try {
      const job = await Job.fromId(this.queue, jobId);
      const data = (job?.data as ExecutionJob | undefined) ?? { id: jobId, lane: '', caller: '' };
      if (data.lane) await releaseLane(this.redis, data.lane);
      await this.options.onGaveUp(data, reason);
    } catch (error) {
      this.options.onError(error);
    }
  }

  private async process(job: Job): Promise<void> {
    const data = job.data as ExecutionJob;
    const controller = new AbortController();
    this.active.set(data.id, controller);
    try {
      await this.options.run(data, controller.signal);
    } finally {
      this.active.delete(data.id);
      await releaseLane(this.redis, data.lane).catch(this.options.onError);
      if (this.active.size === 0) this.idleSignal.notify();
    }
  }

  /** Jobs running here now. */
  get running(): number {
    return this.active.size;
  }

  async pause(): Promise<void> {
    // Stop fetching; the running jobs go on (their locks are still renewed).
    await this.worker.pause(true);
  }

  idle(timeoutMs: number): Promise<boolean> {
    return this.idleSignal.wait(this.active.size === 0, timeoutMs);
  }

  async abortRunning(reason: unknown): Promise<void> {
    for (const controller of this.active.values()) controller.abort(reason);
    await this.idle(60_000);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.worker.close();
      await Promise.allSettled([
        this.events.close(),
        this.queue.close(),
        this.subscriber.quit(),
        this.redis.quit(),
      ]);
    })();
    return this.closed;
  }
}
