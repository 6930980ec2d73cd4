import { randomUUID } from 'node:crypto';
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
import { assertTierSatisfied } from '../../core/isolation.js';
import type { ExecutionRequestInput } from '../../core/request.js';
import {
  compileFailureResult,
  type ExecutionResult,
  type IsolationLevel,
  type StepResult,
} from '../../core/result.js';
import { executeRequest } from '../../judge/judge.js';
import {
  type ExecutionPlan,
  planExecution,
  planRunVariant,
  resultOrigin,
  type StepPlan,
} from '../../runtimes/plan.js';
import { defaultRegistry, type RuntimeRegistry } from '../../runtimes/registry.js';
import { resolveSandboxMounts, type SandboxMounts } from '../../workspaces/resolve-workspace.js';
import type { SandboxOutcome } from './job-runner.js';
import type { SupervisorJob } from './protocol.js';
import { toExecutionResult, toStepResult } from './step-result.js';

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
 * The executor shape shared by the backends that start boxrun-sv as a child process (host,
 * namespace): the same plan, the same compile-once/run-many flow and the same result mapping as
 * the Docker backend; subclasses only say how one supervised step is launched.
 */
export abstract class ProcessExecutor implements Executor {
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

  async execute(input: ExecutionRequestInput, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    return executeRequest(this, input, options, this.config.maxLimits.timeoutMs);
  }

  async prepare(input: ExecutionRequestInput, options: PrepareOptions = {}): Promise<PreparedProgram> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', `${this.backend} executor is closed`);
    const plan = planExecution(input, this.registry, this.config, {
      ...(options.testFramework ? { testFramework: options.testFramework } : {}),
    });
    assertTierSatisfied(plan.request.isolation, this.isolationLevel());
    const mounts = resolveSandboxMounts(plan.request, this.config);
    const id = options.id ?? randomUUID();
    await this.checkReady(plan);
    const prepared: PreparedProgram = { id, plan, files: plan.run.job.files, failed: null };
    if (plan.compile) {
      const outcome = await this.step({
        id,
        plan,
        step: plan.compile,
        job: plan.compile.job,
        mounts,
        options: options.signal ? { signal: options.signal } : {},
        compiling: true,
      });
      prepared.compile = outcome.step;
      if (prepared.compile.status !== 'ok')
        prepared.failed = compileFailureResult(
          resultOrigin(plan, id, this.isolationLevel()),
          prepared.compile,
        );
      prepared.files = outcome.outcome.files;
    }
    return prepared;
  }

  async runPrepared(
    prepared: PreparedProgram,
    variant: RunVariant = {},
    options: ExecuteOptions = {},
  ): Promise<ExecutionResult> {
    if (prepared.failed) return prepared.failed;
    const run = planRunVariant(prepared.plan, prepared.files, variant);
    const id = options.id ?? prepared.id;
    const { outcome, step } = await this.step({
      id,
      plan: prepared.plan,
      step: run,
      job: run.job,
      mounts: resolveSandboxMounts(prepared.plan.request, this.config),
      options,
      compiling: false,
    });
    return toExecutionResult(outcome, step, prepared, id, this.isolationLevel());
  }

  /** Cleanup that need not delay the result (sandbox teardown); close() still waits for it. */
  protected track(cleanup: Promise<unknown>): void {
    const tracked = cleanup.catch(() => {}).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  private async step(ctx: StepContext): Promise<{ outcome: SandboxOutcome; step: StepResult }> {
    if (this.closed) throw new BoxrunError('ENGINE_UNAVAILABLE', `${this.backend} executor is closed`);
    if (ctx.options.signal?.aborted) throw new BoxrunError('CANCELED', 'execution canceled');
    const running = this.runSupervisedStep(ctx);
    const tracked = running.catch(() => {}).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
    const outcome = await running;
    if (outcome.report?.canceled || (ctx.options.signal?.aborted && !outcome.report)) {
      throw new BoxrunError('CANCELED', 'execution canceled');
    }
    return { outcome, step: this.adjustStep(toStepResult(outcome, ctx.step.limits), ctx) };
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.running.size > 0) await Promise.all([...this.running]);
  }
}
