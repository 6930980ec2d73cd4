import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlaygroundBundle, PLAYGROUND_BUNDLE } from '../../scripts/build-playground.js';
import { ensureChromium } from '../support/chromium.js';
import { type RunningService, startService, tempDir } from './service-harness.js';

// Screenshots go to docs/ only when asked (BOXRUN_UPDATE_SCREENSHOTS=1), so a test run leaves the
// checkout as it was; otherwise into a temp dir, still taken so every state is rendered.
const DOCS =
  process.env.BOXRUN_UPDATE_SCREENSHOTS === '1'
    ? join(import.meta.dirname, '../../docs')
    : mkdtempSync(join(tmpdir(), 'boxrun-playground-shots-'));
/** Compiling C++ on a loaded 2-core machine: generous. */
const RUN_TIMEOUT = 150_000;
const chromiumSetup = ensureChromium();
const skip = 'skip' in chromiumSetup ? chromiumSetup.skip : null;
if (skip) console.warn(`playground browser tests skipped: ${skip}`);

const SUM =
  '#include <iostream>\nint main() {\n  long long a, b;\n  std::cin >> a >> b;\n  std::cout << a + b << "\\n";\n}\n';

it('the committed playground bundle is what npm run build:playground makes from the sources', async () => {
  const committed = readFileSync(PLAYGROUND_BUNDLE, 'utf8');
  expect(committed === (await buildPlaygroundBundle()), 'run npm run build:playground and commit').toBe(true);
});

