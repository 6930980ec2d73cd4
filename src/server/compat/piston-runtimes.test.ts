import { describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../runtimes/registry.js';
import { PistonRuntimes } from './piston-runtimes.js';

const runtimes = new PistonRuntimes(defaultRegistry);
const find = (language: string, version: string) => runtimes.find(language, version, defaultRegistry);

describe('PistonRuntimes', () => {
  it("lists C++ under Piston's name with its aliases and package", () => {
    expect(runtimes.all.find((r) => r.boxrun === 'cpp')).toMatchObject({
      language: 'c++',
      aliases: ['cpp', 'g++'],
      runtime: 'gcc',
    });
    expect(runtimes.all.find((r) => r.boxrun === 'javascript')).toMatchObject({
      language: 'javascript',
      runtime: 'node',
    });
  });

  it('gives every runtime a semver version', () => {
    for (const r of runtimes.all) expect(r.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('matches versions as semver ranges, as Piston does', () => {
    expect(find('c++', '*')?.boxrun).toBe('cpp');
    expect(find('g++', '12')?.boxrun).toBe('cpp');
    expect(find('python', '3.x')?.boxrun).toBe('python');
    expect(find('py3', '>=3.10 <4')?.boxrun).toBe('python');
    expect(find('python', '3.11.2')?.boxrun).toBe('python');
    expect(find('python', '3.10.0')).toBeUndefined();
    expect(find('python', '2')).toBeUndefined();
    expect(find('cobol', '*')).toBeUndefined();
  });

  it("accepts boxrun's own names too", () => {
    expect(find('cpp', '*')?.language).toBe('c++');
    expect(find('node', '18')?.language).toBe('javascript');
  });

  it('lists gcc once as a package, installed only when both its images are', () => {
    const packages = runtimes.packages((name) => name !== 'c');
    expect(packages.filter((p) => p.language === 'gcc')).toEqual([
      { language: 'gcc', language_version: '12.2.0', installed: false },
    ]);
    expect(packages.find((p) => p.language === 'node')).toMatchObject({ installed: true });
  });
});
