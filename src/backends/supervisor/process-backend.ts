import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type {
  ExecuteOptions,
  ExecutorCapabilities,
  HealthReport,
  PlanSetup,
  StepBackend,
  StepOutput,
  StepRun,
} from '../../core/executor.js';
import type { ExecutionPlan, StepPlan } from '../../core/plan.js';
import type { IsolationLevel, StepResult } from '../../core/result.js';
import { defaultRegistry, type RuntimeRegistry } from '../../runtimes/registry.js';
import { resolveSandboxMounts, type SandboxMounts } from '../../workspaces/resolve-workspace.js';
import type { SandboxOutcome } from './job-runner.js';
import type { SupervisorJob } from './protocol.js';
import { toStepResult } from './step-result.js';

/** What one step needs from a concrete process backend. */
export interface StepContext {
  id: string;
  plan: ExecutionPlan;
  step: StepPlan;
  job: SupervisorJob;
  mounts: SandboxMounts;
  options: ExecuteOptions;
  /** True for the compile step (no live output). */
  compiling: boolean;
}

/**
 * The step backend shared by the backends that start boxrun-sv as a child process (host,
 * namespace): subclasses only say how one supervised step is launched; the run flow
 * (src/judge/step-executor.ts) is the same as Docker's.
 */
export abstract class ProcessBackend implements StepBackend {
  protected readonly registry: RuntimeRegistry;
  protected closed = false;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    protected readonly config: BoxrunConfig,
    registry?: RuntimeRegistry,
  ) {
    this.registry = registry ?? defaultRegistry;
  }

  abstract readonly backend: string;
  abstract isolationLevel(): IsolationLevel;
  abstract healthCheck(): Promise<HealthReport>;
  abstract capabilities(): Promise<ExecutorCapabilities>;
  /** Runs one supervised step to its end and cleans up after it. */
  protected abstract runSupervisedStep(ctx: StepContext): Promise<SandboxOutcome>;
  /** Checked once per prepare, before anything runs (images, binaries). */
  protected abstract checkReady(plan: ExecutionPlan): Promise<void>;
  /** Adjusts a step's result (e.g. a backend-specific way a limit shows). */
  protected adjustStep(step: StepResult, _ctx: StepContext): StepResult {
    return step;
  }

  async warmup(): Promise<void> {}

  async prepare(plan: ExecutionPlan): Promise<PlanSetup> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', `${this.backend} executor is closed`);
    // Workspace and cache are checked before anything runs.
    resolveSandboxMounts(plan.request, this.config);
    await this.checkReady(plan);
    return {};
  }

  /** Cleanup that need not delay the result (sandbox teardown); close() still waits for it. */
  protected track(cleanup: Promise<unknown>): void {
    const tracked = cleanup.catch(() => {}).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  async runStep(run: StepRun): Promise<StepOutput> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', `${this.backend} executor is closed`);
    if (run.options.signal?.aborted) throw new BoxrunError('CANCELED', 'execution canceled');
    const ctx: StepContext = {
      ...run,
      job: run.step.job,
      mounts: resolveSandboxMounts(run.plan.request, this.config),
    };
    const running = this.runSupervisedStep(ctx);
    const tracked = running.catch(() => {}).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    const outcome = await running;
    if (outcome.report?.canceled || (ctx.options.signal?.aborted && !outcome.report)) {
      throw new BoxrunError('CANCELED', 'execution canceled');
    }
    return {
      step: this.adjustStep(toStepResult(outcome, ctx.step.limits), ctx),
      files: outcome.files,
      refused: outcome.refused,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
