/**
 * `npm run soak` — load and soak through the HTTP API (docs/reliability.md).
 *
 * Starts `boxrun serve` itself (127.0.0.1, any free port, a temporary state dir and database, real
 * Docker), sends `--count` mixed executions at `--concurrency` (ok programs in several runtimes,
 * timeouts, OOMs, output floods, compile errors, runtime errors), reports throughput, latency and
 * counts, then asserts:
 *   - every accepted execution has a final record (`status: done`, a verdict) in the store;
 *   - no container labelled boxrun.managed of this run is left on the engine;
 *   - the service's open file descriptors and RSS did not grow beyond the bounds below between the
 *     end of the warm-up and the end of the run.
 * Exits 1 when an assertion fails (or the hard deadline passes), 0 otherwise.
 *
 *   npm run soak                      # 1,000 executions at concurrency 8
 *   npm run soak -- --quick           # 120
 *   npm run soak -- --count 300 --concurrency 4 --deadline-seconds 900 --json out.json
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectEngine } from '../src/backends/docker/engine.js';
import { LABEL_EXECUTION, LABEL_MANAGED } from '../src/backends/docker/labels.js';
import { loadConfig } from '../src/config/config.js';

/** Bounds on growth between the end of the warm-up and the end (after the service settled). */
export const FD_GROWTH_BOUND = 16;
export const RSS_GROWTH_BOUND_BYTES = 96 * 1024 * 1024;

export interface SoakOptions {
  count: number;
  concurrency: number;
  /** Executions sent before the baseline (fds, RSS) is taken; default 10% of count, at least 16. */
  warmup?: number;
  /** Hard deadline for the whole run (service start to verdict). */
  deadlineMs: number;
  /** `server.max_concurrent` of the service; its default (the number of cores) when absent. */
  serviceConcurrency?: number;
  log?: (line: string) => void;
}

interface Kind {
  name: string;
  expect: string;
  body: Record<string, unknown>;
}

const file = (path: string, content: string) => [{ path, content }];

/** The mix, cycled through in order: mostly ok programs, every failure mode a client can cause. */
export const KINDS: Kind[] = [
  {
    name: 'python ok',
    expect: 'ok',
    body: { runtime: 'python', files: file('main.py', 'print(sum(range(1000)))') },
  },
  { name: 'bash ok', expect: 'ok', body: { runtime: 'bash', files: file('main.sh', 'echo "$((6 * 7))"') } },
  {
    name: 'javascript ok',
    expect: 'ok',
    body: { runtime: 'javascript', files: file('main.js', 'console.log([1, 2, 3].map((x) => x * 2))') },
  },
  {
    name: 'c ok',
    expect: 'ok',
    body: {
      runtime: 'c',
      files: file('main.c', '#include <stdio.h>\nint main(void){puts("c");return 0;}'),
      compileLimits: { timeoutMs: 60_000 },
    },
  },
  {
    name: 'python stdin ok',
    expect: 'ok',
    body: { runtime: 'python', files: file('main.py', 'print(input()[::-1])'), stdin: 'soak\n' },
  },
  {
    name: 'python runtime error',
    expect: 'runtime_error',
    body: { runtime: 'python', files: file('main.py', 'raise SystemExit(3)') },
  },
  {
    name: 'c compile error',
    expect: 'compile_error',
    body: { runtime: 'c', files: file('main.c', 'int main( {'), compileLimits: { timeoutMs: 60_000 } },
  },
  {
    name: 'python timeout',
    expect: 'time_limit',
    body: {
      runtime: 'python',
      files: file('main.py', 'while True:\n    pass'),
      limits: { timeoutMs: 1000, cpuTimeMs: 1000 },
    },
  },
  {
    name: 'python oom',
    expect: 'memory_limit',
    body: {
      runtime: 'python',
      // Touches every page (a bytearray() alone would be lazily zeroed and never resident).
      files: file('main.py', 'chunks = []\nwhile True:\n    chunks.append(b"x" * (8 << 20))'),
      limits: { memoryMb: 64, timeoutMs: 10_000 },
    },
  },
  {
    name: 'python output flood',
    expect: 'output_limit',
    body: {
      runtime: 'python',
      files: file('main.py', 'import sys\nwhile True:\n    sys.stdout.write("y" * 65536)'),
      limits: { outputBytes: 256 * 1024, timeoutMs: 10_000 },
    },
  },
];

export interface ProcessSample {
  fds: number;
  rssBytes: number;
  /** Open descriptors by kind (socket, pipe, anon_inode, file…), to tell a leak from a pool. */
  fdKinds?: Record<string, number>;
}

