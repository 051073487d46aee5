import * as fs from 'node:fs';
import * as net from 'node:net';
import { DeviceError } from '../errors.js';
import type { VsockBackend, VsockHostStream, VsockStreamEvents } from '../virtio/vsock-backend.js';

/** Longest CONNECT line accepted from a host program. */
const MAX_CONNECT_LINE = 64;

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

  constructor(options: UnixSocketVsockOptions) {
    if (typeof options.path !== 'string' || options.path === '')
      throw new DeviceError('invalid-config', 'virtio-vsock', `socket path ${String(options.path)} is empty`);
    this.path = options.path;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
  }

  listen(onConnect: (guestPort: number, stream: VsockHostStream) => void): Promise<void> {
    if (this.server)
      throw new DeviceError('invalid-config', 'virtio-vsock', `${this.path} is already listening`);
    const server = net.createServer((s) => this.onSocket(s, onConnect));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e) =>
        reject(new DeviceError('io', 'virtio-vsock', `cannot listen on ${this.path}: ${e.message}`, e)),
      );
      server.listen(this.path, () => {
        this.listening = true;
        resolve();
      });
    });
  }

  connect(port: number): VsockHostStream {
    return new SocketStream(net.createConnection(`${this.path}_${port}`));
  }

  /** Stops listening and removes the socket file (only one this backend created). */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((r) => server.close(() => r()));
    if (this.listening) {
      this.listening = false;
      try {
        fs.unlinkSync(this.path);
      } catch {}
    }
  }

  /** A host program connected: read its CONNECT line, then hand the socket to the device. */
  private onSocket(
    socket: net.Socket,
    onConnect: (guestPort: number, stream: VsockHostStream) => void,
  ): void {
    let line = '';
    const onData = (d: Buffer) => {
      line += d.toString('latin1');
      const nl = line.indexOf('\n');
      if (nl < 0) {
        if (line.length > MAX_CONNECT_LINE) socket.destroy();
        return;
      }
      socket.off('data', onData);
      clearTimeout(timer);
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
