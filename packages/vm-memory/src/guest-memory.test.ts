import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GuestMemoryError } from './errors.js';
import { GuestMemory } from './guest-memory.js';

const twoAdjacent = () =>
  GuestMemory.createShared([
    { start: 0x2000, size: 0x1000 },
    { start: 0x0, size: 0x2000 },
  ]);

describe('GuestMemory (SharedArrayBuffer backing)', () => {
  it('reads back what it wrote at every width, little-endian', () => {
    const m = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    m.write8(1, 0x1ff);
    expect(m.read8(1)).toBe(0xff);
    m.write16(2, 0xbeef);
    expect(m.read16(2)).toBe(0xbeef);
    expect(m.read8(2)).toBe(0xef);
    m.write32(8, 0xdeadbeef);
    expect(m.read32(8)).toBe(0xdeadbeef);
    m.write64(16, 0x1122334455667788n);
    expect(m.read64(16)).toBe(0x1122334455667788n);
    expect(m.read32(16)).toBe(0x55667788);
    m.write64(24, -1n);
    expect(m.read64(24)).toBe(0xffffffffffffffffn);
  });

  it('sorts regions and accesses across adjacent region boundaries', () => {
    const m = twoAdjacent();
    expect(m.regions.map((r) => r.start)).toEqual([0, 0x2000]);
    m.write64(0x1ffc, 0x0102030405060708n);
    expect(m.read64(0x1ffc)).toBe(0x0102030405060708n);
    expect(m.read32(0x2000)).toBe(0x01020304);
    expect(m.regions[1].bytes[0]).toBe(0x04);
    const data = Uint8Array.from({ length: 32 }, (_, i) => i);
    m.writeBytes(0x1ff0, data);
    expect(m.readBytes(0x1ff0, 32)).toEqual(data);
  });

  it('refuses unmapped accesses with a clear error and writes nothing', () => {
    const m = GuestMemory.createShared([{ start: 0, size: 0x1000 }]);
    expect(() => m.read32(0x2000)).toThrow(/unmapped address 0x2000/);
    expect(() => m.write32(0xffe, 0xffffffff)).toThrow(GuestMemoryError);
    expect(m.read16(0xffe)).toBe(0);
    expect(() => m.writeBytes(0xff0, new Uint8Array(32).fill(1))).toThrow(/0x1000/);
    expect(m.read8(0xff0)).toBe(0);
    expect(() => m.read8(-1)).toThrow(GuestMemoryError);
    expect(() => m.read8(Number.NaN)).toThrow(GuestMemoryError);
  });

  it('rejects bad region layouts by name', () => {
    expect(() => GuestMemory.createShared([])).toThrow(/at least one region/);
    expect(() => GuestMemory.createShared([{ start: 0x10, size: 0x1000 }])).toThrow(
      /0x10 is not a 4 KiB aligned/,
    );
    expect(() => GuestMemory.createShared([{ start: 0, size: 100 }])).toThrow(/size 100/);
    expect(() =>
      GuestMemory.createShared([
        { start: 0, size: 0x2000 },
        { start: 0x1000, size: 0x1000 },
      ]),
    ).toThrow(/overlaps/);
    expect(() => GuestMemory.createShared([{ start: 0, size: 2 ** 32 + 4096 }])).toThrow(
      /at most 4 GiB per region/,
    );
  });

  it('gives zero-copy slices inside a region and refuses them across regions', () => {
    const m = twoAdjacent();
    const s = m.slice(0x100, 16);
    s[0] = 0x42;
    expect(m.read8(0x100)).toBe(0x42);
    expect(() => m.slice(0x1ff8, 16)).toThrow(/crosses a region boundary/);
  });

  it('reads and writes objects through codecs', () => {
    const m = GuestMemory.createShared([{ start: 0, size: 0x1000 }]);
    const Pair = {
      size: 8,
      decode: (b: Uint8Array, o = 0) => {
        const v = new DataView(b.buffer, b.byteOffset);
        return [v.getUint32(o, true), v.getUint32(o + 4, true)] as [number, number];
      },
      encode: ([a, b]: [number, number], into = new Uint8Array(8), o = 0) => {
        const v = new DataView(into.buffer, into.byteOffset);
        v.setUint32(o, a, true);
        v.setUint32(o + 4, b, true);
        return into;
      },
    };
    m.writeObj(0x20, Pair, [7, 9]);
    expect(m.readObj(0x20, Pair)).toEqual([7, 9]);
    expect(m.read32(0x24)).toBe(9);
  });

  it('tracks dirty pages', () => {
    const m = GuestMemory.createShared([{ start: 0, size: 0x8000 }], { dirtyTracking: true });
    m.write8(0x2001, 1);
    m.writeBytes(0x3ff0, new Uint8Array(0x20));
    m.markDirty(0x7000, 1);
    expect(m.takeDirtyPages()).toEqual([0x2000, 0x3000, 0x4000, 0x7000]);
    expect(m.takeDirtyPages()).toEqual([]);
    expect(() => GuestMemory.createShared([{ start: 0, size: 0x1000 }]).takeDirtyPages()).toThrow(
      /dirty tracking is off/,
    );
  });

  it('shares bytes with a re-opened copy (as a worker would)', () => {
    const m = GuestMemory.createShared([{ start: 0x1000, size: 0x1000 }]);
    const other = GuestMemory.fromShareableSync(structuredClone(m.toShareable()));
    m.write32(0x1800, 0xcafef00d);
    expect(other.read32(0x1800)).toBe(0xcafef00d);
  });

  it('never writes outside the given range, for any access (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -16, max: 0x5000 }),
        fc.integer({ min: 0, max: 0x2000 }),
        fc.integer({ min: 1, max: 255 }),
        (addr, len, val) => {
          const m = twoAdjacent();
          const before = m.regions.map((r) => r.bytes.slice());
          let threw = false;
          try {
            m.fill(addr, len, val);
          } catch (e) {
            threw = true;
            expect(e).toBeInstanceOf(GuestMemoryError);
          }
          const inside = addr >= 0 && (len === 0 || addr + len <= 0x3000); // zero-length accesses are no-ops
          expect(threw).toBe(!inside);
          m.regions.forEach((r, i) => {
            for (let j = 0; j < r.size; j++) {
              const a = r.start + j;
              const expected = !threw && a >= addr && a < addr + len ? val : before[i][j];
              if (r.bytes[j] !== expected) throw new Error(`byte at ${a} wrong`);
            }
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
