import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { LABEL_EXECUTION, LABEL_KIND } from '../../src/backends/docker/labels.js';
import { Reaper } from '../../src/backends/docker/reaper.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';
import { dockerExecutor } from '../helpers.js';

/** The pool's own containers: their execution label is `pool:<pool id>:<runtime>`. */
async function poolContainers(docker: Docker, poolId: string, all = true): Promise<Docker.ContainerInfo[]> {
  const list = await docker.listContainers({ all, filters: { label: [`${LABEL_KIND}=pool`] } });
  return list.filter((c) => (c.Labels[LABEL_EXECUTION] ?? '').startsWith(`pool:${poolId}:`));
}

const waitFor = async (what: string, cond: () => Promise<boolean> | boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

// The same suite as the one-shot executor, with a warm container for every runtime and its compile
// step at the default limits, so most executions are served warm.
let conformanceExecutor: DockerExecutor | null = null;
describeExecutorConformance('docker warm pool', () => {
  conformanceExecutor = dockerExecutor({ pool: { size: 1, maxTotal: 32 } });
  return conformanceExecutor;
});
afterAll(() => {
  // The suite's default-limit requests must actually have been served from the pool.
  expect(conformanceExecutor?.poolStats()?.hits ?? 0).toBeGreaterThan(0);
});

describe('warm pool behaviour', () => {
  let executor: DockerExecutor;
  let docker: Docker;
  let poolId: string;
  beforeAll(async () => {
    // Single use: these cases count containers; recycled pools are test/security/recycling.test.ts's.
    executor = dockerExecutor({
      pool: { size: 1, runtimes: ['python', 'bash'], compile: false, recycle: false },
    });
    docker = (await executor.engine()).docker;
    await executor.warmup();
    poolId = executor.poolStats()!.id!;
  });
  afterAll(async () => {
    await executor.close();
  });

  const fillPool = () => waitFor('a full pool', () => executor.poolStats()!.warm === 2);

  it('fills the pool on warmup with labelled, running pool containers', async () => {
    const stats = executor.poolStats()!;
    expect(stats.targets.map((t) => t.name).sort()).toEqual(['bash', 'python']);
    expect(stats.warm).toBe(2);
    const mine = await poolContainers(docker, poolId, false);
    expect(mine.length).toBe(2);
    for (const c of mine) {
      expect(c.State).toBe('running');
      expect(Number(c.Labels['boxrun.deadline'])).toBeGreaterThan(Date.now());
    }
  });

  it('leaks no files or processes from one execution to the next', async () => {
    await fillPool();
    const hits = executor.poolStats()!.hits;
    const first = await executor.execute({
      runtime: 'bash',
      files: [
        {
          path: 'a.sh',
          content:
            'echo secret > left.txt; echo secret > /tmp/left.txt; (setsid sleep 600 &) ; nohup sleep 600 >/dev/null 2>&1 & echo started',
        },
      ],
    });
    expect(first.stdout).toBe('started\n');
    await fillPool();
    const second = await executor.execute({
      runtime: 'bash',
      files: [
        {
          path: 'b.sh',
          content:
            'ls -A /box /tmp; for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null; echo; done | grep -c "[s]leep 600" || true',
        },
      ],
    });
    expect(second).toHaveStatus('ok');
    expect(second.stdout).not.toContain('left.txt');
    expect(second.stdout.trim().split('\n').at(-1)).toBe('0');
    expect(executor.poolStats()!.hits).toBe(hits + 2);
  });

  it('falls back to a one-shot sandbox when the limits differ from the pool', async () => {
    const before = executor.poolStats()!;
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'a.py', content: 'print("small")' }],
      limits: { memoryMb: 128 },
    });
    expect(r).toHaveStatus('ok');
    expect(r.stdout).toBe('small\n');
    const after = executor.poolStats()!;
    expect(after.misses).toBe(before.misses + 1);
    expect(after.hits).toBe(before.hits);
  });

  it('uses the pool whatever the time and output limits are (they travel with the job)', async () => {
    await fillPool();
    const before = executor.poolStats()!.hits;
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'a.py', content: 'print("x" * 50)' }],
      limits: { timeoutMs: 3000, outputBytes: 10, cpuTimeMs: 2000 },
    });
    expect(r).toHaveStatus('output_limit');
    expect(r.stdout).toBe('x'.repeat(10));
    expect(executor.poolStats()!.hits).toBe(before + 1);
  });

  it('falls back to one-shot sandboxes when the pool is empty, and refills', async () => {
    await fillPool();
    const before = executor.poolStats()!;
    const results = await Promise.all(
      [1, 2, 3].map((i) =>
        executor.execute({ runtime: 'python', files: [{ path: 'a.py', content: `print(${i})` }] }),
      ),
    );
    expect(results.map((r) => r.stdout)).toEqual(['1\n', '2\n', '3\n']);
    const after = executor.poolStats()!;
    expect(after.hits - before.hits).toBe(1);
    expect(after.misses - before.misses).toBe(2);
    await fillPool();
  });

  it('discards a warm container that died and never hands it out', async () => {
    await fillPool();
    const before = executor.poolStats()!;
    const [victim] = (await poolContainers(docker, poolId, false)).filter((c) =>
      c.Image.startsWith('boxrun/python'),
    );
    expect(victim).toBeDefined();
    await docker.getContainer(victim!.Id).kill();
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'a.py', content: 'print("alive")' }],
    });
    expect(r).toHaveStatus('ok');
    expect(r.stdout).toBe('alive\n');
    expect(executor.poolStats()!.discarded).toBeGreaterThan(before.discarded);
    await waitFor('the dead container to be removed', async () =>
      (await poolContainers(docker, poolId)).every((c) => c.Id !== victim!.Id),
    );
  });

  it('close() removes every pool container', async () => {
    const own = dockerExecutor({ pool: { size: 2, runtimes: ['bash'], compile: false } });
    const engine = await own.engine();
    await own.warmup();
    const id = own.poolStats()!.id!;
    expect((await poolContainers(engine.docker, id)).length).toBe(2);
    await own.close();
    expect(await poolContainers(engine.docker, id)).toEqual([]);
    await own.close();
  });
});

