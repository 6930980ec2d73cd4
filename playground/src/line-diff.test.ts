import { describe, expect, it } from 'vitest';
import { compileErrorLine, diffLines, parseTestSet } from './line-diff.js';

describe('diffLines', () => {
  it('marks the lines only in expected and only in actual, keeping common ones', () => {
    expect(diffLines('1\n2\n3\n', '1\n5\n3\n')).toEqual([
      { kind: 'same', text: '1' },
      { kind: 'expected', text: '2' },
      { kind: 'actual', text: '5' },
      { kind: 'same', text: '3' },
    ]);
  });
  it('handles missing and extra lines', () => {
    expect(diffLines('a\nb', 'a').map((l) => l.kind)).toEqual(['same', 'expected']);
    expect(diffLines('a', 'a\nb').map((l) => l.kind)).toEqual(['same', 'actual']);
  });
});

describe('compileErrorLine', () => {
  it.each([
    ['main.cpp: In function ‘int main()’:\nmain.cpp:4:12: error: expected ‘;’', 'main.cpp', 4],
    ['error[E0425]: cannot find value\n --> main.rs:3:5', 'main.rs', 3],
    ['./main.go:7:2: undefined: x', 'main.go', 7],
    ['Main.java:2: error: ; expected', 'Main.java', 2],
    ['main.ts(9,1): error TS2304', 'main.ts', 9],
    ['  File "/box/main.py", line 5\n    x = (\n', 'main.py', 5],
  ])('finds the line in %j', (output, file, line) => {
    expect(compileErrorLine(output, file)).toBe(line);
  });
  it('is null when the output blames no line of the file', () => {
    expect(compileErrorLine('collect2: error: ld returned 1 exit status', 'main.cpp')).toBeNull();
  });
});

describe('parseTestSet', () => {
  it('reads boxrun, Judge0 and input/output shapes', () => {
    expect(
      parseTestSet(
        '[{"stdin":"1","expectedOutput":"2"},{"stdin":"3","expected_output":"4"},{"input":"5","output":"6"}]',
      ),
    ).toEqual([
      { stdin: '1', expectedOutput: '2' },
      { stdin: '3', expectedOutput: '4' },
      { stdin: '5', expectedOutput: '6' },
    ]);
  });
  it('names the test that lacks an expected output', () => {
    expect(() => parseTestSet('[{"stdin":"1"}]')).toThrow('test 1');
  });
});
