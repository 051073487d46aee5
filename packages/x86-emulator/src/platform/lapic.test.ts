import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { ApicBus } from './apic-bus.js';
import { ApicMpState, DeliveryMode, LapicReg } from './apic-constants.js';
import { Lapic } from './lapic.js';
import { VirtualClock } from './virtual-clock.js';

function machine(n = 1) {
  const clock = new VirtualClock();
  const bus = new ApicBus();
  const events = new Array(n).fill(0);
  const lapics = Array.from(
    { length: n },
    (_, i) => new Lapic({ apicId: i, bus, clock, onEvent: () => events[i]++ }),
  );
  for (const l of lapics) l.mmioWrite(LapicReg.SVR, 4, 0x1ff);
  return { clock, bus, lapics, events };
}

const icr = (l: Lapic, high: number, low: number) => {
  l.mmioWrite(LapicReg.ICR_HIGH, 4, high);
  l.mmioWrite(LapicReg.ICR_LOW, 4, low);
};

describe('Lapic registers', () => {
  it('has the reset state KVM presents', () => {
    const { lapics } = machine(2);
    const [bsp, ap] = lapics;
    expect(bsp.mmioRead(LapicReg.ID, 4)).toBe(0);
    expect(ap.mmioRead(LapicReg.ID, 4)).toBe(1 << 24);
    expect(bsp.mmioRead(LapicReg.VERSION, 4)).toBe(0x50014);
    expect(bsp.mmioRead(LapicReg.DFR, 4)).toBe(0xffffffff);
    expect(bsp.mmioRead(LapicReg.LVT_TIMER, 4)).toBe(0x10000);
    expect(bsp.mmioRead(LapicReg.LVT_LINT0, 4)).toBe(0x700); // ExtINT, unmasked on the BSP
    expect(ap.mmioRead(LapicReg.LVT_LINT0, 4)).toBe(0x10000);
    expect(bsp.apicBase).toBe(0xfee00900);
    expect(ap.apicBase).toBe(0xfee00800);
    expect(bsp.acceptsPicInterrupts()).toBe(true);
    expect(ap.acceptsPicInterrupts()).toBe(false);
  });

  it('masks writes to each register and supports byte reads', () => {
    const { lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.TPR, 4, 0x1234);
    expect(l.mmioRead(LapicReg.TPR, 4)).toBe(0x34);
    expect(l.cr8).toBe(3);
    l.mmioWrite(LapicReg.LDR, 4, 0x12345678);
    expect(l.mmioRead(LapicReg.LDR, 4)).toBe(0x12000000);
    expect(l.mmioRead(LapicReg.LDR + 3, 1)).toBe(0x12);
    l.mmioWrite(LapicReg.DFR, 4, 0);
    expect(l.mmioRead(LapicReg.DFR, 4)).toBe(0x0fffffff);
    l.mmioWrite(LapicReg.LVT_LINT1, 4, 0xffffffff);
    expect(l.mmioRead(LapicReg.LVT_LINT1, 4)).toBe(0x1a7ff);
    l.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0xff);
    expect(l.mmioRead(LapicReg.TIMER_DIVIDE, 4)).toBe(0xb);
    l.mmioWrite(LapicReg.VERSION, 4, 0); // read-only
    expect(l.mmioRead(LapicReg.VERSION, 4)).toBe(0x50014);
    l.mmioWrite(LapicReg.TPR, 2, 0x50); // not a 4-byte write: ignored
    expect(l.mmioRead(LapicReg.TPR, 4)).toBe(0x34);
  });

  it('software-disable masks every LVT and drops fixed interrupts', () => {
    const { lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.LVT_ERROR, 4, 0xfe);
    l.mmioWrite(LapicReg.SVR, 4, 0xff);
    expect(l.mmioRead(LapicReg.LVT_ERROR, 4)).toBe(0x100fe);
    l.mmioWrite(LapicReg.LVT_ERROR, 4, 0xfe);
    expect(l.mmioRead(LapicReg.LVT_ERROR, 4) & 0x10000).toBe(0x10000);
    l.accept(DeliveryMode.FIXED, 0x40, false, true);
    expect(l.pendingVector()).toBe(-1);
  });

  it('latches errors into the ESR on write and raises the error LVT', () => {
    const { lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.LVT_ERROR, 4, 0xfe);
    l.accept(DeliveryMode.FIXED, 3, false, true); // illegal vector
    expect(l.mmioRead(LapicReg.ESR, 4)).toBe(0);
    l.mmioWrite(LapicReg.ESR, 4, 0);
    expect(l.mmioRead(LapicReg.ESR, 4)).toBe(0x40);
    expect(l.pendingVector()).toBe(0xfe);
  });

  it('rejects a bad APIC ID and a short register page', () => {
    const clock = new VirtualClock();
    expect(() => new Lapic({ apicId: 300, bus: new ApicBus(), clock })).toThrow(X86EmulatorError);
    expect(() => machine().lapics[0].setRegisterPage(new Uint8Array(10))).toThrow(/10 bytes/);
  });
});

