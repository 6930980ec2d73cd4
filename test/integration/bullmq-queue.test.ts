import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullmqJobConsumer, BullmqJobProducer } from '../../src/executions/cluster/bullmq-job-queue.js';
import type { ExecutionJob, RunJob } from '../../src/executions/job-queue.js';
import { redisBinary, ThrowawayRedis } from '../support/redis.js';

const redisBin = redisBinary();
const skip = 'missing' in redisBin ? redisBin.missing : false;
if (skip) console.warn(`skipping the BullMQ queue tests: ${skip}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(skip)('BullMQ job queue (real Redis)', () => {
  let redis: ThrowawayRedis;
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    redis = await ThrowawayRedis.create((redisBin as { bin: string }).bin);
  }, 120_000);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await redis?.destroy();
  }, 60_000);

  // Each test uses its own Redis database? BullMQ keys are per queue name; tests run in sequence and
  // each waits for its jobs to end, so they share the one queue.
  function producer(): BullmqJobProducer {
    const p = new BullmqJobProducer({ redisUrl: redis.url, maxQueued: 10_000, maxConcurrent: 4 });
    closers.push(() => p.close());
    return p;
  }

  function consumer(run: RunJob, concurrency = 2, extra: { lockDurationMs?: number } = {}) {
    const c = new BullmqJobConsumer({
      redisUrl: redis.url,
      concurrency,
      run,
      maxStalledCount: 1,
      lockDurationMs: extra.lockDurationMs ?? 30_000,
      stalledIntervalMs: extra.lockDurationMs ?? 30_000,
      onGaveUp: async () => {},
      onError: () => {},
    });
    closers.push(() => c.close());
    return c;
  }

  it('runs every job exactly once across two consumers', async () => {
    const runs = new Map<string, number>();
    const run: RunJob = async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await sleep(5);
    };
    const p = producer();
    const ids = Array.from({ length: 60 }, (_, i) => `once-${i}`);
    for (const id of ids) await p.add({ id, lane: `caller:c${Number(id.split('-')[1]) % 3}`, caller: 'c' });
    // Adding a queued one again is a no-op (job id = execution id).
    await p.add({ id: 'once-0', lane: 'caller:c0', caller: 'c' });
    const a = consumer(run, 3);
    const b = consumer(run, 3);
    try {
      await until(() => runs.size === ids.length, 60_000, 'all jobs');
      await sleep(500);
      expect([...runs.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(runs.size).toBe(60);
    } finally {
      await a.close();
      await b.close();
    }
  }, 120_000);

  it("starts a lone caller's job within two job times of a 300-job flood", async () => {
    const p = producer();
    for (let i = 0; i < 300; i++)
      await p.add({ id: `flood-${i}`, lane: 'caller:flooder', caller: 'flooder' });
    await p.add({ id: 'lone', lane: 'caller:lone', caller: 'lone' });
    const started: string[] = [];
    const c = consumer(async (job) => {
      started.push(job.id);
      await sleep(100);
    }, 2);
    await until(() => started.includes('lone'), 60_000, 'the lone job');
    // Two slots: at most one flood job per slot (two job times) may start before it.
    expect(started.indexOf('lone')).toBeLessThanOrEqual(2);
    await p.cancel('unknown', 'x');
    await c.close();
    // The rest of the flood is drained so the next test starts on an empty queue.
    const drain = consumer(async () => {}, 8);
    await (async () => {
      for (let i = 0; i < 600; i++) {
        const d = await p.refreshDepth();
        if (d.queued + d.running === 0) return;
        await sleep(100);
      }
    })();
    await drain.close();
  }, 240_000);

  it('cancels a queued job (removed) and a running one on another consumer (aborted)', async () => {
    const p = producer();
    const reasons = new Map<string, unknown>();
    const started = new Set<string>();
    const c = consumer((job, signal) => {
      started.add(job.id);
      return new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          reasons.set(job.id, signal.reason);
          resolve();
        });
      });
    }, 1);
    await p.add({ id: 'runs', lane: 'caller:x', caller: 'x' });
    await until(() => started.has('runs'), 30_000, 'the first job to start');
    await p.add({ id: 'waits', lane: 'caller:x', caller: 'x' });
    expect(await p.cancel('waits', 'canceled by the caller')).toEqual({ removed: true });
    const outcome = await p.cancel('runs', 'canceled by the caller');
    expect(outcome && 'stopping' in outcome).toBe(true);
    await (outcome as { stopping: Promise<void> }).stopping;
    expect((reasons.get('runs') as { code?: string }).code).toBe('CANCELED');
    await sleep(300);
    expect(started.has('waits')).toBe(false);
    await c.close();
  }, 120_000);

  it('runs a job again on another worker when its worker is SIGKILLed mid-run, once', async () => {
    const p = producer();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../support/bullmq-consumer-child.ts')],
      {
        env: { ...process.env, REDIS_URL: redis.url, LOCK_MS: '2000' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise((r) => child.once('exit', r));
    await sleep(3000); // the child's worker connects
    await p.add({ id: 'orphan', lane: 'caller:k', caller: 'k' });
    await until(() => out.includes('started orphan'), 60_000, 'the child to take the job');
    child.kill('SIGKILL');
    await exited;
    const reruns: ExecutionJob[] = [];
    const c = consumer(
      async (job) => {
        reruns.push(job);
      },
      1,
      { lockDurationMs: 2000 },
    );
    // The lock lapses within 2 s; the survivor's stalled check (every 2 s) queues it again.
    await until(() => reruns.length > 0, 60_000, 'the stalled job to run again');
    await sleep(3000);
    expect(reruns.map((j) => j.id)).toEqual(['orphan']);
    await c.close();
  }, 180_000);
});
