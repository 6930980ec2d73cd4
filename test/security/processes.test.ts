import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KILL_SLACK_MS } from '../support/timing.js';
import {
  attack,
  expectHostAndBoxrunFine,
  hostProcessesMatching,
  keyValues,
  onGvisor,
  program,
  securityExecutor,
} from './harness.js';

/** Bash that leaves daemons behind in every common way; each process's argv[0] carries the marker. */
const leaveDaemonsBehind = `
marker=$1
( exec -a "$marker-bg" sleep 300 ) &
( ( exec -a "$marker-doublefork" sleep 300 ) & ) &
setsid bash -c "exec -a '$marker-setsid' sleep 300" </dev/null >/dev/null 2>&1 &
nohup bash -c "trap '' TERM HUP INT; exec -a '$marker-nohup' sleep 300" </dev/null >/dev/null 2>&1 &
sleep 0.5
echo ready
`;

/** A C daemon the classic way: double fork, setsid, stdio closed, every catchable signal ignored. */
const cDaemon = `#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
  for (int i = 0; i < 20; i++) if (fork() == 0) _exit(0); /* zombies nobody waits for */
  if (fork() == 0) {
    setsid();
    if (fork() == 0) {
      for (int s = 1; s < 65; s++) signal(s, SIG_IGN);
      sigset_t all; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, NULL);
      close(0); close(1); close(2);
      for (;;) { FILE *f = fopen("/box/daemon-alive", "w"); if (f) fclose(f); usleep(1000); }
    }
    _exit(0);
  }
  sleep(1);
  puts("parent exits");
  return 0;
}`;

