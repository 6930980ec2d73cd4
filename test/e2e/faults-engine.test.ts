import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerExecutor } from '../../src/backends/docker/docker-executor.js';
import { connectEngine, createDockerClient } from '../../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../../src/backends/docker/labels.js';
import { loadConfig } from '../../src/config/config.js';
import { defaultRegistry, RuntimeRegistry } from '../../src/runtimes/registry.js';
import { buildApp } from '../../src/server/app.js';
import { SqliteExecutionStore } from '../../src/store/sqlite-execution-store.js';
import { api, eventually, py } from './service-harness.js';

/**
 * The engine stopped mid-run and started again. Never the shared engine: a private dockerd with its
 * own state, socket and bridge (ENGINE-NOTES.md, "Several engines on one machine"), the python
 * image copied into it over the Engine API, and the service (Fastify app on 127.0.0.1, real
 * executor) pointed at it. Only python is registered, so readiness can be complete with one image.
 */
const BRIDGE = 'br-bxfault';
const canRun =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  existsSync('/usr/sbin/dockerd') &&
  existsSync('/usr/sbin/ip');
const why = canRun ? '' : ' (skipped: needs root, /usr/sbin/dockerd and ip to start a private engine)';

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
const python = defaultRegistry.get('python');

describe.skipIf(!canRun)(`faults: the engine stopped mid-run and started again${why}`, () => {
  let dir = '';
  let daemon: ChildProcess | null = null;
  let bridgeCreated = false;
  let engine: Docker;
  let app: FastifyInstance | null = null;
  let executor: DockerExecutor | null = null;
  let store: SqliteExecutionStore | null = null;
  let url = '';

  const startDaemon = () => {
    const log = openSync(join(dir, 'dockerd.log'), 'a');
    // Never --bridge none: it deletes the main engine's docker0 (ENGINE-NOTES.md). Without
    // --containerd, dockerd runs a containerd of its own under --exec-root.
    daemon = spawn(
      '/usr/sbin/dockerd',
      [
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
        '-H',
        `unix://${join(dir, 'docker.sock')}`,
        '--bridge',
        BRIDGE,
        '--iptables=false',
      ],
      { stdio: ['ignore', log, log] },
    );
  };

  const waitForPing = async (ms: number) => {
    const end = Date.now() + ms;
    let last: unknown;
    while (Date.now() < end) {
      try {
        await engine.ping();
        return;
      } catch (error) {
        last = error;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new Error(
      `private dockerd did not answer: ${String(last)}\n${readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-2000)}`,
    );
  };

  const stopDaemon = async () => {
    const d = daemon;
    if (!d || d.exitCode !== null || d.signalCode !== null) return;
    const exited = new Promise((resolve) => d.once('exit', resolve));
    d.kill('SIGTERM');
    const timer = setTimeout(() => d.kill('SIGKILL'), 45_000);
    await exited;
    clearTimeout(timer);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'boxrun-fault-engine-'));
    try {
      ip('link', 'del', BRIDGE); // a leftover from a run killed before its cleanup
    } catch {}
    ip('link', 'add', BRIDGE, 'type', 'bridge');
    bridgeCreated = true;
    ip('addr', 'add', '172.31.251.1/24', 'dev', BRIDGE);
    ip('link', 'set', BRIDGE, 'up');
    startDaemon();
    engine = createDockerClient(`unix://${join(dir, 'docker.sock')}`);
    await waitForPing(60_000);
    // GET /images/{name}/get on the main engine piped into POST /images/load on the private one.
    const { docker: main } = await connectEngine(loadConfig().docker.host);
    const tar = (await main.getImage(python.image).get()) as unknown as Readable;
    const loaded = (await engine.loadImage(tar)) as unknown as Readable;
    await new Promise<void>((resolve, reject) => {
      loaded.on('data', () => {});
      loaded.on('end', resolve);
      loaded.on('error', reject);
    });

    const config = loadConfig({
      overrides: {
        docker: { host: `unix://${join(dir, 'docker.sock')}`, reapGraceSeconds: 2, reapIntervalSeconds: 2 },
        server: { host: '127.0.0.1', port: 0, maxConcurrent: 2, shutdownGraceMs: 1000 },
      },
    });
    const registry = new RuntimeRegistry([python]);
    store = SqliteExecutionStore.open(join(dir, 'boxrun.db'));
    executor = new DockerExecutor({ config, registry });
    app = await buildApp({
      config,
      executor,
      store,
      registry,
      logger: pino({ level: process.env.BOXRUN_TEST_LOG ?? 'silent' }),
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 300_000);

  afterAll(async () => {
    await app?.close().catch(() => {});
    await executor?.close().catch(() => {});
    store?.close();
    await stopDaemon();
    if (bridgeCreated) {
      try {
        ip('link', 'set', BRIDGE, 'down');
        ip('link', 'del', BRIDGE);
      } catch {}
    }
    if (dir) {
      // dockerd can leave mounts (overlay, shm, netns) under its roots; unmount before removing.
      try {
        execFileSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`], {
          stdio: 'pipe',
        });
      } catch {}
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('ends the run in flight with a clear reason, goes unready, and comes back by itself', async () => {
    await eventually(
      async () => ((await api(url, 'GET', '/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    const warm = await api(url, 'POST', '/v1/executions', py('print("before")'));
    expect(warm.status).toBe(200);
    expect(warm.json.result.stdout).toBe('before\n');

    const long = await api(
      url,
      'POST',
      '/v1/executions?wait=false',
      py('import time\nprint("started", flush=True)\ntime.sleep(120)', { limits: { timeoutMs: 240_000 } }),
    );
    expect(long.status).toBe(202);
    const id = long.json.id as string;
    await eventually(async () => {
      const r = await api(url, 'GET', `/v1/executions/${id}`);
      return r.json.status === 'running' ? true : undefined;
    }, 60_000);
    await new Promise((r) => setTimeout(r, 500)); // the program is past its start

    const killedAt = Date.now();
    await stopDaemon();

    // No hang: the execution in flight ends, with a reason that names the engine or the sandbox.
    const ended = await eventually(async () => {
      const r = await api(url, 'GET', `/v1/executions/${id}`);
      return r.json.status === 'done' ? r.json : undefined;
    }, 60_000);
    expect(Date.now() - killedAt).toBeLessThan(90_000);
    if (ended.verdict === 'error') {
      expect(ended.error.code).toBe('ENGINE_UNAVAILABLE');
      expect(ended.error.message).toMatch(/engine/);
    } else {
      expect(ended.verdict).toBe('internal_error');
      expect(ended.result.message).toMatch(/sandbox|engine/);
    }

    const down = await eventually(async () => {
      const r = await api(url, 'GET', '/readyz');
      return r.status === 503 ? r : undefined;
    }, 30_000);
    expect(down.json.problems.length).toBeGreaterThan(0);
    expect(JSON.stringify(down.json.problems)).toMatch(/engine|ENOENT|ECONNREFUSED|unavailable/i);
    // While it is down: refused (or failed) with ENGINE_UNAVAILABLE, never a 500, and alive.
    const refused = await api(url, 'POST', '/v1/executions', py('print(1)'));
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('ENGINE_UNAVAILABLE');
    expect((await api(url, 'GET', '/healthz')).status).toBe(200);

    startDaemon();
    await waitForPing(60_000);
    // Ready again by itself (the service is only polled, never told).
    await eventually(
      async () => ((await api(url, 'GET', '/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    const after = await api(url, 'POST', '/v1/executions', py('print("after")'));
    expect(after.status).toBe(200);
    expect(after.json).toMatchObject({ verdict: 'ok', result: { stdout: 'after\n' } });

    // The sandbox the engine's stop left behind is removed once the engine is back.
    await eventually(async () => {
      const left = await engine.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
      return left.length === 0 ? true : undefined;
    }, 60_000);
  });
});
