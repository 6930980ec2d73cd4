import { describe, expect, it } from 'vitest';
import { DockerExecutor } from '../../src/backends/docker/docker-executor.js';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { loadConfig } from '../../src/config/config.js';

const config = loadConfig({ overrides: { docker: { runtime: 'runsc' } } });
const { docker } = await connectEngine(config.docker.host);
const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
const registered = Object.keys(info.Runtimes ?? {});
const hasRunsc = registered.includes('runsc');
if (!hasRunsc) {
  console.warn(
    `gVisor tests skipped: runsc is not registered with the engine (runtimes: ${registered.join(', ')}). See docs/backends.md: apt-get install runsc, add it to /etc/docker/daemon.json with "runtimeArgs": ["--network=none"], restart dockerd.`,
  );
}

describe.skipIf(!hasRunsc)('gVisor (docker.runtime = "runsc")', () => {
  it('runs a program under gVisor and reports isolation level vm', async () => {
    const executor = new DockerExecutor({ config });
    const r = await executor.execute({
      runtime: 'bash',
      files: [{ path: 'a.sh', content: 'uname -r' }],
    });
    expect(r).toHaveStatus('ok');
    expect(r.isolationLevel).toBe('vm');
    await executor.close();
  });
});
