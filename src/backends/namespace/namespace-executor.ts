import { randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type Docker from 'dockerode';
import { execaSync } from 'execa';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { ExecutorCapabilities, HealthReport } from '../../core/executor.js';
import type { IsolationLevel } from '../../core/result.js';
import { BASE_ENV, type ExecutionPlan } from '../../runtimes/plan.js';
import type { RuntimeRegistry } from '../../runtimes/registry.js';
import { CACHE_DIR, cacheDirectory, WORKSPACE_DIR } from '../../workspaces/resolve-workspace.js';
import { type ConnectedEngine, connectEngine } from '../docker/engine.js';
import { labelContainersOf } from '../docker/run-label.js';
import type { SandboxOutcome } from '../supervisor/job-runner.js';
import { ProcessBackend, type StepContext } from '../supervisor/process-backend.js';
import { ProcessSandbox } from '../supervisor/process-sandbox.js';
import { SUPERVISOR_PATH, WORK_DIR } from '../supervisor/protocol.js';
import { hostSupervisorBinary } from '../supervisor/supervisor-binary.js';
import { type CgroupLayout, detectCgroups, joinCgroupThenExec, SandboxCgroup } from './cgroup.js';
import { RootfsCache } from './rootfs.js';
import { seccompFilter } from './seccomp.js';

export interface NamespaceExecutorOptions {
  config: BoxrunConfig;
  registry?: RuntimeRegistry;
  /** An already connected engine to export root filesystems from (tests); found from config otherwise. */
  engine?: ConnectedEngine;
}

/** What this host offers the namespace executor; `problems` empty means it can run. */
export interface NamespaceSupport {
  bwrap: string | null;
  bwrapVersion: string | null;
  cgroups: CgroupLayout | null;
  userNamespaces: boolean;
  root: boolean;
  seccomp: boolean;
  problems: string[];
}

function findOnPath(name: string, path = process.env.PATH ?? '/usr/bin:/bin'): string | null {
  for (const dir of [...path.split(delimiter), '/usr/bin', '/bin', '/usr/local/bin']) {
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // next
    }
  }
  return null;
}

function readNumber(path: string): number | null {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return null;
  }
}

/** Platform detection for `boxrun doctor` and executor selection; cheap, no sandbox started. */
export function probeNamespaceSupport(config: BoxrunConfig): NamespaceSupport {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push('the namespace executor needs Linux');
  const bwrap = config.namespace.bwrap ?? findOnPath('bwrap');
  let bwrapVersion: string | null = null;
  if (!bwrap) problems.push("bubblewrap is not installed (Debian: 'apt-get install bubblewrap')");
  else {
    try {
      bwrapVersion = execaSync(bwrap, ['--version'], { timeout: 5000 }).stdout.trim();
    } catch (error) {
      problems.push(`${bwrap} --version failed: ${(error as Error).message}`);
    }
  }
  const maxUserNs = readNumber('/proc/sys/user/max_user_namespaces');
  const unprivClone = readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  const userNamespaces = maxUserNs !== 0 && unprivClone !== 0;
  if (!userNamespaces) {
    problems.push(
      'unprivileged user namespaces are disabled (user.max_user_namespaces / kernel.unprivileged_userns_clone)',
    );
  }
  const root = process.getuid?.() === 0;
  const cgroups = detectCgroups();
  if (!cgroups) problems.push('no cgroup v1 memory/cpu/cpuacct/pids controllers and no cgroup v2 tree found');
  if (!root) {
    problems.push(
      'the namespace executor must run as root to make a cgroup per sandbox (memory, CPU and pids limits); sandboxes still run as an unprivileged uid',
    );
  }
  return {
    bwrap,
    bwrapVersion,
    cgroups,
    userNamespaces,
    root,
    seccomp: seccompFilter() !== null,
    problems,
  };
}

/** Processes beside the program that count against pids: bwrap's monitor and boxrun-sv. */
const SUPPORT_PROCESSES = 3;

/**
 * Linux namespaces via bubblewrap: new user, pid, mount, net, ipc, uts and cgroup namespaces; the
 * runtime image's root filesystem (exported from the engine) bind-mounted read-only; tmpfs /box and
 * /tmp with a size; no capabilities, no-new-privileges, seccomp deny-list, no network at all; a
 * cgroup per sandbox for memory, CPU and pids. boxrun-sv is the namespace's PID 1, exactly as in a
 * container, and speaks the same protocol over plain pipes.
 */
