import { DeviceError } from '../errors.js';
import { VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';
import type { VsockBackend, VsockHostStream } from './vsock-backend.js';
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

/**
 * Options for a {@link Vsock} device.
 * @example
 * ```ts
 * import type { VsockBackend, VsockOptions } from '@ts-vmm/devices';
 * declare const backend: VsockBackend;
 * const options: VsockOptions = { guestCid: 3, backend, bufAlloc: 64 * 1024, maxConnections: 64 };
 * ```
 */
export interface VsockOptions {
  /** The guest's context ID (3 or more). */
  guestCid: number | bigint;
  /**
   * The host side: how host programs reach guest ports and where guest connections to the host go.
   * `UnixSocketVsockBackend` from `@ts-vmm/devices/node` is Firecracker's: host programs connect to
   * a Unix socket and send `CONNECT <port>\n`; guest connections to port P go to `<path>_<P>`.
   * The device owns it: {@link Vsock.close} closes it.
   */
  backend: VsockBackend;
  /** Queue size offered for the three queues. Default 256. */
  queueSize?: number;
  /** Receive buffer advertised to the guest per connection (`buf_alloc`). Default 256 KiB. */
  bufAlloc?: number;
  /** Most connections at once; more are refused with RST. Default 1024. */
  maxConnections?: number;
  /**
   * How long a connection may wait for the other side to accept (the guest a host program's
   * REQUEST, the host program a guest's) or to finish closing. Default 2000 ms.
   */
  timeoutMs?: number;
}

type ConnState = 'host-connecting' | 'guest-connecting' | 'established' | 'closing';

interface Connection {
  state: ConnState;
  hostPort: number;
  guestPort: number;
  stream: VsockHostStream;
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
  timer?: ReturnType<typeof setTimeout>;
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

/**
 * virtio-vsock (stream sockets) with a pluggable host side, a {@link VsockBackend}.
 *
 * - Host-initiated: the backend hands the device a stream for guest port P (with
 *   `UnixSocketVsockBackend`: a host program connected to its socket and wrote `CONNECT <P>\n`);
 *   the device sends the guest a REQUEST from a fresh host port and, once the guest accepts, tells
 *   the stream (`OK <hostport>\n`); the stream then carries the data.
 * - Guest-initiated: a guest connection to (CID 2, port P) asks the backend for host port P
 *   (`UnixSocketVsockBackend`: the Unix socket `<path>_<P>`); RESPONSE once connected, RST when
 *   nobody listens.
 *
 * Credit accounting follows the virtio-vsock spec both ways: data goes to the guest only within
 * `buf_alloc - (tx_cnt - fwd_cnt)` of its last advertisement (a CREDIT_REQUEST is sent when it runs
 * out), and the device advertises `bufAlloc` per connection, counting as forwarded only bytes the
 * host socket has taken; a guest overrunning that credit gets RST. Host sockets are paused while a
 * connection holds more than 64 KiB for the guest, so no buffer grows without bound. The device
 * imports no Node module: it works in a browser with a backend of its own.
 * Queues: 0 rx, 1 tx, 2 event (the event queue is never used: no transport resets).
 *
 * @example
 * ```ts
 * import { Vsock, VirtioMmioTransport } from '@ts-vmm/devices';
 * import { UnixSocketVsockBackend } from '@ts-vmm/devices/node';
 * const vsock = new Vsock({ guestCid: 3, backend: new UnixSocketVsockBackend({ path: '/tmp/vm.vsock' }) });
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
  /** Resolves once the backend takes host connections (rejects with its error, e.g. an `'io'` DeviceError). */
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
  private readonly backend: VsockBackend;
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
    if (!options.backend || typeof options.backend.listen !== 'function')
      throw new DeviceError('invalid-config', 'virtio-vsock', 'backend is not a VsockBackend');
    this.backend = options.backend;
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs, qs];
    this.bufAlloc = options.bufAlloc ?? 256 * 1024;
    this.maxConnections = options.maxConnections ?? 1024;
    this.timeoutMs = options.timeoutMs ?? 2000;
    new DataView(this.config.buffer).setBigUint64(0, cid, true);
    this.ready = this.backend.listen((port, stream) => this.onHostConnect(port, stream));
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

  /** Closes every connection, then the backend (`UnixSocketVsockBackend`: the listener and its socket file). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    await this.backend.close();
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

  /** Whether `c` is still the live connection of its key (a closed one's late events are ignored). */
  private live(c: Connection): boolean {
    return this.conns.get(this.key(c.hostPort, c.guestPort)) === c;
  }

  private newConnection(
    state: ConnState,
    hostPort: number,
    guestPort: number,
    stream: VsockHostStream,
  ): Connection {
    const c: Connection = {
      state,
      hostPort,
      guestPort,
      stream,
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
    stream.start({
      connected: () => this.onHostConnected(c),
      data: (d) => this.onHostData(c, d),
      end: () => this.onHostEnd(c),
      error: () => this.onHostError(c),
    });
    return c;
  }

  private armTimer(c: Connection, what: () => void): void {
    if (c.timer) clearTimeout(c.timer);
    c.timer = setTimeout(what, this.timeoutMs);
    (c.timer as { unref?: () => void }).unref?.(); // Node: a pending timeout keeps no process alive
  }

  private drop(c: Connection): void {
    if (c.timer) clearTimeout(c.timer);
    this.conns.delete(this.key(c.hostPort, c.guestPort));
    c.stream.destroy();
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

  /** A host-initiated connection to guest port `port`, from the backend. */
  private onHostConnect(port: number, stream: VsockHostStream): void {
    if (
      !Number.isInteger(port) ||
      port < 0 ||
      port > 0xffff_ffff ||
      this.conns.size >= this.maxConnections ||
      this.closed
    ) {
      stream.destroy();
      return;
    }
    const hostPort = this.allocatePort(port);
    this.newConnection('host-connecting', hostPort, port, stream); // early data may arrive in here
    const c = this.conns.get(this.key(hostPort, port));
    if (!c) return; // the stream failed at once
    this.queueControl({ hostPort, guestPort: port, op: VSOCK_OP.REQUEST, flags: 0, conn: c });
    this.armTimer(c, () => {
      if (c.state === 'host-connecting') this.reset1(c);
      this.safely(() => this.processRx());
    });
    this.safely(() => this.processRx());
  }

  private allocatePort(guestPort: number): number {
    for (;;) {
      const p = this.nextLocalPort;
      this.nextLocalPort = this.nextLocalPort >= 0xffff_fffe ? FIRST_LOCAL_PORT : this.nextLocalPort + 1;
      if (!this.conns.has(this.key(p, guestPort))) return p;
    }
  }

  /** A guest-initiated connection reached the host program. */
  private onHostConnected(c: Connection): void {
    if (c.state !== 'guest-connecting' || !this.live(c)) return;
    c.state = 'established';
    if (c.timer) clearTimeout(c.timer);
    this.queueControl({
      hostPort: c.hostPort,
      guestPort: c.guestPort,
      op: VSOCK_OP.RESPONSE,
      flags: 0,
      conn: c,
    });
    this.safely(() => this.processRx());
  }

  private onHostData(c: Connection, d: Uint8Array): void {
    if (!this.live(c) || c.state === 'closing' || d.length === 0) return;
    c.toGuest.push(d);
    c.toGuestBytes += d.length;
    if (c.toGuestBytes >= HIGH_WATER && !c.paused) {
      c.paused = true;
      c.stream.pause();
    }
    this.safely(() => this.processRx());
  }

  private onHostEnd(c: Connection): void {
    if (!this.live(c) || c.shutdownPending) return;
    if (c.state !== 'established') {
      this.reset1(c);
    } else {
      c.shutdownPending = true; // SHUTDOWN goes out after the data already queued
      this.armTimer(c, () => {
        if (this.live(c)) this.reset1(c);
        this.safely(() => this.processRx());
      });
    }
    this.safely(() => this.processRx());
  }

  private onHostError(c: Connection): void {
    if (this.live(c)) this.reset1(c);
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
          conn.stream.resume();
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
        let stream: VsockHostStream;
        try {
          stream = this.backend.connect(h.dstPort);
        } catch {
          rstBack(); // nothing to connect to
          return;
        }
        const conn = this.newConnection('guest-connecting', h.dstPort, h.srcPort, stream);
        conn.peerBufAlloc = h.bufAlloc;
        conn.peerFwdCnt = h.fwdCnt;
        if (!this.live(conn)) return; // the stream failed at once (RST queued)
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
          c.stream.accepted?.(c.hostPort);
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
        c.stream.write(payload, (err) => {
          if (err || !this.live(c)) return;
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
          c.stream.end();
          this.stats.resets++;
          this.queueControl({ hostPort: c.hostPort, guestPort: c.guestPort, op: VSOCK_OP.RST, flags: 0 });
          if (c.timer) clearTimeout(c.timer);
          this.conns.delete(this.key(c.hostPort, c.guestPort)); // later host data is ignored
        } else {
          if (h.flags & VSOCK_SHUTDOWN.SEND) c.stream.end();
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
