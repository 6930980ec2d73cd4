import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { dockerExecutor } from '../helpers.js';

/** Fills a directory with 2 MiB files until a write fails; prints the errno name and MiB written. */
const FILL = [
  'import errno, os, sys',
  'target, written = sys.argv[1], 0',
  'try:',
  '    for i in range(1000):',
  '        with open(os.path.join(target, f"fill{i}"), "wb") as f:',
  '            for _ in range(32): f.write(b"x" * 65536); written += 65536',
  '    print("no error")',
  'except OSError as e:',
  '    print(errno.errorcode[e.errno], written // (1024 * 1024))',
].join('\n');

describe('disk limits (diskMb)', () => {
  let executor: DockerExecutor;
  beforeAll(() => {
    executor = dockerExecutor();
  });
  afterAll(async () => {
    await executor.close();
  });

  for (const dir of ['/box', '/tmp']) {
    it(`fails writes past diskMb in ${dir} with ENOSPC, and the run still returns`, async () => {
      const r = await executor.execute({
        runtime: 'python',
        files: [{ path: 'fill.py', content: FILL }],
        argv: [dir],
        limits: { diskMb: 8, memoryMb: 256 },
      });
      expect(r).toHaveStatus('ok');
      const [code, mib] = r.stdout.trim().split(' ');
      expect(code).toBe('ENOSPC');
      expect(Number(mib)).toBeLessThanOrEqual(8);
      expect(Number(mib)).toBeGreaterThanOrEqual(4);
    });
  }

  it('returns a result for a program that dies of a full disk', async () => {
    const r = await executor.execute({
      runtime: 'bash',
      files: [
        {
          path: 'a.sh',
          content:
            'set -e\nfor i in $(seq 1 20); do head -c 1048576 /dev/zero > /tmp/f$i; done\necho unreachable',
        },
      ],
      limits: { diskMb: 4 },
    });
    expect(r).toHaveStatus('runtime_error');
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/No space left on device/);
  });

  it('limits a single file to diskMb as well (RLIMIT_FSIZE)', async () => {
    const r = await executor.execute({
      runtime: 'python',
      files: [
        {
          path: 'a.py',
          content:
            'import errno\ntry:\n    open("/tmp/big","wb").write(b"x" * (12 * 1024 * 1024))\n    print("no error")\nexcept OSError as e:\n    print(errno.errorcode[e.errno])',
        },
      ],
      limits: { diskMb: 8 },
    });
    expect(['EFBIG', 'ENOSPC']).toContain(r.stdout.trim());
  });
});
