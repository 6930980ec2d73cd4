import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BackgroundDaemon, startDaemon, waitForStartedDaemon } from './background-daemon.js';

describe('background daemons of boxrun setup', () => {
  let dir = '';
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function daemon(script: string): BackgroundDaemon {
    dir = mkdtempSync(join(tmpdir(), 'boxrun-daemon-'));
    return {
      name: 'fakeengine',
      command: 'sh',
      args: ['-c', script],
      pidFile: join(dir, 'fake.pid'),
      logPath: join(dir, 'fake.log'),
      host: `unix://${join(dir, 'no.sock')}`,
      timeoutMs: 1000,
    };
  }

  it('quotes the last lines of the log of a daemon that never answers', async () => {
    const d = daemon('echo starting; echo cannot bind; exit 1');
    await expect(startDaemon(d)).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringMatching(
        /^fakeengine did not answer within 1 s; last lines of .*fake\.log:\nstarting\ncannot bind$/,
      ),
    });
    expect(Number(readFileSync(d.pidFile, 'utf8'))).toBeGreaterThan(0);
  });

  it('treats a pid file of a process that is gone as stale', async () => {
    const d = daemon('true');
    writeFileSync(d.pidFile, '999999999');
    const waiting: number[] = [];
    expect(await waitForStartedDaemon(d, (pid) => waiting.push(pid))).toBeNull();
    expect(waiting).toEqual([]);
  });
});
