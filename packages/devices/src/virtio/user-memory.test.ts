/**
 * Devices take the `GuestMemoryAccess` interface, not vm-memory's `GuestMemory` class: here a
 * user-written memory (one plain, non-shared ArrayBuffer, as a page without cross-origin isolation
 * would have; no vm-memory code at all) that counts every access carries virtio devices through the
 * simulated driver.
 */
import type { GuestMemoryAccess, GuestRegionView } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { RecordingIrqLine } from '../testing/recording-irq.js';
import { Block, VIRTIO_BLK_S, VIRTIO_BLK_T } from './block.js';
import type { VirtioDevice } from './device.js';
import { MemoryDiskBackend } from './disk.js';
import { VirtioMmioTransport } from './mmio.js';
import { RNG_MAX_BYTES_PER_REQUEST, Rng } from './rng.js';

/** Guest memory of the user's own: one region over a plain ArrayBuffer, every call counted. */
export class CountingMemory implements GuestMemoryAccess {
  readonly regions: readonly GuestRegionView[];
  /** Calls per method name. */
  readonly calls = new Map<string, number>();
  private readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(
    private readonly start: number,
    size: number,
  ) {
    this.bytes = new Uint8Array(new ArrayBuffer(size));
    this.view = new DataView(this.bytes.buffer);
    this.regions = [{ start, size, bytes: this.bytes }];
  }

  /** Total calls so far. */
  get total(): number {
    let n = 0;
    for (const v of this.calls.values()) n += v;
    return n;
  }

  private at(name: string, addr: number, len: number): number {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    if (!this.inside(addr, len)) throw new RangeError(`[0x${addr.toString(16)}, +${len}) is outside memory`);
    return addr - this.start;
  }
  private inside(addr: number, len: number): boolean {
    return (
      Number.isSafeInteger(addr) &&
      len >= 0 &&
      addr >= this.start &&
      addr + len <= this.start + this.bytes.length
    );
  }

  findRegion(addr: number): GuestRegionView | undefined {
    this.calls.set('findRegion', (this.calls.get('findRegion') ?? 0) + 1);
    return this.inside(addr, 1) ? this.regions[0] : undefined;
  }
  checkRange(addr: number, len: number): boolean {
    this.calls.set('checkRange', (this.calls.get('checkRange') ?? 0) + 1);
    return this.inside(addr, len);
  }
  read8(addr: number): number {
    return this.bytes[this.at('read8', addr, 1)];
  }
  read16(addr: number): number {
    return this.view.getUint16(this.at('read16', addr, 2), true);
  }
  read32(addr: number): number {
    return this.view.getUint32(this.at('read32', addr, 4), true);
  }
  read64(addr: number): bigint {
    return this.view.getBigUint64(this.at('read64', addr, 8), true);
  }
  write8(addr: number, value: number): void {
    this.bytes[this.at('write8', addr, 1)] = value;
  }
  write16(addr: number, value: number): void {
    this.view.setUint16(this.at('write16', addr, 2), value, true);
  }
  write32(addr: number, value: number): void {
    this.view.setUint32(this.at('write32', addr, 4), value >>> 0, true);
  }
  write64(addr: number, value: bigint): void {
    this.view.setBigUint64(this.at('write64', addr, 8), BigInt.asUintN(64, value), true);
  }
  readBytes(addr: number, len: number): Uint8Array {
    const o = this.at('readBytes', addr, len);
    return this.bytes.slice(o, o + len);
  }
  readInto(addr: number, out: Uint8Array): void {
    const o = this.at('readInto', addr, out.length);
    out.set(this.bytes.subarray(o, o + out.length));
  }
  writeBytes(addr: number, data: Uint8Array): void {
    this.bytes.set(data, this.at('writeBytes', addr, data.length));
  }
  fill(addr: number, len: number, value = 0): void {
    const o = this.at('fill', addr, len);
    this.bytes.fill(value, o, o + len);
  }
  slice(addr: number, len: number): Uint8Array {
    const o = this.at('slice', addr, len);
    return this.bytes.subarray(o, o + len);
  }
  readCString(addr: number, max: number): string {
    const o = this.at('readCString', addr, 1);
    let s = '';
    for (let i = o; i < Math.min(o + max, this.bytes.length) && this.bytes[i] !== 0; i++)
      s += String.fromCharCode(this.bytes[i]);
    return s;
  }
  markDirty(addr: number, len: number): void {
    this.at('markDirty', addr, len);
  }
}

const BASE = 0xd000_0000;

