import { parse as parseYaml } from 'yaml';
import type { TestFailure, TestReport } from '../core/test-report.js';

interface TestPoint {
  ok: boolean;
  name: string;
  directive: 'skip' | 'todo' | null;
  reason: string;
  diagnostics: Record<string, unknown> | null;
  children: TestPoint[];
}

const POINT = /^(not )?ok\b(?:\s+(\d+))?(?:\s*-)?\s*(.*)$/;
const DIRECTIVE = /(?:^|\s+)#\s*(skip|todo)\b\S*\s*(.*)$/i;
const PLAN = /^1\.\.(\d+)(?:\s*#\s*(.*))?$/;
const BAIL_OUT = /^Bail out!\s*(.*)$/i;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/** The description, without TAP's `\#` escapes, and the SKIP/TODO directive after an unescaped `#`. */
function splitDirective(rest: string): { name: string; directive: TestPoint['directive']; reason: string } {
  const masked = rest.replace(/\\[\\#]/g, '__');
  const m = DIRECTIVE.exec(masked);
  const cut = m ? m.index : rest.length;
  const name = rest
    .slice(0, cut)
    .trim()
    .replace(/\\([\\#])/g, '$1');
  if (!m) return { name, directive: null, reason: '' };
  return {
    name,
    directive: m[1]!.toLowerCase() as 'skip' | 'todo',
    reason: rest
      .slice(cut)
      .replace(/^\s*#\s*\w+\s*/, '')
      .trim(),
  };
}

function parseDiagnostics(block: string[], indent: number): Record<string, unknown> | null {
  try {
    const value = parseYaml(block.map((l) => l.slice(Math.min(indent, indentOf(l)))).join('\n'));
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function str(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** node:test's `location: '/box/a.test.js:4:1'`, node-tap's `at: {file, line}`. */
function locationOf(diag: Record<string, unknown>): { file?: string; line?: number } {
  const location = diag.location;
  if (typeof location === 'string') {
    const m = /^(.*?):(\d+)(?::\d+)?$/.exec(location);
    if (m) return { file: m[1]!, line: Number(m[2]) };
  }
  const at = diag.at;
  if (at && typeof at === 'object') {
    const { file, line } = at as { file?: unknown; line?: unknown };
    return {
      ...(typeof file === 'string' ? { file } : {}),
      ...(typeof line === 'number' ? { line } : {}),
    };
  }
  return {};
}

function failureOf(point: TestPoint, path: string[]): TestFailure {
  const diag = point.diagnostics ?? {};
  let message = str(diag.error) ?? str(diag.message) ?? str(diag.msg) ?? 'not ok';
  if ('expected' in diag || 'actual' in diag) {
    message += ` (expected: ${str(diag.expected) ?? 'undefined'}, actual: ${str(diag.actual) ?? 'undefined'})`;
  }
  return { name: [...path, point.name || '(unnamed)'].join(' > '), message, ...locationOf(diag) };
}

/**
 * Counts the leaves: a test point with subtests (a node:test `describe`, a TAP 14 subtest) counts
 * through its children, and itself only when it failed with no failing child (a failing hook).
 * TODO points are counted as skipped: TAP does not count their failures.
 */
function tally(points: TestPoint[], path: string[], report: TestReport): boolean {
  let anyFailed = false;
  for (const point of points) {
    if (point.children.length > 0) {
      const childFailed = tally(point.children, [...path, point.name], report);
      anyFailed ||= childFailed;
      if (!point.ok && !childFailed && point.directive === null) {
        report.failed++;
        report.total++;
        report.failures.push(failureOf(point, path));
        anyFailed = true;
      }
      continue;
    }
    report.total++;
    if (point.directive !== null) report.skipped++;
    else if (point.ok) report.passed++;
    else {
      report.failed++;
      report.failures.push(failureOf(point, path));
      anyFailed = true;
    }
  }
  return anyFailed;
}

/**
 * TAP 13/14 (node:test's `--test-reporter=tap`, prove, node-tap, …) → report. Subtests are the
 * indented blocks before their parent's test point; YAML diagnostics (`---` … `...`) give a failure
 * its message and location. A plan that promises more tests than ran, and a `Bail out!`, count
 * as failures.
 */
export function parseTap(output: string): TestReport {
  const lines = output.split(/\r?\n/);
  /** Test points collected at each indentation, waiting for their parent's test point. */
  const pending = new Map<number, TestPoint[]>();
  const lastAt = new Map<number, TestPoint>();
  let plan: { count: number } | null = null;
  let bailOut: string | null = null;
  let topIndent: number | null = null;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const indent = indentOf(line);
    const text = line.trim();
    if (text === '---') {
      // YAML diagnostics of the test point just above, up to `...` at the same indentation.
      const block: string[] = [];
      let j = i + 1;
      for (; j < lines.length; j++) {
        const next = lines[j]!;
        if (next.trim() === '...' && indentOf(next) === indent) break;
        block.push(next);
      }
      const owner = lastAt.get(indent - 2);
      if (owner) owner.diagnostics = parseDiagnostics(block, indent);
      i = j;
      continue;
    }
    const bail = BAIL_OUT.exec(text);
    if (bail) {
      bailOut = bail[1] || 'bailed out';
      break;
    }
    const planMatch = PLAN.exec(text);
    if (planMatch) {
      if (topIndent === null || indent <= topIndent) plan = { count: Number(planMatch[1]) };
      continue;
    }
    const m = POINT.exec(text);
    if (!m) continue;
    const { name, directive, reason } = splitDirective(m[3] ?? '');
    const children: TestPoint[] = [];
    // Deeper points seen since the last point at this level are this point's subtests.
    for (const [level, points] of [...pending.entries()].sort(([a], [b]) => a - b)) {
      if (level > indent) {
        if (children.length === 0) children.push(...points);
        pending.delete(level);
      }
    }
    const point: TestPoint = { ok: !m[1], name, directive, reason, diagnostics: null, children };
    pending.set(indent, [...(pending.get(indent) ?? []), point]);
    lastAt.set(indent, point);
    if (topIndent === null || indent < topIndent) topIndent = indent;
  }

  const top = topIndent === null ? [] : (pending.get(topIndent) ?? []);
  const report: TestReport = { passed: 0, failed: 0, skipped: 0, total: 0, failures: [] };
  tally(top, [], report);
  if (plan && plan.count > top.length && bailOut === null) {
    const missing = plan.count - top.length;
    report.failed += missing;
    report.total += missing;
    report.failures.push({ name: '(plan)', message: `planned ${plan.count} tests, ${top.length} ran` });
  }
  if (bailOut !== null) {
    report.failed++;
    report.total++;
    report.failures.push({ name: 'Bail out!', message: bailOut });
  }
  return report;
}
