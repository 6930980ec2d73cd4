import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { JUnitParseError, parseJUnitXml } from './junit-xml.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/judge/reports/${name}`, import.meta.url), 'utf8');

describe('parseJUnitXml', () => {
  // Written by pytest 7.2 (Debian's python3-pytest) in the python image.
  it('reads a passing pytest report', () => {
    expect(parseJUnitXml(fixture('pytest-pass.xml'))).toEqual({
      passed: 2,
      failed: 0,
      skipped: 0,
      total: 2,
      failures: [],
    });
  });

  it('counts pytest failures, errors, skips and xfails', () => {
    const report = parseJUnitXml(fixture('pytest-fail.xml'));
    expect(report).toMatchObject({ passed: 2, failed: 3, skipped: 2, total: 7 });
  });

  it('takes the message and the location of each pytest failure', () => {
    const { failures } = parseJUnitXml(fixture('pytest-fail.xml'));
    expect(failures).toEqual([
      {
        name: 'test_sample.test_add_wrong',
        message: 'AssertionError: two and two\nassert 4 == 5\n +  where 4 = add(2, 2)',
        file: 'test_sample.py',
        line: 10,
      },
      { name: 'test_sample.test_error', message: 'ValueError: boom', file: 'test_sample.py', line: 17 },
      {
        name: 'test_sample.test_fixture_error',
        message: 'failed on setup with "RuntimeError: fixture broke"',
        file: 'test_sample.py',
        line: 21,
      },
    ]);
  });

  it('reads a Surefire report: a bare <testsuite> with properties, CDATA traces and system-out', () => {
    const report = parseJUnitXml(fixture('surefire-TEST-com.example.CalculatorTest.xml'));
    expect(report).toMatchObject({ passed: 1, failed: 2, skipped: 1, total: 4 });
    expect(report.failures).toEqual([
      {
        name: 'com.example.CalculatorTest.subtractsTwoNumbers',
        message: 'expected: <1> but was: <-1>',
        file: 'CalculatorTest.java',
        line: 21,
      },
      {
        name: 'com.example.CalculatorTest.dividesByZero',
        message: '/ by zero',
        file: 'CalculatorTest.java',
        line: 27,
      },
    ]);
  });

  it('walks nested suites and takes file/line attributes when present', () => {
    const xml = `<testsuites name="jest tests">
      <testsuite name="outer"><testsuite name="inner">
        <testcase name="a" file="src/a.test.js" line="12"><failure>boom
at x</failure></testcase>
        <testcase name="b"/>
      </testsuite></testsuite>
      <testsuite name="other"><testcase name="c"><skipped/></testcase></testsuite>
    </testsuites>`;
    expect(parseJUnitXml(xml)).toEqual({
      passed: 1,
      failed: 1,
      skipped: 1,
      total: 3,
      failures: [{ name: 'a', message: 'boom', file: 'src/a.test.js', line: 12 }],
    });
  });

  it('keeps names and messages as text', () => {
    const xml =
      '<testsuite><testcase classname="t" name="1e3"><failure message="&lt;b&gt; &amp; 007"/></testcase></testsuite>';
    expect(parseJUnitXml(xml).failures).toEqual([{ name: 't.1e3', message: '<b> & 007' }]);
  });

  it('reads an empty report as no tests', () => {
    expect(parseJUnitXml('<?xml version="1.0"?><testsuites/>')).toMatchObject({ total: 0 });
    expect(parseJUnitXml('<testsuites><testsuite name="x" tests="0"/></testsuites>')).toMatchObject({
      total: 0,
    });
  });

  it('refuses malformed XML and documents that are not JUnit', () => {
    expect(() => parseJUnitXml('<testsuite><testcase></testsuite>')).toThrow(JUnitParseError);
    expect(() => parseJUnitXml('<html><body/></html>')).toThrow(/not a JUnit report/);
    expect(() => parseJUnitXml('')).toThrow(JUnitParseError);
  });
});
