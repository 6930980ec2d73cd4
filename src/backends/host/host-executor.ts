import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { ExecutorCapabilities, HealthReport } from '../../core/executor.js';
import type { IsolationLevel, StepResult } from '../../core/result.js';
import { BASE_ENV, type ExecutionPlan } from '../../runtimes/plan.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import type { SandboxOutcome } from '../supervisor/job-runner.js';
import { ProcessBackend, type StepContext } from '../supervisor/process-backend.js';
import { type ProcessLaunch, ProcessSandbox } from '../supervisor/process-sandbox.js';
import { hostSupervisorBinary } from '../supervisor/supervisor-binary.js';

export interface HostExecutorOptions {
  config: BoxrunConfig;
  registry?: RuntimeRegistry;
}

/**
 * The one check every caller (service, CLI, factory) makes before a host executor exists: it runs
 * untrusted code with no isolation at all, so only an explicit `allow_unsafe_host = true` allows it.
 */
export function assertHostExecutorAllowed(config: BoxrunConfig): void {
  if (!config.executor.allowUnsafeHost) {
    throw new BoxrunError(
      'FORBIDDEN',
      'the host executor runs code with no isolation (development and testing only); set [executor] allow_unsafe_host = true to allow it',
    );
  }
}

export function isHostExecutorAllowed(config: BoxrunConfig): boolean {
  return config.executor.allowUnsafeHost;
}

/**
 * Development/testing backend: boxrun-sv (built for this host with gcc) runs the program directly
 * on the host in a temporary work dir, with rlimits (CPU time, open files, core, file size, stack),
 * the supervisor's wall timeout and output caps, and the program's process group killed at the end.
 * No filesystem, network, memory or pids isolation: isolation level `none`.
 */
export class HostBackend extends ProcessBackend {
  readonly backend = 'host';

  constructor(options: HostExecutorOptions) {
    assertHostExecutorAllowed(options.config);
    super(options.config, options.registry);
  }

  isolationLevel(): IsolationLevel {
    return 'none';
  }

  /** The unprivileged user the program runs as when boxrun itself runs as root. */
  private runAs(ctx: StepContext): { uid: number; gid: number } | null {
    if (process.getuid?.() !== 0) return null;
    if (ctx.mounts.user) return ctx.mounts.user;
    const [uid, gid] = this.config.docker.user.split(':').map(Number) as [number, number];
    return { uid, gid };
  }

  protected async checkReady(plan: ExecutionPlan): Promise<void> {
    if (plan.customImage) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        'image: the host executor runs on the host and cannot use images',
      );
    }
    if (plan.request.workspace || plan.request.cacheVolume) {
      throw new BoxrunError(
        'INVALID_REQUEST',
        'workspace: the host executor has no mount namespace and cannot mount /workspace or /cache; use the namespace or docker executor',
        { details: { path: 'workspace' } },
      );
    }
    await hostSupervisorBinary(this.config.stateDir);
  }

  protected async runSupervisedStep(ctx: StepContext): Promise<SandboxOutcome> {
    const binary = await hostSupervisorBinary(this.config.stateDir);
    const workDir = mkdtempSync(join(tmpdir(), 'boxrun-host-'));
    const user = this.runAs(ctx);
    try {
      if (user) chownSync(workDir, user.uid, user.gid);
      const { limits } = ctx.step;
      const rlimits = ['--core=0', '--nofile=1024'];
      if (limits.cpuTimeMs > 0) {
        // Per process, whole seconds: the host's cgroup counters are the machine's, not ours.
        const soft = Math.max(1, Math.ceil(limits.cpuTimeMs / 1000));
        rlimits.push(`--cpu=${soft}:${soft + 1}`);
      }
      const launch: ProcessLaunch = {
        command: 'prlimit',
        args: [...rlimits, '--', binary, workDir],
        // execvpe looks the program up on the supervisor's own PATH, as in the image's ENV.
        env: { PATH: BASE_ENV.PATH as string },
        cwd: workDir,
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      };
      // cpu_ms=0: the supervisor's tree-wide CPU check reads cgroup counters, here the whole host's.
      const job = { ...ctx.job, limits: { ...ctx.job.limits, cpu_ms: 0 } };
      const sandbox = await ProcessSandbox.start(launch);
      try {
        return await sandbox.run(job, {
          timeoutMs: limits.timeoutMs,
          outputBytes: limits.outputBytes,
          ...(ctx.options.signal ? { signal: ctx.options.signal } : {}),
          ...(!ctx.compiling && ctx.options.onOutput ? { onOutput: ctx.options.onOutput } : {}),
        });
      } finally {
        await sandbox.wait(true);
      }
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
  }

  /** A CPU-time limit shows as SIGXCPU/SIGKILL from RLIMIT_CPU here, not as the supervisor's own kill. */
  protected override adjustStep(step: StepResult, ctx: StepContext): StepResult {
    const { limits } = ctx.step;
    const cpuKill =
      limits.cpuTimeMs > 0 &&
      (step.signal === 'SIGXCPU' || (step.signal === 'SIGKILL' && step.cpuTimeMs >= limits.cpuTimeMs));
    if (!cpuKill || step.status === 'memory_limit') return step;
    return {
      ...step,
      status: 'time_limit',
      timedOut: true,
      message: `CPU time limit of ${limits.cpuTimeMs} ms exceeded`,
    };
  }

  async healthCheck(): Promise<HealthReport> {
    const problems: string[] = [];
    let binary = '';
    try {
      binary = await hostSupervisorBinary(this.config.stateDir);
    } catch (error) {
      problems.push((error as Error).message);
    }
    problems.push('host executor: no isolation (development and testing only)');
    return {
      ok: binary !== '',
      engine: {
        reachable: binary !== '',
        endpoint: binary ? `host (${binary})` : 'host',
        ...(binary ? {} : { error: problems[0] ?? 'unavailable' }),
      },
      images: [],
      problems,
    };
  }

  async capabilities(): Promise<ExecutorCapabilities> {
    return {
      backend: 'host',
      isolationLevel: 'none',
      platform: process.platform,
      supportsCpuLimit: true,
      supportsMemoryLimit: false,
      supportsDiskLimit: false,
      supportsNetworkIsolation: false,
      supportsReadonlyRootfs: false,
      networkPolicies: [],
      runtimes: this.registry.names(),
    };
  }
}
