/**
 * Firecracker's API transport: HTTP/1.1 over a Unix socket, carrying requests to a
 * {@link FirecrackerInstance}. Rules (Firecracker's): the socket is up before any VM is
 * configured; a path that already exists is refused rather than taken over; a body larger than
 * the limit (51200 bytes), malformed HTTP or a bad request gets a 400 with
 * `{"fault_message": ...}` and the server goes on; the socket file is removed when the server
 * closes and when the process exits any way Node can see.
 *
 * @module
 */
import { lstatSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { VmmError } from '../vmm/errors.js';
import { type FirecrackerInstance, MAX_PAYLOAD_BYTES } from './instance.js';

/** Socket files this process serves (path -> inode), removed at process exit. */
const socketFiles = new Map<string, number>();
let exitHook = false;

function removeSocketFile(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path); // still ours, not a successor's
  } catch {}
}

/** Options of {@link ApiServer.listen}. */
export interface ApiServerOptions {
  /** The largest request body accepted (default {@link MAX_PAYLOAD_BYTES}, Firecracker's). */
  maxPayloadBytes?: number;
}

function fault(res: ServerResponse, status: number, message: string, close = false): void {
  const body = JSON.stringify({ fault_message: message });
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Server: 'ts-vmm Firecracker API',
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}

/**
 * The API server of one instance.
 *
 * @example
 * ```ts
 * const inst = new FirecrackerInstance({ startVm: firecrackerStartVm() });
 * const server = await ApiServer.listen('/tmp/firecracker.socket', inst);
 * // curl --unix-socket /tmp/firecracker.socket http://localhost/machine-config
 * await server.close(); // the socket file is gone
 * ```
 */
export class ApiServer {
  readonly path: string;
  private readonly server: Server;
  private readonly ino: number;
  private closed = false;

  private constructor(path: string, server: Server, ino: number) {
    this.path = path;
    this.server = server;
    this.ino = ino;
  }

  /**
   * Listens on `path`. Refuses a path that exists (a socket of another instance, a stale one, a
   * file): `VmmError` kind `'config'` naming it.
   * @example const server = await ApiServer.listen('/run/fc.sock', inst);
   */
  static async listen(
    path: string,
    instance: FirecrackerInstance,
    options: ApiServerOptions = {},
  ): Promise<ApiServer> {
    const limit = options.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
    let exists = true;
    try {
      lstatSync(path);
    } catch {
      exists = false;
    }
    if (exists) {
      throw VmmError.config(
        '--api-sock',
        `${JSON.stringify(path)} already exists (remove it, or pick another path)`,
      );
    }
    const server = createServer({ keepAlive: true }, (req, res) => void serve(req, res, instance, limit));
    server.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return socket.destroy();
      const body = JSON.stringify({ fault_message: `Malformed HTTP request: ${e.code ?? e.message}` });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        reject(
          VmmError.config('--api-sock', `cannot listen on ${JSON.stringify(path)}: ${e.code ?? e.message}`),
        );
      };
      server.once('error', onError);
      server.listen(path, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
    const ino = lstatSync(path).ino;
    socketFiles.set(path, ino);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => {
        for (const [p, i] of socketFiles) removeSocketFile(p, i);
      });
    }
    return new ApiServer(path, server, ino);
  }

  /**
   * Stops listening, ends open connections and removes the socket file.
   * @example await server.close();
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await done;
    socketFiles.delete(this.path);
    removeSocketFile(this.path, this.ino);
  }
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  instance: FirecrackerInstance,
  limit: number,
): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = (size: number) =>
    fault(
      res,
      400,
      `Request payload with size ${size} is larger than the limit of ${limit} allowed by server.`,
      true,
    );
  if (declared > limit) {
    tooLarge(declared);
    req.resume();
    req.socket.once('finish', () => req.socket.destroy());
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    }
  } catch {
    return; // the client went away
  }
  if (over) return tooLarge(size);
  const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined;
  try {
    const out = await instance.handle(req.method ?? 'GET', req.url ?? '/', body);
    if (out.status === 204 || out.body === undefined) {
      res.writeHead(out.status, { Server: 'ts-vmm Firecracker API' });
      res.end();
      return;
    }
    const text = JSON.stringify(out.body);
    res.writeHead(out.status, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      Server: 'ts-vmm Firecracker API',
    });
    res.end(text);
  } catch (e) {
    fault(res, 500, `internal error: ${(e as Error).message}`);
  }
}
