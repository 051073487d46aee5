/**
 * The ts-vmm-web server and the parts of the embedding API that need no browser: the isolation
 * headers on every response, the guest files and config.json, 404s and paths outside the page,
 * bad CLI flags, and startVm's and loadImage's errors (a bad option, a wrong URL, no Web Workers).
 * Needs the package built (`turbo run test` builds first).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImage, startVm, WebVmError } from '../src/index.js';
import { defaultGuest, startWebServer, type WebServer } from '../src/server.js';

const pkg = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'ts-vmm-web-'));
const page = join(dir, 'page');

describe('ts-vmm-web', () => {
  let server: WebServer;
  beforeAll(async () => {
    mkdirSync(page, { recursive: true });
    writeFileSync(join(page, 'index.html'), '<!doctype html><p>page</p>');
    writeFileSync(join(page, 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, 'kernel'), 'KERNEL');
    writeFileSync(join(dir, 'initrd'), 'INITRD');
    writeFileSync(join(dir, 'secret'), 'SECRET');
    server = await startWebServer({
      port: 0,
      root: page,
      kernel: join(dir, 'kernel'),
      initrd: join(dir, 'initrd'),
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page, the guest and config.json cross-origin isolated', async () => {
    for (const [path, body, type] of [
      ['', 'page', 'text/html'],
      ['app.js', 'console.log(1)', 'text/javascript'],
      ['guest/kernel', 'KERNEL', 'application/octet-stream'],
      ['guest/initrd', 'INITRD', 'application/octet-stream'],
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(res.headers.get('content-type')).toContain(type);
      expect(await res.text()).toContain(body);
    }
    const config = await (await fetch(`${server.url}config.json`)).json();
    expect(config).toEqual({ kernel: './guest/kernel', initrd: './guest/initrd' });
  });

  it('answers 404 for missing files and paths outside the page', async () => {
    for (const path of ['nope.js', '..%2fsecret', '%2e%2e/secret', 'guest/disk']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('SECRET');
      expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    }
  });

  it('refuses a missing image or page, naming it', async () => {
    await expect(startWebServer({ port: 0, root: page, kernel: join(dir, 'missing') })).rejects.toThrow(
      /--kernel .*missing: no such file/,
    );
    await expect(startWebServer({ port: 0, root: join(dir, 'none') })).rejects.toThrow(/no page at/);
  });

  it('finds the default guest through the cache manifest, or none', () => {
    const cache = join(dir, 'cache');
    mkdirSync(join(cache, 'guest'), { recursive: true });
    expect(defaultGuest({ TS_VMM_CACHE: cache })).toBeUndefined();
    writeFileSync(
      join(cache, 'guest', 'guest.json'),
      JSON.stringify({ kernel: join(dir, 'kernel'), initrd: join(dir, 'initrd') }),
    );
    expect(defaultGuest({ TS_VMM_CACHE: cache })).toEqual({
      kernel: join(dir, 'kernel'),
      initrd: join(dir, 'initrd'),
    });
    writeFileSync(join(cache, 'guest', 'guest.json'), '{ broken');
    expect(defaultGuest({ TS_VMM_CACHE: cache })).toBeUndefined();
  });

  it('the CLI rejects bad flags with a message and exit status 2', () => {
    const cli = join(pkg, 'dist', 'cli.js');
    for (const [args, re] of [
      [['--port', 'eighty'], /--port: "eighty" is not a port number/],
      [['--bogus'], /unknown option "--bogus"/],
      [['--kernel'], /--kernel: needs a value/],
    ] as const) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });

  it('loadImage names a wrong URL; startVm refuses bad options and a host without workers', async () => {
    const err = await loadImage('kernel', `${server.url}no-such-kernel`).catch((e) => e);
    expect(err).toBeInstanceOf(WebVmError);
    expect(err.kind).toBe('fetch');
    expect(err.message).toMatch(/^kernel http:.*no-such-kernel: HTTP 404/);
    const bytes = new Uint8Array(await loadImage('kernel', `${server.url}guest/kernel`));
    expect(new TextDecoder().decode(bytes)).toBe('KERNEL');

    await expect(startVm({ kernel: new Uint8Array(1), memoryMib: 5000 })).rejects.toMatchObject({
      kind: 'invalid-argument',
      message: expect.stringMatching(/memoryMib: 5000/),
    });
    // Node has no Web Worker: the error says what is missing instead of failing later
    await expect(startVm({ kernel: new Uint8Array(1) })).rejects.toMatchObject({ kind: 'environment' });
  });
});
