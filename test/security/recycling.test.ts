import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import type { ExecutionRequestInput } from '../../src/core/request.js';
import type { ExecutionResult } from '../../src/core/result.js';
import { ServiceMetrics } from '../../src/server/metrics.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';
import { dockerExecutor } from '../helpers.js';
import { hostileFirstExecutor } from '../support/hostile-first.js';
import { eventually, onGvisor, program } from './harness.js';

/**
 * Recycled sandboxes (pool.recycle): job A leaves something behind in every way a program can,
 * then job B runs in the same container and must see none of it, with metrics of its own. Which
 * container a job ran in is read from inside: PID 1's start time and the container's cgroup.
 */

const WRITABLE = ['/box', '/tmp', '/dev/shm', '/dev/mqueue'];

/** What a job can see of the container: B prints it, the test compares it with a fresh one. */
const probe = `
import json, os, time
time.sleep(0.8)  # anything A left running would have written by now
def tree(p):
    out = []
    for root, dirs, files in os.walk(p):
        out += [os.path.join(root, n) for n in dirs + files]
    return sorted(out)
stat1 = open('/proc/1/stat').read().rsplit(')', 1)[1].split()
sv = lambda k: open('/proc/sysvipc/' + k).read().splitlines()[1:]
vfs = os.statvfs('/tmp')
print(json.dumps({
    'container': stat1[19] + ' ' + open('/proc/self/cgroup').read().splitlines()[0],
    'files': {p: tree(p) for p in ${JSON.stringify(WRITABLE)}},
    'modes': {p: oct(os.stat(p).st_mode) for p in ${JSON.stringify(WRITABLE)}},
    'pids': sorted(int(x) for x in os.listdir('/proc') if x.isdigit() and int(x) != os.getpid()),
    'sysv': {k: sv(k) for k in ('shm', 'sem', 'msg')},
    'umask': oct(os.umask(0o22)),
    'cwd': os.getcwd(),
    'leak_env': sorted(k for k in os.environ if k.startswith('LEAK')),
    'tmp_free_mb': vfs.f_bavail * vfs.f_frsize // (1 << 20),
}))
`;

interface Seen {
  container: string;
  files: Record<string, string[]>;
  modes: Record<string, string>;
  pids: number[];
  sysv: Record<string, string[]>;
  umask: string;
  cwd: string;
  leak_env: string[];
  tmp_free_mb: number;
}

/** Job A of each case: what it leaves behind. Every one ends normally (exit 0). */
const hostile: Record<string, string> = {
  'files in every writable path, hidden, unreadable and in a chmod 000 directory': `
import os
for d in ${JSON.stringify(WRITABLE.filter((p) => p !== '/dev/mqueue'))}:
    for name in ('left', '.hidden', 'unreadable'):
        open(d + '/' + name, 'w').write('secret of A')
    os.chmod(d + '/unreadable', 0)
    os.makedirs(d + '/locked/inner/deeper')
    open(d + '/locked/inner/f', 'w').write('secret of A')
    os.chmod(d + '/locked/inner', 0)
    os.chmod(d + '/locked', 0)
    os.symlink('/etc/passwd', d + '/link')
    os.mkfifo(d + '/fifo')
os.chmod('/box', 0o777)
print('left files')
`,
  'SysV shared memory, semaphores and message queues, and a POSIX message queue': `
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
ids = [libc.shmget(0x5eed, 4096, IPC_CREAT | 0o666), libc.shmget(0, 4096, IPC_CREAT | 0o600),
       libc.semget(0x5eee, 1, IPC_CREAT | 0o666), libc.msgget(0x5eef, IPC_CREAT | 0o666)]
assert min(ids) >= 0, ids
rt = ctypes.CDLL('librt.so.1', use_errno=True)
rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
assert rt.mq_open(b'/leak', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0
assert os.listdir('/dev/mqueue') == ['leak']
print('ipc made')
`,
  'a double-forked daemon that ignores SIGTERM, a stopped process and output after the main process exits': `
import os, signal, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        while True:
            try:
                open('/tmp/daemon-was-here', 'a').write('x')
                print('LATE from the daemon', flush=True)
            except OSError:
                pass
            time.sleep(0.01)
    os._exit(0)
if os.fork() == 0:
    os.kill(os.getpid(), signal.SIGSTOP)
    os._exit(0)
if os.fork() == 0:
    time.sleep(0.3)
    print('LATE after main', flush=True)
    os._exit(0)
time.sleep(0.1)
print('main exits')
`,
  'a fork bomb against the pids limit': `
import subprocess, time
subprocess.Popen(['bash', '-c', 'b(){ b | b & }; b'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
print('bomb went off')
`,
  'a changed umask, working directory and environment': `
import os
os.umask(0)
os.chdir('/tmp')
os.environ['LEAK_A'] = '1'
os.putenv('LEAK_B', '1')
open('umask-test', 'w').write('x')
print('changed')
`,
  'a filled tmpfs': `
for d in ('/tmp', '/dev/shm', '/box'):
    try:
        with open(d + '/fill', 'wb') as f:
            while True:
                f.write(b'x' * (1 << 20))
    except OSError:
        pass
print('filled')
`,
};

