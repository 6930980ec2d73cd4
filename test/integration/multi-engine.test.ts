import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerSpec } from '../../src/backends/docker/container-spec.js';
import { connectEngine, createDockerClient } from '../../src/backends/docker/engine.js';
import { Sandbox } from '../../src/backends/docker/sandbox.js';
import { MultiEngineExecutor } from '../../src/backends/selection/multi-engine-executor.js';
import { loadConfig } from '../../src/config/config.js';
import { BASE_ENV } from '../../src/runtimes/plan.js';
import { defaultRegistry } from '../../src/runtimes/registry.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { canStartPrivateEngine, copyImage, PrivateEngine } from '../support/second-engine.js';

/**
 * The DinD topology of docker-compose.dind.yml, on one machine: a second dockerd with its own
 * state, sockets and bridge, reached over TCP on loopback, beside the main engine; a shared
 * workspace directory mounted by sandboxes on both.
 */
const TCP = 'tcp://127.0.0.1:23750';
const canRun = canStartPrivateEngine;
const why = canRun ? '' : ' (skipped: needs root, dockerd and ip to start a second engine)';

const config = loadConfig();
const python = defaultRegistry.get('python');
let engine: PrivateEngine | null = null;

beforeAll(async () => {
  if (!canRun) return;
  engine = new PrivateEngine({
    prefix: 'boxrun-e2-',
    bridge: 'br-boxrun2',
    bridgeAddress: '172.31.250.1/24',
    hosts: [TCP],
  });
  const second = createDockerClient(TCP);
  await engine.create(second);
  const { docker: first } = await connectEngine(config.docker.host);
  await copyImage(first, second, python.image);
}, 300_000);

afterAll(async () => {
  await engine?.destroy(20_000);
}, 60_000);

describe.skipIf(!canRun)(`two engines at once${why}`, () => {
  it('spreads executions over both engines by load', async () => {
    const executor = new MultiEngineExecutor({ config, hosts: [`unix:///var/run/docker.sock`, TCP] });
    try {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          executor.execute({
            runtime: 'python',
            files: [{ path: 'main.py', content: `import time\ntime.sleep(0.5)\nprint(${i})` }],
          }),
        ),
      );
      expect(results.map((r) => r.stdout)).toEqual(['0\n', '1\n', '2\n', '3\n', '4\n', '5\n']);
      const stats = executor.stats();
      expect(stats.map((s) => s.total)).toEqual([3, 3]);
      expect(stats.every((s) => s.alive)).toBe(true);
    } finally {
      await executor.close();
    }
  });

  it('skips an engine that does not answer', async () => {
    const executor = new MultiEngineExecutor({
      config,
      hosts: ['tcp://127.0.0.1:1', TCP],
      reaper: false,
    });
    try {
      for (let i = 0; i < 3; i++) {
        const result = await executor.execute({
          runtime: 'python',
          files: [{ path: 'main.py', content: 'print(1)' }],
        });
        expect(result).toHaveStatus('ok');
      }
      const [dead, live] = executor.stats();
      expect(dead).toMatchObject({ alive: false, total: 0 });
      expect(dead!.lastError).toMatch(/unavailable|ECONNREFUSED/i);
      expect(live!.total).toBe(3);
    } finally {
      await executor.close();
    }
  });

  it('runs a session on the second engine over TCP', async () => {
    const executor = new MultiEngineExecutor({ config, hosts: [TCP] });
    const manager = new SessionManager({ config, engines: executor });
    try {
      const session = await manager.create({ runtime: 'python' });
      await session.files.write('x.py', 'print("from engine 2")');
      expect((await session.run('python3 x.py')).stdout).toBe('from engine 2\n');
      const { docker } = await executor.members[0]!.executor.engine();
      const there = await docker.listContainers({ filters: { label: [`boxrun.execution=${session.id}`] } });
      expect(there).toHaveLength(1);
      await session.close();
    } finally {
      await manager.close();
      await executor.close();
    }
  });

  it('shares a workspace directory between sandboxes on both engines', async () => {
    const workspace = join(engine!.dir, 'workspace');
    mkdirSync(workspace);
    writeFileSync(join(workspace, 'from-host.txt'), 'host\n');
    const [uid, gid] = config.docker.user.split(':').map(Number) as [number, number];
    chownSync(workspace, uid, gid);
    const engines = [(await connectEngine(config.docker.host)).docker, createDockerClient(TCP)];
    const runOn = async (docker: Docker, script: string) => {
      const spec = createContainerSpec({
        id: `multi-engine-${Date.now()}`,
        image: python.image,
        limits: config.limits,
        user: config.docker.user,
        deadline: Date.now() + 120_000,
        kind: 'oneshot',
        mounts: [{ Type: 'bind', Source: workspace, Target: '/workspace', ReadOnly: false }],
      });
      const sandbox = await Sandbox.start(docker, spec);
      try {
        const outcome = await sandbox.run(
          {
            files: [],
            argv: ['sh', '-c', script],
            env: BASE_ENV,
            limits: { timeout_ms: 10_000 },
            outputPatterns: [],
            stdin: Buffer.alloc(0),
          },
          { timeoutMs: 10_000, outputBytes: 1 << 20 },
        );
        return outcome.stdout.toString();
      } finally {
        await sandbox.destroy();
      }
    };
    expect(
      await runOn(engines[0]!, 'cat /workspace/from-host.txt; echo one > /workspace/from-engine-1.txt'),
    ).toBe('host\n');
    expect(
      await runOn(engines[1]!, 'cat /workspace/from-engine-1.txt; echo two > /workspace/from-engine-2.txt'),
    ).toBe('one\n');
    expect(readFileSync(join(workspace, 'from-engine-2.txt'), 'utf8')).toBe('two\n');
  });
});
