import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { BoxrunError } from '../../core/errors.js';
import { executionView } from '../../executions/execution-service.js';
import type { RouteContext } from '../route-context.js';
import {
  batchBodySchema,
  batchCreatedSchema,
  batchResponseSchema,
  errorSchema,
  idParamsSchema,
} from '../schemas.js';
import { toSubmitItem } from './submission.js';

const errors = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema };

export function registerBatchRoutes(instance: FastifyInstance, ctx: RouteContext): void {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { service, auth, config } = ctx;

  app.post(
    '/v1/batches',
    {
      schema: {
        summary: 'Submit several executions at once (accepted whole or not at all)',
        description:
          'Each batch is its own fairness lane: its executions take turns with other callers and batches.',
        tags: ['batches'],
        body: batchBodySchema,
        response: {
          202: batchCreatedSchema,
          ...errors,
          413: errorSchema,
          429: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { requests, callbackUrl } = request.body;
      if (requests.length > config.server.maxBatch) {
        throw new BoxrunError(
          'INVALID_REQUEST',
          `requests: ${requests.length} requests; a batch may have at most ${config.server.maxBatch}`,
          { details: { path: 'requests' } },
        );
      }
      const items = [];
      for (const [i, body] of requests.entries()) {
        items.push(await toSubmitItem(ctx, body, `requests.${i}`, callbackUrl));
      }
      const batchId = randomUUID();
      const records = await service.submit(request.caller, items, batchId);
      reply.header('location', `/v1/batches/${batchId}`);
      return reply.code(202).send({
        id: batchId,
        executions: records.map((r) => ({ id: r.id, status: r.state })),
      });
    },
  );

  app.get(
    '/v1/batches/:id',
    {
      schema: {
        summary: 'A batch: counts by status and verdict, and every execution with its result',
        tags: ['batches'],
        params: idParamsSchema,
        response: { 200: batchResponseSchema, ...errors },
      },
    },
    async (request) => {
      const batch = await service.getBatch(request.params.id);
      if (!batch) throw new BoxrunError('NOT_FOUND', `no batch ${request.params.id}`);
      auth.assertOwner(request.caller, batch.caller, `batch ${batch.id}`);
      const executions = (await service.batchExecutions(batch.id)).map((r) => executionView(r));
      const counts: Record<string, number> = { queued: 0, running: 0, done: 0 };
      for (const e of executions) {
        counts[e.status] = (counts[e.status] ?? 0) + 1;
        if (e.verdict) counts[e.verdict] = (counts[e.verdict] ?? 0) + 1;
      }
      return {
        id: batch.id,
        caller: batch.caller,
        createdAt: new Date(batch.createdAt).toISOString(),
        size: batch.size,
        counts,
        executions,
      };
    },
  );
}
