import type { BoxrunConfig } from '../../config/config.js';
import type { Executor } from '../../core/executor.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import type { ConnectedEngine } from '../docker/engine.js';
import { assertHostExecutorAllowed } from '../host/host-executor.js';
import { DockerExecutor } from './executors.js';
import { MultiEngineExecutor } from './multi-engine-executor.js';
import { type BackendType, backendChain, SelectingExecutor } from './select-executor.js';
import { TieredExecutor } from './tiered-executor.js';

export interface ExecutorOverrides {
  /** Run on this backend instead of `[executor] type` (`boxrun run --executor`). */
  type?: BackendType;
  /** Replaces `[executor] fallback` (e.g. `[]` for commands that only mean the Docker engine). */
  fallback?: BackendType[];
  registry?: RuntimeRegistry;
  /** Where a fallback is announced (the service's logger); stderr otherwise. */
  logger?: { warn(message: string): void; info(message: string): void };
  /** Run the Docker reaper; false for commands that start no sandbox (doctor, images). */
  reaper?: boolean;
}

/** The Docker engine(s) sessions, images and doctor talk to, connected on first use. */
export interface EngineSource {
  engine(): Promise<ConnectedEngine>;
}

export interface ConfiguredExecutor {
  /** The configuration with the overrides applied. */
  config: BoxrunConfig;
  /** Runs executions: one backend, several engines, or the fallback chain. */
  executor: Executor;
  /** Routes each request to its isolation tier (`executor` is this; docs/backends.md, "Isolation tiers"). */
  tiers: TieredExecutor;
  /** The chain's selection (active backend, fallbacks, degraded) when a fallback chain is configured. */
  selection: SelectingExecutor | null;
  /** Sessions run on a Docker engine whatever backend runs executions. */
  engines: EngineSource;
  /** Closes the executor and, when sessions needed an engine of their own, that one too. */
  close(): Promise<void>;
}

/**
 * The only place configuration becomes an executor, so `[executor]` and `isolationLevel` mean the
 * same for the library, `boxrun run`/`test`/`mcp`, `serve` and sessions:
 * - `docker.hosts` (with type docker): one executor over several engines;
 * - Docker alone: the Docker executor, connected lazily (the service starts, and says why it is
 *   not ready, while the engine is down; a CLI run exits 69 with the reason);
 * - otherwise the configured backend and its fallbacks behind a SelectingExecutor, probed on first
 *   use, so an unavailable backend is named with its reason (bubblewrap missing, no Podman socket).
 * The host executor, which has no isolation, is refused here (anywhere in the chain) unless
 * allow_unsafe_host is set, so that mistake shows at start, not at the first fallback.
 */
export function createExecutor(config: BoxrunConfig, overrides: ExecutorOverrides = {}): ConfiguredExecutor {
  const effective: BoxrunConfig =
    overrides.type || overrides.fallback
      ? {
          ...config,
          executor: {
            ...config.executor,
            ...(overrides.type ? { type: overrides.type } : {}),
            ...(overrides.fallback ? { fallback: overrides.fallback } : {}),
          },
        }
      : config;
  const registry = overrides.registry ? { registry: overrides.registry } : {};
  const reaper = overrides.reaper === false ? { reaper: false } : {};
  const chain = backendChain(effective);
  if (chain.includes('host')) assertHostExecutorAllowed(effective);

  let executor: Executor;
  let selection: SelectingExecutor | null = null;
  let engines: EngineSource | null = null;
  if (effective.executor.type === 'docker' && effective.docker.hosts && effective.docker.hosts.length > 0) {
    const multi = new MultiEngineExecutor({ config: effective, ...registry });
    executor = multi;
    engines = multi;
  } else if (chain.length === 1 && chain[0] === 'docker') {
    const docker = new DockerExecutor({ config: effective, ...registry, ...reaper });
    executor = docker;
    engines = docker;
  } else {
    selection = new SelectingExecutor({
      config: effective,
      ...registry,
      ...(overrides.logger ? { logger: overrides.logger } : {}),
    });
    executor = selection;
  }

  // A vm request on a runc backend goes to gVisor, never quietly to the weaker tier.
  const tiers = new TieredExecutor({ config: effective, base: executor, ...registry });
  executor = tiers;

  let sessionEngine: DockerExecutor | null = null;
  const engineSource: EngineSource = engines ?? {
    engine: () => {
      sessionEngine ??= new DockerExecutor({ config: effective, ...registry, reaper: false });
      return sessionEngine.engine();
    },
  };
  return {
    config: effective,
    executor,
    tiers,
    selection,
    engines: engineSource,
    async close() {
      await executor.close();
      await sessionEngine?.close();
    },
  };
}
