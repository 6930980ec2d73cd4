import { describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { PodmanExecutor } from '../../src/backends/selection/executors.js';
import { type ConfigOverrides, loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';

const podmanConfig = (overrides: ConfigOverrides = {}) => loadConfig({ overrides });

/** Why the Podman suite cannot run here, or null when Podman answers with boxrun's images. */
async function podmanUnavailable(): Promise<string | null> {
  const { podman } = podmanConfig();
  try {
    const { docker } = await connectEngine(podman.host);
    const tags = (await docker.listImages()).flatMap((i) => i.RepoTags ?? []);
    if (!tags.some((t) => t.endsWith('boxrun/python:3.11'))) {
      return `Podman at ${podman.host} has no boxrun images: run 'boxrun setup --engine podman'`;
    }
    return null;
  } catch (error) {
    return `Podman is not answering at ${podman.host} (${(error as Error).message.split('.')[0]}): run 'boxrun setup --engine podman'`;
  }
}

const unavailable = await podmanUnavailable();

if (unavailable) {
  describe.skip(`podman: skipped, ${unavailable}`, () => {
    it('runs the executor conformance suite', () => {});
  });
} else {
  describeExecutorConformance('podman', () => new PodmanExecutor({ config: podmanConfig() }));

  describe('podman executor', () => {
    it('reports itself as the podman backend', async () => {
      const executor = new PodmanExecutor({ config: podmanConfig() });
      try {
        const caps = await executor.capabilities();
        expect(caps.backend).toBe('podman');
        expect(caps.engine?.version).toMatch(/^\d/);
      } finally {
        await executor.close();
      }
    });

    it('runs a custom image with the supervisor mounted in', async () => {
      const executor = new PodmanExecutor({ config: podmanConfig() });
      try {
        const r = await executor.execute({
          image: 'boxrun/base:bookworm',
          command: ['sh', '-c', 'id -u; echo hi'],
        });
        expect(r.stdout).toBe('1000\nhi\n');
      } finally {
        await executor.close();
      }
    });

    it('applies a seccomp profile given as a file (strict profile refuses ptrace)', async () => {
      const executor = new PodmanExecutor({ config: podmanConfig({ docker: { seccompProfile: 'strict' } }) });
      try {
        const r = await executor.execute({
          runtime: 'python',
          files: [
            {
              path: 'a.py',
              content:
                'import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(101, 0, 0, 0, 0), ctypes.get_errno())',
            },
          ],
        });
        expect(r.stdout).toBe('-1 1\n');
      } finally {
        await executor.close();
      }
    });
  });
}
