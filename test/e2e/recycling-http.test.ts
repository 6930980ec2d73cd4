import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type RunningService, startService, tempDir } from './service-harness.js';

/**
 * The service as a new user meets it: pool full, then back-to-back requests through the HTTP API.
 * With recycling every one of them must be a warm hit — no container churn between requests.
 */
describe('service with a recycling pool', () => {
  const tmp = tempDir();
  let service: RunningService;
  beforeAll(async () => {
    service = await startService(tmp.dir, {
      pool: { size: 1, runtimes: ['bash'], compile: false, recycle: true },
    });
    await service.executor.warmup();
  });
  afterAll(async () => {
    await service?.close();
    tmp.remove();
  });

  it('serves back-to-back requests all from the warm sandbox, and /metrics shows it', async () => {
    const created = service.executor.poolStats()!.created;
    for (let i = 0; i < 30; i++) {
      const res = await api(service.url, 'POST', '/v1/executions', {
        runtime: 'bash',
        files: [{ path: 'main.sh', content: 'echo hi' }],
      });
      expect(res.status).toBe(200);
      expect(res.json.result.stdout).toBe('hi\n');
    }
    const stats = service.executor.poolStats()!;
    expect(stats).toMatchObject({ hits: 30, misses: 0, recycled: 30, resetFailures: 0 });
    expect(stats.created).toBe(created);
    const metrics = await fetch(`${service.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^boxrun_pool_hit_ratio 1$/m);
    expect(metrics).toMatch(/^boxrun_pool_hits_total 30$/m);
    expect(metrics).toMatch(/^boxrun_pool_misses_total 0$/m);
  });
});
