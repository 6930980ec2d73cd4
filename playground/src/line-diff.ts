export interface DiffLine {
  kind: 'same' | 'expected' | 'actual';
  text: string;
}

/**
 * Expected vs actual output, line by line (longest common subsequence), for a wrong answer.
 * Outputs past a few thousand lines are compared position by position instead: the table would
 * cost lines² memory, and nobody reads such a diff whole.
 */
export function diffLines(expected: string, actual: string): DiffLine[] {
  const a = expected.replace(/\n$/, '').split('\n');
  const b = actual.replace(/\n$/, '').split('\n');
  if (a.length * b.length > 4_000_000) {
    const out: DiffLine[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (a[i] === b[i]) out.push({ kind: 'same', text: a[i]! });
      else {
        if (i < a.length) out.push({ kind: 'expected', text: a[i]! });
        if (i < b.length) out.push({ kind: 'actual', text: b[i]! });
      }
    }
    return out;
  }
  // lcs[i][j]: common lines of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Uint32Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i++]! });
      j++;
    } else if (j >= b.length || (i < a.length && lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ kind: 'expected', text: a[i++]! });
    } else {
      out.push({ kind: 'actual', text: b[j++]! });
    }
  }
  return out;
}

/** The first line of the source file a compiler blames (gcc, clang, rustc, go, javac, tsc, python). */
export function compileErrorLine(output: string, sourceFile: string): number | null {
  const file = sourceFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const patterns = [
    new RegExp(`(?:^|[\\s/])${file}[:(](\\d+)`, 'm'),
    new RegExp(`File "[^"]*${file}", line (\\d+)`),
  ];
  for (const pattern of patterns) {
    const match = output.match(pattern);
    if (match) return Number(match[1]);
  }
  return null;
}

export interface TestPair {
  stdin: string;
  expectedOutput: string;
}

/**
 * Test sets pasted in the shapes people already have: boxrun's own `[{stdin, expectedOutput}]`,
 * Judge0's `[{stdin, expected_output}]`, and `[{input, output}]` / `[{input, expected}]`.
 */
export function parseTestSet(text: string): TestPair[] {
  const data: unknown = JSON.parse(text);
  const list = Array.isArray(data) ? data : (data as { tests?: unknown; submissions?: unknown }).tests;
  if (!Array.isArray(list)) throw new Error('expected a JSON array of tests');
  return list.map((item, i) => {
    const t = item as Record<string, unknown>;
    const stdin = t.stdin ?? t.input ?? '';
    const expected = t.expectedOutput ?? t.expected_output ?? t.expected ?? t.output;
    if (typeof stdin !== 'string' || typeof expected !== 'string') {
      throw new Error(`test ${i + 1}: needs a string input and a string expected output`);
    }
    return { stdin, expectedOutput: expected };
  });
}
