/**
 * Register state for entering a guest: the Linux 64-bit boot protocol (long mode, identity paging,
 * RSI = zero page), PVH (32-bit protected mode, paging off, EBX = start info), multiboot v1 (the
 * same 32-bit state, EAX = 0x2BADB002, EBX = multiboot info), and raw 64-bit images.
 * Plus the boot MSRs, FPU state and the LAPIC LINT0/LINT1 wiring every vCPU gets. These compute
 * values for a VMM to set on its vCPUs; nothing here runs the guest.
 *
 * @module
 */
import { type Fpu, type MsrEntry, type Regs, type Sregs, zeroRegs } from '@ts-vmm/hypervisor';
import { type EntryLayout, resolveLayout } from './entry-layout.js';
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

/**
 * How the boot vCPU enters the guest. {@link setupLinuxBoot} returns the `linux64` or `pvh` one
 * (`boot.entry`); build it yourself from {@link loadBzImage} / {@link loadElf} and the addresses of
 * the zero page or start info you wrote.
 *
 * @example
 * ```ts
 * const entry: EntryMode = { kind: 'linux64', entry: k.entry, zeroPage: writeZeroPage(mem, zp) };
 * ```
 */
export type EntryMode =
  /** Linux 64-bit boot protocol: long mode, identity paging, RIP = `entry`, RSI = `zeroPage`. */
  | { kind: 'linux64'; entry: number; zeroPage: number }
  /** PVH: 32-bit protected mode, paging off, EIP = `entry`, EBX = `startInfo` (`hvm_start_info`). */
  | { kind: 'pvh'; entry: number; startInfo: number }
  /**
   * Multiboot v1: 32-bit protected mode with flat 4 GiB CS (0x20) and data segments (0x10), paging
   * off, interrupts off, EIP = `entry`, EAX = 0x2BADB002, EBX = `info` (the multiboot information).
   */
  | { kind: 'multiboot'; entry: number; info: number }
  /** A raw 64-bit image at `entry` with RSP = `stack`; `cpl3` enters it in user mode with IOPL 3. */
  | { kind: 'raw64'; entry: number; stack: number; cpl3?: boolean };

/**
 * Special registers for entering through `mode`, starting from the vCPU's current ones (so that
 * fields this does not set, such as `apic_base`, keep their values): GDTR/IDTR at `layout`'s GDT
 * and IDT, TR the boot TSS, flat segments from {@link BOOT_GDT}. For `linux64`/`raw64`: long mode
 * (CR0.PE|PG, CR4.PAE, EFER.LME|LMA) with CR3 = `layout.pageTables`; for `pvh` and `multiboot`:
 * protected mode, paging off, CR4 and EFER zero (no page tables needed). Write the GDT and page tables there ({@link writeGdt},
 * {@link writeIdentityPageTables}) with the same layout.
 *
 * @example
 * ```ts
 * writeGdt(mem);
 * writeIdentityPageTables(mem);
 * vcpu.setSregs(bootSregs(vcpu.getSregs(), { kind: 'linux64', entry: 0x1000200, zeroPage: 0x7000 }));
 * ```
 */
export function bootSregs(current: Sregs, mode: EntryMode, layout: EntryLayout = {}): Sregs {
  const at = resolveLayout(layout);
  const s: Sregs = { ...current };
  s.gdt = { base: BigInt(at.gdt), limit: BOOT_GDT.length * 8 - 1 };
  s.idt = { base: BigInt(at.idt), limit: 7 };
  s.tr = bootSegment(TSS_SELECTOR);
  s.ldt = { ...s.ldt, unusable: 1, present: 0, selector: 0 };
  if (mode.kind === 'pvh' || mode.kind === 'multiboot') {
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
  s.cr3 = BigInt(at.pageTables);
  s.cr4 = current.cr4 | CR4_PAE;
  s.cr0 = current.cr0 | CR0_PE | CR0_ET | CR0_NE | CR0_PG;
  s.efer = current.efer | EFER_LME | EFER_LMA;
  return s;
}

/**
 * General registers for entering through `mode`: RIP = the entry, RFLAGS 2, and RSI = zero page with
 * RSP = RBP = `layout.stack` (`linux64`), EBX = start info (`pvh`), EAX = 0x2BADB002 and EBX = the
 * info structure (`multiboot`), or RSP = RBP = `mode.stack` (`raw64`, RFLAGS with IOPL 3 when
 * `cpl3`). Every other register is 0.
 *
 * @example
 * ```ts
 * vcpu.setRegs(bootRegs({ kind: 'pvh', entry: k.pvhEntry!, startInfo: 0x6000 })); // rip, rbx
 * ```
 */
export function bootRegs(mode: EntryMode, layout: EntryLayout = {}): Regs {
  const r: Regs = { ...zeroRegs(), rip: BigInt(mode.entry) };
  switch (mode.kind) {
    case 'linux64': {
      r.rsi = BigInt(mode.zeroPage);
      r.rsp = r.rbp = BigInt(resolveLayout(layout).stack);
      break;
    }
    case 'pvh':
      r.rbx = BigInt(mode.startInfo);
      break;
    case 'multiboot':
      r.rax = 0x2bad_b002n; // MULTIBOOT_BOOTLOADER_MAGIC
      r.rbx = BigInt(mode.info);
      break;
    case 'raw64':
      r.rsp = r.rbp = BigInt(mode.stack);
      if (mode.cpl3) r.rflags = 0x3002n; // IOPL 3: port I/O allowed at CPL3
      break;
  }
  return r;
}

/**
 * The FPU state after reset (FCW 0x37f, MXCSR 0x1f80, empty stack), keeping the shape of `current`.
 *
 * @example
 * ```ts
 * vcpu.setFpu(bootFpu(vcpu.getFpu()));
 * ```
 */
export function bootFpu(current: Fpu): Fpu {
  return { ...current, fcw: 0x37f, mxcsr: 0x1f80, fsw: 0, ftwx: 0 };
}

/**
 * MSR numbers {@link bootMsrs} sets.
 *
 * @example
 * ```ts
 * bootMsrs([MSR.IA32_TSC]); // [{ index: 0x10, data: 0n }]
 * ```
 */
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
 * @example
 * ```ts
 * vcpu.setMsrs(bootMsrs(hypervisor.supportedMsrs()));
 * ```
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
 * Wires LINT0 as ExtINT (the PIC) and LINT1 as NMI in a LAPIC register page (1 KiB, as
 * `Vcpu.getLapic()` returns it), as a BIOS would; returns the same page.
 *
 * @example
 * ```ts
 * vcpu.setLapic(wireLapicLints(vcpu.getLapic()));
 * ```
 */
export function wireLapicLints(lapic: Uint8Array): Uint8Array {
  setDeliveryMode(lapic, APIC_LVT_LINT0, APIC_MODE_EXTINT);
  setDeliveryMode(lapic, APIC_LVT_LINT1, APIC_MODE_NMI);
  return lapic;
}
