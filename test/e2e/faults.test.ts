import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containersOf, startServe } from '../../bench/soak.js';
import { api, eventually, type Json, py } from './service-harness.js';

/**
 * Faults against the real service process and real Docker (docs/reliability.md): the service
 * killed with SIGKILL mid-load, and the store's disk full. The engine stopping mid-run is in
 * faults-engine.test.ts (it needs a private dockerd).
 */

type Serve = Awaited<ReturnType<typeof startServe>>;

async function kill9(svc: Serve): Promise<void> {
  svc.child.kill('SIGKILL');
  await svc.exited;
}

async function stop(svc: Serve | undefined): Promise<void> {
  if (!svc || svc.child.exitCode !== null || svc.child.signalCode !== null) return;
  svc.child.kill('SIGTERM');
  await Promise.race([svc.exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
}

const getAll = async (url: string, ids: string[]): Promise<Json[]> =>
  (await Promise.all(ids.map((id) => api(url, 'GET', `/v1/executions/${id}`)))).map((r) => r.json);

describe('faults: the service killed with SIGKILL mid-load', () => {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-fault-kill-'));
  // A short reap grace so the orphans of the killed process go within the test (docs: the reaper
  // removes exited boxrun containers older than the grace).
  // No warm pool: every container here is one of these executions', so "none left" is exact and
  // no idle pool container of a killed process outlives the test (CI counts every container).
  const env = {
    BOXRUN_SERVER_MAX_CONCURRENT: '2',
    BOXRUN_SERVER_WARM_POOL: 'false',
    BOXRUN_DOCKER_REAP_GRACE_SECONDS: '10',
    BOXRUN_DOCKER_REAP_INTERVAL_SECONDS: '2',
  };
  let svc: Serve | undefined;
  afterAll(async () => {
    await stop(svc);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing: orphans are reaped, each execution ends once (or re-queued once, as documented)', async () => {
    // Phases with their times, for a slow CI run to be read.
    const t0 = Date.now();
    const phase = (name: string) =>
      console.info(`faults/kill: ${name} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    svc = await startServe(dir, env);
    const slowCode = 'import time\nprint("start", flush=True)\ntime.sleep(8)\nprint("end")';
    const slow = (await api(svc.url, 'POST', '/v1/executions?wait=false', py(slowCode))).json.id as string;
    const ids = [slow];
    for (let i = 0; i < 10; i++) {
      const code = i % 3 === 0 ? `import time\ntime.sleep(1)\nprint(${i})` : `print(${i})`;
      const res = await api(svc.url, 'POST', '/v1/executions?wait=false', py(code));
      expect(res.status).toBe(202);
      ids.push(res.json.id);
    }
    // Mid-load: the slow one runs, some others have finished, some wait.
    await eventually(async () => {
      const all = await getAll(svc!.url, ids);
      return all[0].status === 'running' && all.some((e) => e.status === 'done') ? true : undefined;
    }, 90_000);
    const before = new Map((await getAll(svc.url, ids)).map((e) => [e.id, e]));
    await kill9(svc);
    phase('first SIGKILL');
    // The killed process's sandbox is still on the engine: the test is about something real.
    expect(await containersOf(new Set(ids))).toBeGreaterThan(0);

    // Restart on the same database: re-queued once (recover_running = requeue, the default).
    svc = await startServe(dir, env);
    await eventually(async () => {
      const e = (await api(svc!.url, 'GET', `/v1/executions/${slow}`)).json;
      return e.status === 'running' && e.attempts === 2 ? true : undefined;
    }, 90_000);
    // Killed again while the re-run runs: the second time it ends with an explicit INTERNAL error.
    await kill9(svc);
    phase('second SIGKILL');
    svc = await startServe(dir, env);

    const records = await eventually(async () => {
      const all = await getAll(svc!.url, ids);
      return all.every((e) => e.status === 'done') ? all : undefined;
    }, 120_000);
    phase('all done after the second restart');
    const restartError = {
      verdict: 'error',
      attempts: 2,
      error: { code: 'INTERNAL', message: 'service restarted while the execution was running' },
    };
    for (const e of records) {
      const was = before.get(e.id)!;
      expect(e.verdict, e.id).not.toBeNull();
      if (was.status === 'done') {
        // Finished before the kill: not run again.
        expect(e.attempts).toBe(1);
        expect(e.finishedAt).toBe(was.finishedAt);
      } else {
        // Queued or running at a kill: the documented outcomes only — run to its end (re-queued
        // once at most), or, when it was running at both kills, the explicit restart error.
        expect(e.attempts).toBeLessThanOrEqual(2);
        if (e.verdict !== 'ok') expect(e, JSON.stringify({ e, was })).toMatchObject(restartError);
      }
    }
    expect(records[0]).toMatchObject(restartError);
    expect(records.filter((e) => e.verdict === 'ok').length).toBeGreaterThan(0);

    // The list agrees: exactly these executions, no duplicates, none still queued or running.
    const list = await api(svc.url, 'GET', '/v1/executions?limit=500');
    expect(list.json.items.map((e: Json) => e.id).sort()).toEqual([...ids].sort());

    // Orphans of both killed processes are reaped by the restarted service's reaper within its grace
    // (10 s) and a few rounds — not at their deadline (time limit + 60 s): that includes a sandbox
    // created but never started when the process died (reaper.ts).
    await eventually(async () => ((await containersOf(new Set(ids))) === 0 ? true : undefined), 45_000);
    phase('orphans reaped');
    await stop(svc);
    expect(svc.child.exitCode).toBe(0);
  });
});

/** Runs a command, returning false (instead of throwing) when it fails. */
function tryRun(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('faults: the store on a full disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'boxrun-fault-disk-'));
  const mnt = join(dir, 'db');
  mkdirSync(mnt);
  // A small tmpfs of our own for the database: filled to the brim without touching any real disk.
  const mounted = process.getuid?.() === 0 && tryRun('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', mnt]);
  let svc: Serve | undefined;
  beforeAll(() => {
    if (!mounted) console.warn('faults: the full-disk test needs root and tmpfs mounts; skipped');
  });
  afterAll(async () => {
    await stop(svc);
    if (mounted) tryRun('umount', ['-l', mnt]);
    rmSync(dir, { recursive: true, force: true });
  });

  const fill = () => {
    // Big blocks first, then small ones, until the file system refuses every byte.
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 64, 1]) {
      const block = Buffer.alloc(size, 0x61);
      for (let i = 0; ; i++) {
        try {
          writeFileSync(join(mnt, `fill-${size}-${i}`), block);
        } catch {
          break;
        }
      }
    }
  };
  const free = () => {
    for (const name of execFileSync('ls', [mnt]).toString().split('\n')) {
      if (name.startsWith('fill-')) rmSync(join(mnt, name), { force: true });
    }
  };

  it.skipIf(!mounted)(
    'answers 503 STORE_UNAVAILABLE with the reason, acknowledges only what was written, recovers',
    async () => {
      const env = { BOXRUN_SERVER_MAX_CONCURRENT: '2', BOXRUN_SERVER_WARM_POOL: 'false' };
      svc = await startServe(dir, env, ['--db', join(mnt, 'boxrun.db')]);
      const first = await api(svc.url, 'POST', '/v1/executions', py('print("before")'));
      expect(first.status).toBe(200);

      fill();
      // Each submission grows the WAL; once SQLite cannot, the answer must be 503 and say why.
      const acknowledged: string[] = [first.json.id];
      let refused: Json = null;
      const stdin = 'x'.repeat(32 * 1024);
      for (let i = 0; i < 200 && !refused; i++) {
        const res = await api(
          svc.url,
          'POST',
          '/v1/executions?wait=false',
          py('print(len(input()))', { stdin }),
        );
        if (res.status === 202) acknowledged.push(res.json.id);
        else {
          expect(res.status).toBe(503);
          refused = res;
        }
      }
      expect(refused, 'a submission was refused while the disk is full').not.toBeNull();
      expect(refused.json.error.code).toBe('STORE_UNAVAILABLE');
      expect(refused.json.error.message).toMatch(/full|disk|space/i);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      const ready = await api(svc.url, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.store.writable).toBe(false);
      expect(ready.json.problems.join(' ')).toMatch(/store not writable/);
      expect((await api(svc.url, 'GET', '/healthz')).status).toBe(200);

      free();
      await eventually(async () =>
        (await api(svc!.url, 'GET', '/readyz')).status === 200 ? true : undefined,
      );
      const after = await api(svc.url, 'POST', '/v1/executions', py('print("after")'));
      expect(after.status).toBe(200);
      expect(after.json.result.stdout).toBe('after\n');
      acknowledged.push(after.json.id);

      // Everything acknowledged is in the file, read by another connection.
      const db = new Database(join(mnt, 'boxrun.db'), { readonly: true });
      try {
        const rows = db
          .prepare(`SELECT id, state FROM executions WHERE id IN (${acknowledged.map(() => '?').join(',')})`)
          .all(...acknowledged) as { id: string; state: string }[];
        expect(rows.map((r) => r.id).sort()).toEqual([...acknowledged].sort());
      } finally {
        db.close();
      }

      // Executions that could not even be marked running while the disk was full stay queued in
      // the store and run after a restart (docs/service.md); after it, every one has its result.
      await stop(svc);
      svc = await startServe(dir, env, ['--db', join(mnt, 'boxrun.db')]);
      const records = await eventually(async () => {
        const all = await getAll(svc!.url, acknowledged);
        return all.every((e) => e.status === 'done') ? all : undefined;
      }, 120_000);
      expect(records.every((e) => e.verdict === 'ok')).toBe(true);
    },
  );
});
