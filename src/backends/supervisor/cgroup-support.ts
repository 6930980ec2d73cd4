/**
 * Which of boxrun's limits a cgroup version and kernel can enforce, and through which file. The
 * supervisor (boxrun-sv.c) and the namespace executor (namespace/cgroup.ts) read these files; the
 * kernel versions are those that added them (Documentation/admin-guide/cgroup-v2.rst history).
 */
export interface CgroupEnvironment {
  version: 1 | 2;
  /** `uname -r` of the machine whose cgroups run the sandboxes (Docker: the engine's kernel). */
  kernel: string;
  /** The engine's own answers (docker info: MemoryLimit, SwapLimit, CpuCfsQuota, PidsLimit). */
  memory: boolean;
  swap: boolean;
  cpuQuota: boolean;
  pids: boolean;
}

export interface LimitSupport {
  limit: 'memoryMb' | 'swap' | 'cpus' | 'pids' | 'cpuTimeMs' | 'oomReport';
  enforceable: boolean;
  /** The cgroup file that does it, or why it cannot. */
  via: string;
}

/** [major, minor] of a kernel release string ("6.1.0-18-amd64" → [6, 1]); [0, 0] when unreadable. */
export function kernelVersion(release: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release.trim());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast(kernel: string, major: number, minor: number): boolean {
  const [a, b] = kernelVersion(kernel);
  if (a === 0) return true; // unknown: assume a current kernel rather than raise a false alarm
  return a > major || (a === major && b >= minor);
}

export function cgroupLimitSupport(env: CgroupEnvironment): LimitSupport[] {
  const v2 = env.version === 2;
  // The oom_kill counter (memory.events on v2, memory.oom_control on v1) came in 4.13; before it
  // an OOM kill is only known from the engine's State.OOMKilled.
  const oomCounter = atLeast(env.kernel, 4, 13);
  return [
    {
      limit: 'memoryMb',
      enforceable: env.memory,
      via: env.memory ? (v2 ? 'memory.max' : 'memory.limit_in_bytes') : 'no memory controller',
    },
    {
      limit: 'swap',
      enforceable: env.swap,
      via: env.swap
        ? v2
          ? 'memory.swap.max'
          : 'memory.memsw.limit_in_bytes'
        : 'no swap accounting: a program may swap past its memory limit',
    },
    {
      limit: 'cpus',
      enforceable: env.cpuQuota,
      via: env.cpuQuota ? (v2 ? 'cpu.max' : 'cpu.cfs_quota_us') : 'no CFS quota',
    },
    { limit: 'pids', enforceable: env.pids, via: env.pids ? 'pids.max' : 'no pids controller' },
    // The supervisor polls the whole tree's CPU counter; v2 has cpu.stat in every cgroup.
    { limit: 'cpuTimeMs', enforceable: true, via: v2 ? 'cpu.stat usage_usec' : 'cpuacct.usage' },
    {
      limit: 'oomReport',
      enforceable: oomCounter,
      via: oomCounter
        ? v2
          ? 'memory.events oom_kill'
          : 'memory.oom_control oom_kill'
        : `kernel ${env.kernel} has no oom_kill counter (4.13+): OOM kills are read from the engine only`,
    },
  ];
}

/** One line for `boxrun doctor`. */
export function describeCgroupSupport(env: CgroupEnvironment): string {
  const parts = cgroupLimitSupport(env).map((s) => `${s.limit} ${s.enforceable ? 'yes' : 'NO'} (${s.via})`);
  return `v${env.version}, kernel ${env.kernel}: ${parts.join(', ')}`;
}
