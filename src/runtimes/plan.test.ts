import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/config.js';
import { isBoxrunError } from '../core/errors.js';
import { planExecution } from './plan.js';
import { defaultRegistry } from './registry.js';

const defaults = defaultConfig({});

describe('planExecution', () => {
  it('fills the main file into compile and run commands', () => {
    const plan = planExecution(
      { runtime: 'java', files: [{ path: 'Hello.java', content: 'class Hello {}' }], argv: ['x'] },
      defaultRegistry,
      defaults,
    );
    expect(plan.compile?.job.argv).toContain('Hello.java');
    expect(plan.run.job.argv.slice(-2)).toEqual(['Hello', 'x']);
    expect(plan.compile?.limits.memoryMb).toBe(1024);
    expect(plan.run.limits.memoryMb).toBe(256);
  });

  it('lifts every compile limit to minCompileTimeoutMs unless the request sets its own', () => {
    const ts = { runtime: 'typescript', files: [{ path: 'main.ts', content: '' }] };
    const loaded = { ...defaults, minCompileTimeoutMs: 240_000 };
    expect(planExecution(ts, defaultRegistry, defaults).compile?.limits.timeoutMs).toBe(60_000);
    expect(planExecution(ts, defaultRegistry, loaded).compile?.limits.timeoutMs).toBe(240_000);
    const own = { ...ts, compileLimits: { timeoutMs: 5000 } };
    expect(planExecution(own, defaultRegistry, loaded).compile?.limits.timeoutMs).toBe(5000);
    // A floor, never a cut: a longer runtime default stays.
    const low = { ...defaults, minCompileTimeoutMs: 1000 };
    expect(planExecution(ts, defaultRegistry, low).compile?.limits.timeoutMs).toBe(60_000);
  });

  it('rejects an unknown runtime listing the known ones', () => {
    try {
      planExecution({ runtime: 'cobol', files: [{ path: 'a', content: '' }] }, defaultRegistry, defaults);
      expect.unreachable();
    } catch (e) {
      expect(isBoxrunError(e, 'UNKNOWN_RUNTIME')).toBe(true);
      expect((e as Error).message).toMatch(/python.*javascript/);
    }
  });

  it('names the field path of an invalid request', () => {
    expect(() =>
      planExecution(
        { runtime: 'python', files: [{ path: '../etc/passwd', content: '' }] },
        defaultRegistry,
        defaults,
      ),
    ).toThrow(/^files\.0\.path:/);
    expect(() =>
      planExecution(
        { runtime: 'python', files: [{ path: 'a.py', content: '' }], limits: { memoryMb: 999999 } },
        defaultRegistry,
        defaults,
      ),
    ).toThrow(/limits\.memoryMb/);
  });

  it('accepts a limit up to the configured maximum only', () => {
    expect(() =>
      planExecution(
        { runtime: 'python', files: [{ path: 'a.py', content: '' }], limits: { timeoutMs: 400_000 } },
        defaultRegistry,
        defaults,
      ),
    ).toThrow(/exceeds the maximum/);
  });
});
