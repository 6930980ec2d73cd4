import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { TestFailure, TestReport } from '../core/test-report.js';

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: '@',
  textNodeName: '#text',
  // Keep attribute values and texts as strings: a test named "1e3" stays "1e3".
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  // Character references (&#10; in pytest's messages) are decoded only with this on.
  htmlEntities: true,
  isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
});

export class JUnitParseError extends Error {
  override readonly name = 'JUnitParseError';
}

function attrs(node: XmlNode): Record<string, string> {
  return (node['@'] as Record<string, string> | undefined) ?? {};
}

function textOf(node: unknown): string {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object') {
    const text = (node as XmlNode)['#text'];
    return typeof text === 'string' ? text : '';
  }
  return '';
}

function children(node: XmlNode, name: string): XmlNode[] {
  const value = node[name];
  if (!Array.isArray(value)) return [];
  // `<skipped/>` parses to '' — still an element.
  return value.map((v) => (v && typeof v === 'object' ? (v as XmlNode) : { '#text': String(v ?? '') }));
}

/**
 * Where a failure happened, from what the report gives: `file`/`line` attributes (pytest's xunit1,
 * Jest, Go converters), else the failure's text — pytest ends it with `test_x.py:10: AssertionError`,
 * a Java stack trace has `at pkg.Class.method(Class.java:12)`.
 */
function locate(testcase: Record<string, string>, text: string): { file?: string; line?: number } {
  if (testcase.file) {
    return {
      file: testcase.file,
      ...(testcase.line && /^\d+$/.test(testcase.line) ? { line: Number(testcase.line) } : {}),
    };
  }
  const className = testcase.classname ?? '';
  if (className) {
    const escaped = className.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const frame = new RegExp(
      `at ${escaped}\\.[\\w$<>]+\\(([\\w$]+\\.(?:java|kt|scala|groovy)):(\\d+)\\)`,
    ).exec(text);
    if (frame) return { file: frame[1]!, line: Number(frame[2]) };
  }
  const python = [...text.matchAll(/^([^\s:][^:\n]*\.py):(\d+): \w/gm)].pop();
  if (python) return { file: python[1]!, line: Number(python[2]) };
  return {};
}

function failureMessage(element: XmlNode): string {
  const a = attrs(element);
  const text = textOf(element).trim();
  const message = a.message?.trim() || text.split('\n')[0] || a.type || 'failed';
  return message;
}

function collectSuites(node: XmlNode, out: XmlNode[]): void {
  for (const suite of children(node, 'testsuite')) {
    out.push(suite);
    // Nested suites (some runners, e.g. Jest and Ant, nest them).
    collectSuites(suite, out);
  }
}

/**
 * JUnit XML (pytest `--junitxml`, Maven Surefire's TEST-*.xml, Gradle, go-junit-report, …) → report.
 * Counts come from the `<testcase>` elements, not from the suites' attributes (which some writers
 * get wrong, and which count `error` apart from `failure`): a testcase with `<failure>` or `<error>`
 * failed, one with `<skipped>` (pytest's xfail included) was skipped, any other passed.
 */
export function parseJUnitXml(xml: string): TestReport {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    throw new JUnitParseError(`invalid XML at line ${valid.err.line}: ${valid.err.msg}`);
  }
  const doc = parser.parse(xml) as XmlNode;
  const suites: XmlNode[] = [];
  const root = doc.testsuites;
  if (root && typeof root === 'object') collectSuites(root as XmlNode, suites);
  else if (root === '') {
    // An empty <testsuites/>: no tests ran.
  } else collectSuites(doc, suites);
  if (suites.length === 0 && !('testsuites' in doc)) {
    throw new JUnitParseError('not a JUnit report: no <testsuites> or <testsuite> element');
  }

  const report: TestReport = { passed: 0, failed: 0, skipped: 0, total: 0, failures: [] };
  for (const suite of suites) {
    for (const testcase of children(suite, 'testcase')) {
      const a = attrs(testcase);
      report.total++;
      const problems = [...children(testcase, 'failure'), ...children(testcase, 'error')];
      if (problems.length > 0) {
        report.failed++;
        const first = problems[0]!;
        const name = a.classname ? `${a.classname}.${a.name ?? ''}` : (a.name ?? attrs(suite).name ?? 'test');
        const failure: TestFailure = { name, message: failureMessage(first), ...locate(a, textOf(first)) };
        report.failures.push(failure);
      } else if (children(testcase, 'skipped').length > 0) {
        report.skipped++;
      } else {
        report.passed++;
      }
    }
  }
  return report;
}
