import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { CMOS_REG, Rtc } from './rtc.js';

function setup(t: { now: number }) {
  const rtc = new Rtc({ clock: () => t.now, ram: { 16: 0x42 } });
  const bus = new Bus('pio');
  bus.register(0x70, 2, rtc, 'rtc');
  const rd = (reg: number) => {
    bus.writeValue(0x70, 1, reg);
    return bus.readValue(0x71, 1);
  };
  const wr = (reg: number, v: number) => {
    bus.writeValue(0x70, 1, reg);
    bus.writeValue(0x71, 1, v);
  };
  return { rtc, bus, rd, wr };
}

describe('Rtc (CMOS)', () => {
  const t = { now: Date.UTC(2024, 11, 31, 23, 59, 58, 0) }; // a Tuesday
  it('reads the time in BCD, 24-hour by default', () => {
    const { rd } = setup(t);
    expect(rd(CMOS_REG.SECONDS)).toBe(0x58);
    expect(rd(CMOS_REG.MINUTES)).toBe(0x59);
    expect(rd(CMOS_REG.HOURS)).toBe(0x23);
    expect(rd(CMOS_REG.DAY_OF_WEEK)).toBe(3);
    expect(rd(CMOS_REG.DAY_OF_MONTH)).toBe(0x31);
    expect(rd(CMOS_REG.MONTH)).toBe(0x12);
    expect(rd(CMOS_REG.YEAR)).toBe(0x24);
    expect(rd(CMOS_REG.CENTURY)).toBe(0x20);
    expect(rd(CMOS_REG.STATUS_D)).toBe(0x80);
    expect(rd(CMOS_REG.STATUS_C)).toBe(0);
    expect(rd(0x10)).toBe(0x42);
  });

  it('switches to binary and 12-hour formats through status B', () => {
    const { rd, wr } = setup(t);
    wr(CMOS_REG.STATUS_B, 0x06);
    expect(rd(CMOS_REG.SECONDS)).toBe(58);
    expect(rd(CMOS_REG.HOURS)).toBe(23);
    wr(CMOS_REG.STATUS_B, 0x04);
    expect(rd(CMOS_REG.HOURS)).toBe(0x80 | 11);
    wr(CMOS_REG.STATUS_B, 0x00);
    expect(rd(CMOS_REG.HOURS)).toBe(0x80 | 0x11);
    const noon = setup({ now: Date.UTC(2024, 0, 1, 0, 5, 0) });
    noon.wr(CMOS_REG.STATUS_B, 0);
    expect(noon.rd(CMOS_REG.HOURS)).toBe(0x12); // 12 AM
  });

  it('sets update-in-progress just before each second ticks', () => {
    const clock = { now: Date.UTC(2024, 0, 1, 0, 0, 0, 500) };
    const { rd } = setup(clock);
    expect(rd(CMOS_REG.STATUS_A)).toBe(0x26);
    clock.now += 499.9;
    expect(rd(CMOS_REG.STATUS_A)).toBe(0xa6);
    clock.now += 0.2;
    expect(rd(CMOS_REG.STATUS_A) & 0x80).toBe(0);
  });

  it('moves the guest clock on time writes without touching the host clock', () => {
    const clock = { now: Date.UTC(2024, 0, 1, 10, 0, 0) };
    const { rd, wr, rtc } = setup(clock);
    wr(CMOS_REG.HOURS, 0x15);
    wr(CMOS_REG.YEAR, 0x30);
    expect(rd(CMOS_REG.HOURS)).toBe(0x15);
    expect(rd(CMOS_REG.YEAR)).toBe(0x30);
    clock.now += 60_000;
    expect(rd(CMOS_REG.MINUTES)).toBe(0x01);
    expect(new Date(rtc.guestTime()).getUTCFullYear()).toBe(2030);
  });

  it('keeps the NMI-disable bit apart from the index', () => {
    const { bus, rtc, rd } = setup(t);
    bus.writeValue(0x70, 1, 0x80 | CMOS_REG.MINUTES);
    expect(rtc.nmiDisabled).toBe(true);
    expect(bus.readValue(0x71, 1)).toBe(0x59);
    rd(0);
    expect(rtc.nmiDisabled).toBe(false);
  });

  it('refuses CMOS RAM initialisers outside the free RAM', () => {
    expect(() => new Rtc({ ram: { 5: 1 } })).toThrow(/CMOS RAM index 5/);
  });
});
