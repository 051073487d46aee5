import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { DeviceError } from '../errors.js';
import type { SerialSink } from '../serial.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { Console } from './console.js';
import { featureBit, VIRTIO_STATUS } from './constants.js';
import type { VirtioDevice } from './device.js';
import { VirtioMmioTransport } from './mmio.js';
import { MAX_FRAME_SIZE, Net, parseMac, VIRTIO_NET_F, VIRTIO_NET_HDR_SIZE } from './net.js';
import { MemoryNetBackend } from './net-backend.js';
import { RNG_MAX_BYTES_PER_REQUEST, Rng } from './rng.js';

const BASE = 0xd000_0000;

function attach(dev: VirtioDevice) {
  const mem = GuestMemory.createShared([{ start: 0, size: 0x20_0000 }]);
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(dev, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  const features = drv.init({ queueSizes: dev.queueMaxSizes.map(() => 16) });
  return { mem, irq, t, bus, drv, features };
}

describe('Rng (virtio-rng)', () => {
  it('fills guest buffers with host randomness', () => {
    const { mem, drv, irq } = attach(new Rng());
    const a = drv.alloc(64);
    const b = drv.alloc(64);
    drv.submit(0, [{ addr: a, len: 64, write: true }]);
    drv.submit(0, [{ addr: b, len: 64, write: true }]);
    const used = drv.takeUsed(0);
    expect(used.map((u) => u.len)).toEqual([64, 64]);
    expect(mem.readBytes(a, 64)).not.toEqual(mem.readBytes(b, 64));
    expect(mem.readBytes(a, 64).some((x) => x !== 0)).toBe(true);
    expect(irq.triggers).toBeGreaterThan(0);
  });
  it('caps a request and gives nothing to readable-only chains', () => {
    const rng = new Rng({ fill: (b) => b.fill(7) });
    const { drv, mem } = attach(rng);
    const big = drv.alloc(RNG_MAX_BYTES_PER_REQUEST + 100);
    drv.submit(0, [{ addr: big, len: RNG_MAX_BYTES_PER_REQUEST + 100, write: true }]);
    drv.submit(0, [{ addr: big, len: 8 }]);
    expect(drv.takeUsed(0).map((u) => u.len)).toEqual([RNG_MAX_BYTES_PER_REQUEST, 0]);
    expect(mem.read8(big + RNG_MAX_BYTES_PER_REQUEST)).toBe(0);
    expect(rng.bytesServed).toBe(RNG_MAX_BYTES_PER_REQUEST);
  });
});

class StallSink implements SerialSink {
  out: number[] = [];
  accept = true;
  drains: (() => void)[] = [];
  write(c: Uint8Array): boolean {
    this.out.push(...c);
    return this.accept;
  }
  once(_e: 'drain', l: () => void): void {
    this.drains.push(l);
  }
}

describe('Console (virtio-console)', () => {
  it('sends transmitq data to the sink and stops taking buffers while it stalls', () => {
    const sink = new StallSink();
    const con = new Console({ sink });
    const { mem, drv } = attach(con);
    const send = (s: string) => {
      const a = drv.alloc(s.length);
      mem.writeBytes(a, new TextEncoder().encode(s));
      drv.submit(1, [{ addr: a, len: s.length }]);
    };
    send('hello ');
    expect(String.fromCharCode(...sink.out)).toBe('hello ');
    sink.accept = false;
    send('world');
    send('!');
    expect(String.fromCharCode(...sink.out)).toBe('hello world');
    expect(drv.takeUsed(1)).toHaveLength(2); // '!' waits in the queue
    sink.accept = true;
    for (const d of sink.drains.splice(0)) d();
    expect(String.fromCharCode(...sink.out)).toBe('hello world!');
    expect(drv.takeUsed(1)).toHaveLength(1);
  });

  it('delivers input into receive buffers with bounded buffering', () => {
    let spaces = 0;
    const con = new Console({
      inputBufferSize: 8,
      onInputSpace: () => spaces++,
      size: { cols: 80, rows: 25 },
    });
    const { mem, drv, features, t } = attach(con);
    expect(features & featureBit(0)).not.toBe(0n);
    const cfg = new Uint8Array(4);
    t.read(0x100, cfg);
    expect([...cfg]).toEqual([80, 0, 25, 0]);
    expect(con.enqueueInput(new TextEncoder().encode('0123456789'))).toBe(8);
    expect(con.inputSpace).toBe(0);
    const a = drv.alloc(4);
    drv.submit(0, [{ addr: a, len: 4, write: true }]);
    expect(new TextDecoder().decode(mem.readBytes(a, 4))).toBe('0123');
    expect(drv.takeUsed(0)).toEqual([{ id: 0, len: 4 }]);
    expect(spaces).toBe(1);
    expect(con.inputSpace).toBe(4);
  });

  it('keeps emergency writes without a sink', () => {
    const con = new Console();
    const { t } = attach(con);
    t.write(0x108, Uint8Array.of(0x41, 0, 0, 0));
    expect([...con.takeOutput()]).toEqual([0x41]);
  });
});

describe('Net (virtio-net)', () => {
  function frame(n: number, fill: number) {
    return new Uint8Array(n).fill(fill);
  }

  it('exposes the MAC and link status in config space', () => {
    const net = new Net({ backend: new MemoryNetBackend(), mac: '52:54:00:12:34:56', mtu: 1400 });
    const { t, features } = attach(net);
    const cfg = new Uint8Array(8);
    t.read(0x100, cfg);
    expect([...cfg.subarray(0, 6)]).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    expect(cfg[6]).toBe(1);
    expect(features & featureBit(VIRTIO_NET_F.MAC)).not.toBe(0n);
    const mtu = new Uint8Array(2);
    t.read(0x10a, mtu);
    expect(mtu[0] | (mtu[1] << 8)).toBe(1400);
    expect(() => parseMac('52:54:00:12:34')).toThrow(DeviceError);
    expect(() => new Net({ backend: new MemoryNetBackend(), mtu: 10 })).toThrow(/MTU 10/);
  });

  it('transmits frames without the virtio-net header', () => {
    const backend = new MemoryNetBackend();
    const net = new Net({ backend });
    const { mem, drv } = attach(net);
    const hdr = drv.alloc(VIRTIO_NET_HDR_SIZE);
    const body = drv.alloc(60);
    mem.fill(body, 60, 0xab);
    drv.submit(1, [
      { addr: hdr, len: VIRTIO_NET_HDR_SIZE },
      { addr: body, len: 60 },
    ]);
    expect(backend.sent).toEqual([frame(60, 0xab)]);
    expect(drv.takeUsed(1)).toHaveLength(1);
    // a chain shorter than the header is dropped, not sent
    drv.submit(1, [{ addr: hdr, len: 4 }]);
    expect(backend.sent).toHaveLength(1);
    expect(net.stats.txDropped).toBe(1);
  });

  it('receives frames into posted buffers and applies back-pressure when there are none', async () => {
    const backend = new MemoryNetBackend();
    const net = new Net({ backend });
    const { mem, drv, irq } = attach(net);
    backend.inject(frame(64, 1));
    await Promise.resolve();
    expect(backend.queued).toBe(1); // no buffers posted: the frame waits in the backend
    const bufs = [drv.alloc(2048), drv.alloc(2048)];
    for (const b of bufs) drv.submit(0, [{ addr: b, len: 2048, write: true }], { notify: false });
    drv.notify(0);
    expect(backend.queued).toBe(0);
    const used = drv.takeUsed(0);
    expect(used).toEqual([{ id: 0, len: VIRTIO_NET_HDR_SIZE + 64 }]);
    expect(mem.read8(bufs[0] + 10)).toBe(1); // num_buffers
    expect(mem.read8(bufs[0] + VIRTIO_NET_HDR_SIZE)).toBe(1);
    expect(irq.triggers).toBe(1);
    drv.setUsedEvent(0, 1); // EVENT_IDX: interrupt me when the used index passes 1
    backend.inject(frame(100, 2)); // delivered at once through the readiness callback
    expect(drv.takeUsed(0)).toEqual([{ id: 1, len: VIRTIO_NET_HDR_SIZE + 100 }]);
    expect(irq.triggers).toBe(2);
    backend.inject(frame(10, 3));
    expect(backend.queued).toBe(1);
  });

  it('returns receive chains that cannot hold a frame, unused', () => {
    const backend = new MemoryNetBackend();
    const net = new Net({ backend });
    const { drv } = attach(net);
    const b = drv.alloc(64);
    drv.submit(0, [{ addr: b, len: 64 }]); // device-readable: useless for receive
    backend.inject(frame(60, 1));
    expect(drv.takeUsed(0)).toEqual([{ id: 0, len: 0 }]);
    expect(backend.queued).toBe(1); // the frame waits for a usable buffer
  });

  it('drops frames that do not fit the guest buffer', () => {
    const backend = new MemoryNetBackend();
    const net = new Net({ backend });
    const { drv } = attach(net);
    const b = drv.alloc(100);
    drv.submit(0, [{ addr: b, len: 100, write: true }]);
    backend.inject(frame(200, 1));
    backend.inject(frame(50, 2));
    expect(net.stats.rxDropped).toBe(1);
    expect(drv.takeUsed(0)).toEqual([{ id: 0, len: VIRTIO_NET_HDR_SIZE + 50 }]);
  });

  it('never lets malformed TX chains escape as exceptions (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            slot: fc.integer({ min: 0, max: 40 }),
            len: fc.oneof(
              fc.integer({ min: 0, max: 200 }),
              fc.constant(MAX_FRAME_SIZE + 100),
              fc.integer({ min: 0, max: 0xffff_ffff }),
            ),
            write: fc.boolean(),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.boolean(),
        (bufs, indirect) => {
          const backend = new MemoryNetBackend();
          const { drv } = attach(new Net({ backend }));
          const base = 0x1f_0000 - 0x1000 * 30;
          expect(() =>
            drv.submit(
              1,
              bufs.map((b) => ({ addr: base + b.slot * 0x1000, len: b.len, write: b.write })),
              { indirect },
            ),
          ).not.toThrow();
          const st = drv.status;
          const ok = drv.takeUsed(1).length === 1 || (st & VIRTIO_STATUS.DEVICE_NEEDS_RESET) !== 0;
          expect(ok).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
