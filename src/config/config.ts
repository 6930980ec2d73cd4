import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { BoxrunError } from '../core/errors.js';
import { ISOLATION_TIERS } from '../core/isolation.js';

/**
 * The only module that reads the environment and config files. Precedence:
 * defaults ← TOML file (boxrun.toml) ← environment (BOXRUN_*) ← explicit overrides (CLI flags).
 */
const limitsDefaults = {
  timeoutMs: 10_000,
  cpuTimeMs: 0,
  memoryMb: 256,
  cpus: 1,
  pids: 128,
  outputBytes: 1024 * 1024,
  diskMb: 64,
};

const limitsConfigSchema = z
  .object({
    timeoutMs: z.number().int().positive(),
    /** 0 means no CPU-time limit beyond the wall timeout. */
    cpuTimeMs: z.number().int().min(0),
    memoryMb: z.number().int().min(8),
    cpus: z.number().positive(),
    pids: z.number().int().min(4),
    outputBytes: z.number().int().positive(),
    diskMb: z.number().int().positive(),
  })
  .strict();

/** `name:sha256hex[:maxConcurrent[:maxBodyBytes]]` (env form) or a table (TOML `[[server.api_keys]]`). */
const apiKeySchema = z.preprocess(
  (v) => {
    if (typeof v !== 'string') return v;
    const [name, sha256, maxConcurrent, maxBodyBytes] = v.split(':');
    return {
      name,
      sha256,
      ...(maxConcurrent ? { maxConcurrent: Number(maxConcurrent) } : {}),
      ...(maxBodyBytes ? { maxBodyBytes: Number(maxBodyBytes) } : {}),
    };
  },
  z
    .object({
      /** Who the caller is in logs, records and fairness lanes. */
      name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . @ -'),
      /** sha256 hex of the key; the key itself is never stored (`boxrun serve --hash-key`). */
      sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the sha256 hex digest of the key'),
      /** Queued + running executions this key may have at once (0 = only the global limits). */
      maxConcurrent: z.number().int().min(0).optional(),
      /** Request body size for this key (0 = the global bodyLimitBytes). */
      maxBodyBytes: z.number().int().min(0).optional(),
      /** Floor: this key's requests run at least this isolated; asking for less is refused (403). */
      minIsolation: z.enum(ISOLATION_TIERS).optional(),
      /** Ceiling: asking for more is refused (403), e.g. to keep the costlier vm tier for some keys. */
      maxIsolation: z.enum(ISOLATION_TIERS).optional(),
    })
    .strict(),
);

/** The HTTP service (`boxrun serve`, docs/service.md). */
const serverConfigSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65_535),
    /** Executions running at once. */
    maxConcurrent: z.number().int().min(1),
    /** Executions waiting for a slot; beyond it submissions get 503 with Retry-After. */
    maxQueued: z.number().int().min(0),
    /** Requests in one batch. */
    maxBatch: z.number().int().min(1),
    bodyLimitBytes: z.number().int().min(1024),
    /** Empty = no authentication (the default bind is loopback only). */
    apiKeys: z.array(apiKeySchema),
    /** Default per-key limit on queued + running executions (0 = none). */
    keyMaxConcurrent: z.number().int().min(0),
    /** Finished executions older than this are deleted (0 = keep forever). */
    retentionHours: z.number().min(0),
    cleanupIntervalSeconds: z.number().int().min(1),
    /** HMAC-SHA256 key for webhook signatures; empty = one is generated into the state dir. */
    webhookSecret: z.string(),
    webhookMaxAttempts: z.number().int().min(1).max(20),
    webhookBackoffMs: z.number().int().min(1),
    webhookTimeoutMs: z.number().int().min(100),
    /** Callback URLs resolving to loopback/private/link-local/metadata addresses are refused unless true. */
    allowPrivateCallbacks: z.boolean(),
    /** SQLite file; empty = `<stateDir>/boxrun.db`. */
    dbPath: z.string(),
    /** On SIGTERM: how long running executions may finish before they are stopped and re-queued. */
    shutdownGraceMs: z.number().int().min(0),
    /** What a start does with executions found `running` (the process died mid-run). */
    recoverRunning: z.enum(['requeue', 'fail']),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /** Keep warm sandboxes: with pool.size 0, `serve` uses a pool of 1 per runtime anyway. */
    warmPool: z.boolean(),
    /** Where Judge0 CE's API is served (Judge0 clients take a base URL); empty = not served. */
    judge0Prefix: z.string().regex(/^(\/[A-Za-z0-9._~-]+)*$/, 'must be empty or /path'),
  })
  .strict();

