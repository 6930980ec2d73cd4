import { describe, expect, it } from 'vitest';
import { createContainerSpec, SENTRY_HOST_PIDS } from './container-spec.js';

const limits = {
  timeoutMs: 1000,
  cpuTimeMs: 0,
  memoryMb: 128,
  cpus: 1,
  pids: 64,
  diskMb: 16,
  outputBytes: 1024,
};
const base = {
  id: 'x',
  image: 'boxrun/bash:5.2',
  limits,
  user: '1000:1000',
  deadline: 0,
  kind: 'oneshot' as const,
};

describe('createContainerSpec', () => {
  it('runs a runc sandbox as the unprivileged user with no capabilities and the pids limit', () => {
    const spec = createContainerSpec(base);
    expect(spec.User).toBe('1000:1000');
    expect(spec.Cmd).toEqual(['/usr/local/bin/boxrun-sv']);
    expect(spec.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(spec.HostConfig?.CapAdd).toBeUndefined();
    expect(spec.HostConfig?.PidsLimit).toBe(64);
  });

  it('on a kernel of its own (gVisor) starts the supervisor as root with only setuid/setgid to split the uids', () => {
    const spec = createContainerSpec({ ...base, runtime: 'runsc', ownKernel: true, session: true });
    expect(spec.User).toBe('0:0');
    expect(spec.Cmd).toEqual(['/usr/local/bin/boxrun-sv', '--session', '--user', '1000:1000']);
    expect(spec.HostConfig?.CapDrop).toEqual(['ALL']);
    expect(spec.HostConfig?.CapAdd).toEqual(['SETUID', 'SETGID']);
    expect(spec.HostConfig?.SecurityOpt).toContain('no-new-privileges');
    expect(spec.HostConfig?.PidsLimit).toBe(SENTRY_HOST_PIDS);
    // The work dir still belongs to the program's uid.
    expect(spec.HostConfig?.Tmpfs?.['/box']).toContain('uid=1000,gid=1000');
  });
});
