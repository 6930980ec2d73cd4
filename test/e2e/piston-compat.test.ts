import { piston } from 'piston-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, type Json, type RunningService, startService, tempDir } from './service-harness.js';

/**
 * boxrun as a drop-in for Piston: the real piston-client and Piston's own exploit programs
 * (engineer-man/piston tests/) against the service on real Docker.
 */

/** A program per runtime that prints `ok <name>`. */
const HELLO: Record<string, string> = {
  python: 'print("ok python")',
  javascript: 'console.log("ok javascript")',
  typescript: 'const s: string = "ok typescript";\nconsole.log(s);',
  c: '#include <stdio.h>\nint main(void){puts("ok c");return 0;}',
  'c++': '#include <iostream>\nint main(){std::cout<<"ok c++"<<std::endl;}',
  rust: 'fn main(){println!("ok rust");}',
  go: 'package main\nimport "fmt"\nfunc main(){fmt.Println("ok go")}',
  java: 'public class Anything { public static void main(String[] a){ System.out.println("ok java"); } }',
  bash: 'echo "ok bash"',
};

let svc: RunningService;
const tmp = tempDir();
const client = () => piston({ server: svc.url });

beforeAll(async () => {
  svc = await startService(tmp.dir, { server: { maxConcurrent: 2 } }, undefined, { sessions: true });
});

afterAll(async () => {
  await svc?.close();
  tmp.remove();
});

describe('Piston API: runtimes and versions', () => {
  it("lists Piston's names, aliases and runtime field", async () => {
    const runtimes = (await api(svc.url, 'GET', '/api/v2/runtimes')).json as Json[];
    expect(runtimes.map((r) => r.language).sort()).toEqual(Object.keys(HELLO).sort());
    expect(runtimes.find((r) => r.language === 'c++')).toEqual({
      language: 'c++',
      version: '12.2.0',
      aliases: ['cpp', 'g++'],
      runtime: 'gcc',
    });
    expect(runtimes.find((r) => r.language === 'javascript')).toMatchObject({ runtime: 'node' });
    expect(runtimes.find((r) => r.language === 'python')).not.toHaveProperty('runtime');
  });

  it('reports versions that are what the images really run', async () => {
    const probes: Record<string, string> = {
      python: 'import platform; print(platform.python_version())',
      javascript: 'console.log(process.versions.node)',
      bash: 'echo "$BASH_VERSION" | sed "s/(.*//"',
      c: '#include <stdio.h>\nint main(void){printf("%d.%d.%d\\n",__GNUC__,__GNUC_MINOR__,__GNUC_PATCHLEVEL__);}',
      java: 'public class V { public static void main(String[] a){ System.out.println(Runtime.version().feature()+"."+Runtime.version().interim()+"."+Runtime.version().update()); } }',
    };
    const runtimes = (await api(svc.url, 'GET', '/api/v2/runtimes')).json as Json[];
    for (const [language, code] of Object.entries(probes)) {
      const out = await client().execute(language, code, {
        args: [],
        compileTimeout: 150_000,
        runTimeout: 60_000,
      });
      const listed = runtimes.find((r) => r.language === language)!.version;
      expect(`${language} ${out.run.stdout.trim()}`).toBe(`${language} ${listed}`);
    }
  }, 900_000);

  it("runs every runtime by Piston's name, the version resolved by piston-client", async () => {
    const results = await Promise.all(
      Object.entries(HELLO).map(async ([language, code]) => {
        const out = await client().execute(language, code, {
          args: [],
          compileTimeout: 300_000,
          runTimeout: 60_000,
        });
        return { language, out };
      }),
    );
    for (const { language, out } of results) {
      expect(out, language).toMatchObject({
        language,
        run: { stdout: `ok ${language}\n`, code: 0, signal: null },
      });
    }
  }, 900_000);

  it('runs every alias with a semver range, as Piston resolves it', async () => {
    const runtimes = (await api(svc.url, 'GET', '/api/v2/runtimes')).json as Json[];
    const cases = runtimes.flatMap((r: Json) =>
      (r.aliases as string[]).map((alias) => ({
        alias,
        language: r.language as string,
        major: r.version.split('.')[0],
      })),
    );
    expect(cases.map((c) => c.alias)).toEqual(
      expect.arrayContaining(['cpp', 'g++', 'js', 'py', 'ts', 'golang', 'rs', 'sh']),
    );
    for (const { alias, language, major } of cases) {
      const out = await client().execute({
        language: alias,
        version: `${major}.x`,
        files: [{ content: HELLO[language]! }],
        args: [],
        compileTimeout: 150_000,
        runTimeout: 60_000,
      });
      expect(out, alias).toMatchObject({ language, run: { stdout: `ok ${language}\n`, code: 0 } });
    }
  }, 900_000);

  it("runs c++ with no version given (piston-client finds it under Piston's name)", async () => {
    const out = await client().execute('c++', HELLO['c++']!, { compileTimeout: 150_000 });
    expect(out).toMatchObject({
      language: 'c++',
      version: '12.2.0',
      compile: { code: 0 },
      run: { stdout: 'ok c++\n' },
    });
    for (const field of [
      'stdout',
      'stderr',
      'output',
      'code',
      'signal',
      'message',
      'status',
      'cpu_time',
      'wall_time',
      'memory',
    ]) {
      expect(out.run, field).toHaveProperty(field);
    }
  }, 900_000);

  it("answers Piston's error bodies and status codes", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ version: '*', files: [] }, 'language is required as a string'],
      [{ language: 'python', files: [] }, 'version is required as a string'],
      [{ language: 'python', version: '*' }, 'files is required as an array'],
      [{ language: 'python', version: '*', files: [{}] }, 'files[0].content is required as a string'],
      [{ language: 'python', version: '2.7', files: [{ content: '' }] }, 'python-2.7 runtime is unknown'],
      [
        { language: 'python', version: '*', files: [{ content: 'eA==', encoding: 'base64' }] },
        'files must include at least one utf8 encoded file',
      ],
      [
        { language: 'python', version: '*', files: [{ content: '' }], run_timeout: 'x' },
        'If specified, run_timeout must be a number',
      ],
      [
        { language: 'python', version: '*', files: [{ content: '' }], run_timeout: -5 },
        'run_timeout must be non-negative',
      ],
    ];
    for (const [body, message] of cases) {
      const res = await api(svc.url, 'POST', '/api/v2/execute', body);
      expect({ status: res.status, body: res.json }).toEqual({ status: 400, body: { message } });
    }
  });

  it('lists installed packages, gcc once', async () => {
    const packages = (await api(svc.url, 'GET', '/api/v2/packages')).json as Json[];
    expect(packages.filter((p) => p.language === 'gcc')).toEqual([
      { language: 'gcc', language_version: '12.2.0', installed: true },
    ]);
    expect(packages.every((p) => p.installed)).toBe(true);
  });
});

