import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../server/metrics.js';
import { BACKEND_METRIC_NAMES, registerBackendMetrics } from './backend-metrics.js';

/** Every metric the dashboard queries, with histogram/counter suffixes mapped to the family name. */
function referencedMetrics(): string[] {
  const dashboard = JSON.parse(
    readFileSync(new URL('../../deploy/grafana/boxrun.json', import.meta.url), 'utf8'),
  ) as { panels: { targets: { expr: string }[] }[] };
  const names = new Set<string>();
  for (const panel of dashboard.panels)
    for (const t of panel.targets) for (const m of t.expr.match(/\bboxrun_[a-z0-9_]+/g) ?? []) names.add(m);
  return [...names];
}

describe('Grafana dashboard deploy/grafana/boxrun.json', () => {
  it('references only metrics that exist in the service registry (plus executor/disk gauges)', async () => {
    const service = new ServiceMetrics({ queued: () => 0, running: () => 0 });
    const backend = new Registry();
    registerBackendMetrics(backend, {});
    const families = [
      ...(await service.registry.getMetricsAsJSON()),
      ...(await backend.getMetricsAsJSON()),
    ].map((m) => m.name);
    const exposed = new Set<string>();
    for (const f of families) for (const s of ['', '_bucket', '_sum', '_count']) exposed.add(`${f}${s}`);
    const missing = referencedMetrics().filter((m) => !exposed.has(m));
    expect(missing).toEqual([]);
    for (const name of BACKEND_METRIC_NAMES) expect(families).toContain(name);
  });
});
