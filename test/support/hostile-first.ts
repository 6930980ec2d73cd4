import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConnectedEngine } from '../../src/backends/docker/engine.js';
import type { Sandbox } from '../../src/backends/docker/sandbox.js';
import type { SandboxSource } from '../../src/backends/docker/sandbox-source.js';
import { DockerExecutor } from '../../src/backends/selection/executors.js';
import type { JobEnd } from '../../src/backends/supervisor/job-runner.js';
import { type ConfigOverrides, loadConfig } from '../../src/config/config.js';
import type { ExecuteOptions } from '../../src/core/executor.js';
import { assertTierSatisfied } from '../../src/core/isolation.js';
import type { ExecutionRequestInput, ResourceLimits } from '../../src/core/request.js';
import type { ExecutionResult } from '../../src/core/result.js';
import { planExecution } from '../../src/runtimes/plan.js';
import { defaultRegistry } from '../../src/runtimes/registry.js';
import { describeResult } from './result-matchers.js';

/**
 * A recycling warm pool where every execution runs in a sandbox that has just served a hostile job:
 * before each request the same shape (runtime, memory, disk, CPUs, pids) runs this script in the
 * pool, and the request must then get that very container back, reset by its supervisor. The
 * conformance and security suites run through it (test/security/recycling.test.ts; scripts/test.sh
 * with BOXRUN_TEST_SECURITY_RECYCLED=1), so each of their cases proves the reset leaves nothing a
 * case could notice. The script leaves what test/security/recycling.test.ts's jobs A leave, in bash
 * (every runtime image has bash; not every one has python): files in every writable path (hidden,
 * unreadable, in a chmod 000 directory, a symlink, a fifo, partly filled), SysV shared memory,
 * semaphores and message queues (and a POSIX queue where python is present), a setsid daemon that
 * ignores SIGTERM and writes on, a double-forked sleeper, a stopped process, output after the main
 * process exits, idle children, a changed umask, working directory and environment. It stays small
 * so that a case's tight limits (48 MiB, 32 pids) still let it end normally.
 */
export const HOSTILE_SCRIPT = `
for d in /box /tmp /dev/shm; do
  for n in left .hidden unreadable; do echo 'secret of A' > "$d/$n"; done
  chmod 0 "$d/unreadable"
  mkdir -p "$d/locked/inner/deeper" && echo 'secret of A' > "$d/locked/inner/f"
  chmod 0 "$d/locked/inner" "$d/locked"
  ln -s /etc/passwd "$d/link"; mkfifo "$d/fifo"
  dd if=/dev/zero of="$d/fill" bs=256k count=4 2>/dev/null
done
chmod 0777 /box
ipcmk -M 4096 -p 0666 >/dev/null; ipcmk -S 1 >/dev/null; ipcmk -Q >/dev/null
if command -v python3 >/dev/null; then
  python3 -c "import ctypes, os; rt = ctypes.CDLL('librt.so.1'); rt.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]; rt.mq_open(b'/leak', os.O_CREAT | os.O_RDWR, 0o600, None)"
fi
setsid bash -c 'trap "" TERM HUP INT; while :; do echo x >> /tmp/daemon-was-here; echo LATE from the daemon; sleep 0.05; done' 2>/dev/null &
( ( trap '' TERM; exec -a hostile-doublefork sleep 300 ) & ) &
bash -c 'kill -STOP $$' &
( sleep 0.3; echo LATE after main ) &
for i in 1 2 3 4 5 6; do sleep 300 & done
umask 0; cd /tmp; export LEAK_A=1
sleep 0.1
echo hostile-done
exit 0
`;

/** A program that compiles, for the compile step of the hostile request (its run step is the script). */
const COMPILES: Record<string, { path: string; content: string }> = {
  c: { path: 'main.c', content: 'int main(void) { return 0; }\n' },
  cpp: { path: 'main.cpp', content: 'int main() { return 0; }\n' },
  rust: { path: 'main.rs', content: 'fn main() {}\n' },
  go: { path: 'main.go', content: 'package main\nfunc main() {}\n' },
  java: { path: 'Main.java', content: 'public class Main { public static void main(String[] a) {} }\n' },
  typescript: { path: 'main.ts', content: 'export {};\n' },
};