describe('Java runs whatever its file and class are called', () => {
  it("runs Piston's twelve parallel requests: Test.java holding public class HelloWorld", async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        client().execute({
          language: 'java',
          files: [
            {
              name: 'Test.java',
              content: `public class HelloWorld { public static void main(String[] args) { System.out.print("Request #${i}"); }}`,
            },
          ],
          args: [],
          compileTimeout: 150_000,
          runTimeout: 60_000,
        }),
      ),
    );
    results.forEach((out, i) => {
      expect(out.compile, `request ${i}`).toMatchObject({ code: 0 });
      expect(out.run, `request ${i}`).toMatchObject({ stdout: `Request #${i}`, code: 0 });
    });
  }, 900_000);

  it('runs a multi-file program with packages in the native API', async () => {
    const res = await api(svc.url, 'POST', '/v1/executions', {
      runtime: 'java',
      files: [
        {
          path: 'Program.java',
          content:
            'package com.acme.app;\nimport com.acme.util.Greeter;\npublic class App { public static void main(String[] a) { System.out.println(Greeter.greet(a[0])); } }',
        },
        {
          path: 'src/Greet.java',
          content:
            'package com.acme.util;\npublic class Greeter { public static String greet(String n) { return "hi " + n; } }',
        },
      ],
      argv: ['there'],
      compileLimits: { timeoutMs: 150_000 },
    });
    expect(res.status).toBe(200);
    expect(res.json.result).toMatchObject({ status: 'ok', stdout: 'hi there\n' });
  }, 900_000);
});

