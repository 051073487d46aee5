/**
 * The CMOS RTC tells the guest's wall clock, the one kvm-clock's wall clock is kept on: on the
 * emulator's `virtual` clock the start time plus virtual elapsed time (so a deterministic run stays
 * deterministic), on its `realtime` clock and on KVM the host's wall clock.
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { RTC_PORT } from './address-map.js';
import { loadBackend } from './backend.js';
import { createLegacyDevices, guestWallClock } from './legacy-devices.js';

interface EmulatedVmClock {
  clock: { now(): number; advance(ns: number): void; wallClockMs(): number };
}

async function vmOn(clock: 'realtime' | 'virtual') {
  const hv = await loadBackend('emulated', { clock });
  const vm = await hv.createVm({ memory: GuestMemory.createShared([{ start: 0, size: 1 << 20 }]) });
  const legacy = createLegacyDevices({
    serialIrq: { set: () => {}, close: () => {} } as never,
    sink: undefined,
    hooks: { stop: () => {}, log: () => {} },
    rtcClock: guestWallClock(vm),
  });
  /** The RTC's time of day in binary seconds (status B set to binary, 24-hour). */
  const cmos = (reg: number) => {
    legacy.pio.write(RTC_PORT, Uint8Array.of(reg));
    const d = new Uint8Array(1);
    legacy.pio.read(RTC_PORT + 1, d);
    return d[0];
  };
  legacy.pio.write(RTC_PORT, Uint8Array.of(0x0b));
  legacy.pio.write(RTC_PORT + 1, Uint8Array.of(0x06));
  const rtcSeconds = () => cmos(0x04) * 3600 + cmos(0x02) * 60 + cmos(0x00);
  return { vm: vm as unknown as EmulatedVmClock, rtcSeconds, close: () => vm.close() };
}

/** Seconds of the day of a Unix time in ms. */
const daySeconds = (ms: number) => Math.floor(ms / 1000) % 86400;

describe('the RTC on the guest wall clock', () => {
  it('on the virtual clock follows virtual time, not the host clock', async () => {
    const m = await vmOn('virtual');
    try {
      const start = m.vm.clock.wallClockMs();
      // the start time: the host's wall clock when the machine was made
      expect(Math.abs(start - Date.now())).toBeLessThan(5000);
      expect(m.rtcSeconds()).toBe(daySeconds(start));
      // an hour of virtual time passes in no host time at all
      m.vm.clock.advance(3600e9);
      const later = m.vm.clock.wallClockMs();
      expect(later - start).toBeCloseTo(3600e3, 3);
      expect(m.rtcSeconds()).toBe(daySeconds(later));
      expect(m.rtcSeconds()).not.toBe(daySeconds(Date.now()));
    } finally {
      m.close();
    }
  });

  it('on the realtime clock tells the host wall clock', async () => {
    const m = await vmOn('realtime');
    try {
      for (;;) {
        const before = Date.now();
        const s = m.rtcSeconds();
        const after = Date.now();
        if (daySeconds(before) !== daySeconds(after)) continue; // read across a second boundary
        expect(s).toBe(daySeconds(before));
        break;
      }
      expect(Math.abs(m.vm.clock.wallClockMs() - Date.now())).toBeLessThan(10);
    } finally {
      m.close();
    }
  });

  it('is the host clock for a VM without an emulated machine clock (KVM)', () => {
    expect(guestWallClock({})).toBeUndefined();
    expect(guestWallClock(null)).toBeUndefined();
    expect(guestWallClock({ clock: { wallClockMs: 5 } })).toBeUndefined();
  });
});
