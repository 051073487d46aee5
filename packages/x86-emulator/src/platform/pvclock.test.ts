import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import {
  encodePvclockTimeInfo,
  encodePvclockWallClock,
  pvclockRead,
  pvclockScale,
  pvclockTimeInfo,
} from './pvclock.js';
import { VirtualClock } from './virtual-clock.js';

describe('pvclock', () => {
  it('computes KVM scale factors', () => {
    expect(pvclockScale(2_000_000_000)).toEqual({ mul: 0x80000000, shift: 0 });
    expect(pvclockScale(1_000_000_000)).toEqual({ mul: 0x80000000, shift: 1 });
    expect(pvclockScale(3_000_000_000).shift).toBe(-1);
    expect(() => pvclockScale(0)).toThrow(X86EmulatorError);
  });

  it('lets the guest read the clock from its TSC within 1 ns per second', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_000_000, max: 10_000_000_000 }),
        fc.integer({ min: 0, max: 1e12 }),
        fc.integer({ min: 0, max: 1e10 }),
        (tscHz, start, later) => {
          const clock = new VirtualClock({ tscHz });
          clock.advance(start);
          const offset = 12345;
          const info = pvclockTimeInfo(clock, offset, 2);
          clock.advance(later);
          const guestNs = pvclockRead(info, BigInt(clock.tsc() + offset));
          const err = Math.abs(Number(guestNs) - clock.now());
          expect(err).toBeLessThanOrEqual(2 + later / 1e9 + 1e9 / tscHz);
        },
      ),
    );
  });

  it('encodes the structures little-endian at the ABI offsets', () => {
    const clock = new VirtualClock();
    clock.advance(5000);
    const bytes = encodePvclockTimeInfo(pvclockTimeInfo(clock, 0, 4));
    const v = new DataView(bytes.buffer);
    expect(bytes.length).toBe(32);
    expect(v.getUint32(0, true)).toBe(4);
    expect(v.getBigUint64(8, true)).toBe(10_000n);
    expect(v.getBigUint64(16, true)).toBe(5000n);
    expect(v.getUint32(24, true)).toBe(0x80000000);
    expect(v.getInt8(28)).toBe(0);
    expect(v.getUint8(29)).toBe(1);
    const wall = new DataView(encodePvclockWallClock(2, 1_700_000_000_123_456_789n).buffer);
    expect([wall.getUint32(0, true), wall.getUint32(4, true), wall.getUint32(8, true)]).toEqual([
      2, 1_700_000_000, 123_456_789,
    ]);
    expect(() => encodePvclockWallClock(2, -1n)).toThrow(/-1 ns/);
  });
});
