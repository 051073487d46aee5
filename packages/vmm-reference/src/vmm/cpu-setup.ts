/**
 * Register state for entering a guest: the Linux 64-bit boot protocol (long mode, identity paging,
 * RSI = zero page), PVH (32-bit protected mode, paging off, EBX = start info), and raw 64-bit images.
 * Plus the boot MSRs, FPU state and the LAPIC LINT0/LINT1 wiring every vCPU gets.
 *
 * @module
 */
import { type Fpu, type MsrEntry, type Regs, type Sregs, zeroRegs } from '@ts-vmm/hypervisor';
import { BOOT_STACK_TOP, GDT_ADDR, PML4_ADDR } from './address-map.js';
import {
  BOOT_GDT,
  bootSegment,
  CODE32_SELECTOR,
  CODE64_SELECTOR,
  DATA_SELECTOR,
  TSS_SELECTOR,
  USER_CODE64_SELECTOR,
  USER_DATA_SELECTOR,
} from './gdt.js';

const CR0_PE = 0x1n;
const CR0_ET = 0x10n;
const CR0_NE = 0x20n;
const CR0_PG = 0x8000_0000n;
const CR4_PAE = 0x20n;
const EFER_LME = 0x100n;
const EFER_LMA = 0x400n;
/** An empty IDT right after the GDT. */
const IDT_ADDR = GDT_ADDR + 0x100;

/** How the boot vCPU enters the guest. */
export type EntryMode =
  /** Linux 64-bit boot protocol: long mode, RSI = zero page. */
  | { kind: 'linux64'; entry: number; zeroPage: number }
  /** PVH: 32-bit protected mode, paging off, EBX = hvm_start_info. */
  | { kind: 'pvh'; entry: number; startInfo: number }
  /** A raw 64-bit image; `cpl3` enters it in user mode with IOPL 3 (for the KVM speed probe). */
  | { kind: 'raw64'; entry: number; stack: number; cpl3?: boolean };

/**
 * Special registers for `mode`, starting from the vCPU's current ones.
 *
 * @example
 * ```ts
 * vcpu.setSregs(bootSregs(vcpu.getSregs(), { kind: 'linux64', entry: 0x100200, zeroPage: 0x7000 }));
 * ```
 */
export function bootSregs(current: Sregs, mode: EntryMode): Sregs {
  const s: Sregs = { ...current };
  s.gdt = { base: BigInt(GDT_ADDR), limit: BOOT_GDT.length * 8 - 1 };
  s.idt = { base: BigInt(IDT_ADDR), limit: 7 };
  s.tr = bootSegment(TSS_SELECTOR);
  s.ldt = { ...s.ldt, unusable: 1, present: 0, selector: 0 };
  if (mode.kind === 'pvh') {
    const data = bootSegment(DATA_SELECTOR);
    s.cs = bootSegment(CODE32_SELECTOR);
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.cr0 = (current.cr0 | CR0_PE | CR0_ET) & ~CR0_PG;
    s.cr4 = 0n;
    s.efer = 0n;
    return s;
  }
  const user = mode.kind === 'raw64' && mode.cpl3;
  const data = bootSegment(user ? USER_DATA_SELECTOR : DATA_SELECTOR);
  s.cs = bootSegment(user ? USER_CODE64_SELECTOR : CODE64_SELECTOR);
  s.ds = s.es = s.fs = s.gs = s.ss = data;
  s.cr3 = BigInt(PML4_ADDR);
  s.cr4 = current.cr4 | CR4_PAE;
  s.cr0 = current.cr0 | CR0_PE | CR0_ET | CR0_NE | CR0_PG;
  s.efer = current.efer | EFER_LME | EFER_LMA;
  return s;
}

/**
 * General registers for `mode`.
 * @example vcpu.setRegs(bootRegs({ kind: 'pvh', entry: 0x1000000, startInfo: 0x7000 }))
 */
export function bootRegs(mode: EntryMode): Regs {
  const r: Regs = { ...zeroRegs(), rip: BigInt(mode.entry) };
  switch (mode.kind) {
    case 'linux64':
      r.rsi = BigInt(mode.zeroPage);
      r.rsp = r.rbp = BigInt(BOOT_STACK_TOP);
      break;
    case 'pvh':
      r.rbx = BigInt(mode.startInfo);
      break;
    case 'raw64':
      r.rsp = r.rbp = BigInt(mode.stack);
      if (mode.cpl3) r.rflags = 0x3002n; // IOPL 3: port I/O allowed at CPL3
      break;
  }
  return r;
}

/**
 * The FPU state after reset (FCW 0x37f, MXCSR 0x1f80), keeping the shape of `current`.
 * @example vcpu.setFpu(bootFpu(vcpu.getFpu()))
 */
export function bootFpu(current: Fpu): Fpu {
  return { ...current, fcw: 0x37f, mxcsr: 0x1f80, fsw: 0, ftwx: 0 };
}

/** MSR numbers the boot state sets. */
export const MSR = {
  IA32_TSC: 0x10,
  IA32_SYSENTER_CS: 0x174,
  IA32_SYSENTER_ESP: 0x175,
  IA32_SYSENTER_EIP: 0x176,
  IA32_MISC_ENABLE: 0x1a0,
  MTRR_DEF_TYPE: 0x2ff,
  STAR: 0xc000_0081,
  LSTAR: 0xc000_0082,
  CSTAR: 0xc000_0083,
  SYSCALL_MASK: 0xc000_0084,
  KERNEL_GS_BASE: 0xc000_0102,
} as const;

/**
 * The boot MSRs (as Firecracker sets them), limited to those the backend supports: SYSENTER/SYSCALL
 * zeroed, TSC 0, fast strings on, MTRRs enabled with write-back default.
 *
 * @example vcpu.setMsrs(bootMsrs(hv.supportedMsrs()))
 */
export function bootMsrs(supported: readonly number[]): MsrEntry[] {
  const want: MsrEntry[] = [
    { index: MSR.IA32_SYSENTER_CS, data: 0n },
    { index: MSR.IA32_SYSENTER_ESP, data: 0n },
    { index: MSR.IA32_SYSENTER_EIP, data: 0n },
    { index: MSR.STAR, data: 0n },
    { index: MSR.CSTAR, data: 0n },
    { index: MSR.KERNEL_GS_BASE, data: 0n },
    { index: MSR.SYSCALL_MASK, data: 0n },
    { index: MSR.LSTAR, data: 0n },
    { index: MSR.IA32_TSC, data: 0n },
    { index: MSR.IA32_MISC_ENABLE, data: 1n },
    { index: MSR.MTRR_DEF_TYPE, data: (1n << 11n) | 6n },
  ];
  const have = new Set(supported);
  return want.filter((m) => have.has(m.index));
}

const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const APIC_MODE_NMI = 4;
const APIC_MODE_EXTINT = 7;

function setDeliveryMode(regs: Uint8Array, offset: number, mode: number): void {
  const dv = new DataView(regs.buffer, regs.byteOffset, regs.byteLength);
  const v = dv.getUint32(offset, true);
  dv.setUint32(offset, ((v & ~0x700) | (mode << 8)) >>> 0, true);
}

/**
 * Wires LINT0 as ExtINT (the PIC) and LINT1 as NMI in a LAPIC register page, as a BIOS would.
 * @example const l = vcpu.getLapic(); wireLapicLints(l); vcpu.setLapic(l);
 */
export function wireLapicLints(lapic: Uint8Array): Uint8Array {
  setDeliveryMode(lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
  setDeliveryMode(lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
  return lapic;
}
