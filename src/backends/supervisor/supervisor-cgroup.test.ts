import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERVISOR_SOURCE } from './supervisor-binary.js';

/**
 * boxrun-sv's cgroup readers (cgroup_cpu_us, cgroup_oom_kills, cgroup_peak_bytes), compiled from
 * the very source the images build, with -DBOXRUN_SV_CGROUP_PROBE: that build reads a fixture tree
 * instead of /sys/fs/cgroup and prints what the supervisor would report. The trees are real
 * containers' cgroups (test/fixtures/cgroup/README.md); older kernels are those trees minus the
 * files the kernel added later.
 */
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/cgroup/', import.meta.url));
const V1 = join(FIXTURES, 'v1-docker');
const V2 = join(FIXTURES, 'v2-docker');

let cc: string | null = null;
for (const candidate of ['cc', 'gcc']) {
  try {
    execFileSync(candidate, ['--version'], { stdio: 'ignore' });
    cc = candidate;
    break;
  } catch {
    // next
  }
}
if (!cc) console.warn('supervisor cgroup reader tests skipped: no C compiler (apt-get install gcc)');
/** Captured by `npm run test:cgroup2` (scripts/cgroup2-vm/run.sh prints where) and committed. */
const hasV2 = existsSync(join(V2, 'cpu.stat'));
if (!hasV2) console.warn(`cgroup v2 fixture missing (${V2}): capture it with npm run test:cgroup2`);

interface Probe {
  cpuUs: number;
  oomKills: number;
  peakBytes: number;
}

describe.skipIf(!cc)("boxrun-sv's cgroup readers against real cgroup trees", () => {
  let work: string;
  let probeBinary: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'boxrun-sv-cgroup-'));
    probeBinary = join(work, 'probe');
    execFileSync(cc as string, [
      '-O0',
      '-Wall',
      '-Wno-unused-function',
      '-DBOXRUN_SV_CGROUP_PROBE',
      '-o',
      probeBinary,
      SUPERVISOR_SOURCE,
    ]);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const probe = (tree: string): Probe => JSON.parse(execFileSync(probeBinary, [tree], { encoding: 'utf8' }));
  const read = (...path: string[]) => readFileSync(join(...path), 'utf8');
  const counter = (text: string, key: string) => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(text)?.[1]);
  /** A copy of a captured tree without the files a kernel added after the one being imitated. */
  const olderKernel = (tree: string, name: string, without: string[], edit?: (dir: string) => void) => {
    const dir = join(work, name);
    cpSync(tree, dir, { recursive: true });
    for (const file of without) rmSync(join(dir, file), { force: true });
    edit?.(dir);
    return dir;
  };

  describe.skipIf(!hasV2)('cgroup v2 (a Docker container in the cgroup v2 VM, kernel 6.1)', () => {
    it('reads CPU time from cpu.stat, OOM kills from memory.events and the peak from memory.peak', () => {
      const r = probe(V2);
      expect(r.cpuUs).toBe(counter(read(V2, 'cpu.stat'), 'usage_usec'));
      expect(r.cpuUs).toBeGreaterThan(0);
      expect(r.oomKills).toBe(1);
      expect(r.oomKills).toBe(counter(read(V2, 'memory.events'), 'oom_kill'));
      expect(r.peakBytes).toBe(Number(read(V2, 'memory.peak')));
      expect(r.peakBytes).toBeGreaterThan(32 << 20);
    });

    it('counts OOM kills of the whole tree (memory.events), not only the cgroup itself (memory.events.local)', () => {
      const dir = olderKernel(V2, 'v2-child-oom', [], (d) =>
        writeFileSync(
          join(d, 'memory.events.local'),
          read(d, 'memory.events.local').replace(/^oom_kill \d+$/m, 'oom_kill 0'),
        ),
      );
      expect(probe(dir).oomKills).toBe(1);
    });

    it('on 5.14-5.18 (no memory.peak) reports the peak as unknown, never a v1 value', () => {
      const r = probe(olderKernel(V2, 'v2-5.15', ['memory.peak']));
      expect(r.peakBytes).toBe(-1);
      expect(r.cpuUs).toBe(counter(read(V2, 'cpu.stat'), 'usage_usec'));
      expect(r.oomKills).toBe(1);
    });

    it('on kernels before 5.2 (no memory.peak, cgroup.kill or memory.events.local) still reads CPU time and OOM kills', () => {
      const r = probe(olderKernel(V2, 'v2-5.1', ['memory.peak', 'cgroup.kill', 'memory.events.local']));
      expect(r).toEqual({ cpuUs: counter(read(V2, 'cpu.stat'), 'usage_usec'), oomKills: 1, peakBytes: -1 });
    });
  });

  describe('cgroup v1 (a Docker container on this project machine, kernel 6.18)', () => {
    it('reads CPU time from cpuacct.usage, OOM kills from memory.oom_control and the peak from max_usage_in_bytes', () => {
      const r = probe(V1);
      expect(r.cpuUs).toBe(Math.floor(Number(read(V1, 'cpuacct', 'cpuacct.usage')) / 1000));
      expect(r.oomKills).toBe(1);
      expect(r.peakBytes).toBe(Number(read(V1, 'memory', 'memory.max_usage_in_bytes')));
    });

    it('finds cpuacct co-mounted with cpu as "cpu,cpuacct"', () => {
      const dir = olderKernel(V1, 'v1-comounted', [], (d) => {
        rmSync(join(d, 'cpu'), { recursive: true });
        renameSync(join(d, 'cpuacct'), join(d, 'cpu,cpuacct'));
      });
      expect(probe(dir).cpuUs).toBe(Math.floor(Number(read(V1, 'cpuacct', 'cpuacct.usage')) / 1000));
    });

    it('on kernels before 4.13 (no oom_kill line) reports OOM kills as unknown (-1), not 0', () => {
      const dir = olderKernel(V1, 'v1-4.9', [], (d) => {
        const file = join(d, 'memory', 'memory.oom_control');
        writeFileSync(file, read(file).replace(/^oom_kill \d+\n/m, ''));
      });
      expect(probe(dir).oomKills).toBe(-1);
    });
  });

  it('reports every counter as unknown where no cgroup is visible', () => {
    expect(probe(join(work, 'nothing-here'))).toEqual({ cpuUs: -1, oomKills: -1, peakBytes: -1 });
  });
});
