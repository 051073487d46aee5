import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DeviceError } from '../errors.js';
import type { VsockBackend, VsockHostStream, VsockStreamEvents } from '../virtio/vsock-backend.js';

/** Longest CONNECT line accepted from a host program. */
const MAX_CONNECT_LINE = 64;

/**
 * Socket files this process listens on (path -> inode), removed when the process exits without
 * closing their backend (`process.exit()`, an uncaught exception). A SIGKILL or an abort runs no
 * handler: the next {@link UnixSocketVsockBackend.listen} on the path finds nobody listening and
 * takes the file over.
 */
const socketFiles = new Map<string, number>();
let exitHook = false;

function removeSocketFile(p: string, ino: number): void {
  try {
    if (fs.lstatSync(p).ino === ino) fs.unlinkSync(p); // still ours, not a successor's
  } catch {}
}

function holdSocketFile(p: string): void {
  try {
    socketFiles.set(p, fs.lstatSync(p).ino);
  } catch {
    return;
  }
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const [p, ino] of socketFiles) removeSocketFile(p, ino);
    });
  }
}

/** Whether a process accepts connections on the socket file `p` (false: ECONNREFUSED, a stale file). */
function someoneListens(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'ECONNREFUSED'));
  });
}

/**
 * Why listening on `p` failed, with the real cause: libuv reports a missing directory as EACCES
 * (for Windows' sake), so the directory is looked at; `what` tells more about an address in use.
 */
