import { describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { cgroupLimitSupport } from '../../src/backends/supervisor/cgroup-support.js';
import { loadConfig } from '../../src/config/config.js';
import { describeExecutorConformance } from '../conformance/executor-suite.js';
import { dockerExecutor, src } from '../helpers.js';

/**
 * The Docker backend on a cgroup v2 engine: the supervisor's v2 paths (cpu.stat, memory.events,
 * memory.peak) and the engine's v2 limits (memory.max, memory.swap.max, cpu.max, pids.max). Runs
 * wherever the engine is cgroup v2; `npm run test:cgroup2` runs it in a cgroup v2 VM
 * (docs/reliability.md), which loads only these runtimes' images.
 */
const VM_RUNTIMES = ['python', 'c', 'bash'];

const { docker } = await connectEngine(loadConfig().docker.host);
const info = await docker.info();
const v2 = String(info.CgroupVersion) === '2';
if (!v2)
  console.warn(
    'cgroup v2 tests skipped: this engine runs cgroup v1 (npm run test:cgroup2 runs them in a VM)',
  );

describe.skipIf(!v2)('docker on cgroup v2', () => {
  describeExecutorConformance('docker', () => dockerExecutor(), { runtimes: VM_RUNTIMES });

  describe.concurrent('what the cgroup v2 files report', () => {
    it('reports the engine as cgroup v2 with every limit enforceable', async () => {
      const executor = dockerExecutor();
      const caps = await executor.capabilities();
      await executor.close();
      expect(caps.engine?.cgroupVersion).toBe('2');
      const support = cgroupLimitSupport({
        version: 2,
        kernel: caps.engine?.kernelVersion ?? '',
        memory: caps.supportsMemoryLimit,
        swap: caps.supportsSwapLimit !== false,
        cpuQuota: caps.supportsCpuLimit,
        pids: caps.supportsPidsLimit !== false,
      });
      expect(support.filter((s) => !s.enforceable)).toEqual([]);
    });

    it('reports peak memory within 10 % of what the program allocated and touched', async () => {
      const executor = dockerExecutor();
      const mib = 96;
      // Every page written through a volatile pointer: the compiler may not drop the allocation.
      const code = `#include <stdlib.h>
int main(void){size_t n=(size_t)${mib}<<20;volatile char*p=malloc(n);if(!p)return 1;for(size_t i=0;i<n;i+=4096)p[i]=1;return 0;}
`;
      const r = await executor.execute({
        runtime: 'c',
        files: [src('main.c', code)],
        limits: { memoryMb: 256 },
      });
      await executor.close();
      expect(r).toHaveStatus('ok');
      const allocated = mib * 1024 * 1024;
      expect(r.peakMemoryBytes).toBeGreaterThanOrEqual(allocated * 0.9);
      expect(r.peakMemoryBytes).toBeLessThanOrEqual(allocated * 1.1);
    });

    it('reports an allocation past the memory limit as memory_limit with oomKilled', async () => {
      const executor = dockerExecutor();
      const code = `#include <stdlib.h>
#include <string.h>
int main(void){for(;;){char*p=malloc(8<<20);if(!p)return 3;memset(p,1,8<<20);}}
`;
      const r = await executor.execute({
        runtime: 'c',
        files: [src('main.c', code)],
        limits: { memoryMb: 64 },
      });
      await executor.close();
      expect(r).toMatchResult({ status: 'memory_limit', oomKilled: true });
    });

    it('measures the CPU time of a busy loop from cpu.stat', async () => {
      const executor = dockerExecutor();
      // Spins until the process itself has used 1 s of CPU, whatever the wall clock does.
      const code = `#include <time.h>
int main(void){volatile unsigned long x=0;while(clock()<CLOCKS_PER_SEC)x++;return 0;}
`;
      const r = await executor.execute({
        runtime: 'c',
        files: [src('main.c', code)],
        limits: { timeoutMs: 60_000 },
      });
      await executor.close();
      expect(r).toHaveStatus('ok');
      expect(r.cpuTimeMs).toBeGreaterThanOrEqual(1000);
      expect(r.cpuTimeMs).toBeLessThan(3000);
    });

    it('stops a fork loop at pids.max', async () => {
      const executor = dockerExecutor();
      const code = `#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
int main(void){int n=0;while(n<1000){pid_t p=fork();if(p<0)break;if(p==0){pause();_exit(0);}n++;}printf("%d\\n",n);return 0;}
`;
      const r = await executor.execute({
        runtime: 'c',
        files: [src('main.c', code)],
        limits: { pids: 20, timeoutMs: 30_000 },
      });
      await executor.close();
      expect(r).toHaveStatus('ok');
      const forked = Number(r.stdout.trim());
      expect(forked).toBeGreaterThan(0);
      expect(forked).toBeLessThan(20);
    });
  });
});
