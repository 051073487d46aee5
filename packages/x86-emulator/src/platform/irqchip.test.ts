import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { ApicMpState, LapicReg } from './apic-constants.js';
import { EmulatedIrqchip } from './irqchip.js';

const LAPIC = 0xfee00000;
const IOAPIC = 0xfec00000;

function machine(vcpus = 2) {
  const irqchip = new EmulatedIrqchip();
  const wakes = new Array(vcpus).fill(0);
  for (let i = 0; i < vcpus; i++) irqchip.addVcpu(i, () => wakes[i]++);
  const lapicWrite = (id: number, reg: number, v: number) => irqchip.mmioWrite(id, LAPIC + reg, 4, v);
  const ioapicEntry = (pin: number, low: number, high = 0) => {
    irqchip.mmioWrite(0, IOAPIC, 4, 0x11 + pin * 2);
    irqchip.mmioWrite(0, IOAPIC + 0x10, 4, high);
    irqchip.mmioWrite(0, IOAPIC, 4, 0x10 + pin * 2);
    irqchip.mmioWrite(0, IOAPIC + 0x10, 4, low);
  };
  for (let i = 0; i < vcpus; i++) lapicWrite(i, LapicReg.SVR, 0x1ff);
  return { irqchip, wakes, lapicWrite, ioapicEntry };
}

function linuxPicInit(irqchip: EmulatedIrqchip): void {
  for (const [port, v] of [
    [0x20, 0x11],
    [0x21, 0x30],
    [0x21, 0x04],
    [0x21, 0x01],
    [0xa0, 0x11],
    [0xa1, 0x38],
    [0xa1, 0x02],
    [0xa1, 0x01],
  ]) {
    irqchip.pioWrite(port, 1, v);
  }
}

describe('EmulatedIrqchip routing', () => {
  it('delivers the PIC through the BSP LINT0 (ExtINT) until the guest masks LINT0', () => {
    const { irqchip, wakes, lapicWrite, ioapicEntry } = machine();
    linuxPicInit(irqchip);
    irqchip.pioWrite(0x21, 1, 0xef); // unmask IRQ 4
    irqchip.setIrqLine(4, true);
    expect(wakes[0]).toBe(1);
    expect(irqchip.pendingInterrupt(0)).toBe(0x34);
    expect(irqchip.pendingInterrupt(1)).toBe(-1); // APs have LINT0 masked
    expect(irqchip.acknowledge(0)).toBe(0x34);
    irqchip.pioWrite(0x20, 1, 0x20);
    irqchip.setIrqLine(4, false);

    // Linux switches to the IOAPIC: mask the PIC and LINT0, program pin 4
    irqchip.pioWrite(0x21, 1, 0xff);
    irqchip.pioWrite(0xa1, 1, 0xff);
    lapicWrite(0, LapicReg.LVT_LINT0, 0x10700);
    ioapicEntry(4, 0x24, 0x01000000); // vector 0x24 to APIC 1
    irqchip.setIrqLine(4, true);
    expect(irqchip.pendingInterrupt(0)).toBe(-1);
    expect(irqchip.pendingInterrupt(1)).toBe(0x24);
    expect(wakes[1]).toBe(1);
    expect(irqchip.acknowledge(1)).toBe(0x24);
  });

  it('routes PIT IRQ 0 to IOAPIC pin 2 and serves 1000 Hz ticks to a CPU loop', () => {
    const { irqchip, ioapicEntry, lapicWrite } = machine(1);
    lapicWrite(0, LapicReg.LVT_LINT0, 0x10700);
    ioapicEntry(2, 0x30);
    ioapicEntry(0, 0x31); // pin 0 must stay quiet
    const pit = irqchip.createPit();
    expect(irqchip.createPit()).toBe(pit);
    irqchip.pioWrite(0x43, 1, 0x34);
    irqchip.pioWrite(0x40, 1, 1193 & 0xff);
    irqchip.pioWrite(0x40, 1, 1193 >> 8);
    const taken: number[] = [];
    while (irqchip.clock.now() < 10_000_000) {
      irqchip.clock.advanceInstructions(Math.min(5000, irqchip.clock.instructionsUntilDeadline()));
      if (irqchip.pendingInterrupt(0) >= 0) {
        taken.push(irqchip.acknowledge(0));
        irqchip.mmioWrite(0, LAPIC + LapicReg.EOI, 4, 0);
      }
    }
    expect(taken).toEqual(new Array(10).fill(0x30));
  });

  it('ORs shared level lines and re-delivers after EOI while any source asserts', () => {
    const { irqchip, ioapicEntry, lapicWrite } = machine(1);
    lapicWrite(0, LapicReg.LVT_LINT0, 0x10700);
    ioapicEntry(10, 0x8000 | 0x50); // level
    const a = irqchip.createInterruptLine(10);
    const b = irqchip.createInterruptLine(10);
    a.setLevel(true);
    b.setLevel(true);
    a.setLevel(false);
    expect(irqchip.acknowledge(0)).toBe(0x50);
    irqchip.mmioWrite(0, LAPIC + LapicReg.EOI, 4, 0);
    expect(irqchip.acknowledge(0)).toBe(0x50); // b still asserts
    b.close();
    irqchip.mmioWrite(0, LAPIC + LapicReg.EOI, 4, 0);
    expect(irqchip.pendingInterrupt(0)).toBe(-1);
    expect(() => b.setLevel(true)).toThrow(/closed/);
    // an edge line
    ioapicEntry(11, 0x51);
    const c = irqchip.createInterruptLine(11);
    c.trigger();
    expect(irqchip.acknowledge(0)).toBe(0x51);
  });

  it('signals MSIs and ignores malformed ones', () => {
    const { irqchip } = machine();
    expect(irqchip.signalMsi(0xfee01000n, 0x4061)).toBe(true);
    expect(irqchip.pendingInterrupt(1)).toBe(0x61);
    expect(irqchip.signalMsi(0xdead0000n, 0x4061)).toBe(false);
  });

  it('rejects unknown vCPUs, GSIs and duplicates', () => {
    const { irqchip } = machine(1);
    expect(() => irqchip.pendingInterrupt(5)).toThrow(X86EmulatorError);
    expect(() => irqchip.setIrqLine(24, true)).toThrow(/GSI 24/);
    expect(() => irqchip.addVcpu(0)).toThrow(/already/);
    expect(() => new EmulatedIrqchip({ pitIoapicPin: 30 })).toThrow(/30/);
  });
});

