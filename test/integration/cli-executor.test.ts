import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { probeNamespaceSupport } from '../../src/backends/namespace/namespace-executor.js';
import { NamespaceExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';

/*
 * Every entry point (run, test, mcp) gets its executor from createExecutor, so [executor] and
 * --executor decide where code runs and results say so. "Engine down" is a Docker host nobody
 * listens on: the same ENGINE_UNAVAILABLE to boxrun, while the shared engine keeps running.
 */
const cli = fileURLToPath(new URL('../../bin/boxrun.js', import.meta.url));
const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/judge/aplusb/${path}`, import.meta.url));
const deadEngine = { BOXRUN_DOCKER_HOST: 'unix:///nonexistent/boxrun-test-docker.sock' };
const config = loadConfig();
/** a+b with its input: a program that exits 0. */
const aplusb = () => [fixture('python/accepted.py'), '--stdin', fixture('tests/1.in')];

/** The environment of this process without any executor choice of its own, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('BOXRUN_EXECUTOR_'),
    ),
  );
  return { ...env, ...extra };
}

async function boxrun(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, ...args], {
      env: childEnv(env),
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Why the namespace executor cannot run Python here (bubblewrap, cgroups, the image to export), or null. */
async function namespaceUnavailable(): Promise<string | null> {
  const support = probeNamespaceSupport(config);
  if (support.problems.length > 0) return support.problems.join('; ');
  const executor = new NamespaceExecutor({ config });
  try {
    // Exports the python rootfs now, so the engine-down cases below find it cached.
    await executor.prepare({ runtime: 'python', files: [{ path: 'a.py', content: '' }] });
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await executor.close();
  }
}

const namespaceReason = await namespaceUnavailable();
if (namespaceReason) console.warn(`CLI namespace executor tests skipped: ${namespaceReason}`);

describe.skipIf(namespaceReason !== null)('CLI entry points on the configured executor', () => {
  it('boxrun run --executor namespace runs there (isolation process)', async () => {
    const r = await boxrun(['run', '--executor', 'namespace', '--json', ...aplusb()], {});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', isolationLevel: 'process' });
  });

  it('boxrun run honours BOXRUN_EXECUTOR_TYPE=namespace', async () => {
    const r = await boxrun(['run', '--json', ...aplusb()], {
      BOXRUN_EXECUTOR_TYPE: 'namespace',
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).isolationLevel).toBe('process');
  });

  it('boxrun test judges on the namespace executor', async () => {
    const r = await boxrun(['test', fixture('python/accepted.py'), '--tests', fixture('tests'), '--json'], {
      BOXRUN_EXECUTOR_TYPE: 'namespace',
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'accepted', isolationLevel: 'process' });
  });

  it('boxrun mcp runs code on the namespace executor', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [cli, 'mcp'],
      env: childEnv({ BOXRUN_EXECUTOR_TYPE: 'namespace' }),
      stderr: 'ignore',
    });
    const client = new Client({ name: 'boxrun-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const result = await client.callTool({
        name: 'run_code',
        arguments: { language: 'python', code: 'print(6*7)' },
      });
      const text = (result.content as { text: string }[]).map((c) => c.text).join('');
      expect(JSON.parse(text)).toMatchObject({ status: 'ok', stdout: '42\n', isolationLevel: 'process' });
    } finally {
      await client.close();
    }
  });

  it('falls back to namespace when the engine is unreachable and says so on stderr', async () => {
    const r = await boxrun(['run', ...aplusb()], {
      ...deadEngine,
      BOXRUN_EXECUTOR_FALLBACK: 'namespace',
    });
    expect(r.stderr).toMatch(/FALLBACK: docker is unavailable .*now run on namespace .*'process'/);
    expect(r.stderr).toMatch(/\[boxrun\] ok exit=0/);
    expect(r.code).toBe(0);
  });
});

describe('CLI with the engine unreachable and no fallback', () => {
  it('boxrun run exits 69 with the reason', async () => {
    const r = await boxrun(['run', ...aplusb()], deadEngine);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/nonexistent\/boxrun-test-docker\.sock/);
    expect(r.stderr).not.toMatch(/FALLBACK/);
  });

  it('boxrun test exits 69 with the reason', async () => {
    const r = await boxrun(['test', fixture('python/accepted.py'), '--tests', fixture('tests')], deadEngine);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/no container engine answered/);
  });

  it('refuses a host fallback unless allow_unsafe_host is set', async () => {
    const r = await boxrun(['run', ...aplusb()], {
      ...deadEngine,
      BOXRUN_EXECUTOR_FALLBACK: 'host',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/allow_unsafe_host/);
  });
});

/** Podman's API socket answers and holds the python image, or why not. */
async function podmanUnavailable(): Promise<string | null> {
  try {
    const { docker } = await connectEngine(config.podman.host);
    const images = await docker.listImages();
    if (!images.some((i) => i.RepoTags?.some((t) => t.includes('boxrun/python'))))
      return `Podman at ${config.podman.host} has no boxrun images: run 'boxrun setup --engine podman'`;
    return null;
  } catch (error) {
    return `no Podman service answers at ${config.podman.host} (${(error as Error).message.split('.')[0]}): run 'boxrun setup --engine podman'`;
  }
}

const podmanReason = await podmanUnavailable();
if (podmanReason) console.warn(`CLI podman executor test skipped: ${podmanReason}`);

describe.skipIf(podmanReason !== null)('CLI on Podman', () => {
  it('[executor] type = "podman" runs on the Podman service', async () => {
    const r = await boxrun(['run', '--json', ...aplusb()], { BOXRUN_EXECUTOR_TYPE: 'podman' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', isolationLevel: 'container' });
  });
});