export function sampleProcess(pid: number, kinds = false): ProcessSample {
  const entries = readdirSync(`/proc/${pid}/fd`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(status.match(/^VmRSS:\s+(\d+) kB/m)?.[1] ?? 0);
  const sample: ProcessSample = { fds: entries.length, rssBytes: kb * 1024 };
  if (kinds) {
    sample.fdKinds = {};
    for (const fd of entries) {
      let target = 'gone';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {}
      const kind = target.match(/^(\w+):/)?.[1] ?? (target.startsWith('/') ? 'file' : target);
      sample.fdKinds[kind] = (sample.fdKinds[kind] ?? 0) + 1;
    }
  }
  return sample;
}

export interface SoakReport {
  ok: boolean;
  failures: string[];
  count: number;
  sent: number;
  concurrency: number;
  serviceConcurrency: number | 'default';
  elapsedSeconds: number;
  throughputPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  byHttpStatus: Record<string, number>;
  byVerdict: Record<string, number>;
  unexpected: Record<string, number>;
  baseline: ProcessSample | null;
  end: ProcessSample | null;
  peak: ProcessSample;
  containersLeft: number;
  records: { listed: number; done: number; notDone: number };
  /** The service's warm pool at the end (from /metrics); null when it has none. */
  pool: { size: number; hits: number; misses: number } | null;
  machine: { cores: number; loadavg: number[] };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function request(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<{ status: number; json: Record<string, unknown> | null }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, json: null };
  }
}

/** `boxrun serve` as a child process; resolves with its URL once it listens. */
export async function startServe(
  dir: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ url: string; child: ChildProcess; exited: Promise<number | null>; stderr: () => string }> {
  const bin = join(import.meta.dirname, '..', 'bin', 'boxrun.js');
  const child = spawn(
    process.execPath,
    [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--db', join(dir, 'boxrun.db'), ...args],
    {
      env: { ...process.env, BOXRUN_STATE_DIR: dir, BOXRUN_SERVER_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 64 * 1024) err = err.slice(-32 * 1024);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: under a CPU hog on both cores, tsx's start of the CLI alone took over 60 s.
    const timer = setTimeout(() => reject(new Error(`serve did not start in 180 s: ${err}`)), 180_000);
    const onData = () => {
      const m = err.match(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`serve exited: ${err}`));
    });
  });
  return { url, child, exited, stderr: () => err };
}

/** Containers labelled boxrun.managed whose execution is one of `ids`. */
let engine: ReturnType<typeof connectEngine> | null = null;
export async function containersOf(ids: Set<string>): Promise<number> {
  engine ??= connectEngine(loadConfig().docker.host);
  const { docker } = await engine;
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
  return list.filter((c) => ids.has(c.Labels[LABEL_EXECUTION] ?? '')).length;
}

