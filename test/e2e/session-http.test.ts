import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { isBoxrunError } from '../../src/core/errors.js';
import { sessionRoutes } from '../../src/server/routes/sessions.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { dockerExecutor } from '../helpers.js';

let executor: DockerExecutor;
let manager: SessionManager;
let app: FastifyInstance;
let base: string;

/** The service's own error mapping lives in its buildApp; this is the minimum these tests need. */
const STATUS: Record<string, number> = {
  INVALID_REQUEST: 400,
  UNKNOWN_RUNTIME: 400,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
};

beforeAll(async () => {
  executor = dockerExecutor();
  manager = new SessionManager({ config: loadConfig(), engines: executor });
  app = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    if (isBoxrunError(error))
      return reply.code(STATUS[error.code] ?? 500).send({ code: error.code, message: error.message });
    return reply
      .code((error as { statusCode?: number }).statusCode ?? 500)
      .send({ message: (error as Error).message });
  });
  await app.register(sessionRoutes, {
    manager,
    keyOf: (r) => (r.headers['x-key'] as string | undefined) ?? null,
  });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await manager?.close();
  await executor?.close();
});

const json = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

describe('sessions over HTTP', () => {
  it('creates a session, runs commands in it, moves files, and ends it', async () => {
    const created = await json('POST', '/v1/sessions', { runtime: 'python', idleTimeoutMs: 60_000 });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body).toMatchObject({ runtime: 'python', state: 'running', network: 'none' });

    const put = await json('PUT', `/v1/sessions/${id}/files?path=pkg/data.txt`, { content: 'forty-two' });
    expect(put.status).toBe(201);
    const raw = await fetch(`${base}/v1/sessions/${id}/files?path=blob.bin`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.from([0, 255, 1]),
    });
    expect(raw.status).toBe(201);

    const run = await json('POST', `/v1/sessions/${id}/commands`, {
      command: 'cat pkg/data.txt && echo && echo oops >&2 && exit 3',
    });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      exitCode: 3,
      stdout: 'forty-two\n',
      stderr: 'oops\n',
      status: 'runtime_error',
    });

    const file = await json('GET', `/v1/sessions/${id}/files?path=pkg/data.txt`);
    expect(file.body).toMatchObject({ type: 'file', content: 'forty-two', encoding: 'utf8' });
    const bin = await json('GET', `/v1/sessions/${id}/files?path=blob.bin`);
    expect(bin.body).toMatchObject({
      encoding: 'base64',
      content: Buffer.from([0, 255, 1]).toString('base64'),
    });
    const dir = await json('GET', `/v1/sessions/${id}/files?path=pkg`);
    expect(dir.body.type).toBe('dir');
    expect(dir.body.entries.map((e: { name: string }) => e.name)).toEqual(['data.txt']);
    const root = await json('GET', `/v1/sessions/${id}/files`);
    expect(root.body.entries.map((e: { name: string }) => e.name)).toEqual(['blob.bin', 'pkg']);

    expect((await json('DELETE', `/v1/sessions/${id}/files?path=pkg`)).status).toBe(204);
    expect((await json('GET', `/v1/sessions/${id}/files?path=pkg/data.txt`)).status).toBe(404);
    expect((await json('GET', `/v1/sessions/${id}/files?path=../x`)).status).toBe(400);

    const info = await json('GET', `/v1/sessions/${id}`);
    expect(info.body.commandsRun).toBe(1);
    const ended = await json('DELETE', `/v1/sessions/${id}`);
    expect(ended.body).toMatchObject({ state: 'closed', closedReason: 'closed' });
    expect((await json('GET', `/v1/sessions/${id}`)).status).toBe(404);
    expect((await json('POST', `/v1/sessions/${id}/commands`, { command: 'true' })).status).toBe(404);
  });

  it('streams a command over SSE', async () => {
    const { body } = await json('POST', '/v1/sessions', { runtime: 'python' });
    try {
      const res = await fetch(`${base}/v1/sessions/${body.id}/commands`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({
          command: [
            'python3',
            '-u',
            '-c',
            'import sys,time\nprint("a")\ntime.sleep(0.2)\nprint("b", file=sys.stderr)',
          ],
        }),
      });
      expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
      const text = await res.text();
      const events = text
        .trim()
        .split('\n\n')
        .map((block) => {
          const [ev, data] = block.split('\n');
          return { event: ev!.slice('event: '.length), data: JSON.parse(data!.slice('data: '.length)) };
        });
      // python -u writes "a" and "\n" separately: chunks arrive as they are written.
      const joined = (name: string) =>
        events
          .filter((e) => e.event === name)
          .map((e) => e.data.data)
          .join('');
      expect(joined('stdout')).toBe('a\n');
      expect(joined('stderr')).toBe('b\n');
      expect(events.findIndex((e) => e.event === 'stderr')).toBeGreaterThan(
        events.findIndex((e) => e.event === 'stdout'),
      );
      expect(events.at(-1)).toMatchObject({ event: 'exit', data: { exitCode: 0, status: 'ok' } });
    } finally {
      await json('DELETE', `/v1/sessions/${body.id}`);
    }
  });

  it('answers a program prompts over the attach WebSocket', async () => {
    const { body } = await json('POST', '/v1/sessions', { runtime: 'python' });
    try {
      await json('PUT', `/v1/sessions/${body.id}/files?path=ask.py`, {
        content: 'name = input("name? ")\ncolour = input("colour? ")\nprint(f"{name} likes {colour}")\n',
      });
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/sessions/${body.id}/attach`);
      const messages: {
        type: string;
        stream?: string;
        data?: string;
        code?: number;
        result?: { stdout: string };
      }[] = [];
      let stdout = '';
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        messages.push(m);
        if (m.type === 'data' && m.stream === 'stdout') {
          stdout += m.data;
          if (stdout.endsWith('name? '))
            ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: 'Grace\n' }));
          if (stdout.endsWith('colour? '))
            ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: 'blue\n' }));
        }
      });
      await new Promise((resolve) => ws.on('open', resolve));
      ws.send(JSON.stringify({ type: 'init', command: ['python3', '-u', 'ask.py'] }));
      expect(await closed).toBe(1000);
      expect(messages.map((m) => m.type)).toContain('stage');
      const exit = messages.find((m) => m.type === 'exit');
      expect(exit).toMatchObject({ code: 0 });
      expect(exit?.result?.stdout).toBe('name? colour? Grace likes blue\n');
    } finally {
      await json('DELETE', `/v1/sessions/${body.id}`);
    }
  });

  it('closes the WebSocket with an error for an unknown session', async () => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/sessions/nope/attach`);
    const messages: string[] = [];
    ws.on('message', (raw) => messages.push(raw.toString()));
    const code = await new Promise<number>((resolve) => ws.on('close', (c) => resolve(c)));
    expect(code).toBe(4004);
    expect(JSON.parse(messages[0]!)).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
  });

  it('validates bodies and keeps sessions apart per key', async () => {
    expect((await json('POST', '/v1/sessions', { runtime: 'python', bogus: 1 })).status).toBe(400);
    expect((await json('POST', '/v1/sessions', { runtime: 'cobol' })).status).toBe(400);
    const mine = await json('POST', '/v1/sessions', { runtime: 'python' }, { 'x-key': 'alice' });
    try {
      expect((await json('GET', `/v1/sessions/${mine.body.id}`, undefined, { 'x-key': 'bob' })).status).toBe(
        404,
      );
      expect(
        (await json('GET', `/v1/sessions/${mine.body.id}`, undefined, { 'x-key': 'alice' })).status,
      ).toBe(200);
      expect((await json('GET', '/v1/sessions', undefined, { 'x-key': 'bob' })).body.sessions).toEqual([]);
    } finally {
      await json('DELETE', `/v1/sessions/${mine.body.id}`, undefined, { 'x-key': 'alice' });
    }
  });
});
