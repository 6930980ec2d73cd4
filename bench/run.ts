/**
 * `npm run bench` — side by side on this machine: a trivial program run by a bare process, by
 * `docker run --rm`, by `docker exec` into a running container, by boxrun one-shot and by boxrun
 * with a warm pool. Prints tables and writes bench/results/<date>.json. `--quick` for fewer runs.
 *
 * Benchmarks are not tests: nothing here asserts; targets are reported as met or missed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { LABEL_EXECUTION, LABEL_KIND } from '../src/backends/docker/labels.js';
import { DockerExecutor } from '../src/backends/selection/executors.js';
import { type BoxrunConfig, loadConfig } from '../src/config/config.js';
import { planExecution } from '../src/runtimes/plan.js';
import { defaultRegistry } from '../src/runtimes/registry.js';
import {
  type BenchProgram,
  barePath,
  boxrunOverheadMs,
  boxrunPath,
  dockerRunPath,
  makeProgramDir,
  mountImageRootfs,
  type RunOnce,
  removeDir,
  startExecTarget,
  unmount,
} from './paths.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(flag('--runs') ?? (quick ? 30 : 200));
const THROUGHPUT_SECONDS = Number(flag('--throughput-seconds') ?? (quick ? 3 : 6));
const CONCURRENCY = [1, 2, 4];
const SCALE_SIZES = [0, 4, 16];
const LATENCY_POOL_SIZE = 2;
const THROUGHPUT_POOL_SIZE = 8;

const PATHS = [
  'bare',
  'docker run',
  'docker exec',
  'boxrun one-shot',
  'boxrun warm',
  'boxrun warm, recycled',
] as const;
/** The paths whose own overhead (wall minus the program's run time) is reported. */
const BOXRUN_PATHS = ['boxrun one-shot', 'boxrun warm', 'boxrun warm, recycled'] as const;
/** Throughput per program of the recycled pool, against the same program run bare and by docker exec. */
const RECYCLED_TP_PATHS = ['bare', 'docker exec', 'boxrun warm, recycled'] as const;
type PathName = (typeof PATHS)[number];

const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

function summarize(samples: number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  const r = (x: number) => Math.round(x * 10) / 10;
  return {
    n: s.length,
    p50: r(at(0.5)),
    p90: r(at(0.9)),
    p99: r(at(0.99)),
    mean: r(s.reduce((a, b) => a + b, 0) / s.length),
    min: r(s[0]!),
    max: r(s[s.length - 1]!),
  };
}

function programs(config: BoxrunConfig): BenchProgram[] {
  // The environment each program gets in boxrun is the one every other path gets too.
  const envOf = (runtime: string, path: string) =>
    planExecution({ runtime, files: [{ path, content: '' }] }, defaultRegistry, config).run.job.env;
  return [
    {
      name: 'python print',
      runtime: 'python',
      image: defaultRegistry.get('python').image,
      file: { path: 'main.py', content: 'print(1)\n' },
      argv: (dir) => ['/usr/bin/python3', '-u', `${dir}/main.py`],
      env: envOf('python', 'main.py'),
      expected: '1\n',
    },
    {
      name: 'C hello',
      runtime: 'c',
      image: defaultRegistry.get('c').image,
      file: { path: 'main.c', content: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' },
      argv: (dir) => [`${dir}/main`],
      env: envOf('c', 'main.c'),
      expected: 'hello\n',
    },
    {
      name: 'node print',
      runtime: 'javascript',
      image: defaultRegistry.get('javascript').image,
      file: { path: 'main.js', content: 'console.log(1);\n' },
      argv: (dir) => ['/usr/bin/node', `${dir}/main.js`],
      env: envOf('javascript', 'main.js'),
      expected: '1\n',
    },
  ];
}

async function machine(docker: Docker) {
  const [info, version] = await Promise.all([docker.info(), docker.version()]);
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    docker: `${version.Version} (API ${version.ApiVersion})`,
    storageDriver: info.Driver,
    cgroupVersion: info.CgroupVersion ?? '1',
    ociRuntime: info.DefaultRuntime,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Wait until the pool of `executor` is full and idle, so a warm sample starts from a warm pool. */
async function poolSettled(executor: DockerExecutor, timeoutMs = 15_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = executor.poolStats();
    if (!s) return false;
    const full = s.targets.every((t) => t.warm >= t.size);
    if (full && s.busy === 0 && s.starting === 0) return true;
    if (Date.now() > end) return false;
    await sleep(5);
  }
}

async function timeOnce(run: RunOnce, expected: string): Promise<number> {
  const t0 = performance.now();
  const out = await run();
  const ms = performance.now() - t0;
  if (out !== expected) throw new Error(`unexpected output ${JSON.stringify(out)}`);
  return ms;
}

async function throughput(run: RunOnce, concurrency: number, seconds: number): Promise<number> {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await run();
        done++;
      }
    }),
  );
  return Math.round((done / ((performance.now() - t0) / 1000)) * 10) / 10;
}

