/**
 * Model-specific registers: a configurable set. Architectural MSRs with side effects (EFER, FS/GS
 * base, KERNEL_GS_BASE, TSC, APIC_BASE) are wired to CPU state; the rest are plain storage. Reading
 * or writing an index that is not in the set raises #GP, which is what the Linux kernel's probing
 * with exception fixups expects.
 *
 * @example
 * ```ts
 * cpu.msrs.define(0x4b564d01, 0n); // add kvm-clock's system-time MSR as plain storage
 * cpu.msrs.read(0xc0000080);       // EFER
 * ```
 */
import { EFER, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { setSegBase } from './segments.js';

/** Well-known MSR indices. */
export const MSR = {
  TSC: 0x10,
  PLATFORM_ID: 0x17,
  APIC_BASE: 0x1b,
  FEATURE_CONTROL: 0x3a,
  BIOS_SIGN_ID: 0x8b,
  MTRRCAP: 0xfe,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MCG_CAP: 0x179,
  MCG_STATUS: 0x17a,
  MISC_ENABLE: 0x1a0,
  PAT: 0x277,
  MTRR_DEF_TYPE: 0x2ff,
  TSC_DEADLINE: 0x6e0,
  SPEC_CTRL: 0x48,
  PRED_CMD: 0x49,
  ARCH_CAPABILITIES: 0x10a,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
} as const;

/**
 * IA32_ARCH_CAPABILITIES of the emulated CPU. It executes one instruction at a time with no branch
 * prediction, speculative loads, caches or fill buffers, so none of the transient-execution issues
 * apply, and the register says so (as a VMM on unaffected hardware passes the host's bits on):
 * RDCL_NO (0: no Meltdown, so no page-table isolation), IBRS_ALL (1: "enhanced IBRS": no
 * retpolines), SSB_NO (4), MDS_NO (5), PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO (13),
 * FBSDP_NO (14), PSDP_NO (15), BHI_NO (20), PBRSB_NO (24), GDS_NO (26), RFDS_NO (27), ITS_NO (62).
 */
export const ARCH_CAPABILITIES_NOT_AFFECTED =
  (1n << 0n) |
  (1n << 1n) |
  (1n << 4n) |
  (1n << 5n) |
  (1n << 6n) |
  (1n << 8n) |
  (1n << 13n) |
  (1n << 14n) |
  (1n << 15n) |
  (1n << 20n) |
  (1n << 24n) |
  (1n << 26n) |
  (1n << 27n) |
  (1n << 62n);

/**
 * MSRs served outside the CPU (a platform's LAPIC, paravirtual clocks), consulted before the CPU's
 * own set ({@link CpuOptions.msrHandler}). An index left to the CPU that its set does not have
 * raises #GP in the guest; to refuse an index the handler serves, throw a {@link GuestFault} (#GP).
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { Cpu, GuestFault, type MsrHandler, VEC } from '@ts-vmm/x86-emulator';
 *
 * let systemTime = 0n;
 * const handler: MsrHandler = {
 *   read: (i) => (i === 0x4b564d01 ? systemTime : undefined),
 *   write: (i, v) => {
 *     if (i !== 0x4b564d01) return false; // not ours: the CPU's own set
 *     if ((v & 0xffen) !== 0n) throw new GuestFault(VEC.GP, 0); // reserved bits: #GP in the guest
 *     systemTime = v;
 *     return true;
 *   },
 * };
 * const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x10000 }]), { msrHandler: handler });
 * cpu.msrs.write(0x4b564d01, 0x1001n);
 * ```
 */
export interface MsrHandler {
  /** The value, or undefined when the handler does not serve `index`. */
  read(index: number): bigint | undefined;
  /** true when the handler took the write, false to leave `index` to the CPU's set. */
  write(index: number, value: bigint): boolean;
}

/** A write hook for an MSR: return false to raise #GP. */
export type MsrWriteHook = (value: bigint) => boolean;

/** The MSR set of one CPU. */
export class MsrFile {
  private readonly values = new Map<number, bigint>();
  private readonly hooks = new Map<number, MsrWriteHook>();
  /** Indices that exist for WRMSR only (RDMSR raises #GP). */
  private readonly writeOnly = new Set<number>();
  /** IA32_APIC_BASE (BSP, enabled, 0xfee00000). */
  apicBase = 0xfee00900n;
  /** See {@link MsrHandler}. */
  handler: MsrHandler | null = null;
  star = 0n;
  lstar = 0;
  cstar = 0;
  sfmask = 0;
  kernelGsBase = 0;
  tscAux = 0;

  constructor(private readonly cpu: Cpu) {
    const plain: [number, bigint][] = [
      [MSR.PLATFORM_ID, 0n],
      [MSR.BIOS_SIGN_ID, 0n],
      [MSR.FEATURE_CONTROL, 1n],
      [MSR.MTRRCAP, 0x508n],
      [MSR.SYSENTER_CS, 0n],
      [MSR.SYSENTER_ESP, 0n],
      [MSR.SYSENTER_EIP, 0n],
      [MSR.MCG_CAP, 0n],
      [MSR.MCG_STATUS, 0n],
      [MSR.MISC_ENABLE, 1n],
      [MSR.PAT, 0x0007040600070406n],
      [MSR.MTRR_DEF_TYPE, 0xc06n],
      [MSR.TSC_DEADLINE, 0n],
    ];
    for (const [k, v] of plain) this.values.set(k, v);
    // speculation controls: accepted and without effect (nothing speculates); ARCH_CAPABILITIES is
    // read-only, PRED_CMD write-only (a command register: RDMSR raises #GP, as on hardware)
    this.values.set(MSR.SPEC_CTRL, 0n);
    this.values.set(MSR.PRED_CMD, 0n);
    this.hooks.set(MSR.PRED_CMD, (v) => (v & ~1n) === 0n);
    this.writeOnly.add(MSR.PRED_CMD);
    this.values.set(MSR.ARCH_CAPABILITIES, ARCH_CAPABILITIES_NOT_AFFECTED);
    this.hooks.set(MSR.ARCH_CAPABILITIES, () => false);
    for (let k = 0x200; k < 0x210; k++) this.values.set(k, 0n);
    for (const k of [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f])
      this.values.set(k, 0n);
  }

  /**
   * Adds `index` to the set as plain storage (with an optional write hook).
   * @example cpu.msrs.define(0x6e0, 0n, (v) => { timer.arm(v); return true; })
   */
  define(index: number, initial: bigint, onWrite?: MsrWriteHook): void {
    this.values.set(index >>> 0, initial);
    if (onWrite) this.hooks.set(index >>> 0, onWrite);
  }

  /** Removes `index` from the set (accesses then raise #GP). @example cpu.msrs.undefine(0x1a0) */
  undefine(index: number): void {
    this.values.delete(index >>> 0);
    this.hooks.delete(index >>> 0);
  }

  /** Whether `index` is in the set. @example cpu.msrs.has(0xc0000080) */
  has(index: number): boolean {
    index >>>= 0;
    return (
      this.values.has(index) ||
      (index >= MSR.EFER && index <= MSR.TSC_AUX) ||
      index === MSR.TSC ||
      index === MSR.APIC_BASE
    );
  }

  /** Indices in the set. @example cpu.msrs.indices() */
  indices(): number[] {
    const fixed = [
      MSR.TSC,
      MSR.APIC_BASE,
      MSR.EFER,
      MSR.STAR,
      MSR.LSTAR,
      MSR.CSTAR,
      MSR.SFMASK,
      MSR.FS_BASE,
      MSR.GS_BASE,
      MSR.KERNEL_GS_BASE,
      MSR.TSC_AUX,
    ];
    return [...fixed, ...this.values.keys()];
  }

  /** RDMSR: the value, or throws #GP for an index outside the set. @example cpu.msrs.read(0x10) */
  read(index: number): bigint {
    const c = this.cpu;
    if (this.handler !== null) {
      const v = this.handler.read(index >>> 0);
      if (v !== undefined) return v;
    }
    switch (index >>> 0) {
      case MSR.TSC:
        return BigInt.asUintN(64, BigInt(Math.floor(c.readTsc())));
      case MSR.APIC_BASE:
        return this.apicBase;
      case MSR.EFER:
        return BigInt(c.efer);
      case MSR.STAR:
        return this.star;
      case MSR.LSTAR:
        return BigInt.asUintN(64, BigInt(this.lstar));
      case MSR.CSTAR:
        return BigInt.asUintN(64, BigInt(this.cstar));
      case MSR.SFMASK:
        return BigInt(this.sfmask >>> 0);
      case MSR.FS_BASE:
        return BigInt.asUintN(64, BigInt(c.segBase[SEG.FS]));
      case MSR.GS_BASE:
        return BigInt.asUintN(64, BigInt(c.segBase[SEG.GS]));
      case MSR.KERNEL_GS_BASE:
        return BigInt.asUintN(64, BigInt(this.kernelGsBase));
      case MSR.TSC_AUX:
        return BigInt(this.tscAux >>> 0);
    }
    const v = this.values.get(index >>> 0);
    if (v === undefined || this.writeOnly.has(index >>> 0)) throw new GuestFault(VEC.GP, 0);
    return v;
  }

  /** WRMSR: stores, or throws #GP. @example cpu.msrs.write(0xc0000100, 0x7fff0000n) // FS base */
  write(index: number, value: bigint): void {
    const c = this.cpu;
    if (this.handler?.write(index >>> 0, value)) return;
    value = BigInt.asUintN(64, value);
    const canon = (v: bigint) => {
      const s = Number(BigInt.asIntN(64, v));
      if (s < -(2 ** 47) || s >= 2 ** 47) throw new GuestFault(VEC.GP, 0);
      return s;
    };
    switch (index >>> 0) {
      case MSR.TSC:
        c.tscOffset = Number(value) - c.icount * c.tscPerInstruction;
        return;
      case MSR.APIC_BASE: {
        // no LAPIC behind it: reserved bits (0-7, 9, the address above MAXPHYADDR) and the
        // x2APIC enable without CPUID.1:ECX.x2APIC raise #GP, as KVM's kvm_set_apic_base
        const x2 = (c.cpuidLookup(1, 0)[2] & (1 << 21)) !== 0;
        const phys = c.cpuidLookup(0x80000008, 0)[0] & 0xff || 36;
        const reserved = 0x2ffn | (x2 ? 0n : 0x400n) | ~((1n << BigInt(phys)) - 1n);
        if ((value & reserved) !== 0n || (value & 0xc00n) === 0x400n) throw new GuestFault(VEC.GP, 0);
        this.apicBase = value;
        return;
      }
      case MSR.EFER: {
        const v = Number(value & 0xffffn);
        if ((v & ~(EFER.SCE | EFER.LME | EFER.LMA | EFER.NXE)) !== 0) throw new GuestFault(VEC.GP, 0);
        const pg = (c.cr0 & 0x80000000) !== 0;
        if (pg && ((v ^ c.efer) & EFER.LME) !== 0) throw new GuestFault(VEC.GP, 0);
        const old = c.efer;
        c.efer = (v & ~EFER.LMA) | (c.efer & EFER.LMA);
        // only NXE changes what a translation allows (the NX bit's meaning and the reserved-bit
        // checks): SCE changes no translation, LME can change only with paging off, and LMA only
        // with CR0.PG, whose writes flush; a write that keeps NXE keeps the TLB
        if (((old ^ c.efer) & EFER.NXE) !== 0) c.flushTlb(true);
        return;
      }
      case MSR.STAR:
        this.star = value;
        return;
      case MSR.LSTAR:
        this.lstar = canon(value);
        return;
      case MSR.CSTAR:
        this.cstar = canon(value);
        return;
      case MSR.SFMASK:
        this.sfmask = Number(value & 0xffffffffn);
        return;
      case MSR.FS_BASE:
        setSegBase(c, SEG.FS, canon(value));
        return;
      case MSR.GS_BASE:
        setSegBase(c, SEG.GS, canon(value));
        return;
      case MSR.KERNEL_GS_BASE:
        this.kernelGsBase = canon(value);
        return;
      case MSR.TSC_AUX:
        this.tscAux = Number(value & 0xffffffffn);
        return;
    }
    if (!this.values.has(index >>> 0)) throw new GuestFault(VEC.GP, 0);
    const hook = this.hooks.get(index >>> 0);
    if (hook !== undefined && !hook(value)) throw new GuestFault(VEC.GP, 0);
    this.values.set(index >>> 0, value);
  }
}
