import { EventEmitter } from 'node:events';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError, isBoxrunError } from '../../core/errors.js';
import type {
  ExecuteOptions,
  Executor,
  ExecutorCapabilities,
  HealthReport,
  PreparedProgram,
  PrepareOptions,
  RunVariant,
} from '../../core/executor.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import type { ExecutionResult, IsolationLevel } from '../../core/result.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import { connectEngine } from '../docker/engine.js';
import { dockerIsolationLevel } from '../docker/gvisor.js';
import { isHostExecutorAllowed } from '../host/host-executor.js';
import { probeNamespaceSupport } from '../namespace/namespace-executor.js';
import { DockerExecutor, HostExecutor, NamespaceExecutor, PodmanExecutor } from './executors.js';
import { PreparedOwners } from './prepared-owners.js';

export type BackendType = BoxrunConfig['executor']['type'];

export const ISOLATION_OF: Record<BackendType, IsolationLevel> = {
  docker: 'container',
  podman: 'container',
  namespace: 'process',
  host: 'none',
};

export interface BackendProbe {
  type: BackendType;
  available: boolean;
  isolationLevel: IsolationLevel;
  /** Why it is not available (or a caveat when it is). */
  reason?: string;
}

/** How one backend is made and probed. */
export interface BackendFactory {
  create(config: BoxrunConfig, registry?: RuntimeRegistry): Executor;
  probe(config: BoxrunConfig): Promise<BackendProbe>;
}

async function probeEngine(
  type: 'docker' | 'podman',
  host: string | undefined,
  isolationLevel: IsolationLevel,
): Promise<BackendProbe> {
  try {
    const engine = await connectEngine(host);
    return { type, available: true, isolationLevel, reason: `engine at ${engine.endpoint.url}` };
  } catch (error) {
    return { type, available: false, isolationLevel, reason: (error as Error).message };
  }
}

/** Every backend of this build, declared once (no registration at module load). */
const BACKENDS: Record<BackendType, BackendFactory> = {
  docker: {
    create: (config, registry) => new DockerExecutor({ config, ...(registry ? { registry } : {}) }),
    probe: (config) => probeEngine('docker', config.docker.host, dockerIsolationLevel(config)),
  },
  podman: {
    create: (config, registry) => new PodmanExecutor({ config, ...(registry ? { registry } : {}) }),
    probe: (config) => probeEngine('podman', config.podman.host, 'container'),
  },
  namespace: {
    create: (config, registry) => new NamespaceExecutor({ config, ...(registry ? { registry } : {}) }),
    async probe(config) {
      const support = probeNamespaceSupport(config);
      return {
        type: 'namespace',
        available: support.problems.length === 0,
        isolationLevel: 'process',
        reason:
          support.problems.length > 0
            ? support.problems.join('; ')
            : `${support.bwrapVersion}, cgroup v${support.cgroups?.version}${support.seccomp ? ', seccomp' : ''}`,
      };
    },
  },
  host: {
    create: (config, registry) => new HostExecutor({ config, ...(registry ? { registry } : {}) }),
    async probe(config) {
      return isHostExecutorAllowed(config)
        ? {
            type: 'host',
            available: true,
            isolationLevel: 'none',
            reason: 'NO isolation (allow_unsafe_host = true)',
          }
        : {
            type: 'host',
            available: false,
            isolationLevel: 'none',
            reason: 'refused: the host executor has no isolation; set [executor] allow_unsafe_host = true',
          };
    },
  },
};

/** A new executor of one backend type, no probing and no fallback. */
function createBackend(type: BackendType, config: BoxrunConfig, registry?: RuntimeRegistry): Executor {
  return BACKENDS[type].create(config, registry);
}

export function probeBackend(type: BackendType, config: BoxrunConfig): Promise<BackendProbe> {
  return BACKENDS[type].probe(config);
}

/** The configured order: the preferred backend, then the fallbacks (duplicates dropped). */
export function backendChain(config: BoxrunConfig): BackendType[] {
  return [...new Set([config.executor.type, ...config.executor.fallback])];
}

export interface FallbackEvent {
  from: BackendType;
  to: BackendType;
  reason: string;
  at: string;
}

export interface SelectionStatus {
  preferred: BackendType;
  active: BackendType;
  isolationLevel: IsolationLevel;
  /** True while executions run on something other than the preferred backend. */
  degraded: boolean;
  fallbacks: number;
  lastFallback: FallbackEvent | null;
  probes: BackendProbe[];
}