function listenFailure(p: string, e: NodeJS.ErrnoException, what = ''): string {
  if (e.code === 'EACCES' || e.code === 'ENOTDIR') {
    const dir = path.dirname(p);
    try {
      if (!fs.statSync(dir).isDirectory()) return `ENOTDIR: ${dir} is not a directory`;
    } catch (d) {
      const code = (d as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return `ENOENT: directory ${dir} does not exist`;
      if (code === 'ENOTDIR') return `ENOTDIR: ${firstNonDirectory(dir)} is not a directory`;
    }
  }
  return `${e.message}${what}`;
}

function firstNonDirectory(dir: string): string {
  let d = dir;
  while (path.dirname(d) !== d) {
    const up = path.dirname(d);
    try {
      if (fs.statSync(up).isDirectory()) return d;
    } catch {}
    d = up;
  }
  return dir;
}

/**
 * Options for a {@link UnixSocketVsockBackend}.
 * @example const backend = new UnixSocketVsockBackend({ path: '/run/vm/vsock', connectTimeoutMs: 500 });
 */
export interface UnixSocketVsockOptions {
  /** The listener's socket path; guest connections to host port P go to `<path>_<P>`. */
  path: string;
  /** How long a host program may take to send its `CONNECT <port>` line. Default 2000 ms. */
  connectTimeoutMs?: number;
}

/**
 * Firecracker's hybrid vsock host side over Unix sockets, for `Vsock`: a host program
 * connects to `path` and writes `CONNECT <port>\n` to reach guest port `port` (it reads
 * `OK <hostport>\n` once the guest accepts, then the socket carries the stream); a guest
 * connection to host port P connects to the Unix socket `<path>_<P>`. Node only
 * (`@ts-vmm/devices/node`).
 *
 * @example
 * ```ts
 * import { Vsock } from '@ts-vmm/devices';
 * import { UnixSocketVsockBackend } from '@ts-vmm/devices/node';
 *
 * const vsock = new Vsock({ guestCid: 3, backend: new UnixSocketVsockBackend({ path: '/tmp/vm.vsock' }) });
 * await vsock.ready; // listening
 * // host: socat - UNIX-CONNECT:/tmp/vm.vsock, then type "CONNECT 52"
 * ```
 */
export class UnixSocketVsockBackend implements VsockBackend {
  /** The listener's socket path. */
  readonly path: string;
  private readonly connectTimeoutMs: number;
  private server?: net.Server;
  private listening = false;
  /** Host programs connected that have not sent their CONNECT line yet. */
  private readonly greeting = new Set<net.Socket>();

  constructor(options: UnixSocketVsockOptions) {
    if (typeof options.path !== 'string' || options.path === '')
      throw new DeviceError('invalid-config', 'virtio-vsock', `socket path ${String(options.path)} is empty`);
    this.path = options.path;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  }

  /**
   * Listens on {@link UnixSocketVsockBackend.path}. A socket file nobody listens on any more (left
   * by a VMM that was killed) is replaced; a live socket, or a file that is not a socket, is refused
   * (`'io'` DeviceError, EADDRINUSE). A missing directory is reported as ENOENT with its path.
   */
  async listen(onConnect: (guestPort: number, stream: VsockHostStream) => void): Promise<void> {
    if (this.server)
      throw new DeviceError('invalid-config', 'virtio-vsock', `${this.path} is already listening`);
    const server = net.createServer((s) => this.onSocket(s, onConnect));
    this.server = server;
    const fail = (e: NodeJS.ErrnoException, what?: string) =>
      new DeviceError(
        'io',
        'virtio-vsock',
        `cannot listen on ${this.path}: ${listenFailure(this.path, e, what)}`,
        e,
      );
    const attempt = () =>
      new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        const onError = (e: NodeJS.ErrnoException) => resolve(e);
        server.once('error', onError);
        server.listen(this.path, () => {
          server.off('error', onError);
          resolve(undefined);
        });
      });
    let err = await attempt();
    if (err?.code === 'EADDRINUSE') {
      let st: fs.Stats | undefined;
      try {
        st = fs.lstatSync(this.path);
      } catch {}
      if (st && !st.isSocket()) throw fail(err, ' (the file there is not a socket)');
      if (st && (await someoneListens(this.path))) throw fail(err, ' (another process listens on it)');
      if (this.server !== server) throw fail(err); // closed meanwhile
      try {
        fs.unlinkSync(this.path); // a stale socket file: nobody accepts on it
      } catch {}
      err = await attempt();
    }
    if (err) throw fail(err);
    if (this.server !== server) {
      server.close(); // close() came while listening
      return;
    }
    this.listening = true;
    holdSocketFile(this.path);
  }

  connect(port: number): VsockHostStream {
    return new SocketStream(net.createConnection(`${this.path}_${port}`));
  }

  /**
   * Stops listening and removes the socket file (only one this backend created), before it
   * returns: a process that exits right after calling it leaves no file behind. Closes host
   * programs that have not sent their CONNECT line; the promise resolves once the listener is
   * closed.
   */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.listening) {
      this.listening = false;
      const ino = socketFiles.get(this.path);
      socketFiles.delete(this.path);
      if (ino !== undefined) removeSocketFile(this.path, ino);
    }
    for (const s of this.greeting) s.destroy();
    this.greeting.clear();
    await new Promise<void>((r) => server.close(() => r()));
  }

  /** A host program connected: read its CONNECT line, then hand the socket to the device. */
  private onSocket(
    socket: net.Socket,
    onConnect: (guestPort: number, stream: VsockHostStream) => void,
  ): void {
    let line = '';
    this.greeting.add(socket);
    socket.once('close', () => this.greeting.delete(socket));
    const onData = (d: Buffer) => {
      line += d.toString('latin1');
      const nl = line.indexOf('\n');
      if (nl < 0) {
        if (line.length > MAX_CONNECT_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      clearTimeout(timer);
      this.greeting.delete(socket);
      const m = /^CONNECT (\d{1,10})$/.exec(line.slice(0, nl).trimEnd());
      const port = m ? Number(m[1]) : Number.NaN;
      if (!m || port > 0xffff_ffff) {
        socket.destroy();
        return;
      }
      const rest = Buffer.from(line.slice(nl + 1), 'latin1');
      onConnect(port, new SocketStream(socket, rest.length ? toBytes(rest) : undefined));
    };
    const timer = setTimeout(() => socket.destroy(), this.connectTimeoutMs);
    timer.unref?.();
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }
}

function toBytes(d: Buffer): Uint8Array {
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
}

/** A {@link VsockHostStream} over a Unix socket; paused until the device starts it. */
class SocketStream implements VsockHostStream {
  private early: Uint8Array | undefined;

  constructor(
    private readonly socket: net.Socket,
    early?: Uint8Array,
  ) {
    this.early = early;
    socket.pause();
  }

  start(events: VsockStreamEvents): void {
    const s = this.socket;
    s.once('connect', () => events.connected());
    s.on('data', (d: Buffer) => events.data(toBytes(d)));
    s.on('end', () => events.end());
    s.on('close', () => events.end());
    s.on('error', (e) => events.error(e));
    s.resume(); // data events start on a later tick, after the early bytes below
    const early = this.early;
    this.early = undefined;
    if (early) events.data(early);
  }

  write(bytes: Uint8Array, done: (error?: unknown) => void): void {
    this.socket.write(bytes, done);
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.removeAllListeners('data');
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  accepted(hostPort: number): void {
    this.socket.write(`OK ${hostPort}\n`);
  }
}
