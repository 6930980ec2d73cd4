import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CgroupLayout, detectCgroups, SandboxCgroup } from './cgroup.js';

/**
 * The namespace executor's cgroup code against copies of real cgroup trees
 * (test/fixtures/cgroup/README.md). A copy is plain files, so what the code writes can be read
 * back; a directory the kernel would fill on mkdir is pre-filled from the capture. Older kernels
 * are the captures minus the files those kernels lack.
 */
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const V1 = join(FIXTURES, 'v1-docker');
const V2 = join(FIXTURES, 'v2-docker');
/** Captured by `npm run test:cgroup2` (scripts/cgroup2-vm/run.sh prints where) and committed. */
const hasV2 = existsSync(join(V2, 'cgroup.controllers'));
if (!hasV2) console.warn(`cgroup v2 fixture missing (${V2}): capture it with npm run test:cgroup2`);
const LIMITS = { memoryBytes: 64 << 20, cpus: 1.5, pids: 32 };

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'boxrun-cgroup-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const read = (...path: string[]) => readFileSync(join(...path), 'utf8');
/** What mkdir in a cgroup filesystem does: a new directory already holding the controller files. */
function kernelMkdir(dir: string, from: string, without: string[] = []): void {
  cpSync(from, dir, { recursive: true });
  for (const f of without) rmSync(join(dir, f), { force: true });
}

describe('detectCgroups', () => {
  const readFrom = (tree: string) => (path: string) => {
    try {
      return readFileSync(join(tree, path.replace(/^\/sys\/fs\/cgroup\/?/, '')), 'utf8');
    } catch {
      return '';
    }
  };

  it.skipIf(!hasV2)('finds the unified tree on a cgroup v2 machine (the VM)', () => {
    expect(detectCgroups(read(V2, '.host-mounts'), readFrom(V2))).toEqual({
      version: 2,
      root: '/sys/fs/cgroup',
    });
  });

  it('prefers the v1 controllers on a hybrid machine (this host: cgroup2 mounted without controllers)', () => {
    const mounts = read(V1, '.host-mounts');
    expect(mounts).toMatch(/ cgroup2 /);
    expect(detectCgroups(mounts, readFrom(V1))).toEqual({
      version: 1,
      memory: '/sys/fs/cgroup/memory',
      cpu: '/sys/fs/cgroup/cpu',
      cpuacct: '/sys/fs/cgroup/cpuacct',
      pids: '/sys/fs/cgroup/pids',
    });
  });

  it.skipIf(!hasV2)('refuses a v2 tree whose root does not offer the memory and pids controllers', () => {
    const noPids = (path: string) => readFrom(V2)(path).replace(/\bpids\b/, '');
    expect(detectCgroups(read(V2, '.host-mounts'), noPids)).toBeNull();
  });
});

describe.skipIf(!hasV2)('SandboxCgroup on cgroup v2', () => {
  function v2Tree(name: string, without: string[] = []): { layout: CgroupLayout; own: string } {
    const root = join(work, name);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'cgroup.controllers'), read(V2, 'cgroup.controllers'));
    writeFileSync(join(root, 'cgroup.subtree_control'), '');
    const own = join(root, 'boxrun', 'job-1');
    kernelMkdir(own, V2, without);
    return { layout: { version: 2, root }, own };
  }

  it('enables the controllers down the tree and writes memory.max, memory.swap.max, cpu.max and pids.max', () => {
    const { layout, own } = v2Tree('v2-limits');
    const cg = SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS);
    expect(read(layout.version === 2 ? layout.root : '', 'cgroup.subtree_control')).toBe(
      '+memory +cpu +pids',
    );
    expect(read(own, 'memory.max')).toBe(String(64 << 20));
    expect(read(own, 'memory.swap.max')).toBe('0');
    expect(read(own, 'cpu.max')).toBe('150000 100000');
    expect(read(own, 'pids.max')).toBe('32');
    expect(cg.procsFiles()).toEqual([join(own, 'cgroup.procs')]);
    expect(cg.supervisorBinds()).toEqual([[own, '/sys/fs/cgroup']]);
  });

  it('leaves swap alone where the kernel has no swap controller file', () => {
    const { layout, own } = v2Tree('v2-noswap', ['memory.swap.max']);
    SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS);
    expect(existsSync(join(own, 'memory.swap.max'))).toBe(false);
  });

  it('reads OOM kills from memory.events (the captured container was OOM-killed once)', () => {
    const { layout } = v2Tree('v2-oom');
    expect(SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS).oomKills()).toBe(1);
  });

  it('reads OOM kills the same way on kernels before 5.2 (no memory.events.local)', () => {
    const { layout } = v2Tree('v2-old-oom', ['memory.events.local', 'cgroup.kill', 'memory.peak']);
    expect(SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS).oomKills()).toBe(1);
  });

  it('kills through cgroup.kill where the kernel has it (5.14+), without signalling one by one', () => {
    const { layout, own } = v2Tree('v2-kill');
    const cg = SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS);
    writeFileSync(join(own, 'cgroup.procs'), '');
    cg.killAll();
    expect(read(own, 'cgroup.kill')).toBe('1');
  });

  it('signals every process in cgroup.procs on kernels without cgroup.kill', async () => {
    const { layout, own } = v2Tree('v2-nokill', ['cgroup.kill']);
    const cg = SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS);
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    writeFileSync(join(own, 'cgroup.procs'), `${child.pid}\n`);
    cg.killAll();
    expect(await exited).toBe('SIGKILL');
  });
});

describe('SandboxCgroup on cgroup v1', () => {
  function v1Tree(name: string, oomControl?: (text: string) => string): CgroupLayout {
    const root = join(work, name);
    const layout: CgroupLayout = {
      version: 1,
      memory: join(root, 'memory'),
      cpu: join(root, 'cpu'),
      cpuacct: join(root, 'cpuacct'),
      pids: join(root, 'pids'),
    };
    for (const c of ['memory', 'cpu', 'cpuacct', 'pids'] as const) {
      const own = join(layout[c], 'boxrun', 'job-1');
      kernelMkdir(own, join(V1, c));
      if (c === 'memory' && oomControl) {
        writeFileSync(join(own, 'memory.oom_control'), oomControl(read(own, 'memory.oom_control')));
      }
    }
    return layout;
  }

  it('writes the memory (with memsw), CFS quota and pids limits in each controller', () => {
    const layout = v1Tree('v1-limits');
    const cg = SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS);
    const dir = (c: string) => cg.dirs[c] as string;
    expect(read(dir('memory'), 'memory.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(dir('memory'), 'memory.memsw.limit_in_bytes')).toBe(String(64 << 20));
    expect(read(dir('cpu'), 'cpu.cfs_quota_us')).toBe('150000');
    expect(read(dir('pids'), 'pids.max')).toBe('32');
    expect(cg.procsFiles()).toHaveLength(4);
    expect(cg.supervisorBinds().map(([, inside]) => inside)).toEqual([
      '/sys/fs/cgroup/memory',
      '/sys/fs/cgroup/cpuacct',
    ]);
  });

  it('reads OOM kills from memory.oom_control', () => {
    expect(SandboxCgroup.create(v1Tree('v1-oom'), 'boxrun', 'job-1', LIMITS).oomKills()).toBe(1);
  });

  it('reads no OOM kill on kernels before 4.13 (no oom_kill line), so the engine has to tell', () => {
    const layout = v1Tree('v1-old', (t) => t.replace(/^oom_kill \d+\n/m, ''));
    expect(SandboxCgroup.create(layout, 'boxrun', 'job-1', LIMITS).oomKills()).toBe(0);
  });
});
