import { randomUUID } from 'node:crypto';
import type { BoxrunConfig } from '../config/config.js';
import type {
  ExecuteOptions,
  Executor,
  ExecutorCapabilities,
  HealthReport,
  PreparedProgram,
  PrepareOptions,
  RunVariant,
  StepBackend,
  StepOutput,
} from '../core/executor.js';
import { assertTierSatisfied } from '../core/isolation.js';
import type { ExecutionRequestInput } from '../core/request.js';
import { compileFailureResult, type ExecutionResult, type IsolationLevel } from '../core/result.js';
import { encodeBytes } from '../core/verdict.js';
import { planExecution, planRunVariant, resultOrigin } from '../runtimes/plan.js';
import { defaultRegistry, type RuntimeRegistry } from '../runtimes/registry.js';
import { executeRequest } from './judge.js';

export interface StepExecutorOptions {
  config: BoxrunConfig;
  registry?: RuntimeRegistry;
}

/**
 * The one run flow of every backend: the request is validated and planned once, judged (tests,
 * testFramework) or run once, and a compiled runtime is compiled once and run many times, each
 * step through the backend's `prepare` / `runStep`. A backend only says how one step runs.
 */
export class StepExecutor<B extends StepBackend = StepBackend> implements Executor {
  protected readonly config: BoxrunConfig;
  protected readonly registry: RuntimeRegistry;

  constructor(
    readonly backend: B,
    options: StepExecutorOptions,
  ) {
    this.config = options.config;
    this.registry = options.registry ?? defaultRegistry;
  }

  isolationLevel(): IsolationLevel {
    return this.backend.isolationLevel();
  }

  execute(input: ExecutionRequestInput, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    return executeRequest(this, input, options, this.config.maxLimits.timeoutMs);
  }

  /**
   * Validates, resolves and compiles once. The compiled program can then be run many times
   * (`runPrepared`), each run in a fresh sandbox. A compile failure is returned as `failed`.
   */
  async prepare(input: ExecutionRequestInput, options: PrepareOptions = {}): Promise<PreparedProgram> {
    const plan = planExecution(input, this.registry, this.config, {
      ...(options.testFramework ? { testFramework: options.testFramework } : {}),
    });
    assertTierSatisfied(plan.request.isolation, this.isolationLevel());
    const id = options.id ?? randomUUID();
    const setup = await this.backend.prepare(plan, id, options);
    const prepared: PreparedProgram = {
      id,
      plan,
      files: plan.run.job.files,
      failed: setup.failed ?? null,
      ...(setup.build ? { build: setup.build } : {}),
    };
    if (prepared.failed || !plan.compile) return prepared;
    const compiled = await this.backend.runStep({
      id,
      plan,
      step: plan.compile,
      options: options.signal ? { signal: options.signal } : {},
      compiling: true,
    });
    prepared.compile = compiled.step;
    prepared.files = compiled.files;
    if (compiled.step.status !== 'ok') {
      prepared.failed = compileFailureResult(resultOrigin(plan, id, this.isolationLevel()), compiled.step);
      if (setup.build) prepared.failed.build = setup.build;
    }
    return prepared;
  }

  /** One run of a prepared program, optionally with other stdin, arguments or time limit. */
  async runPrepared(
    prepared: PreparedProgram,
    variant: RunVariant = {},
    options: ExecuteOptions = {},
  ): Promise<ExecutionResult> {
    if (prepared.failed) return prepared.failed;
    const step = planRunVariant(prepared.plan, prepared.files, variant);
    const id = options.id ?? prepared.id;
    const output = await this.backend.runStep({ id, plan: prepared.plan, step, options, compiling: false });
    return toExecutionResult(output, prepared, id, this.isolationLevel());
  }

  healthCheck(): Promise<HealthReport> {
    return this.backend.healthCheck();
  }

  warmup(): Promise<void> {
    return this.backend.warmup();
  }

  capabilities(): Promise<ExecutorCapabilities> {
    return this.backend.capabilities();
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

/**
 * A run step of a prepared program → the execution's result: the step, its output files (text or
 * base64) and refusals, with the program's compile step and image build carried along.
 */
function toExecutionResult(
  output: StepOutput,
  prepared: PreparedProgram,
  id: string,
  isolationLevel: IsolationLevel,
): ExecutionResult {
  return {
    id,
    ...output.step,
    runtime: prepared.plan.runtime?.name ?? null,
    image: prepared.plan.image,
    files: output.files.map((f) => {
      const enc = encodeBytes(f.content);
      return {
        path: f.path,
        content: enc.text,
        encoding: enc.encoding,
        mode: f.mode,
        size: f.content.length,
      };
    }),
    refusedFiles: output.refused,
    isolationLevel,
    ...(prepared.compile ? { compile: prepared.compile } : {}),
    ...(prepared.build ? { build: prepared.build } : {}),
  };
}