export class NamespaceBackend extends ProcessBackend {
  readonly backend = 'namespace';
  private readonly rootfs: RootfsCache;
  private enginePromise: Promise<ConnectedEngine> | null;
  private support: NamespaceSupport | null = null;

  constructor(private readonly options: NamespaceExecutorOptions) {
    super(options.config, options.registry);
    this.enginePromise = options.engine ? Promise.resolve(options.engine) : null;
    this.rootfs = new RootfsCache(this.config.stateDir, () => this.docker());
  }

  private async docker(): Promise<Docker> {
    if (!this.enginePromise) {
      this.enginePromise = connectEngine(this.config.docker.host);
      this.enginePromise.catch(() => {
        this.enginePromise = null;
      });
    }
    const { docker } = await this.enginePromise;
    labelContainersOf(docker, this.config.docker.runLabel);
    return docker;
  }

  isolationLevel(): IsolationLevel {
    return 'process';
  }

  probe(): NamespaceSupport {
    this.support ??= probeNamespaceSupport(this.config);
    return this.support;
  }

  private requireSupport(): NamespaceSupport & { bwrap: string; cgroups: CgroupLayout } {
    const support = this.probe();
    if (support.problems.length > 0 || !support.bwrap || !support.cgroups) {
      throw new BoxrunError(
        'ENGINE_UNAVAILABLE',
        `namespace executor unavailable: ${support.problems.join('; ')}`,
      );
    }
    return support as NamespaceSupport & { bwrap: string; cgroups: CgroupLayout };
  }

  protected async checkReady(plan: ExecutionPlan): Promise<void> {
    this.requireSupport();
    await this.rootfs.get(plan.image);
  }

  /** The bwrap command line for one sandbox (exported for tests and the docs). */
  bwrapArgs(input: {
    rootfs: string;
    supervisor: string;
    hostSupervisor: string | null;
    uid: number;
    gid: number;
    diskBytes: number;
    cgroupBinds: [string, string][];
    ctx: StepContext;
    seccomp: boolean;
    cacheDir: string | null;
  }): string[] {
    const args = [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-net',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-cgroup-try',
      '--uid',
      String(input.uid),
      '--gid',
      String(input.gid),
      '--disable-userns',
      '--hostname',
      'sandbox',
      '--die-with-parent',
      '--new-session',
      '--as-pid-1',
      '--cap-drop',
      'ALL',
      '--ro-bind',
      input.rootfs,
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--size',
      String(input.diskBytes),
      '--perms',
      '0700',
      '--tmpfs',
      WORK_DIR,
      '--size',
      String(input.diskBytes),
      '--perms',
      '1777',
      '--tmpfs',
      '/tmp',
      // boxrun-sv reads its cgroup counters at the usual paths: only this sandbox's, read-only.
      '--tmpfs',
      '/sys',
    ];
    for (const [host, inside] of input.cgroupBinds) args.push('--ro-bind', host, inside);
    args.push('--remount-ro', '/sys');
    const { workspace } = input.ctx.mounts;
    if (workspace) args.push(workspace.readOnly ? '--ro-bind' : '--bind', workspace.hostPath, WORKSPACE_DIR);
    if (input.cacheDir) args.push('--bind', input.cacheDir, CACHE_DIR);
    if (input.hostSupervisor) args.push('--ro-bind', input.hostSupervisor, input.supervisor);
    if (input.seccomp) args.push('--seccomp', '3');
    args.push('--chdir', WORK_DIR, '--', input.supervisor, WORK_DIR);
    return args;
  }

