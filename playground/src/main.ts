import {
  BoxrunApiError,
  BoxrunClient,
  type Execution,
  type ExecutionRequest,
  type Runtime,
  type TestCaseResult,
} from '../../src/client/index.js';
import { CodeEditor } from './editor.js';
import { compileErrorLine, diffLines, parseTestSet, type TestPair } from './line-diff.js';

const SAMPLES: Record<string, string> = {
  cpp: '#include <iostream>\n\nint main() {\n  long long a, b;\n  std::cin >> a >> b;\n  std::cout << a + b << "\\n";\n}\n',
  c: '#include <stdio.h>\n\nint main(void) {\n  long long a, b;\n  if (scanf("%lld %lld", &a, &b) == 2) printf("%lld\\n", a + b);\n  return 0;\n}\n',
  python: 'a, b = map(int, input().split())\nprint(a + b)\n',
  javascript:
    "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
  typescript:
    "import { readFileSync } from 'fs';\nconst [a, b] = readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);\n",
  rust: 'use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n    std::io::stdin().read_to_string(&mut s).unwrap();\n    let n: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n    println!("{}", n[0] + n[1]);\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n  public static void main(String[] args) {\n    Scanner in = new Scanner(System.in);\n    System.out.println(in.nextLong() + in.nextLong());\n  }\n}\n',
  bash: 'read a b\necho $((a + b))\n',
};

const SHORT: Record<string, string> = {
  ok: 'OK',
  accepted: 'AC',
  wrong_answer: 'WA',
  time_limit: 'TLE',
  memory_limit: 'MLE',
  runtime_error: 'RE',
  output_limit: 'OLE',
  compile_error: 'CE',
  build_error: 'BE',
  internal_error: 'IE',
  canceled: 'Canceled',
  error: 'Error',
};

const KEY_STORAGE = 'boxrun.apiKey';
const THEME_STORAGE = 'boxrun.theme';

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

function decode(data: string, encoding: 'utf8' | 'base64'): string {
  if (encoding === 'utf8') return data;
  return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & { dataset?: Record<string, string> } = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props;
  Object.assign(node, rest);
  for (const [k, v] of Object.entries(dataset ?? {})) node.dataset[k] = v;
  node.append(...children);
  return node;
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;
}

class Playground {
  private client!: BoxrunClient;
  private runtimes: Runtime[] = [];
  private readonly editor: CodeEditor;
  private running: AbortController | null = null;
  private tests: TestPair[] = [];

