import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ownerAlive, PROCESS_OWNER } from './labels.js';

describe('ownerAlive (the reaper spares sandboxes of live owners)', () => {
  it('is true for this process and a live process of this host', () => {
    expect(ownerAlive(PROCESS_OWNER)).toBe(true);
    expect(ownerAlive(`${hostname()}:1`)).toBe(true);
  });

  it('is false for a process that ended, another host, or no label', () => {
    const ended = spawnSync('true').pid;
    expect(ownerAlive(`${hostname()}:${ended}`)).toBe(false);
    expect(ownerAlive(`not-${hostname()}:${process.pid}`)).toBe(false);
    expect(ownerAlive(undefined)).toBe(false);
    expect(ownerAlive('garbage')).toBe(false);
  });
});
