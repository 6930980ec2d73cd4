import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { ResourceLimits } from '../../core/request.js';
import type { JobEnd } from '../supervisor/job-runner.js';
import type { Sandbox } from './sandbox.js';
import { specKey, WarmPool, type WarmPoolOptions } from './warm-pool.js';

/** Stands in for a started container: alive until killed, destroy() recorded. */
class FakeSandbox {
  alive = true;
  destroyed = false;
  onDestroy: (() => void) | null = null;
  recycler: ((end: JobEnd) => Promise<void>) | null = null;
  private disconnect: (() => void) | null = null;
  constructor(readonly spec: Docker.ContainerCreateOptions) {}
  onDisconnect(listener: () => void): void {
    this.disconnect = listener;
  }
  die(): void {
    this.alive = false;
    this.disconnect?.();
  }
  async destroy(): Promise<void> {
    const hook = this.onDestroy;
    this.onDestroy = null;
    hook?.();
    this.destroyed = true;
  }
  /** What Sandbox.finish does, with the job's end given directly. */
  finish(end: JobEnd): Promise<void> {
    const recycler = this.recycler;
    this.recycler = null;
    return recycler ? recycler(end) : this.destroy();
  }
}

const limits: ResourceLimits = {
  timeoutMs: 10_000,
  cpuTimeMs: 0,
  memoryMb: 256,
  cpus: 1,
  pids: 128,
  outputBytes: 1 << 20,
  diskMb: 64,
};

function spec(memoryMb: number, kind: string, deadline = 0): Docker.ContainerCreateOptions {
  return {
    Image: 'boxrun/python:3.11',
    Labels: { 'boxrun.kind': kind, 'boxrun.deadline': String(deadline) },
    HostConfig: { Memory: memoryMb * 1024 * 1024 },
  };
}

