import { describe, expect, it } from 'vitest';
import {
  compareExact,
  compareFloat,
  compareOutput,
  compareTokens,
  compareTrim,
  trimmedLines,
} from './compare.js';

describe('compareExact', () => {
  it('accepts identical output only', () => {
    expect(compareExact('3\n', '3\n').equal).toBe(true);
    expect(compareExact('3', '3\n').equal).toBe(false);
    expect(compareExact('3 \n', '3\n').equal).toBe(false);
  });

  it('says where the output first differs', () => {
    expect(compareExact('1 2 4\n', '1 2 3\n').message).toBe('byte 4: expected "3\\n", got "4\\n"');
  });
});

describe('compareTrim', () => {
  it('ignores trailing whitespace per line and final newlines', () => {
    expect(compareTrim('1 2  \n3\t\n\n\n', '1 2\n3').equal).toBe(true);
    expect(compareTrim('1\r\n2\r\n', '1\n2\n').equal).toBe(true);
    expect(compareTrim('', '\n\n').equal).toBe(true);
  });

  it('keeps leading whitespace and blank lines in the middle significant', () => {
    expect(compareTrim(' 1\n', '1\n').equal).toBe(false);
    expect(compareTrim('1\n\n2\n', '1\n2\n').equal).toBe(false);
    expect(compareTrim('1 2\n', '1  2\n').equal).toBe(false);
  });

  it('names the first differing line, or the line count', () => {
    expect(compareTrim('a\nb\nc\n', 'a\nx\nc\n').message).toBe('line 2: expected "x", got "b"');
    expect(compareTrim('a\n', 'a\nb\n').message).toBe('expected 2 lines, got 1');
    expect(compareTrim('a\nb\n', 'a\n').message).toBe('expected 1 lines, got 2 (extra: "b")');
  });

  it('splits into lines without trailing blanks', () => {
    expect(trimmedLines('a  \nb\n\n')).toEqual(['a', 'b']);
  });
});

describe('compareTokens', () => {
  it('ignores all whitespace between tokens', () => {
    expect(compareTokens('1   2\n\n3\t4', '1 2 3 4\n').equal).toBe(true);
    expect(compareTokens('  ', '').equal).toBe(true);
  });

  it('compares tokens as text', () => {
    expect(compareTokens('1.0', '1').equal).toBe(false);
    expect(compareTokens('1 2 3', '1 2').message).toBe('expected 2 tokens, got 3');
    expect(compareTokens('YES', 'yes').message).toBe('token 1: expected "yes", got "YES"');
  });
});

describe('compareFloat', () => {
  it('accepts numbers within the default tolerance of 1e-6', () => {
    expect(compareFloat('3.1415927', '3.14159265').equal).toBe(true);
    expect(compareFloat('3.1416', '3.14159265').equal).toBe(false);
  });

  it('accepts a difference within either the absolute or the relative tolerance', () => {
    expect(compareFloat('1000.5', '1000', { absTolerance: 1 }).equal).toBe(true);
    expect(compareFloat('1000.5', '1000', { absTolerance: 0.1 }).equal).toBe(false);
    expect(compareFloat('1000.5', '1000', { relTolerance: 1e-3 }).equal).toBe(true);
    expect(compareFloat('1000.5', '1000', { relTolerance: 1e-4 }).equal).toBe(false);
    expect(compareFloat('1000.5', '1000', { absTolerance: 0.1, relTolerance: 1e-3 }).equal).toBe(true);
  });

  it('treats an exact match as equal even with zero tolerance, rounding aside', () => {
    expect(compareFloat(String(0.1 + 0.2), '0.3', { absTolerance: 0 }).equal).toBe(true);
    expect(compareFloat('1e3', '1000.000', { absTolerance: 0 }).equal).toBe(true);
  });

  it('compares non-numeric tokens exactly', () => {
    expect(compareFloat('Case #1: 0.5000001', 'Case #1: 0.5').equal).toBe(true);
    expect(compareFloat('case #1: 0.5', 'Case #1: 0.5').equal).toBe(false);
    expect(compareFloat('nan', 'nan').equal).toBe(true);
    expect(compareFloat('inf', '1e309').equal).toBe(false);
  });

  it('reports the first token outside the tolerance', () => {
    expect(compareFloat('1.0 2.5', '1 2.0').message).toBe('token 2: expected "2.0", got "2.5"');
    expect(compareFloat('1.0', '1 2').message).toBe('expected 2 tokens, got 1');
  });
});

describe('compareOutput', () => {
  it('uses trim mode by default', () => {
    expect(compareOutput('5 \n\n', '5').equal).toBe(true);
    expect(compareOutput('5 \n', '5', { mode: 'exact' }).equal).toBe(false);
  });

  it('passes the tolerances to float mode', () => {
    expect(compareOutput('0.51', '0.5', { mode: 'float', absTolerance: 0.05 }).equal).toBe(true);
  });
});
