import { StringDecoder } from 'node:string_decoder';
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { BoxrunError, isBoxrunError } from '../../core/errors.js';
import { limitsSchema, MAX_FILE_BYTES } from '../../core/request.js';
import { encodeBytes } from '../../core/verdict.js';
import type { CommandHandle, CommandOptions, Session } from '../../sessions/session.js';
import type { SessionManager } from '../../sessions/session-manager.js';

export interface SessionRoutesOptions {
  manager: SessionManager;
  /** The caller's key (sessions are counted and visible per key); none by default. */
  keyOf?: (request: FastifyRequest) => string | null;
}

const envSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string().max(128 * 1024));

const createSessionBody = z
  .object({
    runtime: z.string().min(1).max(64).optional(),
    image: z.string().min(1).max(256).optional(),
    limits: limitsSchema.default({}),
    network: z.string().min(1).max(32).default('none'),
    env: envSchema.default({}),
    idleTimeoutMs: z.number().int().positive().optional(),
    maxLifetimeMs: z.number().int().positive().optional(),
  })
  .strict();

const commandBody = z
  .object({
    /** A shell string (run by /bin/sh -c) or an argv array. */
    command: z.union([
      z
        .string()
        .min(1)
        .max(128 * 1024),
      z
        .array(z.string().max(128 * 1024))
        .min(1)
        .max(1024),
    ]),
    cwd: z.string().max(1024).optional(),
    env: envSchema.default({}),
    timeoutMs: z.number().int().positive().max(3_600_000).optional(),
    stdin: z
      .string()
      .max(16 * 1024 * 1024)
      .optional(),
  })
  .strict();

const fileBody = z
  .object({
    content: z.string(),
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
    executable: z.boolean().optional(),
  })
  .strict();

/** What POST /v1/sessions accepts (the client SDK's type for it). */
export type CreateSessionBody = z.input<typeof createSessionBody>;
/** What POST /v1/sessions/:id/commands accepts. */
export type CommandBody = z.input<typeof commandBody>;

/** Client → server messages of the attach WebSocket (Piston's /api/v2/connect shapes). */
const attachMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('init'),
    command: commandBody.shape.command,
    cwd: z.string().max(1024).optional(),
    env: envSchema.optional(),
    timeoutMs: z.number().int().positive().max(3_600_000).optional(),
  }),
  z.object({ type: z.literal('data'), stream: z.literal('stdin'), data: z.string() }),
  z.object({ type: z.literal('eof') }),
  z.object({ type: z.literal('signal'), signal: z.string().optional() }),
]);

export type AttachMessage = z.input<typeof attachMessage>;

function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue?.path.map(String).join('.') || where;
    throw new BoxrunError('INVALID_REQUEST', `${path}: ${issue?.message ?? 'invalid'}`, {
      details: { path },
    });
  }
  return result.data;
}

function sessionJson(session: Session) {
  const { key: _key, ...info } = session.info();
  return info;
}

/**
 * Sessions over HTTP: create, run commands (JSON or SSE), files, end; and a WebSocket that runs a
 * command with its stdin open. Errors are BoxrunErrors, mapped to statuses by the app.
 */
