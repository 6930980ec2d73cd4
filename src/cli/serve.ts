import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { DockerExecutor } from '../backends/docker/docker-executor.js';
import type { ConnectedEngine } from '../backends/docker/engine.js';
import { MultiEngineExecutor } from '../backends/docker/multi-engine-executor.js';
import { assertHostExecutorAllowed } from '../backends/host/host-executor.js';
import { createExecutorFromConfig, type SelectingExecutor } from '../backends/selection/select-executor.js';
import { type BoxrunConfig, type ConfigOverrides, loadConfig } from '../config/config.js';
import { isBoxrunError } from '../core/errors.js';
import type { Executor } from '../core/executor.js';
import type { BackendMetricSources } from '../hygiene/backend-metrics.js';
import { type DiskStatus, diskStatus } from '../hygiene/disk-hygiene.js';
import { buildApp } from '../server/app.js';
import { hashApiKey } from '../server/auth.js';
import { SessionManager } from '../sessions/session-manager.js';
import { SqliteExecutionStore } from '../store/sqlite-execution-store.js';
import { EXIT_INTERNAL, EXIT_UNAVAILABLE, EXIT_USAGE } from './exit-codes.js';

function portArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('must be a port number');
  return n;
}

function countArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

interface ServiceBackends {
  executor: Executor;
  /** The Docker engine(s) sessions run on. */
  engines: { engine(): Promise<ConnectedEngine> };
  readinessChecks: () => Promise<{ problems: string[]; warnings: string[] }>;
  backendMetrics: BackendMetricSources;
  /** Closes the executor and, when sessions have an engine of their own, that one too. */
  close: () => Promise<void>;
}

/**
 * The executor the config asks for: several engines (docker.hosts), the configured backend with
 * its fallback chain, or — the default — Docker, connected lazily so the service starts (and
 * /readyz says why it is not ready) while the engine is still down.
 */
async function createServiceBackends(config: BoxrunConfig, logger: Logger): Promise<ServiceBackends> {
  let executor: Executor;
  let engines: ServiceBackends['engines'];
  let selector: SelectingExecutor | null = null;
  let sessionEngine: DockerExecutor | null = null;
  if (config.docker.hosts && config.docker.hosts.length > 0) {
    const multi = new MultiEngineExecutor({ config });
    executor = multi;
    engines = multi;
  } else if (config.executor.type === 'docker' && config.executor.fallback.length === 0) {
    const docker = new DockerExecutor({ config });
    executor = docker;
    engines = docker;
  } else {
    if (config.executor.type === 'host' || config.executor.fallback.includes('host'))
      assertHostExecutorAllowed(config);
    selector = await createExecutorFromConfig(config, {
      logger: { warn: (m) => logger.warn(m), info: (m) => logger.info(m) },
    });
    executor = selector;
    sessionEngine = new DockerExecutor({ config, reaper: false });
    engines = sessionEngine;
  }
  let lastDisk: DiskStatus | null = null;
  const readinessChecks = async () => {
    const problems: string[] = [];
    const warnings: string[] = [];
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
  const close = async () => {
    await executor.close();
    await sessionEngine?.close();
  };
  return { executor, engines, readinessChecks, backendMetrics, close };
}

export function storePath(config: BoxrunConfig): string {
  return config.server.dbPath || join(config.stateDir, 'boxrun.db');
}

/** `boxrun serve`: the HTTP service (docs/service.md). */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP service: queue, records, webhooks, streaming, metrics, Piston-compatible API')
    .option('--host <host>', 'address to bind (server.host; default 127.0.0.1)')
    .option('-p, --port <port>', 'port (server.port; default 8080, 0 = any free port)', portArg)
    .option('--db <path>', 'SQLite file (server.db_path; default <stateDir>/boxrun.db)')
    .option('--max-concurrent <n>', 'executions at once (server.max_concurrent; default: cores)', countArg)
    .option('--max-queued <n>', 'executions waiting (server.max_queued)', countArg)
    .option('--hash-key <key>', 'print the sha256 digest of an API key (for server.api_keys) and exit')
    .option('--print-webhook-secret', 'print the webhook signing secret in use and exit')
    .action(async (opts) => {
      if (opts.hashKey) {
        console.log(hashApiKey(String(opts.hashKey)));
        return;
      }
      const overrides: ConfigOverrides = {
        server: {
          ...(opts.host ? { host: opts.host } : {}),
          ...(opts.port !== undefined ? { port: opts.port } : {}),
          ...(opts.db ? { dbPath: opts.db } : {}),
          ...(opts.maxConcurrent ? { maxConcurrent: opts.maxConcurrent } : {}),
          ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}),
        },
      };
      let config: BoxrunConfig;
      let store: SqliteExecutionStore;
      try {
        config = loadConfig({ overrides });
        store = SqliteExecutionStore.open(storePath(config));
      } catch (error) {
        process.stderr.write(`boxrun: ${(error as Error).message}\n`);
        process.exit(isBoxrunError(error, 'CONFIG_INVALID') ? EXIT_USAGE : EXIT_UNAVAILABLE);
      }
      if (opts.printWebhookSecret) {
        console.log(
          config.server.webhookSecret ||
            store.getSetting('webhook_secret') ||
            '(none yet: set on first start)',
        );
        store.close();
        return;
      }
      const logger = pino({ level: config.server.logLevel, base: { service: 'boxrun' } });
      if (config.server.warmPool && config.pool.size === 0)
        config = { ...config, pool: { ...config.pool, size: 1 } };
      let backends: ServiceBackends;
      try {
        backends = await createServiceBackends(config, logger);
      } catch (error) {
        process.stderr.write(`boxrun: ${(error as Error).message}\n`);
        store.close();
        process.exit(EXIT_UNAVAILABLE);
      }
      const { executor, engines, readinessChecks, backendMetrics } = backends;
      const sessions = new SessionManager({ config, engines });
      const app = await buildApp({
        config,
        executor,
        store,
        logger,
        sessions,
        readinessChecks,
        backendMetrics,
      });
      // Fill the warm pool in the background: the service answers at once, /readyz tells when ready.
      void executor.warmup().catch((error) => logger.warn({ err: error }, 'warmup failed'));
      let closing: Promise<void> | null = null;
      const close = (signal: string) => {
        closing ??= (async () => {
          logger.info({ signal, graceMs: config.server.shutdownGraceMs }, 'shutting down');
          try {
            await app.close();
            await sessions.close();
            await backends.close();
          } catch (error) {
            logger.error({ err: error }, 'error while shutting down');
            process.exitCode = EXIT_INTERNAL;
          } finally {
            store.close();
            logger.info('stopped');
          }
        })();
        return closing;
      };
      process.once('SIGTERM', () => void close('SIGTERM'));
      process.once('SIGINT', () => void close('SIGINT'));
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