describe('Lapic priority and EOI', () => {
  it('delivers the highest IRR vector whose class is above the PPR', () => {
    const { lapics } = machine();
    const l = lapics[0];
    l.accept(DeliveryMode.FIXED, 0x31, false, true);
    l.accept(DeliveryMode.FIXED, 0x45, false, true);
    l.accept(DeliveryMode.FIXED, 0x42, false, true);
    expect(l.pendingVector()).toBe(0x45);
    expect(l.acknowledge()).toBe(0x45);
    expect(l.ppr()).toBe(0x40);
    // 0x42 is in the same class as the in-service 0x45: blocked
    expect(l.pendingVector()).toBe(-1);
    l.mmioWrite(LapicReg.EOI, 4, 0);
    expect(l.pendingVector()).toBe(0x42);
    l.cr8 = 4; // TPR 0x40 blocks class 4 and below
    expect(l.mmioRead(LapicReg.PPR, 4)).toBe(0x40);
    expect(l.pendingVector()).toBe(-1);
    l.cr8 = 2;
    expect(l.acknowledge()).toBe(0x42);
    l.accept(DeliveryMode.FIXED, 0x80, false, true);
    expect(l.acknowledge()).toBe(0x80); // nests above 0x42
    l.eoi();
    l.eoi();
    expect(l.acknowledge()).toBe(0x31);
  });

  it('broadcasts EOI of level-triggered vectors only', () => {
    const { bus, lapics } = machine();
    const eois: number[] = [];
    bus.onLevelEoi = (v) => eois.push(v);
    const l = lapics[0];
    l.accept(DeliveryMode.FIXED, 0x50, true, true);
    l.accept(DeliveryMode.FIXED, 0x60, false, true);
    expect(l.acknowledge()).toBe(0x60);
    l.eoi();
    expect(l.acknowledge()).toBe(0x50);
    l.eoi();
    expect(eois).toEqual([0x50]);
  });

  it('reports arrivals through onEvent', () => {
    const { lapics, events } = machine();
    lapics[0].accept(DeliveryMode.FIXED, 0x30, false, true);
    lapics[0].accept(DeliveryMode.NMI, 0, false, true);
    expect(events[0]).toBe(2);
    expect(lapics[0].takeNmi()).toBe(true);
    expect(lapics[0].takeNmi()).toBe(false);
  });
});

describe('Lapic IPIs', () => {
  it('wakes an AP with INIT then SIPI', () => {
    const { lapics, events } = machine(2);
    const [bsp, ap] = lapics;
    let apState: number = ApicMpState.UNINITIALIZED;
    icr(bsp, 1 << 24, 0x0000c500); // INIT, level assert, physical dest 1
    icr(bsp, 1 << 24, 0x00008500); // INIT level de-assert: ignored
    expect(ap.hasInitOrSipi).toBe(true);
    let r = ap.acceptEvents(apState);
    expect(r).toEqual({ mpState: ApicMpState.INIT_RECEIVED, init: true, startupVector: -1 });
    apState = r.mpState;
    icr(bsp, 1 << 24, 0x00000699); // SIPI vector 0x99
    r = ap.acceptEvents(apState);
    expect(r).toEqual({ mpState: ApicMpState.RUNNABLE, init: false, startupVector: 0x99 });
    // a second SIPI in RUNNABLE is ignored
    icr(bsp, 1 << 24, 0x00000699);
    expect(ap.acceptEvents(r.mpState).startupVector).toBe(-1);
    expect(events[1]).toBeGreaterThanOrEqual(3);
    expect(bsp.hasInitOrSipi).toBe(false);
  });

  it('honours shorthands and logical destinations', () => {
    const { lapics } = machine(3);
    const [a, b, c] = lapics;
    icr(a, 0, 0x000c0041); // all excluding self
    expect([a, b, c].map((l) => l.pendingVector())).toEqual([-1, 0x41, 0x41]);
    icr(a, 0, 0x00040042); // self
    expect(a.pendingVector()).toBe(0x42);
    // flat logical: give b bit 1, c bit 2
    b.mmioWrite(LapicReg.LDR, 4, 0x02000000);
    c.mmioWrite(LapicReg.LDR, 4, 0x04000000);
    icr(a, 0x04000000, 0x00000851);
    expect(c.acknowledge()).toBe(0x51);
    expect(b.acknowledge()).toBe(0x41);
    // cluster model: cluster 1, member bit 0
    c.mmioWrite(LapicReg.DFR, 4, 0x0fffffff);
    c.mmioWrite(LapicReg.LDR, 4, 0x11000000);
    icr(a, 0x11000000, 0x00000861);
    expect(c.acknowledge()).toBe(0x61);
  });

  it('sends lowest priority to the LAPIC with the lowest PPR', () => {
    const { lapics } = machine(2);
    const [a, b] = lapics;
    a.mmioWrite(LapicReg.LDR, 4, 0x01000000);
    b.mmioWrite(LapicReg.LDR, 4, 0x02000000);
    a.cr8 = 5;
    icr(a, 0x03000000, 0x00000970); // lowest priority, logical, to both
    expect(a.pendingVector()).toBe(-1);
    expect(b.pendingVector()).toBe(0x70);
  });

  it('flags a send of an illegal vector', () => {
    const { lapics } = machine(2);
    icr(lapics[0], 1 << 24, 0x00000005);
    expect(lapics[1].pendingVector()).toBe(-1);
    lapics[0].mmioWrite(LapicReg.ESR, 4, 0);
    expect(lapics[0].mmioRead(LapicReg.ESR, 4)).toBe(0x20);
  });
});

