import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { Cpu } from './cpu.js';
import { lookupCpuid } from './cpuid.js';
import { GuestFault } from './fault.js';
import { ARCH_CAPABILITIES_NOT_AFFECTED, MSR } from './msr.js';

describe('speculation MSRs', () => {
  const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));

  it('advertises IA32_ARCH_CAPABILITIES and SPEC_CTRL in CPUID leaf 7', () => {
    const [, , , edx] = lookupCpuid(cpu.cpuid, 7, 0);
    expect(edx & (1 << 29)).not.toBe(0);
    expect(edx & (1 << 26)).not.toBe(0);
  });

  it('reports not affected (RDCL_NO, MDS_NO, ITS_NO, ...) and refuses writes to ARCH_CAPABILITIES', () => {
    expect(cpu.msrs.read(MSR.ARCH_CAPABILITIES)).toBe(ARCH_CAPABILITIES_NOT_AFFECTED);
    expect(ARCH_CAPABILITIES_NOT_AFFECTED & 1n).toBe(1n); // RDCL_NO
    expect((ARCH_CAPABILITIES_NOT_AFFECTED >> 62n) & 1n).toBe(1n); // ITS_NO
    expect(() => cpu.msrs.write(MSR.ARCH_CAPABILITIES, 0n)).toThrow(GuestFault);
  });

  it('accepts SPEC_CTRL and PRED_CMD writes', () => {
    cpu.msrs.write(MSR.SPEC_CTRL, 1n);
    expect(cpu.msrs.read(MSR.SPEC_CTRL)).toBe(1n);
    expect(() => cpu.msrs.write(MSR.PRED_CMD, 1n)).not.toThrow();
  });

  it('refuses RDMSR of the write-only PRED_CMD and reserved PRED_CMD bits', () => {
    expect(() => cpu.msrs.read(MSR.PRED_CMD)).toThrow(GuestFault);
    expect(() => cpu.msrs.write(MSR.PRED_CMD, 2n)).toThrow(GuestFault);
  });
});

describe('IA32_APIC_BASE without a LAPIC', () => {
  it('refuses reserved bits and the x2APIC enable unless CPUID offers x2APIC', () => {
    const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]));
    expect(() => cpu.msrs.write(MSR.APIC_BASE, 0xfee00d00n)).toThrow(GuestFault); // no x2APIC in CPUID
    expect(() => cpu.msrs.write(MSR.APIC_BASE, 0xfee00901n)).toThrow(GuestFault); // reserved bit 0
    expect(() => cpu.msrs.write(MSR.APIC_BASE, 1n << 45n)).toThrow(GuestFault); // above MAXPHYADDR
    expect(() => cpu.msrs.write(MSR.APIC_BASE, 0xfee00400n)).toThrow(GuestFault); // x2APIC without enable
    expect(cpu.msrs.read(MSR.APIC_BASE)).toBe(0xfee00900n);
    cpu.cpuid = cpu.cpuid.map((e) => (e.function === 1 ? { ...e, ecx: (e.ecx | (1 << 21)) >>> 0 } : e));
    cpu.msrs.write(MSR.APIC_BASE, 0xfee00d00n);
    expect(cpu.msrs.read(MSR.APIC_BASE)).toBe(0xfee00d00n);
  });
});

describe('CpuOptions hooks', () => {
  it('reads the TSC from options.tsc (plus the offset) and serves MSRs from options.msrHandler first', () => {
    let now = 1000;
    let pv = 5n;
    const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]), {
      tsc: () => now,
      msrHandler: {
        read: (i) => (i === 0x4b564d01 ? pv : undefined),
        write: (i, v) => {
          if (i !== 0x4b564d01) return false;
          pv = v;
          return true;
        },
      },
    });
    cpu.tscOffset = 20;
    expect(cpu.msrs.read(MSR.TSC)).toBe(1020n);
    now = 2000;
    expect(cpu.readTsc()).toBe(2020);
    expect(cpu.msrs.read(0x4b564d01)).toBe(5n);
    cpu.msrs.write(0x4b564d01, 9n);
    expect(pv).toBe(9n);
    // not served by the handler: the CPU's own set (EFER), or #GP for an unknown index
    expect(cpu.msrs.read(0xc0000080)).toBe(0n);
    expect(() => cpu.msrs.read(0x4b564d02)).toThrow(GuestFault);
  });
});
