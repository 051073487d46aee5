/**
 * Bounds of the README's threat model that no other test proves: each test drives a device the way
 * a hostile guest (or a misbehaving backend) would and checks the bound, not just the absence of
 * an exception.
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { SimulatedDriver } from './testing/driver-sim.js';
import { Block, SECTOR_SIZE, VIRTIO_BLK_S, VIRTIO_BLK_T } from './virtio/block.js';
import { type DiskBackend, MemoryDiskBackend } from './virtio/disk.js';
import { VirtioMmioTransport } from './virtio/mmio.js';
import { Vsock, type VsockOptions } from './virtio/vsock.js';
import type { VsockBackend, VsockHostStream, VsockStreamEvents } from './virtio/vsock-backend.js';
import {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_OP,
  VSOCK_TYPE_STREAM,
} from './virtio/vsock-packet.js';

const BASE = 0xd000_0000;

function blockOver(backend: DiskBackend, mode: 'sync' | 'async' = 'sync') {
  const mem = GuestMemory.createShared([{ start: 0, size: 0x40_0000 }]);
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, new VirtioMmioTransport(new Block({ backend, mode, queueSize: 16 }), { mem }));
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init();
  const request = (type: number, sector: number, payload: { len: number; write?: boolean }[]) => {
    const hdr = drv.alloc(16);
    mem.write32(hdr, type);
    mem.write64(hdr + 8, BigInt(sector));
    const bufs = payload.map((p) => ({ addr: drv.alloc(p.len), len: p.len, write: p.write }));
    const status = drv.alloc(1);
    mem.write8(status, 0xee);
    drv.submit(0, [{ addr: hdr, len: 16 }, ...bufs, { addr: status, len: 1, write: true }]);
    return { bufs, status: () => mem.read8(status) };
  };
  return { mem, drv, request };
}

describe('virtio-blk: bounded work per request', () => {
  it('refuses a WRITE_ZEROES of more than 16 MiB (UNSUPP), and the disk is untouched', () => {
    const bytes = new Uint8Array(40 << 20).fill(0x5a);
    const g = blockOver(new MemoryDiskBackend(bytes));
    const zeroes = (count: number) => {
      const seg = g.drv.alloc(16);
      g.mem.write64(seg, 0n);
      g.mem.write32(seg + 8, count);
      const hdr = g.drv.alloc(16);
      g.mem.write32(hdr, VIRTIO_BLK_T.WRITE_ZEROES);
      const st = g.drv.alloc(1);
      g.drv.submit(0, [
        { addr: hdr, len: 16 },
        { addr: seg, len: 16 },
        { addr: st, len: 1, write: true },
      ]);
      return g.mem.read8(st);
    };
    const max = (16 << 20) / SECTOR_SIZE;
    expect(zeroes(max + 1)).toBe(VIRTIO_BLK_S.UNSUPP);
    expect(bytes.every((b) => b === 0x5a)).toBe(true);
    expect(zeroes(max)).toBe(VIRTIO_BLK_S.OK); // exactly 16 MiB is served
    expect(bytes[(16 << 20) - 1]).toBe(0);
    expect(bytes[16 << 20]).toBe(0x5a);
  });

  it('treats DISCARD as a validated hint: OK, and not one byte of the disk changes', () => {
    const bytes = new Uint8Array(1 << 20).fill(0x33);
    const g = blockOver(new MemoryDiskBackend(bytes));
    const seg = g.drv.alloc(16);
    g.mem.write64(seg, 0n);
    g.mem.write32(seg + 8, (1 << 20) / SECTOR_SIZE);
    const hdr = g.drv.alloc(16);
    g.mem.write32(hdr, VIRTIO_BLK_T.DISCARD);
    const st = g.drv.alloc(1);
    g.drv.submit(0, [
      { addr: hdr, len: 16 },
      { addr: seg, len: 16 },
      { addr: st, len: 1, write: true },
    ]);
    expect(g.mem.read8(st)).toBe(VIRTIO_BLK_S.OK);
    expect(bytes.every((b) => b === 0x33)).toBe(true);
  });
});

describe('a backend cannot corrupt the device', () => {
  /** A disk that claims to have moved more bytes than it was asked for (or not a number). */
  function lyingDisk(claim: (asked: number) => number): DiskBackend {
    const inner = new MemoryDiskBackend(1 << 20);
    const total = (b: readonly Uint8Array[]) => b.reduce((n, x) => n + x.length, 0);
    return {
      size: inner.size,
      readSync: (b) => claim(total(b)),
      writeSync: (b) => claim(total(b)),
      flushSync: () => {},
      read: (b, _o, done) => queueMicrotask(() => done(null, claim(total(b)))),
      write: (b, _o, done) => queueMicrotask(() => done(null, claim(total(b)))),
      flush: (done) => done(null),
      close: () => {},
    };
  }

  for (const [what, claim] of [
    ['more bytes than asked', (n: number) => n + 512],
    ['not a count', () => Number.NaN],
    ['a negative count', () => -1],
  ] as const) {
    it(`a disk backend reporting ${what} ends the request with IOERR (sync and async)`, async () => {
      for (const mode of ['sync', 'async'] as const) {
        const g = blockOver(lyingDisk(claim), mode);
        const rd = g.request(VIRTIO_BLK_T.IN, 0, [{ len: 4096, write: true }]);
        const wr = g.request(VIRTIO_BLK_T.OUT, 8, [{ len: 4096 }]);
        await new Promise((r) => setTimeout(r, 0));
        expect([mode, rd.status(), wr.status()]).toEqual([mode, VIRTIO_BLK_S.IOERR, VIRTIO_BLK_S.IOERR]);
        expect(g.drv.status & 64).toBe(0); // no DEVICE_NEEDS_RESET: it was the backend, not the guest
      }
    });
  }
});

