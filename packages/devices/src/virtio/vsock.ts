import * as fs from 'node:fs';
import * as net from 'node:net';
import { DeviceError } from '../errors.js';
import { VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';
import {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_HOST_CID,
  VSOCK_MAX_PAYLOAD,
  VSOCK_OP,
  VSOCK_SHUTDOWN,
  VSOCK_TYPE_STREAM,
  type VsockHeader,
} from './vsock-packet.js';

/** Options for a {@link Vsock} device. */
export interface VsockOptions {
  /** The guest's context ID (3 or more). */
  guestCid: number | bigint;
  /**
   * Host side, as Firecracker: host programs connect to this Unix socket and send `CONNECT <port>\n`;
   * guest connections to port P go to the Unix socket `<udsPath>_<P>`.
   */
  udsPath: string;
  /** Queue size offered for the three queues. Default 256. */
  queueSize?: number;
  /** Receive buffer advertised to the guest per connection (`buf_alloc`). Default 256 KiB. */
  bufAlloc?: number;
  /** Most connections at once; more are refused with RST. Default 1024. */
  maxConnections?: number;
  /** How long a connection may wait for the other side to accept or to finish closing. Default 2000 ms. */
  timeoutMs?: number;
}

type ConnState = 'host-connecting' | 'guest-connecting' | 'established' | 'closing';

interface Connection {
  state: ConnState;
  hostPort: number;
  guestPort: number;
  socket: net.Socket;
  /** Guest's receive buffer size and bytes it has consumed (its credit to us). */
  peerBufAlloc: number;
  peerFwdCnt: number;
  /** Bytes sent to the guest. */
  txCnt: number;
  /** Bytes received from the guest / handed to the host socket. */
  rxCnt: number;
  fwdCnt: number;
  lastFwdSent: number;
  toGuest: Uint8Array[];
  toGuestBytes: number;
  paused: boolean;
  creditRequested: boolean;
  shutdownPending: boolean;
  timer?: NodeJS.Timeout;
}

interface ControlPacket {
  hostPort: number;
  guestPort: number;
  op: number;
  flags: number;
  conn?: Connection;
}

/** Counters of a {@link Vsock} device. */
export interface VsockStats {
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  resets: number;
  malformed: number;
}

const HIGH_WATER = 64 * 1024;
const MAX_CONTROL = 4096;
const FIRST_LOCAL_PORT = 1 << 30;
const MAX_CONNECT_LINE = 64;

/**
 * virtio-vsock with Firecracker's host-side protocol over Unix sockets.
 *
 * - Host-initiated: a host program connects to `udsPath` and writes `CONNECT <port>\n`; the device
 *   sends the guest a REQUEST from a fresh host port and, once the guest accepts, answers
 *   `OK <hostport>\n`; the socket then carries the stream.
 * - Guest-initiated: a guest connection to (CID 2, port P) connects to the Unix socket
 *   `<udsPath>_<P>`; RESPONSE on success, RST when nobody listens.
 *
 * Credit accounting follows the virtio-vsock spec both ways: data goes to the guest only within
 * `buf_alloc - (tx_cnt - fwd_cnt)` of its last advertisement (a CREDIT_REQUEST is sent when it runs
 * out), and the device advertises `bufAlloc` per connection, counting as forwarded only bytes the
 * host socket has taken; a guest overrunning that credit gets RST. Host sockets are paused while a
 * connection holds more than 64 KiB for the guest, so no buffer grows without bound.
 * Queues: 0 rx, 1 tx, 2 event (the event queue is never used: no transport resets).
 *
 * @example
 * ```ts
 * import { Vsock, VirtioMmioTransport } from '@ts-vmm/devices';
 * const vsock = new Vsock({ guestCid: 3, udsPath: '/tmp/vm.vsock' });
 * await vsock.ready;
 * mmio.register(0xd000_5000, 0x1000, new VirtioMmioTransport(vsock, { mem, irq }), 'virtio-vsock');
 * // host: socat - UNIX-CONNECT:/tmp/vm.vsock, then type "CONNECT 52\n"
 * ```
 */
export class Vsock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.VSOCK;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures = 0n;
  readonly guestCid: bigint;
  readonly udsPath: string;
  /** Resolves once the host-side listener is up. */
  readonly ready: Promise<void>;
  readonly stats: VsockStats = {
    rxPackets: 0,
    txPackets: 0,
    rxBytes: 0,
    txBytes: 0,
    resets: 0,
    malformed: 0,
  };
  private readonly config = new Uint8Array(8);
  private readonly bufAlloc: number;
  private readonly maxConnections: number;
  private readonly timeoutMs: number;
  private readonly server: net.Server;
  private readonly conns = new Map<string, Connection>();
  private control: ControlPacket[] = [];
  private nextLocalPort = FIRST_LOCAL_PORT;
  private ctx?: VirtioContext;
  private rrCursor = 0;
  private closed = false;
  private readonly hdr = new Uint8Array(VSOCK_HDR_SIZE);

  constructor(options: VsockOptions) {
    const cid = BigInt(options.guestCid);
    if (cid < 3n || cid > 0xffff_fffen)
      throw new DeviceError(
        'invalid-config',
        'virtio-vsock',
        `guest CID ${cid} is reserved or out of range (use 3..0xfffffffe)`,
      );
    this.guestCid = cid;
    this.udsPath = options.udsPath;
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs, qs];
    this.bufAlloc = options.bufAlloc ?? 256 * 1024;
    this.maxConnections = options.maxConnections ?? 1024;
    this.timeoutMs = options.timeoutMs ?? 2000;
    new DataView(this.config.buffer).setBigUint64(0, cid, true);
    this.server = net.createServer((s) => this.onHostConnection(s));
    this.ready = new Promise((resolve, reject) => {
      this.server.once('error', (e) =>
        reject(new DeviceError('io', 'virtio-vsock', `cannot listen on ${this.udsPath}: ${e.message}`, e)),
      );
      this.server.listen(this.udsPath, () => resolve());
    });
    this.ready.catch(() => {});
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.conns.size;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.safely(() => this.processRx());
  }

  reset(): void {
    this.ctx = undefined;
    for (const c of [...this.conns.values()]) this.drop(c);
    this.control = [];
  }

  /** Closes every connection and the listener, and removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    await new Promise<void>((r) => this.server.close(() => r()));
    try {
      fs.unlinkSync(this.udsPath);
    } catch {}
  }

  queueNotify(index: number): void {
    if (index === 0) this.processRx();
    else if (index === 1) this.processTx();
    // event queue (2): buffers are kept for transport-reset events, which this device never sends
  }

  private safely(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.ctx?.fail(e);
    }
  }

  private key(hostPort: number, guestPort: number): string {
    return `${hostPort}/${guestPort}`;
  }

  private newConnection(
    state: ConnState,
    hostPort: number,
    guestPort: number,
    socket: net.Socket,
  ): Connection {
    const c: Connection = {
      state,
      hostPort,
      guestPort,
      socket,
      peerBufAlloc: 0,
      peerFwdCnt: 0,
      txCnt: 0,
      rxCnt: 0,
      fwdCnt: 0,
      lastFwdSent: 0,
      toGuest: [],
      toGuestBytes: 0,
      paused: false,
      creditRequested: false,
      shutdownPending: false,
    };
    this.conns.set(this.key(hostPort, guestPort), c);
    socket.on('data', (d: Buffer) => this.onHostData(c, d));
    socket.on('end', () => this.onHostEnd(c));
    socket.on('error', () => this.onHostError(c));
    socket.on('close', () => this.onHostEnd(c));
    return c;
  }

  private armTimer(c: Connection, what: () => void): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(what, this.timeoutMs);
    c.timer.unref?.();
  }

  private drop(c: Connection): void {
    if (c.timer) clearTimeout(c.timer);
    this.conns.delete(this.key(c.hostPort, c.guestPort));
    c.socket.removeAllListeners('data');
    c.socket.destroy();
  }

  private queueControl(p: ControlPacket): void {
    if (this.control.length >= MAX_CONTROL) return; // a flooding guest loses its RSTs, not our memory
    this.control.push(p);
  }

  private reset1(c: Connection): void {
    this.stats.resets++;
    this.queueControl({ hostPort: c.hostPort, guestPort: c.guestPort, op: VSOCK_OP.RST, flags: 0 });
    this.drop(c);
  }

  // ---- host side ----

  private onHostConnection(socket: net.Socket): void {
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
      if (!m || port > 0xffff_ffff || this.conns.size >= this.maxConnections || this.closed) {
        socket.destroy();
        return;
      }
      const hostPort = this.allocatePort(port);
      const c = this.newConnection('host-connecting', hostPort, port, socket);
      const rest = Buffer.from(line.slice(nl + 1), 'latin1');
      if (rest.length) this.onHostData(c, rest);
      this.queueControl({ hostPort, guestPort: port, op: VSOCK_OP.REQUEST, flags: 0, conn: c });
      this.armTimer(c, () => {
        if (c.state === 'host-connecting') this.reset1(c);
        this.safely(() => this.processRx());
      });
      this.safely(() => this.processRx());
    };
    const timer = setTimeout(() => socket.destroy(), this.timeoutMs);
    timer.unref?.();
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  }

  private allocatePort(guestPort: number): number {
    for (;;) {
      const p = this.nextLocalPort;
      this.nextLocalPort = this.nextLocalPort >= 0xffff_fffe ? FIRST_LOCAL_PORT : this.nextLocalPort + 1;
      if (!this.conns.has(this.key(p, guestPort))) return p;
    }
  }

  private onHostData(c: Connection, d: Buffer): void {
    if (!this.conns.has(this.key(c.hostPort, c.guestPort)) || c.state === 'closing') return;
    c.toGuest.push(new Uint8Array(d.buffer, d.byteOffset, d.length));
    c.toGuestBytes += d.length;
    if (c.toGuestBytes >= HIGH_WATER && !c.paused) {
      c.paused = true;
      c.socket.pause();
    }
    this.safely(() => this.processRx());
  }

  private onHostEnd(c: Connection): void {
    if (!this.conns.has(this.key(c.hostPort, c.guestPort)) || c.shutdownPending) return;
    if (c.state !== 'established') {
      this.reset1(c);
    } else {
      c.shutdownPending = true; // SHUTDOWN goes out after the data already queued
      this.armTimer(c, () => {
        if (this.conns.has(this.key(c.hostPort, c.guestPort))) this.reset1(c);
        this.safely(() => this.processRx());
      });
    }
    this.safely(() => this.processRx());
  }

  private onHostError(c: Connection): void {
    if (this.conns.has(this.key(c.hostPort, c.guestPort))) this.reset1(c);
    this.safely(() => this.processRx());
  }

  // ---- guest side ----

  private headerFor(
    hostPort: number,
    guestPort: number,
    op: number,
    flags: number,
    len: number,
    c?: Connection,
  ) {
    const h: VsockHeader = {
      srcCid: BigInt(VSOCK_HOST_CID),
      dstCid: this.guestCid,
      srcPort: hostPort,
      dstPort: guestPort,
      len,
      type: VSOCK_TYPE_STREAM,
      op,
      flags,
      bufAlloc: this.bufAlloc,
      fwdCnt: c ? c.fwdCnt : 0,
    };
    if (c) c.lastFwdSent = c.fwdCnt;
    return encodeVsockHeader(h, this.hdr);
  }

  private credit(c: Connection): number {
    return Math.max(0, c.peerBufAlloc - ((c.txCnt - c.peerFwdCnt) >>> 0));
  }

  /** The next connection with data it may send now (round robin), queuing credit requests on the way. */
  private nextDataConn(): Connection | undefined {
    const all = [...this.conns.values()];
    for (let i = 0; i < all.length; i++) {
      const c = all[(this.rrCursor + i) % all.length];
      if (c.state !== 'established') continue;
      if (c.toGuestBytes > 0) {
        if (this.credit(c) > 0) {
          this.rrCursor = (this.rrCursor + i + 1) % all.length;
          return c;
        }
        if (!c.creditRequested) {
          c.creditRequested = true;
          this.queueControl({
            hostPort: c.hostPort,
            guestPort: c.guestPort,
            op: VSOCK_OP.CREDIT_REQUEST,
            flags: 0,
            conn: c,
          });
        }
      } else if (c.shutdownPending && c.state === 'established') {
        c.state = 'closing';
        this.queueControl({
          hostPort: c.hostPort,
          guestPort: c.guestPort,
          op: VSOCK_OP.SHUTDOWN,
          flags: VSOCK_SHUTDOWN.RCV | VSOCK_SHUTDOWN.SEND,
          conn: c,
        });
      }
    }
    return undefined;
  }

  /** Fills the guest's receive buffers with control packets and host data. */
  processRx(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[0];
    if (!q.ready) return;
    const mem = ctx.mem;
    let used = 0;
    for (;;) {
      const conn = this.control.length ? undefined : this.nextDataConn();
      if (!this.control.length && !conn) break;
      const chain = q.pop(mem);
      if (!chain) break;
      if (chain.writableLength < VSOCK_HDR_SIZE) {
        this.stats.malformed++;
        q.addUsed(mem, chain.head, 0);
        used++;
        continue;
      }
      const w = chain.writer(mem);
      if (this.control.length) {
        const p = this.control.shift()!;
        w.write(this.headerFor(p.hostPort, p.guestPort, p.op, p.flags, 0, p.conn));
      } else if (conn) {
        const n = Math.min(chain.writableLength - VSOCK_HDR_SIZE, conn.toGuestBytes, this.credit(conn));
        w.write(this.headerFor(conn.hostPort, conn.guestPort, VSOCK_OP.RW, 0, n, conn));
        let left = n;
        while (left > 0) {
          const head = conn.toGuest[0];
          const k = Math.min(left, head.length);
          w.write(head.subarray(0, k));
          if (k === head.length) conn.toGuest.shift();
          else conn.toGuest[0] = head.subarray(k);
          left -= k;
        }
        conn.toGuestBytes -= n;
        conn.txCnt = (conn.txCnt + n) >>> 0;
        this.stats.rxBytes += n;
        if (conn.paused && conn.toGuestBytes < HIGH_WATER / 2) {
          conn.paused = false;
          conn.socket.resume();
        }
      }
      this.stats.rxPackets++;
      q.addUsed(mem, chain.head, w.written);
      used++;
    }
    if (used && q.needsNotification(mem)) ctx.signalUsed(0);
  }

  /** Handles every packet the guest sent. */
  processTx(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[1];
    const mem = ctx.mem;
    let used = 0;
    for (let chain = q.pop(mem); chain; chain = q.pop(mem)) {
      const r = chain.reader(mem);
      let h: VsockHeader | undefined;
      let payload: Uint8Array | undefined;
      if (r.remaining >= VSOCK_HDR_SIZE) {
        h = decodeVsockHeader(r.read(VSOCK_HDR_SIZE));
        if (h.len > VSOCK_MAX_PAYLOAD || h.len > r.remaining) h = undefined;
        else if (h.op === VSOCK_OP.RW) payload = r.read(h.len);
      }
      q.addUsed(mem, chain.head, 0);
      used++;
      if (!h) {
        this.stats.malformed++;
        continue;
      }
      this.stats.txPackets++;
      this.handleGuestPacket(h, payload ?? new Uint8Array(0));
    }
    if (used && q.needsNotification(mem)) ctx.signalUsed(1);
    this.processRx();
  }

  private handleGuestPacket(h: VsockHeader, payload: Uint8Array): void {
    if (h.srcCid !== this.guestCid || h.dstCid !== BigInt(VSOCK_HOST_CID)) {
      this.stats.malformed++;
      return; // not from our guest, or not for the host: drop
    }
    const rstBack = () => {
      if (h.op !== VSOCK_OP.RST) {
        this.stats.resets++;
        this.queueControl({ hostPort: h.dstPort, guestPort: h.srcPort, op: VSOCK_OP.RST, flags: 0 });
      }
    };
    if (h.type !== VSOCK_TYPE_STREAM) {
      rstBack();
      return;
    }
    const c = this.conns.get(this.key(h.dstPort, h.srcPort));
    if (c) {
      c.peerBufAlloc = h.bufAlloc;
      c.peerFwdCnt = h.fwdCnt;
      if (this.credit(c) > 0) c.creditRequested = false;
    }
    switch (h.op) {
      case VSOCK_OP.REQUEST: {
        if (c || this.conns.size >= this.maxConnections || this.closed) {
          if (c) this.reset1(c);
          else rstBack();
          return;
        }
        const socket = net.createConnection(`${this.udsPath}_${h.dstPort}`);
        const conn = this.newConnection('guest-connecting', h.dstPort, h.srcPort, socket);
        conn.peerBufAlloc = h.bufAlloc;
        conn.peerFwdCnt = h.fwdCnt;
        socket.once('connect', () => {
          if (conn.state !== 'guest-connecting' || !this.conns.has(this.key(conn.hostPort, conn.guestPort)))
            return;
          conn.state = 'established';
          if (conn.timer) clearTimeout(conn.timer);
          this.queueControl({
            hostPort: conn.hostPort,
            guestPort: conn.guestPort,
            op: VSOCK_OP.RESPONSE,
            flags: 0,
            conn,
          });
          this.safely(() => this.processRx());
        });
        this.armTimer(conn, () => {
          if (conn.state === 'guest-connecting') this.reset1(conn);
          this.safely(() => this.processRx());
        });
        return;
      }
      case VSOCK_OP.RESPONSE:
        if (c?.state === 'host-connecting') {
          c.state = 'established';
          if (c.timer) clearTimeout(c.timer);
          c.socket.write(`OK ${c.hostPort}\n`);
        } else if (c) this.reset1(c);
        else rstBack();
        return;
      case VSOCK_OP.RW: {
        if (!c || (c.state !== 'established' && c.state !== 'closing')) {
          if (c) this.reset1(c);
          else rstBack();
          return;
        }
        const inFlight = (c.rxCnt + payload.length - c.fwdCnt) >>> 0;
        if (inFlight > this.bufAlloc) {
          this.reset1(c); // the guest ignored our credit
          return;
        }
        c.rxCnt = (c.rxCnt + payload.length) >>> 0;
        this.stats.txBytes += payload.length;
        const n = payload.length;
        c.socket.write(payload, (err) => {
          if (err || !this.conns.has(this.key(c.hostPort, c.guestPort))) return;
          c.fwdCnt = (c.fwdCnt + n) >>> 0;
          // Tell the guest about freed space once a quarter of the buffer has drained.
          if ((c.fwdCnt - c.lastFwdSent) >>> 0 >= this.bufAlloc / 4) {
            this.queueControl({
              hostPort: c.hostPort,
              guestPort: c.guestPort,
              op: VSOCK_OP.CREDIT_UPDATE,
              flags: 0,
              conn: c,
            });
            this.safely(() => this.processRx());
          }
        });
        return;
      }
      case VSOCK_OP.CREDIT_UPDATE:
        if (!c) rstBack();
        return; // the new credit was recorded above; processRx runs after the batch
      case VSOCK_OP.CREDIT_REQUEST:
        if (!c) {
          rstBack();
          return;
        }
        this.queueControl({
          hostPort: c.hostPort,
          guestPort: c.guestPort,
          op: VSOCK_OP.CREDIT_UPDATE,
          flags: 0,
          conn: c,
        });
        return;
      case VSOCK_OP.SHUTDOWN:
        if (!c) {
          rstBack();
          return;
        }
        if ((h.flags & 3) === 3) {
          // Full shutdown: finish writing what we have, then close and confirm with RST.
          c.socket.end();
          this.stats.resets++;
          this.queueControl({ hostPort: c.hostPort, guestPort: c.guestPort, op: VSOCK_OP.RST, flags: 0 });
          if (c.timer) clearTimeout(c.timer);
          this.conns.delete(this.key(c.hostPort, c.guestPort));
          c.socket.removeAllListeners('data');
        } else {
          if (h.flags & VSOCK_SHUTDOWN.SEND) c.socket.end();
          if (h.flags & VSOCK_SHUTDOWN.RCV) {
            c.toGuest = [];
            c.toGuestBytes = 0;
          }
        }
        return;
      case VSOCK_OP.RST:
        if (c) this.drop(c);
        return;
      default:
        rstBack();
        return;
    }
  }
}
