import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ServiceMetrics } from '../metrics.js';
import type { RouteContext } from '../route-context.js';
import { readinessSchema, runtimeSchema } from '../schemas.js';

export function registerSystemRoutes(
  instance: FastifyInstance,
  ctx: RouteContext,
  metrics: ServiceMetrics,
): void {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const { service, registry } = ctx;

  app.get(
    '/v1/runtimes',
    {
      schema: {
        summary: 'Installed runtimes',
        tags: ['runtimes'],
        response: { 200: z.array(runtimeSchema) },
      },
    },
    async () =>
      registry.all.map((r) => ({
        name: r.name,
        language: r.name,
        version: r.version,
        aliases: r.aliases,
        extensions: r.extensions,
        sourceFile: r.sourceFile,
        compiled: !!r.compile,
      })),
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['probes'],
        response: { 200: z.object({ ok: z.literal(true) }) },
      },
    },
    async () => ({ ok: true as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: engine reachable, images present, store writable, queue not full',
        description: '503 with the reasons in `problems` when not ready.',
        tags: ['probes'],
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const report = await service.readiness();
      if (!report.ready) reply.header('retry-after', '10');
      return reply.code(report.ready ? 200 : 503).send(report);
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['probes'],
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