export interface SelectingExecutorOptions {
  config: BoxrunConfig;
  registry?: RuntimeRegistry;
  /** Where fallbacks are announced; stderr otherwise. */
  logger?: { warn(message: string): void; info(message: string): void };
  /** How long a preferred backend that failed is left alone before it is probed again. */
  recheckMs?: number;
}

const stderrLogger = {
  warn: (m: string) => process.stderr.write(`boxrun: WARNING: ${m}\n`),
  info: (m: string) => process.stderr.write(`boxrun: ${m}\n`),
};

/**
 * The executor for a fallback chain: the configured backend, probed on first use (or `start()`), with the ordered
 * fallback chain from config — and only that chain: with `fallback = []` an unavailable engine is
 * an ENGINE_UNAVAILABLE error, never a silent downgrade. A fallback is logged loudly, counted
 * (`fallbackCount()`, event 'fallback') and visible in `status()`; every result carries the
 * isolation level of the backend that actually ran it. While degraded, the preferred backend is
 * probed again every `recheckMs` and taken back when it answers.
 *
 * Events: 'fallback' (FallbackEvent), 'recovered' ({ to: BackendType }).
 */
export class SelectingExecutor extends EventEmitter implements Executor {
  private readonly config: BoxrunConfig;
  private readonly logger: NonNullable<SelectingExecutorOptions['logger']>;
  private readonly chain: BackendType[];
  private readonly executors = new Map<BackendType, Executor>();
  private readonly programs = new PreparedOwners();
  private active: BackendType;
  private probes: BackendProbe[] = [];
  private fallbacks = 0;
  private lastFallback: FallbackEvent | null = null;
  private lastRecheck = 0;
  private readonly recheckMs: number;
  /** The first selection, made once; a failed one is made again on the next call. */
  private selected: Promise<BackendType> | null = null;

  constructor(private readonly options: SelectingExecutorOptions) {
    super();
    this.config = options.config;
    this.logger = options.logger ?? stderrLogger;
    this.chain = backendChain(options.config);
    this.active = this.chain[0] as BackendType;
    this.recheckMs = options.recheckMs ?? 30_000;
  }

  /** Probes the chain in order and starts on the first available backend. */
  static async create(options: SelectingExecutorOptions): Promise<SelectingExecutor> {
    const selector = new SelectingExecutor(options);
    await selector.start();
    return selector;
  }

  /** Probes the chain now (the service does, to refuse to start when nothing can run); idempotent. */
  start(): Promise<BackendType> {
    if (!this.selected) {
      const selecting = this.select(null);
      this.selected = selecting;
      selecting.catch(() => {
        if (this.selected === selecting) this.selected = null;
      });
    }
    return this.selected;
  }

  private executorFor(type: BackendType): Executor {
    let executor = this.executors.get(type);
    if (!executor) {
      executor = createBackend(type, this.config, this.options.registry);
      this.executors.set(type, executor);
    }
    return executor;
  }

  /** Picks the first available backend of the chain, starting after `failed` when given. */
  private async select(failed: { type: BackendType; reason: string } | null): Promise<BackendType> {
    const start = failed ? this.chain.indexOf(failed.type) + 1 : 0;
    const probes: BackendProbe[] = failed ? this.probes.filter((p) => p.type !== failed.type) : [];
    if (failed) {
      probes.push({
        type: failed.type,
        available: false,
        isolationLevel: ISOLATION_OF[failed.type],
        reason: failed.reason,
      });
    }
    for (const type of this.chain.slice(start)) {
      const probe = await probeBackend(type, this.config);
      const others = probes.filter((p) => p.type !== type);
      this.probes = [...others, probe];
      probes.splice(0, probes.length, ...this.probes);
      if (!probe.available) continue;
      const previous = this.active;
      this.active = type;
      if (type !== this.chain[0]) {
        const why =
          failed?.reason ?? this.probes.find((p) => p.type === this.chain[0])?.reason ?? 'unavailable';
        this.recordFallback(failed?.type ?? (this.chain[0] as BackendType), type, why);
      } else if (previous !== type) {
        this.logger.info(`executor: back on ${type}`);
      }
      return type;
    }
    const tried = this.probes.map((p) => `${p.type}: ${p.reason ?? 'unavailable'}`).join('; ');
    throw new BoxrunError(
      'ENGINE_UNAVAILABLE',
      this.chain.length === 1
        ? `the ${this.chain[0]} executor is unavailable and no fallback is configured ([executor] fallback): ${tried}`
        : `no executor of the configured chain (${this.chain.join(' → ')}) is available: ${tried}`,
    );
  }