describe("Piston's exploit programs through the Piston API", () => {
  const run = (code: string, extra: Record<string, unknown> = {}) =>
    client().execute({
      language: 'python',
      files: [{ content: code }],
      args: [],
      runTimeout: 5000,
      ...extra,
    });

  it('survives a fork bomb and runs the next request', async () => {
    const out = await run('import os\nwhile True:\n    try:\n        os.fork()\n    except:\n        pass');
    expect(out.run.status).toBe('TO');
    expect(out.run.signal).toBe('SIGKILL');
    expect((await run('print("after")')).run.stdout).toBe('after\n');
  });

  it('refuses a file that fills the disk (fallocate)', async () => {
    const out = await run('with open("beans","w") as f:\n    n = 2**24\n    f.write("I love beans\\n"*n)');
    expect(out.run.code).not.toBe(0);
    expect(out.run.status).not.toBeNull();
    expect((await run('print("after")')).run.stdout).toBe('after\n');
  });

  it('has no network', async () => {
    // A generous limit: on a loaded machine the import alone can take seconds.
    const out = await run(
      'import urllib.request\ncontents = urllib.request.urlopen("https://emkc.org").read()',
      {
        runTimeout: 60_000,
      },
    );
    expect(out.run.code).not.toBe(0);
    expect(out.run.stderr).toMatch(/URLError|Errno/);
  });

  it('stops runaway output', async () => {
    const out = await run('while True:\n    print("Piston is secure")', { runTimeout: 60_000 });
    expect(out.run.status).toBe('OL');
    expect(out.run.message).toBe('stdout length exceeded');
  });

  it('keeps no files between runs', async () => {
    const code =
      'import os\nfor d in ["/dev/shm", "/run/lock", "/tmp", "/var/tmp"]:\n    p = f"{d}/bean"\n    if os.path.exists(p):\n        print(f"{p} exists")\n    else:\n        try:\n            open(p, "w").write("beannn")\n        except OSError:\n            pass';
    await run(code);
    expect((await run(code)).run.stdout).toBe('');
  });
});

describe('Piston interactive WebSocket (/api/v2/connect)', () => {
  /** Every message until the server closes, and the close code. */
  function converse(send: (ws: WebSocket) => void, onMessage?: (ws: WebSocket, m: Json) => void) {
    return new Promise<{ messages: Json[]; code: number }>((resolve, reject) => {
      const ws = new WebSocket(`${svc.url.replace('http', 'ws')}/api/v2/connect`);
      const messages: Json[] = [];
      ws.on('open', () => send(ws));
      ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString());
        messages.push(m);
        onMessage?.(ws, m);
      });
      ws.on('close', (code) => resolve({ messages, code }));
      ws.on('error', reject);
    });
  }

  it('runs a program interactively: runtime, stage, data both ways, exit, 4999', async () => {
    const { messages, code } = await converse(
      (ws) =>
        ws.send(
          JSON.stringify({
            type: 'init',
            language: 'py',
            version: '3',
            files: [
              { content: 'import sys\nname = input()\nprint("hello", name)\nprint("done", file=sys.stderr)' },
            ],
          }),
        ),
      (ws, m) => {
        if (m.type === 'stage' && m.stage === 'run')
          ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: 'world\n' }));
      },
    );
    expect(code).toBe(4999);
    expect(messages[0]).toEqual({ type: 'runtime', language: 'python', version: '3.11.2' });
    expect(messages).toContainEqual({ type: 'stage', stage: 'run' });
    // Output arrives as the program writes it, in chunks (as Piston streams it): compare the joins.
    const stream = (name: string) =>
      messages
        .filter((m) => m.type === 'data' && m.stream === name)
        .map((m) => m.data)
        .join('');
    expect(stream('stdout')).toBe('hello world\n');
    expect(stream('stderr')).toBe('done\n');
    expect(messages.at(-1)).toEqual({ type: 'exit', stage: 'run', code: 0, signal: null });
  });

  it('compiles first for a compiled language', async () => {
    const { messages, code } = await converse((ws) =>
      ws.send(
        JSON.stringify({ type: 'init', language: 'c++', version: '*', files: [{ content: HELLO['c++'] }] }),
      ),
    );
    expect(code).toBe(4999);
    expect(
      messages.filter((m) => m.type === 'stage' || m.type === 'exit').map((m) => `${m.type}:${m.stage}`),
    ).toEqual(['stage:compile', 'exit:compile', 'stage:run', 'exit:run']);
  }, 900_000);

  it('kills the program on a signal', async () => {
    const { messages, code } = await converse(
      (ws) =>
        ws.send(
          JSON.stringify({
            type: 'init',
            language: 'python',
            version: '*',
            files: [{ content: 'import time\ntime.sleep(60)' }],
          }),
        ),
      (ws, m) => {
        if (m.type === 'stage') ws.send(JSON.stringify({ type: 'signal', signal: 'SIGKILL' }));
      },
    );
    expect(code).toBe(4999);
    expect(messages.at(-1)).toMatchObject({ type: 'exit', stage: 'run', signal: 'SIGKILL' });
  });

  it("closes with Piston's codes: 4001 without init, 4003 data before init, 4002 with an error message", async () => {
    expect((await converse(() => {})).code).toBe(4001);
    expect(
      (await converse((ws) => ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: 'x' })))).code,
    ).toBe(4003);
    const bad = await converse((ws) =>
      ws.send(JSON.stringify({ type: 'init', language: 'cobol', version: '*', files: [{ content: '' }] })),
    );
    expect(bad).toEqual({ messages: [{ type: 'error', message: 'cobol-* runtime is unknown' }], code: 4002 });
  });
});
