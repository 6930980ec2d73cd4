import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { engineRuntimes, probeIsolationTiers } from '../../src/backends/docker/gvisor.js';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import { TieredExecutor } from '../../src/backends/selection/tiered-executor.js';
import { loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';
import { dockerExecutor } from '../helpers.js';
import { describeResult } from '../support/result-matchers.js';

const config = loadConfig();
const runtime = config.isolation.vmRuntime;
const { docker } = await connectEngine(config.docker.host);
const registered = await engineRuntimes(docker);
const hasRunsc = registered.includes(runtime);
if (!hasRunsc) {
  console.warn(
    `gVisor tests skipped: ${runtime} is not registered with the engine (its runtimes: ${registered.join(', ')}). Run \`boxrun setup --isolation gvisor\` (scripts/bootstrap.sh does when runsc can be installed); see docs/backends.md.`,
  );
}

const bash = (content: string, extra: Record<string, unknown> = {}) => ({
  runtime: 'bash',
  files: [{ path: 'main.sh', content }],
  ...extra,
});

describe('isolation tiers: never a silent downgrade', () => {
  it('answers a vm request with ISOLATION_UNAVAILABLE naming the setup command when the runtime is not registered', async () => {
    const missing = loadConfig({ overrides: { isolation: { vmRuntime: 'runsc-not-registered' } } });
    const executor = new TieredExecutor({ config: missing, base: new DockerExecutor({ config: missing }) });
    try {
      await expect(executor.execute(bash('echo never', { isolation: 'vm' }))).rejects.toMatchObject({
        code: 'ISOLATION_UNAVAILABLE',
        message: expect.stringContaining('boxrun setup --isolation gvisor'),
      });
      const tiers = await probeIsolationTiers(missing);
      expect(tiers.find((t) => t.tier === 'vm')).toMatchObject({ available: false });
      expect(tiers.find((t) => t.tier === 'vm')?.reason).toContain('runsc-not-registered');
    } finally {
      await executor.close();
    }
  });

  it('refuses an explicit vm request on a runc executor instead of running it there', async () => {
    const executor = dockerExecutor({ docker: { runtime: undefined } });
    try {
      await expect(executor.execute(bash('echo never', { isolation: 'vm' }))).rejects.toMatchObject({
        code: 'ISOLATION_UNAVAILABLE',
      });
    } finally {
      await executor.close();
    }
  });
});

describe.skipIf(!hasRunsc)(`gVisor (${runtime})`, () => {
  describeExecutorConformance('gvisor one-shot', () => dockerExecutor({ docker: { runtime } }), {
    gvisor: true,
  });

  describe('the vm tier', () => {
    let tiered: TieredExecutor;
    beforeAll(() => {
      tiered = new TieredExecutor({ config, base: new DockerExecutor({ config }) });
    });
    afterAll(async () => {
      await tiered.close();
    });

    it('routes vm requests to gVisor and the rest to runc; each result states its tier', async () => {
      const [vm, container] = await Promise.all([
        tiered.execute(bash('echo vm', { isolation: 'vm' })),
        tiered.execute(bash('echo container')),
      ]);
      expect(vm).toMatchObject({ status: 'ok', stdout: 'vm\n', isolationLevel: 'vm' });
      expect(container).toMatchObject({ status: 'ok', stdout: 'container\n', isolationLevel: 'container' });
    });

    it("shows the program gVisor's kernel in /proc/version and dmesg, not the host's", async () => {
      const host = (await docker.info()) as { KernelVersion?: string };
      const r = await tiered.execute(
        bash('cat /proc/version; echo ---; dmesg 2>&1 | head -n 3; uname -r', { isolation: 'vm' }),
      );
      expect(r.status).toBe('ok');
      const [version, rest] = r.stdout.split('---\n');
      expect(version).toMatch(/^Linux version 4\.4\.0/);
      expect(r.stdout).not.toContain(host.KernelVersion ?? 'no host kernel');
      // gVisor's dmesg is its own boot log ("Starting gVisor..."), not the host's ring buffer.
      expect(rest).toMatch(/gVisor/);
    });

    it('runs a compiled program on the tier it was compiled on', async () => {
      const r = await tiered.execute({
        runtime: 'c',
        isolation: 'vm',
        files: [{ path: 'main.c', content: '#include <stdio.h>\nint main(){puts("compiled");return 0;}\n' }],
      });
      expect(r).toMatchObject({ status: 'ok', stdout: 'compiled\n', isolationLevel: 'vm' });
      expect(r.compile?.status).toBe('ok');
    });

    it('shields PID 1 from the program: kill -9 1 is refused and a fork bomb is held at the pids limit', async () => {
      const killer = await tiered.execute(
        bash('kill -9 1 2>&1; echo rc=$?; kill -9 -1; echo after', { isolation: 'vm' }),
      );
      // kill -9 -1 reaches every process of the program's uid but the caller, never the supervisor.
      expect(killer).toMatchResult({ status: 'ok', isolationLevel: 'vm' });
      expect(killer.stdout).toMatch(/Operation not permitted\nrc=1\nafter\n$/);
      const bomb = await tiered.execute(
        bash('bomb() { bomb | bomb & }; bomb; sleep 2; echo survived', {
          isolation: 'vm',
          limits: { timeoutMs: 4000, pids: 64 },
        }),
      );
      expect(['ok', 'time_limit', 'runtime_error'], describeResult(bomb)).toContain(bomb.status);
      const after = await tiered.execute(bash('echo fine', { isolation: 'vm' }));
      expect(after).toMatchObject({ status: 'ok', stdout: 'fine\n' });
    });
  });
});
