/**
 * The counters the execution lifecycle feeds. The service's Prometheus registry
 * (server/metrics.ts ServiceMetrics) implements it; the lifecycle does not know Prometheus.
 */
export interface ExecutionMetrics {
  executions: { inc(labels: { status: string; runtime: string }): void };
  duration: { observe(labels: { runtime: string }, seconds: number): void };
  queueWait: { observe(seconds: number): void };
  engineErrors: { inc(labels: { code: string }): void };
  webhookAttempts: { inc(labels: { outcome: string }): void };
}