class Stream implements VsockHostStream {
  events?: VsockStreamEvents;
  paused = false;
  destroyed = false;
  constructor(private readonly connectAtOnce = true) {}
  start(e: VsockStreamEvents): void {
    this.events = e;
    if (this.connectAtOnce) e.connected();
  }
  write(_b: Uint8Array, done: (error?: unknown) => void): void {
    queueMicrotask(() => done());
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
}

function vsockGuest(options: Partial<VsockOptions> = {}, rxBuffers = 8) {
  let dial: ((port: number, s: VsockHostStream) => void) | undefined;
  const streams: Stream[] = [];
  const backend: VsockBackend = {
    listen: async (onConnect) => {
      dial = onConnect;
    },
    connect: () => {
      const s = new Stream();
      streams.push(s);
      return s;
    },
    close: async () => {},
  };
  const vsock = new Vsock({ guestCid: 3, backend, ...options });
  const mem = GuestMemory.createShared([{ start: 0, size: 0x40_0000 }]);
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, new VirtioMmioTransport(vsock, { mem }));
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init({ queueSizes: [32, 32, 32] });
  const rxBase = drv.alloc(32 * 256);
  const txBase = drv.alloc(32 * 256);
  const post = (n: number) => {
    for (let i = 0; i < n; i++) {
      const d = drv.queues[0].nextDesc;
      drv.submit(0, [{ addr: rxBase + d * 256, len: 256, write: true }], { notify: false });
    }
    drv.notify(0);
  };
  post(rxBuffers);
  /** Takes what the device sent (reposting as many buffers as it used, when asked). */
  const received = (repost = true) => {
    const used = drv.takeUsed(0);
    const out = used.map((u) => decodeVsockHeader(mem.readBytes(rxBase + u.id * 256, VSOCK_HDR_SIZE)));
    if (repost && used.length) post(used.length);
    return out;
  };
  const send = (srcPort: number, dstPort: number, op: number) => {
    const a = txBase + drv.queues[1].nextDesc * 256;
    mem.writeBytes(
      a,
      encodeVsockHeader({
        srcCid: 3n,
        dstCid: 2n,
        srcPort,
        dstPort,
        len: 0,
        type: VSOCK_TYPE_STREAM,
        op,
        flags: 0,
        bufAlloc: 1 << 20,
        fwdCnt: 0,
      }),
    );
    drv.submit(1, [{ addr: a, len: VSOCK_HDR_SIZE }]);
    drv.takeUsed(1);
  };
  return { vsock, streams, received, send, post, dial: (p: number, s: VsockHostStream) => dial?.(p, s) };
}

