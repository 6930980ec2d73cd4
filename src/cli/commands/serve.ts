import { Command } from 'commander';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { type ConfiguredExecutor, createExecutor } from '../../backends/selection/create-executor.js';
import { type BoxrunConfig, type ConfigOverrides, loadConfig } from '../../config/config.js';
import { isBoxrunError } from '../../core/errors.js';
import type { IsolationTier } from '../../core/isolation.js';
import { BOXRUN_VERSION } from '../../core/version.js';
import type { BackendMetricSources } from '../../hygiene/backend-metrics.js';
import { type DiskStatus, diskStatus } from '../../hygiene/disk-usage.js';
import { buildApp } from '../../server/app.js';
import { hashApiKey } from '../../server/auth.js';
import { SessionManager } from '../../sessions/session-manager.js';
import type { ExecutionStore } from '../../store/execution-store.js';
import { openExecutionStore } from '../../store/open-store.js';
import { nonNegativeInt, port } from '../args.js';
import { EXIT_INTERNAL, EXIT_UNAVAILABLE, EXIT_USAGE } from '../exit-codes.js';

interface ServiceBackends extends ConfiguredExecutor {
  readinessChecks: () => Promise<{ problems: string[]; warnings: string[] }>;
  backendMetrics: BackendMetricSources;
  assertTierAvailable: (tier: IsolationTier) => void;
}

/**
 * The executor the config asks for (createExecutor), with what the service adds: a fallback chain
 * is probed at start (no backend of it available: the service does not start), readiness warnings
 * and backend metrics.
 */
async function createServiceBackends(config: BoxrunConfig, logger: Logger): Promise<ServiceBackends> {
  const configured = createExecutor(config, {
    logger: { warn: (m) => logger.warn(m), info: (m) => logger.info(m) },
  });
  const { selection: selector, engines } = configured;
  try {
    await selector?.start();
  } catch (error) {
    await configured.close();
    throw error;
  }
  // Known before the first request, so admission can refuse an unavailable tier at once.
  const tiered = configured.tiers;
  await tiered.probeVm();
  let lastDisk: DiskStatus | null = null;
  const readinessChecks = async () => {
    const problems: string[] = [];
    const warnings: string[] = [];
    const vm = await tiered.probeVm();
    if (!vm.available) {
      const needed = config.isolation.default === 'vm' || config.isolation.anonymousMin === 'vm';
      (needed ? problems : warnings).push(`isolation 'vm' unavailable: ${vm.reason}`);
    }
    const status = selector?.status();
    if (status?.degraded) {
      warnings.push(
        `running on the ${status.active} backend (isolation ${status.isolationLevel}) instead of ${status.preferred}`,
      );
    }
    let docker = null;
    try {
      docker = (await engines.engine()).docker;
    } catch {
      // reported by the engine check already
    }
    lastDisk = await diskStatus(docker, {
      stateDir: config.stateDir,
      budgetBytes: config.hygiene.budgetBytes,
      lowSpaceBytes: config.hygiene.lowSpaceBytes,
    });
    warnings.push(...lastDisk.warnings);
    return { problems, warnings };
  };
  const backendMetrics: BackendMetricSources = {
    ...(selector
      ? { fallbackCount: () => selector.fallbackCount(), degraded: () => selector.status().degraded }
      : {}),
    disk: () =>
      lastDisk && {
        engineBytes: lastDisk.engine?.totalBytes ?? null,
        budgetBytes: lastDisk.budgetBytes,
        freeBytes: lastDisk.freeBytes,
      },
  };
  return {
    ...configured,
    readinessChecks,
    backendMetrics,
    assertTierAvailable: (tier) => tiered.assertAvailable(tier),
  };
}

