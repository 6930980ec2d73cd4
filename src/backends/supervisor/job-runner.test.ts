import { describe, expect, it } from 'vitest';
import { runSupervisorJob, type SupervisorFeed, type SupervisorTransport } from './job-runner.js';
import { encodeFrame, type SupervisorJob } from './protocol.js';

const job: SupervisorJob = {
  files: [],
  argv: ['true'],
  env: {},
  limits: { timeout_ms: 1000 },
  outputPatterns: [],
  stdin: Buffer.alloc(0),
};

/** A supervisor that is only a feed: the test writes its frames and ends its connection. */
function fakeTransport(
  exit: { exit: number | string | null; oomKilled: boolean } = { exit: 1, oomKilled: false },
) {
  const sent: string[] = [];
  const released: boolean[] = [];
  let kills = 0;
  let feed: SupervisorFeed | null = null;
  const transport: SupervisorTransport = {
    listen: (f) => {
      feed = f;
    },
    send: (frames) => sent.push(...frames.map((f) => String.fromCharCode(f[0] ?? 0))),
    kill: () => {
      kills++;
    },
    release: (keep) => released.push(keep),
    exitStatus: async () => exit,
  };
  return { transport, sent, released, kills: () => kills, feed: () => feed! };
}

describe('runSupervisorJob', () => {
  it('collects output up to the per-stream cap, files and refusals until the report', async () => {
    const fake = fakeTransport();
    const seen: string[] = [];
    const run = runSupervisorJob(
      job,
      { timeoutMs: 1000, outputBytes: 4, onOutput: (s, c) => seen.push(`${s}:${c}`) },
      fake.transport,
    );
    fake
      .feed()
      .frames(
        Buffer.concat([
          encodeFrame('o', 'abc'),
          encodeFrame('o', 'def'),
          encodeFrame('e', 'xy'),
          encodeFrame('f', Buffer.concat([Buffer.from([0, 0, 1, 0xa4]), Buffer.from('a.txt\0data')])),
          encodeFrame('x', 'link\0symbolic link'),
          encodeFrame('r', JSON.stringify({ exitCode: 0, signal: 0 })),
        ]),
      );
    const outcome = await run;
    expect(outcome.stdout.toString()).toBe('abcd');
    expect(outcome.stderr.toString()).toBe('xy');
    expect(seen).toEqual(['stdout:abc', 'stdout:d', 'stderr:xy']);
    expect(outcome.files.map((f) => [f.path, f.mode, f.content.toString()])).toEqual([
      ['a.txt', 0o644, 'data'],
    ]);
    expect(outcome.refused).toEqual([{ path: 'link', reason: 'symbolic link' }]);
    expect(outcome.report?.exitCode).toBe(0);
    expect(fake.sent.slice(-2)).toEqual(['i', 'R']);
    expect(fake.released).toEqual([false]);
  });

  it('keeps a session connection after the report and leaves stdin open when asked', async () => {
    const fake = fakeTransport();
    const run = runSupervisorJob(
      job,
      { timeoutMs: 1000, outputBytes: 10, keepOpen: true, openStdin: true },
      fake.transport,
    );
    fake.feed().frames(encodeFrame('r', JSON.stringify({ exitCode: 0, signal: 0 })));
    await run;
    expect(fake.sent.slice(-2)).toEqual(['A', 'R']);
    expect(fake.released).toEqual([true]);
  });

  it('explains a connection that ended without a report with the exit status and diagnostics', async () => {
    const fake = fakeTransport({ exit: 137, oomKilled: false });
    const run = runSupervisorJob(job, { timeoutMs: 1000, outputBytes: 10 }, fake.transport);
    fake.feed().diagnostics(Buffer.from('boxrun-sv: cannot fork\n'));
    fake.feed().end();
    const outcome = await run;
    expect(outcome.report).toBeNull();
    expect(outcome.failure).toBe('sandbox ended without a report (exit 137): boxrun-sv: cannot fork');
  });

  it('kills the supervisor on a protocol error', async () => {
    const fake = fakeTransport();
    const run = runSupervisorJob(job, { timeoutMs: 1000, outputBytes: 10 }, fake.transport);
    fake.feed().frames(encodeFrame('?', 'x'));
    const outcome = await run;
    expect(outcome.failure).toMatch(/^protocol error: /);
    expect(fake.kills()).toBe(1);
  });

  it('sends K on abort and rejects when the connection breaks', async () => {
    const fake = fakeTransport();
    const abort = new AbortController();
    const run = runSupervisorJob(
      job,
      { timeoutMs: 1000, outputBytes: 10, signal: abort.signal },
      fake.transport,
    );
    abort.abort();
    expect(fake.sent.at(-1)).toBe('K');
    const error = new Error('broken') as never;
    fake.feed().end(error);
    await expect(run).rejects.toBe(error);
  });
});