export const configSchema = z
  .object({
    stateDir: z.string().min(1),
    docker: z
      .object({
        /** Engine endpoint (unix:///path or tcp://host:port); found automatically when absent. */
        host: z.string().optional(),
        /**
         * Several engines at once (unix://, tcp://): executions go to the least loaded live one.
         * BOXRUN_DOCKER_HOSTS takes a comma-separated list.
         */
        hosts: z
          .preprocess(
            (v) =>
              typeof v === 'string'
                ? v
                    .split(',')
                    .map((h) => h.trim())
                    .filter(Boolean)
                : v,
            z.array(z.string().min(1)).min(1),
          )
          .optional(),
        /** OCI runtime for sandboxes, e.g. "runsc" for gVisor when it is registered with the engine. */
        runtime: z.string().optional(),
        /** uid:gid the program runs as inside the sandbox. */
        user: z.string().regex(/^[1-9][0-9]*:[1-9][0-9]*$/, 'must be uid:gid, not root'),
        /**
         * 'strict' (the default: the bundled runtimes/seccomp/strict.json), 'default' (the engine's
         * own profile), 'unconfined', or the path of a profile JSON.
         */
        seccompProfile: z.string().optional(),
        apparmorProfile: z.string().optional(),
        /**
         * `key=value` put on every container this process creates (src/backends/docker/run-label.ts):
         * a test run tags what it creates, so its leftover check counts nothing of anyone else's.
         */
        runLabel: z
          .string()
          .regex(/^[a-z0-9][a-z0-9._-]*=[^=]*$/i, 'must be key=value')
          .optional(),
        /** Seconds past a sandbox's deadline after which the reaper removes it. */
        reapGraceSeconds: z.number().int().min(0),
        reapIntervalSeconds: z.number().int().min(1),
      })
      .strict(),
    limits: limitsConfigSchema,
    compileLimits: limitsConfigSchema,
    /**
     * The least wall time any compile step gets unless its request sets compileLimits.timeoutMs:
     * the runtimes' own compile limits (30–60 s) assume a machine that is not saturated, and under
     * load a compile's wall time grows with it (tsc: 7.5 s of CPU took 60 s of wall time at load 28
     * on 2 cores). The test suite, which runs up to nine compilers at once, raises it; 0 = off.
     */
    minCompileTimeoutMs: z.number().int().min(0),
    /** Ceilings a request may not exceed. */
    maxLimits: limitsConfigSchema,
    /** Which backend runs sandboxes, and what may stand in for it (src/backends/selection/). */
    executor: z
      .object({
        type: z.enum(['docker', 'podman', 'namespace', 'host']),
        /** Tried in order when `type` is unavailable; empty means no fallback. */
        fallback: z.array(z.enum(['docker', 'podman', 'namespace', 'host'])),
        /** The host executor has no isolation at all; it is refused unless this is true. */
        allowUnsafeHost: z.boolean(),
      })
      .strict(),
    /** Linux-namespace executor (bubblewrap). */
    namespace: z
      .object({
        /** bwrap binary; found on PATH when absent. */
        bwrap: z.string().optional(),
        /** cgroup (relative to each controller's root) under which one cgroup per sandbox is made. */
        cgroupParent: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/),
      })
      .strict(),
    /** Host directories a request may mount at /workspace. Empty allowedRoots = feature off. */
    workspaces: z
      .object({
        allowedRoots: z.array(z.string().startsWith('/')),
        /** Owner of what a sandbox writes into a workspace (the sandbox runs as this uid:gid). */
        uid: z.number().int().min(1),
        gid: z.number().int().min(1),
      })
      .strict(),
    /** Podman's Docker-compatible API socket (src/backends/podman/). */
    podman: z
      .object({
        /** unix:///path; rootful /run/podman/podman.sock, rootless $XDG_RUNTIME_DIR/podman/podman.sock. */
        host: z.string().min(1),
      })
      .strict(),
    /** Custom images: what a request may run in or build (docs/images-and-networks.md). */
    images: z
      .object({
        /** Glob patterns (`*` any run of characters) a request's `image` must match; empty = any. */
        allowList: z.array(z.string().min(1)),
        /** Whether requests may carry a Dockerfile (its RUN steps run as root in a build container). */
        allowBuilds: z.boolean(),
        buildTimeoutMs: z.number().int().positive(),
        /** Dockerfile plus context files, in bytes. */
        maxContextBytes: z.number().int().positive(),
        /** Memory of each build step's container. */
        buildMemoryMb: z.number().int().min(64),
      })
      .strict(),
    /** Network policies a request may ask for, and where `full` and the egress proxy connect to. */
    network: z
      .object({
        allowedPolicies: z.array(z.enum(['none', 'localhost', 'allowlist', 'full'])).min(1),
        /** Engine network for `full` sandboxes and the allowlist proxy's outside leg. */
        egressNetwork: z.string().min(1),
        /** Image the allowlist egress proxy runs in (needs node >= 18). */
        proxyImage: z.string().min(1),
      })
      .strict(),
    /** Engine disk use: prune boxrun images, build cache and volumes beyond the budget (LRU first). */
    hygiene: z
      .object({
        /** 0 = never prune automatically. */
        budgetBytes: z.number().int().min(0),
        /** Free space on the state dir's filesystem below which /readyz warns. */
        lowSpaceBytes: z.number().int().min(0),
      })
      .strict(),
    server: serverConfigSchema,
    /** Where execution records live (src/store/). */
    store: z
      .object({
        /**
         * Empty = the embedded SQLite file (server.dbPath); `postgres://user:pass@host:5432/db` = a
         * PostgreSQL database shared by every node of a cluster (docs/cluster.md).
         */
        url: z
          .string()
          .refine((u) => u === '' || /^postgres(ql)?:\/\//.test(u), 'must be empty (SQLite) or postgres://…'),
        /** How long taking a PostgreSQL connection may wait before the store counts as unavailable. */
        connectTimeoutMs: z.number().int().min(100),
        /** PostgreSQL connections per process. */
        poolSize: z.number().int().min(1),
      })
      .strict(),
    /** Cluster mode (docs/cluster.md): which side of the lifecycle this node runs, and where the queue is. */
    cluster: z
      .object({
        /** `all` = one process (in-process queue); `api` accepts and answers; `worker` runs executions. */
        role: z.enum(['all', 'api', 'worker']),
        /** The BullMQ queue's Redis, `redis://host:6379/0`; required for `api` and `worker`. */
        redis: z.string().refine((u) => u === '' || /^rediss?:\/\//.test(u), 'must be empty or redis://…'),
        /**
         * How long a worker's lock on a running job lasts (renewed at half); a dead worker's jobs run
         * again about this long after it died. 0 = BullMQ's default (30 s).
         */
        lockDurationMs: z.number().int().min(0),
      })
      .strict(),
    /** Isolation tiers (docs/backends.md, "Isolation tiers"). */
    isolation: z
      .object({
        /**
         * The tier of a request that does not ask for one; unset = what the configured executor gives
         * (a namespace or host executor is the operator's choice, not a request for `container`).
         */
        default: z.enum(ISOLATION_TIERS).optional(),
        /** The OCI runtime, registered with the engine, that the vm tier runs on. */
        vmRuntime: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+$/, 'must be a runtime name as registered with the engine'),
        /** `boxrun setup` also installs and registers gVisor (what `--isolation gvisor` does once). */
        setupGvisor: z.boolean(),
        /**
         * The engine's config file that setup merges the runtime into. Only written for the dockerd
         * boxrun itself started (and restarts); for any other engine setup prints the lines to add.
         */
        daemonConfig: z.string().startsWith('/'),
        /** Floor and ceiling for callers without an API key (the service with no keys configured). */
        anonymousMin: z.enum(ISOLATION_TIERS).optional(),
        anonymousMax: z.enum(ISOLATION_TIERS).optional(),
      })
      .strict(),
    /** Warm container pool (src/backends/docker/warm-pool.ts); size 0 = off (one-shot CLI/library). */
    pool: z
      .object({
        /** Warm containers kept per pooled runtime (and per compile step of compiled runtimes). */
        size: z.number().int().min(0),
        /** Runtimes to pool; empty = every runtime. BOXRUN_POOL_RUNTIMES takes "python,c". */
        runtimes: z.preprocess(
          (v) =>
            typeof v === 'string'
              ? v
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean)
              : v,
          z.array(z.string()),
        ),
        /** Per-runtime sizes that override `size`, e.g. { python = 4, bash = 0 }. */
        sizes: z.record(z.string(), z.number().int().min(0)),
        /** Also keep warm containers for the compile step (its own, larger limits). */
        compile: z.boolean(),
        /** Cap on idle + starting pool containers over all runtimes. */
        maxTotal: z.number().int().min(0),
        /** An idle warm container older than this is replaced (bounds its deadline label). */
        idleTtlSeconds: z.number().int().min(1),
        /** How many pool containers are started at once. */
        replenishConcurrency: z.number().int().min(1),
        /**
         * Reuse a pool sandbox for the next request of the same shape once its supervisor has reset
         * it and proved it clean (supervisor/boxrun-sv.c); false = every execution gets its own.
         */
        recycle: z.boolean(),
        /** Jobs one recycled sandbox serves at most before it is replaced. */
        maxUses: z.number().int().min(1),
        /** Seconds one recycled sandbox lives at most (idle or not) before it is replaced. */
        maxAgeSeconds: z.number().int().min(1),
      })
      .strict(),
  })
  .strict();