  private recordFallback(from: BackendType, to: BackendType, reason: string): void {
    this.fallbacks++;
    this.lastFallback = { from, to, reason, at: new Date().toISOString() };
    this.logger.warn(
      `executor FALLBACK: ${from} is unavailable (${reason}); executions now run on ${to} with isolation level '${ISOLATION_OF[to]}'`,
    );
    this.emit('fallback', this.lastFallback);
  }

  /** While degraded, tries the preferred backend again now and then. */
  private async maybeRecover(): Promise<void> {
    const preferred = this.chain[0] as BackendType;
    if (this.active === preferred || Date.now() - this.lastRecheck < this.recheckMs) return;
    this.lastRecheck = Date.now();
    const probe = await probeBackend(preferred, this.config);
    if (!probe.available) return;
    this.active = preferred;
    this.logger.info(`executor: ${preferred} is available again; executions run on it`);
    this.emit('recovered', { to: preferred });
  }

  /** Runs `fn` on the active backend; on ENGINE_UNAVAILABLE moves down the chain and retries. */
  private async withFallback<T>(fn: (executor: Executor) => Promise<T>): Promise<T> {
    await this.start();
    await this.maybeRecover();
    for (;;) {
      const type = this.active;
      try {
        return await fn(this.executorFor(type));
      } catch (error) {
        if (!isBoxrunError(error, 'ENGINE_UNAVAILABLE')) throw error;
        if (this.chain.indexOf(type) === this.chain.length - 1) throw error;
        this.lastRecheck = Date.now();
        await this.select({ type, reason: error.message });
      }
    }
  }

  execute(request: ExecutionRequestInput, options?: ExecuteOptions): Promise<ExecutionResult> {
    return this.withFallback((executor) => executor.execute(request, options));
  }

  prepare(request: ExecutionRequestInput, options?: PrepareOptions): Promise<PreparedProgram> {
    return this.withFallback((executor) => this.programs.prepare(executor, request, options));
  }

  /** A prepared program runs where it was compiled. */
  runPrepared(
    program: PreparedProgram,
    variant?: RunVariant,
    options?: ExecuteOptions,
  ): Promise<ExecutionResult> {
    const owner = this.programs.ownerOf(program);
    if (owner) return owner.runPrepared(program, variant, options);
    return this.withFallback((executor) => executor.runPrepared(program, variant, options));
  }

  async healthCheck(): Promise<HealthReport> {
    await this.start().catch(() => {});
    return this.executorFor(this.active).healthCheck();
  }

  warmup(): Promise<void> {
    return this.withFallback((executor) => executor.warmup());
  }

  async capabilities(): Promise<ExecutorCapabilities> {
    await this.start();
    return this.executorFor(this.active).capabilities();
  }

  isolationLevel(): IsolationLevel {
    return this.executorFor(this.active).isolationLevel();
  }

  /** The backend executions currently go to. */
  activeBackend(): BackendType {
    return this.active;
  }

  /** The executor behind a backend type, e.g. to attach a warm pool to Docker. */
  backend(type: BackendType): Executor | undefined {
    return this.executors.get(type);
  }

  /** How many times executions moved down the chain since start (a counter for /metrics). */
  fallbackCount(): number {
    return this.fallbacks;
  }

  /** For /readyz and `boxrun doctor`. */
  status(): SelectionStatus {
    const preferred = this.chain[0] as BackendType;
    return {
      preferred,
      active: this.active,
      isolationLevel:
        this.active === 'docker' && dockerIsolationLevel(this.config) === 'vm'
          ? 'vm'
          : ISOLATION_OF[this.active],
      degraded: this.active !== preferred,
      fallbacks: this.fallbacks,
      lastFallback: this.lastFallback,
      probes: [...this.probes],
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.executors.values()].map((e) => e.close()));
  }
}

/** What `boxrun doctor` prints: every backend of the chain (and the rest), probed. */
export async function probeAllBackends(config: BoxrunConfig): Promise<BackendProbe[]> {
  const all: BackendType[] = ['docker', 'podman', 'namespace', 'host'];
  return Promise.all(all.map((t) => probeBackend(t, config)));
}
