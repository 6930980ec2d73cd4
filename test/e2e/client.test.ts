import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  BoxrunApiError,
  BoxrunClient,
  type ExecutionEvent,
  type WebSocketConstructor,
} from '../../src/client/index.js';
import { hashApiKey } from '../../src/server/auth.js';
import { type RunningService, startService, tempDir } from './service-harness.js';

const py = (code: string, extra: Record<string, unknown> = {}) => ({
  runtime: 'python',
  files: [{ path: 'main.py', content: code }],
  ...extra,
});

describe('boxrun/client against the real service', () => {
  const tmp = tempDir();
  let svc: RunningService;
  let client: BoxrunClient;

  beforeAll(async () => {
    svc = await startService(tmp.dir, {}, join(tmp.dir, 'boxrun.db'), { sessions: true });
    client = new BoxrunClient({
      baseUrl: svc.url,
      webSocket: WebSocket as unknown as WebSocketConstructor,
    });
  });
  afterAll(async () => {
    await svc?.close();
    tmp.remove();
  });

  it('execute waits for the result; a failing program is a result, not an error', async () => {
    const ok = await client.execute(py('print(6*7)'));
    expect(ok.status).toBe('done');
    expect(ok.result?.status).toBe('ok');
    expect(ok.result?.stdout).toBe('42\n');
    const failing = await client.execute(py('import sys; sys.exit(3)'));
    expect(failing.verdict).toBe('runtime_error');
    expect(failing.result?.exitCode).toBe(3);
  });

  it('streams stdout and stderr in order while a program prints over 2 seconds', async () => {
    const handle = await client.submit(
      py(
        'import sys, time\nfor i in range(4):\n  print(f"out{i}", flush=True)\n  print(f"err{i}", file=sys.stderr, flush=True)\n  time.sleep(0.6)\n',
      ),
    );
    const events: ExecutionEvent[] = [];
    let firstChunkBeforeDone = false;
    for await (const event of handle.events()) {
      if (event.type === 'stdout' && events.every((e) => e.type !== 'done')) firstChunkBeforeDone = true;
      events.push(event);
    }
    expect(firstChunkBeforeDone).toBe(true);
    const lines = events
      .filter((e) => e.type === 'stdout' || e.type === 'stderr')
      .flatMap((e) => (e as { data: string }).data.split('\n').filter(Boolean));
    expect(lines).toEqual(['out0', 'err0', 'out1', 'err1', 'out2', 'err2', 'out3', 'err3']);
    const last = events.at(-1);
    expect(last?.type).toBe('done');
    if (last?.type === 'done') expect(last.execution.result?.status).toBe('ok');
    // Several chunks arrived separately, so this was a live stream, not one replay at the end.
    expect(events.filter((e) => e.type === 'stdout').length).toBeGreaterThan(1);
  });

  it('cancels a running execution and wait() reports it canceled', async () => {
    const handle = await client.submit(py('import time\nprint("started", flush=True)\ntime.sleep(60)'));
    for await (const event of handle.events()) if (event.type === 'stdout') break;
    await handle.cancel();
    const done = await handle.wait();
    expect(done.status).toBe('done');
    expect(done.verdict).toBe('canceled');
  });

  it('get, list (all pages) and batch', async () => {
    const batch = await client.batch([py('print(1)'), py('print(2)'), py('print(3)')]);
    expect(batch.executions).toHaveLength(3);
    const finished = await batch.wait();
    expect(finished.executions.map((e) => e.result?.stdout)).toEqual(['1\n', '2\n', '3\n']);
    const one = await client.get(batch.executions[0]!.id);
    expect(one.batchId).toBe(batch.id);
    const ids: string[] = [];
    for await (const item of client.list({ limit: 2 })) ids.push(item.id);
    for (const e of batch.executions) expect(ids).toContain(e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('runtimes and health', async () => {
    const runtimes = await client.runtimes();
    expect(runtimes.map((r) => r.name)).toContain('cpp');
    const health = await client.health();
    expect(typeof health.ready).toBe('boolean');
    expect(health.queue.maxConcurrent).toBe(2);
  });

  it('a session runs commands, writes and reads files, and attaches interactively', async () => {
    const session = await client.session({ runtime: 'python' });
    try {
      await session.writeFile('data.txt', 'hello\n');
      const run = await session.run('cat data.txt; echo made > out.txt');
      expect(run.stdout).toBe('hello\n');
      expect(await session.readFile('out.txt')).toBe('made\n');
      let echoed = '';
      const attached = await session.attach(['python3', '-u', '-c', 'print(input()[::-1])'], {
        onStdout: (t) => {
          echoed += t;
        },
      });
      attached.write('olleh\n');
      attached.end();
      const result = await attached.result;
      expect(result.exitCode).toBe(0);
      expect(echoed).toBe('hello\n');
    } finally {
      await session.close();
    }
  });

  it('a bad field is a BoxrunApiError with code, status 400 and the field path', async () => {
    const error = await client
      .execute({ runtime: 'python', files: [{ path: '../x.py', content: '' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BoxrunApiError);
    expect(error).toMatchObject({ code: 'INVALID_REQUEST', status: 400, path: 'files.0.path' });
  });

  it('an aborted call rejects with the signal reason and sends nothing more', async () => {
    const controller = new AbortController();
    const pending = client.execute(py('import time; time.sleep(30)'), { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });

  it('imports nothing from Node or from runtime packages (it has to run in a browser)', () => {
    for (const file of [
      'index',
      'boxrun-client',
      'execution-handle',
      'session-client',
      'http-transport',
      'sse',
      'api-error',
      'types',
    ]) {
      const source = readFileSync(join(import.meta.dirname, `../../src/client/${file}.ts`), 'utf8');
      const imports = [...source.matchAll(/^import (type )?.*from '([^']+)'/gm)];
      for (const [, typeOnly, from] of imports) {
        if (!typeOnly) expect(from, `${file}.ts imports ${from}`).toMatch(/^\.\//);
      }
    }
  });
});

describe('boxrun/client errors', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('a 503 ENGINE_UNAVAILABLE when the engine is gone, retried with backoff then thrown', async () => {
    const svc = await startService(
      tmp.dir,
      { docker: { host: 'unix:///nonexistent/docker.sock' } },
      join(tmp.dir, 'dead.db'),
    );
    try {
      const client = new BoxrunClient({
        baseUrl: svc.url,
        retry: { retries: 1, baseDelayMs: 10, maxDelayMs: 50 },
      });
      const error = await client.execute(py('print(1)')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BoxrunApiError);
      expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', status: 503 });
      expect((error as BoxrunApiError).retryAfterMs).toBeGreaterThan(0);
      const health = await client.health();
      expect(health.ready).toBe(false);
    } finally {
      await svc.close();
    }
  });

  it('auth: no key and a wrong key are UNAUTHORIZED; the right key works', async () => {
    const key = 'client-test-key-0123456789';
    const svc = await startService(
      tmp.dir,
      { server: { apiKeys: [{ name: 'judge', sha256: hashApiKey(key) }] } },
      join(tmp.dir, 'auth.db'),
    );
    try {
      for (const apiKey of [undefined, 'wrong-key']) {
        const error = await new BoxrunClient({ baseUrl: svc.url, apiKey })
          .runtimes()
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'BoxrunApiError', code: 'UNAUTHORIZED', status: 401 });
      }
      const runtimes = await new BoxrunClient({ baseUrl: svc.url, apiKey: key }).runtimes();
      expect(runtimes.length).toBeGreaterThan(0);
    } finally {
      await svc.close();
    }
  });

  it('a service that is not there is a NETWORK_ERROR after the retries', async () => {
    const client = new BoxrunClient({ baseUrl: 'http://127.0.0.1:9', retry: { retries: 2, baseDelayMs: 5 } });
    await expect(client.runtimes()).rejects.toMatchObject({ code: 'NETWORK_ERROR', status: 0 });
  });
});