describe('EmulatedIrqchip access decoding', () => {
  it('claims its ports, MMIO windows and MSRs only', () => {
    const { irqchip } = machine(1);
    linuxPicInit(irqchip);
    irqchip.pioWrite(0x21, 1, 0xab);
    expect(irqchip.pioRead(0x21, 1)).toBe(0xab);
    expect(irqchip.pioRead(0x40, 1)).toBeUndefined(); // no PIT yet
    irqchip.createPit();
    expect(irqchip.handlesPort(0x61)).toBe(true);
    expect(irqchip.pioRead(0x3f8, 1)).toBeUndefined();
    expect(irqchip.pioWrite(0x3f8, 1, 0)).toBe(false);
    expect(irqchip.mmioRead(0, LAPIC + 0x30, 4)).toBe(0x50014);
    irqchip.mmioWrite(0, IOAPIC, 4, 1);
    expect(irqchip.mmioRead(0, IOAPIC + 0x10, 4)).toBe(0x170020);
    expect(irqchip.mmioRead(0, 0xd0000000, 4)).toBeUndefined();
    expect(irqchip.handlesMsr(0x1b) && irqchip.handlesMsr(0x6e0) && irqchip.handlesMsr(0x830)).toBe(true);
    expect(irqchip.handlesMsr(0x10)).toBe(false);
    expect(irqchip.readMsr(0, 0x1b)).toBe(0xfee00900n);
    // relocating the APIC base moves the LAPIC window
    expect(irqchip.writeMsr(0, 0x1b, 0xfed00900n)).toBe(true);
    expect(irqchip.handlesMmio(0, LAPIC)).toBe(false);
    expect(irqchip.mmioRead(0, 0xfed00030, 4)).toBe(0x50014);
  });

  it('runs an SMP bring-up: INIT and SIPI written to the BSP page reach the AP', () => {
    const { irqchip, wakes, lapicWrite } = machine(2);
    lapicWrite(0, LapicReg.ICR_HIGH, 1 << 24);
    lapicWrite(0, LapicReg.ICR_LOW, 0xc500);
    lapicWrite(0, LapicReg.ICR_LOW, 0x0608);
    const ap = irqchip.lapic(1);
    expect(wakes[1]).toBe(2);
    const r = ap.acceptEvents(ApicMpState.UNINITIALIZED);
    expect(r).toEqual({ mpState: ApicMpState.RUNNABLE, init: true, startupVector: 8 });
  });

  it('lets an idle machine warp to the LAPIC timer', () => {
    const { irqchip, wakes, lapicWrite } = machine(1);
    lapicWrite(0, LapicReg.TIMER_DIVIDE, 0xb);
    lapicWrite(0, LapicReg.LVT_TIMER, 0xec);
    lapicWrite(0, LapicReg.TIMER_INITIAL, 4_000_000); // 4 ms at 1 GHz
    expect(irqchip.pendingInterrupt(0)).toBe(-1);
    expect(irqchip.shouldWake(0, true)).toBe(false);
    expect(irqchip.clock.idle()).toBe(0);
    expect(irqchip.shouldWake(0, false)).toBe(false); // IF=0: HLT stays halted
    expect(irqchip.shouldWake(0, true)).toBe(true);
    expect(irqchip.clock.now()).toBe(4_000_000);
    expect(wakes[0]).toBe(1);
    expect(irqchip.acknowledge(0)).toBe(0xec);
  });
});
