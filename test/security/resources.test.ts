import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { describeResult } from '../support/result-matchers.js';
import { KILL_SLACK_MS, LOADED_WALL_MS } from '../support/timing.js';
import { attack, expectHostAndBoxrunFine, keyValues, program, securityExecutor } from './harness.js';

/** Resource exhaustion: every attack ends on time, is reported for what it is, and leaves nothing behind. */
describe.concurrent('security: resource exhaustion', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('contains a C fork loop at the pids limit and ends at the wall timeout', async () => {
    const marker = `forkloop-${randomUUID()}`;
    const code = `#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
int main(void) {
  int forked = 0, failed = 0;
  for (int i = 0; i < 300; i++) {
    pid_t p = fork();
    if (p == 0) for (;;) pause();
    if (p > 0) forked++; else failed++;
  }
  printf("forked=%d\\nfailed=%d\\n", forked, failed);
  fflush(stdout);
  for (;;) fork();
}`;
    const r = await attack(
      executor,
      program('c', code, { argv: [marker], limits: { pids: 32, timeoutMs: 20_000 } }),
    );
    // Printed and flushed before the endless loop: the output must survive the kill at the limit.
    // (A fork refused at the pids limit still costs ~0.4 ms of CPU, several ms of wall time under
    // load: 2000 of them outlasted a 2.5 s limit, and the lines were never printed at all.)
    expect(r).toMatchResult({ status: 'time_limit', timedOut: true, stdout: /^forked=\d+\nfailed=\d+\n$/ });
    const kv = keyValues(r.stdout);
    expect(Number(kv.forked)).toBeLessThan(32);
    expect(Number(kv.failed)).toBeGreaterThan(268);
    expect(r.durationMs).toBeLessThan(20_000 + KILL_SLACK_MS);
    await expectHostAndBoxrunFine(executor, r.id, { marker });
  });

  it('contains the classic bash fork bomb and ends at the wall timeout', async () => {
    const marker = `bashbomb-${randomUUID()}`;
    const r = await attack(
      executor,
      program('bash', ':(){ :|:& };:\nsleep 30', { argv: [marker], limits: { timeoutMs: 2000 } }),
    );
    expect(r).toMatchResult({ status: 'time_limit', timedOut: true });
    expect(r.durationMs).toBeLessThan(2000 + KILL_SLACK_MS);
    await expectHostAndBoxrunFine(executor, r.id, { marker });
  });

  it('reports a fast C memory bomb as memory_limit, even when it tries to shield itself from the OOM killer', async () => {
    // An unprivileged process may not lower its oom_score_adj below what it was given (1000 by
    // the supervisor), so the OOM killer always picks the program, never the supervisor.
    const code = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
  FILE *f = fopen("/proc/self/oom_score_adj", "w");
  int lowered = f && fprintf(f, "-1000\\n") > 0 && fflush(f) == 0;
  if (f) fclose(f);
  printf("lowered=%d\\n", lowered);
  fflush(stdout);
  for (;;) {
    char *p = malloc(16 << 20);
    if (!p) { puts("malloc failed"); return 3; }
    memset(p, 1, 16 << 20);
  }
}`;
    const r = await attack(
      executor,
      program('c', code, { limits: { memoryMb: 64, timeoutMs: LOADED_WALL_MS } }),
    );
    expect(r).toHaveStatus('memory_limit');
    expect(r.stdout).toContain('lowered=0');
    expect(r.oomKilled).toBe(true);
    expect(r.message).toMatch(/memory limit of 64 MiB/);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('reports a slow allocator as memory_limit once it crosses the limit', async () => {
    const code = [
      'import time',
      'chunks = []',
      'while True:',
      '    chunks.append(bytearray(4 * 1024 * 1024))  # bytearray zero-fills: the pages are touched',
      '    time.sleep(0.05)',
    ].join('\n');
    const r = await attack(
      executor,
      program('python', code, { limits: { memoryMb: 64, timeoutMs: 20_000 } }),
    );
    expect(r).toHaveStatus('memory_limit');
    expect(r.oomKilled).toBe(true);
    // It needed about 16 steps of 50 ms: killed by memory, long before the wall limit.
    expect(r.durationMs).toBeGreaterThan(500);
    expect(r.durationMs).toBeLessThan(15_000);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('stops C threads spinning on every core at the CPU-time limit, with cpus=1 holding', async () => {
    const code = `
#include <pthread.h>
#include <stdio.h>
static void *spin(void *arg) { (void)arg; for (volatile unsigned long i = 0;; i++) {} return NULL; }
int main(void) {
  pthread_t t[8];
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, spin, NULL);
  puts("spinning");
  fflush(stdout);
  pthread_join(t[0], NULL);
}`;
    const r = await attack(
      executor,
      program('c', code, { limits: { cpus: 1, cpuTimeMs: 1500, timeoutMs: LOADED_WALL_MS } }),
    );
    expect(r).toHaveStatus('time_limit');
    expect(r.message).toMatch(/CPU time limit of 1500 ms/);
    // The limit is checked on the cgroup's counter; the reported figure is the reaped tree's rusage.
    expect(r.cpuTimeMs).toBeGreaterThanOrEqual(1400);
    expect(r.cpuTimeMs).toBeLessThan(4000);
    // One CPU's quota for eight threads: 1.5 s of CPU cannot take much less than 1.5 s of wall time.
    expect(r.durationMs).toBeGreaterThan(1200);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('holds the wall timeout and the cpus=1 quota against Go goroutines on every core', async () => {
    const code = `package main
import ("fmt"; "runtime")
func main() {
	runtime.GOMAXPROCS(8)
	for i := 0; i < 8; i++ { go func() { x := 0; for { x++ } }() }
	fmt.Println("spinning")
	select {}
}`;
    const r = await attack(executor, program('go', code, { limits: { cpus: 1, timeoutMs: 2000 } }));
    expect(r).toMatchResult({ status: 'time_limit', timedOut: true, stdout: 'spinning\n' });
    expect(r.durationMs).toBeGreaterThanOrEqual(2000);
    expect(r.durationMs).toBeLessThan(2000 + KILL_SLACK_MS);
    // The CFS quota is one CPU: eight busy goroutines get at most about wall time × 1 of CPU.
    expect(r.cpuTimeMs).toBeLessThan(r.durationMs * 1.25 + 300);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('stops Java threads spinning on every core at the CPU-time limit', async () => {
    const code = `public class Main {
  public static void main(String[] a) throws Exception {
    for (int i = 0; i < 8; i++) new Thread(() -> { long x = 0; while (true) x++; }).start();
    System.out.println("spinning");
    Thread.sleep(600_000);
  }
}`;
    const r = await attack(
      executor,
      program('java', code, { limits: { cpus: 1, cpuTimeMs: 2000, timeoutMs: LOADED_WALL_MS } }),
    );
    expect(r).toHaveStatus('time_limit');
    expect(r.message).toMatch(/CPU time limit/);
    expect(r.cpuTimeMs).toBeGreaterThanOrEqual(1900);
    expect(r.cpuTimeMs).toBeLessThan(5000);
    expect(r.durationMs).toBeGreaterThan(1500);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('fills /tmp and the work dir up to diskMb with ENOSPC, and the run still returns', async () => {
    const code = [
      'import errno, os',
      'for where in ("/tmp", "/box"):',
      '    n = 0',
      '    try:',
      '        while True:',
      '            with open(os.path.join(where, f"fill{n}"), "wb") as f: f.write(b"x" * (1 << 20))',
      '            n += 1',
      '    except OSError as e:',
      '        print(f"{where}={n} {errno.errorcode[e.errno]}")',
    ].join('\n');
    const r = await attack(executor, program('python', code, { limits: { diskMb: 16, memoryMb: 256 } }));
    expect(r).toHaveStatus('ok');
    const kv = keyValues(r.stdout);
    for (const where of ['/tmp', '/box']) {
      const [count, code] = (kv[where] ?? '').split(' ');
      expect(code).toBe('ENOSPC');
      expect(Number(count)).toBeGreaterThanOrEqual(14);
      expect(Number(count)).toBeLessThanOrEqual(16);
    }
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('reports disk fill beyond the memory limit as memory_limit (tmpfs is memory), and returns', async () => {
    const code = [
      'n = 0',
      'while True:',
      '    with open(f"/tmp/fill{n}", "wb") as f: f.write(b"x" * (1 << 20))',
      '    n += 1',
    ].join('\n');
    const r = await attack(executor, program('python', code, { limits: { diskMb: 256, memoryMb: 48 } }));
    expect(['memory_limit', 'runtime_error'], describeResult(r)).toContain(r.status);
    if (r.status === 'runtime_error') expect(r.stderr).toMatch(/No space left|Cannot allocate memory/);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('runs out of inodes with ENOSPC and caps the number of collected output files', async () => {
    const code = [
      'import errno, os',
      'n = 0',
      'try:',
      '    while True:',
      '        open(f"/tmp/i{n}", "w").close()',
      '        n += 1',
      'except OSError as e:',
      '    print(f"inodes={n} {errno.errorcode[e.errno]}")',
      'os.mkdir("many")',
      'for i in range(3000): open(f"many/{i}", "w").close()',
    ].join('\n');
    const r = await attack(
      executor,
      program('python', code, { outputPaths: ['many/*'], limits: { timeoutMs: LOADED_WALL_MS } }),
    );
    expect(r).toHaveStatus('ok');
    const [count, errname] = (keyValues(r.stdout).inodes ?? '').split(' ');
    expect(errname).toBe('ENOSPC');
    expect(Number(count)).toBeLessThanOrEqual(65_536);
    expect(Number(count)).toBeGreaterThan(60_000);
    expect(r.files.length).toBe(1000);
    expect(r.refusedFiles.length).toBe(2000);
    expect(new Set(r.refusedFiles.map((f) => f.reason))).toEqual(new Set(['too many output files']));
    await expectHostAndBoxrunFine(executor, r.id);
  });
});
