import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { createContainerSpec } from '../backends/docker/container-spec.js';
import type { ConnectedEngine } from '../backends/docker/engine.js';
import { dockerIsolationLevel } from '../backends/docker/gvisor.js';
import { ImageManager } from '../backends/docker/image-manager.js';
import { Sandbox } from '../backends/docker/sandbox.js';
import { resolveSeccompProfile, seccompSecurityOption } from '../backends/docker/security-profile.js';
import type { BoxrunConfig, LimitsConfig } from '../config/config.js';
import { BoxrunError } from '../core/errors.js';
import type { ResourceLimits } from '../core/request.js';
import { BASE_ENV } from '../runtimes/plan.js';
import { defaultRegistry, type RuntimeRegistry } from '../runtimes/registry.js';
import { Session } from './session.js';

export interface CreateSessionOptions {
  /** A runtime name or alias (its image and environment); or `image`. */
  runtime?: string;
  /** A custom image; boxrun-sv is mounted into it. */
  image?: string;
  /** Container limits (memoryMb, cpus, pids, diskMb) and per-command defaults (timeoutMs, outputBytes, cpuTimeMs). */
  limits?: Partial<ResourceLimits>;
  /**
   * 'none' (default) or 'full' (the engine's default bridge; needed for `pip install` from an
   * index). Other policies are refused for sessions until the executor's egress proxy serves them.
   */
  network?: string;
  env?: Record<string, string>;
  /** Ends the session after this long without a command. */
  idleTimeoutMs?: number;
  /** Ends the session this long after it was created, busy or not. */
  maxLifetimeMs?: number;
  /** Who owns it (an API key's id): `maxPerKey` counts per key. */
  key?: string;
}

export interface SessionManagerOptions {
  config: BoxrunConfig;
  /**
   * Something that yields a connected engine: a DockerExecutor, or a MultiEngineExecutor (then the
   * least loaded live engine; a session stays on the engine it starts on).
   */
  engines: { engine(): Promise<ConnectedEngine> };
  registry?: RuntimeRegistry;
  /** Sessions at once, in all. Default 32. */
  maxSessions?: number;
  /** Sessions at once per key. Default 8. */
  maxPerKey?: number;
  defaultIdleTimeoutMs?: number;
  defaultMaxLifetimeMs?: number;
  /** Ceiling of a session's max lifetime. Default 24 h. */
  maxLifetimeCeilingMs?: number;
}

export const SESSION_NETWORK_POLICIES = ['none', 'full'] as const;

/** A session container's deadline label leaves this much past its max lifetime before the reaper acts. */
const DEADLINE_SLACK_MS = 60_000;