describe('Lapic x2APIC', () => {
  it('switches mode through IA32_APIC_BASE and refuses invalid transitions', () => {
    const { lapics } = machine(2);
    const ap = lapics[1];
    expect(ap.readMsr(0x802)).toBeUndefined(); // xAPIC mode: #GP
    expect(ap.writeMsr(0x1b, 0xfee00c00n)).toBe(true);
    expect(ap.isX2apic).toBe(true);
    expect(ap.mmioEnabled).toBe(false);
    expect(ap.readMsr(0x802)).toBe(1n);
    expect(ap.readMsr(0x80d)).toBe(0x2n); // LDR: cluster 0, bit 1
    expect(ap.setApicBase(0xfee00800)).toBe(false); // x2APIC -> xAPIC
    expect(ap.setApicBase(0xfee00400)).toBe(false); // EXTD without EN
    expect(ap.setApicBase(0xfee00001)).toBe(false); // reserved bit
    expect(ap.setApicBase(0xfee00000)).toBe(true); // disable
    expect(ap.setApicBase(0xfee00c00)).toBe(false); // disabled -> x2APIC
    expect(ap.setApicBase(0xfee00c00, true)).toBe(true); // the VMM may (KVM_SET_SREGS)
    expect(ap.readMsr(0x802)).toBe(1n);
  });

  it('uses the MSR interface for TPR, EOI, ICR and self-IPI', () => {
    const { lapics } = machine(2);
    const [a, b] = lapics;
    a.writeMsr(0x1b, 0xfee00d00n);
    b.writeMsr(0x1b, 0xfee00c00n);
    expect(a.writeMsr(0x808, 0x20n)).toBe(true);
    expect(a.readMsr(0x808)).toBe(0x20n);
    expect(a.readMsr(0x80b)).toBeUndefined(); // EOI is write-only
    expect(a.writeMsr(0x802, 5n)).toBe(false); // ID is read-only
    expect(a.writeMsr(0x80b, 1n)).toBe(false); // EOI must be 0
    expect(a.writeMsr(0x83f, 0x99n)).toBe(true);
    expect(a.acknowledge()).toBe(0x99);
    expect(a.writeMsr(0x80b, 0n)).toBe(true);
    expect(a.readMsr(0x810 + (0x99 >> 5))).toBe(0n);
    expect(a.writeMsr(0x830, (1n << 32n) | 0x4an)).toBe(true); // fixed to x2APIC ID 1
    expect(b.pendingVector()).toBe(0x4a);
    expect(a.readMsr(0x830)).toBe((1n << 32n) | 0x4an);
    // logical x2APIC: cluster 0, bit 1 = APIC 1
    expect(a.writeMsr(0x830, (0x2n << 32n) | 0x84bn)).toBe(true);
    expect(b.acknowledge()).toBe(0x4b);
  });
});

