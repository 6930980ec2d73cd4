/**
 * A seccomp filter for the namespace executor, as the compiled classic-BPF program bwrap's
 * `--seccomp FD` expects (what libseccomp's seccomp_export_bpf would write). It is a deny-list in
 * the spirit of Docker's default profile: syscalls that administer the kernel or the mount table,
 * make namespaces, load modules or BPF, or open new kernel attack surface (io_uring, userfaultfd,
 * perf, keyrings) fail with EPERM; everything else is allowed. Only x86-64 has a table today: on
 * other architectures `seccompFilter()` returns null and the executor says so in its capabilities.
 */
const X86_64_DENY: Record<string, number> = {
  mount: 165,
  umount2: 166,
  pivot_root: 155,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  acct: 163,
  settimeofday: 164,
  adjtimex: 159,
  clock_adjtime: 305,
  clock_settime: 227,
  kexec_load: 246,
  kexec_file_load: 320,
  keyctl: 250,
  add_key: 248,
  request_key: 249,
  unshare: 272,
  setns: 308,
  bpf: 321,
  perf_event_open: 298,
  userfaultfd: 323,
  open_by_handle_at: 304,
  name_to_handle_at: 303,
  lookup_dcookie: 212,
  vhangup: 153,
  syslog: 103,
  uselib: 134,
  ustat: 136,
  sysfs: 139,
  _sysctl: 156,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  io_uring_setup: 425,
  io_uring_enter: 426,
  io_uring_register: 427,
};

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const ENOSYS = 38;

// BPF opcodes
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const RET_K = 0x06;

type Insn = [code: number, jt: number, jf: number, k: number];

export function deniedSyscalls(): string[] {
  return Object.keys(X86_64_DENY);
}

/** The filter for this machine's architecture, or null when boxrun has no table for it. */
export function seccompFilter(arch: string = process.arch): Buffer | null {
  if (arch !== 'x64') return null;
  const numbers = [...new Set(Object.values(X86_64_DENY))];
  const prog: Insn[] = [];
  // seccomp_data: nr at offset 0, arch at offset 4.
  prog.push([LD_W_ABS, 0, 0, 4]);
  prog.push([JEQ_K, 1, 0, AUDIT_ARCH_X86_64]);
  prog.push([RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS]); // i386 / x32 entry points: not supported
  prog.push([LD_W_ABS, 0, 0, 0]);
  // x32 syscalls on the x86-64 entry point carry this bit: refuse the whole ABI.
  const denyIndex = prog.length + 1 + numbers.length + 1;
  prog.push([JGE_K, denyIndex - prog.length - 1, 0, X32_SYSCALL_BIT]);
  for (const nr of numbers) {
    const here = prog.length;
    prog.push([JEQ_K, denyIndex - here - 1, 0, nr]);
  }
  prog.push([RET_K, 0, 0, SECCOMP_RET_ALLOW]);
  prog.push([RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  if (prog.length - 1 !== denyIndex) throw new Error('seccomp program layout is off');
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach(([code, jt, jf, k], i) => {
    if (jt > 255 || jf > 255) throw new Error('seccomp jump out of range');
    out.writeUInt16LE(code, i * 8);
    out.writeUInt8(jt, i * 8 + 2);
    out.writeUInt8(jf, i * 8 + 3);
    out.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return out;
}
