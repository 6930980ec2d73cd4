import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { piston } from 'piston-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  eventually,
  type Json,
  py,
  type RunningService,
  spawnServe,
  startService,
  tempDir,
} from './service-harness.js';

interface SseEvent {
  event: string;
  data: Json;
}

/** Reads a Server-Sent Events stream to its end. */
async function readEvents(url: string): Promise<SseEvent[]> {
  const res = await fetch(url);
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.includes('event:'))
    .map((block) => {
      const event = block.match(/^event: (.*)$/m)![1]!;
      const data = JSON.parse(block.match(/^data: (.*)$/m)![1]!);
      return { event, data };
    });
}

const decode = (e: SseEvent) => Buffer.from(e.data.data, e.data.encoding === 'base64' ? 'base64' : 'utf8');

describe('service e2e (real Docker)', () => {
  const tmp = tempDir();
  let svc: RunningService;

  beforeAll(async () => {
    svc = await startService(tmp.dir);
  });
  afterAll(async () => {
    await svc?.close();
    tmp.remove();
  });

  it('runs a request synchronously (wait=true) and stores it', async () => {
    const res = await api(svc.url, 'POST', '/v1/executions', py('print(6 * 7)'));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      status: 'done',
      verdict: 'ok',
      result: { stdout: '42\n', exitCode: 0 },
    });
    const again = await api(svc.url, 'GET', `/v1/executions/${res.json.id}`);
    expect(again.json.result.stdout).toBe('42\n');
  });

  it('accepts asynchronously (wait=false → 202) and the result can be polled', async () => {
    const res = await api(svc.url, 'POST', '/v1/executions?wait=false', py('import sys; sys.exit(3)'));
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/executions/${res.json.id}`);
    expect(['queued', 'running']).toContain(res.json.status);
    const done = await eventually(async () => {
      const r = await api(svc.url, 'GET', `/v1/executions/${res.json.id}`);
      return r.json.status === 'done' ? r.json : undefined;
    });
    expect(done).toMatchObject({ verdict: 'runtime_error', result: { exitCode: 3 } });
    const list = await api(svc.url, 'GET', '/v1/executions?limit=1');
    expect(list.json.items).toHaveLength(1);
    expect(list.json.nextCursor).toBeTruthy();
    const next = await api(svc.url, 'GET', `/v1/executions?limit=1&cursor=${list.json.nextCursor}`);
    expect(next.json.items[0].id).not.toBe(list.json.items[0].id);
  });

  it('runs a batch and reports every result', async () => {
    const requests = [1, 2, 3].map((n) => py(`print(${n} * 10)`));
    const res = await api(svc.url, 'POST', '/v1/batches', { requests });
    expect(res.status).toBe(202);
    expect(res.json.executions).toHaveLength(3);
    const batch = await eventually(async () => {
      const r = await api(svc.url, 'GET', `/v1/batches/${res.json.id}`);
      return r.json.counts.done === 3 ? r.json : undefined;
    });
    expect(batch.counts.ok).toBe(3);
    expect(batch.executions.map((e: Json) => e.result.stdout)).toEqual(['10\n', '20\n', '30\n']);
  });

  it('cancels a running execution (DELETE kills it)', async () => {
    const res = await api(
      svc.url,
      'POST',
      '/v1/executions?wait=false',
      py('import time\nprint("started", flush=True)\ntime.sleep(60)', { limits: { timeoutMs: 120_000 } }),
    );
    await eventually(async () => {
      const r = await api(svc.url, 'GET', `/v1/executions/${res.json.id}`);
      return r.json.status === 'running' ? true : undefined;
    });
    const canceled = await api(svc.url, 'DELETE', `/v1/executions/${res.json.id}`);
    expect(canceled.status).toBe(200);
    expect(canceled.json).toMatchObject({ status: 'done', verdict: 'canceled', error: { code: 'CANCELED' } });
  });

  it('streams output over SSE in order, then the result; a late subscriber gets what is stored', async () => {
    const code =
      'import time\nfor i in range(15):\n    print(f"line {i}", flush=True)\n    time.sleep(0.02)\n';
    const res = await api(svc.url, 'POST', '/v1/executions?wait=false', py(code));
    const events = await readEvents(`${svc.url}/v1/executions/${res.json.id}/events`);
    const expected = Array.from({ length: 15 }, (_, i) => `line ${i}\n`).join('');
    const stdout = Buffer.concat(events.filter((e) => e.event === 'stdout').map(decode)).toString();
    expect(stdout).toBe(expected);
    expect(events.at(-1)!.event).toBe('result');
    expect(events.at(-1)!.data).toMatchObject({ verdict: 'ok' });
    const statuses = events.filter((e) => e.event === 'status').map((e) => e.data.status);
    expect(statuses.at(-1)).toBe('running');
    expect(events.findIndex((e) => e.event === 'status' && e.data.status === 'running')).toBeLessThan(
      events.findIndex((e) => e.event === 'stdout'),
    );

    const late = await readEvents(`${svc.url}/v1/executions/${res.json.id}/events`);
    expect(late.map((e) => e.event)).toEqual(['stdout', 'result']);
    expect(decode(late[0]!).toString()).toBe(expected);
  });

  it('serves the Piston API to piston-client unchanged', async () => {
    const client = piston({ server: svc.url });
    const runtimes = await client.runtimes();
    expect(runtimes.map((r) => r.language)).toContain('python');
    const out = await client.execute('python', 'import sys\nprint("hi", sys.argv[1:])', { args: ['a', 'b'] });
    expect(out).toMatchObject({
      language: 'python',
      run: { stdout: "hi ['a', 'b']\n", code: 0, signal: null, output: "hi ['a', 'b']\n" },
    });
    const c = await client.execute({
      language: 'c',
      files: [{ content: '#include <stdio.h>\nint main(void){puts("from c");return 4;}' }],
      args: [],
      compileTimeout: 60_000,
    });
    expect(c.compile).toMatchObject({ code: 0 });
    expect(c.run).toMatchObject({ stdout: 'from c\n', code: 4, status: 'RE' });
    const broken = await client.execute({
      language: 'c',
      files: [{ content: 'int main( {' }],
      compileTimeout: 60_000,
    });
    expect(broken.compile?.code).not.toBe(0);
    expect(broken.run).toEqual(broken.compile); // Piston answers run = compile when compiling failed
    const unknown = await client.execute({ language: 'cobol', version: '1', files: [{ content: '' }] });
    expect(unknown).toEqual({ message: 'cobol-1 runtime is unknown' });
  });

  it('exposes Prometheus metrics that parse', async () => {
    const res = await fetch(`${svc.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    const samples = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|[+-]Inf)$/);
      expect(m, `unparsable line: ${line}`).not.toBeNull();
      samples.set(m![1]!, Number(m![2]));
    }
    expect(samples.get('boxrun_executions_total{status="ok",runtime="python"}')).toBeGreaterThanOrEqual(1);
    expect(samples.get('boxrun_queue_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(samples.has('boxrun_queue_depth')).toBe(true);
    expect(samples.has('boxrun_executions_running')).toBe(true);
    expect([...samples.keys()].some((k) => k.startsWith('boxrun_execution_duration_seconds_bucket'))).toBe(
      true,
    );
  });

  it('is ready when the engine and images are there', async () => {
    const res = await api(svc.url, 'GET', '/readyz');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ ready: true, engine: { reachable: true }, store: { writable: true } });
  });
});