export type BoxrunConfig = z.output<typeof configSchema>;
export type LimitsConfig = z.output<typeof limitsConfigSchema>;

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type ConfigOverrides = DeepPartial<BoxrunConfig>;

export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOXRUN_STATE_DIR) return env.BOXRUN_STATE_DIR;
  if (process.getuid?.() === 0) return '/var/lib/boxrun';
  return join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'boxrun');
}

export function defaultConfig(env: NodeJS.ProcessEnv = process.env): BoxrunConfig {
  return {
    stateDir: defaultStateDir(env),
    // Strict seccomp costs nothing measurable and no conformance test needs more (docs/images-and-networks.md).
    docker: { user: '1000:1000', seccompProfile: 'strict', reapGraceSeconds: 30, reapIntervalSeconds: 60 },
    limits: { ...limitsDefaults },
    compileLimits: { ...limitsDefaults, timeoutMs: 30_000, memoryMb: 1024, pids: 256 },
    minCompileTimeoutMs: 0,
    maxLimits: {
      timeoutMs: 300_000,
      cpuTimeMs: 300_000,
      memoryMb: 4096,
      cpus: 4,
      pids: 1024,
      outputBytes: 64 * 1024 * 1024,
      diskMb: 1024,
    },
    executor: { type: 'docker', fallback: [], allowUnsafeHost: false },
    namespace: { cgroupParent: 'boxrun' },
    workspaces: { allowedRoots: [], uid: 1000, gid: 1000 },
    podman: {
      host:
        process.getuid?.() === 0
          ? 'unix:///run/podman/podman.sock'
          : `unix://${join(env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 1000}`, 'podman', 'podman.sock')}`,
    },
    images: {
      allowList: [],
      // A Dockerfile's RUN steps run as root in a build container: off unless the operator trusts callers.
      allowBuilds: false,
      buildTimeoutMs: 300_000,
      maxContextBytes: 32 * 1024 * 1024,
      buildMemoryMb: 2048,
    },
    // Secure by default: no way out of the sandbox unless the operator opens one ('localhost' is
    // the same isolation as 'none'). Library callers and operators widen it in config.
    network: {
      allowedPolicies: ['none', 'localhost'],
      egressNetwork: 'bridge',
      proxyImage: 'boxrun/javascript:18',
    },
    hygiene: { budgetBytes: 0, lowSpaceBytes: 2 * 1024 * 1024 * 1024 },
    server: {
      host: '127.0.0.1',
      port: 8080,
      maxConcurrent: availableParallelism(),
      maxQueued: 1000,
      maxBatch: 100,
      bodyLimitBytes: 16 * 1024 * 1024,
      apiKeys: [],
      keyMaxConcurrent: 0,
      retentionHours: 168,
      cleanupIntervalSeconds: 300,
      webhookSecret: '',
      webhookMaxAttempts: 5,
      webhookBackoffMs: 1000,
      webhookTimeoutMs: 10_000,
      allowPrivateCallbacks: false,
      dbPath: '',
      shutdownGraceMs: 10_000,
      recoverRunning: 'requeue',
      logLevel: 'info',
      warmPool: true,
      judge0Prefix: '/judge0',
    },
    store: { url: '', connectTimeoutMs: 5000, poolSize: 10 },
    cluster: { role: 'all', redis: '', lockDurationMs: 0 },
    isolation: {
      vmRuntime: 'runsc',
      setupGvisor: false,
      daemonConfig: '/etc/docker/daemon.json',
    },
    pool: {
      size: 0,
      runtimes: [],
      sizes: {},
      compile: true,
      maxTotal: 32,
      idleTtlSeconds: 300,
      replenishConcurrency: 2,
      recycle: true,
      maxUses: 100,
      maxAgeSeconds: 600,
    },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

/** TOML keys are snake_case (as in seed 002); config keys are camelCase. */
function camelize(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelize);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
      camelize(v),
    ]),
  );
}

/** BOXRUN_DOCKER_HOST, BOXRUN_LIMITS_TIMEOUT_MS, … map onto the config tree; DOCKER_HOST too. */
function fromEnv(env: NodeJS.ProcessEnv, template: BoxrunConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (node: Record<string, unknown>, prefix: string, target: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(node)) {
      const name = `${prefix}_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
      if (isObject(value)) {
        const child: Record<string, unknown> = {};
        walk(value, name, child);
        if (Object.keys(child).length > 0) target[key] = child;
        continue;
      }
      const raw = env[name];
      if (raw === undefined) continue;
      target[key] =
        typeof value === 'number'
          ? Number(raw)
          : typeof value === 'boolean'
            ? raw === 'true'
            : Array.isArray(value)
              ? raw
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean)
              : raw;
    }
  };
  const shape: Record<string, unknown> = {
    ...template,
    docker: {
      host: '',
      hosts: '',
      runtime: '',
      seccompProfile: '',
      apparmorProfile: '',
      runLabel: '',
      ...template.docker,
    },
    isolation: { anonymousMin: '', anonymousMax: '', ...template.isolation },
  };
  walk(shape, 'BOXRUN', out);
  delete out.stateDir; // defaultStateDir already honours BOXRUN_STATE_DIR
  return out;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  /** Path of a TOML file; BOXRUN_CONFIG or ./boxrun.toml when absent (missing file is fine). */
  file?: string;
  overrides?: ConfigOverrides;
}

