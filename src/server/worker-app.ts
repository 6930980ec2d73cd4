import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ServiceMetrics } from './metrics.js';

export interface WorkerNode {
  readonly running: number;
  readiness(): Promise<{ ready: boolean; problems: string[]; running: number; draining: boolean }>;
}

/**
 * The HTTP side of a `worker` node: probes and metrics only (it takes its work from the queue, not
 * from clients). /healthz = the process answers; /readyz = engine, store and Redis reachable.
 */
export function buildWorkerApp(options: { worker: WorkerNode; logger: Logger; maxConcurrent: number }): {
  app: FastifyInstance;
  metrics: ServiceMetrics;
} {
  const { worker } = options;
  const app = Fastify({ loggerInstance: options.logger as FastifyBaseLogger });
  const metrics = new ServiceMetrics({ queued: () => 0, running: () => worker.running });
  app.get('/healthz', async () => ({ status: 'ok', role: 'worker' }));
  app.get('/readyz', async (_request, reply) => {
    const report = await worker.readiness();
    return reply
      .code(report.ready ? 200 : 503)
      .send({ ...report, role: 'worker', maxConcurrent: options.maxConcurrent });
  });
  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  return { app, metrics };
}
