import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainerSpec } from '../../src/backends/docker/container-spec.js';
import { STRICT_SECCOMP_PROFILE } from '../../src/backends/docker/security-profile.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { dockerExecutor } from '../helpers.js';

/** Raw syscalls (x86_64 numbers) the strict profile refuses and Docker's default allows. */
const SYSCALLS = [
  'import ctypes, os, platform',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'def call(name, *args):',
  '    r = libc.syscall(*args)',
  '    print(name, "allowed" if r >= 0 or ctypes.get_errno() != 1 else "EPERM")',
  'call("ptrace", 101, 0, 0, 0, 0)          # PTRACE_TRACEME',
  'call("personality", 135, 0x0008)          # PER_LINUX32',
  'call("io_uring_setup", 425, 1, 0)',
  'call("unshare", 272, 0x10000000)          # CLONE_NEWUSER',
  'call("keyctl", 250, 0, 0xfffffffd, 0)     # KEYCTL_GET_KEYRING_ID',
].join('\n');

const isX64 = process.arch === 'x64';

describe('seccomp and AppArmor options', () => {
  let strict: DockerExecutor;
  let standard: DockerExecutor;
  beforeAll(() => {
    strict = dockerExecutor();
    standard = dockerExecutor({ docker: { seccompProfile: 'default' } });
  });
  afterAll(async () => {
    await strict.close();
    await standard.close();
  });

  it.skipIf(!isX64)(
    'the strict profile (the default) refuses ptrace, personality, io_uring, unshare and keyctl',
    async () => {
      const r = await strict.execute({ runtime: 'python', files: [{ path: 's.py', content: SYSCALLS }] });
      expect(r.stdout).toBe(
        'ptrace EPERM\npersonality EPERM\nio_uring_setup EPERM\nunshare EPERM\nkeyctl EPERM\n',
      );
    },
  );

  it.skipIf(!isX64)(
    'Docker’s default profile (seccomp_profile = "default") allows ptrace, personality and io_uring',
    async () => {
      const r = await standard.execute({ runtime: 'python', files: [{ path: 's.py', content: SYSCALLS }] });
      const out = r.stdout.trim().split('\n');
      expect(out.slice(0, 3)).toEqual(['ptrace allowed', 'personality allowed', 'io_uring_setup allowed']);
      // Refused already by Docker's default profile and by having no capabilities.
      expect(out.slice(3)).toEqual(['unshare EPERM', 'keyctl EPERM']);
    },
  );

  it('runs ordinary programs under the strict profile: threads, subprocesses, a compiled binary', async () => {
    const py = await strict.execute({
      runtime: 'python',
      files: [
        {
          path: 'a.py',
          content:
            'import subprocess, threading\nt = threading.Thread(target=print, args=("thread",)); t.start(); t.join()\nprint(subprocess.run(["echo", "child"], capture_output=True, text=True).stdout.strip())',
        },
      ],
    });
    expect(py.stdout).toBe('thread\nchild\n');
    const c = await strict.execute({
      runtime: 'cpp',
      files: [
        {
          path: 'main.cpp',
          content:
            '#include <iostream>\n#include <thread>\nint main(){std::thread t([]{std::cout<<"ok"<<std::endl;});t.join();}',
        },
      ],
    });
    expect(c.compile).toHaveStatus('ok');
    expect(c.stdout).toBe('ok\n');
    const java = await strict.execute({
      runtime: 'java',
      files: [
        {
          path: 'Main.java',
          content: 'public class Main{public static void main(String[] a){System.out.println("jvm");}}',
        },
      ],
    });
    expect(java.stdout).toBe('jvm\n');
  });

  it('reports the profiles in capabilities()', async () => {
    const caps = await strict.capabilities();
    expect(caps.seccomp).toBe(STRICT_SECCOMP_PROFILE);
    expect(typeof caps.apparmor).toBe('string');
    expect((await standard.capabilities()).seccomp).toBe('default');
    const withPath = dockerExecutor({
      docker: { seccompProfile: STRICT_SECCOMP_PROFILE, apparmorProfile: 'boxrun-x' },
    });
    try {
      const c = await withPath.capabilities();
      expect(c.seccomp).toBe(STRICT_SECCOMP_PROFILE);
      // Either the host has AppArmor and the configured profile applies, or it has none.
      expect(['boxrun-x', 'unsupported']).toContain(c.apparmor);
    } finally {
      await withPath.close();
    }
  });

  it('refuses a missing or malformed profile file as CONFIG_INVALID before running', async () => {
    const broken = dockerExecutor({ docker: { seccompProfile: '/nonexistent/profile.json' } });
    try {
      await expect(
        broken.execute({ runtime: 'bash', files: [{ path: 'a.sh', content: 'true' }] }),
      ).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await broken.close();
    }
  });

  it('passes the AppArmor profile name through to the engine', () => {
    const spec = createContainerSpec({
      id: 'x',
      image: 'img',
      limits: { timeoutMs: 1, cpuTimeMs: 0, memoryMb: 64, cpus: 1, pids: 16, outputBytes: 1, diskMb: 1 },
      user: '1000:1000',
      deadline: 0,
      kind: 'oneshot',
      apparmorProfile: 'boxrun-strict',
      seccompProfile: '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}',
    });
    expect(spec.HostConfig?.SecurityOpt).toEqual([
      'no-new-privileges',
      'seccomp={"defaultAction":"SCMP_ACT_ERRNO","syscalls":[]}',
      'apparmor=boxrun-strict',
    ]);
  });
});