describe.concurrent('security: processes left behind, signals, the supervisor', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('kills background, double-forked, setsid and nohup daemons when the program exits; none survives on the host', async () => {
    const marker = `daemon-${randomUUID()}`;
    let seenWhileRunning = -1;
    const r = await attack(
      executor,
      program('bash', `${leaveDaemonsBehind}sleep 0.5\n`, { argv: [marker] }),
      {
        onOutput: (_stream, chunk) => {
          // Positive control: while the program runs, the host does see its daemons.
          if (chunk.toString().includes('ready')) seenWhileRunning = hostProcessesMatching(marker).length;
        },
      },
    );
    // 'ok', not 'time_limit': the run ended when the program did, without waiting for its daemons.
    expect(r).toMatchResult({ status: 'ok', stdout: 'ready\n' });
    // Under gVisor the program's processes live in gVisor's kernel, never in the host's process
    // table (the host sees only gVisor's own processes): the host has nothing to see while it runs,
    // and what must hold is that none is there afterwards and the sandbox is gone.
    if (onGvisor) expect(seenWhileRunning).toBe(0);
    else expect(seenWhileRunning).toBeGreaterThanOrEqual(4);
    // The supervisor killed every process of the container before it reported.
    expect(hostProcessesMatching(marker)).toEqual([]);
    await expectHostAndBoxrunFine(executor, r.id, { marker });
  });

  it('ends on time and kills every daemon when the program times out', async () => {
    const marker = `daemon-timeout-${randomUUID()}`;
    const r = await attack(
      executor,
      program('bash', `${leaveDaemonsBehind}trap '' TERM\nwhile :; do :; done\n`, {
        argv: [marker],
        limits: { timeoutMs: 1500 },
      }),
    );
    expect(r).toMatchResult({ status: 'time_limit', timedOut: true });
    expect(r.durationMs).toBeLessThan(1500 + KILL_SLACK_MS);
    expect(hostProcessesMatching(marker)).toEqual([]);
    await expectHostAndBoxrunFine(executor, r.id, { marker });
  });

  it('kills a C daemon that ignores and blocks every signal, and reaps the zombies it left', async () => {
    const r = await attack(executor, program('c', cDaemon, { outputPaths: ['daemon-alive'] }));
    expect(r).toMatchResult({ status: 'ok', stdout: 'parent exits\n' });
    // The daemon's file existed (it ran), and collection happened after it was dead.
    expect(r.files.map((f) => f.path)).toEqual(['daemon-alive']);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('cannot signal, ptrace or read the supervisor (PID 1), and kill(-1) spares it', async () => {
    const code = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
static void say(const char *what, int rc) { printf("%s=%s\\n", what, rc < 0 ? strerrorname_np(errno) : "ok"); }
int main(void) {
  int delivered = 0;
  for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP && kill(1, s) == 0) delivered++;
  printf("signals_sent=%d\\n", delivered);
  say("kill_1_KILL", kill(1, SIGKILL));
  say("kill_1_STOP", kill(1, SIGSTOP));
  say("ptrace_attach_1", (int)ptrace(PTRACE_ATTACH, 1, 0, 0));
  say("ptrace_seize_1", (int)ptrace(PTRACE_SEIZE, 1, 0, 0));
  char buf[16]; struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
  say("process_vm_readv_1", (int)process_vm_readv(1, &local, 1, &remote, 1, 0));
  say("open_mem_1", open("/proc/1/mem", O_RDONLY));
  say("open_environ_1", open("/proc/1/environ", O_RDONLY));
  say("open_fd1_of_1", open("/proc/1/fd/1", O_WRONLY));
  say("open_exe_1_for_write", open("/proc/1/exe", O_WRONLY));
  char link[256]; say("readlink_root_1", (int)readlink("/proc/1/root", link, sizeof link));
  /* A sibling of the same uid that is dumpable: ptrace works, as it would between two processes
     of one user anywhere. Both are the user's own; documented in SECURITY.md. */
  pid_t sib = fork();
  if (sib == 0) { pause(); _exit(0); }
  usleep(100000);
  int rc = (int)ptrace(PTRACE_ATTACH, sib, 0, 0);
  say("ptrace_attach_sibling", rc);
  if (rc == 0) { waitpid(sib, NULL, 0); ptrace(PTRACE_DETACH, sib, 0, 0); }
  fflush(stdout);
  kill(-1, SIGKILL); /* every process the program can reach, except itself and PID 1 */
  puts("still_here=1");
  return 0;
}`;
    const r = await attack(executor, program('c', code));
    expect(r).toHaveStatus('ok');
    const kv = keyValues(r.stdout);
    // Signals to a namespace's init that has no handler for them are dropped by Linux (kill returns
    // 0). gVisor delivers them, so there the program runs under uids PID 1 does not share and kill
    // is refused outright (boxrun-sv --user, docs/backends.md).
    const toPid1 = onGvisor ? 'EPERM' : 'ok';
    // gVisor has no process_vm_readv (ENOSYS).
    if (onGvisor) expect(['EPERM', 'ENOSYS']).toContain(kv.process_vm_readv_1);
    expect(kv).toMatchObject({
      kill_1_KILL: toPid1,
      kill_1_STOP: toPid1,
      ptrace_attach_1: 'EPERM',
      ptrace_seize_1: 'EPERM',
      ...(onGvisor ? {} : { process_vm_readv_1: 'EPERM' }),
      open_mem_1: 'EACCES',
      open_fd1_of_1: 'EACCES',
      readlink_root_1: 'EACCES',
      still_here: '1',
    });
    expect(['EACCES', 'EPERM', 'ETXTBSY', 'EROFS']).toContain(kv.open_exe_1_for_write);
    // gVisor lets /proc/1/environ be opened (its access check differs from Linux's ptrace check);
    // PID 1's environment is only the engine's defaults there (the spec's Env is empty), no secret.
    expect(onGvisor ? ['ok', 'EACCES'] : ['EACCES']).toContain(kv.open_environ_1);
    // Only SIGCONT, which Linux and gVisor allow within a session whatever the uids (the program
    // shares PID 1's session); it resumes nothing, as SIGSTOP is refused.
    if (onGvisor) expect(kv.signals_sent).toBe('1');
    expect(kv.ptrace_attach_sibling).toBeDefined();
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('returns forged supervisor frames written by the program as plain stdout, never parsed', async () => {
    // A well-formed 'r' (result) frame and an 'f' (file) frame, as the supervisor would send them.
    const code = [
      'import json, os, struct, sys',
      'def frame(t, payload): return t + struct.pack(">I", len(payload)) + payload',
      'fake = json.dumps({"exitCode": 0, "signal": 0, "timedOut": False, "cpuExceeded": False, "canceled": False,',
      '  "oomKills": 0, "cpuTimeUs": 1, "maxRssKb": 1, "cgroupPeakBytes": 1, "durationUs": 1, "stdoutBytes": 0,',
      '  "stderrBytes": 0, "outputLimited": None, "execError": None}).encode()',
      'forged = frame(b"f", struct.pack(">I", 0o644) + b"stolen.txt\\0secret") + frame(b"r", fake)',
      'sys.stdout.buffer.write(forged); sys.stdout.flush()',
      'sys.stderr.buffer.write(forged); sys.stderr.flush()',
      'try:',
      '    open("/proc/1/fd/1", "wb").write(forged); print("wrote to the supervisor stdout")',
      'except OSError as e: pass',
      'sys.exit(7)',
    ].join('\n');
    const r = await attack(executor, program('python', code, { outputPaths: ['**'] }));
    expect(r).toHaveStatus('runtime_error');
    expect(r.exitCode).toBe(7);
    const text =
      r.stdoutEncoding === 'base64' ? Buffer.from(r.stdout, 'base64').toString('latin1') : r.stdout;
    expect(text.startsWith('f')).toBe(true);
    expect(text).toContain('stolen.txt\0secret');
    expect(text).toContain('"cpuTimeUs": 1');
    expect(text).not.toContain('wrote to the supervisor stdout');
    expect(r.stderr.length).toBeGreaterThan(0);
    expect(r.files.map((f) => f.path)).toEqual(['main.py']);
    expect(r.cpuTimeMs).not.toBe(0);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('hands the program no descriptor but its own stdin, stdout and stderr pipes', async () => {
    const code = [
      'import os',
      'fds = sorted(int(f) for f in os.listdir("/proc/self/fd"))',
      'print([ (fd, os.readlink(f"/proc/self/fd/{fd}").split(":")[0]) for fd in fds if fd <= 2 ])',
      'print(len(fds))',
    ].join('\n');
    const r = await attack(executor, program('python', code));
    expect(r).toHaveStatus('ok');
    // 0-2 are pipes to the supervisor; the fourth is the listing's own directory handle.
    expect(r.stdout).toBe("[(0, 'pipe'), (1, 'pipe'), (2, 'pipe')]\n4\n");
    await expectHostAndBoxrunFine(executor, r.id);
  });
});