function makePool(overrides: Partial<WarmPoolOptions> = {}, fail?: () => boolean) {
  const started: FakeSandbox[] = [];
  const pool = new WarmPool({} as Docker, {
    targets: [
      { name: 'python', image: 'boxrun/python:3.11', size: 2, makeSpec: (d) => spec(256, 'pool', d) },
    ],
    maxTotal: 32,
    idleTtlMs: 60_000,
    maxRunMs: 300_000,
    graceMs: 60_000,
    replenishConcurrency: 2,
    startSandbox: async (_docker, s) => {
      await new Promise((r) => setTimeout(r, 5));
      if (fail?.()) throw new Error('engine down');
      const sb = new FakeSandbox(s);
      started.push(sb);
      return sb as unknown as Sandbox;
    },
    ...overrides,
  });
  return { pool, started };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('warm pool', () => {
  it('keys containers by their spec without labels', () => {
    expect(specKey(spec(256, 'pool', 1))).toBe(specKey(spec(256, 'oneshot', 2)));
    expect(specKey(spec(256, 'pool'))).not.toBe(specKey(spec(512, 'pool')));
  });

  it('fills every target to its size and hands out a warm sandbox for a matching spec', async () => {
    const { pool, started } = makePool();
    await pool.fill();
    expect(pool.stats()).toMatchObject({ warm: 2, created: 2, hits: 0 });
    const sb = await pool.acquire('boxrun/python:3.11', limits, () => spec(256, 'oneshot'));
    expect(started).toContain(sb);
    expect(pool.stats()).toMatchObject({ warm: 1, busy: 1, hits: 1, misses: 0 });
    await pool.close();
  });

  it('starts the replacement once the handed-out sandbox is destroyed', async () => {
    const { pool, started } = makePool();
    await pool.fill();
    const sb = await pool.acquire('x', limits, () => spec(256, 'oneshot'));
    await new Promise((r) => setTimeout(r, 30));
    expect(started.length).toBe(2);
    await sb.destroy();
    await until(() => pool.stats().warm === 2);
    expect(pool.stats()).toMatchObject({ busy: 0, created: 3 });
    await pool.close();
  });

  it('falls back to a one-shot start when the limits differ', async () => {
    const { pool, started } = makePool();
    await pool.fill();
    const sb = (await pool.acquire('x', { ...limits, memoryMb: 512 }, () =>
      spec(512, 'oneshot'),
    )) as unknown as FakeSandbox;
    expect(sb.spec.HostConfig?.Memory).toBe(512 * 1024 * 1024);
    expect(sb.spec.Labels?.['boxrun.kind']).toBe('oneshot');
    expect(pool.stats()).toMatchObject({ warm: 2, hits: 0, misses: 1 });
    expect(started.length).toBe(3);
    await pool.close();
  });

  it('falls back when its pool is empty and refills it', async () => {
    const { pool } = makePool();
    await pool.fill();
    await pool.acquire('x', limits, () => spec(256, 'oneshot'));
    await pool.acquire('x', limits, () => spec(256, 'oneshot'));
    const third = (await pool.acquire('x', limits, () => spec(256, 'oneshot'))) as unknown as FakeSandbox;
    expect(third.spec.Labels?.['boxrun.kind']).toBe('oneshot');
    expect(pool.stats()).toMatchObject({ hits: 2, misses: 1 });
    await until(() => pool.stats().warm === 2);
    await pool.close();
  });

  it('never hands out a warm sandbox that died, and replaces it', async () => {
    const { pool, started } = makePool();
    await pool.fill();
    started[0]!.die();
    expect(pool.stats().warm).toBe(1);
    started[1]!.alive = false; // dead without a disconnect event yet: caught at acquire
    const sb = await pool.acquire('x', limits, () => spec(256, 'oneshot'));
    expect(sb).not.toBe(started[0]);
    expect(sb).not.toBe(started[1]);
    expect(started[0]!.destroyed && started[1]!.destroyed).toBe(true);
    expect(pool.stats().discarded).toBe(2);
    await until(() => pool.stats().warm === 2);
    await pool.close();
  });

  it('does not hand out a sandbox whose deadline label the run would outlast', async () => {
    const { pool } = makePool({ maxRunMs: 1000 });
    await pool.fill();
    const sb = (await pool.acquire('x', { ...limits, timeoutMs: 120_000 }, () =>
      spec(256, 'oneshot'),
    )) as unknown as FakeSandbox;
    expect(sb.spec.Labels?.['boxrun.kind']).toBe('oneshot');
    await pool.close();
  });

  it('replaces idle sandboxes after the idle TTL', async () => {
    const { pool, started } = makePool({ idleTtlMs: 300 });
    await pool.fill();
    const first = started.slice(0, 2);
    await until(() => first.every((s) => s.destroyed) && pool.stats().warm === 2, 3000);
    expect(pool.stats().discarded).toBeGreaterThanOrEqual(2);
    await pool.close();
  });

  it('backs off when starting fails, and still serves requests one-shot', async () => {
    let failing = true;
    const { pool } = makePool({}, () => failing);
    await pool.fill();
    expect(pool.stats().warm).toBe(0);
    expect(pool.stats().failures).toBeGreaterThan(0);
    expect(pool.stats().targets[0]!.lastError).toBe('engine down');
    await expect(pool.acquire('x', limits, () => spec(256, 'oneshot'))).rejects.toThrow('engine down');
    failing = false;
    await until(() => pool.stats().warm === 2, 5000);
    await pool.close();
  });

  it('respects maxTotal over all targets', async () => {
    const { pool } = makePool({
      maxTotal: 3,
      targets: [
        { name: 'a', image: 'a', size: 2, makeSpec: (d) => spec(256, 'pool', d) },
        { name: 'b', image: 'b', size: 2, makeSpec: (d) => spec(512, 'pool', d) },
      ],
    });
    await pool.fill();
    await new Promise((r) => setTimeout(r, 50));
    expect(pool.stats().warm).toBe(3);
    await pool.close();
  });

  it('close() destroys warm sandboxes and those still starting, and is idempotent', async () => {
    const { pool, started } = makePool();
    pool.start();
    await Promise.all([pool.close(), pool.close()]);
    expect(started.length).toBeGreaterThan(0);
    expect(started.every((s) => s.destroyed)).toBe(true);
    expect(pool.stats().warm).toBe(0);
    const after = (await pool.acquire('x', limits, () => spec(256, 'oneshot'))) as unknown as FakeSandbox;
    expect(after.spec.Labels?.['boxrun.kind']).toBe('oneshot');
  });
});

describe('warm pool, recycling', () => {
  const recycling = (overrides: Partial<WarmPoolOptions> = {}) =>
    makePool({
      recycle: { maxUses: 100, maxAgeMs: 600_000 },
      targets: [{ name: 'python', image: 'p', size: 1, makeSpec: (d) => spec(256, 'pool', d) }],
      ...overrides,
    });
  const take = async (pool: WarmPool) =>
    (await pool.acquire('p', limits, () => spec(256, 'oneshot'))) as unknown as FakeSandbox;

  it('hands the same sandbox to back-to-back requests once it comes back clean, starting no other', async () => {
    const { pool, started } = recycling();
    await pool.fill();
    for (let i = 0; i < 20; i++) {
      const sb = await take(pool);
      expect(sb).toBe(started[0]);
      await sb.finish('clean');
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(started.length).toBe(1);
    expect(pool.stats()).toMatchObject({ hits: 20, misses: 0, recycled: 20, hitRatio: 1, busy: 0, warm: 1 });
    await pool.close();
  });

  it('destroys a sandbox whose reset failed, counts it, and replaces it', async () => {
    const { pool, started } = recycling();
    await pool.fill();
    const sb = await take(pool);
    await sb.finish('reset_failed');
    expect(sb.destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ resetFailures: 1, recycled: 0 });
    await until(() => pool.stats().warm === 1);
    expect(started.length).toBe(2);
    await pool.close();
  });

  it('never reuses a sandbox after a job that hit a limit', async () => {
    const { pool } = recycling();
    await pool.fill();
    const sb = await take(pool);
    await sb.finish('not_reused');
    expect(sb.destroyed).toBe(true);
    expect(pool.stats()).toMatchObject({ notReused: 1, resetFailures: 0 });
    await pool.close();
  });

  it('retires a sandbox after max uses, its successor started ahead so no request misses', async () => {
    const { pool, started } = recycling({ recycle: { maxUses: 5, maxAgeMs: 600_000 } });
    await pool.fill();
    for (let i = 0; i < 12; i++) {
      const sb = await take(pool);
      await sb.finish('clean');
      await new Promise((r) => setTimeout(r, 15)); // a successor's start takes 5 ms here
    }
    expect(pool.stats().misses).toBe(0);
    expect(started[0]!.destroyed).toBe(true);
    expect(pool.stats().retired).toBeGreaterThanOrEqual(2);
    await pool.close();
  });

  it('grows to the observed concurrency, then serves it with no new container', async () => {
    const { pool, started } = recycling();
    await pool.fill();
    const first = await Promise.all([take(pool), take(pool), take(pool)]);
    expect(pool.stats().misses).toBe(2);
    await Promise.all(first.map((sb) => sb.finish('clean')));
    await until(() => pool.stats().warm === 3);
    const count = started.length;
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all([take(pool), take(pool), take(pool)]);
      await Promise.all(batch.map((sb) => sb.finish('clean')));
    }
    expect(started.length).toBe(count);
    expect(pool.stats()).toMatchObject({ misses: 2, hits: 16 });
    expect(pool.stats().targets[0]!.target).toBe(3);
    await pool.close();
  });

  it('shrinks back to its size once the peak is older than the sizing window', async () => {
    const { pool } = recycling({ sizingWindowMs: 100, idleTtlMs: 1000 });
    await pool.fill();
    const batch = await Promise.all([take(pool), take(pool)]);
    await Promise.all(batch.map((sb) => sb.finish('clean')));
    await until(() => pool.stats().warm === 2);
    await until(() => pool.stats().warm === 1 && pool.stats().targets[0]!.target === 1, 3000);
    await pool.close();
  });

  it('hands out the sandbox that came back last', async () => {
    const { pool } = recycling();
    await pool.fill();
    const first = await Promise.all([take(pool), take(pool)]); // the second one grows the pool to 2
    await Promise.all(first.map((sb) => sb.finish('clean')));
    await until(() => pool.stats().warm === 2);
    const [a, b] = await Promise.all([take(pool), take(pool)]);
    expect(a!.recycler && b!.recycler).toBeTruthy();
    await a!.finish('clean');
    await b!.finish('clean');
    expect(await take(pool)).toBe(b);
    await pool.close();
  });

  it('keeps sandboxes for a request shape no target covers once it is seen, under pool labels', async () => {
    const { pool, started } = recycling({ sizingWindowMs: 100, idleTtlMs: 1000 });
    await pool.fill();
    const other = async () =>
      (await pool.acquire('p', limits, () => spec(64, 'oneshot'))) as unknown as FakeSandbox;
    const miss = await other();
    expect(miss.recycler).toBeNull(); // the first one of that shape runs one-shot
    await miss.finish('clean');
    expect(pool.stats().targets.map((t) => t.name)).toEqual(['python', 'boxrun/python:3.11~1']);
    await until(() => pool.stats().targets[1]!.warm === 1);
    const warm = started.find((sb) => sb !== miss && sb.spec.HostConfig?.Memory === 64 * 1024 * 1024)!;
    expect(warm.spec.HostConfig?.Memory).toBe(64 * 1024 * 1024);
    expect(warm.spec.Labels?.['boxrun.kind']).toBe('pool');
    expect(Number(warm.spec.Labels?.['boxrun.deadline'])).toBeGreaterThan(Date.now());
    for (let i = 0; i < 3; i++) {
      const sb = await other();
      expect(sb).toBe(warm);
      await sb.finish('clean');
    }
    // Unused for longer than the sizing window: its sandbox goes, and so does the slot.
    await until(() => pool.stats().targets.length === 1, 3000);
    expect(warm.destroyed).toBe(true);
    await pool.close();
  });

  it('destroys a sandbox that comes back after close()', async () => {
    const { pool } = recycling();
    await pool.fill();
    const sb = await take(pool);
    await pool.close();
    await sb.finish('clean');
    expect(sb.destroyed).toBe(true);
  });
});
