import { describe, expect, it } from 'vitest';
import { cgroupLimitSupport, describeCgroupSupport, kernelVersion } from './cgroup-support.js';

const everything = { memory: true, swap: true, cpuQuota: true, pids: true };

describe('cgroup limit support', () => {
  it('parses kernel releases', () => {
    expect(kernelVersion('6.1.0-18-amd64')).toEqual([6, 1]);
    expect(kernelVersion('5.15.0-91-generic')).toEqual([5, 15]);
    expect(kernelVersion('garbage')).toEqual([0, 0]);
  });

  it('names the cgroup v2 files for every limit on a current kernel', () => {
    const s = cgroupLimitSupport({ version: 2, kernel: '6.1.0-18-amd64', ...everything });
    expect(s.every((l) => l.enforceable)).toBe(true);
    expect(Object.fromEntries(s.map((l) => [l.limit, l.via]))).toEqual({
      memoryMb: 'memory.max',
      swap: 'memory.swap.max',
      cpus: 'cpu.max',
      pids: 'pids.max',
      cpuTimeMs: 'cpu.stat usage_usec',
      oomReport: 'memory.events oom_kill',
    });
  });

  it('names the cgroup v1 files', () => {
    const s = cgroupLimitSupport({ version: 1, kernel: '6.18.44', ...everything });
    expect(s.find((l) => l.limit === 'memoryMb')?.via).toBe('memory.limit_in_bytes');
    expect(s.find((l) => l.limit === 'oomReport')?.via).toBe('memory.oom_control oom_kill');
  });

  it('says what an engine without swap accounting, or a kernel before 4.13, cannot do', () => {
    const s = cgroupLimitSupport({ version: 1, kernel: '4.9.0-19-amd64', ...everything, swap: false });
    expect(s.filter((l) => !l.enforceable).map((l) => l.limit)).toEqual(['swap', 'oomReport']);
    expect(describeCgroupSupport({ version: 1, kernel: '4.9.0', ...everything, swap: false })).toMatch(
      /^v1, kernel 4\.9\.0: .*swap NO \(no swap accounting/,
    );
  });
});
