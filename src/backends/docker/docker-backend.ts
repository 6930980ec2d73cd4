import { randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type {
  ExecutorCapabilities,
  HealthReport,
  PlanSetup,
  PrepareOptions,
  StepBackend,
  StepOutput,
  StepRun,
} from '../../core/executor.js';
import type { ResourceLimits } from '../../core/request.js';
import {
  type BuildInfo,
  type ExecutionResult,
  type IsolationLevel,
  notRunResult,
} from '../../core/result.js';
import { ImageUsageLog } from '../../hygiene/image-usage-log.js';
import { type ExecutionPlan, planExecution, resultOrigin, type StepPlan } from '../../runtimes/plan.js';
import { defaultRegistry, type RuntimeRegistry } from '../../runtimes/registry.js';
import { resolveSandboxMounts, type SandboxMounts } from '../../workspaces/resolve-workspace.js';
import { usePodmanAttach } from '../podman/podman-attach.js';
import { adaptSpecForPodman, isPodmanEngine } from '../podman/podman-quirks.js';
import type { SandboxOutcome } from '../supervisor/job-runner.js';
import { toStepResult } from '../supervisor/step-result.js';
import { createContainerSpec } from './container-spec.js';
import { CustomImageBuilder, checkImageAllowed } from './custom-image.js';
import { dockerMounts, ensureCacheVolume } from './docker-mounts.js';
import { type ConnectedEngine, connectEngine, translateEngineError } from './engine.js';
import { dockerIsolationLevel } from './gvisor.js';
import { ImageManager } from './image-manager.js';
import { NetworkPolicyManager, type NetworkSession } from './network-policy.js';
import { Reaper } from './reaper.js';
import { labelContainersOf } from './run-label.js';
import { Sandbox } from './sandbox.js';
import type { SandboxSource } from './sandbox-source.js';
import {
  describeAppArmor,
  resolveSeccompProfile,
  type SeccompSetting,
  seccompSecurityOption,
} from './security-profile.js';
import { WarmPool, type WarmPoolStats, type WarmPoolTarget } from './warm-pool.js';

export interface DockerBackendOptions {
  config: BoxrunConfig;
  registry?: RuntimeRegistry;
  /** An already connected engine (tests, several engines); found from config otherwise. */
  engine?: ConnectedEngine;
  /** Run the reaper (at start and periodically). Default true. */
  reaper?: boolean;
}

/** Setup time a sandbox may take before its program starts, added to its deadline label. */
const START_SLACK_MS = 60_000;

/**
 * How one step runs on a Docker (or Podman) engine: a fresh sandbox container, or one lent by the
 * warm pool, with boxrun-sv as PID 1. The run flow above it is src/judge/step-executor.ts.
 */
export class DockerBackend implements StepBackend {
  private readonly config: BoxrunConfig;
  private readonly registry: RuntimeRegistry;
  private enginePromise: Promise<ConnectedEngine> | null;
  private readonly cleanups = new Set<Promise<void>>();
  private reaper: Reaper | null = null;
  private images: ImageManager | null = null;
  private customImages: CustomImageBuilder | null = null;
  private networks: NetworkPolicyManager | null = null;
  private seccomp: SeccompSetting | null = null;
  /** What capabilities() calls this backend. */
  protected readonly backendName: string = 'docker';
  private readonly imageUsage: ImageUsageLog;
  /** The engine reached is Podman (podman-quirks.ts): found on connect. */
  private podman = false;
  private podmanChecked: Promise<void> | null = null;
  private closed = false;
  /** Replaced by a warm pool when one is attached. */
  sandboxSource: SandboxSource | null = null;
  /** The warm pool, when config.pool asks for one (started with the engine). */
  private pool: WarmPool | null = null;

  constructor(private readonly options: DockerBackendOptions) {
    this.config = options.config;
    this.registry = options.registry ?? defaultRegistry;
    this.imageUsage = new ImageUsageLog(options.config.stateDir);
    this.enginePromise = options.engine ? Promise.resolve(options.engine) : null;
  }

  /** The engine, connected on first use; a failed connection is retried on the next call. */
  async engine(): Promise<ConnectedEngine> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', 'executor is closed');
    if (!this.enginePromise) {
      this.enginePromise = connectEngine(this.config.docker.host);
      this.enginePromise.catch(() => {
        this.enginePromise = null;
      });
    }
    const engine = await this.enginePromise;
    labelContainersOf(engine.docker, this.config.docker.runLabel);
    // Podman answers on the same API with a few differences; they must be known before any attach.
    this.podmanChecked ??= isPodmanEngine(engine.docker).then((podman) => {
      this.podman = podman;
      if (podman) usePodmanAttach(engine.docker);
    });
    await this.podmanChecked;
    if (!this.reaper && this.options.reaper !== false) {
      this.reaper = new Reaper(engine.docker, this.config.docker.reapGraceSeconds * 1000);
      this.reaper.start(this.config.docker.reapIntervalSeconds * 1000);
    }
    this.images ??= new ImageManager(engine.docker, this.registry);
    this.customImages ??= new CustomImageBuilder(engine.docker, this.config.images);
    this.networks ??= new NetworkPolicyManager(engine.docker, this.config.network);
    return engine;
  }

  /**
   * Attach a warm pool when config.pool wants one (see src/backends/docker/warm-pool.ts). Done on the
   * first execution or warmup, not on connect: doctor and image commands must not start containers.
   */
  private startPool(docker: Docker): void {
    if (this.pool || this.sandboxSource || this.closed) return;
    const pool = this.config.pool;
    const names = pool.runtimes.length > 0 ? pool.runtimes : this.registry.names();
    const targets: WarmPoolTarget[] = [];
    // In every pool container's execution label, so one pool's containers can be told apart.
    const poolId = randomUUID().slice(0, 8);
    for (const name of names) {
      const runtime = this.registry.get(name);
      const size = pool.sizes[runtime.name] ?? pool.sizes[name] ?? pool.size;
      if (size <= 0) continue;
      // The plan of an empty program gives exactly the limits a default request of this runtime gets.
      const plan = planExecution(
        { runtime: runtime.name, files: [{ path: runtime.sourceFile, content: '' }] },
        this.registry,
        this.config,
      );
      const steps: [string, StepPlan][] = [[runtime.name, plan.run]];
      if (plan.compile && pool.compile) steps.push([`${runtime.name}/compile`, plan.compile]);
      for (const [label, step] of steps) {
        targets.push({
          name: label,
          image: plan.image,
          size,
          makeSpec: (deadline) =>
            this.sandboxSpec(plan, step.limits, `pool:${poolId}:${label}`, 'pool', deadline),
        });
      }
    }
    if (targets.length === 0) return;
    this.pool = new WarmPool(docker, {
      id: poolId,
      targets,
      maxTotal: pool.maxTotal,
      idleTtlMs: pool.idleTtlSeconds * 1000,
      maxRunMs: this.config.maxLimits.timeoutMs,
      graceMs: START_SLACK_MS,
      replenishConcurrency: pool.replenishConcurrency,
      ...(pool.recycle ? { recycle: { maxUses: pool.maxUses, maxAgeMs: pool.maxAgeSeconds * 1000 } } : {}),
    });
    this.sandboxSource = this.pool;
    this.pool.start();
  }

  /** Warm pool counters (for /metrics and doctor); null when no pool is attached. */
  poolStats(): WarmPoolStats | null {
    return this.pool?.stats() ?? null;
  }

  async imageManager(): Promise<ImageManager> {
    await this.engine();
    return this.images!;
  }

  isolationLevel(): IsolationLevel {
    return dockerIsolationLevel(this.config);
  }

  /** The engine, network policy, image (built from the request's Dockerfile when it has one). */
  async prepare(plan: ExecutionPlan, id: string, options: PrepareOptions): Promise<PlanSetup> {
    await this.engine();
    this.networks!.check(plan.request.network);
    if (plan.request.image) checkImageAllowed(plan.request.image, this.config.images.allowList);
    let build: BuildInfo | undefined;
    if (plan.request.dockerfile) {
      build = await this.buildCustomImage(plan, id, options);
      if (build.error) return { failed: this.buildFailure(id, plan, build), build };
      plan.image = build.image;
    }
    // A running warm container of this image proves it is there: no inspect call per execution.
    if (!this.pool?.hasImage(plan.image))
      await this.images!.requireImage(plan.image, plan.runtime?.name ?? null);
    return build ? { build } : {};
  }

  async runStep(run: StepRun): Promise<StepOutput> {
    const outcome = await this.runInSandbox(run);
    return { step: toStepResult(outcome, run.step.limits), files: outcome.files, refused: outcome.refused };
  }

  private async runInSandbox({ id, plan, step, options, compiling }: StepRun): Promise<SandboxOutcome> {
    if (options.signal?.aborted) throw new BoxrunError('CANCELED', 'execution canceled');
    const { docker } = await this.engine();
    this.startPool(docker);
    // Disk hygiene prunes least recently used images first: every execution counts, whoever runs it.
    this.imageUsage.recordImageUse(plan.image);
    // Host workspace and named cache (build tasks): checked before anything starts; never pooled.
    const mounts = resolveSandboxMounts(plan.request, this.config);
    const hasMounts = mounts.workspace !== null || mounts.cacheVolume !== null;
    if (mounts.cacheVolume && mounts.user)
      await ensureCacheVolume(docker, mounts.cacheVolume, plan.image, mounts.user);
    const supervisorVolume = plan.customImage ? await this.images!.supervisorVolume() : undefined;
    const deadline = Date.now() + step.limits.timeoutMs + START_SLACK_MS;
    const network = await this.networks!.open(plan.request.network, plan.request.allowHosts, {
      executionId: id,
      deadline,
    });
    // The proxy variables (allowlist) go under the request's own environment.
    const { job } = step;
    const stepJob =
      Object.keys(network.env).length > 0 ? { ...job, env: { ...network.env, ...job.env } } : job;
    const spec = () =>
      this.sandboxSpec(
        plan,
        step.limits,
        id,
        'oneshot',
        deadline,
        supervisorVolume,
        network.networkMode,
        hasMounts ? mounts : undefined,
      );
    let sandbox: Sandbox;
    try {
      // Warm containers have no network; any other policy gets a sandbox of its own.
      sandbox =
        this.sandboxSource && network.networkMode === 'none' && !hasMounts
          ? await this.sandboxSource.acquire(plan.image, step.limits, spec)
          : await Sandbox.start(docker, spec());
    } catch (error) {
      await network.close();
      throw error;
    }
    // A sandbox lent by a recycling pool: its supervisor resets it after the job, for the next one.
    const recycling = sandbox.recycling;
    let outcome: SandboxOutcome | null = null;
    try {
      outcome = await sandbox.run(
        recycling ? { ...stepJob, limits: { ...stepJob.limits, recycle: 1 } } : stepJob,
        {
          timeoutMs: step.limits.timeoutMs,
          outputBytes: step.limits.outputBytes,
          ...(recycling ? { keepOpen: true } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          ...(!compiling && options.onOutput ? { onOutput: options.onOutput } : {}),
        },
      );
      if (outcome.report?.canceled || (options.signal?.aborted && !outcome.report)) {
        throw new BoxrunError('CANCELED', 'execution canceled');
      }
      return outcome;
    } finally {
      // The network can only go once the sandbox is gone (or back in the pool).
      this.track(sandbox.finish(outcome).finally(() => network.close()));
    }
  }

  /** Builds (or finds built) the request's Dockerfile under its network policy. */
  private async buildCustomImage(
    plan: ExecutionPlan,
    id: string,
    options: PrepareOptions,
  ): Promise<BuildInfo> {
    const builder = this.customImages!;
    const input = { dockerfile: plan.request.dockerfile!, context: plan.request.context };
    builder.check(input);
    let network: NetworkSession | null = null;
    try {
      network = await this.networks!.open(plan.request.network, plan.request.allowHosts, {
        executionId: id,
        deadline: Date.now() + this.config.images.buildTimeoutMs,
      });
      return await builder.ensure(input, {
        networkMode: network.buildNetworkMode,
        buildArgs: network.env,
        ...(options.onBuildLog ? { onLog: options.onBuildLog } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      await network?.close();
    }
  }

  private buildFailure(id: string, plan: ExecutionPlan, build: BuildInfo): ExecutionResult {
    return {
      ...notRunResult(
        'build_error',
        { ...resultOrigin(plan, id, this.isolationLevel()), image: build.image },
        `image build failed: ${build.error?.split('\n').pop() ?? 'unknown error'}`,
      ),
      build,
    };
  }

  /** config.docker.seccompProfile, read and checked once. */
  protected seccompSetting(): SeccompSetting {
    this.seccomp ??= resolveSeccompProfile(this.config.docker.seccompProfile);
    return this.seccomp;
  }

  /** What follows `seccomp=`; none for the engine's default profile. */
  protected seccompOption(): string | undefined {
    return seccompSecurityOption(this.seccompSetting(), this.podman);
  }

  /**
   * The container spec of one step. The warm pool builds its containers with this same function:
   * a request uses a warm container only when its spec is identical apart from labels.
   */
  private sandboxSpec(
    plan: ExecutionPlan,
    limits: ResourceLimits,
    id: string,
    kind: 'oneshot' | 'pool',
    deadline: number,
    supervisorVolume?: string,
    networkMode?: string,
    mounts?: SandboxMounts,
  ): Docker.ContainerCreateOptions {
    const seccompProfile = this.seccompOption();
    const spec = createContainerSpec({
      id,
      image: plan.image,
      limits,
      user: mounts?.user ? `${mounts.user.uid}:${mounts.user.gid}` : this.config.docker.user,
      deadline,
      kind,
      ...(mounts ? { mounts: dockerMounts(mounts) } : {}),
      ...(supervisorVolume ? { supervisorVolume } : {}),
      ...(this.config.docker.runtime ? { runtime: this.config.docker.runtime } : {}),
      ...(this.isolationLevel() === 'vm' ? { ownKernel: true } : {}),
      ...(seccompProfile ? { seccompProfile } : {}),
      ...(networkMode ? { networkMode } : {}),
      ...(this.config.docker.apparmorProfile ? { apparmorProfile: this.config.docker.apparmorProfile } : {}),
    });
    return this.adaptSpec(spec);
  }

  /** An engine's last word on a sandbox's spec: Podman's quirks; the same spec for Docker. */
  private adaptSpec(spec: Docker.ContainerCreateOptions): Docker.ContainerCreateOptions {
    return this.podman ? adaptSpecForPodman(spec) : spec;
  }

  private track(cleanup: Promise<void>): void {
    const p = cleanup.catch(() => {}).finally(() => this.cleanups.delete(p));
    this.cleanups.add(p);
  }

  async healthCheck(): Promise<HealthReport> {
    const problems: string[] = [];
    let engine: ConnectedEngine;
    try {
      engine = await this.engine();
    } catch (error) {
      return {
        ok: false,
        engine: {
          reachable: false,
          endpoint: this.config.docker.host ?? 'auto',
          error: (error as Error).message,
        },
        images: [],
        problems: [(error as Error).message],
      };
    }
    // Connected once, gone now (dockerd stopped or restarting): report it unreachable, as when it
    // never answered, instead of rejecting on the image inspections — a rejected check left /readyz
    // without its report and kept submissions open to an engine that is down.
    const unreachable = (error: unknown, what: string): HealthReport => {
      const message = translateEngineError(error, what).message;
      return {
        ok: false,
        engine: { reachable: false, endpoint: engine.endpoint.url, error: message },
        images: [],
        problems: [message],
      };
    };
    let version: string | undefined;
    try {
      version = (await engine.docker.version()).Version;
    } catch (error) {
      if (translateEngineError(error, '').code === 'ENGINE_UNAVAILABLE')
        return unreachable(error, 'asking the engine version');
      problems.push(translateEngineError(error, 'asking the engine version').message);
    }
    let images: Awaited<ReturnType<ImageManager['status']>>;
    try {
      images = await this.images!.status();
    } catch (error) {
      const translated = translateEngineError(error, 'checking the runtime images');
      if (translated.code === 'ENGINE_UNAVAILABLE') return unreachable(error, 'checking the runtime images');
      problems.push(translated.message);
      images = [];
    }
    for (const img of images) {
      if (!img.present)
        problems.push(
          `image ${img.image} for ${img.runtime} is missing: run 'boxrun images build ${img.runtime}'`,
        );
      else if (!img.current)
        problems.push(
          `image ${img.image} for ${img.runtime} is out of date: run 'boxrun images build ${img.runtime}'`,
        );
    }
    return {
      ok: problems.length === 0,
      engine: { reachable: true, endpoint: engine.endpoint.url, ...(version ? { version } : {}) },
      images,
      problems,
    };
  }

  async warmup(): Promise<void> {
    const images = await this.imageManager();
    for (const runtime of this.registry.all) await images.requireImage(runtime.image, runtime.name);
    this.startPool((await this.engine()).docker);
    await this.pool?.fill();
  }

  async capabilities(): Promise<ExecutorCapabilities> {
    const { docker } = await this.engine();
    let info: Record<string, unknown> = {};
    let version: { Version?: string; ApiVersion?: string } = {};
    try {
      [info, version] = await Promise.all([docker.info(), docker.version()]);
    } catch (error) {
      throw translateEngineError(error, 'reading engine info');
    }
    return {
      backend: this.backendName,
      isolationLevel: this.isolationLevel(),
      platform: process.platform,
      supportsCpuLimit: info.CpuCfsQuota !== false,
      supportsMemoryLimit: info.MemoryLimit !== false,
      supportsSwapLimit: info.SwapLimit !== false,
      supportsPidsLimit: info.PidsLimit !== false,
      supportsDiskLimit: true,
      supportsNetworkIsolation: true,
      supportsReadonlyRootfs: true,
      networkPolicies: this.networks!.policies(),
      runtimes: this.registry.names(),
      seccomp: this.seccompSetting().report,
      apparmor: describeAppArmor(
        this.config.docker.apparmorProfile,
        Array.isArray(info.SecurityOptions) ? (info.SecurityOptions as string[]) : [],
      ),
      supportsCustomBuilds: this.config.images.allowBuilds,
      engine: {
        version: version.Version ?? 'unknown',
        apiVersion: version.ApiVersion ?? 'unknown',
        cgroupVersion: String(info.CgroupVersion ?? '1'),
        kernelVersion: String(info.KernelVersion ?? 'unknown'),
        storageDriver: String(info.Driver ?? 'unknown'),
        runtime: this.config.docker.runtime ?? String(info.DefaultRuntime ?? 'runc'),
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reaper?.stop();
    await this.pool?.close();
    while (this.cleanups.size > 0) await Promise.all([...this.cleanups]);
  }
}