describe('service e2e: webhooks', () => {
  it('POSTs the signed result to a local receiver', async () => {
    const tmp = tempDir();
    const received: { headers: IncomingMessage['headers']; body: string }[] = [];
    let failFirst = true;
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        // The first attempt fails: the sender must retry.
        if (failFirst) {
          failFirst = false;
          res.writeHead(503).end();
          return;
        }
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const port = (receiver.address() as AddressInfo).port;
    const svc = await startService(tmp.dir, {
      server: { allowPrivateCallbacks: true, webhookSecret: 'e2e-secret', webhookBackoffMs: 200 },
    });
    try {
      const res = await api(svc.url, 'POST', '/v1/executions?wait=false', {
        ...py('print("hooked")'),
        callbackUrl: `http://127.0.0.1:${port}/hook`,
      });
      expect(res.status).toBe(202);
      const delivery = await eventually(async () => received[0]);
      const expected = `sha256=${createHmac('sha256', 'e2e-secret').update(delivery.body).digest('hex')}`;
      expect(delivery.headers['x-boxrun-signature']).toBe(expected);
      expect(JSON.parse(delivery.body)).toMatchObject({
        id: res.json.id,
        verdict: 'ok',
        result: { stdout: 'hooked\n' },
      });
      const record = await eventually(async () => {
        const r = await api(svc.url, 'GET', `/v1/executions/${res.json.id}`);
        return r.json.webhook?.state === 'delivered' ? r.json : undefined;
      });
      expect(record.webhook).toMatchObject({ attempts: 2, lastStatus: 204 });
    } finally {
      await svc.close();
      receiver.close();
      tmp.remove();
    }
  });
});