/** `boxrun serve`: the HTTP service (docs/service.md). */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the HTTP service: queue, records, webhooks, streaming, metrics, Piston-compatible API')
    .option('--host <host>', 'address to bind (server.host; default 127.0.0.1)')
    .option('-p, --port <port>', 'port (server.port; default 8080, 0 = any free port)', port)
    .option('--db <path>', 'SQLite file (server.db_path; default <stateDir>/boxrun.db)')
    .option('--store <url>', 'PostgreSQL store instead of SQLite: postgres://user:pass@host/db (store.url)')
    .option(
      '--max-concurrent <n>',
      'executions at once (server.max_concurrent; default: cores)',
      nonNegativeInt,
    )
    .option('--max-queued <n>', 'executions waiting (server.max_queued)', nonNegativeInt)
    .option('--role <role>', 'cluster role: all (one process), api or worker (cluster.role; docs/cluster.md)')
    .option('--hash-key <key>', 'print the sha256 digest of an API key (for server.api_keys) and exit')
    .option('--print-webhook-secret', 'print the webhook signing secret in use and exit')
    .action(async (opts) => {
      if (opts.hashKey) {
        console.log(hashApiKey(String(opts.hashKey)));
        return;
      }
      if (opts.role !== undefined && !['all', 'api', 'worker'].includes(String(opts.role))) {
        process.stderr.write(`boxrun: --role must be all, api or worker (got ${String(opts.role)})\n`);
        process.exit(EXIT_USAGE);
      }
      const overrides: ConfigOverrides = {
        ...(opts.store ? { store: { url: String(opts.store) } } : {}),
        ...(opts.role ? { cluster: { role: opts.role as 'all' | 'api' | 'worker' } } : {}),
        server: {
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          ...(opts.db ? { dbPath: opts.db } : {}),
          ...(opts.maxConcurrent ? { maxConcurrent: opts.maxConcurrent } : {}),
          ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}),
        },
      };
      let config: BoxrunConfig;
      let store: ExecutionStore;
      try {
        config = loadConfig({ overrides });
        store = await openExecutionStore(config);
      } catch (error) {
        process.stderr.write(`boxrun: ${(error as Error).message}\n`);
        process.exit(isBoxrunError(error, 'CONFIG_INVALID') ? EXIT_USAGE : EXIT_UNAVAILABLE);
      }
      if (opts.printWebhookSecret) {
        console.log(
          config.server.webhookSecret ||
            (await store.getSetting('webhook_secret')) ||
            '(none yet: set on first start)',
        );
        await store.close();
        return;
      }
      if (config.cluster.role !== 'all' && (!config.cluster.redis || !config.store.url)) {
        process.stderr.write(
          `boxrun: role ${config.cluster.role} needs cluster.redis (BOXRUN_CLUSTER_REDIS) and store.url (BOXRUN_STORE_URL, PostgreSQL)\n`,
        );
        await store.close();
        process.exit(EXIT_USAGE);
      }
      if (config.cluster.role === 'api') {
        process.stderr.write(
          'boxrun: role api is not available yet (docs/cluster.md, "How the queue works")\n',
        );
        await store.close();
        process.exit(EXIT_USAGE);
      }
      const logger = pino({
        level: config.server.logLevel,
        base: { service: 'boxrun', ...(config.cluster.role === 'all' ? {} : { role: config.cluster.role }) },
      });
      if (config.server.warmPool && config.pool.size === 0)
        config = { ...config, pool: { ...config.pool, size: 1 } };
      let backends: ServiceBackends;
      try {
        backends = await createServiceBackends(config, logger);
      } catch (error) {
        process.stderr.write(`boxrun: ${(error as Error).message}\n`);
        await store.close();
        process.exit(EXIT_UNAVAILABLE);
      }
      if (config.cluster.role === 'worker') {
        await serveWorker(config, store, backends, logger);
        return;
      }
      const { executor, engines, readinessChecks, backendMetrics, assertTierAvailable } = backends;
      const sessions = new SessionManager({ config, engines });
      const app = await buildApp({
        config,
        executor,
        store,
        logger,
        sessions,
        readinessChecks,
        backendMetrics,
        assertTierAvailable,
      });
      // Fill the warm pool in the background: the service answers at once, /readyz tells when ready.
      void executor.warmup().catch((error) => logger.warn({ err: error }, 'warmup failed'));
      const close = closeOnSignals(logger, store, 'shutting down', async () => {
        await app.close();
        await sessions.close();
        await backends.close();
      });
      try {
        const address = await app.listen({ host: config.server.host, port: config.server.port });
        const url = address.replace('0.0.0.0', '127.0.0.1');
        logger.info({ url, docs: `${url}/docs` }, 'boxrun service listening');
        process.stderr.write(`boxrun: serving on ${url} (API docs: ${url}/docs)\n`);
      } catch (error) {
        process.stderr.write(
          `boxrun: cannot listen on ${config.server.host}:${config.server.port}: ${(error as Error).message}\n`,
        );
        await close('listen-failed');
        process.exit(EXIT_UNAVAILABLE);
      }
    });
}