  protected async runSupervisedStep(ctx: StepContext): Promise<SandboxOutcome> {
    const support = this.requireSupport();
    const rootfs = await this.rootfs.get(ctx.plan.image);
    const shipsSupervisor = existsSync(join(rootfs, SUPERVISOR_PATH));
    const hostSupervisor = shipsSupervisor ? null : await hostSupervisorBinary(this.config.stateDir);
    const [dUid, dGid] = this.config.docker.user.split(':').map(Number) as [number, number];
    const user = ctx.mounts.user ?? { uid: dUid, gid: dGid };
    const cacheDir = ctx.mounts.cacheVolume
      ? cacheDirectory(this.config.stateDir, ctx.mounts.cacheVolume, user)
      : null;
    const { limits } = ctx.step;
    const cgroup = SandboxCgroup.create(
      support.cgroups,
      this.config.namespace.cgroupParent,
      `${ctx.id}-${randomUUID().slice(0, 8)}`,
      {
        memoryBytes: limits.memoryMb * 1024 * 1024,
        cpus: limits.cpus,
        pids: limits.pids + SUPPORT_PROCESSES,
      },
    );
    try {
      const filter = seccompFilter();
      const args = this.bwrapArgs({
        rootfs,
        supervisor: shipsSupervisor ? SUPERVISOR_PATH : '/.boxrun/boxrun-sv',
        hostSupervisor,
        uid: user.uid,
        gid: user.gid,
        diskBytes: limits.diskMb * 1024 * 1024,
        cgroupBinds: cgroup.supervisorBinds(),
        ctx,
        seccomp: filter !== null,
        cacheDir,
      });
      // As root: join the cgroup, drop to the sandbox uid, then bwrap makes the user namespace.
      const setpriv = [
        'setpriv',
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--clear-groups',
        '--',
        support.bwrap,
        ...args,
      ];
      const launcher = joinCgroupThenExec(cgroup.procsFiles(), setpriv);
      const sandbox = await ProcessSandbox.start({
        command: launcher.command,
        args: launcher.args,
        // execvpe looks the program up on the supervisor's own PATH, as in the image's ENV.
        env: { PATH: BASE_ENV.PATH as string },
        cwd: '/',
        ...(filter ? { extraInput: filter } : {}),
      });
      try {
        const outcome = await sandbox.run(ctx.job, {
          timeoutMs: limits.timeoutMs,
          outputBytes: limits.outputBytes,
          ...(ctx.options.signal ? { signal: ctx.options.signal } : {}),
          ...(!ctx.compiling && ctx.options.onOutput ? { onOutput: ctx.options.onOutput } : {}),
        });
        if (!outcome.report) outcome.engineOomKilled = cgroup.oomKills() > 0;
        return outcome;
      } finally {
        // Teardown is off the result's path; close() waits for it.
        sandbox.kill();
        this.track(sandbox.wait().finally(() => cgroup.destroy()));
      }
    } catch (error) {
      this.track(cgroup.destroy());
      throw error;
    }
  }

  async healthCheck(): Promise<HealthReport> {
    const support = this.probe();
    const problems = [...support.problems];
    const images: HealthReport['images'] = [];
    for (const runtime of this.registry.all) {
      const cached = this.rootfs.cached(runtime.image);
      images.push({
        runtime: runtime.name,
        image: runtime.image,
        present: cached !== null,
        current: cached !== null,
      });
    }
    return {
      ok: problems.length === 0,
      engine: {
        reachable: problems.length === 0,
        endpoint: support.bwrap ? `bwrap (${support.bwrapVersion ?? support.bwrap})` : 'bwrap',
        ...(problems.length > 0 ? { error: problems.join('; ') } : {}),
      },
      images,
      problems,
    };
  }

  /** Exports every runtime's rootfs now, so the first execution does not wait for it. */
  override async warmup(): Promise<void> {
    this.requireSupport();
    for (const runtime of this.registry.all) await this.rootfs.get(runtime.image);
  }

  async capabilities(): Promise<ExecutorCapabilities> {
    const support = this.probe();
    return {
      backend: 'namespace',
      isolationLevel: 'process',
      platform: process.platform,
      supportsCpuLimit: support.cgroups !== null && support.root,
      supportsMemoryLimit: support.cgroups !== null && support.root,
      supportsDiskLimit: true,
      supportsNetworkIsolation: true,
      supportsReadonlyRootfs: true,
      networkPolicies: ['none'],
      runtimes: this.registry.names(),
      engine: {
        version: support.bwrapVersion ?? 'missing',
        apiVersion: 'bwrap',
        cgroupVersion: String(support.cgroups?.version ?? 'none'),
        storageDriver: 'exported rootfs',
        runtime: support.seccomp ? 'bwrap+seccomp' : 'bwrap',
      },
    };
  }
}