export const sessionRoutes: FastifyPluginAsync<SessionRoutesOptions> = async (app, options) => {
  const { manager } = options;
  const keyOf = options.keyOf ?? (() => null);
  const find = (request: FastifyRequest<{ Params: { id: string } }>) =>
    manager.get(request.params.id, keyOf(request));

  if (!app.hasDecorator('websocketServer')) await app.register(websocket);
  app.addContentTypeParser(
    'application/octet-stream',
    { parseAs: 'buffer', bodyLimit: MAX_FILE_BYTES },
    (_request, body, done) => done(null, body),
  );

  app.post('/v1/sessions', async (request, reply) => {
    const body = parse(createSessionBody, request.body ?? {}, 'body');
    const key = keyOf(request);
    const session = await manager.create({
      ...(body.runtime ? { runtime: body.runtime } : {}),
      ...(body.image ? { image: body.image } : {}),
      limits: body.limits,
      network: body.network,
      env: body.env,
      ...(body.idleTimeoutMs ? { idleTimeoutMs: body.idleTimeoutMs } : {}),
      ...(body.maxLifetimeMs ? { maxLifetimeMs: body.maxLifetimeMs } : {}),
      ...(key !== null ? { key } : {}),
    });
    return reply.code(201).send(sessionJson(session));
  });

  app.get('/v1/sessions', async (request) => ({
    sessions: manager.list(keyOf(request)).map(sessionJson),
  }));

  app.get<{ Params: { id: string } }>('/v1/sessions/:id', async (request) => sessionJson(find(request)));

  app.delete<{ Params: { id: string } }>('/v1/sessions/:id', async (request, reply) => {
    const session = find(request);
    await session.close();
    return reply.code(200).send(sessionJson(session));
  });

  app.post<{ Params: { id: string } }>('/v1/sessions/:id/commands', async (request, reply) => {
    const session = find(request);
    const body = parse(commandBody, request.body ?? {}, 'body');
    const commandOptions: CommandOptions = {
      env: body.env,
      ...(body.cwd !== undefined ? { cwd: body.cwd } : {}),
      ...(body.timeoutMs ? { timeoutMs: body.timeoutMs } : {}),
      ...(body.stdin !== undefined ? { stdin: body.stdin } : {}),
    };
    if (!/text\/event-stream/.test(request.headers.accept ?? '')) {
      const abort = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) abort.abort();
      });
      return session.run(body.command, { ...commandOptions, signal: abort.signal });
    }
    return streamCommand(session, body.command, commandOptions, reply);
  });

  app.get<{ Params: { id: string }; Querystring: { path?: string } }>(
    '/v1/sessions/:id/files',
    async (request, reply) => {
      const session = find(request);
      const path = request.query.path ?? '.';
      if (path === '.' || path === '' || path.endsWith('/')) {
        return { type: 'dir', path, entries: await session.files.list(path) };
      }
      let content: Buffer;
      try {
        content = await session.files.readBytes(path);
      } catch (error) {
        // Not a regular file: perhaps a directory, which lists instead.
        if (!isBoxrunError(error, 'NOT_FOUND') && !isBoxrunError(error, 'INVALID_REQUEST')) throw error;
        const entries = await session.files.list(path).catch(() => {
          throw error;
        });
        return { type: 'dir', path, entries };
      }
      if (/application\/octet-stream/.test(request.headers.accept ?? '')) {
        return reply.type('application/octet-stream').send(content);
      }
      const enc = encodeBytes(content);
      return { type: 'file', path, content: enc.text, encoding: enc.encoding, size: content.length };
    },
  );

  app.put<{ Params: { id: string }; Querystring: { path?: string } }>(
    '/v1/sessions/:id/files',
    async (request, reply) => {
      const session = find(request);
      const path = requirePath(request.query);
      let content: Buffer;
      let executable = false;
      if (Buffer.isBuffer(request.body)) {
        content = request.body;
      } else {
        const body = parse(fileBody, request.body ?? {}, 'body');
        content = Buffer.from(body.content, body.encoding === 'base64' ? 'base64' : 'utf8');
        executable = body.executable ?? false;
      }
      if (content.length > MAX_FILE_BYTES) {
        throw new BoxrunError(
          'PAYLOAD_TOO_LARGE',
          `file of ${content.length} bytes exceeds ${MAX_FILE_BYTES}`,
        );
      }
      await session.files.write(path, content, { executable });
      return reply.code(201).send({ path, size: content.length });
    },
  );

  app.delete<{ Params: { id: string }; Querystring: { path?: string } }>(
    '/v1/sessions/:id/files',
    async (request, reply) => {
      const session = find(request);
      const path = requirePath(request.query);
      await session.files.remove(path);
      return reply.code(204).send();
    },
  );

  app.route<{ Params: { id: string } }>({
    method: 'GET',
    url: '/v1/sessions/:id/attach',
    // A plain GET (no Upgrade) gets a JSON error like every other route, not @fastify/websocket's
    // empty-bodied 404 (found by test/e2e/fuzz.test.ts).
    handler: async (request) => {
      find(request);
      throw new BoxrunError('INVALID_REQUEST', 'attach: this route takes a WebSocket (Upgrade: websocket)');
    },
    wsHandler: (socket, request) => attach(socket, () => find(request)),
  });
};

