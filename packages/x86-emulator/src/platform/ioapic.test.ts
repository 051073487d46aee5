import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { ApicBus } from './apic-bus.js';
import { DeliveryMode, LapicReg } from './apic-constants.js';
import { Ioapic } from './ioapic.js';
import { Lapic } from './lapic.js';
import { decodeMsi, encodeMsi } from './msi.js';
import { VirtualClock } from './virtual-clock.js';

function setup(n = 2) {
  const clock = new VirtualClock();
  const bus = new ApicBus();
  const lapics = Array.from({ length: n }, (_, i) => new Lapic({ apicId: i, bus, clock }));
  for (const l of lapics) l.mmioWrite(LapicReg.SVR, 4, 0x1ff);
  const ioapic = new Ioapic(bus);
  bus.onLevelEoi = (v) => ioapic.eoi(v);
  const write = (index: number, value: number) => {
    ioapic.mmioWrite(0x00, 4, index);
    ioapic.mmioWrite(0x10, 4, value);
  };
  const read = (index: number) => {
    ioapic.mmioWrite(0x00, 4, index);
    return ioapic.mmioRead(0x10, 4);
  };
  return { clock, bus, lapics, ioapic, write, read };
}

describe('Ioapic registers', () => {
  it('reports ID, version 0x20 with 24 pins, masked entries at reset', () => {
    const { read, write } = setup();
    expect(read(0x01)).toBe(0x00170020);
    write(0x00, 0x0f000000 | 0x123);
    expect(read(0x00)).toBe(0x0f000000);
    expect(read(0x02)).toBe(0x0f000000);
    for (let pin = 0; pin < 24; pin++) expect(read(0x10 + pin * 2)).toBe(0x10000);
    expect(read(0x10 + 24 * 2)).toBe(0xffffffff);
  });

  it('keeps remote IRR and delivery status read-only and the destination in the top byte', () => {
    const { read, write } = setup();
    write(0x10 + 2 * 3, 0xffffffff);
    expect(read(0x10 + 2 * 3)).toBe(0x1afff);
    write(0x11 + 2 * 3, 0xffffffff);
    expect(read(0x11 + 2 * 3)).toBe(0xff000000);
    const { ioapic } = setup();
    expect(() => ioapic.setIrq(24, true)).toThrow(X86EmulatorError);
  });
});

describe('Ioapic delivery', () => {
  it('edge: delivers on rising edges only, nothing while masked', () => {
    const { lapics, ioapic, write } = setup();
    write(0x10 + 2 * 4, 0x10000 | 0x34); // masked
    ioapic.setIrq(4, true);
    ioapic.setIrq(4, false);
    expect(lapics[0].pendingVector()).toBe(-1);
    write(0x10 + 2 * 4, 0x34);
    ioapic.setIrq(4, true);
    expect(lapics[0].acknowledge()).toBe(0x34);
    lapics[0].eoi();
    ioapic.setIrq(4, true); // still high: no new edge
    expect(lapics[0].pendingVector()).toBe(-1);
    ioapic.setIrq(4, false);
    ioapic.setIrq(4, true);
    expect(lapics[0].pendingVector()).toBe(0x34);
  });

  it('level: remote IRR holds until EOI, then re-delivers while asserted', () => {
    const { lapics, ioapic, write, read } = setup();
    write(0x10 + 2 * 10, 0x8000 | 0x5a); // level, fixed, physical APIC 1
    write(0x11 + 2 * 10, 0x01000000);
    ioapic.setIrq(10, true);
    const l = lapics[1];
    expect(read(0x10 + 2 * 10) & 0x4000).toBe(0x4000);
    expect(l.acknowledge()).toBe(0x5a);
    l.eoi(); // line still asserted: delivered again
    expect(l.acknowledge()).toBe(0x5a);
    ioapic.setIrq(10, false);
    l.eoi();
    expect(read(0x10 + 2 * 10) & 0x4000).toBe(0);
    expect(l.pendingVector()).toBe(-1);
    expect(lapics[0].pendingVector()).toBe(-1);
  });

  it('level: unmasking an asserted line delivers; the EOI register clears remote IRR', () => {
    const { lapics, ioapic, write, read } = setup();
    write(0x10 + 2 * 9, 0x18000 | 0x61);
    ioapic.setIrq(9, true);
    expect(lapics[0].pendingVector()).toBe(-1);
    write(0x10 + 2 * 9, 0x8000 | 0x61);
    expect(lapics[0].acknowledge()).toBe(0x61);
    ioapic.setIrq(9, false);
    ioapic.mmioWrite(0x40, 4, 0x61);
    expect(read(0x10 + 2 * 9) & 0x4000).toBe(0);
  });

  it('routes by logical destination and broadcasts 0xff', () => {
    const { lapics, ioapic, write } = setup(3);
    lapics[2].mmioWrite(LapicReg.LDR, 4, 0x04000000);
    write(0x10 + 2 * 5, 0x800 | 0x70); // logical
    write(0x11 + 2 * 5, 0x04000000);
    ioapic.setIrq(5, true);
    expect(lapics.map((l) => l.pendingVector())).toEqual([-1, -1, 0x70]);
    write(0x10 + 2 * 6, 0x71);
    write(0x11 + 2 * 6, 0xff000000);
    ioapic.setIrq(6, true);
    expect(lapics.map((l) => l.acknowledge())).toEqual([0x71, 0x71, 0x71]);
  });

  it('delivers NMI entries as NMIs', () => {
    const { lapics, ioapic, write } = setup();
    write(0x10 + 2 * 1, DeliveryMode.NMI << 8);
    ioapic.setIrq(1, true);
    expect(lapics[0].takeNmi()).toBe(true);
  });
});

