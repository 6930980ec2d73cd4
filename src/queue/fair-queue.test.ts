import { describe, expect, it } from 'vitest';
import { FairQueue, type QueueJob } from './fair-queue.js';

function gatedQueue(maxConcurrent: number, maxQueued: number) {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const queue = new FairQueue<QueueJob>({
    maxConcurrent,
    maxQueued,
    run: (job) =>
      new Promise<void>((resolve) => {
        started.push(job.id);
        gates.set(job.id, resolve);
      }),
  });
  const finish = async (id: string) => {
    gates.get(id)!();
    await new Promise((r) => setImmediate(r));
  };
  return { queue, started, finish };
}

describe('FairQueue', () => {
  it('runs at most maxConcurrent jobs and starts the next when one ends', async () => {
    const { queue, started, finish } = gatedQueue(2, 10);
    for (const id of ['a', 'b', 'c']) queue.enqueue({ id, lane: 'x' });
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b']);
    expect(queue.running).toBe(2);
    expect(queue.queued).toBe(1);
    await finish('a');
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('lets a single request overtake a big batch (lanes take turns)', async () => {
    const { queue, started, finish } = gatedQueue(1, 100);
    for (let i = 0; i < 10; i++) queue.enqueue({ id: `batch-${i}`, lane: 'batch:1' });
    queue.enqueue({ id: 'single', lane: 'caller:alice' });
    await new Promise((r) => setImmediate(r));
    await finish('batch-0');
    expect(started).toEqual(['batch-0', 'single']);
    await finish('single');
    expect(started.at(-1)).toBe('batch-1');
  });

  it('alternates between two batches', async () => {
    const { queue, started, finish } = gatedQueue(1, 100);
    for (let i = 0; i < 3; i++) queue.enqueue({ id: `a${i}`, lane: 'A' });
    for (let i = 0; i < 3; i++) queue.enqueue({ id: `b${i}`, lane: 'B' });
    for (let i = 0; i < 5; i++) await finish(started.at(-1)!);
    expect(started).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  });

  it('reports no room past maxQueued, counting free slots', () => {
    const { queue } = gatedQueue(1, 2);
    expect(queue.hasRoom(3)).toBe(true); // one starts at once, two wait
    expect(queue.hasRoom(4)).toBe(false);
    queue.enqueue({ id: 'a', lane: 'x' });
    queue.enqueue({ id: 'b', lane: 'x' });
    queue.enqueue({ id: 'c', lane: 'x' });
    expect(queue.hasRoom(1)).toBe(false);
    expect(() => queue.enqueue({ id: 'd', lane: 'x' })).toThrow(/full/);
  });

  it('removes a queued job on cancel and aborts a running one', async () => {
    let aborted: unknown = null;
    const queue = new FairQueue<QueueJob>({
      maxConcurrent: 1,
      maxQueued: 5,
      run: (_job, signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted = signal.reason;
            resolve();
          }),
        ),
    });
    queue.enqueue({ id: 'a', lane: 'x' });
    queue.enqueue({ id: 'b', lane: 'x' });
    expect(queue.cancel('b', 'why')).toEqual({ removed: { id: 'b', lane: 'x' } });
    expect(queue.queued).toBe(0);
    const outcome = queue.cancel('a', 'stop');
    expect(outcome && 'stopping' in outcome).toBe(true);
    await (outcome as { stopping: Promise<void> }).stopping;
    expect(aborted).toBe('stop');
    expect(queue.running).toBe(0);
    expect(queue.cancel('zzz', 'x')).toBeNull();
  });

  it('does not start jobs while paused and reports idle', async () => {
    const { queue, started, finish } = gatedQueue(1, 5);
    queue.pause();
    queue.enqueue({ id: 'a', lane: 'x' }, { force: true });
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([]);
    expect(await queue.idle(10)).toBe(true);
    queue.resume();
    expect(started).toEqual(['a']);
    expect(await queue.idle(10)).toBe(false);
    await finish('a');
    expect(await queue.idle(10)).toBe(true);
  });
});
