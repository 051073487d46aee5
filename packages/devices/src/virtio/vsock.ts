import { DeviceError } from '../errors.js';
import { type DeviceState, StateReader } from '../state.js';
import { ChunkQueue } from './chunk-queue.js';
import { VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';
import type { ChainReader } from './queue.js';
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
   * REQUEST, the host program a guest's) or to finish closing (a guest that shut a connection down
   * while its host program had not taken everything). Default 2000 ms.
   */
  timeoutMs?: number;
  /**
   * Most bytes of memory the device holds for all connections together, half for each direction:
   * guest bytes not yet taken by host sockets (past that, the device stops taking the guest's
   * transmit queue until a host socket drains) and host bytes not yet read by the guest (past
   * that, every host socket is paused). Counted in chunks of {@link VSOCK_BUFFER_CHUNK} bytes, the
   * memory they really take. Default 32 MiB.
   */
  maxBufferedBytes?: number;
}

/**
 * Size of the chunks the device buffers connection bytes in. A connection holds at most
 * `bufAlloc + 2 * VSOCK_BUFFER_CHUNK` bytes of memory for its host socket (the guest's credit,
 * coalesced, plus the partly used first and last chunks) and at most
 * `64 KiB + 64 KiB + 2 * VSOCK_BUFFER_CHUNK` for the guest (the host socket is paused at 64 KiB;
 * one more read of at most 64 KiB may be under way).
 */
export const VSOCK_BUFFER_CHUNK = 16 * 1024;

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
  /** Host bytes the guest has not read yet. */
  toGuest: ChunkQueue;
  /** Guest bytes the host socket has not taken yet (the first `writing` of them are being written). */
  toHost: ChunkQueue;
  /** Bytes of `toHost` in the stream's write under way (one write at a time). */
  writing: number;
  /** Memory of `toGuest` / `toHost` as last counted in the device's totals. */
  rxHeld: number;
  txHeld: number;
  paused: boolean;
  creditRequested: boolean;
  shutdownPending: boolean;
  /** End the host stream once `toHost` is written (the guest shut down its sending side). */
  endAfterFlush: boolean;
  ended: boolean;
  /** Gone: late events and write completions are ignored. */
  dead: boolean;
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
  /** Times the device stopped taking the transmit queue because host sockets did not drain. */
  txStalls: number;
}

