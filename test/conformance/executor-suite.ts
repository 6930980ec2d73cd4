import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor } from '../../src/core/executor.js';
import type { ExecutionRequestInput } from '../../src/core/request.js';
import { describeResult } from '../support/result-matchers.js';
import { KILL_SLACK_MS, LOADED_WALL_MS } from '../support/timing.js';

export interface ConformanceOptions {
  /**
   * false for a backend without isolation (the host executor): skips the isolation cases and the
   * limits that need a cgroup (memory, pids). Default true.
   */
  isolation?: boolean;
  /** Only these runtimes in the per-runtime cases (a backend that uses the host's toolchains). */
  runtimes?: string[];
  /**
   * gVisor's kernel shows no NoNewPrivs line in /proc/self/status (docs/backends.md, "What differs
   * under gVisor"); the security suite checks what no-new-privileges is for (setuid binaries gain
   * nothing) on every runtime.
   */
  gvisor?: boolean;
}

/**
 * Behaviour every backend must show. Written once; each backend (one-shot Docker, warm pool,
 * Podman, …) runs it with its own executor factory.
 */
export function describeExecutorConformance(
  name: string,
  makeExecutor: () => Executor,
  options: ConformanceOptions = {},
): void {
  const isolation = options.isolation !== false;
  const gvisor = options.gvisor === true;
  const has = (runtime: string) => !options.runtimes || options.runtimes.includes(runtime);
  describe(`${name}: executor conformance`, () => {
    let executor: Executor;
    beforeAll(() => {
      executor = makeExecutor();
    });
    afterAll(async () => {
      await executor.close();
    });
    const run = (req: ExecutionRequestInput) => executor.execute(req);

    const hello: Record<string, { file: string; code: string }> = {
      python: { file: 'main.py', code: 'import sys\nprint("hello " + sys.stdin.read().strip())\n' },
      javascript: {
        file: 'main.js',
        code: "let d='';process.stdin.on('data',c=>d+=c);process.stdin.on('end',()=>console.log('hello '+d.trim()));\n",
      },
      typescript: {
        file: 'main.ts',
        code: "import * as fs from 'fs';\nconst s: string = fs.readFileSync(0, 'utf8');\nconsole.log('hello ' + s.trim());\n",
      },
      c: {
        file: 'main.c',
        code: '#include <stdio.h>\nint main(){char b[64];if(!fgets(b,64,stdin))return 1;for(char*p=b;*p;p++)if(*p==10)*p=0;printf("hello %s\\n",b);return 0;}\n',
      },
      cpp: {
        file: 'main.cpp',
        code: '#include <iostream>\n#include <string>\nint main(){std::string s;std::getline(std::cin,s);std::cout<<"hello "<<s<<std::endl;}\n',
      },
      rust: {
        file: 'main.rs',
        code: 'use std::io::Read;\nfn main(){let mut s=String::new();std::io::stdin().read_to_string(&mut s).unwrap();println!("hello {}",s.trim());}\n',
      },
      go: {
        file: 'main.go',
        code: 'package main\nimport ("bufio";"fmt";"os";"strings")\nfunc main(){r:=bufio.NewReader(os.Stdin);s,_:=r.ReadString(10);fmt.Println("hello "+strings.TrimSpace(s))}\n',
      },
      java: {
        file: 'Main.java',
        code: 'import java.util.Scanner;\npublic class Main{public static void main(String[] a){Scanner s=new Scanner(System.in);System.out.println("hello "+s.nextLine().trim());}}\n',
      },
      bash: { file: 'main.sh', code: 'read name\necho "hello $name"\n' },
    };

    describe.concurrent('hello world with stdin in every runtime', () => {
      for (const [runtime, { file, code }] of Object.entries(hello)) {
        it.skipIf(!has(runtime))(`runs ${runtime}`, async () => {
          // Nine runtimes at once: at load 45 a node hello got 315 ms of CPU in 10 s of wall time.
          const r = await run({
            runtime,
            files: [{ path: file, content: code }],
            stdin: 'boxrun\n',
            limits: { timeoutMs: LOADED_WALL_MS },
          });
          expect(r).toMatchResult({ status: 'ok', stdout: 'hello boxrun\n', stderr: '', exitCode: 0 });
          expect(r.durationMs).toBeGreaterThanOrEqual(0);
          expect(r.peakMemoryBytes).toBeGreaterThan(0);
        });
      }
    });

    describe.concurrent('compile errors', () => {
      const broken: [string, string, string][] = [
        ['c', 'main.c', 'int main( { return 0; }'],
        ['cpp', 'main.cpp', 'int main() { undefined_thing(); }'],
        ['java', 'Main.java', 'public class Main { void x( }'],
        ['rust', 'main.rs', 'fn main() { let x: i32 = "no"; }'],
        ['go', 'main.go', 'package main\nfunc main() { x := 1 }'],
        ['typescript', 'main.ts', 'const x: number = "no";'],
      ];
      for (const [runtime, file, code] of broken) {
        it.skipIf(!has(runtime))(
          `reports a ${runtime} compile error with the compiler output and skips the run`,
          async () => {
            const r = await run({ runtime, files: [{ path: file, content: code }] });
            expect(r).toMatchResult({ status: 'compile_error', stdout: '' });
            // A compile that ran out of time is not a compile error: the whole result says which.
            expect(r.compile, describeResult(r)).toHaveStatus('runtime_error');
            expect((r.compile?.stderr ?? '') + (r.compile?.stdout ?? ''), describeResult(r)).toMatch(
              /error|declared and not used|declared but not used/i,
            );
          },
        );
      }
    });

    describe.concurrent('program failures are results', () => {
      it('reports a non-zero exit code', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'import sys; sys.exit(3)' }],
        });
        expect(r).toHaveStatus('runtime_error');
        expect(r.exitCode).toBe(3);
        expect(r.signal).toBeNull();
      });

      it.skipIf(!has('c'))('reports a segfault by signal name', async () => {
        const r = await run({
          runtime: 'c',
          files: [{ path: 'main.c', content: 'int main(){ volatile int *p = 0; *p = 1; return 0; }' }],
        });
        expect(r).toHaveStatus('runtime_error');
        expect(r.signal).toBe('SIGSEGV');
        expect(r.exitCode).toBeNull();
      });

      it('round-trips unicode through stdin, stdout and argv', async () => {
        const text = 'héllo wörld ✓ 日本語 🚀';
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'import sys\nprint(sys.stdin.read())\nprint(sys.argv[1])' }],
          stdin: text,
          argv: [text],
        });
        expect(r.stdout).toBe(`${text}\n${text}\n`);
      });

      it('keeps stdout and stderr apart', async () => {
        const r = await run({
          runtime: 'bash',
          files: [{ path: 'a.sh', content: 'for i in 1 2 3; do echo out$i; echo err$i >&2; done' }],
        });
        expect(r.stdout).toBe('out1\nout2\nout3\n');
        expect(r.stderr).toBe('err1\nerr2\nerr3\n');
      });

      it('returns a large allowed output whole', async () => {
        const r = await run({
          runtime: 'python',
          files: [
            { path: 'a.py', content: 'import sys\nfor i in range(50000): sys.stdout.write(f"{i:07d}\\n")' },
          ],
          // 50,000 unbuffered writes: seconds of CPU under gVisor's ptrace platform or a loaded machine.
          limits: { timeoutMs: LOADED_WALL_MS },
        });
        expect(r).toHaveStatus('ok');
        expect(r.stdout.length).toBe(400_000);
        expect(r.stdout.endsWith('0049999\n')).toBe(true);
        expect(r.outputTruncated).toBe(false);
      });

      it('caps an output flood, kills the program and says so', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'while True: print("x" * 1000)' }],
          limits: { outputBytes: 100_000 },
        });
        expect(r).toHaveStatus('output_limit');
        expect(r.outputTruncated).toBe(true);
        expect(r.stdout.length).toBe(100_000);
      });

      it('returns binary output losslessly as base64', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'import sys\nsys.stdout.buffer.write(bytes(range(256)))' }],
        });
        expect(r.stdoutEncoding).toBe('base64');
        expect(Buffer.from(r.stdout, 'base64')).toEqual(
          Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        );
      });

      it('reports a missing command as a program that could not start', async () => {
        const r = await run({
          runtime: 'bash',
          files: [{ path: 'a.sh', content: '' }],
          command: ['/no/such/binary'],
        });
        expect(r).toHaveStatus('runtime_error');
        expect(r.message).toMatch(/could not start/);
      });
    });

    describe.concurrent('limits', () => {
      it('kills an infinite loop at the wall timeout', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'while True: pass' }],
          limits: { timeoutMs: 1000 },
        });
        expect(r).toMatchResult({ status: 'time_limit', timedOut: true });
        expect(r.durationMs).toBeGreaterThanOrEqual(1000);
        expect(r.durationMs).toBeLessThan(1000 + KILL_SLACK_MS);
      });

      it('kills a sleeping program at the wall timeout', async () => {
        const r = await run({
          runtime: 'bash',
          files: [{ path: 'a.sh', content: 'sleep 60' }],
          limits: { timeoutMs: 500 },
        });
        expect(r).toMatchResult({ status: 'time_limit', timedOut: true });
        expect(r.durationMs).toBeLessThan(500 + KILL_SLACK_MS);
      });

      it('kills a child that traps SIGTERM, and its whole tree', async () => {
        const r = await run({
          runtime: 'bash',
          files: [
            {
              path: 'a.sh',
              content: "trap '' TERM\n(trap '' TERM; setsid sleep 100) &\nwhile true; do :; done",
            },
          ],
          limits: { timeoutMs: 800 },
        });
        expect(r).toMatchResult({ status: 'time_limit', timedOut: true });
        expect(r.durationMs).toBeLessThan(800 + KILL_SLACK_MS);
      });

      it('stops a CPU hog at the CPU-time limit', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'while True: pass' }],
          // A generous wall limit: on a loaded machine the hog gets its 500 ms of CPU slowly, and
          // it is the CPU limit, not the wall clock, that must stop it.
          limits: { cpuTimeMs: 500, timeoutMs: 30_000 },
        });
        expect(r).toHaveStatus('time_limit');
        expect(r.message).toMatch(/CPU time/);
        // The limit counts the whole cgroup (the supervisor too); the report counts the program only.
        expect(r.cpuTimeMs).toBeGreaterThanOrEqual(400);
        expect(r.cpuTimeMs).toBeLessThan(2500);
      });

      it.skipIf(!isolation)('reports a memory bomb as memory_limit, distinct from a crash', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'a.py', content: 'x = []\nwhile True: x.append(bytearray(10 * 1024 * 1024))' }],
          limits: { memoryMb: 64 },
        });
        expect(r).toHaveStatus('memory_limit');
        expect(r.oomKilled).toBe(true);
      });

      it.skipIf(!isolation)('contains a fork bomb and still returns', async () => {
        const r = await run({
          runtime: 'bash',
          files: [{ path: 'a.sh', content: 'bomb() { bomb | bomb & }; bomb; sleep 2; echo survived' }],
          limits: { timeoutMs: 4000, pids: 64 },
        });
        expect(['ok', 'time_limit', 'runtime_error'], describeResult(r)).toContain(r.status);
        expect(r.durationMs).toBeLessThan(4000 + KILL_SLACK_MS);
      });
    });

    describe.skipIf(!isolation).concurrent('isolation', () => {
      it('has no network: connect and DNS both fail', async () => {
        const code = [
          'import socket',
          'try:',
          '    socket.create_connection(("1.1.1.1", 80), timeout=2); print("connected")',
          'except OSError as e: print("connect failed")',
          'try:',
          '    socket.getaddrinfo("deb.debian.org", 80); print("resolved")',
          'except OSError as e: print("dns failed")',
          'print(sorted(n for _, n in socket.if_nameindex()))',
        ].join('\n');
        const r = await run({ runtime: 'python', files: [{ path: 'a.py', content: code }] });
        expect(r.stdout).toBe("connect failed\ndns failed\n['lo']\n");
      });

      it('has a read-only root filesystem and a writable work dir and /tmp', async () => {
        const r = await run({
          runtime: 'bash',
          files: [
            {
              path: 'a.sh',
              content:
                'touch /etc/x 2>/dev/null && echo etc-writable; touch /usr/x 2>/dev/null && echo usr-writable; echo ok > here && echo ok > /tmp/t && cat here /tmp/t',
            },
          ],
        });
        expect(r.stdout).toBe('ok\nok\n');
      });

      it('runs as a non-root user with no capabilities and no-new-privileges', async () => {
        const r = await run({
          runtime: 'bash',
          files: [
            {
              path: 'a.sh',
              content: 'id -u; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status',
            },
          ],
        });
        const lines = r.stdout.trim().split('\n');
        expect(lines[0]).not.toBe('0');
        expect(r.stdout).toMatch(/CapEff:\s+0000000000000000/);
        expect(r.stdout).toMatch(/CapPrm:\s+0000000000000000/);
        if (!gvisor) expect(r.stdout).toMatch(/NoNewPrivs:\s+1/);
      });

      it('cannot see or signal the supervisor', async () => {
        const r = await run({
          runtime: 'bash',
          files: [
            {
              path: 'a.sh',
              content:
                'ls /proc/1/fd >/dev/null 2>&1 && echo fd-visible; kill -9 1 2>/dev/null; kill -TERM 1 2>/dev/null; echo done',
            },
          ],
        });
        expect(r).toHaveStatus('ok');
        expect(r.stdout).toBe('done\n');
      });
    });

    describe.concurrent('files in and out', () => {
      it('puts files in, runs in a sub directory and returns output files', async () => {
        const r = await run({
          runtime: 'python',
          files: [
            {
              path: 'main.py',
              content:
                'import os\nprint(os.getcwd())\nopen("result.txt","w").write(open("../data/in.txt").read().upper())',
            },
            { path: 'data/in.txt', content: 'payload' },
          ],
          command: ['python3', '../main.py'],
          workDir: 'sub',
          outputPaths: ['sub/result.txt', 'missing.txt'],
        });
        expect(r).toHaveStatus('ok');
        if (isolation) expect(r.stdout).toBe('/box/sub\n');
        else expect(r.stdout).toMatch(/\/sub\n$/);
        expect(r.files).toEqual([
          expect.objectContaining({ path: 'sub/result.txt', content: 'PAYLOAD', encoding: 'utf8' }),
        ]);
        expect(r.refusedFiles).toEqual([{ path: 'missing.txt', reason: 'not found' }]);
      });

      it('refuses symlinks and hard links in output files', async () => {
        const r = await run({
          runtime: 'bash',
          files: [
            {
              path: 'a.sh',
              content:
                'ln -s /etc/passwd out/passwd; ln -s .. out/up; echo x > out/real; ln out/real out/hard; echo ok > out/fine',
            },
          ],
          command: ['bash', '-c', 'mkdir out && bash a.sh'],
          outputPaths: ['out/**'],
        });
        expect(r.files.map((f) => f.path)).toEqual(['out/fine']);
        const refused = Object.fromEntries(r.refusedFiles.map((f) => [f.path, f.reason]));
        expect(refused['out/passwd']).toBe('symbolic link');
        expect(refused['out/up']).toBe('symbolic link');
        expect(refused['out/real']).toBe('hard link');
      });

      it('judges test cases through execute: one verdict per test, in order', async () => {
        const r = await run({
          runtime: 'python',
          files: [{ path: 'main.py', content: 'a, b = map(int, input().split())\nprint(a + b)\n' }],
          tests: [
            { stdin: '1 2\n', expectedOutput: '3\n' },
            { stdin: '2 2\n', expectedOutput: '5\n' },
          ],
        });
        expect(r.tests?.map((t) => t.verdict)).toEqual(['accepted', 'wrong_answer']);
        expect(r.verdict).toBe('wrong_answer');
        expect([r.passed, r.total]).toEqual([1, 2]);
      });

      it('rejects input paths that escape the work dir before running anything', async () => {
        for (const path of ['../x', '/etc/passwd', 'a/../../x', 'a\0b']) {
          await expect(run({ runtime: 'bash', files: [{ path, content: '' }] })).rejects.toMatchObject({
            code: 'INVALID_REQUEST',
          });
        }
      });
    });
  });
}
