import { Gauge, type Registry } from 'prom-client';

/** Metric names this module adds; the Grafana dashboard test checks against them too. */
export const BACKEND_METRIC_NAMES = [
  'boxrun_executor_fallbacks_total',
  'boxrun_executor_degraded',
  'boxrun_engine_disk_bytes',
  'boxrun_engine_disk_budget_bytes',
  'boxrun_state_dir_free_bytes',
] as const;

export interface BackendMetricSources {
  /** SelectingExecutor.fallbackCount */
  fallbackCount?: () => number;
  /** SelectingExecutor.status().degraded */
  degraded?: () => boolean;
  /** The last diskStatus() (refreshed by the caller, e.g. with /readyz); read at scrape time. */
  disk?: () => { engineBytes: number | null; budgetBytes: number; freeBytes: number | null } | null;
}

/**
 * Executor selection and disk hygiene as Prometheus gauges on the service's registry, read at
 * scrape time: `registerBackendMetrics(metrics.registry, { fallbackCount: () => sel.fallbackCount(), … })`.
 */
export function registerBackendMetrics(registry: Registry, sources: BackendMetricSources): void {
  const registers = [registry];
  const gauge = (name: (typeof BACKEND_METRIC_NAMES)[number], help: string, read: () => number | null) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const v = read();
        if (v !== null) this.set(v);
      },
    });
  gauge('boxrun_executor_fallbacks_total', 'Times executions moved down the executor fallback chain', () =>
    sources.fallbackCount ? sources.fallbackCount() : 0,
  );
  gauge('boxrun_executor_degraded', '1 while executions run on a fallback executor', () =>
    sources.degraded?.() ? 1 : 0,
  );
  gauge(
    'boxrun_engine_disk_bytes',
    'Engine disk use: image layers, build cache, volumes (/system/df)',
    () => sources.disk?.()?.engineBytes ?? null,
  );
  gauge(
    'boxrun_engine_disk_budget_bytes',
    'Configured hygiene budget (0 = no pruning)',
    () => sources.disk?.()?.budgetBytes ?? null,
  );
  gauge(
    'boxrun_state_dir_free_bytes',
    "Free bytes on the state dir's filesystem",
    () => sources.disk?.()?.freeBytes ?? null,
  );
}