describe('virtio-vsock: bounded connections and control packets', () => {
  it('refuses connections past maxConnections with RST, from the guest and from the host', async () => {
    const g = vsockGuest({ maxConnections: 3 });
    await g.vsock.ready;
    for (let p = 0; p < 5; p++) g.send(1000 + p, 80, VSOCK_OP.REQUEST);
    const got = g.received();
    expect(got.filter((h) => h.op === VSOCK_OP.RESPONSE).map((h) => h.dstPort)).toEqual([1000, 1001, 1002]);
    expect(got.filter((h) => h.op === VSOCK_OP.RST).map((h) => h.dstPort)).toEqual([1003, 1004]);
    expect(g.vsock.connectionCount).toBe(3);
    const late = new Stream(false);
    g.dial(52, late); // a host program connecting to a guest port
    expect(late.destroyed).toBe(true);
    expect(g.vsock.connectionCount).toBe(3);
  });

  it('keeps at most 4096 control packets while the guest posts no receive buffers', () => {
    const g = vsockGuest({}, 0);
    // 10,000 packets for connections that do not exist: each deserves an RST, none can go out yet.
    for (let i = 0; i < 10_000; i++) g.send(i, 7, VSOCK_OP.RW);
    expect(g.received()).toEqual([]);
    g.post(32); // now the guest reads: what was kept comes out, and no more than the bound
    let rsts = 0;
    for (let round = 0; round < 1000; round++) {
      const got = g.received();
      if (got.length === 0) break;
      expect(got.every((h) => h.op === VSOCK_OP.RST)).toBe(true);
      rsts += got.length;
    }
    expect(rsts).toBe(4096);
  });
});

describe('virtio-vsock: bounded memory for host bytes the guest does not read', () => {
  /** Each stream sends 8 KiB at a time while it is not paused, as a socket does. */
  const flood = (streams: Stream[]) => {
    const chunk = new Uint8Array(8192).fill(0x61);
    for (let round = 0; round < 1000; round++) {
      let sent = 0;
      for (const s of streams)
        if (!s.paused) {
          s.events?.data(chunk.slice());
          sent++;
        }
      if (!sent) return round;
    }
    throw new Error('the device never paused the host streams');
  };

  it('pauses a host stream once its connection holds 64 KiB for the guest', () => {
    const g = vsockGuest({});
    g.send(1000, 80, VSOCK_OP.REQUEST);
    expect(g.streams).toHaveLength(1);
    flood(g.streams);
    expect(g.streams[0].paused).toBe(true);
    expect(g.vsock.bufferedBytes).toBeLessThanOrEqual(64 * 1024 + 8192 + 2 * 16 * 1024);
  });

  it('pauses every host stream once all connections hold half of maxBufferedBytes, and resumes as the guest reads', () => {
    const max = 320 * 1024; // the smallest allowed: 160 KiB for host bytes
    const g = vsockGuest({ maxBufferedBytes: max });
    for (let p = 0; p < 20; p++) g.send(1000 + p, 80, VSOCK_OP.REQUEST);
    expect(g.streams).toHaveLength(20);
    flood(g.streams);
    expect(g.streams.every((s) => s.paused)).toBe(true);
    // 20 x 64 KiB would be allowed per connection; the total stops it at 160 KiB (plus one read)
    expect(g.vsock.bufferedBytes).toBeLessThanOrEqual(max / 2 + 8192 + 16 * 1024);
    for (let i = 0; i < 2000 && g.streams.some((s) => s.paused); i++) g.received();
    expect(g.streams.some((s) => !s.paused)).toBe(true);
  });
});