/** SSE: `event: stdout|stderr` with `{data}`, then `event: exit` with the result (or `event: error`). */
async function streamCommand(
  session: Session,
  command: string | string[],
  options: CommandOptions,
  reply: FastifyReply,
): Promise<void> {
  const abort = new AbortController();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  const send = (event: string, data: unknown) => {
    if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
  try {
    const result = await session.run(command, {
      ...options,
      signal: abort.signal,
      onStdout: (chunk) => send('stdout', { data: decoders.stdout.write(chunk) }),
      onStderr: (chunk) => send('stderr', { data: decoders.stderr.write(chunk) }),
    });
    send('exit', result);
  } catch (error) {
    send('error', {
      code: isBoxrunError(error) ? error.code : 'INTERNAL',
      message: (error as Error).message,
    });
  } finally {
    res.end();
  }
}

/**
 * The attach WebSocket, shaped like Piston's /api/v2/connect: the client sends `init` (the
 * command), then `data` (stdin), `eof` and `signal`; the server sends `stage`, `data` (stdout,
 * stderr), `exit` (the whole result) and `error`, then closes.
 */
function attach(socket: WebSocket, find: () => Session): void {
  let handle: CommandHandle | null = null;
  const send = (message: unknown) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
  };
  const fail = (error: unknown, code = 4000) => {
    send({
      type: 'error',
      code: isBoxrunError(error) ? error.code : 'INTERNAL',
      message: (error as Error).message,
    });
    socket.close(code, isBoxrunError(error) ? error.code : 'error');
  };
  let session: Session;
  try {
    session = find();
  } catch (error) {
    fail(error, 4004);
    return;
  }
  socket.on('close', () => handle?.kill());
  socket.on('message', (raw: Buffer) => {
    let message: z.output<typeof attachMessage>;
    try {
      message = parse(attachMessage, JSON.parse(raw.toString('utf8')), 'message');
    } catch (error) {
      return fail(
        error instanceof SyntaxError ? new BoxrunError('INVALID_REQUEST', 'message: not JSON') : error,
      );
    }
    switch (message.type) {
      case 'init': {
        if (handle) return fail(new BoxrunError('INVALID_REQUEST', 'init: a command is already attached'));
        const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
        try {
          handle = session.start(message.command, {
            interactive: true,
            ...(message.cwd !== undefined ? { cwd: message.cwd } : {}),
            ...(message.env ? { env: message.env } : {}),
            ...(message.timeoutMs ? { timeoutMs: message.timeoutMs } : {}),
            onStdout: (chunk) => send({ type: 'data', stream: 'stdout', data: decoders.stdout.write(chunk) }),
            onStderr: (chunk) => send({ type: 'data', stream: 'stderr', data: decoders.stderr.write(chunk) }),
          });
        } catch (error) {
          return fail(error);
        }
        send({ type: 'runtime', session: session.id, runtime: session.runtime, image: session.image });
        void handle.started.then(() => send({ type: 'stage', stage: 'run' }));
        handle.result.then(
          (result) => {
            send({ type: 'exit', stage: 'run', code: result.exitCode, signal: result.signal, result });
            socket.close(1000, 'done');
          },
          (error) => fail(error, 4500),
        );
        return;
      }
      case 'data':
        if (!handle) return fail(new BoxrunError('INVALID_REQUEST', 'data: send init first'));
        handle.sendStdin(message.data);
        return;
      case 'eof':
        if (!handle) return fail(new BoxrunError('INVALID_REQUEST', 'eof: send init first'));
        handle.closeStdin();
        return;
      case 'signal':
        handle?.kill();
        return;
    }
  });
}

/** The file routes' `?path=`, required. */
function requirePath(query: { path?: string }): string {
  if (!query.path) {
    throw new BoxrunError('INVALID_REQUEST', 'path: query parameter is required', {
      details: { path: 'path' },
    });
  }
  return query.path;
}
