import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import type { PreparedProgram } from '../../src/core/executor.js';
import type { ExecutionResult } from '../../src/core/result.js';
import { dockerExecutor } from '../helpers.js';
import { describeResult } from '../support/result-matchers.js';

/**
 * No output is ever lost, however many runs and however they end: hundreds of sandboxes at once
 * on a loaded machine, killed at their limit or handed over by a warm pool, and every result
 * carries what its program wrote. Each case takes about 1–3 minutes on 2 cores, far longer when the
 * machine is starved (their own timeout: they are about output, not speed).
 */

const STRESS_TEST_TIMEOUT_MS = 900_000;

const RUNS = 200;
const CONCURRENCY = 8;
const HELLO_TIMEOUT_MS = 60_000;
/** Long enough that a program gets to its first line even on a starved machine; then it spins. */
const SPIN_TIMEOUT_MS = 1000;

/** Runs `count` jobs, `concurrency` at a time, and returns every result in job order. */
async function runMany(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<ExecutionResult>,
): Promise<ExecutionResult[]> {
  const results: ExecutionResult[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await job(i);
      }
    }),
  );
  return results;
}

/** The results that do not satisfy `ok`, each described in full (empty when all are fine). */
function failures(results: ExecutionResult[], ok: (r: ExecutionResult, i: number) => boolean): string[] {
  return results.flatMap((r, i) => (ok(r, i) ? [] : [`run ${i}:\n${describeResult(r)}`]));
}

describe('output under load: nothing a program wrote is lost', () => {
  let executor: DockerExecutor;
  beforeAll(() => {
    // Warm containers for the interpreted runtimes: the pool's hand-over is part of what is tested.
    executor = dockerExecutor({
      pool: { size: 2, runtimes: ['python', 'javascript', 'bash'], compile: false },
    });
  });
  afterAll(() => executor.close());

  it(
    `keeps the line flushed before a spin, in ${RUNS} runs killed at their time limit (${CONCURRENCY} at once)`,
    async () => {
      // After the line is flushed the program creates `printed`; output files are collected after
      // the kill, so a result with `printed` and without the line is output boxrun lost. Without
      // `printed` the program was killed before it got that far (a starved machine).
      const prepared = await executor.prepare({
        runtime: 'c',
        files: [
          {
            path: 'main.c',
            content: [
              '#include <stdio.h>',
              'int main(int argc, char **argv) {',
              '  (void)argc;',
              '  printf("line %s\\n", argv[1]);',
              '  fflush(stdout);',
              '  fclose(fopen("printed", "w"));',
              '  for (volatile unsigned long i = 0;; i++) {}',
              '}',
            ].join('\n'),
          },
        ],
        outputPaths: ['printed'],
        limits: { timeoutMs: SPIN_TIMEOUT_MS },
      });
      expect(prepared.failed, prepared.failed ? describeResult(prepared.failed) : '').toBeNull();
      const results = await runMany(RUNS, CONCURRENCY, (i) =>
        executor.runPrepared(prepared, { argv: [`${i}`] }),
      );
      const printed = (r: ExecutionResult) => r.files.some((f) => f.path === 'printed');
      const lost = failures(
        results,
        (r, i) => r.status === 'time_limit' && (!printed(r) || r.stdout === `line ${i}\n`),
      );
      expect(
        lost,
        `${lost.length} of ${RUNS} runs lost their output:\n${lost.slice(0, 5).join('\n\n')}`,
      ).toEqual([]);
      // Most runs must get past the print, or the test proves nothing.
      const unreached = failures(results, printed);
      expect(
        unreached.length,
        `${unreached.length} of ${RUNS} runs were killed before they printed:\n${unreached.slice(0, 3).join('\n\n')}`,
      ).toBeLessThanOrEqual(RUNS / 10);
    },
    STRESS_TEST_TIMEOUT_MS,
  );

  it(
    `returns every hello in ${RUNS} runs across runtimes, warm and one-shot (${CONCURRENCY} at once)`,
    async () => {
      const programs: Record<string, { file: string; code: string }> = {
        python: { file: 'main.py', code: 'import sys\nprint("hello " + sys.stdin.read().strip())\n' },
        javascript: {
          file: 'main.js',
          code: "let d='';process.stdin.on('data',c=>d+=c);process.stdin.on('end',()=>console.log('hello '+d.trim()));\n",
        },
        bash: { file: 'main.sh', code: 'read name\necho "hello $name"\n' },
        c: {
          file: 'main.c',
          code: '#include <stdio.h>\nint main(){char b[64];if(!fgets(b,64,stdin))return 1;for(char*p=b;*p;p++)if(*p==10)*p=0;printf("hello %s\\n",b);return 0;}\n',
        },
        go: {
          file: 'main.go',
          code: 'package main\nimport ("bufio";"fmt";"os";"strings")\nfunc main(){r:=bufio.NewReader(os.Stdin);s,_:=r.ReadString(10);fmt.Println("hello "+strings.TrimSpace(s))}\n',
        },
      };
      const runtimes = Object.keys(programs);
      // Compiled once each; every run of them is a fresh sandbox like any other.
      const compiled = new Map<string, PreparedProgram>();
      for (const runtime of ['c', 'go']) {
        const { file, code } = programs[runtime]!;
        const prepared = await executor.prepare({ runtime, files: [{ path: file, content: code }] });
        expect(prepared.failed, prepared.failed ? describeResult(prepared.failed) : '').toBeNull();
        compiled.set(runtime, prepared);
      }
      const results = await runMany(RUNS, CONCURRENCY, (i) => {
        const runtime = runtimes[i % runtimes.length]!;
        const stdin = `boxrun${i}\n`;
        const prepared = compiled.get(runtime);
        // A hello takes well under a second alone; eight at once among other suites can take far
        // longer, and this test is about output, not speed.
        if (prepared) return executor.runPrepared(prepared, { stdin, timeoutMs: HELLO_TIMEOUT_MS });
        const { file, code } = programs[runtime]!;
        return executor.execute({
          runtime,
          files: [{ path: file, content: code }],
          stdin,
          limits: { timeoutMs: HELLO_TIMEOUT_MS },
        });
      });
      const lost = failures(
        results,
        (r, i) => r.status === 'ok' && r.stdout === `hello boxrun${i}\n` && r.stderr === '',
      );
      expect(
        lost,
        `${lost.length} of ${RUNS} runs lost their output:\n${lost.slice(0, 5).join('\n\n')}`,
      ).toEqual([]);
      // The warm pool served some of them: its hand-over is covered, not only fresh containers.
      expect(executor.poolStats()?.hits ?? 0).toBeGreaterThan(0);
    },
    STRESS_TEST_TIMEOUT_MS,
  );
});