  constructor() {
    this.editor = new CodeEditor($('editor'), () => void this.run(false));
    const key = $<HTMLInputElement>('api-key');
    key.value = localStorage.getItem(KEY_STORAGE) ?? '';
    key.addEventListener('change', () => {
      localStorage.setItem(KEY_STORAGE, key.value.trim());
      this.connect();
      void this.loadRuntimes();
    });
    this.connect();
    this.initTheme();
    $('run').addEventListener('click', () => void this.run(false));
    $('run-tests').addEventListener('click', () => void this.run(true));
    $('add-test').addEventListener('click', () => {
      this.readTests();
      this.tests.push({ stdin: '', expectedOutput: '' });
      this.renderTests();
      const inputs = $('tests').querySelectorAll<HTMLTextAreaElement>('textarea');
      inputs[inputs.length - 2]?.focus();
    });
    $('import-tests').addEventListener('click', () => this.importTests());
    $<HTMLSelectElement>('runtime').addEventListener('change', () => this.changeRuntime(true));
    // Ctrl/Cmd+Enter runs from anywhere on the page, not only from the editor.
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.defaultPrevented) {
        event.preventDefault();
        void this.run(false);
      }
    });
  }

  private connect(): void {
    const apiKey = $<HTMLInputElement>('api-key').value.trim() || undefined;
    this.client = new BoxrunClient({ baseUrl: location.origin, apiKey });
  }

  private initTheme(): void {
    const stored = localStorage.getItem(THEME_STORAGE);
    const dark = stored ? stored === 'dark' : matchMedia('(prefers-color-scheme: dark)').matches;
    this.applyTheme(dark);
    $('theme').addEventListener('click', () => {
      const next = document.documentElement.dataset.theme !== 'dark';
      localStorage.setItem(THEME_STORAGE, next ? 'dark' : 'light');
      this.applyTheme(next);
    });
  }

  private applyTheme(dark: boolean): void {
    document.documentElement.dataset.theme = dark ? 'dark' : 'light';
    $('theme').setAttribute('aria-pressed', String(dark));
    $('theme').textContent = dark ? 'Light' : 'Dark';
    this.editor.setDark(dark);
  }

  async start(): Promise<void> {
    await this.loadRuntimes();
    const permalink = location.pathname.match(/\/playground\/e\/([^/]+)$/);
    if (permalink) await this.reload(decodeURIComponent(permalink[1]!));
    else this.changeRuntime(true);
    document.body.dataset.ready = 'true';
  }

  private async loadRuntimes(): Promise<void> {
    const select = $<HTMLSelectElement>('runtime');
    try {
      this.runtimes = await this.client.runtimes();
    } catch (error) {
      this.showError(error);
      return;
    }
    const current = select.value || 'cpp';
    select.replaceChildren(
      ...this.runtimes.map((r) => el('option', { value: r.name, textContent: `${r.name} (${r.version})` })),
    );
    select.value = this.runtimes.some((r) => r.name === current) ? current : (this.runtimes[0]?.name ?? '');
  }

  private get runtime(): Runtime | undefined {
    return this.runtimes.find((r) => r.name === $<HTMLSelectElement>('runtime').value);
  }

  private changeRuntime(loadSample: boolean): void {
    const name = this.runtime?.name ?? '';
    this.editor.setRuntime(name);
    if (loadSample) {
      this.editor.code = SAMPLES[name] ?? '';
      if (!$<HTMLTextAreaElement>('stdin').value) $<HTMLTextAreaElement>('stdin').value = '2 3\n';
    }
  }

  private request(withTests: boolean): ExecutionRequest {
    const runtime = this.runtime;
    const args = $<HTMLInputElement>('args').value.trim();
    const timeoutMs = Number($<HTMLInputElement>('timeout').value) || undefined;
    const memoryMb = Number($<HTMLInputElement>('memory').value) || undefined;
    const compileTimeoutMs = Number($<HTMLInputElement>('compile-timeout').value) || undefined;
    const request: ExecutionRequest = {
      runtime: runtime?.name ?? '',
      files: [{ path: runtime?.sourceFile ?? 'main', content: this.editor.code }],
      stdin: $<HTMLTextAreaElement>('stdin').value,
      argv: args ? args.split(/\s+/) : [],
      limits: { ...(timeoutMs ? { timeoutMs } : {}), ...(memoryMb ? { memoryMb } : {}) },
      ...(compileTimeoutMs ? { compileLimits: { timeoutMs: compileTimeoutMs } } : {}),
    };
    if (withTests) {
      this.readTests();
      request.tests = this.tests.map((t, i) => ({ name: `#${i + 1}`, ...t }));
      request.compare = {
        mode: $<HTMLSelectElement>('compare').value as 'exact' | 'trim' | 'tokens' | 'float',
      };
    }
    return request;
  }

  async run(withTests: boolean): Promise<void> {
    if (this.running) return;
    let request: ExecutionRequest;
    try {
      request = this.request(withTests);
      if (withTests && request.tests?.length === 0) throw new Error('add a test first');
    } catch (error) {
      this.showError(error);
      return;
    }
    this.running = new AbortController();
    this.setBusy(true);
    this.resetOutput();
    try {
      const handle = await this.client.submit(request, { signal: this.running.signal });
      history.pushState(null, '', `/playground/e/${encodeURIComponent(handle.id)}`);
      await this.follow(handle.id, request);
    } catch (error) {
      this.showError(error);
    } finally {
      this.running = null;
      this.setBusy(false);
    }
  }

  /** Output as it arrives, then the verdict: the same path for a live run and a reloaded permalink. */
  private async follow(id: string, request: ExecutionRequest): Promise<void> {
    const link = $<HTMLAnchorElement>('permalink');
    link.href = `/playground/e/${encodeURIComponent(id)}`;
    link.textContent = `${location.origin}/playground/e/${id}`;
    link.hidden = false;
    $('verdict').textContent = 'running…';
    $('verdict').dataset.verdict = 'running';
    const output = $('output');
    for await (const event of this.client
      .execution(id)
      .events(this.running ? { signal: this.running.signal } : {})) {
      if (event.type === 'stdout' || event.type === 'stderr') {
        const text = decode(event.data, event.encoding);
        const last = output.lastElementChild;
        // One span per run of a stream: chunk boundaries are the pipe's, not the program's.
        if (last?.className === event.type) last.append(text);
        else output.append(el('span', { className: event.type }, text));
        output.scrollTop = output.scrollHeight;
      } else if (event.type === 'status') {
        $('verdict').textContent = `${event.status}…`;
      } else if (event.type === 'done') {
        this.showResult(event.execution, request);
      }
    }
  }

  private showResult(execution: Execution, request: ExecutionRequest): void {
    const result = execution.result;
    const verdict = result?.verdict ?? execution.verdict ?? 'error';
    const badge = $('verdict');
    badge.dataset.verdict = verdict;
    badge.textContent = `${SHORT[verdict] ?? verdict} · ${verdict.replaceAll('_', ' ')}`;
    if (!result) {
      $('stats').textContent = execution.error?.message ?? '';
      return;
    }
    // A compile error's facts are the compiler's: the program never ran.
    const step = result.status === 'compile_error' && result.compile ? result.compile : result;
    const ended = step.signal ? `signal ${step.signal}` : `exit ${step.exitCode ?? '–'}`;
    $('stats').textContent = [
      step === result ? ended : `compiler ${ended}`,
      `time ${step.durationMs} ms`,
      `CPU ${step.cpuTimeMs} ms`,
      `memory ${formatBytes(step.peakMemoryBytes)}`,
    ].join(' · ');
    if (result.message && result.status !== 'ok' && step === result) {
      $('stats').textContent += ` — ${result.message}`;
    }
    if (result.status === 'compile_error' && result.compile) {
      const text = decode(result.compile.stderr, result.compile.stderrEncoding) || result.compile.stdout;
      $('compile-output').textContent = text;
      $('compile').hidden = false;
      this.editor.markErrorLine(compileErrorLine(text, request.files?.[0]?.path ?? ''));
    }
    if (result.tests) this.showTestResults(result.tests, request);
  }

  private showTestResults(results: TestCaseResult[], request: ExecutionRequest): void {
    const rows = results.map((t) => {
      const expected = request.tests?.[t.index - 1]?.expectedOutput ?? '';
      const actual = decode(t.stdout, t.stdoutEncoding);
      const row = el(
        'li',
        { className: 'test-result', dataset: { verdict: t.verdict } },
        el('span', { className: 'badge', textContent: SHORT[t.verdict] ?? t.verdict }),
        ` ${t.name} · ${t.durationMs} ms${t.message ? ` · ${t.message}` : ''}`,
      );
      if (t.verdict === 'wrong_answer') {
        const diff = el('pre', {
          className: 'diff',
          ariaLabel: `expected versus actual output of ${t.name}`,
        });
        for (const line of diffLines(expected, actual)) {
          const mark = line.kind === 'expected' ? '- ' : line.kind === 'actual' ? '+ ' : '  ';
          diff.append(el('span', { className: `diff-${line.kind}` }, `${mark}${line.text}\n`));
        }
        row.append(el('div', { className: 'diff-legend', textContent: '- expected   + actual' }), diff);
      }
      return row;
    });
    $('test-results').replaceChildren(...rows);
  }

  private async reload(id: string): Promise<void> {
    try {
      const request = await this.client.execution(id).request();
      const select = $<HTMLSelectElement>('runtime');
      select.value = String(request.runtime ?? '');
      this.changeRuntime(false);
      const file = request.files?.[0];
      this.editor.code = file ? decode(file.content, file.encoding ?? 'utf8') : '';
      $<HTMLTextAreaElement>('stdin').value = request.stdin ?? '';
      $<HTMLInputElement>('args').value = (request.argv ?? []).join(' ');
      $<HTMLInputElement>('timeout').value = String(request.limits?.timeoutMs ?? '');
      $<HTMLInputElement>('memory').value = String(request.limits?.memoryMb ?? '');
      $<HTMLInputElement>('compile-timeout').value = String(request.compileLimits?.timeoutMs ?? '');
      if (request.tests) {
        this.tests = request.tests.map((t) => ({
          stdin: t.stdin ?? '',
          expectedOutput: t.expectedOutput ?? '',
        }));
        $<HTMLSelectElement>('compare').value = request.compare?.mode ?? 'trim';
        this.renderTests();
      }
      this.resetOutput();
      await this.follow(id, request);
    } catch (error) {
      this.showError(error);
    }
  }

  private readTests(): void {
    const rows = $('tests').querySelectorAll<HTMLElement>('.test-row');
    this.tests = [...rows].map((row) => ({
      stdin: row.querySelector<HTMLTextAreaElement>('.test-input')!.value,
      expectedOutput: row.querySelector<HTMLTextAreaElement>('.test-expected')!.value,
    }));
  }

  private renderTests(): void {
    const rows = this.tests.map((t, i) => {
      const remove = el('button', { type: 'button', className: 'remove', textContent: 'Remove' });
      remove.setAttribute('aria-label', `Remove test ${i + 1}`);
      remove.addEventListener('click', () => {
        this.readTests();
        this.tests.splice(i, 1);
        this.renderTests();
      });
      return el(
        'li',
        { className: 'test-row' },
        el(
          'label',
          {},
          `Input #${i + 1}`,
          el('textarea', { className: 'test-input', value: t.stdin, rows: 2 }),
        ),
        el(
          'label',
          {},
          `Expected #${i + 1}`,
          el('textarea', { className: 'test-expected', value: t.expectedOutput, rows: 2 }),
        ),
        remove,
      );
    });
    $('tests').replaceChildren(...rows);
  }

  private importTests(): void {
    const box = $<HTMLTextAreaElement>('tests-json');
    try {
      this.readTests();
      this.tests.push(...parseTestSet(box.value));
      box.value = '';
      this.renderTests();
      $('tests-json-error').textContent = '';
    } catch (error) {
      $('tests-json-error').textContent = (error as Error).message;
    }
  }

  private resetOutput(): void {
    $('output').replaceChildren();
    $('stats').textContent = '';
    $('compile').hidden = true;
    $('compile-output').textContent = '';
    $('test-results').replaceChildren();
    $('error').hidden = true;
    this.editor.markErrorLine(null);
  }

  private setBusy(busy: boolean): void {
    for (const id of ['run', 'run-tests']) $<HTMLButtonElement>(id).disabled = busy;
    $('result').setAttribute('aria-busy', String(busy));
  }

  private showError(error: unknown): void {
    const box = $('error');
    box.hidden = false;
    if (error instanceof BoxrunApiError) {
      box.textContent =
        error.code === 'UNAUTHORIZED'
          ? 'This service needs an API key: enter it in the key field.'
          : `${error.code}: ${error.message}`;
    } else {
      box.textContent = (error as Error).message ?? String(error);
    }
    $('verdict').textContent = '';
    delete $('verdict').dataset.verdict;
  }
}

void new Playground().start();
