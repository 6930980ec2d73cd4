import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BoxrunError } from '../../core/errors.js';
import { encodeBytes } from '../../core/verdict.js';
import { executionView } from '../../executions/execution-service.js';
import type { LiveEvent } from '../../executions/live-events.js';
import type { ExecutionRecord } from '../../store/execution-store.js';
import { errorBody, httpStatusFor, retryAfterFor } from '../http-errors.js';
import type { RouteContext } from '../route-context.js';
import {
  errorSchema,
  executionViewSchema,
  idParamsSchema,
  listQuerySchema,
  listResponseSchema,
  serviceRequestSchema,
  waitQuerySchema,
} from '../schemas.js';
import { toSubmitItem } from './submission.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema };
const KEEPALIVE_MS = 15_000;

/** The Idempotency-Key header (IETF draft): 1-255 visible ASCII characters. */
function idempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw new BoxrunError('INVALID_REQUEST', 'Idempotency-Key: must be 1-255 visible ASCII characters', {
      details: { path: 'headers.idempotency-key' },
    });
  }
  return header;
}

export function registerExecutionRoutes(instance: FastifyInstance, ctx: RouteContext): void {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { service, auth } = ctx;

  const owned = async (callerName: string, id: string): Promise<ExecutionRecord> => {
    const record = await service.get(id);
    if (!record) throw new BoxrunError('NOT_FOUND', `no execution ${id}`);
    auth.assertOwner({ name: callerName, maxConcurrent: 0 }, record.caller, `execution ${id}`);
    return record;
  };

  app.post(
    '/v1/executions',
    {
      schema: {
        summary: 'Run code',
        description:
          "Validates, writes the execution to the store, queues it. wait=true (default) answers with the finished execution; wait=false answers 202 at once. With an Idempotency-Key header, a retry with the same key answers with the first submission's execution (header Idempotent-Replayed: true) instead of running it again.",
        tags: ['executions'],
        querystring: waitQuerySchema,
        body: serviceRequestSchema,
        response: {
          200: executionViewSchema,
          202: executionViewSchema,
          ...errors,
          413: errorSchema,
          429: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const wait = request.query.wait !== 'false' && request.query.wait !== '0';
      const item = await toSubmitItem(ctx, request.body);
      const key = idempotencyKey(request.headers['idempotency-key']);
      let record: ExecutionRecord | undefined;
      if (key === undefined) [record] = await service.submit(request.caller, [item]);
      else {
        const once = await service.submitIdempotent(request.caller, item, key);
        record = once.record;
        if (once.replayed) reply.header('idempotent-replayed', 'true');
      }
      const id = record!.id;
      reply.header('location', `/v1/executions/${id}`);
      if (!wait) return reply.code(202).send(executionView(record!));
      const { record: done } = await service.waitFor(id);
      // The execution could not run (engine gone, image missing…): the status says so, the id stays.
      if (done.error && done.error.code !== 'CANCELED') {
        const code = done.error.code as BoxrunError['code'];
        const status = httpStatusFor(code);
        const retryAfter = retryAfterFor(code);
        if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
        return reply
          .code(status)
          .send({ ...errorBody(new BoxrunError(code, done.error.message)), execution: executionView(done) });
      }
      return reply.code(200).send(executionView(done));
    },
  );

  app.get(
    '/v1/executions',
    {
      schema: {
        summary: 'List executions (newest first)',
        tags: ['executions'],
        querystring: listQuerySchema,
        response: { 200: listResponseSchema, ...errors },
      },
    },
    async (request) => {
      const page = await service.listExecutions({
        ...(auth.enabled ? { caller: request.caller.name } : {}),
        ...(request.query.status ? { state: request.query.status } : {}),
        limit: request.query.limit,
        ...(request.query.cursor ? { cursor: request.query.cursor } : {}),
      });
      return {
        items: page.items.map((r) => {
          const { result: _result, ...rest } = executionView(r);
          return rest;
        }),
        nextCursor: page.nextCursor,
      };
    },
  );

  app.get(
    '/v1/executions/:id',
    {
      schema: {
        summary: 'Get an execution (status, and the result when done)',
        tags: ['executions'],
        params: idParamsSchema,
        response: { 200: executionViewSchema, ...errors },
      },
    },
    async (request) => {
      const record = await owned(request.caller.name, request.params.id);
      const webhook = await service.webhookState(record.id);
      return executionView(record, {
        webhook: webhook
          ? {
              state: webhook.state,
              attempts: webhook.attempts,
              lastStatus: webhook.lastStatus,
              lastError: webhook.lastError,
            }
          : null,
      });
    },
  );

  app.delete(
    '/v1/executions/:id',
    {
      schema: {
        summary: 'Cancel an execution (kills it when running; a finished one is left as it is)',
        tags: ['executions'],
        params: idParamsSchema,
        response: { 200: executionViewSchema, ...errors },
      },
    },
    async (request) => {
      await owned(request.caller.name, request.params.id);
      const record = await service.cancel(request.params.id);
      if (!record) throw new BoxrunError('NOT_FOUND', `no execution ${request.params.id}`);
      return executionView(record);
    },
  );

  app.get(
    '/v1/executions/:id/events',
    {
      schema: {
        summary: 'Server-Sent Events: status, stdout/stderr chunks in order, then the result',
        description:
          'Events: `status` {status}, `stdout`/`stderr` {data, encoding}, `result` (the execution, last). A subscriber that comes late gets what is stored: the output so far (or whole), then the result.',
        tags: ['executions'],
        params: idParamsSchema,
        response: { 200: z.string().describe('text/event-stream'), ...errors },
      },
    },
    async (request, reply) => {
      const record = await owned(request.caller.name, request.params.id);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      let seq = 0;
      let ended = false;
      const send = (event: string, data: unknown) => {
        if (!ended) raw.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const sendChunk = (stream: string, bytes: Buffer) => {
        const { text, encoding } = encodeBytes(bytes);
        send(stream, { data: text, encoding });
      };
      let cleanup = () => {};
      const end = () => {
        if (ended) return;
        ended = true;
        cleanup();
        raw.end();
      };
      const onEvent = (event: LiveEvent) => {
        if (event.type === 'status') send('status', { status: event.status });
        else if (event.type === 'output') sendChunk(event.stream, event.data);
        else if (event.type === 'done') {
          send('result', executionView(event.record));
          end();
        } else {
          send('error', { code: 'SHUTTING_DOWN', message: 'the service is shutting down' });
          end();
        }
      };
      const subscription = service.subscribe(record.id, onEvent);
      if (!subscription) {
        const done = (await service.get(record.id)) ?? record;
        const r = done.result;
        if (r) {
          if (r.stdout) send('stdout', { data: r.stdout, encoding: r.stdoutEncoding });
          if (r.stderr) send('stderr', { data: r.stderr, encoding: r.stderrEncoding });
        }
        send('result', executionView(done));
        end();
        return;
      }
      if (!subscription.replay.some((e) => e.type === 'status')) send('status', { status: 'queued' });
      const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
      cleanup = () => {
        clearInterval(keepalive);
        subscription.unsubscribe();
      };
      request.raw.on('close', end);
      for (const event of subscription.replay) onEvent(event);
    },
  );
}
