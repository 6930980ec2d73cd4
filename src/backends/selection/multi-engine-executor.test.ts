import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { ExecutionResult } from '../../core/result.js';
import type { DockerExecutor } from './executors.js';
import { MultiEngineExecutor } from './multi-engine-executor.js';

/** An engine stand-in: answers pings (or not) and takes `ms` per execution. */
function fakeEngine(options: { alive?: () => boolean; ms?: number } = {}) {
  const alive = options.alive ?? (() => true);
  const fake = {
    ran: 0,
    engine: async () => ({
      docker: {
        ping: async () => {
          if (!alive()) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        },
      },
      endpoint: { url: 'fake', source: 'test' },
    }),
    execute: async () => {
      await new Promise((r) => setTimeout(r, options.ms ?? 20));
      fake.ran++;
      return { status: 'ok' } as ExecutionResult;
    },
    close: async () => {},
  };
  return fake;
}

function withFakes(fakes: ReturnType<typeof fakeEngine>[]) {
  const executor = new MultiEngineExecutor({
    config: defaultConfig({}),
    hosts: fakes.map((_, i) => `tcp://127.0.0.1:${60000 + i}`),
    reaper: false,
  });
  executor.members.forEach((m, i) => {
    m.executor = fakes[i] as unknown as DockerExecutor;
  });
  return executor;
}

describe('MultiEngineExecutor', () => {
  it('sends each execution to the engine with the fewest in flight', async () => {
    const slow = fakeEngine({ ms: 200 });
    const fast = fakeEngine({ ms: 10 });
    const executor = withFakes([slow, fast]);
    // The first goes to the slow engine; while it runs, the fast one takes the rest one by one.
    const first = executor.execute({ runtime: 'python' });
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 5; i++) await executor.execute({ runtime: 'python' });
    await first;
    expect([slow.ran, fast.ran]).toEqual([1, 5]);
    expect(executor.stats().map((s) => s.total)).toEqual([1, 5]);
  });

  it('spreads concurrent executions evenly', async () => {
    const fakes = [fakeEngine(), fakeEngine(), fakeEngine()];
    const executor = withFakes(fakes);
    await Promise.all(Array.from({ length: 9 }, () => executor.execute({ runtime: 'python' })));
    expect(fakes.map((f) => f.ran)).toEqual([3, 3, 3]);
  });

  it('skips an engine that does not answer and comes back to it later', async () => {
    let up = false;
    const flaky = fakeEngine({ alive: () => up });
    const steady = fakeEngine();
    const executor = new MultiEngineExecutor({
      config: defaultConfig({}),
      hosts: ['tcp://127.0.0.1:1', 'tcp://127.0.0.1:2'],
      reaper: false,
      retryDeadAfterMs: 50,
    });
    executor.members[0]!.executor = flaky as unknown as DockerExecutor;
    executor.members[1]!.executor = steady as unknown as DockerExecutor;
    await executor.execute({ runtime: 'python' });
    expect(executor.stats()[0]).toMatchObject({ alive: false, total: 0 });
    expect(executor.stats()[0]!.lastError).toMatch(/ECONNREFUSED/);
    up = true;
    await new Promise((r) => setTimeout(r, 60));
    await executor.execute({ runtime: 'python' });
    expect(flaky.ran).toBe(1);
    expect(executor.stats()[0]).toMatchObject({ alive: true, lastError: null });
  });

  it('says which engines failed when none answers', async () => {
    const executor = withFakes([fakeEngine({ alive: () => false }), fakeEngine({ alive: () => false })]);
    const error = await executor.execute({ runtime: 'python' }).catch((e) => e);
    expect(error).toBeInstanceOf(BoxrunError);
    expect(error.code).toBe('ENGINE_UNAVAILABLE');
    expect(error.message).toMatch(
      /no engine answered: tcp:\/\/127\.0\.0\.1:60000: .*; tcp:\/\/127\.0\.0\.1:60001/,
    );
  });

  it('does not retry a failure that is not the engine being away', async () => {
    const bad = fakeEngine();
    bad.execute = async () => {
      throw new BoxrunError('INVALID_REQUEST', 'files: required');
    };
    const other = fakeEngine();
    const executor = withFakes([bad, other]);
    await expect(executor.execute({ runtime: 'python' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    expect(other.ran).toBe(0);
  });

  it('needs at least one host', () => {
    expect(() => new MultiEngineExecutor({ config: defaultConfig({}), hosts: [] })).toThrow(/docker.hosts/);
  });
});