describe('MSI decoding', () => {
  it('decodes destination, mode, vector and trigger', () => {
    expect(decodeMsi(0xfee01000n, 0x4031)).toEqual({
      destination: 1,
      logical: false,
      deliveryMode: DeliveryMode.FIXED,
      vector: 0x31,
      levelTriggered: false,
      assert: true,
      shorthand: 0,
      wideDestination: false,
    });
    const m = decodeMsi(0xfee0300c, 0xc425);
    expect(m).toMatchObject({
      destination: 3,
      logical: true,
      deliveryMode: DeliveryMode.NMI,
      levelTriggered: true,
    });
    // redirection hint turns fixed into lowest priority
    expect(decodeMsi(0xfee00008, 0x40).deliveryMode).toBe(DeliveryMode.LOWEST_PRIORITY);
    expect(decodeMsi(0xfee010e0, 0x40, { extendedDestinationId: true }).destination).toBe(0x701);
  });

  it('rejects addresses outside 0xfee00000 and reserved delivery modes', () => {
    expect(() => decodeMsi(0xfec00000n, 0x30)).toThrow(/0xfec00000/);
    expect(() => decodeMsi(0x1fee00000n, 0x30)).toThrow(X86EmulatorError);
    expect(() => decodeMsi(0xfee00000n, 0x330)).toThrow(/reserved delivery mode 3/);
    expect(() => decodeMsi(0.5, 0x30)).toThrow(X86EmulatorError);
    expect(() => decodeMsi(0xfee00000, -1)).toThrow(/MSI data -1/);
  });

  it('decodes every address/data pair to a message or an X86EmulatorError, and round-trips encodeMsi', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.nat({ max: 0xffffffff }),
        (address, data) => {
          try {
            const m = decodeMsi(address, data);
            expect(m.vector).toBe(data & 0xff);
            expect(m.destination).toBeLessThanOrEqual(0xff);
          } catch (e) {
            expect(e).toBeInstanceOf(X86EmulatorError);
          }
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.nat({ max: 0xff }),
        fc.nat({ max: 0xff }),
        fc.boolean(),
        fc.boolean(),
        (dest, vector, logical, level) => {
          const { address, data } = encodeMsi({ destination: dest, vector, logical, levelTriggered: level });
          const m = decodeMsi(address, data);
          expect([m.destination, m.vector, m.logical, m.levelTriggered]).toEqual([
            dest,
            vector,
            logical,
            level,
          ]);
        },
      ),
    );
  });

  it('delivers through the bus to the addressed LAPIC', () => {
    const { bus, lapics } = setup();
    bus.deliver(decodeMsi(0xfee01000n, 0x4045));
    expect(lapics[1].pendingVector()).toBe(0x45);
    expect(lapics[0].pendingVector()).toBe(-1);
  });
});