/** RSS of the containerd shim of each container (one per container), when the engine is local. */
function shimRssBytes(ids: string[]): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('containerd-shim') || !ids.some((id) => cmd.includes(id))) continue;
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (rss) total += Number(rss[1]) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function containerMemoryBytes(docker: Docker, id: string): Promise<number> {
  const stats = (await docker.getContainer(id).stats({ stream: false })) as unknown as {
    memory_stats: { usage?: number; stats?: Record<string, number> };
  };
  const m = stats.memory_stats;
  // As `docker stats` shows it: usage without the page cache (cgroup v1: cache/total_inactive_file).
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  return Math.max(0, (m.usage ?? 0) - cache);
}

const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map((r) => line(r.map(String))),
  ].join('\n');
}

/**
 * `--gvisor`: only the gVisor rows and their runc twins — one-shot and warm (single-use pool) for
 * each program, round-robin over the four paths, on the engine's `isolation.vm_runtime`.
 */
async function gvisorRows(): Promise<void> {
  const base = loadConfig();
  const runtime = base.isolation.vmRuntime;
  // Python and C: node's start under gVisor is seconds on this loaded machine (docs/backends.md).
  const progs = programs(base).filter((p) => p.runtime !== 'javascript');
  const withRuntime = (vm: boolean, poolSize: number) =>
    loadConfig({
      overrides: {
        docker: { runtime: vm ? runtime : undefined },
        pool: {
          size: poolSize,
          runtimes: progs.map((p) => p.runtime),
          compile: false,
          maxTotal: 64,
          recycle: false,
        },
      },
    });
  const executors = {
    'runc one-shot': new DockerExecutor({ config: withRuntime(false, 0) }),
    'runc warm': new DockerExecutor({ config: withRuntime(false, LATENCY_POOL_SIZE) }),
    [`${runtime} one-shot`]: new DockerExecutor({ config: withRuntime(true, 0) }),
    [`${runtime} warm`]: new DockerExecutor({ config: withRuntime(true, LATENCY_POOL_SIZE) }),
  };
  const { docker } = await executors['runc one-shot'].engine();
  const host = await machine(docker);
  log(`boxrun bench --gvisor: ${RUNS} runs per path and program (runc vs ${runtime})`);
  log(
    `machine: ${host.cores} × ${host.cpu}, ${host.memoryGiB} GiB, load ${host.loadAverageAtStart.join(' ')}`,
  );
  const rows: (string | number)[][] = [];
  try {
    // No warmup(): it checks every runtime's image; each pool fills on its first execution below.
    for (const p of progs) {
      const runs = new Map<string, RunOnce>();
      for (const [name, e] of Object.entries(executors)) runs.set(name, await boxrunPath(e, p));
      for (const [, run] of runs) for (let i = 0; i < 3; i++) await run(); // warm caches
      const samples = new Map<string, number[]>([...runs.keys()].map((n) => [n, []]));
      for (let i = 0; i < RUNS; i++) {
        for (const [name, run] of runs) {
          const e = (executors as Record<string, DockerExecutor>)[name];
          if (e && name.endsWith('warm')) await poolSettled(e, 60_000);
          samples.get(name)!.push(await timeOnce(run, p.expected));
        }
      }
      for (const [name, ms] of samples) {
        const s = summarize(ms);
        rows.push([p.name, name, s.p50, s.p90, s.p99]);
      }
      log(`${p.name}: done`);
    }
  } finally {
    for (const e of Object.values(executors)) await e.close();
  }
  const loadAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  console.log(table(['program', 'path', 'p50 ms', 'p90 ms', 'p99 ms'], rows));
  console.log(`load average at start ${host.loadAverageAtStart.join(' ')}, at end ${loadAtEnd.join(' ')}`);
}

