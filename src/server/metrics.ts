import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface PoolSample {
  warm: number;
  busy: number;
  hits: number;
  misses: number;
  hitRatio?: number | null;
  recycled?: number;
  resetFailures?: number;
  retired?: number;
  replenishMs: { last: number | null };
}

/** The service's Prometheus metrics, on a registry of its own (several apps may live in one process). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly executions: Counter<'status' | 'runtime'>;
  readonly duration: Histogram<'runtime'>;
  readonly queueWait: Histogram;
  readonly queueDepth: Gauge;
  readonly running: Gauge;
  readonly poolSize: Gauge;
  readonly engineErrors: Counter<'code'>;
  readonly webhookAttempts: Counter<'outcome'>;
  readonly httpResponses: Counter<'route' | 'status'>;

  constructor(sample: {
    queued: () => number;
    running: () => number;
    /** The executor's warm pool, when it has one (DockerExecutor.poolStats). */
    pool?: () => PoolSample | null;
  }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'boxrun_process_' });
    this.executions = new Counter({
      name: 'boxrun_executions_total',
      help: 'Finished executions by status (verdict, canceled or error) and runtime',
      labelNames: ['status', 'runtime'],
      registers,
    });
    this.duration = new Histogram({
      name: 'boxrun_execution_duration_seconds',
      help: 'Wall time from start of the run to its result, by runtime',
      labelNames: ['runtime'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'boxrun_queue_wait_seconds',
      help: 'Time from acceptance to start',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'boxrun_queue_depth',
      help: 'Executions waiting for a slot',
      registers,
      collect() {
        this.set(sample.queued());
      },
    });
    this.running = new Gauge({
      name: 'boxrun_executions_running',
      help: 'Executions running now',
      registers,
      collect() {
        this.set(sample.running());
      },
    });
    this.poolSize = new Gauge({
      name: 'boxrun_pool_size',
      help: 'Warm sandboxes ready (0 without a warm pool)',
      registers,
      collect() {
        this.set(sample.pool?.()?.warm ?? 0);
      },
    });
    new Gauge({
      name: 'boxrun_pool_busy',
      help: 'Warm sandboxes handed out and not yet destroyed',
      registers,
      collect() {
        this.set(sample.pool?.()?.busy ?? 0);
      },
    });
    new Gauge({
      name: 'boxrun_pool_replenish_seconds',
      help: 'How long the last warm sandbox took to create and start',
      registers,
      collect() {
        const last = sample.pool?.()?.replenishMs.last;
        if (last !== null && last !== undefined) this.set(last / 1000);
      },
    });
    // The pool counts since its start; these counters follow it at scrape time.
    const poolCounter = (name: string, help: string, read: (p: PoolSample) => number) => {
      let seen = 0;
      return new Counter({
        name,
        help,
        registers,
        collect() {
          const pool = sample.pool?.();
          const now = pool ? read(pool) : seen;
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    poolCounter('boxrun_pool_hits_total', 'Executions that got a warm sandbox', (p) => p.hits);
    poolCounter(
      'boxrun_pool_misses_total',
      'Executions that fell back to a one-shot sandbox',
      (p) => p.misses,
    );
    new Gauge({
      name: 'boxrun_pool_hit_ratio',
      help: 'Share of pooled executions that got a warm sandbox since the pool started',
      registers,
      collect() {
        const ratio = sample.pool?.()?.hitRatio;
        if (ratio !== null && ratio !== undefined) this.set(ratio);
      },
    });
    poolCounter(
      'boxrun_pool_recycled_total',
      'Warm sandboxes reset, proven clean and put back after a job',
      (p) => p.recycled ?? 0,
    );
    poolCounter(
      'boxrun_pool_reset_failures_total',
      'Warm sandboxes destroyed because the reset after a job failed',
      (p) => p.resetFailures ?? 0,
    );
    poolCounter(
      'boxrun_pool_retired_total',
      'Recycled sandboxes replaced after pool.max_uses jobs or pool.max_age seconds',
      (p) => p.retired ?? 0,
    );
    this.engineErrors = new Counter({
      name: 'boxrun_engine_errors_total',
      help: 'Executions that failed because of the engine or the images, by error code',
      labelNames: ['code'],
      registers,
    });
    this.webhookAttempts = new Counter({
      name: 'boxrun_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (delivered, retry, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.httpResponses = new Counter({
      name: 'boxrun_http_responses_total',
      help: 'HTTP responses by route and status code',
      labelNames: ['route', 'status'],
      registers,
    });
  }
}
