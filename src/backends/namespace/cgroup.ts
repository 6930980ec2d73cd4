import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BoxrunError } from '../../core/errors.js';

/** Where the cgroup controllers boxrun needs are mounted on this host. */
export type CgroupLayout =
  | { version: 1; memory: string; cpu: string; cpuacct: string; pids: string }
  | { version: 2; root: string };

const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;

/**
 * cgroup v1 (one mount per controller, possibly co-mounted like "cpu,cpuacct") or v2 (one unified
 * tree). Hybrid hosts mount both; v1 wins there, because that is where the controllers are.
 */
export function detectCgroups(
  mounts = safeRead('/proc/self/mounts'),
  readFile: (path: string) => string = safeRead,
): CgroupLayout | null {
  const v1: Record<string, string> = {};
  let v2: string | null = null;
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type, options] = line.split(' ');
    if (!mountPoint || !options) continue;
    if (type === 'cgroup') {
      for (const opt of options.split(',')) {
        if ((V1_CONTROLLERS as readonly string[]).includes(opt) && !v1[opt]) v1[opt] = mountPoint;
      }
    } else if (type === 'cgroup2' && !v2) {
      const controllers = readFile(join(mountPoint, 'cgroup.controllers'));
      if (/\bmemory\b/.test(controllers) && /\bpids\b/.test(controllers)) v2 = mountPoint;
    }
  }
  if (v1.memory && v1.cpu && v1.cpuacct && v1.pids) {
    return { version: 1, memory: v1.memory, cpu: v1.cpu, cpuacct: v1.cpuacct, pids: v1.pids };
  }
  return v2 ? { version: 2, root: v2 } : null;
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function counter(text: string, key: string): number {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

export interface CgroupLimits {
  memoryBytes: number;
  cpus: number;
  pids: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One cgroup per sandbox (per controller on v1), made before the sandbox starts: a launcher
 * writes its own pid into `procsFiles` before it execs, so the whole tree is inside from the first
 * instruction. Memory = memory+swap, CPU quota, pids; the supervisor reads the counters through
 * read-only binds (`supervisorBinds`) at the paths it knows.
 */
export class SandboxCgroup {
  private constructor(
    private readonly layout: CgroupLayout,
    /** Controller name → this sandbox's directory (v2: the one directory under 'unified'). */
    readonly dirs: Record<string, string>,
  ) {}

  static create(layout: CgroupLayout, parent: string, id: string, limits: CgroupLimits): SandboxCgroup {
    const name = id.replace(/[^A-Za-z0-9_.-]/g, '_');
    try {
      if (layout.version === 1) {
        const dirs: Record<string, string> = {};
        for (const c of V1_CONTROLLERS) {
          const dir = join(layout[c], parent, name);
          // cpu and cpuacct may be one mount: the directory then exists already.
          mkdirSync(dir, { recursive: true });
          dirs[c] = dir;
        }
        const cg = new SandboxCgroup(layout, dirs);
        const mem = dirs.memory as string;
        writeFileSync(join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
        if (existsSync(join(mem, 'memory.memsw.limit_in_bytes'))) {
          writeFileSync(join(mem, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
        }
        writeFileSync(join(dirs.cpu as string, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(dirs.cpu as string, 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * 100000)));
        writeFileSync(join(dirs.pids as string, 'pids.max'), String(limits.pids));
        return cg;
      }
      // v2: controllers must be enabled in every ancestor's subtree_control ("no internal
      // processes": the parent itself never holds a process, only the per-sandbox children).
      let dir = layout.root;
      for (const part of parent.split('/')) {
        enableControllers(dir);
        dir = join(dir, part);
        mkdirSync(dir, { recursive: true });
      }
      enableControllers(dir);
      const own = join(dir, name);
      mkdirSync(own, { recursive: true });
      const cg = new SandboxCgroup(layout, { unified: own });
      writeFileSync(join(own, 'memory.max'), String(limits.memoryBytes));
      if (existsSync(join(own, 'memory.swap.max'))) writeFileSync(join(own, 'memory.swap.max'), '0');
      writeFileSync(join(own, 'cpu.max'), `${Math.round(limits.cpus * 100000)} 100000`);
      writeFileSync(join(own, 'pids.max'), String(limits.pids));
      return cg;
    } catch (error) {
      throw new BoxrunError(
        'SANDBOX_FAILED',
        `cannot set up the sandbox's cgroup under '${parent}' (cgroup v${layout.version}): ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Files the launcher writes its pid into, one per hierarchy. */
  procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => join(d, 'cgroup.procs'));
  }

  /** [host dir, path inside the sandbox] pairs where boxrun-sv looks for its counters. */
  supervisorBinds(): [string, string][] {
    if (this.layout.version === 2) return [[this.dirs.unified as string, '/sys/fs/cgroup']];
    return [
      [this.dirs.memory as string, '/sys/fs/cgroup/memory'],
      [this.dirs.cpuacct as string, '/sys/fs/cgroup/cpuacct'],
    ];
  }

  /** OOM kills inside this cgroup so far. */
  oomKills(): number {
    if (this.layout.version === 2)
      return counter(safeRead(join(this.dirs.unified as string, 'memory.events')), 'oom_kill');
    return counter(safeRead(join(this.dirs.memory as string, 'memory.oom_control')), 'oom_kill');
  }

  private pids(): number[] {
    const file = join((this.dirs.pids ?? this.dirs.unified) as string, 'cgroup.procs');
    return safeRead(file).split('\n').filter(Boolean).map(Number);
  }

  /** SIGKILL to every process still inside; whatever escaped a process group cannot escape this. */
  killAll(): void {
    if (this.layout.version === 2 && existsSync(join(this.dirs.unified as string, 'cgroup.kill'))) {
      try {
        writeFileSync(join(this.dirs.unified as string, 'cgroup.kill'), '1');
        return;
      } catch {
        // fall through to signalling one by one
      }
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Kills what is left, waits until the cgroup is empty and removes it. */
  async destroy(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      this.killAll();
      if (this.pids().length === 0) break;
      if (Date.now() > deadline)
        throw new BoxrunError('SANDBOX_FAILED', 'sandbox processes survived SIGKILL');
      await sleep(20);
    }
    for (const dir of new Set(Object.values(this.dirs))) {
      for (let attempt = 0; ; attempt++) {
        try {
          rmdirSync(dir);
          break;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (attempt > 50) throw error;
          await sleep(20); // EBUSY: the last exited process is still being torn down
        }
      }
    }
  }
}

function enableControllers(dir: string): void {
  const wanted = ['memory', 'cpu', 'pids'];
  const enabled = safeRead(join(dir, 'cgroup.subtree_control')).split(/\s+/);
  const missing = wanted.filter((c) => !enabled.includes(c));
  if (missing.length > 0) {
    writeFileSync(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  }
}

/**
 * A launcher that joins the cgroup (as root, before anything else runs) and then execs `argv`:
 * `sh -c '…' sh <procs files> -- <argv>`. The shell is replaced, so it costs one exec.
 */
export function joinCgroupThenExec(
  procsFiles: string[],
  argv: string[],
): { command: string; args: string[] } {
  const script =
    'for f do if [ "$f" = -- ]; then shift; break; fi; echo $$ > "$f" || exit 125; shift; done; exec "$@"';
  return { command: '/bin/sh', args: ['-c', script, 'sh', ...procsFiles, '--', ...argv] };
}
