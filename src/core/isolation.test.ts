import { describe, expect, it } from 'vitest';
import { assertTierSatisfied, resolveIsolationTier, satisfiesTier } from './isolation.js';

describe('isolation tiers', () => {
  it('gives a request without a tier the default, moved into the caller’s floor and ceiling', () => {
    expect(resolveIsolationTier(undefined, { default: 'container' }, 'a')).toBe('container');
    expect(resolveIsolationTier(undefined, { default: 'container', min: 'vm' }, 'a')).toBe('vm');
    expect(resolveIsolationTier(undefined, { default: 'vm', max: 'container' }, 'a')).toBe('container');
  });

  it('refuses an explicit tier below the floor or above the ceiling instead of changing it', () => {
    expect(() => resolveIsolationTier('container', { default: 'container', min: 'vm' }, 'anonymous')).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', details: { path: 'isolation' } }),
    );
    expect(() => resolveIsolationTier('vm', { default: 'container', max: 'container' }, 'k')).toThrow(
      /may use at most 'container'/,
    );
    expect(resolveIsolationTier('vm', { default: 'container', min: 'vm' }, 'k')).toBe('vm');
  });

  it('orders levels none < process < container < vm', () => {
    expect(satisfiesTier('vm', 'container')).toBe(true);
    expect(satisfiesTier('container', 'vm')).toBe(false);
    expect(satisfiesTier('process', 'container')).toBe(false);
  });

  it('refuses to run an explicit vm request on a container backend, naming the setup command', () => {
    expect(() => assertTierSatisfied('vm', 'container')).toThrow(
      expect.objectContaining({
        code: 'ISOLATION_UNAVAILABLE',
        message: expect.stringContaining('boxrun setup --isolation gvisor'),
      }),
    );
    expect(() => assertTierSatisfied(undefined, 'process')).not.toThrow();
    expect(() => assertTierSatisfied('container', 'vm')).not.toThrow();
  });
});