const HIGH_WATER = 64 * 1024;
/** Most memory one transmitted packet can add: the largest payload across chunk boundaries. */
const MAX_PACKET_COST = VSOCK_MAX_PAYLOAD + 2 * VSOCK_BUFFER_CHUNK;
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
 * host socket has taken; a guest overrunning that credit gets RST. Guest bytes are copied into one
 * chunked buffer per connection and written to the host socket one write at a time, so a flood of
 * tiny packets costs its bytes, not an object per packet. Host sockets are paused while a
 * connection holds more than 64 KiB for the guest. Both directions are also bounded in total
 * (`maxBufferedBytes`): past it, the device leaves the guest's transmit queue alone until a host
 * socket drains, and pauses host sockets until the guest reads. The device imports no Node
 * module: it works in a browser with a backend of its own.
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
    txStalls: 0,
  };
  private readonly config = new Uint8Array(8);
  private readonly bufAlloc: number;
  private readonly maxConnections: number;
  private readonly timeoutMs: number;
  private readonly txBudget: number;
  private readonly rxBudget: number;
  private readonly backend: VsockBackend;
  private readonly conns = new Map<string, Connection>();
  /** Connections the guest shut down whose host socket still has bytes to take. */
  private readonly flushing = new Set<Connection>();
  private txHeld = 0;
  private rxHeld = 0;
  private txStalled = false;
  private rxPausedAll = false;
  private readonly txHdr = new Uint8Array(VSOCK_HDR_SIZE);
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
    const max = options.maxBufferedBytes ?? 32 * 1024 * 1024;
    if (!Number.isSafeInteger(max) || max < 2 * (MAX_PACKET_COST + HIGH_WATER))
      throw new DeviceError(
        'invalid-config',
        'virtio-vsock',
        `maxBufferedBytes ${max} must be an integer of at least ${2 * (MAX_PACKET_COST + HIGH_WATER)}`,
      );
    this.txBudget = max / 2;
    this.rxBudget = max / 2;
    new DataView(this.config.buffer).setBigUint64(0, cid, true);
    this.ready = this.backend.listen((port, stream) => this.onHostConnect(port, stream));
    this.ready.catch(() => {});
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * Bytes of memory the device holds for connections now, both directions (at most
   * `maxBufferedBytes`).
   */
  get bufferedBytes(): number {
    return this.txHeld + this.rxHeld;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(): void {}

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.safely(() => this.sendTransportReset());
    this.safely(() => this.processRx());
  }

  reset(): void {
    this.ctx = undefined;
    for (const c of [...this.conns.values()]) this.drop(c);
    for (const c of [...this.flushing]) this.drop(c);
    this.control = [];
    this.txStalled = false;
    this.rxPausedAll = false;
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
    // event queue (2): buffers are kept for transport-reset events (sent after a restore)
    else if (index === 2) this.safely(() => this.sendTransportReset());
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
      toGuest: new ChunkQueue(VSOCK_BUFFER_CHUNK),
      toHost: new ChunkQueue(VSOCK_BUFFER_CHUNK),
      writing: 0,
      rxHeld: 0,
      txHeld: 0,
      paused: false,
      creditRequested: false,
      shutdownPending: false,
      endAfterFlush: false,
      ended: false,
      dead: false,
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
    const key = this.key(c.hostPort, c.guestPort);
    if (this.conns.get(key) === c) this.conns.delete(key);
    this.flushing.delete(c);
    c.dead = true;
    c.toGuest.clear();
    c.toHost.clear();
    c.writing = 0;
    this.recount(c);
    c.stream.destroy();
  }

  /** Brings the device's memory totals up to date with `c`'s buffers, resuming what waited for memory. */
  private recount(c: Connection): void {
    const tx = c.toHost.capacity;
    const rx = c.toGuest.capacity;
    this.txHeld += tx - c.txHeld;
    this.rxHeld += rx - c.rxHeld;
    c.txHeld = tx;
    c.rxHeld = rx;
    if (this.rxPausedAll && this.rxHeld <= this.rxBudget / 2) {
      this.rxPausedAll = false;
      for (const k of this.conns.values()) this.updatePause(k);
    }
    if (this.txStalled && this.txHeld + MAX_PACKET_COST <= this.txBudget) {
      this.txStalled = false;
      queueMicrotask(() => this.safely(() => this.processTx()));
    }
  }

  /** Pauses or resumes `c`'s host stream for its own backlog and the device's total. */
  private updatePause(c: Connection): void {
    if (c.dead) return;
    const want = this.rxPausedAll || c.toGuest.length >= (c.paused ? HIGH_WATER / 2 : HIGH_WATER);
    if (want === c.paused) return;
    c.paused = want;
    if (want) c.stream.pause();
    else c.stream.resume();
  }

  /** Starts the next write of guest bytes to the host stream (one at a time), or ends it when asked. */
  private flushToHost(c: Connection): void {
    if (c.dead || c.writing > 0) return;
    if (c.toHost.length === 0) {
      if (c.endAfterFlush && !c.ended) {
        c.ended = true;
        c.stream.end();
        if (this.flushing.delete(c) && c.timer) clearTimeout(c.timer);
      }
      return;
    }
    const chunk = c.toHost.front();
    const n = chunk.length;
    c.writing = n;
    c.stream.write(chunk, (err) => {
      if (c.dead) return;
      if (err) {
        if (this.live(c)) this.reset1(c);
        else this.drop(c);
        this.safely(() => this.processRx());
        return;
      }
      c.writing = 0;
      c.toHost.consume(n);
      this.recount(c);
      c.fwdCnt = (c.fwdCnt + n) >>> 0;
      // Tell the guest about freed space once a quarter of the buffer has drained.
      if (this.live(c) && (c.fwdCnt - c.lastFwdSent) >>> 0 >= this.bufAlloc / 4) {
        this.queueControl({
          hostPort: c.hostPort,
          guestPort: c.guestPort,
          op: VSOCK_OP.CREDIT_UPDATE,
          flags: 0,
          conn: c,
        });
        this.safely(() => this.processRx());
      }
      this.flushToHost(c);
    });
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
    c.toGuest.push(d); // a copy: a flood of small reads costs its bytes, not an array each
    this.recount(c);
    if (this.rxHeld >= this.rxBudget && !this.rxPausedAll) {
      this.rxPausedAll = true;
      for (const k of this.conns.values()) this.updatePause(k);
    } else this.updatePause(c);
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
      if (c.toGuest.length > 0) {
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
        const n = Math.min(chain.writableLength - VSOCK_HDR_SIZE, conn.toGuest.length, this.credit(conn));
        w.write(this.headerFor(conn.hostPort, conn.guestPort, VSOCK_OP.RW, 0, n, conn));
        let left = n;
        while (left > 0) {
          const head = conn.toGuest.front(left);
          w.write(head);
          conn.toGuest.consume(head.length);
          left -= head.length;
        }
        conn.txCnt = (conn.txCnt + n) >>> 0;
        this.stats.rxBytes += n;
        this.recount(conn);
        this.updatePause(conn);
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
    if (!q.ready) return;
    const mem = ctx.mem;
    let used = 0;
    for (;;) {
      // Host sockets are not draining: leave the guest's packets in its ring until one does
      // (recount() calls back here), so that memory stays within the budget.
      if (this.txHeld + MAX_PACKET_COST > this.txBudget) {
        if (!this.txStalled) {
          this.txStalled = true;
          this.stats.txStalls++;
        }
        break;
      }
      const chain = q.pop(mem);
      if (!chain) break;
      const r = chain.reader(mem);
      let h: VsockHeader | undefined;
      if (r.readInto(this.txHdr) === VSOCK_HDR_SIZE) {
        h = decodeVsockHeader(this.txHdr);
        if (h.len > VSOCK_MAX_PAYLOAD || h.len > r.remaining) h = undefined;
      }
      if (!h) {
        q.addUsed(mem, chain.head, 0);
        used++;
        this.stats.malformed++;
        continue;
      }
      this.stats.txPackets++;
      // The payload is copied out of the chain (into the connection's buffer) before it is returned.
      this.handleGuestPacket(h, r);
      q.addUsed(mem, chain.head, 0);
      used++;
    }
    if (used && q.needsNotification(mem)) ctx.signalUsed(1);
    this.processRx();
  }

  private handleGuestPacket(h: VsockHeader, payload: ChainReader): void {
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
        const len = h.len;
        const inFlight = (c.rxCnt + len - c.fwdCnt) >>> 0;
        if (inFlight > this.bufAlloc) {
          this.reset1(c); // the guest ignored our credit
          return;
        }
        if (len === 0) return;
        if (c.endAfterFlush) {
          this.reset1(c); // data after the guest's own SHUTDOWN of its sending side
          return;
        }
        const n = c.toHost.append(len, (dst) => payload.readInto(dst));
        c.rxCnt = (c.rxCnt + n) >>> 0;
        this.stats.txBytes += n;
        this.recount(c);
        this.flushToHost(c);
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
          this.stats.resets++;
          this.queueControl({ hostPort: c.hostPort, guestPort: c.guestPort, op: VSOCK_OP.RST, flags: 0 });
          if (c.timer) clearTimeout(c.timer);
          this.conns.delete(this.key(c.hostPort, c.guestPort)); // later host data is ignored
          c.toGuest.clear();
          this.recount(c);
          c.endAfterFlush = true;
          if (c.toHost.length > 0) {
            // The host program has not taken everything yet: give it timeoutMs to.
            this.flushing.add(c);
            this.armTimer(c, () => this.drop(c));
          }
          this.flushToHost(c);
        } else {
          if (h.flags & VSOCK_SHUTDOWN.SEND) {
            c.endAfterFlush = true;
            this.flushToHost(c);
          }
          if (h.flags & VSOCK_SHUTDOWN.RCV) {
            c.toGuest.clear();
            this.recount(c);
            this.updatePause(c);
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

  /**
   * The device's state for a snapshot: the guest CID. Connections are not saved: a restored
   * device starts with none and tells the guest so with a transport-reset event.
   * @example fresh.restore(vsock.save());
   */
  save(): DeviceState {
    return { device: 'virtio-vsock', version: 1, guestCid: Number(this.guestCid) };
  }

  /**
   * Loads a state from {@link Vsock.save} (the CID must be this device's): when the transport
   * activates the device, it sends the guest a VIRTIO_VSOCK_EVENT_TRANSPORT_RESET event on the
   * event queue, so the guest drops the connections it had (as Firecracker does on restore).
   * @example fresh.restore(saved);
   */
  restore(state: DeviceState): void {
    const r = new StateReader('virtio-vsock', state, 1);
    const cid = r.u32('guestCid');
    if (BigInt(cid) !== this.guestCid)
      throw r.bad('guestCid', `${cid} is not this device's CID ${this.guestCid}`);
    this.resetPending = true;
  }

  /** Transport-reset events sent to the guest (after restores). */
  transportResets = 0;
  private resetPending = false;

  /** Puts the pending transport-reset event in the guest's next event buffer (if it has posted one). */
  private sendTransportReset(): void {
    const ctx = this.ctx;
    if (!this.resetPending || !ctx) return;
    const q = ctx.queues[2];
    const chain = q.pop(ctx.mem);
    if (!chain) return; // retried when the guest posts an event buffer
    const w = chain.writer(ctx.mem);
    w.write(new Uint8Array(4)); // struct virtio_vsock_event { le32 id = VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (0) }
    q.addUsed(ctx.mem, chain.head, w.written);
    this.resetPending = false;
    this.transportResets++;
    if (q.needsNotification(ctx.mem)) ctx.signalUsed(2);
  }
}