/** The limits that shape a sandbox (container-spec.ts); the wall and CPU limits are per job. */
function shapeOf(limits: Partial<ResourceLimits> | undefined): Partial<ResourceLimits> {
  const out: Partial<ResourceLimits> = {};
  for (const key of ['memoryMb', 'diskMb', 'cpus', 'pids'] as const) {
    if (limits?.[key] !== undefined) out[key] = limits[key];
  }
  return out;
}

/** One sandbox an execution was handed by the pool, and how its job ended for the pool. */
export interface PooledSandbox {
  containerId: string;
  /** Lent by the recycling pool (a warm sandbox that comes back after the job), not a one-shot miss. */
  lent: boolean;
  /** How the job ended for the pool; null while running, or for a one-shot sandbox. */
  end: JobEnd | null;
}

interface Acquisitions {
  sandboxes: PooledSandbox[];
  /** Called after each acquisition (the lock is released once the case has its sandboxes). */
  onAcquire?: () => void;
}

const current = new AsyncLocalStorage<Acquisitions>();
/** Execution id → the pool sandboxes it ran in (for expectHostAndBoxrunFine). */
const byExecution = new Map<string, PooledSandbox[]>();

/** The pool sandboxes an execution (by its id) ran in under a hostile-first executor; [] otherwise. */
export function pooledSandboxesOf(executionId: string): PooledSandbox[] {
  return byExecution.get(executionId) ?? [];
}

/** Every acquisition of the executor's pool is recorded in the calling execution's context. */
function recordAcquisitions(executor: DockerExecutor): void {
  const backend = executor.backend;
  let source: SandboxSource | null = backend.sandboxSource;
  const wrap = (inner: SandboxSource): SandboxSource => ({
    acquire: async (image, limits, makeSpec) => {
      const sandbox: Sandbox = await inner.acquire(image, limits, makeSpec);
      const context = current.getStore();
      if (context) {
        const record: PooledSandbox = { containerId: sandbox.id, lent: sandbox.recycling, end: null };
        const recycler = sandbox.recycler;
        if (recycler) {
          sandbox.recycler = (end) => {
            record.end = end;
            return recycler(end);
          };
        }
        context.sandboxes.push(record);
        context.onAcquire?.();
      }
      return sandbox;
    },
  });
  // The executor attaches its pool on the first execution: wrap it as it is set.
  Object.defineProperty(backend, 'sandboxSource', {
    configurable: true,
    get: () => source,
    set: (value: SandboxSource | null) => {
      source = value ? wrap(value) : value;
    },
  });
}

/** Runs one at a time per key: between a hostile job and its case, nobody else takes the sandbox. */
class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>();
  async acquire(key: string): Promise<() => void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}

