/**
 * The local server of the ts-vmm page (`ts-vmm-web`): serves the built page and the guest images
 * with the cross-origin isolation headers shared memory needs. Node only.
 *
 * @module
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebVmError } from './index.js';

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  /** TCP port (default 8080; 0 picks a free one). */
  port?: number;
  /** Address to listen on (default `127.0.0.1`). */
  host?: string;
  /** Kernel served as `/guest/kernel` (default: the cached default guest's, if any). */
  kernel?: string;
  /** Initramfs served as `/guest/initrd` (default: the cached default guest's, with its kernel). */
  initrd?: string;
  /** The built page (default `dist/page` of this package). */
  root?: string;
}

/** A running server. */
export interface WebServer {
  /** `http://host:port/`: the page, booting the served guest. */
  url: string;
  kernel?: string;
  initrd?: string;
  close(): Promise<void>;
}

/** The headers that make the page cross-origin isolated (SharedArrayBuffer, shared wasm memory). */
export const ISOLATION_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
};

/**
 * The default guest that `ts-vmm guest fetch` left in the cache (`$TS_VMM_CACHE`, else
 * `~/.cache/ts-vmm`): its kernel and initramfs when both files are there.
 * @example const g = defaultGuest(); if (g) console.log(g.kernel, g.initrd);
 */
export function defaultGuest(
  env: Record<string, string | undefined> = process.env,
): { kernel: string; initrd: string } | undefined {
  const root = env.TS_VMM_CACHE ? env.TS_VMM_CACHE : join(homedir(), '.cache', 'ts-vmm');
  try {
    const m = JSON.parse(readFileSync(join(root, 'guest', 'guest.json'), 'utf8')) as {
      kernel?: unknown;
      initrd?: unknown;
    };
    if (
      typeof m.kernel === 'string' &&
      typeof m.initrd === 'string' &&
      existsSync(m.kernel) &&
      existsSync(m.initrd)
    )
      return { kernel: m.kernel, initrd: m.initrd };
  } catch {
    // no manifest, or a broken one: no default guest
  }
  return undefined;
}

function defaultRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'page');
}

/**
 * Serves the page and the guest: `/` (the page), `/config.json` (the guest the page boots by
 * default), `/guest/kernel` and `/guest/initrd`. Throws a {@link WebVmError} naming a missing
 * image or page.
 *
 * @example
 * ```ts
 * const server = await startWebServer({ port: 0 });
 * console.log(`open ${server.url}`);
 * await server.close();
 * ```
 */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const root = resolve(options.root ?? defaultRoot());
  if (!existsSync(join(root, 'index.html')))
    throw new WebVmError(
      'environment',
      `no page at ${root} (build @ts-vmm/web first: pnpm --filter @ts-vmm/web build)`,
    );
  let kernel = options.kernel;
  let initrd = options.initrd;
  if (kernel === undefined && initrd === undefined) {
    const g = defaultGuest();
    kernel = g?.kernel;
    initrd = g?.initrd;
  }
  for (const [flag, path] of [
    ['--kernel', kernel],
    ['--initrd', initrd],
  ] as const) {
    if (path !== undefined && !(existsSync(path) && statSync(path).isFile()))
      throw new WebVmError('invalid-argument', `${flag} ${path}: no such file`);
  }
  const guest: Record<string, string | undefined> = { '/guest/kernel': kernel, '/guest/initrd': initrd };
  const config = JSON.stringify({
    kernel: kernel ? './guest/kernel' : undefined,
    initrd: initrd ? './guest/initrd' : undefined,
  });

  const send = (res: ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, {
      ...ISOLATION_HEADERS,
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const sendFile = (req: IncomingMessage, res: ServerResponse, file: string, type: string) => {
    const size = statSync(file).size;
    res.writeHead(200, {
      ...ISOLATION_HEADERS,
      'Content-Type': type,
      'Content-Length': size,
      'Cache-Control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  };
  const server = createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return send(res, 405, 'text/plain', 'method not allowed\n');
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/config.json') return send(res, 200, TYPES['.json'], config);
      if (path in guest) {
        const file = guest[path];
        if (!file) return send(res, 404, 'text/plain', `${path}: no ${path.slice(7)} is served\n`);
        return sendFile(req, res, file, 'application/octet-stream');
      }
      const file = normalize(join(root, path === '/' ? 'index.html' : path));
      if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile())
        return send(res, 404, 'text/plain', `${path}: not found\n`);
      return sendFile(req, res, file, TYPES[extname(file)] ?? 'application/octet-stream');
    } catch (e) {
      return send(res, 500, 'text/plain', `${(e as Error).message}\n`);
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e) =>
      fail(
        new WebVmError('environment', `cannot listen on ${host}:${options.port ?? 8080}: ${e.message}`, {
          cause: e,
        }),
      ),
    );
    server.listen(options.port ?? 8080, host, () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    kernel,
    initrd,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
