import { describe, expect, it } from 'vitest';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';
import { dockerExecutor } from '../helpers.js';

describeExecutorConformance('docker one-shot', () => dockerExecutor());

describe('docker executor: engine and images', () => {
  it('throws ENGINE_UNAVAILABLE quickly when the engine is not there', async () => {
    const executor = new DockerExecutor({
      config: loadConfig({ overrides: { docker: { host: 'unix:///nonexistent.sock' } } }),
    });
    const started = Date.now();
    await expect(
      executor.execute({ runtime: 'python', files: [{ path: 'a.py', content: '' }] }),
    ).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
    });
    // A missing socket fails at once; only an engine that hangs would take the 3 s ping timeout.
    expect(Date.now() - started).toBeLessThan(20_000);
    await executor.close();
  });

  it('throws IMAGE_NOT_FOUND naming the command that builds it', async () => {
    const executor = dockerExecutor();
    await expect(
      executor.execute({ image: 'boxrun/does-not-exist:1', command: ['true'] }),
    ).rejects.toMatchObject({ code: 'IMAGE_NOT_FOUND' });
    await executor.close();
  });

  it('runs a custom image with the supervisor mounted in', async () => {
    const executor = dockerExecutor();
    const r = await executor.execute({
      image: 'boxrun/base:bookworm',
      command: ['sh', '-c', 'id -u; echo hi'],
    });
    expect(r).toSucceedWith('1000\nhi\n');
    await executor.close();
  });

  it('reports capabilities of the engine', async () => {
    const executor = dockerExecutor();
    const caps = await executor.capabilities();
    expect(caps.isolationLevel).toBe('container');
    expect(caps.runtimes).toContain('python');
    expect(caps.engine?.version).toBeTruthy();
    await executor.close();
  });
});
