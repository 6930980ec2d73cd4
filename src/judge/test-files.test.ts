import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadTestDirectory, loadTests } from './test-files.js';

describe('loading test cases', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'boxrun-tests-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: string) => writeFileSync(join(dir, name), content);

  it('pairs name.in with name.out, .ans or .expected, in natural order', () => {
    write('10.in', 'ten\n');
    write('10.ans', 'TEN\n');
    write('2.in', 'two\n');
    write('2.out', 'TWO\n');
    write('sample.in', 's\n');
    write('sample.expected', 'S\n');
    write('notes.txt', 'ignored');
    expect(loadTestDirectory(dir)).toEqual([
      { name: '2', stdin: 'two\n', expectedOutput: 'TWO\n' },
      { name: '10', stdin: 'ten\n', expectedOutput: 'TEN\n' },
      { name: 'sample', stdin: 's\n', expectedOutput: 'S\n' },
    ]);
  });

  it('keeps an input without an expected output as a run-only test', () => {
    write('a.in', 'x');
    expect(loadTestDirectory(dir)).toEqual([{ name: 'a', stdin: 'x' }]);
  });

  it('refuses a directory without inputs', () => {
    write('a.out', 'x');
    expect(() => loadTestDirectory(dir)).toThrow(/no test cases/);
  });

  it('reads a JSON array or an object with tests and compare', () => {
    write('a.json', JSON.stringify([{ stdin: '1', expectedOutput: '2' }]));
    write('b.json', JSON.stringify({ tests: [{ stdin: '1' }], compare: { mode: 'tokens' } }));
    expect(loadTests(join(dir, 'a.json'))).toEqual({ tests: [{ stdin: '1', expectedOutput: '2' }] });
    expect(loadTests(join(dir, 'b.json'))).toEqual({ tests: [{ stdin: '1' }], compare: { mode: 'tokens' } });
  });

  it('says which file could not be read', () => {
    write('bad.json', '{');
    expect(() => loadTests(join(dir, 'bad.json'))).toThrow(/cannot read tests from .*bad\.json/);
    expect(() => loadTests(join(dir, 'missing'))).toThrow(/ENOENT/);
  });
});