export function loadConfig(options: LoadConfigOptions = {}): BoxrunConfig {
  const env = options.env ?? process.env;
  const defaults = defaultConfig(env);
  let merged: Record<string, unknown> = defaults as unknown as Record<string, unknown>;
  const file = options.file ?? env.BOXRUN_CONFIG ?? (existsSync('boxrun.toml') ? 'boxrun.toml' : undefined);
  if (file) {
    let parsed: unknown;
    try {
      parsed = camelize(parseToml(readFileSync(file, 'utf8')));
    } catch (error) {
      throw new BoxrunError(
        'CONFIG_INVALID',
        `cannot read config file ${file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    merged = deepMerge(merged, parsed as Record<string, unknown>);
  }
  merged = deepMerge(merged, fromEnv(env, defaults));
  if (env.DOCKER_HOST && !(merged.docker as Record<string, unknown>).host) {
    merged = deepMerge(merged, { docker: { host: env.DOCKER_HOST } });
  }
  merged = deepMerge(merged, (options.overrides ?? {}) as Record<string, unknown>);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue?.path.join('.') || '(root)';
    throw new BoxrunError('CONFIG_INVALID', `invalid config at '${key}': ${issue?.message ?? 'invalid'}`, {
      details: { path: key },
    });
  }
  return result.data;
}
