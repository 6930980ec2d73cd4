import { join } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { DockerExecutor } from '../backends/docker/docker-executor.js';
import { type BoxrunConfig, type ConfigOverrides, loadConfig } from '../config/config.js';
import { isBoxrunError } from '../core/errors.js';
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
      const executor = new DockerExecutor({ config });
      const sessions = new SessionManager({ config, engines: executor });
      const app = await buildApp({ config, executor, store, logger, sessions });
      let closing: Promise<void> | null = null;
      const close = (signal: string) => {
        closing ??= (async () => {
          logger.info({ signal, graceMs: config.server.shutdownGraceMs }, 'shutting down');
          try {
            await app.close();
            await sessions.close();
            await executor.close();
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