describe('service e2e: limits and failures', () => {
  it('answers 503 with Retry-After when the queue is full', async () => {
    const tmp = tempDir();
    const svc = await startService(tmp.dir, { server: { maxConcurrent: 1, maxQueued: 1 } });
    try {
      const sleeper = py('import time\ntime.sleep(60)', { limits: { timeoutMs: 120_000 } });
      const a = await api(svc.url, 'POST', '/v1/executions?wait=false', sleeper);
      const b = await api(svc.url, 'POST', '/v1/executions?wait=false', sleeper);
      expect([a.status, b.status]).toEqual([202, 202]);
      const c = await api(svc.url, 'POST', '/v1/executions?wait=false', sleeper);
      expect(c.status).toBe(503);
      expect(c.json.error.code).toBe('QUEUE_FULL');
      expect(Number(c.headers.get('retry-after'))).toBeGreaterThan(0);
      const ready = await api(svc.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.problems.join(' ')).toMatch(/queue full/);
      for (const id of [a.json.id, b.json.id]) await api(svc.url, 'DELETE', `/v1/executions/${id}`);
    } finally {
      await svc.close();
      tmp.remove();
    }
  });

  it('is not ready (503 with the reason) and refuses work when the engine is unreachable', async () => {
    const tmp = tempDir();
    const svc = await startService(tmp.dir, { docker: { host: 'unix:///nonexistent/docker.sock' } });
    try {
      const ready = await api(svc.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.engine.reachable).toBe(false);
      expect(ready.json.problems.length).toBeGreaterThan(0);
      const res = await api(svc.url, 'POST', '/v1/executions', py('print(1)'));
      expect(res.status).toBe(503);
      expect(res.json.error.code).toBe('ENGINE_UNAVAILABLE');
      expect((await api(svc.url, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await svc.close();
      tmp.remove();
    }
  });

  it('keeps queued and running work across SIGTERM and a restart on the same database', async () => {
    const tmp = tempDir();
    const dbPath = `${tmp.dir}/boxrun.db`;
    const env = { BOXRUN_SERVER_MAX_CONCURRENT: '1', BOXRUN_SERVER_SHUTDOWN_GRACE_MS: '300' };
    const first = await spawnServe(dbPath, env);
    const ids: string[] = [];
    try {
      const slow = py('import time\nprint("slow", flush=True)\ntime.sleep(4)\nprint("done")', {
        limits: { timeoutMs: 60_000 },
      });
      ids.push((await api(first.url, 'POST', '/v1/executions?wait=false', slow)).json.id);
      for (const n of [1, 2]) {
        ids.push((await api(first.url, 'POST', '/v1/executions?wait=false', py(`print(${n})`))).json.id);
      }
      await eventually(async () => {
        const r = await api(first.url, 'GET', `/v1/executions/${ids[0]}`);
        return r.json.status === 'running' ? true : undefined;
      });
    } finally {
      first.child.kill('SIGTERM');
    }
    expect(await first.exited).toBe(0);

    const second = await spawnServe(dbPath, env);
    try {
      const records = await eventually(async () => {
        const all = await Promise.all(ids.map((id) => api(second.url, 'GET', `/v1/executions/${id}`)));
        return all.every((r) => r.json.status === 'done') ? all.map((r) => r.json) : undefined;
      }, 90_000);
      expect(records.map((r) => r.verdict)).toEqual(['ok', 'ok', 'ok']);
      expect(records.map((r) => r.result.stdout)).toEqual(['slow\ndone\n', '1\n', '2\n']);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
      tmp.remove();
    }
  });
});