describe('security: recycled sandboxes leak nothing from one job to the next', () => {
  let executor: DockerExecutor;
  let fresh: Seen;
  // The wall limit is no part of the container's shape: a loaded machine gets room, the pool key stays.
  const run = async (code: string, extra: Partial<ExecutionRequestInput> = {}) =>
    executor.execute(program('python', code, { limits: { timeoutMs: 60_000 }, ...extra }));
  const see = async (): Promise<{ seen: Seen; result: ExecutionResult }> => {
    const result = await run(probe);
    expect(result.status, result.stderr).toBe('ok');
    return { seen: JSON.parse(result.stdout) as Seen, result };
  };
  const stats = () => executor.poolStats()!;

  beforeAll(async () => {
    executor = dockerExecutor({
      pool: { size: 1, runtimes: ['python'], compile: false, recycle: true, maxUses: 1000 },
    });
    // The first one fills the pool (a one-shot miss); the second runs in a fresh pool sandbox.
    await see();
    expect(await eventually(() => stats().warm === 1, 60_000)).toBe(true);
    fresh = (await see()).seen;
  });
  afterAll(() => executor.close());

  for (const [name, code] of Object.entries(hostile)) {
    it(`B sees nothing of A: ${name}`, async () => {
      const recycledBefore = stats().recycled;
      const before = (await see()).seen;
      const a = await run(code);
      expect(a.status, a.stderr).toBe('ok');
      const { seen, result } = await see();
      // Same container as A (and as the probe before it): the reset, not a new sandbox, cleaned up.
      expect(seen.container).toBe(before.container);
      expect(stats().recycled).toBe(recycledBefore + 3);
      expect(seen.files).toEqual(fresh.files);
      expect(seen.modes).toEqual(fresh.modes);
      expect(seen.pids).toEqual([1]);
      expect(seen.sysv).toEqual({ shm: [], sem: [], msg: [] });
      expect(seen.umask).toBe(fresh.umask);
      expect(seen.cwd).toBe('/box');
      expect(seen.leak_env).toEqual([]);
      expect(seen.tmp_free_mb).toBe(fresh.tmp_free_mb);
      expect(result.stdout).not.toContain('LATE');
      expect(result.stderr).toBe('');
    });
  }

  it("reports B's peak memory and CPU time, not A's", async () => {
    // CPU time, not wall time: 0.5 s of it takes far longer on a loaded machine, hence the wall limit.
    const a = await run(
      'import time\nx = bytearray(200 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nprint(1)',
      { limits: { timeoutMs: 240_000 } },
    );
    expect(a).toHaveStatus('ok');
    const b = await run('print(1)');
    expect(b).toHaveStatus('ok');
    expect(stats().targets[0]!.busy).toBe(0);
    expect(a.peakMemoryBytes).toBeGreaterThan(200 * 1024 * 1024);
    expect(b.peakMemoryBytes).toBeLessThan(20 * 1024 * 1024);
    expect(a.cpuTimeMs).toBeGreaterThanOrEqual(500);
    expect(b.cpuTimeMs).toBeLessThan(a.cpuTimeMs / 2);
  });

  it('applies the memory limit to each job as if alone', async () => {
    // Three jobs each just under the limit: none inherits another's memory (tmpfs files included).
    for (let i = 0; i < 3; i++) {
      const r = await run(
        "x = bytearray(150 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nopen('/tmp/f', 'wb').write(b'x' * (40 << 20))\nprint('fits')",
      );
      expect(r.status, r.message).toBe('ok');
    }
  });

  it('destroys the sandbox after a job that hit a limit, never reusing it', async () => {
    const before = (await see()).seen;
    const notReused = stats().notReused;
    const a = await run('while True: pass', { limits: { timeoutMs: 500 } });
    expect(a).toHaveStatus('time_limit');
    expect(stats().notReused).toBe(notReused + 1);
    // Its successor must be warm, or the next job would run one-shot and never be lent.
    expect(await eventually(() => stats().warm === 1, 60_000)).toBe(true);
    const m = await run('x = bytearray(400 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1');
    expect(m).toHaveStatus('memory_limit');
    expect(stats().notReused).toBe(notReused + 2);
    expect(await eventually(() => stats().warm === 1, 60_000)).toBe(true);
    const { seen } = await see();
    expect(seen.container).not.toBe(before.container);
  });

  it('destroys a sandbox whose reset fails, and /metrics counts it', async () => {
    const metrics = new ServiceMetrics({ queued: () => 0, running: () => 0, pool: () => stats() });
    const before = (await see()).seen;
    const failures = stats().resetFailures;
    // Deeper than the reset removes: it must give up on the container rather than keep it.
    const a = await run("import os\nos.makedirs('/tmp/' + '/'.join(['d'] * 200))\nprint('deep')");
    expect(a).toHaveStatus('ok');
    expect(stats().resetFailures).toBe(failures + 1);
    expect(await eventually(() => stats().warm === 1, 60_000)).toBe(true);
    const { seen } = await see();
    expect(seen.container).not.toBe(before.container);
    expect(seen.files).toEqual(fresh.files);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(new RegExp(`^boxrun_pool_reset_failures_total ${failures + 1}$`, 'm'));
    expect(text).toMatch(/^boxrun_pool_recycled_total [1-9]\d*$/m);
    expect(text).toMatch(/^boxrun_pool_hit_ratio 0\.\d+$/m);
  });
});

/**
 * The conformance suite, every runtime, on a recycling pool: each case runs in a container that has
 * just served a hostile job of the same shape (test/support/hostile-first.ts) and fails if not.
 */
let conformance: ReturnType<typeof hostileFirstExecutor> | null = null;
describeExecutorConformance(
  'docker, recycled after a hostile job',
  () => {
    conformance = hostileFirstExecutor();
    return conformance;
  },
  { gvisor: onGvisor },
);
describe('docker, recycled after a hostile job: the pool', () => {
  it('ran the cases in recycled sandboxes', () => {
    // Only the cases rejected before any container (invalid paths) are not poolable.
    expect(conformance?.hostileFirst.recycled ?? 0).toBeGreaterThan(30);
    expect(conformance?.hostileFirst.unpooled ?? 0).toBeLessThanOrEqual(4);
  });
});
