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
import { type ConnectedEngine, createDockerClient, translateEngineError } from '../docker/engine.js';
import type { ImageManager } from '../docker/image-manager.js';
import { DockerExecutor } from './executors.js';

export interface EngineMember {
  url: string;
  executor: DockerExecutor;
  /** Executions (and compile steps) running on it now. */
  inFlight: number;
  /** Executions it has taken, in all. */
  total: number;
  /** Until when it is skipped after it failed to answer (epoch ms). */
  deadUntil: number;
  lastError: string | null;
}

export interface MultiEngineExecutorOptions {
  config: BoxrunConfig;
  /** Engine endpoints (unix://, tcp://, TLS via DOCKER_CERT_PATH); config.docker.hosts otherwise. */
  hosts?: string[];
  registry?: RuntimeRegistry;
  reaper?: boolean;
  /** How long an engine that did not answer is skipped before it is tried again. Default 15 s. */
  retryDeadAfterMs?: number;
  env?: NodeJS.ProcessEnv;
}

const PING_TIMEOUT_MS = 3000;

async function pingWithin(member: EngineMember): Promise<void> {
  const { docker } = await member.executor.engine();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      docker.ping().catch((error: unknown) => {
        throw translateEngineError(error, `pinging ${member.url}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BoxrunError('ENGINE_UNAVAILABLE', `${member.url}: no answer within ${PING_TIMEOUT_MS} ms`),
            ),
          PING_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Several engines behind one Executor: each execution goes to the live engine with the fewest
 * executions in flight (ties: the fewest in all). An engine that does not answer, or fails with
 * ENGINE_UNAVAILABLE, is skipped for a while and the execution goes to the next one. Each engine
 * has its own DockerExecutor (its own reaper and image checks); images must exist on every engine.
 */
export class MultiEngineExecutor implements Executor {
  readonly members: EngineMember[];
  private readonly retryDeadAfterMs: number;

  constructor(options: MultiEngineExecutorOptions) {
    const hosts = options.hosts ?? options.config.docker.hosts ?? [];
    if (hosts.length === 0) {
      throw new BoxrunError('CONFIG_INVALID', 'docker.hosts: at least one engine endpoint is required');
    }
    this.retryDeadAfterMs = options.retryDeadAfterMs ?? 15_000;
    this.members = hosts.map((url) => {
      const engine: ConnectedEngine = {
        docker: createDockerClient(url, options.env),
        endpoint: { url, source: 'docker.hosts' },
      };
      const executor = new DockerExecutor({
        config: { ...options.config, docker: { ...options.config.docker, host: url } },
        engine,
        ...(options.registry ? { registry: options.registry } : {}),
        ...(options.reaper !== undefined ? { reaper: options.reaper } : {}),
      });
      return { url, executor, inFlight: 0, total: 0, deadUntil: 0, lastError: null };
    });
  }

  /** Live engines first, least loaded first; engines marked dead come last (they may be back). */
  private ranked(): EngineMember[] {
    const now = Date.now();
    return [...this.members].sort(
      (a, b) =>
        Number(a.deadUntil > now) - Number(b.deadUntil > now) || a.inFlight - b.inFlight || a.total - b.total,
    );
  }

  /** Runs `work` on the best engine; an unreachable engine is marked and the next one tried. */
  private async onEngine<T>(work: (member: EngineMember) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (const member of this.ranked()) {
      member.inFlight++;
      try {
        // A ping first: a dead engine would otherwise fail deep inside, as some other error.
        await pingWithin(member);
        const result = await work(member);
        member.total++;
        member.deadUntil = 0;
        member.lastError = null;
        return result;
      } catch (error) {
        if (!isBoxrunError(error, 'ENGINE_UNAVAILABLE')) throw error;
        member.deadUntil = Date.now() + this.retryDeadAfterMs;
        member.lastError = (error as Error).message;
        failures.push(`${member.url}: ${member.lastError}`);
      } finally {
        member.inFlight--;
      }
    }
    throw new BoxrunError('ENGINE_UNAVAILABLE', `no engine answered: ${failures.join('; ')}`);
  }

  execute(input: ExecutionRequestInput, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    return this.onEngine((m) => m.executor.execute(input, options));
  }

  prepare(input: ExecutionRequestInput, options: PrepareOptions = {}): Promise<PreparedProgram> {
    return this.onEngine((m) => m.executor.prepare(input, options));
  }

  /** A prepared program carries its files, not its engine: any engine can run it. */
  runPrepared(prepared: PreparedProgram, variant: RunVariant = {}, options: ExecuteOptions = {}) {
    return this.onEngine((m) => m.executor.runPrepared(prepared, variant, options));
  }

  /** The least loaded live engine (for sessions, which stay on the engine they start on). */
  async engine(): Promise<ConnectedEngine> {
    return this.onEngine((m) => m.executor.engine());
  }

  async imageManager(): Promise<ImageManager> {
    return this.onEngine((m) => m.executor.imageManager());
  }

  async healthCheck(): Promise<HealthReport> {
    const reports = await Promise.all(this.members.map((m) => m.executor.healthCheck()));
    const reachable = reports.filter((r) => r.engine.reachable);
    return {
      ok: reachable.length > 0 && reachable.every((r) => r.ok),
      engine: {
        reachable: reachable.length > 0,
        endpoint: this.members.map((m) => m.url).join(', '),
        ...(reachable[0]?.engine.version ? { version: reachable[0].engine.version } : {}),
      },
      images: reachable[0]?.images ?? [],
      problems: reports.flatMap((r, i) => r.problems.map((p) => `${this.members[i]!.url}: ${p}`)),
    };
  }

  async warmup(): Promise<void> {
    await Promise.all(this.members.map((m) => m.executor.warmup()));
  }

  capabilities(): Promise<ExecutorCapabilities> {
    return this.onEngine((m) => m.executor.capabilities());
  }

  isolationLevel(): IsolationLevel {
    return this.members[0]!.executor.isolationLevel();
  }

  /** Per engine: where executions went (for metrics and tests). */
  stats(): { url: string; inFlight: number; total: number; alive: boolean; lastError: string | null }[] {
    const now = Date.now();
    return this.members.map((m) => ({
      url: m.url,
      inFlight: m.inFlight,
      total: m.total,
      alive: m.deadUntil <= now,
      lastError: m.lastError,
    }));
  }

  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.executor.close()));
  }
}
