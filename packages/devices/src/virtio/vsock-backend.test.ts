/**
 * Vsock over a backend written in the test (no sockets, nothing from Node): the device's side of
 * the VsockBackend / VsockHostStream contract.
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { VirtioMmioTransport } from './mmio.js';
import { Vsock } from './vsock.js';
import type { VsockBackend, VsockHostStream, VsockStreamEvents } from './vsock-backend.js';
import {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_OP,
  VSOCK_TYPE_STREAM,
  type VsockHeader,
} from './vsock-packet.js';

/** A host program in the test: records what the guest sent; `push` sends to the guest. */
class FakeStream implements VsockHostStream {
  events?: VsockStreamEvents;
  readonly written: Uint8Array[] = [];
  acceptedFrom?: number;
  ended = false;
  destroyed = false;
  paused = false;
  constructor(private readonly connectAtOnce = false) {}
  start(events: VsockStreamEvents): void {
    this.events = events;
    if (this.connectAtOnce) events.connected();
  }
  write(bytes: Uint8Array, done: (error?: unknown) => void): void {
    this.written.push(bytes.slice());
    queueMicrotask(() => done());
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  accepted(hostPort: number): void {
    this.acceptedFrom = hostPort;
  }
  push(text: string): void {
    this.events?.data(new TextEncoder().encode(text));
  }
}

function setup() {
  let incoming: ((port: number, s: VsockHostStream) => void) | undefined;
  const streams = new Map<number, FakeStream>();
  const backend: VsockBackend = {
    listen: async (onConnect) => {
      incoming = onConnect;
    },
    connect: (port) => {
      if (port === 666) throw new Error('nobody there');
      const s = new FakeStream(true);
      streams.set(port, s);
      return s;
    },
    close: async () => {
      incoming = undefined;
    },
  };
  const vsock = new Vsock({ guestCid: 3, backend });
  const mem = GuestMemory.createShared([{ start: 0, size: 0x20_0000 }]);
  const bus = new Bus('mmio');
  bus.register(0xd000_0000, 0x1000, new VirtioMmioTransport(vsock, { mem }));
  const drv = new SimulatedDriver(bus, 0xd000_0000, mem, 0x1000);
  drv.init({ queueSizes: [32, 32, 32] });
  const rx = new Map<number, number>();
  const postRx = (count: number) => {
    for (let i = 0; i < count; i++) {
      const a = drv.alloc(VSOCK_HDR_SIZE + 256);
      rx.set(drv.submit(0, [{ addr: a, len: VSOCK_HDR_SIZE + 256, write: true }], { notify: false }), a);
    }
    drv.notify(0);
  };
  postRx(8);
  const received = () =>
    drv.takeUsed(0).map((u) => {
      const a = rx.get(u.id)!;
      const h = decodeVsockHeader(mem.readBytes(a, VSOCK_HDR_SIZE));
      postRx(1);
      return { h, text: new TextDecoder().decode(mem.readBytes(a + VSOCK_HDR_SIZE, h.len)) };
    });
  const send = (h: Partial<VsockHeader> & { op: number }, text = '') => {
    const data = new TextEncoder().encode(text);
    const a = drv.alloc(VSOCK_HDR_SIZE + data.length);
    mem.writeBytes(
      a,
      encodeVsockHeader({
        srcCid: 3n,
        dstCid: 2n,
        srcPort: 0,
        dstPort: 0,
        len: data.length,
        type: VSOCK_TYPE_STREAM,
        flags: 0,
        bufAlloc: 4096,
        fwdCnt: 0,
        ...h,
      }),
    );
    mem.writeBytes(a + VSOCK_HDR_SIZE, data);
    drv.submit(1, [{ addr: a, len: VSOCK_HDR_SIZE + data.length }]);
  };
  return { vsock, dial: (port: number, s: VsockHostStream) => incoming?.(port, s), streams, received, send };
}

describe('Vsock over a backend of the test', () => {
  it('host-initiated: REQUEST to the guest, accepted() with the host port, data both ways, credit back', async () => {
    const g = setup();
    await g.vsock.ready;
    const host = new FakeStream();
    g.dial(52, host);
    const [req] = g.received();
    expect(req.h).toMatchObject({ op: VSOCK_OP.REQUEST, dstPort: 52, dstCid: 3n });
    const hostPort = req.h.srcPort;
    g.send({ op: VSOCK_OP.RESPONSE, srcPort: 52, dstPort: hostPort });
    expect(host.acceptedFrom).toBe(hostPort);
    host.push('hi guest');
    expect(g.received()).toMatchObject([{ h: { op: VSOCK_OP.RW, srcPort: hostPort }, text: 'hi guest' }]);
    g.send({ op: VSOCK_OP.RW, srcPort: 52, dstPort: hostPort }, 'hi host');
    expect(new TextDecoder().decode(host.written[0])).toBe('hi host');
    g.send({ op: VSOCK_OP.SHUTDOWN, srcPort: 52, dstPort: hostPort, flags: 3 });
    await new Promise((r) => setTimeout(r, 0)); // the stream ends once it has taken 'hi host'
    expect(host.ended).toBe(true);
    expect(g.received().map((p) => p.h.op)).toEqual([VSOCK_OP.RST]);
    host.push('late'); // ignored: the connection is gone
    expect(g.received()).toEqual([]);
    expect(g.vsock.connectionCount).toBe(0);
    await g.vsock.close();
  });

  it('guest-initiated: connect(port), RESPONSE on connected(); a backend that throws means RST', async () => {
    const g = setup();
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 1000, dstPort: 7 });
    expect(g.received()).toMatchObject([{ h: { op: VSOCK_OP.RESPONSE, srcPort: 7, dstPort: 1000 } }]);
    const s = g.streams.get(7)!;
    s.push('from host');
    expect(g.received()).toMatchObject([{ text: 'from host' }]);
    g.send({ op: VSOCK_OP.RST, srcPort: 1000, dstPort: 7 });
    expect(s.destroyed).toBe(true);
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 1001, dstPort: 666 });
    expect(g.received()).toMatchObject([{ h: { op: VSOCK_OP.RST, dstPort: 1001 } }]);
    await g.vsock.close();
  });

  it('pauses a host stream that runs ahead of the guest and resumes it as the guest reads', async () => {
    const g = setup();
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 5, dstPort: 9, bufAlloc: 1 << 20 });
    g.received();
    const s = g.streams.get(9)!;
    for (let i = 0; i < 300; i++) s.push('x'.repeat(256)); // 75 KiB, more than the 64 KiB mark
    expect(s.paused).toBe(true);
    for (let i = 0; i < 200 && s.paused; i++) g.received(); // the guest drains 8 buffers at a time
    expect(s.paused).toBe(false);
    await g.vsock.close();
  });
});