/** Every execution the service has, through the list API (newest first, paged). */
async function listAll(base: string): Promise<{ id: string; status: string; verdict: string | null }[]> {
  const all: { id: string; status: string; verdict: string | null }[] = [];
  let cursor: string | null = null;
  do {
    const page = await request(
      base,
      'GET',
      `/v1/executions?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    if (page.status !== 200 || !page.json) throw new Error(`list answered ${page.status}`);
    all.push(...(page.json.items as { id: string; status: string; verdict: string | null }[]));
    cursor = page.json.nextCursor as string | null;
  } while (cursor);
  return all;
}

/** boxrun_pool_* from /metrics: whether sandboxes came from the warm pool. */
async function poolMetrics(base: string): Promise<SoakReport['pool']> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text());
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? Number.NaN);
  const size = value('boxrun_pool_size');
  const hits = value('boxrun_pool_hits_total');
  const misses = value('boxrun_pool_misses_total');
  if (Number.isNaN(size) || (size === 0 && !hits && !misses)) return null;
  return { size, hits, misses };
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const hardDeadline = Date.now() + options.deadlineMs;
  const warmup = Math.min(options.count, options.warmup ?? Math.max(16, Math.floor(options.count / 10)));
  const failures: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-soak-'));
  const args = options.serviceConcurrency ? ['--max-concurrent', String(options.serviceConcurrency)] : [];
  const svc = await startServe(dir, {}, args);
  const pid = svc.child.pid!;
  log(
    `soak: service pid ${pid} at ${svc.url}, ${options.count} executions at concurrency ${options.concurrency}`,
  );

  const latencies: number[] = [];
  const byHttpStatus: Record<string, number> = {};
  const byVerdict: Record<string, number> = {};
  const unexpected: Record<string, number> = {};
  const ids = new Set<string>();
  let peak = sampleProcess(pid);
  let baseline: ProcessSample | null = null;
  let end: ProcessSample | null = null;
  let sent = 0;
  let finished = 0;
  const bump = (m: Record<string, number>, k: string) => {
    m[k] = (m[k] ?? 0) + 1;
  };
  const samplePeak = () => {
    try {
      const s = sampleProcess(pid);
      peak = { fds: Math.max(peak.fds, s.fds), rssBytes: Math.max(peak.rssBytes, s.rssBytes) };
    } catch {}
  };
  const sampler = setInterval(samplePeak, 500);

  /** Waits until the service has nothing queued or running and its sandboxes are gone. */
  const settle = async () => {
    const until = Math.min(hardDeadline, Date.now() + 60_000);
    while (Date.now() < until) {
      const ready = await request(svc.url, 'GET', '/readyz').catch(() => null);
      const q = ready?.json?.queue as { queued: number; running: number } | undefined;
      if (q && q.queued === 0 && q.running === 0 && (await containersOf(ids)) === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // Let sockets in TIME_WAIT/keep-alive close and the heap settle a moment.
    await new Promise((r) => setTimeout(r, 1500));
  };

  const runOne = async (i: number) => {
    const kind = KINDS[i % KINDS.length]!;
    const started = performance.now();
    try {
      const res = await request(svc.url, 'POST', '/v1/executions', kind.body, 180_000);
      latencies.push(performance.now() - started);
      bump(byHttpStatus, String(res.status));
      const execution = (res.json?.execution ?? res.json) as { id?: string; verdict?: string } | null;
      if (execution?.id) ids.add(execution.id);
      const verdict = execution?.verdict ?? `http ${res.status}`;
      bump(byVerdict, verdict);
      if (res.status !== 200 || verdict !== kind.expect) bump(unexpected, `${kind.name} → ${verdict}`);
    } catch (error) {
      latencies.push(performance.now() - started);
      bump(byHttpStatus, 'no answer');
      bump(unexpected, `${kind.name} → ${(error as Error).message}`);
    } finally {
      finished++;
      if (finished % 50 === 0) log(`soak: ${finished}/${options.count}`);
    }
  };

  /** Runs executions [from, to) on `concurrency` workers; stops early at the hard deadline. */
  const phase = async (from: number, to: number) => {
    let next = from;
    const worker = async () => {
      while (next < to && Date.now() < hardDeadline) {
        const i = next++;
        sent++;
        await runOne(i);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  };

  const t0 = performance.now();
  let elapsedSeconds = 0;
  let containersLeft = -1;
  let records = { listed: 0, done: 0, notDone: 0 };
  let pool: SoakReport['pool'] = null;
  try {
    await phase(0, warmup);
    await settle();
    baseline = sampleProcess(pid, true);
    log(`soak: baseline after ${warmup} executions: ${baseline.fds} fds, ${mib(baseline.rssBytes)} MiB RSS`);
    await phase(warmup, options.count);
    elapsedSeconds = (performance.now() - t0) / 1000;
    if (sent < options.count)
      failures.push(`hard deadline reached after ${sent} of ${options.count} executions`);
    await settle();
    end = sampleProcess(pid, true);
    samplePeak();

    pool = await poolMetrics(svc.url);
    const listed = await listAll(svc.url);
    const done = listed.filter((e) => e.status === 'done' && e.verdict !== null);
    records = { listed: listed.length, done: done.length, notDone: listed.length - done.length };
    for (const e of listed) ids.add(e.id);
    if (listed.length !== ids.size)
      failures.push(`the store lists ${listed.length} executions, ${ids.size} ids seen`);
    if (records.notDone > 0) failures.push(`${records.notDone} executions have no final record`);
    const answered = Object.entries(byHttpStatus)
      .filter(([s]) => s !== 'no answer' && s !== '503' && s !== '429')
      .reduce((n, [, v]) => n + v, 0);
    if (listed.length < answered)
      failures.push(`${answered} executions were answered but only ${listed.length} are stored`);
    const errors5xx = Object.entries(byHttpStatus).filter(([s]) => s.startsWith('5') || s === 'no answer');
    if (errors5xx.length > 0)
      failures.push(`server errors: ${JSON.stringify(Object.fromEntries(errors5xx))}`);

    containersLeft = await containersOf(ids);
    if (containersLeft > 0) failures.push(`${containersLeft} boxrun containers of this run are left`);
    if (end.fds - baseline.fds > FD_GROWTH_BOUND)
      failures.push(`open fds grew from ${baseline.fds} to ${end.fds} (bound +${FD_GROWTH_BOUND})`);
    if (end.rssBytes - baseline.rssBytes > RSS_GROWTH_BOUND_BYTES)
      failures.push(
        `RSS grew from ${mib(baseline.rssBytes)} to ${mib(end.rssBytes)} MiB (bound +${mib(RSS_GROWTH_BOUND_BYTES)} MiB)`,
      );
  } catch (error) {
    failures.push(`soak aborted: ${(error as Error).message}`);
  } finally {
    clearInterval(sampler);
    svc.child.kill('SIGTERM');
    const code = await Promise.race([svc.exited, sleep(30_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      svc.child.kill('SIGKILL');
      failures.push('the service did not stop within 30 s of SIGTERM');
    } else if (code !== 0) {
      failures.push(`the service exited with ${code}: ${svc.stderr().slice(-2000)}`);
    }
    // After a graceful stop nothing may remain either.
    const after = await containersOf(ids).catch(() => -1);
    if (after > 0 && containersLeft === 0)
      failures.push(`${after} boxrun containers left after the service stopped`);
    rmSync(dir, { recursive: true, force: true });
  }
  if (Object.keys(unexpected).length > 0) {
    // Verdicts are reported; only the invariants above decide pass or fail. An unexpected verdict
    // on a loaded machine (e.g. a compile that hits its time limit) is a figure, not a leak.
    log(`soak: unexpected outcomes: ${JSON.stringify(unexpected)}`);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    ok: failures.length === 0,
    failures,
    count: options.count,
    sent,
    concurrency: options.concurrency,
    serviceConcurrency: options.serviceConcurrency ?? 'default',
    elapsedSeconds: round(elapsedSeconds),
    throughputPerSecond: round(elapsedSeconds > 0 ? sent / elapsedSeconds : 0),
    latencyMs: {
      p50: Math.round(percentile(sorted, 50)),
      p90: Math.round(percentile(sorted, 90)),
      p99: Math.round(percentile(sorted, 99)),
      max: Math.round(sorted.at(-1) ?? 0),
    },
    byHttpStatus,
    byVerdict,
    unexpected,
    baseline,
    end,
    peak,
    containersLeft,
    records,
    pool,
    machine: { cores: cpus().length, loadavg: loadavg().map(round) },
  };
}

const round = (n: number) => Math.round(n * 100) / 100;
const mib = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function formatReport(r: SoakReport): string {
  const lines = [
    `executions        ${r.sent} of ${r.count} (client concurrency ${r.concurrency}, service max_concurrent ${r.serviceConcurrency})`,
    `elapsed           ${r.elapsedSeconds} s`,
    `throughput        ${r.throughputPerSecond} executions/s`,
    `latency (client)  p50 ${r.latencyMs.p50} ms, p90 ${r.latencyMs.p90} ms, p99 ${r.latencyMs.p99} ms, max ${r.latencyMs.max} ms`,
    `HTTP status       ${JSON.stringify(r.byHttpStatus)}`,
    `verdicts          ${JSON.stringify(r.byVerdict)}`,
    `unexpected        ${JSON.stringify(r.unexpected)}`,
    `records           ${r.records.listed} listed, ${r.records.done} done, ${r.records.notDone} not done`,
    `containers left   ${r.containersLeft}`,
    `warm pool         ${r.pool ? `size ${r.pool.size}, ${r.pool.hits} hits, ${r.pool.misses} misses` : 'none'}`,
    `fds               baseline ${r.baseline?.fds}, end ${r.end?.fds}, peak ${r.peak.fds} (bound +${FD_GROWTH_BOUND}); by kind ${JSON.stringify(r.baseline?.fdKinds)} → ${JSON.stringify(r.end?.fdKinds)}`,
    `RSS               baseline ${mib(r.baseline?.rssBytes ?? 0)} MiB, end ${mib(r.end?.rssBytes ?? 0)} MiB, peak ${mib(r.peak.rssBytes)} MiB (bound +${mib(RSS_GROWTH_BOUND_BYTES)} MiB)`,
    `machine           ${r.machine.cores} cores, load ${r.machine.loadavg.join(' ')}`,
    r.ok ? 'PASS' : `FAIL:\n  - ${r.failures.join('\n  - ')}`,
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes('--quick');
  const count = Number(flag('--count') ?? (quick ? 120 : 1000));
  const concurrency = Number(flag('--concurrency') ?? 8);
  const deadlineSeconds = Number(flag('--deadline-seconds') ?? (quick ? 600 : 2400));
  const serviceConcurrency = flag('--service-concurrency');
  for (const [name, n] of [
    ['--count', count],
    ['--concurrency', concurrency],
    ['--deadline-seconds', deadlineSeconds],
  ] as const) {
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(`soak: ${name} must be a positive integer\n`);
      process.exit(2);
    }
  }
  const report = await runSoak({
    count,
    concurrency,
    deadlineMs: deadlineSeconds * 1000,
    ...(serviceConcurrency ? { serviceConcurrency: Number(serviceConcurrency) } : {}),
  });
  console.log(formatReport(report));
  const out = flag('--json');
  if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.exit(report.ok ? 0 : 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
