import { describe, expect, it } from 'vitest';
import { probeNamespaceSupport } from '../../src/backends/namespace/namespace-executor.js';
import { createExecutor } from '../../src/backends/selection/create-executor.js';
import { NamespaceExecutor } from '../../src/backends/selection/executors.js';
import {
  type FallbackEvent,
  probeAllBackends,
  SelectingExecutor,
} from '../../src/backends/selection/select-executor.js';
import { loadConfig } from '../../src/config/config.js';

/*
 * "dockerd stopped" is simulated by pointing the Docker backend at a socket nobody listens on:
 * from boxrun's side that is the same ENGINE_UNAVAILABLE, and the shared engine keeps running.
 */
const deadEngine = { docker: { host: 'unix:///nonexistent/boxrun-test-docker.sock' } } as const;
const quiet = () => {
  const lines: string[] = [];
  return {
    lines,
    logger: { warn: (m: string) => lines.push(`WARN ${m}`), info: (m: string) => lines.push(m) },
  };
};
const hello = { runtime: 'bash', files: [{ path: 'a.sh', content: 'echo hi' }] };

describe('executor selection and fallback', () => {
  it('refuses to run anywhere else when the engine is down and no fallback is configured', async () => {
    const config = loadConfig({ overrides: { ...deadEngine, executor: { type: 'docker', fallback: [] } } });
    await expect(SelectingExecutor.create({ config, logger: quiet().logger })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringMatching(/no fallback is configured/),
    });
  });

  it('does not fall back to the host executor unless allow_unsafe_host is set', async () => {
    const config = loadConfig({
      overrides: { ...deadEngine, executor: { type: 'docker', fallback: ['host'], allowUnsafeHost: false } },
    });
    expect(() => createExecutor(config)).toThrow(/allow_unsafe_host/);
    await expect(SelectingExecutor.create({ config, logger: quiet().logger })).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringMatching(/allow_unsafe_host/),
    });
  });

  it('falls back to the host executor when allowed, logs it loudly, counts it and reports isolation none', async () => {
    const config = loadConfig({
      overrides: { ...deadEngine, executor: { type: 'docker', fallback: ['host'], allowUnsafeHost: true } },
    });
    const log = quiet();
    const events: FallbackEvent[] = [];
    const executor = await SelectingExecutor.create({ config, logger: log.logger });
    executor.on('fallback', (e: FallbackEvent) => events.push(e));
    expect(executor.activeBackend()).toBe('host');
    expect(executor.fallbackCount()).toBe(1);
    expect(executor.status()).toMatchObject({
      preferred: 'docker',
      active: 'host',
      degraded: true,
      fallbacks: 1,
    });
    expect(log.lines.join('\n')).toMatch(
      /WARN executor FALLBACK: docker is unavailable .*isolation level 'none'/,
    );
    const r = await executor.execute(hello);
    expect(r.stdout).toBe('hi\n');
    expect(r.isolationLevel).toBe('none');
    await executor.close();
  });

  it.skipIf(probeNamespaceSupport(loadConfig()).problems.length > 0)(
    'falls back to the namespace executor (isolation process) before the host one',
    async () => {
      const config = loadConfig({
        overrides: {
          ...deadEngine,
          executor: { type: 'docker', fallback: ['namespace', 'host'], allowUnsafeHost: true },
        },
      });
      // With the engine "down" only a cached rootfs export can serve: made now, while it is up.
      const exporter = new NamespaceExecutor({ config: loadConfig() });
      await exporter.prepare({ runtime: 'python', files: [{ path: 'a.py', content: '' }] });
      await exporter.close();
      const executor = await SelectingExecutor.create({ config, logger: quiet().logger });
      expect(executor.activeBackend()).toBe('namespace');
      const r = await executor.execute({
        runtime: 'python',
        files: [{ path: 'a.py', content: 'print("hi")' }],
      });
      expect(r.stdout).toBe('hi\n');
      expect(r.isolationLevel).toBe('process');
      await executor.close();
    },
  );

  it('uses the preferred backend without a fallback when it is available', async () => {
    const config = loadConfig({
      overrides: { executor: { type: 'docker', fallback: ['host'], allowUnsafeHost: true } },
    });
    const executor = await SelectingExecutor.create({ config, logger: quiet().logger });
    expect(executor.activeBackend()).toBe('docker');
    expect(executor.fallbackCount()).toBe(0);
    const r = await executor.execute(hello);
    expect(r.isolationLevel).toBe('container');
    await executor.close();
  });

  it('probes every backend for boxrun doctor', async () => {
    const probes = await probeAllBackends(loadConfig());
    expect(probes.map((p) => p.type)).toEqual(['docker', 'podman', 'namespace', 'host']);
    expect(probes.find((p) => p.type === 'host')).toMatchObject({ available: false });
  });
});
