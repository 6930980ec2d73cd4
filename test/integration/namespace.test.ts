import { describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { probeNamespaceSupport } from '../../src/backends/namespace/namespace-executor.js';
import { seccompFilter } from '../../src/backends/namespace/seccomp.js';
import { NamespaceExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';

const config = loadConfig();

/** Why the namespace executor cannot run here (bwrap, user namespaces, cgroups, root, a rootfs), or null. */
async function unavailableReason(): Promise<string | null> {
  const support = probeNamespaceSupport(config);
  if (support.problems.length > 0) return support.problems.join('; ');
  const executor = new NamespaceExecutor({ config });
  try {
    // Exports the python image's rootfs once; the rest are exported on first use.
    await executor.prepare({ runtime: 'python', files: [{ path: 'a.py', content: '' }] });
    return null;
  } catch (error) {
    return `no exported rootfs: ${(error as Error).message}`;
  } finally {
    await executor.close();
  }
}

const reason = await unavailableReason();
if (reason) console.warn(`namespace executor tests skipped: ${reason}`);

describe.skipIf(reason !== null)('namespace executor', () => {
  // The cgroup v2 VM (scripts/cgroup2-vm) has only some runtimes' images.
  const runtimes = process.env.BOXRUN_TEST_RUNTIMES?.split(',');
  describeExecutorConformance('namespace', () => new NamespaceExecutor({ config }), { runtimes });

  it('reports isolation level process and the bwrap engine in its capabilities', async () => {
    const executor = new NamespaceExecutor({ config });
    const caps = await executor.capabilities();
    expect(caps.isolationLevel).toBe('process');
    expect(caps.supportsMemoryLimit).toBe(true);
    const r = await executor.execute({ runtime: 'bash', files: [{ path: 'a.sh', content: 'echo $$' }] });
    expect(r.isolationLevel).toBe('process');
    expect(r.stdout).toBe('2\n');
    await executor.close();
  });

  it.skipIf(seccompFilter() === null)(
    'applies the seccomp filter: unshare and mount fail with EPERM',
    async () => {
      const executor = new NamespaceExecutor({ config });
      const r = await executor.execute({
        runtime: 'python',
        files: [
          {
            path: 'a.py',
            content: [
              'import ctypes, os',
              'libc = ctypes.CDLL(None, use_errno=True)',
              'print(libc.unshare(0x10000000), ctypes.get_errno())', // CLONE_NEWUSER
              'print(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())',
              'print(open("/proc/self/status").read().count("Seccomp:\\t2"))',
            ].join('\n'),
          },
        ],
      });
      expect(r.stdout).toBe('-1 1\n-1 1\n1\n');
      await executor.close();
    },
  );

  it('runs the same interpreter as the Docker image (rootfs exported from it)', async () => {
    const executor = new NamespaceExecutor({ config });
    const code = { runtime: 'python', files: [{ path: 'a.py', content: 'import sys; print(sys.version)' }] };
    const ns = await executor.execute(code);
    await executor.close();
    const { docker } = await connectEngine(config.docker.host);
    const info = await docker.getImage('boxrun/python:3.11').inspect();
    expect(info.Config?.Labels?.['boxrun.hash']).toBeTruthy();
    expect(ns.stdout).toMatch(/^3\.11\./);
  });
});