export interface HostileFirstCounts {
  /** Executions that ran in a container right after a hostile job in it. */
  recycled: number;
  /** Executions the pool never serves (a network policy other than none, custom images, invalid). */
  unpooled: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A DockerExecutor on a recycling pool whose `execute` runs HOSTILE_SCRIPT first in the sandbox the
 * request will get, and fails the execution (an Error naming both) when the request did not run in
 * that same container. Everything else is the executor's own.
 */
export function hostileFirstExecutor(
  overrides: ConfigOverrides = {},
  options: { engine?: ConnectedEngine } = {},
): DockerExecutor & { hostileFirst: HostileFirstCounts } {
  const counts: HostileFirstCounts = { recycled: 0, unpooled: 0 };
  const config = loadConfig({
    overrides: {
      ...overrides,
      // One fixed slot so the pool exists; every other shape gets a slot when first seen.
      pool: {
        size: 1,
        runtimes: ['bash'],
        compile: false,
        recycle: true,
        maxUses: 100_000,
        maxAgeSeconds: 3600,
        maxTotal: 64,
        ...overrides.pool,
      },
    },
  });
  const inner = new DockerExecutor({ config, ...(options.engine ? { engine: options.engine } : {}) });
  recordAcquisitions(inner);
  const lock = new KeyedLock();

  /** The hostile request of the same shape, or null when the request is never pooled or invalid. */
  const hostileFor = (request: ExecutionRequestInput): ExecutionRequestInput | null => {
    if (!request.runtime || request.image || request.dockerfile) return null;
    if (request.network !== undefined && request.network !== 'none') return null;
    try {
      const plan = planExecution(request, defaultRegistry, config);
      assertTierSatisfied(plan.request.isolation, inner.isolationLevel());
    } catch {
      return null; // rejected before any container: the request is run as is and rejected
    }
    const source = COMPILES[request.runtime];
    return {
      runtime: request.runtime,
      ...(request.version ? { version: request.version } : {}),
      files: [source ?? { path: 'main', content: '' }],
      command: ['bash', '-c', HOSTILE_SCRIPT],
      limits: { ...shapeOf(request.limits), timeoutMs: 60_000 },
      ...(request.compileLimits ? { compileLimits: shapeOf(request.compileLimits) } : {}),
    };
  };

  const runRecorded = async (
    request: ExecutionRequestInput,
    options: ExecuteOptions | undefined,
    onAcquire?: () => void,
  ): Promise<{ result: ExecutionResult; sandboxes: PooledSandbox[] }> => {
    const context: Acquisitions = { sandboxes: [], ...(onAcquire ? { onAcquire } : {}) };
    const result = await current.run(context, () => inner.execute(request, options));
    return { result, sandboxes: context.sandboxes };
  };

  const execute = async (request: ExecutionRequestInput, options?: ExecuteOptions) => {
    const hostile = hostileFor(request);
    if (!hostile) {
      counts.unpooled++;
      return inner.execute(request, options);
    }
    const release = await lock.acquire(request.runtime ?? '');
    try {
      let before: PooledSandbox[] = [];
      for (let attempt = 1; ; attempt++) {
        const { result, sandboxes } = await runRecorded(hostile, undefined);
        const broken = sandboxes.find((s) => s.lent && s.end !== 'clean');
        if (broken) {
          throw new Error(
            `the hostile job before the case left its sandbox ${broken.end} (a reset must succeed): ${describeResult(result)}`,
          );
        }
        before = sandboxes;
        // A miss (the shape was new, or its sandboxes were busy): wait for the pool to start one.
        if (sandboxes.length > 0 && sandboxes.every((s) => s.lent)) break;
        if (attempt === 30) throw new Error('the pool never had a warm sandbox for the hostile job');
        for (let i = 0; i < 150 && (inner.poolStats()?.starting ?? 0) > 0; i++) await sleep(100);
        await sleep(50);
      }
      const expected = before;
      let acquired = 0;
      const { result, sandboxes } = await runRecorded(request, options, () => {
        // The case holds the hostile job's sandboxes: others of this runtime may go on.
        if (++acquired >= expected.length) release();
      });
      release();
      // Later steps (a judged case's further runs) may follow a step that hit a limit: no check.
      const wrong = sandboxes.findIndex(
        (s, i) => i < expected.length && (!s.lent || s.containerId !== expected[i]!.containerId),
      );
      if (wrong >= 0) {
        throw new Error(
          `step ${wrong + 1} of the case ran in ${sandboxes[wrong]!.containerId.slice(0, 12)} (${
            sandboxes[wrong]!.lent ? 'recycled' : 'one-shot'
          }), not in the container of its hostile job ${expected[wrong]?.containerId.slice(0, 12) ?? '(none)'}`,
        );
      }
      if (options?.id) byExecution.set(options.id, sandboxes);
      counts.recycled++;
      return result;
    } finally {
      release();
    }
  };

  const close = async () => {
    await inner.close();
    // In the test log: how many executions the pass really ran recycled.
    console.info(
      `hostile-first: ${counts.recycled} executions ran right after a hostile job in their recycled sandbox, ${counts.unpooled} were not poolable`,
    );
  };

  return new Proxy(inner, {
    get: (target, key) => {
      if (key === 'execute') return execute;
      if (key === 'close') return close;
      if (key === 'hostileFirst') return counts;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as DockerExecutor & { hostileFirst: HostileFirstCounts };
}
