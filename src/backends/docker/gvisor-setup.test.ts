import { describe, expect, it } from 'vitest';
import { GVISOR_RUNTIME_ARGS, mergeDaemonConfig } from './gvisor-setup.js';

const entry = { path: '/usr/bin/runsc', runtimeArgs: GVISOR_RUNTIME_ARGS };

describe('registering gVisor in daemon.json', () => {
  it('adds the runtime and keeps every other setting', () => {
    const existing = JSON.stringify({
      'log-level': 'warn',
      'data-root': '/srv/docker',
      runtimes: { kata: { path: '/usr/bin/kata-runtime' } },
    });
    const merged = mergeDaemonConfig(existing, 'runsc', entry);
    expect(merged.changed).toBe(true);
    expect(JSON.parse(merged.text)).toEqual({
      'log-level': 'warn',
      'data-root': '/srv/docker',
      runtimes: { kata: { path: '/usr/bin/kata-runtime' }, runsc: entry },
    });
  });

  it('writes a new file when there is none, and changes nothing when the entry is there', () => {
    const fresh = mergeDaemonConfig(null, 'runsc', entry);
    expect(JSON.parse(fresh.text)).toEqual({ runtimes: { runsc: entry } });
    const again = mergeDaemonConfig(fresh.text, 'runsc', entry);
    expect(again).toEqual({ text: fresh.text, changed: false });
  });

  it('registers with --network=none (runsc cannot start otherwise), without --oci-seccomp (breaks threads)', () => {
    expect(GVISOR_RUNTIME_ARGS).toEqual(['--network=none']);
  });

  it('refuses to touch a file it cannot read as JSON', () => {
    expect(() => mergeDaemonConfig('{ "log-level": ', 'runsc', entry)).toThrow(
      expect.objectContaining({ code: 'SETUP_FAILED' }),
    );
    expect(() => mergeDaemonConfig('{"runtimes": []}', 'runsc', entry)).toThrow(/runtimes/);
  });
});