describe.skipIf(skip !== null)('the playground in Chromium', () => {
  const tmp = tempDir();
  let svc: RunningService;
  let browser: Browser;
  let page: Page;
  const offOrigin: string[] = [];

  beforeAll(async () => {
    svc = await startService(tmp.dir);
    browser = await chromium.launch({
      executablePath: (chromiumSetup as { path: string }).path,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
        // No --user-data-dir: playwright launches every browser with a fresh temporary profile of its own.
      ],
    });
    page = await newPage({ width: 1280, height: 860 }, 'light');
    await page.goto(`${svc.url}/playground`);
    await page.waitForSelector('body[data-ready="true"]');
  });

  afterAll(async () => {
    await browser?.close();
    await svc?.close();
    tmp.remove();
  });

  async function newPage(viewport: { width: number; height: number }, colorScheme: 'light' | 'dark') {
    const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1 });
    const p = await context.newPage();
    // The page must work on a closed network: nothing it loads may come from elsewhere.
    p.on('request', (request) => {
      if (!request.url().startsWith(svc.url) && !request.url().startsWith('data:'))
        offOrigin.push(request.url());
    });
    return p;
  }

  async function setCode(code: string) {
    await page.click('.cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    // insertText: no auto-indent or bracket closing, the text lands as written.
    await page.keyboard.insertText(code);
  }

  async function verdict(expectedVerdict: string, p: Page = page): Promise<string> {
    await p.waitForFunction(
      () => {
        const v = document.querySelector<HTMLElement>('#verdict')?.dataset.verdict;
        return v !== undefined && v !== 'running';
      },
      undefined,
      { timeout: RUN_TIMEOUT },
    );
    const found = (await p.getAttribute('#verdict', 'data-verdict')) ?? '';
    // What the page shows besides the verdict, for the failure message of a surprising one.
    const shown = await p.evaluate(() =>
      ['#stats', '#compile-output', '#error'].map((s) => document.querySelector(s)?.textContent).join(' | '),
    );
    return `${found}${found === expectedVerdict ? '' : ` (${shown})`}`;
  }

  it('runs C++ that reads two numbers and shows the sum, with the run facts', async () => {
    await page.selectOption('#runtime', 'cpp');
    // g++ on a loaded 2-core machine can take longer than the C++ runtime's 30 s compile limit.
    await page.fill('#compile-timeout', '240000');
    await setCode(SUM);
    await page.fill('#stdin', '2 3\n');
    await page.click('.cm-content');
    await page.keyboard.press('Control+Enter');
    expect(await verdict('ok')).toBe('ok');
    expect(await page.textContent('#output')).toBe('5\n');
    expect(await page.textContent('#stats')).toMatch(
      /exit 0 · time \d+ ms · CPU \d+ ms · memory [\d.]+ (KiB|MiB)/,
    );
    expect(page.url()).toMatch(/\/playground\/e\/[\w-]+$/);
    await page.screenshot({ path: join(DOCS, 'playground-run.png') });
  });

  it('shows stdout and stderr distinctly, in order', async () => {
    await page.selectOption('#runtime', 'python');
    // Sleeps keep it running while the page follows it: an execution that is already over replays its
    // stored stdout, then its stderr (the order between the two streams is only known live).
    await setCode(
      'import sys, time\nprint("one", flush=True)\ntime.sleep(0.5)\nprint("two", file=sys.stderr, flush=True)\ntime.sleep(0.5)\nprint("three")\n',
    );
    await page.click('#run');
    expect(await verdict('ok')).toBe('ok');
    const spans = await page.$$eval('#output span', (els) => els.map((e) => [e.className, e.textContent]));
    expect(spans).toEqual([
      ['stdout', 'one\n'],
      ['stderr', 'two\n'],
      ['stdout', 'three\n'],
    ]);
  });

  it('highlights the line of a compile error in the editor', async () => {
    await page.selectOption('#runtime', 'cpp');
    await setCode('#include <iostream>\nint main() {\n  int a = 1;\n  std::cout << b;\n}\n');
    await page.click('#run');
    expect(await verdict('compile_error')).toBe('compile_error');
    expect(await page.textContent('#compile-output')).toMatch(/main\.cpp:4:\d+: error: .b. was not declared/);
    const marked = await page.$$eval('.cm-error-line', (els) => els.map((e) => e.textContent));
    expect(marked).toEqual(['  std::cout << b;']);
    await page.screenshot({ path: join(DOCS, 'playground-compile-error.png') });
  });

  it('reports a time limit', async () => {
    await setCode('int main() {\n  volatile unsigned long n = 0;\n  for (;;) n++;\n}\n');
    await page.fill('#timeout', '1000');
    await page.click('#run');
    expect(await verdict('time_limit')).toBe('time_limit');
    expect(await page.textContent('#verdict')).toContain('TLE');
    await page.fill('#timeout', '');
    await page.screenshot({ path: join(DOCS, 'playground-time-limit.png') });
  });

  it('judges a tests panel with one AC and one WA, showing the diff', async () => {
    await page.selectOption('#runtime', 'cpp');
    await page.fill('#compile-timeout', '240000');
    await setCode(SUM);
    await page.click('#add-test');
    await page.click('#add-test');
    const inputs = page.locator('.test-input');
    const expected = page.locator('.test-expected');
    await inputs.nth(0).fill('1 2');
    await expected.nth(0).fill('3');
    await inputs.nth(1).fill('2 2');
    await expected.nth(1).fill('5');
    await page.selectOption('#compare', 'tokens');
    await page.click('#run-tests');
    expect(await verdict('wrong_answer')).toBe('wrong_answer');
    const results = await page.$$eval('#test-results > li', (els) =>
      els.map((e) => (e as HTMLElement).dataset.verdict),
    );
    expect(results).toEqual(['accepted', 'wrong_answer']);
    expect(await page.textContent('.test-result[data-verdict="wrong_answer"] .diff-expected')).toBe('- 5\n');
    expect(await page.textContent('.test-result[data-verdict="wrong_answer"] .diff-actual')).toBe('+ 4\n');
    await page.screenshot({ path: join(DOCS, 'playground-tests.png'), fullPage: true });
  });

  it('a permalink reloads the code, the tests and the result in a new page (phone width, dark)', async () => {
    const url = page.url();
    const phone = await newPage({ width: 390, height: 844 }, 'dark');
    await phone.goto(url);
    await phone.waitForSelector('body[data-ready="true"]');
    expect(await verdict('wrong_answer', phone)).toBe('wrong_answer');
    expect(await phone.textContent('.cm-content')).toContain('std::cin >> a >> b;');
    expect(await phone.inputValue('#runtime')).toBe('cpp');
    expect(
      await phone.$$eval('.test-input', (els) => els.map((e) => (e as HTMLTextAreaElement).value)),
    ).toEqual(['1 2', '2 2']);
    expect(await phone.getAttribute('html', 'data-theme')).toBe('dark');
    // Usable at phone width: nothing wider than the screen.
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: join(DOCS, 'playground-permalink-phone.png'), fullPage: true });
    await phone.context().close();
  });

  it('is keyboard accessible: Tab reaches the controls, and everything came from the service itself', async () => {
    await page.click('h1 span');
    const reached = new Set<string>();
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      reached.add(
        await page.evaluate(() => document.activeElement?.id || document.activeElement?.className || ''),
      );
    }
    for (const id of ['runtime', 'api-key', 'theme', 'run']) expect(reached).toContain(id);
    expect(offOrigin).toEqual([]);
  });
});
