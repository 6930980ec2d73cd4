import { randomBytes } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, validatorCompiler } from 'fastify-type-provider-zod';
import { type Logger, pino } from 'pino';
import type { BoxrunConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { Executor } from '../core/executor.js';
import type { IsolationTier } from '../core/isolation.js';
import { BOXRUN_VERSION } from '../core/version.js';
import { ExecutionService } from '../executions/execution-service.js';
import { type BackendMetricSources, registerBackendMetrics } from '../hygiene/backend-metrics.js';
import { defaultRegistry, type RuntimeRegistry } from '../runtimes/registry.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { ExecutionStore } from '../store/execution-store.js';
import { ApiKeyAuthenticator, type AuthenticatedCaller } from './auth.js';
import { DEFAULT_FIELDS, isJudge0Execution, judge0Languages, submissionView } from './compat/judge0.js';
import { PistonRuntimes } from './compat/piston-runtimes.js';
import { sendError } from './http-errors.js';
import { type PoolSample, ServiceMetrics } from './metrics.js';
import type { RouteContext } from './route-context.js';
import { registerBatchRoutes } from './routes/batches.js';
import { registerExecutionRoutes } from './routes/executions.js';
import { registerJudge0Routes } from './routes/judge0.js';
import { registerPistonRoutes } from './routes/piston.js';
import { registerPistonConnect } from './routes/piston-connect.js';
import { PLAYGROUND_PREFIX, registerPlaygroundRoutes } from './routes/playground.js';
import { sessionRoutes } from './routes/sessions.js';
import { registerSystemRoutes } from './routes/system.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: AuthenticatedCaller;
  }
  interface FastifyInstance {
    boxrun: ExecutionService;
  }
}

export interface BuildAppOptions {
  config: BoxrunConfig;
  executor: Executor;
  store: ExecutionStore;
  registry?: RuntimeRegistry;
  /** A pino logger; one is made at config.server.logLevel otherwise. */
  logger?: Logger;
  /** Recover from the store and start the timers now (default true; route tests may skip it). */
  start?: boolean;
  /** Executor selection and disk gauges (src/hygiene/backend-metrics.ts) for /metrics. */
  backendMetrics?: BackendMetricSources;
  /** More readiness checks: problems make /readyz 503, warnings are only reported. */
  readinessChecks?: () => Promise<{ problems: string[]; warnings: string[] }>;
  /** Serve /v1/sessions (src/server/routes/sessions.ts); the caller closes it after the app. */
  sessions?: SessionManager;
  /** Refuses a request whose isolation tier is not available (503) before it is stored. */
  assertTierAvailable?: (tier: IsolationTier) => void;
}

/** Routes anyone may call, keys or not: probes, metrics, the API docs. */
const PUBLIC_PREFIXES = ['/healthz', '/readyz', '/metrics', '/docs', PLAYGROUND_PREFIX];

/** The configured webhook secret, or one generated once and kept in the store. */
async function webhookSecret(config: BoxrunConfig, store: ExecutionStore): Promise<string> {
  if (config.server.webhookSecret) return config.server.webhookSecret;
  return (
    (await store.getSetting('webhook_secret')) ??
    // Replicas sharing one store and starting together agree on the first one written.
    (await store.settingOnce('webhook_secret', randomBytes(32).toString('hex')))
  );
}

/**
 * The HTTP service as a Fastify instance, not listening: tests drive it with `inject()`, `boxrun
 * serve` calls `listen()`. Closing it drains the execution service (see ExecutionService.shutdown);
 * the executor and the store belong to the caller, who closes them after.
 */
export async function buildApp(options: BuildAppOptions): Promise<FastifyInstance> {
  const { config, executor, store } = options;
  const registry = options.registry ?? defaultRegistry;
  const logger = options.logger ?? pino({ level: config.server.logLevel, base: { service: 'boxrun' } });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.server.bodyLimitBytes,
    // Long waits (?wait=true) are normal; the executor enforces the real limits.
    requestTimeout: 0,
    return503OnClosing: true,
  });
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas document; the handlers build the bodies, so no runtime re-validation (no 500s).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const metrics: ServiceMetrics = new ServiceMetrics({
    queued: () => service.queueDepth().queued,
    running: () => service.queueDepth().running,
    pool: () => (executor as { poolStats?: () => PoolSample | null }).poolStats?.() ?? null,
  });
  registerBackendMetrics(metrics.registry, options.backendMetrics ?? {});
  const pistonRuntimes = new PistonRuntimes(registry);
  const languages = judge0Languages(registry, pistonRuntimes);
  const service: ExecutionService = new ExecutionService({
    config,
    executor,
    store,
    logger,
    metrics,
    webhookSecret: await webhookSecret(config, store),
    // Judge0 PUTs its default fields, base64 encoded, to a submission's callback_url.
    webhookFormat: (record) =>
      isJudge0Execution(record)
        ? { method: 'PUT', body: submissionView(record, DEFAULT_FIELDS, true, languages).body }
        : null,
    ...(options.readinessChecks ? { readinessChecks: options.readinessChecks } : {}),
    ...(options.assertTierAvailable ? { assertTierAvailable: options.assertTierAvailable } : {}),
  });
  const auth = new ApiKeyAuthenticator(config.server, config.isolation);
  app.decorate('boxrun', service);
  app.decorateRequest('caller', null as unknown as AuthenticatedCaller);

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'boxrun',
        description: 'Sandboxed code execution. See docs/service.md.',
        version: BOXRUN_VERSION,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: auth.enabled ? [{ bearer: [] }] : [],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}` } }),
  );

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`))) return;
    // Judge0 clients authenticate with X-Auth-Token: the same API keys.
    const judge0Token =
      judge0Prefix && (path === judge0Prefix || path.startsWith(`${judge0Prefix}/`))
        ? request.headers['x-auth-token']
        : undefined;
    request.caller = auth.authenticate(
      typeof judge0Token === 'string' ? `Bearer ${judge0Token}` : request.headers.authorization,
    );
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > request.caller.maxBodyBytes) {
      throw new BoxrunError(
        'PAYLOAD_TOO_LARGE',
        `request body of ${length} bytes exceeds this caller's limit of ${request.caller.maxBodyBytes}`,
      );
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpResponses.inc({
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    });
  });
  // Before the server stops accepting: drain, so waiting requests and streams get their answers.
  app.addHook('preClose', async () => {
    await service.shutdown();
  });

  const judge0Prefix = config.server.judge0Prefix;
  const ctx: RouteContext = { config, service, auth, registry };
  registerExecutionRoutes(app, ctx);
  registerBatchRoutes(app, ctx);
  registerSystemRoutes(app, ctx, metrics);
  registerPlaygroundRoutes(app, ctx);
  const sessions = options.sessions;
  await app.register(
    async (scope) => {
      await registerPistonRoutes(scope, ctx, pistonRuntimes);
      if (sessions) await registerPistonConnect(scope, ctx, sessions, pistonRuntimes);
    },
    { prefix: '/api/v2' },
  );
  if (judge0Prefix)
    await app.register(async (scope) => registerJudge0Routes(scope, ctx, languages), {
      prefix: judge0Prefix,
    });
  if (options.sessions)
    await app.register(sessionRoutes, { manager: options.sessions, keyOf: (r) => r.caller.name });

  if (options.start !== false) await service.start();
  return app;
}
