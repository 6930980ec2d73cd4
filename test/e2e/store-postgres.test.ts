import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinaries, ThrowawayPostgres } from '../support/postgres.js';
import { api, eventually, py, type RunningService, startService, tempDir } from './service-harness.js';

// The service on PostgreSQL (store.url), and what it does while the database is unreachable.
const pgBin = postgresBinaries();
if ('missing' in pgBin) console.warn(`service on PostgreSQL skipped: ${pgBin.missing}`);

describe.skipIf('missing' in pgBin)('service e2e on PostgreSQL (real Docker)', () => {
  const tmp = tempDir();
  let pg: ThrowawayPostgres;
  let svc: RunningService;

  beforeAll(async () => {
    if ('missing' in pgBin) return;
    pg = await ThrowawayPostgres.create(pgBin.bin);
    svc = await startService(tmp.dir, {
      store: { url: pg.createDatabase('service'), connectTimeoutMs: 1000 },
    });
  });
  afterAll(async () => {
    await svc?.close();
    pg?.destroy();
    tmp.remove();
  });

  it('runs and stores executions in PostgreSQL', async () => {
    const res = await api(svc.url, 'POST', '/v1/executions', py('print(6 * 7)'));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ status: 'done', verdict: 'ok', result: { stdout: '42\n' } });
    const stored = await api(svc.url, 'GET', `/v1/executions/${res.json.id}`);
    expect(stored.json).toMatchObject({ status: 'done', attempts: 1, result: { stdout: '42\n' } });
  });

  it('answers 503 STORE_UNAVAILABLE while the database is down, /readyz says why, nothing half-written', async () => {
    const before = (await api(svc.url, 'GET', '/v1/executions?limit=100')).json.items.length;
    pg.stop();
    try {
      const res = await api(svc.url, 'POST', '/v1/executions?wait=false', py('print(1)'));
      expect(res.status).toBe(503);
      expect(res.json.error.code).toBe('STORE_UNAVAILABLE');
      expect(res.headers.get('retry-after')).not.toBeNull();
      const ready = await api(svc.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.store.writable).toBe(false);
      expect(ready.json.problems.join(' ')).toMatch(/store not writable/);
      expect((await api(svc.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      pg.start();
    }
    await eventually(async () => ((await api(svc.url, 'GET', '/readyz')).status === 200 ? true : undefined));
    expect((await api(svc.url, 'GET', '/v1/executions?limit=100')).json.items).toHaveLength(before);
    const after = await api(svc.url, 'POST', '/v1/executions', py('print("back")'));
    expect(after.json.result.stdout).toBe('back\n');
  });
});
