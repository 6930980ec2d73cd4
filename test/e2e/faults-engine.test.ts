import { join } from 'node:path';
import type Docker from 'dockerode';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine, createDockerClient } from '../../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../../src/backends/docker/labels.js';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { defaultRegistry, RuntimeRegistry } from '../../src/runtimes/registry.js';
import { buildApp } from '../../src/server/app.js';
import { KyselyExecutionStore } from '../../src/store/kysely-execution-store.js';
import { canStartPrivateEngine, copyImage, PrivateEngine } from '../support/second-engine.js';
import { api, eventually, py } from './service-harness.js';

/**
 * The engine stopped mid-run and started again. Never the shared engine: a private dockerd with its
 * own state, socket and bridge (ENGINE-NOTES.md, "Several engines on one machine"), the python
 * image copied into it over the Engine API, and the service (Fastify app on 127.0.0.1, real
 * executor) pointed at it. Only python is registered, so readiness can be complete with one image.
 */
const canRun = canStartPrivateEngine;
const why = canRun ? '' : ' (skipped: needs root, /usr/sbin/dockerd and ip to start a private engine)';

const python = defaultRegistry.get('python');

describe.skipIf(!canRun)(`faults: the engine stopped mid-run and started again${why}`, () => {
  let dockerd: PrivateEngine | null = null;
  let engine: Docker;
  let app: FastifyInstance | null = null;
  let executor: DockerExecutor | null = null;
  let store: KyselyExecutionStore | null = null;
  let url = '';

  beforeAll(async () => {
    dockerd = new PrivateEngine({
      prefix: 'boxrun-fault-engine-',
      bridge: 'br-bxfault',
      bridgeAddress: '172.31.251.1/24',
    });
    engine = createDockerClient(dockerd.socket);
    await dockerd.create(engine);
    const { docker: main } = await connectEngine(loadConfig().docker.host);
    await copyImage(main, engine, python.image);

    const config = loadConfig({
      overrides: {
        docker: { host: dockerd.socket, reapGraceSeconds: 2, reapIntervalSeconds: 2 },
        server: { host: '127.0.0.1', port: 0, maxConcurrent: 2, shutdownGraceMs: 1000 },
      },
    });
    const registry = new RuntimeRegistry([python]);
    store = await KyselyExecutionStore.openSqlite(join(dockerd.dir, 'boxrun.db'));
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
    await store?.close();
    await dockerd?.destroy(45_000);
  }, 120_000);

  it('ends the run in flight with a clear reason, goes unready, and comes back by itself', async () => {
    await eventually(
      async () => ((await api(url, 'GET', '/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    const warm = await api(url, 'POST', '/v1/executions', py('print("before")'));
    expect(warm.status).toBe(200);
    expect(warm.json.result).toMatchResult({ status: 'ok', stdout: 'before\n' });

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
    await dockerd!.stop(45_000);

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

    dockerd!.start();
    await dockerd!.waitForPing(engine, 60_000);
    // Ready again by itself (the service is only polled, never told).
    await eventually(
      async () => ((await api(url, 'GET', '/readyz')).status === 200 ? true : undefined),
      60_000,
    );
    const after = await api(url, 'POST', '/v1/executions', py('print("after")'));
    expect(after.status).toBe(200);
    expect(after.json.result).toMatchResult({ status: 'ok', stdout: 'after\n' });

    // The sandbox the engine's stop left behind is removed once the engine is back.
    await eventually(async () => {
      const left = await engine.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
      return left.length === 0 ? true : undefined;
    }, 60_000);
  });
});