/**
 * A `worker` node: runs executions from the cluster's queue on the local engine and answers only
 * /healthz, /readyz and /metrics. SIGTERM drains (stop taking, finish running ones) and exits 0.
 * BullMQ and Redis are loaded here only, so role all never needs them.
 */
async function serveWorker(
  config: BoxrunConfig,
  store: ExecutionStore,
  backends: ServiceBackends,
  logger: Logger,
): Promise<void> {
  const { ClusterWorker } = await import('../../executions/cluster/cluster-worker.js');
  const { buildWorkerApp } = await import('../../server/worker-app.js');
  let worker: InstanceType<typeof ClusterWorker> | null = null;
  const { app, metrics } = buildWorkerApp({
    worker: {
      get running() {
        return worker?.running ?? 0;
      },
      readiness: () => worker!.readiness(),
    },
    logger,
    maxConcurrent: config.server.maxConcurrent,
  });
  worker = new ClusterWorker({
    config,
    executor: backends.executor,
    store,
    logger,
    metrics,
    engine: config.docker.host ?? 'default',
    version: BOXRUN_VERSION,
    ...(config.cluster.lockDurationMs ? { lockDurationMs: config.cluster.lockDurationMs } : {}),
  });
  void backends.executor.warmup().catch((error) => logger.warn({ err: error }, 'warmup failed'));
  worker.start();
  const close = closeOnSignals(logger, store, 'draining', async () => {
    await worker!.shutdown();
    await app.close();
    await backends.close();
  });
  try {
    const address = await app.listen({ host: config.server.host, port: config.server.port });
    const url = address.replace('0.0.0.0', '127.0.0.1');
    process.stderr.write(`boxrun: worker ${worker.id} taking executions; probes on ${url}\n`);
  } catch (error) {
    process.stderr.write(`boxrun: cannot listen: ${(error as Error).message}\n`);
    await close('listen-failed');
    process.exit(EXIT_UNAVAILABLE);
  }
}

/**
 * Stops the node once, on SIGTERM/SIGINT or when called: runs `stop` (servers, sandboxes), then
 * always closes the store; a failure while stopping sets exit code EXIT_INTERNAL.
 */
function closeOnSignals(
  logger: Logger,
  store: ExecutionStore,
  what: string,
  stop: () => Promise<void>,
): (signal: string) => Promise<void> {
  let closing: Promise<void> | null = null;
  const close = (signal: string) => {
    closing ??= (async () => {
      logger.info({ signal }, what);
      try {
        await stop();
      } catch (error) {
        logger.error({ err: error }, 'error while shutting down');
        process.exitCode = EXIT_INTERNAL;
      } finally {
        await store.close();
        logger.info('stopped');
      }
    })();
    return closing;
  };
  process.once('SIGTERM', () => void close('SIGTERM'));
  process.once('SIGINT', () => void close('SIGINT'));
  return close;
}
