import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/boxrun.js', import.meta.url));
let client: Client;

const text = (result: Awaited<ReturnType<Client['callTool']>>) =>
  (result.content as { type: string; text: string }[]).map((c) => c.text).join('');

beforeAll(async () => {
  const env = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, 'mcp'],
    env,
    stderr: 'ignore',
  });
  client = new Client({ name: 'boxrun-test', version: '1.0.0' });
  await client.connect(transport);
});

afterAll(async () => {
  await client?.close();
});

describe('boxrun mcp (through the SDK client over stdio)', () => {
  it('lists its tools, each with a JSON schema', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const name of [
      'run_code',
      'create_session',
      'run_command',
      'write_file',
      'read_file',
      'list_runtimes',
    ]) {
      expect(names).toContain(name);
    }
    const runCode = tools.find((t) => t.name === 'run_code')!;
    expect(runCode.inputSchema.type).toBe('object');
    expect(runCode.inputSchema.required).toEqual(expect.arrayContaining(['language', 'code']));
    expect(runCode.description).toMatch(/python/);
  });

  it('lists runtimes', async () => {
    const result = await client.callTool({ name: 'list_runtimes', arguments: {} });
    const runtimes = JSON.parse(text(result)) as { name: string }[];
    expect(runtimes.map((r) => r.name)).toContain('python');
  });

  it('runs code once, failures of the program being results', async () => {
    const ok = await client.callTool({
      name: 'run_code',
      arguments: { language: 'python', code: 'print(6*7)' },
    });
    expect(ok.isError).toBeFalsy();
    expect(JSON.parse(text(ok))).toMatchResult({ status: 'ok', exitCode: 0, stdout: '42\n' });
    const failing = await client.callTool({
      name: 'run_code',
      arguments: { language: 'py', code: 'import sys\nsys.exit(4)' },
    });
    expect(failing.isError).toBeFalsy();
    expect(JSON.parse(text(failing))).toMatchResult({ status: 'runtime_error', exitCode: 4 });
  });

  it('keeps state in a session across tool calls', async () => {
    const created = await client.callTool({ name: 'create_session', arguments: { runtime: 'python' } });
    expect(created.isError).toBeFalsy();
    const { session_id } = JSON.parse(text(created));
    const written = await client.callTool({
      name: 'write_file',
      arguments: { session_id, path: 'lib/util.py', content: 'def double(x):\n    return 2 * x\n' },
    });
    expect(text(written)).toMatch(/wrote 32 bytes to lib\/util.py/);
    const ran = await client.callTool({
      name: 'run_command',
      arguments: {
        session_id,
        command: 'cd lib && python3 -c "import util; print(util.double(21))" > ../out.txt',
      },
    });
    expect(JSON.parse(text(ran))).toMatchResult({ status: 'ok', exitCode: 0 });
    const read = await client.callTool({ name: 'read_file', arguments: { session_id, path: 'out.txt' } });
    expect(text(read)).toBe('42\n');
    const closed = await client.callTool({ name: 'close_session', arguments: { session_id } });
    expect(closed.isError).toBeFalsy();
    const after = await client.callTool({ name: 'run_command', arguments: { session_id, command: 'true' } });
    expect(after.isError).toBe(true);
    expect(text(after)).toMatch(/NOT_FOUND: no session/);
  });

  it('answers bad input with clear tool errors, not crashes', async () => {
    const unknown = await client.callTool({ name: 'run_code', arguments: { language: 'cobol', code: 'x' } });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/UNKNOWN_RUNTIME: unknown runtime 'cobol'; available: .*python/);
    const noSession = await client.callTool({
      name: 'read_file',
      arguments: { session_id: 'nope', path: 'a' },
    });
    expect(noSession.isError).toBe(true);
    expect(text(noSession)).toMatch(/NOT_FOUND/);
    const created = await client.callTool({ name: 'create_session', arguments: { runtime: 'python' } });
    const { session_id } = JSON.parse(text(created));
    const outside = await client.callTool({
      name: 'read_file',
      arguments: { session_id, path: '../etc/passwd' },
    });
    expect(outside.isError).toBe(true);
    expect(text(outside)).toMatch(/INVALID_REQUEST: path/);
    const missing = await client.callTool({
      name: 'read_file',
      arguments: { session_id, path: 'missing.txt' },
    });
    expect(text(missing)).toMatch(/NOT_FOUND: no file missing.txt/);
    await client.callTool({ name: 'close_session', arguments: { session_id } });
    // Schema violations are reported as tool errors by the SDK as well.
    const invalid = await client.callTool({ name: 'run_code', arguments: { language: 'python' } });
    expect(invalid.isError).toBe(true);
  });
});
