import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { EmulatedHypervisor } from './backend/hypervisor.js';
import { Cpu } from './cpu.js';
import { X86EmulatorError, type X86EmulatorErrorKind } from './errors.js';
import * as root from './index.js';
import { ApicBus } from './platform/apic-bus.js';
import { Ioapic } from './platform/ioapic.js';
import { EmulatedIrqchip } from './platform/irqchip.js';
import { Lapic } from './platform/lapic.js';
import { decodeMsi, encodeMsi } from './platform/msi.js';
import { PicPair } from './platform/pic.js';
import { Pit } from './platform/pit.js';
import { encodePvclockWallClock, pvclockScale } from './platform/pvclock.js';
import { VirtualClock } from './platform/virtual-clock.js';

/** The X86EmulatorError `f` throws. */
function thrown(f: () => unknown): X86EmulatorError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(X86EmulatorError);
    return e as X86EmulatorError;
  }
  throw new Error('nothing was thrown');
}

function expectError(f: () => unknown, kind: X86EmulatorErrorKind, operation: string, detail: RegExp): void {
  const e = thrown(f);
  expect(e.kind).toBe(kind);
  expect(e.operation).toBe(operation);
  expect(e.detail).toMatch(detail);
  expect(e.message).toBe(`${operation}: ${e.detail}`);
}

describe('X86EmulatorError', () => {
  it('has a kind, the operation, the detail, a message naming both, and an optional cause', () => {
    const cause = new RangeError('inner');
    const e = new X86EmulatorError(
      'invalid-argument',
      'Pit.setGate',
      'channel 3 is out of range 0..2',
      cause,
    );
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('X86EmulatorError');
    expect(e.message).toBe('Pit.setGate: channel 3 is out of range 0..2');
    expect(e.cause).toBe(cause);
    expect(new X86EmulatorError('closed', 'x', 'y').cause).toBeUndefined();
  });

  it('is what the CPU and the platform chips throw for bad arguments', () => {
    const clock = new VirtualClock();
    const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));
    expectError(() => cpu.injectInterrupt(256), 'invalid-argument', 'Cpu.injectInterrupt', /vector 256/);
    expectError(
      () => new VirtualClock({ tscHz: 12.5 }),
      'invalid-argument',
      'new VirtualClock',
      /tscHz 12.5/,
    );
    expectError(() => clock.advance(-1), 'invalid-argument', 'VirtualClock.advance', /-1 ns/);
    expectError(
      () => clock.setMode('fast' as never),
      'invalid-argument',
      'VirtualClock.setMode',
      /unknown clock mode fast/,
    );
    expectError(
      () => clock.createTimer(() => {}).arm(Number.NaN),
      'invalid-argument',
      'ClockTimer.arm',
      /NaN/,
    );
    expectError(() => pvclockScale(0), 'invalid-argument', 'pvclockScale', /TSC frequency 0/);
    expectError(() => encodePvclockWallClock(0, -1n), 'invalid-argument', 'encodePvclockWallClock', /-1 ns/);
    expectError(() => new Pit({ clock }).setGate(3, true), 'invalid-argument', 'Pit.setGate', /channel 3/);
    expectError(() => new PicPair().setIrq(16, true), 'invalid-argument', 'PicPair.setIrq', /IRQ 16/);
    expectError(
      () => new Ioapic(new ApicBus()).setIrq(24, true),
      'invalid-argument',
      'Ioapic.setIrq',
      /pin 24/,
    );
    expectError(
      () => new Lapic({ apicId: 300, bus: new ApicBus(), clock }),
      'invalid-argument',
      'new Lapic',
      /APIC ID 300/,
    );
    expectError(() => decodeMsi(0xfec00000n, 0x30), 'invalid-argument', 'decodeMsi', /0xfec00000/);
    expectError(
      () => encodeMsi({ destination: 256, vector: 0x30 }),
      'invalid-argument',
      'encodeMsi',
      /destination 256/,
    );
  });

  it('is what the irqchip throws, with the kind saying why', () => {
    const irqchip = new EmulatedIrqchip();
    irqchip.addVcpu(0);
    expectError(() => irqchip.addVcpu(0), 'invalid-state', 'EmulatedIrqchip.addVcpu', /vCPU 0 already/);
    expectError(() => irqchip.lapic(5), 'invalid-argument', 'EmulatedIrqchip.lapic', /no vCPU 5/);
    expectError(
      () => irqchip.setIrqLine(24, true),
      'invalid-argument',
      'EmulatedIrqchip.setIrqLine',
      /GSI 24/,
    );
    expectError(
      () => irqchip.createInterruptLine(-1),
      'invalid-argument',
      'EmulatedIrqchip.createInterruptLine',
      /GSI -1/,
    );
    expectError(
      () => new EmulatedIrqchip({ pitIoapicPin: 30 }),
      'invalid-argument',
      'new EmulatedIrqchip',
      /pitIoapicPin 30/,
    );
    const line = irqchip.createInterruptLine(5);
    line.close();
    expectError(() => line.setLevel(true), 'closed', 'InterruptLine.setLevel', /GSI 5 is closed/);
  });

  it('is what the emulated backend throws, with the kind saying why', async () => {
    const hv = new EmulatedHypervisor();
    const vm = await hv.createVm();
    expectError(() => vm.createVcpu(0), 'invalid-state', 'EmulatedVm.createVcpu', /memory first/);
    vm.setMemory(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));
    expectError(() => vm.setIrqLine(4, true), 'invalid-state', 'EmulatedVm.setIrqLine', /createIrqchip/);
    expectError(() => vm.getDirtyLog(), 'invalid-state', 'EmulatedVm.getDirtyLog', /dirtyLog/);
    const vcpu = vm.createVcpu(0);
    expectError(() => vm.createVcpu(0), 'invalid-state', 'EmulatedVm.createVcpu', /vCPU 0 already exists/);
    expectError(() => vm.createVcpu(999), 'invalid-argument', 'EmulatedVm.createVcpu', /id 999/);
    expectError(() => vcpu.getLapic(), 'invalid-state', 'EmulatedVcpu.getLapic', /no irqchip/);
    expectError(() => vcpu.getMsrs([0x12345678]), 'unsupported', 'EmulatedVcpu.getMsrs', /0x12345678/);
    expectError(
      () => vcpu.setMsrs([{ index: 0x12345678, data: 1n }]),
      'invalid-argument',
      'EmulatedVcpu.setMsrs',
      /0x12345678 = 0x1/,
    );
    expectError(
      () => vcpu.setGuestDebug({ enable: true, hwBreakpoints: [1n, 2n, 3n, 4n, 5n] }),
      'unsupported',
      'EmulatedVcpu.setGuestDebug',
      /5 breakpoints/,
    );
    expectError(() => hv.openKicker({ nope: 1 }), 'invalid-argument', 'openEmulatedKicker', /nope/);
    vcpu.close();
    expectError(() => vcpu.run(), 'closed', 'EmulatedVcpu.run', /vCPU 0 is closed/);
    vm.close();
    expectError(() => vm.createIrqchip(), 'closed', 'EmulatedVm.createIrqchip', /the VM is closed/);
  });

  it('is the only error class the package root exports', () => {
    const errorClasses = Object.entries(root).filter(
      ([, v]) => typeof v === 'function' && v.prototype instanceof Error,
    );
    expect(errorClasses.map(([k]) => k)).toEqual(['X86EmulatorError']);
  });
});
