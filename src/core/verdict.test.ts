import { describe, expect, it } from 'vitest';
import { classifyStep, encodeBytes, signalName, signalNumber } from './verdict.js';

const base = {
  exitCode: 0,
  signal: 0,
  oomKilled: false,
  timedOut: false,
  outputTruncated: false,
  execError: null,
};

describe('classifyStep', () => {
  it('is ok only for a clean zero exit', () => {
    expect(classifyStep(base)).toBe('ok');
    expect(classifyStep({ ...base, exitCode: 3 })).toBe('runtime_error');
    expect(classifyStep({ ...base, exitCode: null, signal: 11 })).toBe('runtime_error');
  });
  it('prefers memory over time over output limits', () => {
    expect(classifyStep({ ...base, oomKilled: true, timedOut: true, signal: 9 })).toBe('memory_limit');
    expect(classifyStep({ ...base, timedOut: true, outputTruncated: true })).toBe('time_limit');
    expect(classifyStep({ ...base, outputTruncated: true, signal: 9 })).toBe('output_limit');
  });
  it('treats a program that cannot start as a runtime error', () => {
    expect(classifyStep({ ...base, exitCode: 127, execError: 'No such file or directory' })).toBe(
      'runtime_error',
    );
  });
});

describe('signalName / encodeBytes', () => {
  it('names signals', () => {
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(0)).toBeNull();
  });
  it('keeps binary output lossless', () => {
    expect(encodeBytes(Buffer.from('héllo'))).toEqual({ text: 'héllo', encoding: 'utf8' });
    const bin = Buffer.from([0xff, 0x00, 0xfe]);
    const enc = encodeBytes(bin);
    expect(enc.encoding).toBe('base64');
    expect(Buffer.from(enc.text, 'base64')).toEqual(bin);
  });
});

describe('signal names', () => {
  it('uses the usual name of a signal, not an alias', () => {
    expect(signalName(6)).toBe('SIGABRT');
    expect(signalName(29)).toBe('SIGIO');
    expect(signalNumber('SIGABRT')).toBe(6);
    expect(signalNumber(null)).toBeNull();
  });
});
