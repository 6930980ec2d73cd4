import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import type { ExecutionRequestInput } from '../../src/core/request.js';
import { program, securityExecutor } from './harness.js';

/**
 * Hostile requests are refused with INVALID_REQUEST before any container is created: the engine's
 * createContainer is counted. What the kernel alone can decide (exec's argument limits) comes back
 * as a clear "could not start" result instead.
 */
describe('security: hostile requests', () => {
  let executor: DockerExecutor;
  let created = 0;

  beforeAll(async () => {
    const config = loadConfig();
    const engine = await connectEngine(config.docker.host);
    const real = engine.docker.createContainer.bind(engine.docker);
    engine.docker.createContainer = ((...args: Parameters<typeof real>) => {
      created++;
      return real(...args);
    }) as typeof real;
    executor = securityExecutor({}, { engine });
  });
  afterAll(() => executor.close());

  async function expectRejectedBeforeAnyContainer(request: ExecutionRequestInput, message?: RegExp) {
    const before = created;
    const attempt = executor.execute(request);
    await expect(attempt).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    if (message) await expect(attempt).rejects.toThrow(message);
    expect(created - before, 'containers created for a rejected request').toBe(0);
  }

  const sh = (extra: Partial<ExecutionRequestInput> = {}) => program('bash', 'echo hi', extra);

  it('rejects traversal, absolute, NUL, dot and empty components in input file names', async () => {
    const bad = [
      '../x',
      '../../../../etc/passwd',
      'a/../../x',
      '/etc/passwd',
      '//etc/passwd',
      'a\0b',
      'main.sh\0../../x',
      '.',
      '..',
      './x',
      'a/./b',
      'a//b',
      'a/',
      '',
    ];
    for (const path of bad) {
      await expectRejectedBeforeAnyContainer({ runtime: 'bash', files: [{ path, content: 'echo x' }] });
    }
  });

  it('rejects hostile workDir, main and output paths', async () => {
    for (const workDir of ['..', '../x', '/tmp', 'a/../..', 'a\0b']) {
      await expectRejectedBeforeAnyContainer(sh({ workDir }));
    }
    for (const main of ['../main.sh', '/box/main.sh']) {
      await expectRejectedBeforeAnyContainer(sh({ main }));
    }
    for (const outputPath of ['../x', '/etc/passwd', 'a/../../x', 'x\0y']) {
      await expectRejectedBeforeAnyContainer(sh({ outputPaths: [outputPath] }));
    }
  });

  it('rejects names the filesystem cannot hold: over-long paths and components', async () => {
    await expectRejectedBeforeAnyContainer(sh({ files: [{ path: `${'a/'.repeat(600)}x`, content: '' }] }));
    // A 256-byte component fits in the 1024-character path rule but not in NAME_MAX.
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          { path: 'x'.repeat(256), content: '' },
        ],
      }),
      /255 bytes/,
    );
    // Multi-byte characters: 100 characters, 300 bytes.
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          { path: '€'.repeat(100), content: '' },
        ],
      }),
      /255 bytes/,
    );
  });

  it('rejects a file that would have to be a directory too', async () => {
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          { path: 'lib', content: '' },
          { path: 'lib/x.sh', content: '' },
        ],
      }),
      /directory/,
    );
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          { path: 'a/b/c', content: '' },
          { path: 'a/b', content: '' },
        ],
      }),
      /directory/,
    );
  });

  it('rejects oversized inputs: one file, all files, stdin, too many files or variables', async () => {
    const mib = 1024 * 1024;
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          { path: 'big', content: 'x'.repeat(17 * mib) },
        ],
      }),
      /big.*exceeds|exceeds.*16777216/,
    );
    await expectRejectedBeforeAnyContainer(
      sh({
        files: [
          { path: 'main.sh', content: '' },
          ...[1, 2, 3].map((i) => ({ path: `part${i}`, content: 'x'.repeat(12 * mib) })),
        ],
      }),
      /in all exceeds/,
    );
    await expectRejectedBeforeAnyContainer(sh({ stdin: 'x'.repeat(17 * mib) }), /stdin/);
    await expectRejectedBeforeAnyContainer(
      sh({ stdin: Buffer.alloc(16 * mib + 1).toString('base64'), stdinEncoding: 'base64' }),
      /stdin/,
    );
    await expectRejectedBeforeAnyContainer(
      sh({ files: Array.from({ length: 257 }, (_, i) => ({ path: `f${i}`, content: '' })) }),
    );
    await expectRejectedBeforeAnyContainer(
      sh({ env: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`V${i}`, 'x'])) }),
      /env/,
    );
    await expectRejectedBeforeAnyContainer(sh({ argv: Array.from({ length: 1025 }, () => 'x') }));
    await expectRejectedBeforeAnyContainer(sh({ argv: ['x'.repeat(128 * 1024 + 1)] }));
    await expectRejectedBeforeAnyContainer(sh({ env: { 'BAD=NAME': 'x' } }));
    await expectRejectedBeforeAnyContainer(sh({ limits: { memoryMb: 1_000_000 } }));
  });

  it('handles argv and env the kernel refuses at exec with a clear "could not start" result', async () => {
    // Within the schema, beyond Linux's exec limits (each string < 128 KiB, all of them < 1/4 stack).
    const r = await executor.execute(sh({ argv: Array.from({ length: 200 }, () => 'y'.repeat(100 * 1024)) }));
    expect(r).toHaveStatus('runtime_error');
    expect(r.message).toMatch(/could not start the program: Argument list too long/);
    const ok = await executor.execute(sh({ argv: Array.from({ length: 8 }, () => 'y'.repeat(100 * 1024)) }));
    expect(ok).toHaveStatus('ok');
  });
});
