import { accessSync, constants } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertHostExecutorAllowed } from '../../src/backends/host/host-executor.js';
import { HostExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { defaultRegistry } from '../../src/runtimes/registry.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';

const config = loadConfig({ overrides: { executor: { allowUnsafeHost: true } } });

/** The host executor uses the host's own toolchains: only runtimes whose commands are installed. */
function onHost(command: string): boolean {
  return ['/usr/local/bin', '/usr/bin', '/bin'].some((dir) => {
    try {
      accessSync(`${dir}/${command}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
const hostRuntimes = defaultRegistry.all
  .filter(
    (r) =>
      onHost((r.compile ?? r.run)[0] ?? '') && onHost(r.run[0]?.startsWith('./') ? 'sh' : (r.run[0] ?? '')),
  )
  .map((r) => r.name);

describe('host executor', () => {
  // The non-security subset: no isolation cases, no cgroup limits.
  describeExecutorConformance('host', () => new HostExecutor({ config }), {
    isolation: false,
    runtimes: hostRuntimes,
  });

  it('is refused unless allow_unsafe_host is set', () => {
    const strict = loadConfig();
    expect(() => assertHostExecutorAllowed(strict)).toThrow(/allow_unsafe_host/);
    expect(() => new HostExecutor({ config: strict })).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
  });

  it('reports isolation level none', async () => {
    const executor = new HostExecutor({ config });
    const r = await executor.execute({ runtime: 'bash', files: [{ path: 'a.sh', content: 'echo hi' }] });
    expect(r.isolationLevel).toBe('none');
    expect(r.stdout).toBe('hi\n');
    await executor.close();
  });

  it('refuses workspaces: it has no mount namespace', async () => {
    const executor = new HostExecutor({
      config: { ...config, workspaces: { ...config.workspaces, allowedRoots: ['/tmp'] } },
    });
    await expect(
      executor.execute({
        runtime: 'bash',
        files: [{ path: 'a.sh', content: '' }],
        workspace: { hostPath: '/tmp' },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await executor.close();
  });
});