describe('warm pool crash safety', () => {
  it('pool containers of a process killed with SIGKILL exit by themselves and get reaped', async () => {
    const script = join(tmpdir(), `boxrun-pool-owner-${process.pid}.mts`);
    const executorModule = join(process.cwd(), 'src/backends/selection/executors.ts');
    const configModule = join(process.cwd(), 'src/config/config.ts');
    writeFileSync(
      script,
      [
        `import { DockerExecutor } from ${JSON.stringify(executorModule)};`,
        `import { loadConfig } from ${JSON.stringify(configModule)};`,
        `const ex = new DockerExecutor({ reaper: false, config: loadConfig({ overrides: { pool: { size: 2, runtimes: ['bash'], compile: false } } }) });`,
        'await ex.warmup();',
        "console.log('POOL', ex.poolStats().id, ex.poolStats().warm);",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /POOL (\S+) (\d+)/.exec(out);
        if (m) resolve(out);
      });
      child.on('exit', () => reject(new Error(`pool owner exited early: ${out}`)));
    });
    const [, poolId, warm] = /POOL (\S+) (\d+)/.exec(line)!;
    expect(Number(warm)).toBe(2);
    const { docker } = await connectEngine(loadConfig().docker.host);
    expect((await poolContainers(docker, poolId!, false)).length).toBe(2);

    child.kill('SIGKILL');
    // The attach connections die with the process; each supervisor sees EOF on stdin and exits.
    await waitFor('the orphaned pool containers to exit', async () =>
      (await poolContainers(docker, poolId!)).every((c) => c.State === 'exited'),
    );
    expect((await poolContainers(docker, poolId!)).length).toBe(2);
    // The reaper removes exited boxrun containers (grace 0 here instead of the configured 30 s).
    await new Promise((r) => setTimeout(r, 1100));
    await new Reaper(docker, 0).reapOnce();
    expect(await poolContainers(docker, poolId!)).toEqual([]);
  });
});