/**
 * Creates and tracks sessions. Sessions live in this process: their containers are attached to it,
 * so they do not survive a restart — the supervisors exit when the connection drops and the
 * reaper removes the containers (exited, or past their `boxrun.deadline` label).
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly creating = new Map<string, number>();
  private readonly registry: RuntimeRegistry;
  private closed = false;
  readonly maxSessions: number;
  readonly maxPerKey: number;
  readonly defaultIdleTimeoutMs: number;
  readonly defaultMaxLifetimeMs: number;
  readonly maxLifetimeCeilingMs: number;

  constructor(private readonly options: SessionManagerOptions) {
    this.registry = options.registry ?? defaultRegistry;
    this.maxSessions = options.maxSessions ?? 32;
    this.maxPerKey = options.maxPerKey ?? 8;
    this.defaultIdleTimeoutMs = options.defaultIdleTimeoutMs ?? 10 * 60_000;
    this.defaultMaxLifetimeMs = options.defaultMaxLifetimeMs ?? 60 * 60_000;
    this.maxLifetimeCeilingMs = options.maxLifetimeCeilingMs ?? 24 * 60 * 60_000;
  }

  get size(): number {
    return this.sessions.size;
  }

  async create(input: CreateSessionOptions = {}): Promise<Session> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', 'session manager is closed');
    const { config } = this.options;
    if (!input.runtime && !input.image) {
      throw new BoxrunError('INVALID_REQUEST', 'runtime: either runtime or image is required', {
        details: { path: 'runtime' },
      });
    }
    const runtime = input.runtime ? this.registry.get(input.runtime) : null;
    const image = input.image ?? runtime!.image;
    const network = input.network ?? 'none';
    if (!(SESSION_NETWORK_POLICIES as readonly string[]).includes(network)) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `network: sessions support ${SESSION_NETWORK_POLICIES.map((p) => `'${p}'`).join(' and ')}, not '${network}'`,
        { details: { path: 'network' } },
      );
    }
    if (
      !config.network.allowedPolicies.includes(network as (typeof config.network.allowedPolicies)[number])
    ) {
      throw new BoxrunError(
        'FORBIDDEN',
        `network policy '${network}' is not allowed here (allowed: ${config.network.allowedPolicies.join(', ')}; config network.allowedPolicies)`,
        { details: { path: 'network', allowed: config.network.allowedPolicies } },
      );
    }
    const limits = resolveLimits(config.limits, input.limits ?? {}, config.maxLimits);
    const idleTimeoutMs = positive(input.idleTimeoutMs, this.defaultIdleTimeoutMs, 'idleTimeoutMs');
    const maxLifetimeMs = positive(input.maxLifetimeMs, this.defaultMaxLifetimeMs, 'maxLifetimeMs');
    if (maxLifetimeMs > this.maxLifetimeCeilingMs) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        `maxLifetimeMs: ${maxLifetimeMs} exceeds the maximum of ${this.maxLifetimeCeilingMs}`,
        { details: { path: 'maxLifetimeMs' } },
      );
    }
    const key = input.key ?? null;
    this.reserve(key);
    try {
      const { docker } = await this.options.engines.engine();
      // Images are checked on the very engine the container is created on.
      const images = new ImageManager(docker, this.registry);
      await images.requireImage(image, runtime?.name ?? null);
      const supervisorVolume = runtime ? undefined : await images.supervisorVolume();
      const id = randomUUID();
      // The configured name or path, resolved to what the engine takes (the profile's JSON).
      const seccompProfile = seccompSecurityOption(resolveSeccompProfile(config.docker.seccompProfile));
      const spec = createContainerSpec({
        id,
        image,
        limits,
        user: config.docker.user,
        deadline: Date.now() + maxLifetimeMs + DEADLINE_SLACK_MS,
        kind: 'session',
        session: true,
        ...(supervisorVolume ? { supervisorVolume } : {}),
        ...(config.docker.runtime ? { runtime: config.docker.runtime } : {}),
        ...(dockerIsolationLevel(config) === 'vm' ? { ownKernel: true } : {}),
        ...(seccompProfile ? { seccompProfile } : {}),
        ...(config.docker.apparmorProfile ? { apparmorProfile: config.docker.apparmorProfile } : {}),
      });
      if (network === 'full') withBridgeNetwork(spec);
      const sandbox = await Sandbox.start(docker, spec);
      const session = new Session({
        id,
        key,
        runtime: runtime?.name ?? null,
        image,
        network,
        limits,
        env: { ...BASE_ENV, ...runtime?.env, ...input.env },
        idleTimeoutMs,
        maxLifetimeMs,
        sandbox,
        onClose: (s) => {
          if (this.sessions.get(s.id) === s) this.sessions.delete(s.id);
        },
      });
      this.sessions.set(id, session);
      if (this.closed) await session.close('shutdown');
      return session;
    } finally {
      this.release(key);
    }
  }

  /** The live session with this id (and this key, when given); NOT_FOUND otherwise. */
  get(id: string, key?: string | null): Session {
    const session = this.sessions.get(id);
    const otherKey = key !== undefined && key !== null && session?.key !== key;
    if (session?.state !== 'running' || otherKey) {
      throw new BoxrunError(
        'NOT_FOUND',
        `no session ${id} (it may have ended: idle timeout, max lifetime, or closed)`,
      );
    }
    return session;
  }

  list(key?: string | null): Session[] {
    return [...this.sessions.values()]
      .filter((s) => s.state === 'running')
      .filter((s) => key === undefined || key === null || s.key === key);
  }

  /** Ends every session; idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.sessions.values()].map((s) => s.close('shutdown').catch(() => {})));
  }

  /** Counts a session being created against the limits before its container exists. */
  private reserve(key: string | null): void {
    const inFlight = [...this.creating.values()].reduce((a, b) => a + b, 0);
    if (this.sessions.size + inFlight >= this.maxSessions) {
      throw new BoxrunError(
        'RATE_LIMITED',
        `too many sessions (${this.maxSessions} at most); close one first`,
      );
    }
    const mine = this.list(key).length + (this.creating.get(key ?? '') ?? 0);
    if (key !== null && mine >= this.maxPerKey) {
      throw new BoxrunError(
        'RATE_LIMITED',
        `too many sessions for this key (${this.maxPerKey} at most); close one first`,
      );
    }
    this.creating.set(key ?? '', (this.creating.get(key ?? '') ?? 0) + 1);
  }

  private release(key: string | null): void {
    const n = (this.creating.get(key ?? '') ?? 1) - 1;
    if (n <= 0) this.creating.delete(key ?? '');
    else this.creating.set(key ?? '', n);
  }
}

function positive(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new BoxrunError('INVALID_REQUEST', `${field}: must be a positive integer (ms)`, {
      details: { path: field },
    });
  }
  return value;
}

function resolveLimits(
  base: LimitsConfig,
  requested: Partial<ResourceLimits>,
  max: LimitsConfig,
): ResourceLimits {
  for (const [key, value] of Object.entries(requested) as [keyof LimitsConfig, number | undefined][]) {
    if (value === undefined) continue;
    if (!(key in max)) {
      throw new BoxrunError('INVALID_REQUEST', `limits.${key}: unknown limit`, {
        details: { path: `limits.${key}` },
      });
    }
    if (typeof value !== 'number' || !(value > 0) || value > max[key]) {
      throw new BoxrunError('INVALID_REQUEST', `limits.${key}: ${value} is not within (0, ${max[key]}]`, {
        details: { path: `limits.${key}` },
      });
    }
  }
  return { ...base, ...requested } as ResourceLimits;
}

/** 'full': the engine's default bridge instead of no network at all. */
function withBridgeNetwork(spec: Docker.ContainerCreateOptions): void {
  spec.NetworkDisabled = false;
  spec.HostConfig = { ...spec.HostConfig, NetworkMode: 'bridge' };
}
