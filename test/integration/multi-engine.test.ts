import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerSpec } from '../../src/backends/docker/container-spec.js';
import { connectEngine, createDockerClient } from '../../src/backends/docker/engine.js';
import { MultiEngineExecutor } from '../../src/backends/docker/multi-engine-executor.js';
import { Sandbox } from '../../src/backends/docker/sandbox.js';
import { loadConfig } from '../../src/config/config.js';
import { BASE_ENV } from '../../src/runtimes/plan.js';
import { defaultRegistry } from '../../src/runtimes/registry.js';
import { SessionManager } from '../../src/sessions/session-manager.js';

/**
 * The DinD topology of docker-compose.dind.yml, on one machine: a second dockerd with its own
 * state, sockets and bridge, reached over TCP on loopback, beside the main engine; a shared
 * workspace directory mounted by sandboxes on both.
 */
const BRIDGE = 'br-boxrun2';
const TCP = 'tcp://127.0.0.1:23750';
const canRun =
  process.getuid?.() === 0 &&
  existsSync('/usr/sbin/dockerd') &&
  existsSync('/usr/sbin/ip') &&
  process.platform === 'linux';
const why = canRun ? '' : ' (skipped: needs root, dockerd and ip to start a second engine)';

const config = loadConfig();
const python = defaultRegistry.get('python');
let dir = '';
let daemon: ChildProcess | null = null;
let bridgeCreated = false;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

async function waitForPing(docker: Docker, ms: number): Promise<void> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    if (daemon?.exitCode !== null && daemon?.exitCode !== undefined) break;
    try {
      await docker.ping();
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const log = existsSync(join(dir, 'dockerd.log'))
    ? readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-2000)
    : '';
  throw new Error(`second dockerd did not answer: ${String(last)}\n${log}`);
}

/** GET /images/get from one engine piped into POST /images/load on the other. */
async function copyImage(from: Docker, to: Docker, name: string): Promise<void> {
  const tar = (await from.getImage(name).get()) as unknown as Readable;
  const response = (await to.loadImage(tar)) as unknown as Readable;
  await new Promise<void>((resolve, reject) => {
    response.on('data', () => {});
    response.on('end', resolve);
    response.on('error', reject);
  });
}

beforeAll(async () => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'boxrun-e2-'));
  // A leftover from a run that was killed before its cleanup.
  try {
    ip('link', 'del', BRIDGE);
  } catch {}
  ip('link', 'add', BRIDGE, 'type', 'bridge');
  bridgeCreated = true;
  ip('addr', 'add', '172.31.250.1/24', 'dev', BRIDGE);
  ip('link', 'set', BRIDGE, 'up');
  const log = openSync(join(dir, 'dockerd.log'), 'a');
  // Never --bridge none: it deletes the main engine's docker0 (docs: ENGINE-NOTES).
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
      '-H',
      TCP,
      '--bridge',
      BRIDGE,
      '--iptables=false',
    ],
    { stdio: ['ignore', log, log] },
  );
  const second = createDockerClient(TCP);
  await waitForPing(second, 60_000);
  const { docker: first } = await connectEngine(config.docker.host);
  await copyImage(first, second, python.image);
}, 300_000);

afterAll(async () => {
  if (daemon && daemon.exitCode === null) {
    const exited = new Promise((resolve) => daemon!.once('exit', resolve));
    daemon.kill('SIGTERM');
    const timer = setTimeout(() => daemon?.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  if (bridgeCreated) {
    try {
      ip('link', 'set', BRIDGE, 'down');
      ip('link', 'del', BRIDGE);
    } catch {}
  }
  if (dir) {
    // dockerd leaves mounts (overlay, shm) under its roots when it dies hard; unmount before removing.
    try {
      execFileSync('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l`], {
        stdio: 'pipe',
      });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  }
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
        expect(result.status).toBe('ok');
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
    const workspace = join(dir, 'workspace');
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
