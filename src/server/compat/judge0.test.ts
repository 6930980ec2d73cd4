import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../core/result.js';
import { defaultRegistry } from '../../runtimes/registry.js';
import type { ExecutionRecord } from '../../store/execution-store.js';
import { JUDGE0_STATUSES, judge0Languages, mapSubmission, parseFields, submissionView } from './judge0.js';
import { PistonRuntimes } from './piston-runtimes.js';

const languages = judge0Languages(defaultRegistry, new PistonRuntimes(defaultRegistry));

function record(request: Record<string, unknown>, result: Partial<ExecutionResult> | null): ExecutionRecord {
  return {
    id: 'tok',
    seq: 1,
    caller: 'anonymous',
    batchId: null,
    runtime: 'python',
    state: result ? 'done' : 'queued',
    attempts: 1,
    request,
    callbackUrl: null,
    result: result
      ? ({
          status: 'ok',
          exitCode: 0,
          signal: null,
          stdout: '',
          stderr: '',
          stdoutEncoding: 'utf8',
          stderrEncoding: 'utf8',
          durationMs: 12,
          cpuTimeMs: 8,
          peakMemoryBytes: 3 * 1024 * 1024,
          ...result,
        } as ExecutionResult)
      : null,
    error: null,
    createdAt: 0,
    startedAt: result ? 1 : null,
    finishedAt: result ? 2 : null,
  };
}

describe('Judge0 languages and statuses', () => {
  it('maps the ids clients hard-code onto boxrun runtimes with what really runs', () => {
    expect(languages.find((l) => l.id === 71)).toMatchObject({ name: 'Python (3.11.2)' });
    expect(languages.find((l) => l.id === 54)).toMatchObject({ name: 'C++ (GCC 12.2.0)' });
    expect(languages.find((l) => l.id === 62)?.runtime.name).toBe('java');
  });

  it('has the 14 statuses of Judge0', () => {
    expect(JUDGE0_STATUSES).toHaveLength(14);
    expect(JUDGE0_STATUSES[3]).toEqual({ id: 4, description: 'Wrong Answer' });
  });
});

describe('mapSubmission', () => {
  it("validates as Judge0 does, with Rails' messages", () => {
    const r = mapSubmission(
      { language_id: 999, cpu_time_limit: 16, memory_limit: 1000, number_of_runs: 0 },
      languages,
      false,
    );
    expect(r).toEqual({
      ok: false,
      errors: {
        source_code: ["can't be blank"],
        language_id: ["language with id 999 doesn't exist"],
        cpu_time_limit: ['must be less than or equal to 15'],
        memory_limit: ['must be greater than or equal to 2048'],
        number_of_runs: ['must be greater than 0'],
      },
    });
  });

  it("applies Judge0's defaults and maps limits to boxrun's units", () => {
    const r = mapSubmission(
      { source_code: 'print(1)', language_id: 71, command_line_arguments: 'a b;rm' },
      languages,
      false,
    );
    if (!r.ok) throw new Error('refused');
    expect(r.value.request).toMatchObject({
      runtime: 'python',
      argv: ['a', 'brm'],
      limits: { cpuTimeMs: 5000, timeoutMs: 10_000, memoryMb: 125, pids: 60, diskMb: 1 },
      network: 'none',
    });
  });

  it('unpacks additional_files from a base64 zip', () => {
    const zip = Buffer.from(zipSync({ 'data/input.txt': Buffer.from('42') })).toString('base64');
    const r = mapSubmission({ source_code: 'x', language_id: 71, additional_files: zip }, languages, false);
    if (!r.ok) throw new Error('refused');
    expect(r.value.request.files?.[1]).toEqual({
      path: 'data/input.txt',
      content: Buffer.from('42').toString('base64'),
      encoding: 'base64',
    });
    expect(
      mapSubmission(
        { source_code: 'x', language_id: 71, additional_files: 'bm90IGEgemlw' },
        languages,
        false,
      ),
    ).toMatchObject({
      ok: false,
      errors: { additional_files: [expect.any(String)] },
    });
  });
});

describe('submissionView', () => {
  const mapped = mapSubmission(
    { source_code: 'print(1)', language_id: 71, expected_output: '1' },
    languages,
    false,
  );
  if (!mapped.ok) throw new Error('refused');
  const request = mapped.value.request as Record<string, unknown>;

  it('judges expected_output: 3 when it matches, 4 when not', () => {
    const ok = submissionView(
      record(request, { stdout: '1\n' }),
      ['status', 'stdout', 'time', 'memory'],
      false,
      languages,
    );
    expect(ok.body).toEqual({
      status: { id: 3, description: 'Accepted' },
      stdout: '1\n',
      time: '0.008',
      memory: 3072,
    });
    const wa = submissionView(record(request, { stdout: '2\n' }), ['status'], false, languages);
    expect(wa.body).toEqual({ status: { id: 4, description: 'Wrong Answer' } });
  });

  it('maps signals and exit codes onto the runtime error statuses', () => {
    const of = (r: Partial<ExecutionResult>) =>
      (submissionView(record(request, r), ['status'], false, languages).body.status as { id: number }).id;
    expect(of({ status: 'runtime_error', signal: 'SIGSEGV', exitCode: null })).toBe(7);
    expect(of({ status: 'runtime_error', signal: 'SIGFPE', exitCode: null })).toBe(9);
    expect(of({ status: 'runtime_error', signal: 'SIGABRT', exitCode: null })).toBe(10);
    expect(of({ status: 'runtime_error', exitCode: 1 })).toBe(11);
    expect(of({ status: 'time_limit', signal: 'SIGKILL', exitCode: null })).toBe(5);
    expect(of({ status: 'internal_error' })).toBe(13);
  });

  it('is In Queue before it runs, and base64-encodes output that is not UTF-8', () => {
    expect(submissionView(record(request, null), ['status'], false, languages).body).toEqual({
      status: { id: 1, description: 'In Queue' },
    });
    const bytes = Buffer.from([0xff, 0xfe, 0x41]);
    const r = record(request, { stdout: bytes.toString('base64'), stdoutEncoding: 'base64' });
    expect(submissionView(r, ['stdout'], false, languages).unconvertible).toBe(true);
    expect(submissionView(r, ['stdout'], true, languages).body).toEqual({ stdout: bytes.toString('base64') });
  });
});

describe('parseFields', () => {
  it('defaults, expands * and refuses unknown names', () => {
    expect(parseFields(undefined)).toEqual({
      fields: ['token', 'time', 'memory', 'stdout', 'stderr', 'compile_output', 'message', 'status'],
    });
    expect(parseFields('*')).toMatchObject({ fields: expect.arrayContaining(['language', 'wall_time']) });
    expect(parseFields('stdout,bogus')).toEqual({ invalid: ['bogus'] });
  });
});
