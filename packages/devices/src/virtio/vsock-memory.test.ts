/**
 * What a hostile guest can make the host hold through vsock: guest connections to a Unix-socket
 * listener that accepts and never reads, flooded with 1-byte packets within the guest's credit.
 * The host process's memory (heap and array buffers, after a full GC) is measured, not timed.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { UnixSocketVsockBackend } from '../node/unix-socket-vsock.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { VirtioMmioTransport } from './mmio.js';
import { VSOCK_BUFFER_CHUNK, Vsock, type VsockOptions } from './vsock.js';
import {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_OP,
  VSOCK_TYPE_STREAM,
  type VsockHeader,
} from './vsock-packet.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
/** Heap and array-buffer bytes of this process after full collections. */
function heldBytes(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-vsock-mem-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const QUEUE = 256;
const HOST_PORT = 5000;

interface GuestConn {
  srcPort: number;
  established: boolean;
  reset: boolean;
  peerBufAlloc: number;
  peerFwd: number;
  sent: number;
}

/**
 * A guest's vsock driver over {@link SimulatedDriver}: fixed rx/tx buffer slots reused as the
 * device completes them (so a million packets need no more guest memory), credit tracked per
 * connection from the device's headers.
 */
class VsockGuest {
  readonly drv: SimulatedDriver;
  readonly mem: GuestMemory;
  readonly conns = new Map<number, GuestConn>();
  txInFlight = 0;
  private readonly rxBase: number;
  private readonly txBase: number;
  private readonly hdr = new Uint8Array(VSOCK_HDR_SIZE);
  private readonly h: VsockHeader = {
    srcCid: 3n,
    dstCid: 2n,
    srcPort: 0,
    dstPort: HOST_PORT,
    len: 0,
    type: VSOCK_TYPE_STREAM,
    op: VSOCK_OP.RW,
    flags: 0,
    bufAlloc: 1 << 20,
    fwdCnt: 0,
  };

  constructor(
    readonly vsock: Vsock,
    readonly txSlot: number,
  ) {
    this.mem = GuestMemory.createShared([{ start: 0, size: 0x200_0000 }]);
    const bus = new Bus('mmio');
    bus.register(0xd000_0000, 0x1000, new VirtioMmioTransport(vsock, { mem: this.mem }));
    this.drv = new SimulatedDriver(bus, 0xd000_0000, this.mem, 0x1000);
    this.drv.init({ queueSizes: [QUEUE, QUEUE, 64] });
    this.rxBase = this.drv.alloc(QUEUE * 256);
    this.txBase = this.drv.alloc(QUEUE * txSlot);
    for (let i = 0; i < QUEUE; i++)
      this.drv.submit(0, [{ addr: this.rxBase + i * 256, len: 256, write: true }], { notify: false });
    this.drv.notify(0);
  }

  /** Takes what the device sent: RESPONSE, CREDIT_UPDATE, RST; reposts the buffers. */
  pollRx(): void {
    const used = this.drv.takeUsed(0);
    for (const u of used) {
      const a = this.rxBase + u.id * 256;
      const h = decodeVsockHeader(this.mem.readBytes(a, VSOCK_HDR_SIZE));
      const c = this.conns.get(h.dstPort);
      if (c) {
        c.peerBufAlloc = h.bufAlloc;
        c.peerFwd = h.fwdCnt;
        if (h.op === VSOCK_OP.RESPONSE) c.established = true;
        if (h.op === VSOCK_OP.RST) c.reset = true;
      }
      this.drv.submit(0, [{ addr: a, len: 256, write: true }], { notify: false });
    }
    if (used.length) this.drv.notify(0);
  }

  credit(c: GuestConn): number {
    return c.peerBufAlloc - ((c.sent - c.peerFwd) >>> 0);
  }

  /** Queues one packet in the next tx slot (no notify); false when the tx ring is full. */
  queue(c: GuestConn, op: number, payload: number, fill = 0): boolean {
    if (this.txInFlight >= QUEUE) return false;
    const q = this.drv.queues[1];
    const a = this.txBase + q.nextDesc * this.txSlot;
    this.h.srcPort = c.srcPort;
    this.h.op = op;
    this.h.len = payload;
    this.mem.writeBytes(a, encodeVsockHeader(this.h, this.hdr));
    if (payload) this.mem.fill(a + VSOCK_HDR_SIZE, payload, fill);
    this.drv.submit(1, [{ addr: a, len: VSOCK_HDR_SIZE + payload }], { notify: false });
    this.txInFlight++;
    if (op === VSOCK_OP.RW) c.sent = (c.sent + payload) >>> 0;
    return true;
  }

  /** Notifies the tx queue and counts what the device took. */
  kickTx(): void {
    this.drv.notify(1);
    this.reapTx();
  }

  reapTx(): void {
    this.txInFlight -= this.drv.takeUsed(1).length;
  }

  async connectAll(count: number): Promise<GuestConn[]> {
    const list: GuestConn[] = [];
    for (let i = 0; i < count; i++) {
      const c: GuestConn = {
        srcPort: 1000 + i,
        established: false,
        reset: false,
        peerBufAlloc: 0,
        peerFwd: 0,
        sent: 0,
      };
      this.conns.set(c.srcPort, c);
      list.push(c);
      this.queue(c, VSOCK_OP.REQUEST, 0);
    }
    this.kickTx();
    for (let i = 0; i < 500 && !list.every((c) => c.established || c.reset); i++) {
      await sleep(2);
      this.pollRx();
    }
    expect(list.filter((c) => !c.established)).toEqual([]);
    return list;
  }

  /** Exact credit from the device (CREDIT_REQUEST), after the host had time to take bytes. */
  async settle(conns: GuestConn[]): Promise<void> {
    await sleep(5);
    for (const c of conns) this.queue(c, VSOCK_OP.CREDIT_REQUEST, 0);
    this.kickTx();
    await tick();
    this.pollRx();
  }

  /**
   * Sends `size`-byte packets on every connection until the host socket stops taking them (its
   * kernel buffer is full: bytes stay unacknowledged).
   */
  async fillKernelBuffers(conns: GuestConn[], size: number): Promise<void> {
    const active = new Set(conns);
    for (let round = 0; active.size && round < 1000; round++) {
      for (const c of active) if (this.credit(c) >= size) this.queue(c, VSOCK_OP.RW, size);
      this.kickTx();
      await this.settle([...active]);
      for (const c of active) if (c.sent !== c.peerFwd) active.delete(c);
    }
    expect(active.size).toBe(0);
  }
}

async function neverReadingListener(udsPath: string): Promise<net.Socket[]> {
  const accepted: net.Socket[] = [];
  const srv = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => srv.listen(`${udsPath}_${HOST_PORT}`, r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of accepted) s.destroy();
        srv.close(() => r());
      }),
  );
  return accepted;
}

