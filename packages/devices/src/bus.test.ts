import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Bus, type BusDevice, type UnclaimedAccess } from './bus.js';
import { DeviceError } from './errors.js';

class Recorder implements BusDevice {
  log: string[] = [];
  constructor(readonly tag: number) {}
  read(offset: number, data: Uint8Array): void {
    this.log.push(`r${offset}/${data.length}`);
    data.fill(this.tag);
  }
  write(offset: number, data: Uint8Array): void {
    this.log.push(`w${offset}=${[...data].join(',')}`);
  }
}

describe('Bus', () => {
  it('dispatches reads and writes with offsets relative to the range', () => {
    const bus = new Bus('pio');
    const a = new Recorder(0xaa);
    bus.register(0x3f8, 8, a, 'com1');
    const d = new Uint8Array(2);
    expect(bus.read(0x3fa, d)).toBe(true);
    expect([...d]).toEqual([0xaa, 0xaa]);
    expect(bus.write(0x3ff, Uint8Array.of(7))).toBe(true);
    expect(a.log).toEqual(['r2/2', 'w7=7']);
    expect(bus.readValue(0x3f8, 4)).toBe(0xaaaaaaaa);
  });

  it('refuses overlapping and invalid ranges, naming them', () => {
    const bus = new Bus('mmio');
    bus.register(0x1000, 0x1000, new Recorder(1), 'a');
    bus.register(0x3000, 0x1000, new Recorder(2), 'b');
    expect(() => bus.register(0x1fff, 2, new Recorder(3), 'c')).toThrow(/overlaps \[0x1000, 0x2000\) of a/);
    expect(() => bus.register(0x2fff, 2, new Recorder(3), 'c')).toThrow(DeviceError);
    expect(() => bus.register(0x0, 0x1001, new Recorder(3), 'c')).toThrow(DeviceError);
    expect(() => bus.register(0x2000, 0, new Recorder(3), 'c')).toThrow(DeviceError);
    bus.register(0x2000, 0x1000, new Recorder(3), 'c');
    expect(bus.entries.map((r) => r.name)).toEqual(['a', 'c', 'b']);
    expect(() => new Bus('pio').register(0xfff0, 0x20, new Recorder(1))).toThrow(/extends past 0x10000/);
  });

  it('reports unclaimed accesses: all-ones reads, counter, callback', () => {
    const seen: UnclaimedAccess[] = [];
    const bus = new Bus('pio', { onUnclaimed: (a) => seen.push(a) });
    bus.register(0x60, 1, new Recorder(0));
    const d = new Uint8Array(4);
    expect(bus.read(0x80, d)).toBe(false);
    expect([...d]).toEqual([0xff, 0xff, 0xff, 0xff]);
    expect(bus.write(0x61, Uint8Array.of(1))).toBe(false);
    // an access straddling the end of a range is unclaimed too
    expect(bus.read(0x60, new Uint8Array(2))).toBe(false);
    expect(bus.unclaimedCount).toBe(3);
    expect(seen[1]).toMatchObject({ space: 'pio', address: 0x61, size: 1, write: true });
    expect(() => bus.read(0x60, new Uint8Array(3))).toThrow(/access size 3/);
  });

  it('unregisters ranges and invalidates the lookup cache', () => {
    const bus = new Bus('pio');
    bus.register(0x70, 2, new Recorder(5), 'rtc');
    expect(bus.readValue(0x71, 1)).toBe(5);
    expect(bus.unregister(0x70)?.name).toBe('rtc');
    expect(bus.unregister(0x70)).toBeUndefined();
    expect(bus.readValue(0x71, 1)).toBe(0xff);
  });

  it('finds the right device for any address (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 256 * 16 }), { maxLength: 50 }),
        (slots, probes) => {
          const bus = new Bus('mmio');
          const sizes = new Map<number, number>();
          for (const s of slots) {
            const size = 1 + (s % 16);
            bus.register(s * 16, size, new Recorder(s), `d${s}`);
            sizes.set(s, size);
          }
          for (const p of probes) {
            const slot = Math.floor(p / 16);
            const expected = sizes.has(slot) && p % 16 < sizes.get(slot)! ? `d${slot}` : undefined;
            expect(bus.find(p)?.name).toBe(expected);
          }
        },
      ),
    );
  });
});
