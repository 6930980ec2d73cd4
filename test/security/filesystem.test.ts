import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  attack,
  expectHostAndBoxrunFine,
  keyValues,
  onGvisor,
  program,
  securityExecutor,
} from './harness.js';

/** Every privileged kernel interface a program might reach for, with the errno it gets. */
const kernelProbe = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/keyctl.h>
static void say(const char *what, long rc) { printf("%s=%s\\n", what, rc < 0 ? strerrorname_np(errno) : "ok"); }
static long wr(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long n = write(fd, data, strlen(data));
  int e = errno; close(fd); errno = e;
  return n < 0 ? -1 : 0;
}
int main(void) {
  say("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, NULL));
  say("mount_cgroup", mount("cgroup", "/tmp", "cgroup", 0, "memory"));
  say("mount_proc", mount("proc", "/tmp", "proc", 0, NULL));
  say("umount_box", umount2("/box", MNT_DETACH));
  say("chroot", chroot("/tmp"));
  say("pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
  say("unshare_user", unshare(CLONE_NEWUSER));
  say("unshare_ns", unshare(CLONE_NEWNS));
  say("unshare_net", unshare(CLONE_NEWNET));
  say("unshare_pid", unshare(CLONE_NEWPID));
  say("clone_newuser", syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
  say("setns_mnt_1", open("/proc/1/ns/mnt", O_RDONLY));
  say("add_key", syscall(SYS_add_key, "user", "boxrun", "secret", 6, KEY_SPEC_SESSION_KEYRING));
  say("keyctl_join", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "boxrun"));
  say("request_key", syscall(SYS_request_key, "user", "boxrun", NULL, KEY_SPEC_SESSION_KEYRING));
  say("bpf", syscall(SYS_bpf, 0, NULL, 0));
  say("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
  say("setuid_0", setuid(0));
  say("setgid_0", setgid(0));
  say("init_module", syscall(SYS_init_module, NULL, 0, ""));
  say("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
  say("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0));
  say("reboot", syscall(SYS_reboot, 0xfee1dead, 672274793, 0x4321FEDC, NULL));
  say("swapon", syscall(SYS_swapon, "/tmp/x", 0));
  say("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
  say("iopl", syscall(SYS_iopl, 3));
  say("mknod_dev", mknod("/tmp/mem", S_IFCHR | 0600, makedev(1, 1)));
  say("userfaultfd", syscall(SYS_userfaultfd, 0));
  say("io_uring_setup", syscall(425, 1, NULL));
  say("w_core_pattern", wr("/proc/sys/kernel/core_pattern", "|/tmp/x"));
  say("w_hostname", wr("/proc/sys/kernel/hostname", "pwned"));
  say("w_drop_caches", wr("/proc/sys/vm/drop_caches", "3"));
  say("w_sysrq", wr("/proc/sysrq-trigger", "b"));
  say("w_cg_mem_limit", wr("/sys/fs/cgroup/memory/memory.limit_in_bytes", "-1"));
  say("w_cg_pids_max", wr("/sys/fs/cgroup/pids/pids.max", "max"));
  say("w_cg_release_agent", wr("/sys/fs/cgroup/memory/release_agent", "/tmp/x"));
  say("w_cg_notify", wr("/sys/fs/cgroup/memory/notify_on_release", "1"));
  say("w_cg_procs", wr("/sys/fs/cgroup/cpu/cgroup.procs", "1"));
  say("w_sys_kernel", wr("/sys/kernel/mm/transparent_hugepage/enabled", "never"));
  say("w_oom_adj_1", wr("/proc/1/oom_score_adj", "1000"));
  say("w_self_oom_low", wr("/proc/self/oom_score_adj", "-1000"));
  say("r_kcore", open("/proc/kcore", O_RDONLY));
  say("r_kmsg", open("/dev/kmsg", O_RDONLY));
  say("r_dev_mem", open("/dev/mem", O_RDONLY));
  char keys[64]; int kfd = open("/proc/keys", O_RDONLY);
  printf("keys_bytes=%ld\\n", kfd < 0 ? -1L : (long)read(kfd, keys, sizeof keys));
  return 0;
}
`;

describe.concurrent('security: filesystem, kernel interfaces and privileges', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it('cannot write to /, /etc, /usr, /var or replace the supervisor binary', async () => {
    const code = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static void say(const char *what, int rc) { printf("%s=%s\\n", what, rc < 0 ? strerrorname_np(errno) : "ok"); }
int main(void) {
  const char *paths[] = {"/pwned", "/etc/pwned", "/etc/passwd", "/usr/bin/pwned", "/usr/bin/python3",
                         "/usr/local/bin/boxrun-sv", "/var/pwned", "/opt/pwned", "/root/pwned", "/home/pwned", "/run/pwned"};
  for (unsigned i = 0; i < sizeof paths / sizeof *paths; i++) say(paths[i], open(paths[i], O_WRONLY | O_CREAT, 0644));
  say("mkdir /newdir", mkdir("/newdir", 0755));
  say("rename /etc/passwd", rename("/etc/passwd", "/etc/passwd.old"));
  say("unlink /usr/local/bin/boxrun-sv", unlink("/usr/local/bin/boxrun-sv"));
  say("chmod /etc/shadow", chmod("/etc/shadow", 0644));
  say("write /box", open("/box/ok", O_WRONLY | O_CREAT, 0644));
  say("write /tmp", open("/tmp/ok", O_WRONLY | O_CREAT, 0644));
  return 0;
}`;
    const r = await attack(executor, program('c', code));
    expect(r).toHaveStatus('ok');
    const kv = keyValues(r.stdout);
    for (const [what, errname] of Object.entries(kv)) {
      if (what === 'write /box' || what === 'write /tmp') expect(errname, what).toBe('ok');
      else expect(['EROFS', 'EACCES', 'EPERM'], what).toContain(errname);
    }
    expect(Object.keys(kv)).toHaveLength(17);
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('is refused mount, namespaces, keyrings, modules, raw devices and every /proc and /sys knob', async () => {
    const r = await attack(executor, program('c', kernelProbe));
    expect(r).toHaveStatus('ok');
    const kv = keyValues(r.stdout);
    const expected: Record<string, string[]> = {
      // mount(2) and friends need CAP_SYS_ADMIN, which the sandbox does not have.
      mount_tmpfs: ['EPERM'],
      mount_cgroup: ['EPERM'],
      mount_proc: ['EPERM'],
      umount_box: ['EPERM'],
      chroot: ['EPERM'],
      pivot_root: ['EPERM'],
      // Docker's default seccomp profile refuses new namespaces (user namespaces included) without
      // CAP_SYS_ADMIN: the usual first step of kernel exploits that need capabilities.
      unshare_user: ['EPERM'],
      unshare_ns: ['EPERM'],
      unshare_net: ['EPERM'],
      unshare_pid: ['EPERM'],
      clone_newuser: ['EPERM'],
      setns_mnt_1: ['EACCES'],
      // The kernel keyring is not namespaced; seccomp blocks it.
      add_key: ['EPERM'],
      keyctl_join: ['EPERM'],
      request_key: ['EPERM'],
      bpf: ['EPERM'],
      perf_event_open: ['EPERM'],
      setuid_0: ['EPERM'],
      setgid_0: ['EPERM'],
      init_module: ['EPERM'],
      kexec_load: ['EPERM'],
      open_by_handle_at: ['EPERM'], // "shocker"
      reboot: ['EPERM'],
      swapon: ['EPERM'],
      settimeofday: ['EPERM'],
      iopl: ['EPERM'],
      mknod_dev: ['EPERM'],
      userfaultfd: ['EPERM', 'ENOSYS'],
      w_core_pattern: ['EACCES', 'EROFS'],
      w_hostname: ['EACCES', 'EROFS'],
      w_drop_caches: ['EACCES', 'EROFS'],
      w_sysrq: ['ENOENT', 'EACCES', 'EROFS'],
      w_cg_mem_limit: ['EACCES', 'EROFS'],
      w_cg_pids_max: ['EACCES', 'EROFS'],
      w_cg_release_agent: ['ENOENT', 'EACCES', 'EROFS'], // CVE-2022-0492's path
      w_cg_notify: ['EACCES', 'EROFS'],
      w_cg_procs: ['EACCES', 'EROFS'],
      w_sys_kernel: ['EACCES', 'EROFS'],
      w_oom_adj_1: ['EACCES'],
      w_self_oom_low: ['EACCES'],
      r_kcore: ['ENOENT', 'EACCES'],
      r_kmsg: ['ENOENT', 'EACCES'],
      r_dev_mem: ['ENOENT', 'EACCES'],
    };
    if (onGvisor) {
      // gVisor's kernel refuses what it does not implement with ENOSYS/ENOENT/EOPNOTSUPP/ENODEV
      // (no keyrings: EACCES; no /proc/keys: -1) instead of a seccomp EPERM: refused all the same.
      // Lowering oom_score_adj is allowed there and moot: gVisor's OOM ends the whole sandbox.
      // NOT accepted, so this test fails on gVisor today: gVisor does not apply the seccomp profile
      // inside the sandbox (docs/backends.md), so unshare(CLONE_NEWUSER) succeeds and, inside that
      // user namespace, so do the other unshares and mknod. All stay inside gVisor's kernel, but
      // they are a gap to close (a filter installed by boxrun-sv for the program).
      const notImplemented = ['ENOSYS', 'ENOENT', 'EOPNOTSUPP', 'ENODEV'];
      for (const [what, allowed] of Object.entries(expected))
        if (!what.startsWith('unshare_') && what !== 'clone_newuser' && what !== 'mknod_dev')
          expected[what] = [...allowed, ...notImplemented, ...(/key/.test(what) ? ['EACCES'] : [])];
      expected.w_self_oom_low = ['EACCES', 'ok'];
    }
    for (const [what, allowed] of Object.entries(expected)) expect(allowed, what).toContain(kv[what]);
    // /proc/keys is masked with /dev/null (gVisor has none: -1).
    expect(onGvisor ? ['0', '-1'] : ['0']).toContain(kv.keys_bytes);
    // io_uring is NOT blocked by Docker 20.10's default seccomp profile (EFAULT means the kernel
    // looked at the arguments). Documented in SECURITY.md as a known limit; recorded, not asserted.
    expect(kv.io_uring_setup).toBeDefined();
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('gains nothing from setuid binaries: su runs without privileges, sudo is absent, tmpfs is nosuid', async () => {
    const script = `
(sleep 3 | su root -c id >/dev/null 2>&1) &
sleep 0.7
for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = su ] && grep -E '^(Uid|CapEff|NoNewPrivs)' $p/status; done
command -v sudo >/dev/null || echo no-sudo
unshare -U true 2>/dev/null || echo unshare-U-refused
unshare -Ur true 2>/dev/null || echo unshare-Ur-refused
unshare -n true 2>/dev/null || echo unshare-n-refused
unshare -m true 2>/dev/null || echo unshare-m-refused
mount -t tmpfs none /tmp 2>/dev/null || echo mount-refused
cp /bin/bash /tmp/suid-bash && chmod 4755 /tmp/suid-bash && /tmp/suid-bash -p -c 'echo suid-euid=$(id -u)'
grep -E ' /(box|tmp) ' /proc/self/mountinfo | grep -c nosuid
`;
    // Under gVisor this script takes 7-10 s of CPU on the loaded test machine (the /proc walk, cp).
    const r = await attack(
      executor,
      program('bash', script, onGvisor ? { limits: { timeoutMs: 30_000 } } : {}),
    );
    expect(r).toHaveStatus(onGvisor ? 'runtime_error' : 'ok');
    if (onGvisor) {
      // gVisor's /proc/self/status has no NoNewPrivs line and its mountinfo lists no nosuid (the
      // last grep -c finds 0 and fails the script); user namespaces are gVisor's own (see the test
      // above). What no-new-privileges and nosuid are for holds: su and a setuid copy of bash run
      // with uid 1000 in every slot and no capabilities.
      expect(r.stdout).toBe(
        [
          'Uid:\t1000\t1000\t1000\t1000',
          'CapEff:\t0000000000000000',
          'no-sudo',
          'unshare-n-refused',
          'unshare-m-refused',
          'mount-refused',
          'suid-euid=1000',
          '0',
          '',
        ].join('\n'),
      );
      return expectHostAndBoxrunFine(executor, r.id);
    }
    // The setuid-root su runs with the caller's uid in every slot and no capabilities
    // (no-new-privileges): without it, the effective and saved uids would be 0.
    expect(r.stdout).toBe(
      [
        'Uid:\t1000\t1000\t1000\t1000',
        'CapEff:\t0000000000000000',
        'NoNewPrivs:\t1',
        'no-sudo',
        'unshare-U-refused',
        'unshare-Ur-refused',
        'unshare-n-refused',
        'unshare-m-refused',
        'mount-refused',
        'suid-euid=1000',
        '2',
        '',
      ].join('\n'),
    );
    await expectHostAndBoxrunFine(executor, r.id);
  });

  it('cannot reach the Docker socket, the host root or host files; mountinfo shows no host bind', async () => {
    const hostMarker = `/tmp/boxrun-sec-host-${randomUUID()}`;
    const plantedByProgram = `/tmp/boxrun-sec-planted-${randomUUID()}`;
    writeFileSync(hostMarker, 'host secret\n');
    try {
      const script = `
for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock /var/run/docker/containerd/containerd.sock; do
  [ -e "$s" ] && echo "present $s"
done
cat ${hostMarker} 2>/dev/null && echo read-host-tmp
cat /proc/1/root${hostMarker} 2>/dev/null && echo read-via-proc-1-root
ls /proc/1/root/ >/dev/null 2>&1 && echo listed-proc-1-root
echo planted > ${plantedByProgram}
cat /proc/self/mountinfo
`;
      const r = await attack(executor, program('bash', script));
      expect(r).toHaveStatus('ok');
      expect(r.stdout).not.toMatch(
        /present|read-host-tmp|read-via-proc-1-root|listed-proc-1-root|host secret/,
      );
      // The program's /tmp is its own tmpfs: what it wrote there never reached the host's /tmp.
      expect(existsSync(plantedByProgram)).toBe(false);
      const mounts = r.stdout
        .split('\n')
        .filter((l) => l.includes(' - '))
        .map((l) => {
          const [left = '', right = ''] = l.split(' - ');
          const f = left.split(' ');
          return { root: f[3] ?? '', point: f[4] ?? '', fstype: right.split(' ')[0] ?? '' };
        });
      expect(mounts.length).toBeGreaterThan(5);
      expect(r.stdout).not.toContain('docker.sock');
      // Only the usual kinds: the image's overlay, tmpfs, proc, sysfs, cgroup, devpts, mqueue.
      const kinds = new Set(['overlay', 'tmpfs', 'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'mqueue']);
      const hostBinds = mounts.filter((m) => !kinds.has(m.fstype));
      if (onGvisor) {
        // gVisor's gofer serves the image's root and Docker's three files over 9p, read-only; the
        // mountinfo root of each is '/', so no host path shows.
        for (const m of hostBinds) {
          expect(m.fstype).toBe('9p');
          expect(['/', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf']).toContain(m.point);
          expect(m.root).toBe('/');
        }
        expect(r.stdout).toMatch(/ \/ ro .* - 9p /);
        return expectHostAndBoxrunFine(executor, r.id);
      }
      // Docker's own per-container files are the only host-filesystem binds (read-only, its own).
      for (const m of hostBinds) {
        expect(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']).toContain(m.point);
        expect(m.root).toMatch(
          /^\/var\/lib\/docker\/containers\/[0-9a-f]{64}\/(hostname|hosts|resolv\.conf)$/,
        );
      }
      await expectHostAndBoxrunFine(executor, r.id);
    } finally {
      rmSync(hostMarker, { force: true });
      rmSync(plantedByProgram, { force: true });
    }
  });
});
