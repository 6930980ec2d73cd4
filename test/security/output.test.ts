import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { attack, expectHostAndBoxrunFine, program, securityExecutor } from './harness.js';

const bytesOf = (text: string, encoding: string) =>
  Buffer.from(text, encoding === 'base64' ? 'base64' : 'utf8');

describe.concurrent('security: output floods and binary output', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('caps stdout and stderr flooded at once by two processes, and ends quickly', async () => {
    const code = `#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>
int main(void) {
  static char buf[65536];
  int fd = fork() == 0 ? 2 : 1;
  memset(buf, fd == 1 ? 'o' : 'e', sizeof buf);
  for (;;) write(fd, buf, sizeof buf);
}`;
    const r = await attack(
      executor,
      program('c', code, { limits: { outputBytes: 200_000, timeoutMs: 20_000 } }),
    );
    expect(r).toHaveStatus('output_limit');
    expect(r.outputTruncated).toBe(true);
    expect(r.stdout.length).toBeLessThanOrEqual(200_000);
    expect(r.stderr.length).toBeLessThanOrEqual(200_000);
    expect(Math.max(r.stdout.length, r.stderr.length)).toBe(200_000);
    expect(r.stdout).toMatch(/^o*$/);
    expect(r.stderr).toMatch(/^e*$/);
    // Killed at the output limit, not at the 20 s wall limit.
    expect(r.timedOut).toBe(false);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('cuts one huge line without a newline at exactly the output cap', async () => {
    const code = 'import sys\nchunk = "a" * (1 << 20)\nfor _ in range(64): sys.stdout.write(chunk)\n';
    const r = await attack(executor, program('python', code, { limits: { outputBytes: 1 << 20 } }));
    expect(r).toHaveStatus('output_limit');
    expect(r.stdout.length).toBe(1 << 20);
    expect(r.stdout).toMatch(/^a+$/);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('returns a long line without a newline whole when it fits', async () => {
    const r = await attack(
      executor,
      program('python', 'import sys\nsys.stdout.write("b" * 900_000)', { limits: { outputBytes: 1 << 20 } }),
    );
    expect(r).toHaveStatus('ok');
    expect(r.stdout.length).toBe(900_000);
    expect(r.stdout.endsWith('b')).toBe(true);
  });

  it('returns random binary stdout and a broken UTF-8 stderr losslessly as base64', async () => {
    const code = [
      'import hashlib, os, sys',
      'data = os.urandom(700_000) + b"\\x00\\xff\\xfe"',
      'sys.stdout.buffer.write(data)',
      'sys.stderr.buffer.write(hashlib.sha256(data).hexdigest().encode() + b" \\xe2\\x82")',
    ].join('\n');
    const r = await attack(executor, program('python', code));
    expect(r).toHaveStatus('ok');
    expect(r.stdoutEncoding).toBe('base64');
    expect(r.stderrEncoding).toBe('base64');
    const stdout = bytesOf(r.stdout, r.stdoutEncoding);
    const stderr = bytesOf(r.stderr, r.stderrEncoding);
    expect(stdout.length).toBe(700_003);
    expect(stderr.subarray(0, 64).toString()).toBe(createHash('sha256').update(stdout).digest('hex'));
    expect(stderr.subarray(64)).toEqual(Buffer.from([0x20, 0xe2, 0x82]));
  });
});

describe.concurrent('security: symlink and hard-link tricks on output files', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('refuses output symlinks that point at host paths, the Docker socket or outside the work dir', async () => {
    const script = `
mkdir out
echo fine > out/ok
ln -s /etc/passwd out/passwd
ln -s /var/run/docker.sock out/docker.sock
ln -s /proc/1/root/etc/shadow out/shadow
ln -s /proc/self/root/etc/hostname out/hostname
ln -s ../../../../../../etc/hostname out/up
ln -s / out/root
`;
    const r = await attack(executor, program('bash', script, { outputPaths: ['out/**'] }));
    expect(r).toHaveStatus('ok');
    expect(r.files.map((f) => [f.path, f.content])).toEqual([['out/ok', 'fine\n']]);
    const refused = Object.fromEntries(r.refusedFiles.map((f) => [f.path, f.reason]));
    for (const name of ['passwd', 'docker.sock', 'shadow', 'hostname', 'up', 'root']) {
      expect(refused[`out/${name}`]).toBe('symbolic link');
    }
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('never follows a directory symlink in the middle of an output path', async () => {
    const script = 'ln -s /etc d\nln -s / top\nmkdir -p real && ln -s /usr/bin real/bin\n';
    const r = await attack(
      executor,
      program('bash', script, {
        outputPaths: ['d/passwd', 'd/**', 'top/etc/hostname', 'real/bin/*', 'real/**'],
      }),
    );
    expect(r).toHaveStatus('ok');
    // Nothing under the links is read; a link the patterns name directly is refused.
    expect(r.files).toEqual([]);
    expect(r.refusedFiles).toContainEqual({ path: 'real/bin', reason: 'symbolic link' });
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('refuses hard links and cannot hard-link files from /tmp or the image into the work dir', async () => {
    const script = `
mkdir out
echo secret > /tmp/secret
ln /tmp/secret out/from-tmp 2>/dev/null || echo tmp-link-failed
ln /etc/passwd out/from-etc 2>/dev/null || echo etc-link-failed
echo private > private
ln private out/hard
`;
    const r = await attack(executor, program('bash', script, { outputPaths: ['out/**', 'out/from-tmp'] }));
    expect(r.stdout).toBe('tmp-link-failed\netc-link-failed\n');
    expect(r.files).toEqual([]);
    expect(r.refusedFiles).toEqual(
      expect.arrayContaining([
        { path: 'out/from-tmp', reason: 'not found' },
        { path: 'out/hard', reason: 'hard link' },
      ]),
    );
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('refuses a FIFO and a socket named like output files without hanging', async () => {
    const code = 'import os, socket\nos.mkfifo("result.txt")\nsocket.socket(socket.AF_UNIX).bind("sock")\n';
    const r = await attack(executor, program('python', code, { outputPaths: ['result.txt', 'sock'] }));
    expect(r).toHaveStatus('ok');
    expect(r.files).toEqual([]);
    expect(r.refusedFiles).toHaveLength(2);
    expect(r.refusedFiles).toEqual(
      expect.arrayContaining([
        { path: 'result.txt', reason: 'not a regular file' },
        { path: 'sock', reason: 'not a regular file' },
      ]),
    );
  });

  it('collects after every process is dead: a daemon swapping the file for a symlink loses the race', async () => {
    // The daemon ignores SIGTERM and starts swapping right after the program exits. If it survived
    // the exit, collection would see a symlink or another file; it must see the original.
    const script = `
echo original > result.txt
setsid bash -c '
  trap "" TERM HUP
  sleep 0.05
  while :; do
    ln -sfn /etc/passwd result.tmp && mv -fT result.tmp result.txt
    echo swapped > result.tmp && mv -fT result.tmp result.txt
  done' </dev/null >/dev/null 2>&1 &
exit 0
`;
    for (let i = 0; i < 3; i++) {
      const r = await attack(executor, program('bash', script, { outputPaths: ['result.txt'] }));
      expect(r).toHaveStatus('ok');
      expect(r.files.map((f) => [f.path, f.content])).toEqual([['result.txt', 'original\n']]);
      expect(r.refusedFiles).toEqual([]);
    }
  });

  it('does not let a sparse output file amplify past the output-files cap', async () => {
    // 200 MiB apparent size, no memory used: refused by size before anything is read.
    const r = await attack(
      executor,
      program('python', 'import os\nf = open("sparse", "wb"); f.truncate(200 << 20)', {
        outputPaths: ['sparse'],
        limits: { diskMb: 256 },
      }),
    );
    expect(r).toHaveStatus('ok');
    expect(r.files).toEqual([]);
    expect(r.refusedFiles).toEqual([{ path: 'sparse', reason: 'output files exceed the size limit' }]);
    await expectHostAndBoxrunFine(executor, r.id);
  });
});

describe('security: large output files do not load the host', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('returns a 40 MB output file quickly and without seconds of host CPU', async () => {
    // Regression: the frame decoder joined every chunk onto the whole partial frame, so one big
    // output file cost quadratic CPU on the host's event loop (30 MB: ~8 s, and the host backstop
    // then reported a time_limit). Now chunks are joined once the frame is whole.
    const cpuBefore = process.cpuUsage();
    const r = await attack(
      executor,
      program('bash', 'head -c 40M /dev/zero > out.bin', {
        outputPaths: ['out.bin'],
        limits: { diskMb: 64, memoryMb: 512 },
      }),
    );
    const cpu = process.cpuUsage(cpuBefore);
    expect(r).toHaveStatus('ok');
    expect(r.files.map((f) => [f.path, f.size])).toEqual([['out.bin', 40 << 20]]);
    // The base64 of 40 MB alone is a few hundred ms; quadratic joining was over 10 s.
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(4000);
  });
});
