import { BoxrunError } from './errors.js';
import type { IsolationLevel } from './result.js';

/**
 * The isolation tiers a request may ask for: `container` (runc: namespaces, cgroups, seccomp on the
 * host kernel) or `vm` (a kernel of its own between the program and the host: gVisor's runsc).
 */
export const ISOLATION_TIERS = ['container', 'vm'] as const;
export type IsolationTier = (typeof ISOLATION_TIERS)[number];

/** The command that makes the vm tier available; every "unavailable" message names it. */
export const VM_TIER_SETUP_COMMAND = 'boxrun setup --isolation gvisor';

const STRENGTH: Record<IsolationLevel, number> = { none: 0, process: 1, container: 2, vm: 3 };

/** Whether a backend of level `level` gives at least what `tier` promises. */
export function satisfiesTier(level: IsolationLevel, tier: IsolationTier): boolean {
  return STRENGTH[level] >= STRENGTH[tier];
}

/** A request that explicitly asked for a tier never runs below it: refused, not downgraded. */
export function assertTierSatisfied(requested: IsolationTier | undefined, level: IsolationLevel): void {
  if (requested && !satisfiesTier(level, requested)) {
    throw new BoxrunError(
      'ISOLATION_UNAVAILABLE',
      `isolation '${requested}' was asked for, but this executor gives '${level}'${requested === 'vm' ? `; run \`${VM_TIER_SETUP_COMMAND}\` to make the vm tier available` : ''}`,
      { details: { path: 'isolation', requested, available: level } },
    );
  }
}

/** What a caller may get: a floor (e.g. anonymous callers always `vm`) and a ceiling. */
export interface IsolationPolicy {
  /** The tier of a request that does not ask for one; unset = the executor's own. */
  default?: IsolationTier | undefined;
  min?: IsolationTier | undefined;
  max?: IsolationTier | undefined;
}

/**
 * The tier a caller's request runs with. An explicit tier outside the caller's floor/ceiling is
 * FORBIDDEN (never quietly changed); an absent one is the default moved into [min, max].
 */
export function resolveIsolationTier(
  requested: IsolationTier | undefined,
  policy: IsolationPolicy,
  caller: string,
): IsolationTier | undefined {
  const { min, max } = policy;
  if (requested) {
    if (min && STRENGTH[requested] < STRENGTH[min]) {
      throw new BoxrunError(
        'FORBIDDEN',
        `isolation: caller ${caller} is held to at least '${min}' and may not ask for '${requested}'`,
        { details: { path: 'isolation' } },
      );
    }
    if (max && STRENGTH[requested] > STRENGTH[max]) {
      throw new BoxrunError(
        'FORBIDDEN',
        `isolation: caller ${caller} may use at most '${max}' and may not ask for '${requested}'`,
        { details: { path: 'isolation' } },
      );
    }
    return requested;
  }
  let tier = policy.default;
  if (min && (!tier || STRENGTH[tier] < STRENGTH[min])) tier = min;
  if (max && tier && STRENGTH[tier] > STRENGTH[max]) tier = max;
  return tier;
}
