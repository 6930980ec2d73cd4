import { describe, expect, it } from 'vitest';
import { isConflict, isGone, isNotFound } from './engine.js';

const answered = (statusCode: number) => Object.assign(new Error('engine said no'), { statusCode });

describe('engine error helpers', () => {
  it('tells a missing object (404) from a conflicting one (409) and from anything else', () => {
    expect(isNotFound(answered(404))).toBe(true);
    expect(isNotFound(answered(409))).toBe(false);
    expect(isConflict(answered(409))).toBe(true);
    expect(isConflict(answered(500))).toBe(false);
  });

  it('counts 404 and 409 as gone for a removal, never a connection error or a non-error', () => {
    expect(isGone(answered(404))).toBe(true);
    expect(isGone(answered(409))).toBe(true);
    expect(isGone(answered(500))).toBe(false);
    expect(isGone(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isGone(null)).toBe(false);
    expect(isNotFound({ statusCode: '404' })).toBe(false);
  });
});
