/**
 * The page in a real browser: Debian's Chromium, driven by playwright-core (which downloads no
 * browser), opens the page that `ts-vmm-web` serves, boots the default guest (Debian's x86-64
 * kernel and the busybox initramfs from the guest cache) on the emulator in the page's Web
 * Worker, types into the xterm.js terminal and reads the answers back from its buffer, powers the
 * guest off and sees the page report the exit. A wrong kernel URL and a file that is not a kernel
 * give a message on the page. Page console errors fail the test. Needs the package built
 * (`turbo run test` builds first) and `apt-get install chromium`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultGuest } from '../src/server.js';

const CHROMIUM = process.env.TS_VMM_CHROMIUM ?? '/usr/bin/chromium';
const pkg = join(import.meta.dirname, '..');
const cli = join(pkg, 'dist', 'cli.js');
const shots = join(pkg, '.cache');

const guest = defaultGuest();
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not installed (apt-get install chromium)`
  : !guest
    ? 'no default guest in the cache (ts-vmm guest fetch)'
    : !existsSync(cli)
      ? 'package not built (pnpm --filter @ts-vmm/web build)'
      : '';
if (skip) console.log(`skipped: the page in Chromium (${skip})`);

/** Starts `ts-vmm-web --port 0` and returns its URL from the line it prints. */
function startServer(): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [cli, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1], proc });
    });
    proc.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.once('exit', (code) => reject(new Error(`ts-vmm-web exited (${code}): ${out}`)));
  });
}

/** Polls the page's terminal text until `re` matches, or fails with what the terminal shows. */
async function waitForTerminal(page: Page, re: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < end) {
    text = await page.evaluate(() =>
      (window as unknown as { tsVmm: { terminalText(): string } }).tsVmm.terminalText(),
    );
    if (re.test(text)) return text;
    const state = await page.evaluate(
      () => (window as unknown as { tsVmm: { state: string; message?: string } }).tsVmm,
    );
    if (state.state === 'error' || state.state === 'exited')
      throw new Error(
        `the VM ended (${state.state}: ${state.message ?? ''}) before ${re}; terminal:\n${text}`,
      );
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${re}; terminal:\n${text.slice(-3000)}`);
}

describe.skipIf(!!skip)('the ts-vmm page in Chromium', () => {
  let server: { url: string; proc: ChildProcess };
  let browser: Browser;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    server = await startServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    server?.proc.kill('SIGTERM');
  });

  async function open(query = ''): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
    await page.goto(`${server.url}${query}`);
    return page;
  }

  it('serves the page cross-origin isolated, at its size', async () => {
    const res = await fetch(server.url);
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(await res.text()).toContain('app.js');
    let raw = 0;
    let gz = 0;
    for (const f of ['app.js', 'worker.js', 'app.css']) {
      const bytes = readFileSync(join(pkg, 'dist', 'page', f));
      raw += bytes.length;
      gz += gzipSync(bytes, { level: 9 }).length;
    }
    console.log(
      `page size: ${(raw / 1024).toFixed(0)} KiB JavaScript+CSS, ${(gz / 1024).toFixed(0)} KiB gzipped (target: at most 1024 KiB gzipped; the WebAssembly is generated at run time)`,
    );
  });

  it('boots the default guest to a shell, answers in the terminal and reports the poweroff', async () => {
    const page = await open();
    const t0 = Date.now();
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    // busybox sh's prompt on the console (ash prints "# " for root; "~ #" with a PS1 of \w)
    await waitForTerminal(page, /[#$] $/m, 180_000);
    const bootS = (Date.now() - t0) / 1000;
    await page.locator('#terminal').click();
    await page.keyboard.type('uname -m; grep -c ^processor /proc/cpuinfo\n');
    const text = await waitForTerminal(
      page,
      /grep -c \^processor \/proc\/cpuinfo\s*\n\s*x86_64\s*\n\s*1\s*\n/,
      60_000,
    );
    expect(text).toMatch(/\nx86_64\s*\n1\s*\n/);
    const status = await page.locator('#status').textContent();
    console.log(`Chromium: shell after ${bootS.toFixed(1)} s; status line: ${status}`);
    expect(status).toMatch(/instructions\/s/);
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'browser-shell.png') });

    await page.keyboard.type('poweroff -f\n');
    await page.waitForFunction(
      () => (window as unknown as { tsVmm: { state: string } }).tsVmm.state === 'exited',
      undefined,
      { timeout: 60_000 },
    );
    const exit = await page.evaluate(
      () => (window as unknown as { tsVmm: { exit: { reason: string } } }).tsVmm.exit,
    );
    expect(exit.reason).toBe('poweroff');
    expect(await page.locator('#status').textContent()).toContain('guest exited: poweroff');
    await page.close();
    expect(consoleErrors).toEqual([]);
  }, 300_000);

  it('stops a booting guest from the Stop button', async () => {
    const page = await open();
    await page.waitForFunction(
      () => (window as unknown as { tsVmm: { state: string } }).tsVmm.state === 'running',
      undefined,
      {
        timeout: 60_000,
      },
    );
    await page.locator('#stop').click();
    await page.waitForFunction(
      () => (window as unknown as { tsVmm: { state: string } }).tsVmm.state === 'exited',
      undefined,
      {
        timeout: 10_000,
      },
    );
    const exit = await page.evaluate(
      () => (window as unknown as { tsVmm: { exit: { reason: string } } }).tsVmm.exit,
    );
    expect(exit.reason).toBe('user-quit');
    expect(await page.locator('#status').textContent()).toContain('guest exited: user-quit');
    await page.close();
  });

  it('shows a clear message for a wrong kernel URL', async () => {
    const page = await open('?kernel=./no-such-kernel');
    await page.waitForFunction(
      () => (window as unknown as { tsVmm: { state: string } }).tsVmm.state === 'error',
    );
    const message = await page.locator('#message').textContent();
    expect(message).toMatch(/kernel .*no-such-kernel: HTTP 404/);
    expect(await page.locator('#message').isVisible()).toBe(true);
    await page.close();
  });

  it('shows a clear message for a file that is not a kernel', async () => {
    const page = await open('?kernel=./app.css');
    await page.waitForFunction(
      () => (window as unknown as { tsVmm: { state: string } }).tsVmm.state === 'error',
    );
    const message = await page.locator('#message').textContent();
    expect(message).toMatch(/kernel \.\/app\.css: cannot load the kernel/);
    // the page still works: the same page boots a dropped kernel file (here: the wrong one again)
    await page.locator('#kernel-file').setInputFiles({
      name: 'not-a-kernel.bin',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('this is not a kernel'),
    });
    await page.waitForFunction(
      () =>
        /not-a-kernel\.bin: cannot load the kernel/.test(
          document.getElementById('message')?.textContent ?? '',
        ),
      undefined,
      { timeout: 10_000 },
    );
    await page.close();
    // a 404 is reported by the browser as a console error of the failed resource: only the
    // page's own errors count
    expect(consoleErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
