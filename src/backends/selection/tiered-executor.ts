import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type {
  ExecuteOptions,
  Executor,
  ExecutorCapabilities,
  HealthReport,
  PreparedProgram,
  PrepareOptions,
  RunVariant,
} from '../../core/executor.js';
import { type IsolationTier, satisfiesTier, VM_TIER_SETUP_COMMAND } from '../../core/isolation.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import type { ExecutionResult, IsolationLevel } from '../../core/result.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import { probeIsolationTiers, type TierProbe, vmTierConfig } from '../docker/gvisor.js';
import type { WarmPoolStats } from '../docker/warm-pool.js';
import { DockerExecutor } from './executors.js';
import { PreparedOwners } from './prepared-owners.js';

export interface TieredExecutorOptions {
  config: BoxrunConfig;
  /** The executor of the default tier (Docker, a selection chain, several engines). */
  base: Executor;
  registry?: RuntimeRegistry;
  /** How long an unavailable vm tier is believed before it is probed again. */
  recheckMs?: number;
}

/**
 * Routes each request to the tier it asks for (`isolation`, else `isolation.default`): requests the
 * base executor satisfies run there; `vm` requests on a runc base run on a second Docker executor
 * whose sandboxes use the vm runtime (gVisor), with its own warm pool. A tier that is not set up is
 * ISOLATION_UNAVAILABLE naming the setup command, never a run on a weaker tier. Every result
 * carries the `isolationLevel` it actually ran with.
 */
export class TieredExecutor implements Executor {
  private readonly config: BoxrunConfig;
  private readonly base: Executor;
  private vm: DockerExecutor | null = null;
  private vmProbe: { at: number; probe: TierProbe } | null = null;
  private readonly programs = new PreparedOwners();
  private readonly recheckMs: number;

  constructor(private readonly options: TieredExecutorOptions) {
    this.config = options.config;
    this.base = options.base;
    this.recheckMs = options.recheckMs ?? 30_000;
  }

  /** The tier a request runs with. */
  tierOf(request: ExecutionRequestInput): IsolationTier | undefined {
    return request.isolation ?? this.config.isolation.default;
  }

  /** The last probe of the vm tier (null before the first): what admission checks synchronously. */
  vmStatus(): TierProbe | null {
    if (this.vm) return { tier: 'vm', available: true, reason: `${this.config.isolation.vmRuntime} in use` };
    return this.vmProbe?.probe ?? null;
  }

  /** Probes the vm tier now (or reuses a recent probe). */
  async probeVm(): Promise<TierProbe> {
    if (this.vm) return this.vmStatus()!;
    if (this.vmProbe && Date.now() - this.vmProbe.at < this.recheckMs) return this.vmProbe.probe;
    const probes = await probeIsolationTiers(this.config);
    const probe = probes.find((p) => p.tier === 'vm')!;
    this.vmProbe = { at: Date.now(), probe };
    return probe;
  }

  /** Throws ISOLATION_UNAVAILABLE when `tier` is known to be unavailable (no engine call). */
  assertAvailable(tier: IsolationTier): void {
    if (satisfiesTier(this.base.isolationLevel(), tier)) return;
    const status = this.vmStatus();
    // Set up since the last probe? Look again in the background; this request goes by what is known.
    if (!this.vm && this.vmProbe && Date.now() - this.vmProbe.at >= this.recheckMs)
      void this.probeVm().catch(() => {});
    if (status && !status.available) throw unavailable(status);
  }

  private async executorFor(request: ExecutionRequestInput): Promise<Executor> {
    const tier = this.tierOf(request);
    if (!tier || satisfiesTier(this.base.isolationLevel(), tier)) return this.base;
    if (!this.vm) {
      const probe = await this.probeVm();
      if (!probe.available) throw unavailable(probe);
      this.vm ??= new DockerExecutor({
        config: vmTierConfig(this.config),
        ...(this.options.registry ? { registry: this.options.registry } : {}),
      });
    }
    return this.vm;
  }

  async execute(request: ExecutionRequestInput, options?: ExecuteOptions): Promise<ExecutionResult> {
    return (await this.executorFor(request)).execute(request, options);
  }

  async prepare(request: ExecutionRequestInput, options?: PrepareOptions): Promise<PreparedProgram> {
    return this.programs.prepare(await this.executorFor(request), request, options);
  }

  /** A prepared program runs on the tier that compiled it. */
  runPrepared(
    program: PreparedProgram,
    variant?: RunVariant,
    options?: ExecuteOptions,
  ): Promise<ExecutionResult> {
    return (this.programs.ownerOf(program) ?? this.base).runPrepared(program, variant, options);
  }

  healthCheck(): Promise<HealthReport> {
    return this.base.healthCheck();
  }

  /** Warms the default tier; the vm tier warms on its first execution unless it is the default. */
  async warmup(): Promise<void> {
    await this.base.warmup();
    const tier = this.config.isolation.default;
    if (tier && !satisfiesTier(this.base.isolationLevel(), tier)) {
      await (await this.executorFor({})).warmup();
    }
  }

  capabilities(): Promise<ExecutorCapabilities> {
    return this.base.capabilities();
  }

  isolationLevel(): IsolationLevel {
    return this.base.isolationLevel();
  }

  /** The default tier's warm pool counters, when it has a pool (the service's /metrics). */
  poolStats(): WarmPoolStats | null {
    return (this.base as { poolStats?: () => WarmPoolStats | null }).poolStats?.() ?? null;
  }

  async close(): Promise<void> {
    await Promise.all([this.base.close(), this.vm?.close()]);
  }
}

function unavailable(probe: TierProbe): BoxrunError {
  return new BoxrunError('ISOLATION_UNAVAILABLE', `isolation 'vm' is not available: ${probe.reason}`, {
    details: { path: 'isolation', setup: VM_TIER_SETUP_COMMAND },
  });
}