/** Wires `dev` to a simulated driver over a {@link CountingMemory} at guest address 0x10_0000. */
export function attachCounting(dev: VirtioDevice) {
  const mem = new CountingMemory(0x10_0000, 0x10_0000);
  const irq = new RecordingIrqLine();
  const t = new VirtioMmioTransport(dev, { mem, irq });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t, 'virtio');
  const drv = new SimulatedDriver(bus, BASE, mem, 0x10_1000);
  drv.init({ queueSizes: dev.queueMaxSizes.map(() => 16) });
  return { mem, irq, t, drv };
}

describe('virtio devices over a user-written GuestMemoryAccess', () => {
  it('virtio-rng fills buffers through the wrapper, which sees the device touch guest memory', () => {
    const rng = new Rng({ fill: (b) => b.fill(0xa5) });
    const { mem, drv, irq, t } = attachCounting(rng);
    const a = drv.alloc(64);
    const big = drv.alloc(RNG_MAX_BYTES_PER_REQUEST + 16);
    drv.submit(0, [{ addr: a, len: 64, write: true }], { notify: false });
    drv.submit(0, [{ addr: big, len: RNG_MAX_BYTES_PER_REQUEST + 16, write: true }], { notify: false });
    const before = mem.total;
    const writesBefore = mem.calls.get('writeBytes') ?? 0;
    drv.notify(0);
    expect(mem.total).toBeGreaterThan(before);
    expect(mem.calls.get('writeBytes')).toBe(writesBefore + 2); // the device wrote both buffers through it
    expect(t.lastError).toBeUndefined();
    expect(drv.takeUsed(0).map((u) => u.len)).toEqual([64, RNG_MAX_BYTES_PER_REQUEST]);
    expect(mem.readBytes(a, 64).every((b) => b === 0xa5)).toBe(true);
    expect(mem.read8(big + RNG_MAX_BYTES_PER_REQUEST)).toBe(0);
    expect(irq.triggers).toBe(1);
  });

  for (const mode of ['sync', 'async'] as const) {
    it(`virtio-blk (${mode}) reads and writes a memory disk through the wrapper`, async () => {
      const image = Uint8Array.from({ length: 64 * 512 }, (_, i) => (i >> 9) & 0xff); // sector s holds s
      const blk = new Block({ backend: new MemoryDiskBackend(image), mode });
      const { mem, drv, irq, t } = attachCounting(blk);
      const request = (type: number, sector: number, data: number, len: number, write: boolean) => {
        const hdr = drv.alloc(16);
        mem.write32(hdr, type);
        mem.write64(hdr + 8, BigInt(sector));
        const status = drv.alloc(1);
        mem.write8(status, 0xee);
        drv.submit(0, [
          { addr: hdr, len: 16 },
          { addr: data, len, write },
          { addr: status, len: 1, write: true },
        ]);
        return status;
      };
      const buf = drv.alloc(1024);
      const finds = mem.calls.get('findRegion') ?? 0;
      const readStatus = request(VIRTIO_BLK_T.IN, 3, buf, 1024, true);
      await blk.drain();
      expect(mem.read8(readStatus)).toBe(VIRTIO_BLK_S.OK);
      expect(mem.read8(buf)).toBe(3);
      expect(mem.read8(buf + 1023)).toBe(4);
      expect(mem.calls.get('findRegion')).toBeGreaterThan(finds); // the device mapped the buffer itself
      expect(mem.calls.get('markDirty')).toBeGreaterThan(0); // and reported what it wrote around the interface
      mem.fill(buf, 512, 0x77);
      const writeStatus = request(VIRTIO_BLK_T.OUT, 10, buf, 512, false);
      await blk.drain();
      expect(mem.read8(writeStatus)).toBe(VIRTIO_BLK_S.OK);
      expect(image[10 * 512]).toBe(0x77);
      expect(image[11 * 512]).toBe(11);
      expect(drv.takeUsed(0).map((u) => u.len)).toEqual([1025, 1]);
      expect(irq.triggers).toBe(1); // EVENT_IDX: used_event stays 0, so only the first completion interrupts
      expect(t.lastError).toBeUndefined();
    });
  }

  it('a buffer outside the user memory sets DEVICE_NEEDS_RESET instead of throwing', () => {
    const { drv, t } = attachCounting(new Rng());
    expect(() => drv.submit(0, [{ addr: 0x1000, len: 64, write: true }])).not.toThrow();
    expect(String(t.lastError)).toMatch(/outside guest memory/);
    expect(drv.status & 0x40).toBe(0x40);
  });
});
