import type { Logger } from 'pino';
import type { Executor, HealthReport } from '../core/executor.js';

const HEALTH_TTL_MS = 2000;
const CHECK_INTERVAL_MS = 10_000;

/**
 * The local engine's health as a worker sees it: checked every 10 s and on demand, cached for a
 * moment so a burst of /readyz calls makes one check. Admission in the same process reads the last
 * report to refuse work at once while the engine is known to be down.
 */
export class EngineHealth {
  private last: { at: number; report: HealthReport } | null = null;
  private pending: Promise<HealthReport> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly executor: Executor,
    private readonly logger: Logger,
  ) {}

  /** The last report, without checking (null before the first check ends). */
  get lastReport(): HealthReport | null {
    return this.last?.report ?? null;
  }

  /** The engine's health, cached for a moment (`fresh` forces a new check). */
  check(fresh = false): Promise<HealthReport> {
    if (!fresh && this.last && Date.now() - this.last.at < HEALTH_TTL_MS)
      return Promise.resolve(this.last.report);
    this.pending ??= this.executor
      .healthCheck()
      .then((report) => {
        const wasDown = this.last && !this.last.report.engine.reachable;
        this.last = { at: Date.now(), report };
        if (!report.engine.reachable && !wasDown)
          this.logger.warn({ error: report.engine.error }, 'engine unreachable');
        return report;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.check(true).catch(() => {});
    }, CHECK_INTERVAL_MS);
    this.timer.unref();
    this.check(true).catch(() => {});
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