async function main(): Promise<void> {
  if (args.includes('--gvisor')) return gvisorRows();
  const started = Date.now();
  const config = loadConfig();
  const oneshot = new DockerExecutor({ config });
  const { docker } = await oneshot.engine();
  const host = await machine(docker);
  log(
    `boxrun bench${quick ? ' --quick' : ''}: ${RUNS} runs per path and program, throughput ${THROUGHPUT_SECONDS} s per cell`,
  );
  log(
    `machine: ${host.cores} × ${host.cpu}, ${host.memoryGiB} GiB, kernel ${host.kernel}, docker ${host.docker}, load ${host.loadAverageAtStart.join(' ')}`,
  );

  const progs = programs(config);
  const poolOverrides = (size: number, recycle: boolean) =>
    loadConfig({
      overrides: {
        pool: {
          size,
          runtimes: progs.map((p) => p.runtime),
          compile: false,
          maxTotal: 64,
          replenishConcurrency: 2,
          recycle,
        },
      },
    });
  // "boxrun warm" is the single-use pool (one container per execution), "recycled" reuses them.
  const warm = new DockerExecutor({ config: poolOverrides(LATENCY_POOL_SIZE, false) });
  await warm.warmup();
  const recycled = new DockerExecutor({ config: poolOverrides(1, true) });
  await recycled.warmup();

  // Files: a host dir (bind-mounted into docker run/exec) and the same files inside each image's rootfs.
  const programDir = makeProgramDir();
  const mounts: string[] = [];
  const runners = new Map<string, Map<PathName, RunOnce>>();
  const stops: (() => Promise<void>)[] = [];
  let bareKind = 'chroot into the image rootfs (same binary)';
  try {
    const c = progs.find((p) => p.runtime === 'c')!;
    const compiled = await oneshot.prepare({ runtime: 'c', files: [c.file] });
    const binary = compiled.files.find((f) => f.path === 'main');
    if (!binary) throw new Error('the C program did not compile');
    writeFileSync(join(programDir, 'main'), binary.content);
    chmodSync(join(programDir, 'main'), 0o755);
    for (const p of progs)
      if (p.runtime !== 'c') writeFileSync(join(programDir, p.file.path), p.file.content);
    chmodSync(programDir, 0o755);

    for (const p of progs) {
      const base = join(programDir, '..', `${programDir.split('/').pop()}-${p.runtime}`);
      const rootfs = await mountImageRootfs(docker, p.image, base);
      let bare: RunOnce;
      if (rootfs) {
        mounts.push(rootfs);
        mkdirSync(join(rootfs, 'b'), { recursive: true });
        execFileSync('cp', ['-a', `${programDir}/.`, join(rootfs, 'b')]);
        bare = barePath(rootfs, p);
      } else {
        // No overlay mount (not root, remote engine): the host's own interpreter, which may differ.
        bareKind = 'host interpreter (image rootfs could not be mounted)';
        bare = () =>
          import('./paths.js').then(({ runProcess }) =>
            runProcess(p.argv(programDir)[0]!, p.argv(programDir).slice(1), p.env),
          );
      }
      const exec = await startExecTarget(docker, programDir, p);
      stops.push(exec.stop);
      runners.set(
        p.name,
        new Map<PathName, RunOnce>([
          ['bare', bare],
          ['docker run', dockerRunPath(programDir, p)],
          ['docker exec', exec.run],
          ['boxrun one-shot', await boxrunPath(oneshot, p)],
          ['boxrun warm', await boxrunPath(warm, p)],
          ['boxrun warm, recycled', await boxrunPath(recycled, p)],
        ]),
      );
    }

    // ---- latency: round-robin over the paths so machine noise hits them all alike ----
    const latency: Record<string, Record<string, Summary>> = {};
    const ownOverhead: Record<string, Record<string, Summary>> = {};
    const warmMisses: Record<string, number> = {};
    for (const p of progs) {
      const paths = runners.get(p.name)!;
      const samples = new Map<PathName, number[]>(PATHS.map((n) => [n, []]));
      for (const [, run] of paths) for (let i = 0; i < 3; i++) await run(); // warm caches
      for (const name of BOXRUN_PATHS) boxrunOverheadMs.get(paths.get(name)!)!.length = 0;
      const missesBefore = warm.poolStats()?.misses ?? 0;
      for (let i = 0; i < RUNS; i++) {
        for (const name of PATHS) {
          if (name === 'boxrun warm') await poolSettled(warm);
          if (name === 'boxrun warm, recycled') await poolSettled(recycled);
          samples.get(name)!.push(await timeOnce(paths.get(name)!, p.expected));
        }
        if ((i + 1) % 50 === 0) log(`  ${p.name}: ${i + 1}/${RUNS}`);
      }
      warmMisses[p.name] = (warm.poolStats()?.misses ?? 0) - missesBefore;
      latency[p.name] = Object.fromEntries(PATHS.map((n) => [n, summarize(samples.get(n)!)]));
      ownOverhead[p.name] = Object.fromEntries(
        BOXRUN_PATHS.map((n) => [n, summarize(boxrunOverheadMs.get(paths.get(n)!)!)]),
      );
      log(`${p.name}: done`);
    }
    await warm.close();
    await recycled.close();

    // ---- throughput (python print): sustained, single-use containers, pool refilling meanwhile ----
    const tp = new DockerExecutor({
      config: loadConfig({
        overrides: {
          pool: {
            size: THROUGHPUT_POOL_SIZE,
            runtimes: ['python'],
            compile: false,
            maxTotal: 64,
            replenishConcurrency: 2,
            recycle: false,
          },
        },
      }),
    });
    await tp.warmup();
    const py = progs[0]!;
    const tpRunners = new Map(runners.get(py.name)!);
    tpRunners.set('boxrun warm', await boxrunPath(tp, py));
    // The recycled pool starts at 1 and sizes itself to the concurrency it sees.
    const tpRecycled = new DockerExecutor({ config: poolOverrides(1, true) });
    await tpRecycled.warmup();
    tpRunners.set('boxrun warm, recycled', await boxrunPath(tpRecycled, py));
    const throughputs: Record<string, Record<string, number>> = {};
    const warmHitRatio: Record<string, number> = {};
    for (const name of PATHS) {
      throughputs[name] = {};
      for (const c of CONCURRENCY) {
        const before = tp.poolStats()!;
        if (name === 'boxrun warm') await poolSettled(tp, 30_000);
        else if (name === 'boxrun warm, recycled') await poolSettled(tpRecycled, 30_000);
        else await sleep(300);
        throughputs[name]![`c${c}`] = await throughput(tpRunners.get(name)!, c, THROUGHPUT_SECONDS);
        if (name === 'boxrun warm') {
          const after = tp.poolStats()!;
          const hits = after.hits - before.hits;
          const misses = after.misses - before.misses;
          warmHitRatio[`c${c}`] = Math.round((hits / Math.max(1, hits + misses)) * 100) / 100;
        }
        log(`throughput ${name} c=${c}: ${throughputs[name]![`c${c}`]}/s`);
      }
    }
    // Burst: as many executions as the pool holds, from a full pool (what a warm pool absorbs
    // before the engine's container start rate becomes the limit).
    const burst: Record<string, number> = {};
    for (const c of CONCURRENCY) {
      await poolSettled(tp, 30_000);
      const run = tpRunners.get('boxrun warm')!;
      let left = THROUGHPUT_POOL_SIZE;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (left-- > 0) await run();
        }),
      );
      burst[`c${c}`] = Math.round((THROUGHPUT_POOL_SIZE / ((performance.now() - t0) / 1000)) * 10) / 10;
      log(`burst of ${THROUGHPUT_POOL_SIZE} from a full pool, c=${c}: ${burst[`c${c}`]}/s`);
    }
    const tpStats = tp.poolStats();
    await tp.close();

    // ---- throughput of the recycled pool per program, against bare and docker exec ----
    const recycledThroughput: Record<string, Record<string, Record<string, number>>> = {};
    for (const p of progs) {
      const paths = new Map(runners.get(p.name)!);
      paths.set('boxrun warm, recycled', await boxrunPath(tpRecycled, p));
      recycledThroughput[p.name] = {};
      for (const name of RECYCLED_TP_PATHS) {
        recycledThroughput[p.name]![name] = {};
        for (const c of CONCURRENCY) {
          await sleep(300);
          const v = await throughput(paths.get(name)!, c, THROUGHPUT_SECONDS);
          recycledThroughput[p.name]![name]![`c${c}`] = v;
          log(`throughput ${p.name} ${name} c=${c}: ${v}/s`);
        }
      }
    }
    const recycledStats = tpRecycled.poolStats();
    await tpRecycled.close();

    // ---- memory and scale: pool sizes 0, 4, 16 (python) ----
    const scale: Record<string, unknown>[] = [];
    if (!args.includes('--no-scale')) {
      for (const size of SCALE_SIZES) {
        const ex = new DockerExecutor({
          config: loadConfig({
            overrides: { pool: { size, runtimes: ['python'], compile: false, maxTotal: 64 } },
          }),
        });
        const t0 = performance.now();
        await ex.warmup();
        const fillMs = Math.round(performance.now() - t0);
        await sleep(1000);
        const id = ex.poolStats()?.id;
        const list = id
          ? (await docker.listContainers({ filters: { label: [`${LABEL_KIND}=pool`] } })).filter((c) =>
              (c.Labels[LABEL_EXECUTION] ?? '').startsWith(`pool:${id}:`),
            )
          : [];
        const mem = await Promise.all(list.map((c) => containerMemoryBytes(docker, c.Id)));
        const sum = mem.reduce((a, b) => a + b, 0);
        global.gc?.();
        scale.push({
          poolSize: size,
          containers: list.length,
          fillMs: size > 0 ? fillMs : 0,
          boxrunRssMiB: mib(process.memoryUsage().rss),
          containersMemoryMiB: mib(sum),
          perContainerMemoryKiB: list.length ? Math.round(sum / list.length / 1024) : 0,
          shimRssMiB: mib(shimRssBytes(list.map((c) => c.Id))),
        });
        log(`scale pool=${size}: ${JSON.stringify(scale.at(-1))}`);
        await ex.close();
      }
    }

    // ---- report ----
    const bare = (p: string) => latency[p]!.bare!;
    const rows = progs.flatMap((p) =>
      PATHS.map((n) => {
        const s = latency[p.name]![n]!;
        return [
          p.name,
          n,
          s.p50,
          s.p90,
          s.p99,
          n === 'bare' ? '' : `+${Math.round((s.p50 - bare(p.name).p50) * 10) / 10}`,
          n === 'bare' ? '' : `+${Math.round((s.p99 - bare(p.name).p99) * 10) / 10}`,
        ];
      }),
    );
    const ratios = Object.fromEntries(
      progs.map((p) => {
        const l = latency[p.name]!;
        const w = l['boxrun warm']!.p50;
        const r2 = (x: number) => Math.round(x * 100) / 100;
        return [
          p.name,
          {
            warmVsDockerRun: r2(w / l['docker run']!.p50),
            warmVsDockerExec: r2(w / l['docker exec']!.p50),
            warmVsBare: r2(w / l.bare!.p50),
            oneshotVsDockerRun: r2(l['boxrun one-shot']!.p50 / l['docker run']!.p50),
          },
        ];
      }),
    );
    const dockerRunC2 = throughputs['docker run']!.c2!;
    const warmC2 = throughputs['boxrun warm']!.c2!;
    const targets = {
      warmOverheadP50: Object.fromEntries(
        progs.map((p) => {
          const v = Math.round((latency[p.name]!['boxrun warm']!.p50 - bare(p.name).p50) * 10) / 10;
          return [p.name, { ms: v, target: 10, met: v <= 10 }];
        }),
      ),
      warmOverheadP99: Object.fromEntries(
        progs.map((p) => {
          const v = Math.round((latency[p.name]!['boxrun warm']!.p99 - bare(p.name).p99) * 10) / 10;
          return [p.name, { ms: v, target: 30, met: v <= 30 }];
        }),
      ),
      throughputC2VsDockerRun: {
        ratio: Math.round((warmC2 / dockerRunC2) * 10) / 10,
        target: 10,
        met: warmC2 >= 10 * dockerRunC2,
      },
      oneshotVsDockerRun: Object.fromEntries(
        progs.map((p) => {
          const v = ratios[p.name]!.oneshotVsDockerRun;
          return [p.name, { ratio: v, target: 0.8, met: v <= 0.8 }];
        }),
      ),
      recycledThroughputC2VsBare: Object.fromEntries(
        progs.map((p) => {
          const t = recycledThroughput[p.name]!;
          const v = Math.round((t['boxrun warm, recycled']!.c2! / t.bare!.c2!) * 100) / 100;
          return [p.name, { ratio: v, target: 0.7, met: v >= 0.7 }];
        }),
      ),
      recycledOwnOverheadP50: Object.fromEntries(
        progs.map((p) => {
          const v = ownOverhead[p.name]!['boxrun warm, recycled']!.p50;
          return [p.name, { ms: v, target: 1, met: v <= 1 }];
        }),
      ),
    };

    console.log(`\nLatency per execution (ms; ${RUNS} runs each; bare = ${bareKind})`);
    console.log(table(['program', 'path', 'p50', 'p90', 'p99', 'overhead p50', 'overhead p99'], rows));
    console.log(
      "\nboxrun's own overhead (ms): wall time minus the program's fork-to-exit time measured in the sandbox",
    );
    console.log(
      table(
        ['program', 'path', 'p50', 'p90', 'p99'],
        progs.flatMap((p) =>
          BOXRUN_PATHS.map((n) => {
            const s = ownOverhead[p.name]![n]!;
            return [p.name, n, s.p50, s.p90, s.p99];
          }),
        ),
      ),
    );
    console.log('\nRatios of p50 latency');
    console.log(
      table(
        ['program', 'warm/docker run', 'warm/docker exec', 'warm/bare', 'one-shot/docker run'],
        progs.map((p) => {
          const r = ratios[p.name]!;
          return [p.name, r.warmVsDockerRun, r.warmVsDockerExec, r.warmVsBare, r.oneshotVsDockerRun];
        }),
      ),
    );
    console.log(
      `\nThroughput, python print (executions/s, ${THROUGHPUT_SECONDS} s per cell, warm pool size ${THROUGHPUT_POOL_SIZE})`,
    );
    console.log(
      table(
        ['path', ...CONCURRENCY.map((c) => `c=${c}`)],
        PATHS.map((n) => [n, ...CONCURRENCY.map((c) => throughputs[n]![`c${c}`]!)]),
      ),
    );
    console.log(`warm pool hit ratio during throughput: ${JSON.stringify(warmHitRatio)}`);
    console.log(
      `\nThroughput of the recycled pool per program (executions/s, ${THROUGHPUT_SECONDS} s per cell)`,
    );
    console.log(
      table(
        ['program', 'path', ...CONCURRENCY.map((c) => `c=${c}`)],
        progs.flatMap((p) =>
          RECYCLED_TP_PATHS.map((n) => [
            p.name,
            n,
            ...CONCURRENCY.map((c) => recycledThroughput[p.name]![n]![`c${c}`]!),
          ]),
        ),
      ),
    );
    console.log(
      `recycled pool: hit ratio ${recycledStats?.hitRatio}, ${recycledStats?.created} containers created, ${recycledStats?.recycled} recycled, ${recycledStats?.resetFailures} reset failures`,
    );
    console.log(
      `boxrun warm, burst of ${THROUGHPUT_POOL_SIZE} from a full pool: ${CONCURRENCY.map((c) => `c=${c} ${burst[`c${c}`]}/s`).join(', ')}`,
    );
    if (scale.length) {
      console.log('\nMemory and scale (python pool)');
      console.log(
        table(
          [
            'pool size',
            'containers',
            'fill ms',
            'boxrun RSS MiB',
            'containers MiB',
            'per container KiB',
            'shims RSS MiB',
          ],
          scale.map((s) => [
            s.poolSize as number,
            s.containers as number,
            s.fillMs as number,
            s.boxrunRssMiB as number,
            s.containersMemoryMiB as number,
            s.perContainerMemoryKiB as number,
            s.shimRssMiB as number,
          ]),
        ),
      );
    }
    console.log('\nTargets');
    for (const p of progs) {
      const o = targets.warmOverheadP50[p.name]!;
      const o99 = targets.warmOverheadP99[p.name]!;
      const r = targets.oneshotVsDockerRun[p.name]!;
      console.log(
        `  ${p.name}: warm overhead p50 ${o.ms} ms (≤ 10: ${o.met ? 'met' : 'MISSED'}), p99 ${o99.ms} ms (≤ 30: ${o99.met ? 'met' : 'MISSED'}), one-shot/docker run ${r.ratio} (≤ 0.8: ${r.met ? 'met' : 'MISSED'})`,
      );
    }
    for (const p of progs) {
      const t = targets.recycledThroughputC2VsBare[p.name]!;
      const o = targets.recycledOwnOverheadP50[p.name]!;
      console.log(
        `  ${p.name}: recycled throughput c=2 ${t.ratio}× bare (≥ 0.7: ${t.met ? 'met' : 'MISSED'}), recycled own overhead p50 ${o.ms} ms (≤ 1: ${o.met ? 'met' : 'MISSED'})`,
      );
    }
    console.log(
      `  throughput c=2: warm ${warmC2}/s vs docker run ${dockerRunC2}/s = ${targets.throughputC2VsDockerRun.ratio}× (≥ 10×: ${targets.throughputC2VsDockerRun.met ? 'met' : 'MISSED'})`,
    );

    const result = {
      date: new Date().toISOString(),
      quick,
      runsPerPath: RUNS,
      machine: { ...host, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      bare: bareKind,
      latencyMs: latency,
      boxrunOwnOverheadMs: ownOverhead,
      warmMissesDuringLatency: warmMisses,
      ratios,
      throughput: {
        program: 'python print',
        seconds: THROUGHPUT_SECONDS,
        poolSize: THROUGHPUT_POOL_SIZE,
        perSecond: throughputs,
        warmHitRatio,
        warmBurstPerSecond: burst,
        poolStats: tpStats,
      },
      recycledThroughput: { perSecond: recycledThroughput, poolStats: recycledStats },
      scale,
      targets,
      durationSeconds: Math.round((Date.now() - started) / 1000),
    };
    const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nwrote ${file} (${result.durationSeconds} s)`);
  } finally {
    await warm.close();
    await recycled.close();
    for (const stop of stops) await stop().catch(() => {});
    for (const m of mounts) unmount(m);
    for (const m of mounts) removeDir(dirname(m));
    removeDir(programDir);
    await oneshot.close();
  }
}

main().catch((error) => {
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