describe('Lapic timer', () => {
  it('one-shot: counts down at bus clock / divider and fires once', () => {
    const { clock, lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0x3); // divide by 16 -> 16 ns per count at 1 GHz
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0xec);
    l.mmioWrite(LapicReg.TIMER_INITIAL, 4, 1000);
    expect(clock.nextDeadline()).toBe(16_000);
    clock.advance(1600);
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(900);
    clock.advance(14_399);
    expect(l.pendingVector()).toBe(-1);
    clock.advance(1);
    expect(l.pendingVector()).toBe(0xec);
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(0);
    l.acknowledge();
    l.eoi();
    clock.advance(100_000);
    expect(l.pendingVector()).toBe(-1);
  });

  it('periodic: reloads, and a masked LVT keeps counting without interrupts', () => {
    const { clock, lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0xb); // divide by 1
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20000 | 0x30);
    l.mmioWrite(LapicReg.TIMER_INITIAL, 4, 1_000_000); // 1 ms
    let taken = 0;
    for (let i = 0; i < 10; i++) {
      clock.advance(1_000_000);
      if (l.acknowledge() === 0x30) {
        taken++;
        l.eoi();
      }
    }
    expect(taken).toBe(10);
    clock.advance(250_000);
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(750_000);
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x30000 | 0x30); // masked periodic
    clock.advance(10_000_000);
    expect(l.pendingVector()).toBe(-1);
    expect(clock.nextDeadline()).toBeGreaterThan(clock.now());
  });

  it('limits a tiny periodic timer to one interrupt per 200 µs, keeping the count exact', () => {
    const { clock, lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0xb);
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20000 | 0x30);
    l.mmioWrite(LapicReg.TIMER_INITIAL, 4, 10); // 10 ns
    let taken = 0;
    for (let t = 0; t < 10_000_000; t += 50_000) {
      clock.advance(50_000);
      if (l.acknowledge() === 0x30) {
        taken++;
        l.eoi();
      }
    }
    expect(taken).toBeGreaterThanOrEqual(45);
    expect(taken).toBeLessThanOrEqual(51);
    clock.advance(3);
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(10 - (clock.now() % 10));
  });

  it('switching periodic to one-shot keeps the count running and ends after this period', () => {
    const { clock, lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0xb);
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x20000 | 0x30);
    l.mmioWrite(LapicReg.TIMER_INITIAL, 4, 1_000_000);
    clock.advance(1_500_000);
    expect(l.acknowledge()).toBe(0x30);
    l.eoi();
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x30); // one-shot now
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(500_000);
    clock.advance(500_000);
    expect(l.acknowledge()).toBe(0x30);
    l.eoi();
    clock.advance(10_000_000);
    expect(l.pendingVector()).toBe(-1);
    expect(l.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(0);
  });

  it('TSC-deadline mode via MSR 0x6e0 with the vCPU TSC offset', () => {
    const { clock, lapics } = machine();
    const l = lapics[0];
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0x40000 | 0xef);
    l.mmioWrite(LapicReg.TIMER_INITIAL, 4, 5); // ignored in this mode
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    l.tscOffset = 1000;
    expect(l.writeMsr(0x6e0, 1000n + 4000n)).toBe(true); // 4000 ticks at 2 GHz = 2 us
    expect(l.readMsr(0x6e0)).toBe(5000n);
    expect(clock.nextDeadline()).toBe(2000);
    clock.advance(1999);
    expect(l.pendingVector()).toBe(-1);
    clock.advance(1);
    expect(l.pendingVector()).toBe(0xef);
    expect(l.readMsr(0x6e0)).toBe(0n);
    // disarm by writing 0; leaving the mode clears the deadline
    l.writeMsr(0x6e0, 100_000n);
    l.writeMsr(0x6e0, 0n);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    l.writeMsr(0x6e0, 100_000n);
    l.mmioWrite(LapicReg.LVT_TIMER, 4, 0xef);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it('round-trips the kvm_lapic_state page, including the running timer', () => {
    const { clock, lapics } = machine(2);
    const [a, b] = lapics;
    a.mmioWrite(LapicReg.TIMER_DIVIDE, 4, 0xb);
    a.mmioWrite(LapicReg.LVT_TIMER, 4, 0x41);
    a.mmioWrite(LapicReg.TIMER_INITIAL, 4, 1000);
    a.accept(DeliveryMode.FIXED, 0x55, true, true);
    a.cr8 = 1;
    clock.advance(400);
    const page = a.getRegisterPage();
    expect(page.length).toBe(1024);
    const dv = new DataView(page.buffer);
    expect(dv.getUint32(0x390, true)).toBe(600);
    expect(dv.getUint32(0x200 + 0x20 * 0 + (0x55 >> 5) * 16, true)).toBe(1 << (0x55 & 31));
    b.setRegisterPage(page);
    expect(b.mmioRead(LapicReg.TPR, 4)).toBe(0x10);
    expect(b.pendingVector()).toBe(0x55);
    expect(b.mmioRead(LapicReg.TIMER_CURRENT, 4)).toBe(600);
    clock.advance(600);
    b.acknowledge();
    expect(b.pendingVector()).toBe(-1); // 0x41 is below the in-service 0x55
    b.eoi();
    expect(b.pendingVector()).toBe(0x41);
  });
});