let n = 0;
async function device(options: Partial<VsockOptions>) {
  const udsPath = path.join(tmp, `m${n++}.sock`);
  const vsock = new Vsock({
    guestCid: 3,
    backend: new UnixSocketVsockBackend({ path: udsPath }),
    timeoutMs: 5000,
    ...options,
  });
  await vsock.ready;
  cleanups.push(() => vsock.close());
  return { vsock, udsPath };
}

describe('Vsock memory under a hostile guest', () => {
  it('holds at most bufAlloc + 2 chunks per connection: 40 connections, 1-byte packets, a listener that never reads', async () => {
    const CONNS = 40;
    const BUF_ALLOC = 16 * 1024;
    const { vsock, udsPath } = await device({ bufAlloc: BUF_ALLOC });
    const accepted = await neverReadingListener(udsPath);
    const guest = new VsockGuest(vsock, VSOCK_HDR_SIZE + 8192);
    const conns = await guest.connectAll(CONNS);
    for (let i = 0; i < 500 && accepted.length < CONNS; i++) await sleep(2);
    expect(accepted).toHaveLength(CONNS);
    const before = heldBytes();
    await guest.fillKernelBuffers(conns, 4096); // what the host's kernel takes is not ours to count

    // 1-byte packets, round robin over the connections, as much as the credit allows.
    let packets = 0;
    for (;;) {
      let queued = 0;
      for (const c of conns) {
        if (guest.credit(c) > 0 && guest.queue(c, VSOCK_OP.RW, 1, packets & 0xff)) {
          queued++;
          packets++;
        }
      }
      if (!queued) {
        await guest.settle(conns);
        if (!conns.some((c) => guest.credit(c) > 0)) break;
        continue;
      }
      if (guest.txInFlight >= QUEUE - CONNS) guest.kickTx();
    }
    guest.kickTx();
    await guest.settle(conns);
    const after = heldBytes();
    const grew = after - before;
    const bound = CONNS * (BUF_ALLOC + 2 * VSOCK_BUFFER_CHUNK);
    console.log(
      `vsock flood: ${packets} 1-byte packets on ${CONNS} connections; process heap + buffers grew ${(grew / 1024).toFixed(0)} KiB (bound ${(bound / 1024).toFixed(0)} KiB); device holds ${(vsock.bufferedBytes / 1024).toFixed(0)} KiB`,
    );
    expect(conns.every((c) => !c.reset)).toBe(true);
    expect(packets).toBeGreaterThan(CONNS * BUF_ALLOC * 0.5);
    // Every connection used all its credit: the device holds bufAlloc bytes of each.
    const unacked = conns.reduce((sum, c) => sum + ((c.sent - c.peerFwd) >>> 0), 0);
    expect(unacked).toBe(CONNS * BUF_ALLOC);
    expect(vsock.bufferedBytes).toBeGreaterThanOrEqual(unacked);
    expect(vsock.bufferedBytes).toBeLessThanOrEqual(bound);
    expect(grew).toBeLessThan(bound + (1 << 20)); // 1 MiB for the test's own noise
  });

  it('stops taking the tx queue at maxBufferedBytes and resumes, in order, when the host drains', async () => {
    const CONNS = 8;
    const BUF_ALLOC = 64 * 1024;
    const MAX = 512 * 1024;
    const { vsock, udsPath } = await device({ bufAlloc: BUF_ALLOC, maxBufferedBytes: MAX });
    const accepted = await neverReadingListener(udsPath);
    const guest = new VsockGuest(vsock, VSOCK_HDR_SIZE + 4096);
    const conns = await guest.connectAll(CONNS);
    for (let i = 0; i < 500 && accepted.length < CONNS; i++) await sleep(2);
    expect(accepted).toHaveLength(CONNS);
    const TOTAL = 1 << 20; // per connection: more than the kernel, the credit and the budget hold
    const pattern = (c: GuestConn, off: number) => (c.srcPort + Math.floor(off / 4096)) & 0xff;
    const pump = () => {
      for (const c of conns) {
        while (c.sent < TOTAL && guest.credit(c) >= 4096) {
          if (!guest.queue(c, VSOCK_OP.RW, 4096, pattern(c, c.sent))) return;
        }
      }
    };
    let maxHeld = 0;
    let stalledRing = false;
    for (let i = 0; i < 200; i++) {
      pump();
      guest.kickTx();
      maxHeld = Math.max(maxHeld, vsock.bufferedBytes);
      await guest.settle(conns);
      if (guest.txInFlight > 0) stalledRing = true; // chains left in the ring: the device stopped
      if (stalledRing && i > 20) break;
    }
    expect(stalledRing).toBe(true);
    expect(vsock.stats.txStalls).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThanOrEqual(MAX);
    expect(conns.every((c) => !c.reset)).toBe(true);

    // The host starts reading: the device resumes the ring, and every byte arrives in order.
    const got = accepted.map(() => [] as Buffer[]);
    const gotLen = accepted.map(() => 0);
    accepted.forEach((s, i) => {
      s.on('data', (d: Buffer) => {
        got[i].push(d);
        gotLen[i] += d.length;
      });
      s.resume();
    });
    for (let i = 0; i < 5000 && gotLen.some((l) => l < TOTAL); i++) {
      pump();
      guest.kickTx();
      maxHeld = Math.max(maxHeld, vsock.bufferedBytes);
      await sleep(1);
      guest.reapTx();
      guest.pollRx();
    }
    expect(gotLen).toEqual(accepted.map(() => TOTAL));
    expect(maxHeld).toBeLessThanOrEqual(MAX);
    for (let i = 0; i < accepted.length; i++) {
      const all = Buffer.concat(got[i]);
      // which guest connection this socket belongs to: its first byte names it
      const c = conns.find((k) => pattern(k, 0) === all[0])!;
      for (let off = 0; off < TOTAL; off += 4096) {
        if (all[off] !== pattern(c, off) || all[off + 4095] !== pattern(c, off))
          throw new Error(`socket ${i}: bytes out of order at ${off}`);
      }
    }
  });
});
