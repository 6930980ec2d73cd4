import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/server/auth.js';
import { api, eventually, type Json, type RunningService, startService, tempDir } from './service-harness.js';

/**
 * boxrun as a drop-in for Judge0 CE (/judge0): its documented examples (judge0/judge0
 * docs/api/submissions/*.md), judging, base64, batches, callbacks and X-Auth-Token, on real Docker.
 * The docs' examples use Judge0's old language ids (4: C, 70: Python 2); here they are 50 and 71.
 */

const KEY = 'judge0-test-key';
const AUTH = { 'x-auth-token': KEY };
const C_HELLO =
  '#include <stdio.h>\n\nint main(void) {\n  char name[10];\n  scanf("%s", name);\n  printf("hello, %s\\n", name);\n  return 0;\n}';

let svc: RunningService;
const tmp = tempDir();

/** The raw response text, for byte-for-byte comparisons. */
async function raw(method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) {
  const res = await fetch(`${svc.url}/judge0${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}
const j0 = (method: string, path: string, body?: unknown, headers: Record<string, string> = AUTH) =>
  api(`${svc.url}/judge0`, method, path, body, headers);

beforeAll(async () => {
  svc = await startService(tmp.dir, {
    server: {
      maxConcurrent: 2,
      apiKeys: [{ name: 'judge', sha256: hashApiKey(KEY) }],
      allowPrivateCallbacks: true,
      webhookBackoffMs: 200,
    },
  });
});

afterAll(async () => {
  await svc?.close();
  tmp.remove();
});

describe("Judge0's documented examples", () => {
  it('creates a submission and answers with its token (201)', async () => {
    const res = await raw('POST', '/submissions', { source_code: C_HELLO, language_id: 50, stdin: 'world' });
    expect(res.status).toBe(201);
    expect(res.text).toMatch(/^\{"token":"[0-9a-f-]{36}"\}$/);
  });

  it('refuses a submission without language_id (422, byte for byte)', async () => {
    const res = await raw('POST', '/submissions', { source_code: C_HELLO });
    expect(res).toEqual({ status: 422, text: '{"language_id":["can\'t be blank"]}' });
  });

  it('refuses an unknown language id (422, byte for byte)', async () => {
    const res = await raw('POST', '/submissions', {
      source_code: C_HELLO,
      language_id: 150000,
      stdin: 'world',
      expected_output: 'hello, world',
    });
    expect(res).toEqual({ status: 422, text: '{"language_id":["language with id 150000 doesn\'t exist"]}' });
  });

  it('refuses a wall_time_limit over the maximum (this host: 20 s, as judge0.conf)', async () => {
    const res = await raw('POST', '/submissions', {
      source_code: C_HELLO,
      language_id: 50,
      number_of_runs: 1,
      stdin: 'Judge0',
      expected_output: 'hello, Judge0',
      cpu_time_limit: 1,
      cpu_extra_time: 0.5,
      wall_time_limit: 100000,
      memory_limit: 128000,
      stack_limit: 128000,
      enable_per_process_and_thread_time_limit: false,
      enable_per_process_and_thread_memory_limit: false,
      max_file_size: 1024,
    });
    expect(res).toEqual({ status: 422, text: '{"wall_time_limit":["must be less than or equal to 20"]}' });
  });

  it('waits for the result and judges it Accepted (wait=true)', async () => {
    const res = await raw('POST', '/submissions?wait=true', {
      source_code: C_HELLO,
      language_id: '50',
      stdin: 'Judge0',
      expected_output: 'hello, Judge0',
    });
    expect(res.status).toBe(201);
    const body = JSON.parse(res.text);
    expect(Object.keys(body)).toEqual([
      'token',
      'time',
      'memory',
      'stdout',
      'stderr',
      'compile_output',
      'message',
      'status',
    ]);
    expect(body).toMatchObject({
      stdout: 'hello, Judge0\n',
      stderr: null,
      compile_output: null,
      message: null,
      status: { id: 3, description: 'Accepted' },
    });
    expect(body.time).toMatch(/^\d+\.\d{3}$/);
    expect(Number.isInteger(body.memory)).toBe(true);
  }, 900_000);

  it('accepts base64 encoded source and stdin (base64_encoded=true)', async () => {
    const res = await j0('POST', '/submissions?base64_encoded=true&wait=true', {
      source_code: Buffer.from(C_HELLO).toString('base64'),
      language_id: 50,
      stdin: 'SnVkZ2Uw',
    });
    expect(res.status).toBe(201);
    expect(Buffer.from(res.json.stdout, 'base64').toString()).toBe('hello, Judge0\n');
  }, 900_000);

  it('answers the UTF-8 conversion error with the token when output is not UTF-8 (wait=true)', async () => {
    const res = await j0('POST', '/submissions?wait=true', {
      language_id: 71,
      source_code: 'import sys\nsys.stdout.buffer.write(b"\\xFE")',
    });
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      token: expect.stringMatching(/^[0-9a-f-]{36}$/),
      error:
        'some attributes for this submission cannot be converted to UTF-8, use base64_encoded=true query parameter',
    });
    const again = await j0(
      'GET',
      `/submissions/${res.json.token}?base64_encoded=true&fields=stdout,status_id`,
    );
    expect(again.json).toEqual({ stdout: '/g==', status_id: 3 });
  });

  it('lists the statuses (byte for byte)', async () => {
    const res = await raw('GET', '/statuses');
    expect(res.text).toBe(
      JSON.stringify([
        { id: 1, description: 'In Queue' },
        { id: 2, description: 'Processing' },
        { id: 3, description: 'Accepted' },
        { id: 4, description: 'Wrong Answer' },
        { id: 5, description: 'Time Limit Exceeded' },
        { id: 6, description: 'Compilation Error' },
        { id: 7, description: 'Runtime Error (SIGSEGV)' },
        { id: 8, description: 'Runtime Error (SIGXFSZ)' },
        { id: 9, description: 'Runtime Error (SIGFPE)' },
        { id: 10, description: 'Runtime Error (SIGABRT)' },
        { id: 11, description: 'Runtime Error (NZEC)' },
        { id: 12, description: 'Runtime Error (Other)' },
        { id: 13, description: 'Internal Error' },
        { id: 14, description: 'Exec Format Error' },
      ]),
    );
  });

  it('lists languages and shows one', async () => {
    const list = (await j0('GET', '/languages')).json as Json[];
    expect(list).toContainEqual({ id: 71, name: 'Python (3.11.2)' });
    expect(list).toContainEqual({ id: 54, name: 'C++ (GCC 12.2.0)' });
    const one = await j0('GET', '/languages/54');
    expect(one.json).toMatchObject({ id: 54, is_archived: false, source_file: 'main.cpp' });
    expect(one.json.compile_cmd).toContain('%s');
    expect((await j0('GET', '/languages/4')).status).toBe(404);
  });

  it('answers /about, /config_info and /workers', async () => {
    expect((await j0('GET', '/about')).json).toHaveProperty('version');
    expect((await j0('GET', '/config_info')).json).toMatchObject({
      cpu_time_limit: 5,
      max_cpu_time_limit: 15,
      memory_limit: 128000,
      max_memory_limit: 512000,
      max_submission_batch_size: 20,
    });
    expect((await j0('GET', '/workers')).json[0]).toHaveProperty('working');
  });
});

describe('Judge0 submissions', () => {
  const wait = (body: Record<string, unknown>, query = '') =>
    j0('POST', `/submissions?wait=true${query}`, body);

  it('judges expected_output: 3 Accepted, then 4 Wrong Answer', async () => {
    const code = 'print(int(input()) * 2)';
    const ok = await wait({ source_code: code, language_id: 71, stdin: '21', expected_output: '42' });
    expect(ok.json.status).toEqual({ id: 3, description: 'Accepted' });
    const wrong = await wait({ source_code: code, language_id: 71, stdin: '21', expected_output: '43' });
    expect(wrong.json.status).toEqual({ id: 4, description: 'Wrong Answer' });
  });

  it('reports compile errors, runtime errors by signal and NZEC, and time limits', async () => {
    const status = async (language_id: number, source_code: string, extra: Record<string, unknown> = {}) =>
      (
        await wait(
          { language_id, source_code, ...extra },
          '&fields=status,compile_output,exit_code,exit_signal',
        )
      ).json;
    const ce = await status(50, 'int main( {');
    expect(ce.status.id).toBe(6);
    expect(ce.compile_output).toMatch(/error/);
    expect((await status(50, 'int main(void){ int *p = 0; return *p; }')).status.id).toBe(7);
    expect((await status(50, '#include <stdlib.h>\nint main(void){ abort(); }')).status.id).toBe(10);
    expect(await status(71, 'import sys; sys.exit(3)')).toMatchObject({ status: { id: 11 }, exit_code: 3 });
    expect((await status(71, 'while True: pass', { cpu_time_limit: 1, wall_time_limit: 3 })).status.id).toBe(
      5,
    );
  }, 900_000);

  it('runs Java whatever the public class is called', async () => {
    const res = await wait({
      language_id: 62,
      source_code:
        'public class Solution { public static void main(String[] a) { System.out.println("java ok"); } }',
    });
    expect(res.json).toMatchObject({ stdout: 'java ok\n', status: { id: 3 } });
  }, 900_000);

  it('round-trips non-UTF-8 bytes in base64 (stdin in, stdout out)', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a]);
    const res = await wait(
      {
        language_id: 71,
        source_code: Buffer.from('import sys\nsys.stdout.buffer.write(sys.stdin.buffer.read())').toString(
          'base64',
        ),
        stdin: bytes.toString('base64'),
        expected_output: bytes.toString('base64'),
      },
      '&base64_encoded=true&fields=stdout,stdin,status',
    );
    expect(res.json).toEqual({
      stdout: bytes.toString('base64'),
      stdin: bytes.toString('base64'),
      status: { id: 3, description: 'Accepted' },
    });
  });

  it('applies redirect_stderr_to_stdout, command_line_arguments, compiler_options and additional_files', async () => {
    const zip = Buffer.from(zipSync({ 'data.txt': Buffer.from('from zip') })).toString('base64');
    const py = await wait(
      {
        language_id: 71,
        source_code:
          'import sys\nprint(open("data.txt").read(), sys.argv[1:])\nprint("err", file=sys.stderr)',
        command_line_arguments: 'a b',
        redirect_stderr_to_stdout: true,
        additional_files: zip,
      },
      '&fields=stdout,stderr,command_line_arguments,redirect_stderr_to_stdout',
    );
    expect(py.json).toEqual({
      stdout: "from zip ['a', 'b']\nerr\n",
      stderr: null,
      command_line_arguments: 'a b',
      redirect_stderr_to_stdout: true,
    });
    const c = await wait(
      {
        language_id: 50,
        source_code: '#include <stdio.h>\nint main(void){ printf("%d\\n", VALUE); }',
        compiler_options: '-DVALUE=7',
      },
      '&fields=stdout,compiler_options',
    );
    expect(c.json).toEqual({ stdout: '7\n', compiler_options: '-DVALUE=7' });
  }, 900_000);

  it('runs number_of_runs times and reports one result', async () => {
    const res = await wait(
      { language_id: 71, source_code: 'print(1)', number_of_runs: 3 },
      '&fields=stdout,number_of_runs,status',
    );
    expect(res.json).toEqual({
      stdout: '1\n',
      number_of_runs: 3,
      status: { id: 3, description: 'Accepted' },
    });
  });

  it('gets a submission with ?fields, refuses unknown fields, 404s an unknown token', async () => {
    const created = await j0('POST', '/submissions', { language_id: 71, source_code: 'print("x")' });
    const done = await eventually(async () => {
      const res = await j0('GET', `/submissions/${created.json.token}?fields=*`);
      return res.json.status.id > 2 ? res.json : undefined;
    });
    expect(done).toMatchObject({
      token: created.json.token,
      source_code: 'print("x")',
      language_id: 71,
      language: { id: 71, name: 'Python (3.11.2)' },
      stdout: 'x\n',
      exit_code: 0,
      cpu_time_limit: '5.0',
      wall_time_limit: '10.0',
      memory_limit: 128000,
      max_processes_and_or_threads: 60,
      number_of_runs: 1,
    });
    expect(done.wall_time).toMatch(/^\d+\.\d{3}$/);
    expect((await raw('GET', `/submissions/${created.json.token}?fields=stdout,nope`)).text).toBe(
      '{"error":"invalid fields: [nope]"}',
    );
    expect(await raw('GET', '/submissions/00000000-0000-0000-0000-000000000000')).toEqual({
      status: 404,
      text: '{"error":"Not Found"}',
    });
    expect(await raw('DELETE', `/submissions/${created.json.token}`)).toEqual({
      status: 400,
      text: '{"error":"delete not allowed"}',
    });
  });

  it('creates and gets a batch of 20', async () => {
    const submissions = Array.from({ length: 20 }, (_, i) => ({
      language_id: 71,
      source_code: `print(${i})`,
      expected_output: String(i),
    }));
    const created = await j0('POST', '/submissions/batch', { submissions });
    expect(created.status).toBe(201);
    expect(created.json).toHaveLength(20);
    const tokens = (created.json as Json[]).map((t) => t.token).join(',');
    const all = await eventually(async () => {
      const res = await j0('GET', `/submissions/batch?tokens=${tokens}&fields=token,stdout,status_id`);
      return (res.json.submissions as Json[]).every((s) => s.status_id > 2)
        ? res.json.submissions
        : undefined;
    }, 300_000);
    expect((all as Json[]).map((s) => [s.stdout, s.status_id])).toEqual(
      submissions.map((_, i) => [`${i}\n`, 3]),
    );
    const tooMany = await raw('POST', '/submissions/batch', {
      submissions: [...submissions, submissions[0]],
    });
    expect(tooMany).toEqual({
      status: 400,
      text: '{"error":"number of submissions in a batch should be less than or equal to 20"}',
    });
    const mixed = await j0('POST', '/submissions/batch', {
      submissions: [submissions[0], { source_code: 'x' }],
    });
    expect(mixed.status).toBe(201);
    expect(mixed.json[1]).toEqual({ language_id: ["can't be blank"] });
  }, 900_000);

  it("PUTs Judge0's callback: default fields, base64 encoded", async () => {
    const received: { method: string; body: Json }[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push({ method: req.method ?? '', body: JSON.parse(body) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const port = (receiver.address() as AddressInfo).port;
      const created = await j0('POST', '/submissions', {
        language_id: 71,
        source_code: 'print("called back")',
        callback_url: `http://127.0.0.1:${port}/judge0-callback`,
      });
      const got = await eventually(async () => received[0]);
      expect(got.method).toBe('PUT');
      expect(Object.keys(got.body)).toEqual([
        'token',
        'time',
        'memory',
        'stdout',
        'stderr',
        'compile_output',
        'message',
        'status',
      ]);
      expect(got.body).toMatchObject({
        token: created.json.token,
        stdout: Buffer.from('called back\n').toString('base64'),
        status: { id: 3, description: 'Accepted' },
      });
    } finally {
      await new Promise((r) => receiver.close(r));
    }
  });

  it('answers 401 with an empty body for a bad X-Auth-Token', async () => {
    expect(await raw('GET', '/statuses', undefined, { 'x-auth-token': 'wrong' })).toEqual({
      status: 401,
      text: '',
    });
    expect(await raw('POST', '/submissions', { language_id: 71, source_code: 'print(1)' }, {})).toEqual({
      status: 401,
      text: '',
    });
  });
});
