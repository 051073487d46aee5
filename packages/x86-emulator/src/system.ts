/**
 * System instructions: CLI/STI (with the interrupt shadow), HLT, CPUID, RDTSC/RDTSCP, RDMSR/WRMSR,
 * MOV to/from CR0/2/3/4/8 and DR0-7, LGDT/LIDT/SGDT/SIDT/LLDT/SLDT/LTR/STR/LMSW/SMSW/CLTS,
 * LAR/LSL/VERR/VERW, INVLPG, SYSCALL/SYSRET, SWAPGS, IN/OUT, MOV Sreg, LDS/LES/LSS/LFS/LGS, CLD/STD,
 * UD2, XLAT.
 *
 * I/O permission: IN/OUT/INS/OUTS are allowed when CPL <= IOPL (outside virtual-8086 mode); otherwise
 * the TSS I/O permission bitmap decides ({@link ioAllowed}).
 *
 * @example
 * ```ts
 * // 0f a2: cpuid(cpu, insn) fills EAX/EBX/ECX/EDX from cpu.cpuid
 * ```
 */
import { CR0, CR4, EFER, RFLAGS, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { arithFlags, setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { ea, eaW, getR, readRm, setR, writeRm } from './operands.js';
import {
  ATTR_UNUSABLE,
  desc,
  descAttr,
  descBase,
  descLimit,
  loadSegment,
  readDescriptor,
  recomputeMode,
  setSegBase,
} from './segments.js';

const TWO32 = 4294967296;
/** IA32_APIC_BASE global enable. */
const APIC_BASE_ENABLE = 0x800n;

function requireCpl0(c: Cpu): void {
  if (c.cpl !== 0) throw new GuestFault(VEC.GP, 0);
}

function iopl(c: Cpu): number {
  return (c.flagsRest >> 12) & 3;
}

/**
 * I/O permission for an access of `size` bytes at `port` (SDM 19.5): always in real mode, and in
 * protected mode when CPL <= IOPL; otherwise (and always in virtual-8086 mode) the bits for the
 * ports in the 32-bit TSS's I/O permission bitmap must all be clear, else #GP(0) (also without a
 * 32-bit TSS, or with the bitmap's bytes beyond the TSS limit).
 *
 * @example ioAllowed(cpu, 0x3f8, 1);
 */
export function ioAllowed(c: Cpu, port: number, size: number): void {
  if (c.mode === 0) return;
  const vm = (c.flagsRest & RFLAGS.VM) !== 0;
  if (!vm && c.cpl <= iopl(c)) return;
  const type = c.segAttr[SEG.TR] & 15;
  const limit = c.segLimit[SEG.TR];
  if ((type !== 9 && type !== 11) || limit < 0x67) throw new GuestFault(VEC.GP, 0);
  const tr = c.segBase[SEG.TR];
  const map = c.readSys(c.code64 || c.longMode ? tr + 0x66 : (tr + 0x66) >>> 0, 2);
  const first = map + (port >>> 3);
  const last = map + ((port + size - 1) >>> 3);
  if (last > limit) throw new GuestFault(VEC.GP, 0);
  let bits = c.readSys(tr + first, 1);
  if (last !== first) bits |= c.readSys(tr + last, 1) << 8;
  const want = ((1 << size) - 1) << (port & 7);
  if ((bits & want) !== 0) throw new GuestFault(VEC.GP, 0);
}

/** CLI. */
export function cli(c: Cpu, _i: Insn): void {
  if (c.mode !== 0 && c.cpl > iopl(c)) throw new GuestFault(VEC.GP, 0);
  c.flagsRest &= ~RFLAGS.IF;
}

/** STI: interrupts are recognised only after the next instruction. */
export function sti(c: Cpu, _i: Insn): void {
  if (c.mode !== 0 && c.cpl > iopl(c)) throw new GuestFault(VEC.GP, 0);
  if ((c.flagsRest & RFLAGS.IF) === 0) c.shadow = true;
  c.flagsRest |= RFLAGS.IF;
  c.irqPoll = true;
  c.brk = true;
}

/** CLD (op 0) / STD (op 1). */
export function cldStd(c: Cpu, i: Insn): void {
  if (i.op === 0) c.flagsRest &= ~RFLAGS.DF;
  else c.flagsRest |= RFLAGS.DF;
}

/** HLT. */
export function hlt(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  c.halted = true;
  c.brk = true;
}

/** CPUID. */
export function cpuid(c: Cpu, _i: Insn): void {
  const r = c.cpuidLookup(c.R[0] >>> 0, c.R[2] >>> 0);
  let ebx = r[1];
  let edx = r[3];
  let ecx = r[2];
  if (c.R[0] >>> 0 === 1) {
    // OSXSAVE mirrors CR4; APIC id stays as configured
    if ((c.cr4 & CR4.OSXSAVE) !== 0 && (ecx & (1 << 26)) !== 0) ecx |= 1 << 27;
    // the APIC bit follows IA32_APIC_BASE's global enable (as on hardware and KVM)
    if ((c.msrs.apicBase & APIC_BASE_ENABLE) === 0n) edx &= ~(1 << 9);
    ebx >>>= 0;
  }
  edx >>>= 0;
  setR(c, 0, 0, 4, r[0], 0);
  setR(c, 3, 0, 4, ebx, 0);
  setR(c, 1, 0, 4, ecx, 0);
  setR(c, 2, 0, 4, edx, 0);
}

/** RDTSC (op 0) / RDTSCP (op 1). */
export function rdtsc(c: Cpu, i: Insn): void {
  if ((c.cr4 & CR4.TSD) !== 0 && c.cpl !== 0) throw new GuestFault(VEC.GP, 0);
  const t = Math.floor(c.readTsc());
  setR(c, 0, 0, 4, t | 0, 0);
  setR(c, 2, 0, 4, Math.floor(t / TWO32) | 0, 0);
  if (i.op === 1) setR(c, 1, 0, 4, c.msrs.tscAux, 0);
}

/** RDMSR. */
export function rdmsr(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  const v = c.msrs.read(c.R[2] >>> 0);
  setR(c, 0, 0, 4, Number(v & 0xffffffffn), 0);
  setR(c, 2, 0, 4, Number(v >> 32n), 0);
}

/** WRMSR (an APIC write may have made an interrupt deliverable: look at the controller after it). */
export function wrmsr(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  const v = (BigInt(c.R[4] >>> 0) << 32n) | BigInt(c.R[0] >>> 0);
  c.msrs.write(c.R[2] >>> 0, v);
  c.irqPoll = true;
  c.brk = true;
}

/**
 * VMCALL (op 0) / VMMCALL (op 1): a hypercall to the platform ({@link CpuOptions.hypercall}); #UD
 * without one, as on a machine with no hypervisor.
 */
export function vmcall(c: Cpu, _i: Insn): void {
  const h = c.hypercall;
  if (h === null) throw new GuestFault(VEC.UD);
  h(c);
  c.irqPoll = true;
  c.brk = true;
}

/** Applies a new CR0 value with the architectural checks and mode switches. */
export function writeCr0(c: Cpu, v: number): void {
  v = (v | CR0.ET) >>> 0;
  if ((v & CR0.PG) !== 0 && (v & CR0.PE) === 0) throw new GuestFault(VEC.GP, 0);
  if ((v & CR0.NW) !== 0 && (v & CR0.CD) === 0) throw new GuestFault(VEC.GP, 0);
  const old = c.cr0 >>> 0;
  if ((v & CR0.PG) !== 0 && (old & CR0.PG) === 0 && (c.efer & EFER.LME) !== 0) {
    if ((c.cr4 & CR4.PAE) === 0) throw new GuestFault(VEC.GP, 0);
    c.efer |= EFER.LMA;
  }
  if ((v & CR0.PG) === 0 && (old & CR0.PG) !== 0 && (c.efer & EFER.LMA) !== 0) {
    if (c.code64) throw new GuestFault(VEC.GP, 0);
    c.efer &= ~EFER.LMA;
  }
  c.cr0 = v | 0;
  // only PG and WP change what a translation allows (PE alone runs with paging off, and decoded
  // blocks are keyed by physical address and code size): other bits (TS, MP, EM, CD, NW, AM, NE)
  // keep the TLB and the decode caches
  if (((old ^ v) & CR0_PAGING) !== 0) c.flushTlb(true);
  // a new PE or PG changes the mode (recomputeMode breaks the block links when it does)
  if (((old ^ v) & (CR0.PE | CR0.PG)) !== 0) recomputeMode(c);
  c.brk = true;
}

/** CR0 bits that change translations: a write that changes one flushes the TLB. */
const CR0_PAGING = CR0.PG | CR0.WP;
/** CR4 bits that change translations or their permission checks (PKE bit 22, LA57 bit 12). */
const CR4_PAGING = CR4.PGE | CR4.PAE | CR4.PSE | CR4.SMEP | CR4.SMAP | CR4.PCIDE | (1 << 22) | (1 << 12);

/** Applies a new CR4 value. */
export function writeCr4(c: Cpu, v: number): void {
  const allowed =
    CR4.PSE | CR4.PAE | CR4.PGE | CR4.PCE | CR4.OSFXSR | CR4.OSXMMEXCPT | CR4.TSD | CR4.DE | CR4.MCE;
  if ((v & ~allowed) !== 0) throw new GuestFault(VEC.GP, 0);
  if ((c.efer & EFER.LMA) !== 0 && (v & CR4.PAE) === 0) throw new GuestFault(VEC.GP, 0);
  const old = c.cr4;
  c.cr4 = v;
  // TSD, PCE, DE, MCE, OSFXSR, OSXMMEXCPT are read where they apply: no flush for them
  if (((old ^ v) & CR4_PAGING) !== 0) c.flushTlb(true);
  c.brk = true;
}

/** MOV CRn, reg (op 1) and MOV reg, CRn (op 0); CR number in i.reg, GPR in i.rm. */
export function movCr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  const n = i.reg;
  const sz = c.code64 ? 8 : 4;
  if (i.op === 0) {
    let v: number;
    switch (n) {
      case 0:
        v = c.cr0 >>> 0;
        break;
      case 2:
        v = c.cr2;
        break;
      case 3:
        v = c.cr3;
        break;
      case 4:
        v = c.cr4 >>> 0;
        break;
      case 8:
        v = c.apic !== null ? c.apic.cr8 & 15 : c.cr8;
        break;
      default:
        throw new GuestFault(VEC.UD);
    }
    setR(c, i.rm, 0, sz, v | 0, sz === 8 ? Math.floor(v / TWO32) | 0 : 0);
    return;
  }
  const lo = c.R[i.rm * 2];
  const hi = sz === 8 ? c.R[i.rm * 2 + 1] : 0;
  switch (n) {
    case 0:
      if (hi !== 0) throw new GuestFault(VEC.GP, 0);
      writeCr0(c, lo);
      return;
    case 2:
      c.cr2 = hi * TWO32 + (lo >>> 0);
      return;
    case 3:
      c.cr3 = (hi & 0xfffff) * TWO32 + (lo >>> 0);
      c.flushTlb((c.cr4 & CR4.PGE) === 0);
      c.brk = true;
      return;
    case 4:
      if (hi !== 0) throw new GuestFault(VEC.GP, 0);
      writeCr4(c, lo);
      return;
    case 8:
      // CR8 is the APIC's TPR[7:4]: a lower priority may let a pending interrupt in
      if ((lo & ~15) !== 0 || hi !== 0) throw new GuestFault(VEC.GP, 0);
      c.cr8 = lo;
      if (c.apic !== null) c.apic.cr8 = lo;
      c.irqPoll = true;
      c.brk = true;
      return;
    default:
      throw new GuestFault(VEC.UD);
  }
}

/**
 * MOV DRn, reg (op 1) / MOV reg, DRn (op 0). DR0-DR3 and DR7 arm breakpoints
 * ({@link Cpu.setDebugControl}); DR6 reads with its fixed bits set.
 */
export function movDr(c: Cpu, i: Insn): void {
  requireCpl0(c);
  let n = i.reg;
  if (n === 4 || n === 5) {
    if ((c.cr4 & CR4.DE) !== 0) throw new GuestFault(VEC.UD);
    n += 2;
  }
  if (n > 7) throw new GuestFault(VEC.UD);
  const sz = c.code64 ? 8 : 4;
  if (i.op === 0) {
    let v = c.dr[n];
    if (n === 6) v = (v | 0xffff0ff0) >>> 0;
    if (n === 7) v = (v | 0x400) >>> 0;
    setR(c, i.rm, 0, sz, v | 0, sz === 8 ? Math.floor(v / TWO32) | 0 : 0);
  } else {
    const hi = sz === 8 ? c.R[i.rm * 2 + 1] : 0;
    if (n >= 6 && hi !== 0) throw new GuestFault(VEC.GP, 0); // DR6/DR7 bits 63:32 are reserved
    c.dr[n] = hi * TWO32 + (c.R[i.rm * 2] >>> 0);
    if (n !== 6) c.setDebugControl();
  }
}

/** CLTS. */
export function clts(c: Cpu, _i: Insn): void {
  requireCpl0(c);
  c.cr0 &= ~CR0.TS;
}

/** LMSW r/m16 (op 0) and SMSW r/m (op 1). */
export function msw(c: Cpu, i: Insn): void {
  if (i.op === 1) {
    if (i.mem) c.write16(eaW(c, i, 2), c.cr0 & 0xffff);
    else setR(c, i.rm, 0, i.sz, c.cr0 & (i.sz === 2 ? 0xffff : 0xffffffff), 0);
    return;
  }
  requireCpl0(c);
  const v = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
  // LMSW cannot clear PE
  writeCr0(c, (c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & 1));
}

/** LGDT (op 2), LIDT (op 3), SGDT (op 0), SIDT (op 1). */
export function descTable(c: Cpu, i: Insn): void {
  if (!i.mem) throw new GuestFault(VEC.UD);
  const la = i.op >= 2 ? ea(c, i, c.code64 ? 10 : 6) : eaW(c, i, c.code64 ? 10 : 6);
  if (i.op >= 2) {
    requireCpl0(c);
    const limit = c.read16(la);
    let base: number;
    if (c.code64) {
      const lo = c.read64(la + 2);
      base = c.tHi * TWO32 + (lo >>> 0);
      if (base < -(2 ** 47) || base >= 2 ** 47) throw new GuestFault(VEC.GP, 0); // non-canonical
    } else {
      base = c.read32(la + 2);
      if (i.sz === 2) base &= 0xffffff;
    }
    if (i.op === 2) {
      c.gdtBase = base;
      c.gdtLimit = limit;
    } else {
      c.idtBase = base;
      c.idtLimit = limit;
    }
    return;
  }
  const base = i.op === 0 ? c.gdtBase : c.idtBase;
  const limit = i.op === 0 ? c.gdtLimit : c.idtLimit;
  c.write16(la, limit);
  if (c.code64) c.write64(la + 2, base | 0, Math.floor(base / TWO32) | 0);
  else c.write32(la + 2, base);
}

/** SLDT (op 0), STR (op 1), LLDT (op 2), LTR (op 3), VERR (op 4), VERW (op 5). */
export function group6(c: Cpu, i: Insn): void {
  if (c.mode === 0 || (c.flagsRest & RFLAGS.VM) !== 0) throw new GuestFault(VEC.UD);
  switch (i.op) {
    case 0:
    case 1: {
      const v = c.segSel[i.op === 0 ? SEG.LDTR : SEG.TR];
      if (i.mem) c.write16(eaW(c, i, 2), v);
      else setR(c, i.rm, 0, i.sz, v, 0);
      return;
    }
    case 2:
    case 3: {
      requireCpl0(c);
      const sel = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
      const seg = i.op === 2 ? SEG.LDTR : SEG.TR;
      if ((sel & 0xfffc) === 0) {
        if (i.op === 3) throw new GuestFault(VEC.GP, 0);
        c.segSel[seg] = sel;
        c.segAttr[seg] = ATTR_UNUSABLE;
        return;
      }
      if ((sel & 4) !== 0) throw new GuestFault(VEC.GP, sel & 0xfffc);
      readDescriptor(c, sel, c.longMode);
      const a = descAttr();
      const type = a & 0x1f;
      if (i.op === 2 ? type !== 2 : type !== 9 && type !== 1) throw new GuestFault(VEC.GP, sel & 0xfffc);
      if ((a & 0x80) === 0) throw new GuestFault(VEC.NP, sel & 0xfffc);
      const base = descBase();
      // long mode: the 16-byte descriptor's base must be canonical
      if (c.longMode && (base < -(2 ** 47) || base >= 2 ** 47)) throw new GuestFault(VEC.GP, sel & 0xfffc);
      c.segSel[seg] = sel;
      c.segBase[seg] = base;
      c.segLimit[seg] = descLimit();
      c.segAttr[seg] = a | (i.op === 3 ? 2 : 0);
      if (i.op === 3) c.writeSys(desc.addr + 4, 4, desc.hi | 0x200);
      return;
    }
    default: {
      const sel = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
      let ok = false;
      if ((sel & 0xfffc) !== 0) {
        try {
          readDescriptor(c, sel);
          const a = descAttr();
          const dpl = (a >> 5) & 3;
          const code = (a & 8) !== 0;
          const conf = code && (a & 4) !== 0;
          if ((a & 0x10) !== 0 && (conf || (dpl >= c.cpl && dpl >= (sel & 3)))) {
            ok = i.op === 4 ? !code || (a & 2) !== 0 : !code && (a & 2) !== 0;
          }
        } catch (e) {
          if (!(e instanceof GuestFault) || e.vector !== VEC.GP) throw e;
        }
      }
      const f = arithFlags(c);
      setArithFlags(c, ok ? f | 0x40 : f & ~0x40);
    }
  }
}

/** LAR (op 0) / LSL (op 1). */
export function larLsl(c: Cpu, i: Insn): void {
  if (c.mode === 0) throw new GuestFault(VEC.UD);
  const sel = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
  let ok = false;
  let v = 0;
  if ((sel & 0xfffc) !== 0) {
    try {
      readDescriptor(c, sel);
      const a = descAttr();
      const dpl = (a >> 5) & 3;
      const s = (a & 0x10) !== 0;
      const type = a & 15;
      const conf = s && (type & 0xc) === 0xc;
      const sysOk = i.op === 0 ? [1, 2, 3, 9, 11, 12].includes(type) : [1, 2, 3, 9, 11].includes(type);
      if ((s || sysOk) && (conf || (dpl >= c.cpl && dpl >= (sel & 3)))) {
        ok = true;
        v = i.op === 0 ? desc.hi & 0x00f0ff00 : descLimit();
      }
    } catch (e) {
      if (!(e instanceof GuestFault) || e.vector !== VEC.GP) throw e;
    }
  }
  const f = arithFlags(c);
  setArithFlags(c, ok ? f | 0x40 : f & ~0x40);
  if (ok) setR(c, i.reg, 0, i.sz, i.sz === 2 ? v & 0xffff : v >>> 0, 0);
}

/** INVLPG m. */
export function invlpg(c: Cpu, i: Insn): void {
  requireCpl0(c);
  if (!i.mem) throw new GuestFault(VEC.UD);
  c.tlb.flushPage(ea(c, i));
}

/** WBINVD / INVD (privileged no-ops). */
export function wbinvd(c: Cpu, _i: Insn): void {
  requireCpl0(c);
}

/** SWAPGS. */
export function swapgs(c: Cpu, _i: Insn): void {
  if (!c.code64) throw new GuestFault(VEC.UD);
  requireCpl0(c);
  const k = c.msrs.kernelGsBase;
  c.msrs.kernelGsBase = c.segBase[SEG.GS];
  setSegBase(c, SEG.GS, k);
}

function flatSeg(c: Cpu, seg: number, sel: number, attr: number): void {
  c.segSel[seg] = sel & 0xffff;
  c.segBase[seg] = 0;
  c.segLimit[seg] = 0xffffffff;
  c.segAttr[seg] = attr;
}

/** SYSCALL. */
export function syscall(c: Cpu, _i: Insn): void {
  if ((c.efer & EFER.SCE) === 0 || (c.efer & EFER.LMA) === 0) throw new GuestFault(VEC.UD);
  const star = c.msrs.star;
  const sel = Number((star >> 32n) & 0xffffn);
  const r = c.rip;
  c.R[2] = r | 0;
  c.R[3] = Math.floor(r / TWO32) | 0;
  const fl = c.getRflags() & ~RFLAGS.RF;
  c.R[22] = fl;
  c.R[23] = 0;
  const target = c.code64 ? c.msrs.lstar : c.msrs.cstar;
  flatSeg(c, SEG.CS, sel & 0xfffc, 0xa09b);
  flatSeg(c, SEG.SS, (sel + 8) & 0xfffc, 0xc093);
  c.setRflags(fl & ~c.msrs.sfmask & ~RFLAGS.RF);
  recomputeMode(c);
  c.rip = target;
  c.brk = true;
}

/** SYSRET (REX.W: to 64-bit code). */
export function sysret(c: Cpu, i: Insn): void {
  if ((c.efer & EFER.SCE) === 0 || !c.code64) throw new GuestFault(VEC.UD);
  requireCpl0(c);
  const sel = Number((c.msrs.star >> 48n) & 0xffffn);
  let rip: number;
  if (i.sz === 8) {
    rip = c.R[3] * TWO32 + (c.R[2] >>> 0);
    if (rip < -(2 ** 47) || rip >= 2 ** 47) throw new GuestFault(VEC.GP, 0);
    flatSeg(c, SEG.CS, ((sel + 16) & 0xfffc) | 3, 0xa0fb);
  } else {
    rip = c.R[2] >>> 0;
    flatSeg(c, SEG.CS, (sel & 0xfffc) | 3, 0xc0fb);
  }
  c.segSel[SEG.SS] = ((sel + 8) & 0xfffc) | 3;
  c.segAttr[SEG.SS] = 0xc0f3;
  c.segBase[SEG.SS] = 0;
  c.segLimit[SEG.SS] = 0xffffffff;
  c.setRflags((c.R[22] & 0x3c7fd7) | 2);
  recomputeMode(c);
  c.rip = rip;
  c.brk = true;
}

/** IN acc, imm8/DX (op 0 imm, op 1 DX). */
export function inPort(c: Cpu, i: Insn): void {
  const port = i.op === 0 ? i.imm & 0xff : c.R16[8];
  const sz = i.sz === 8 ? 4 : i.sz;
  ioAllowed(c, port, sz);
  const v = c.ioIn(port, sz);
  setR(c, 0, 0, sz, v, 0);
}

/** OUT imm8/DX, acc. */
export function outPort(c: Cpu, i: Insn): void {
  const port = i.op === 0 ? i.imm & 0xff : c.R16[8];
  const sz = i.sz === 8 ? 4 : i.sz;
  ioAllowed(c, port, sz);
  c.ioOut(port, sz, getR(c, 0, 0, sz));
}

/** MOV r/m, Sreg (i.reg = segment). */
export function movFromSeg(c: Cpu, i: Insn): void {
  if (i.reg > 5) throw new GuestFault(VEC.UD);
  const v = c.segSel[i.reg];
  if (i.mem) c.write16(eaW(c, i, 2), v);
  else setR(c, i.rm, 0, i.sz === 2 ? 2 : 4, v, 0);
}

/** MOV Sreg, r/m16. */
export function movToSeg(c: Cpu, i: Insn): void {
  if (i.reg > 5 || i.reg === SEG.CS) throw new GuestFault(VEC.UD);
  const v = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
  loadSegment(c, i.reg, v);
  if (i.reg === SEG.SS) {
    c.shadow = true;
    c.ssShadow = true;
    c.brk = true;
  }
}

/** LDS/LES/LSS/LFS/LGS reg, m16:16/32/64 (i.op = segment). */
export function loadFarPtr(c: Cpu, i: Insn): void {
  if (!i.mem) throw new GuestFault(VEC.UD);
  const la = ea(c, i, i.sz + 2);
  const off = c.readN(la, i.sz);
  const offHi = c.tHi;
  const sel = c.read16(la + i.sz);
  loadSegment(c, i.op, sel);
  setR(c, i.reg, 0, i.sz, off, offHi);
  if (i.op === SEG.SS) c.brk = true;
}

/** UD2 and explicitly invalid opcodes. */
export function ud(_c: Cpu, _i: Insn): void {
  throw new GuestFault(VEC.UD);
}

/** XLAT. */
export function xlat(c: Cpu, i: Insn): void {
  const base = i.asz === 8 ? c.getReg(3) : i.asz === 4 ? c.R[6] >>> 0 : c.R16[12];
  let off = base + c.R8[0];
  if (i.asz === 4) off >>>= 0;
  else if (i.asz === 2) off &= 0xffff;
  const la = c.code64 ? off + c.segEff[i.seg] : (off + c.segEff[i.seg]) >>> 0;
  c.R8[0] = c.read8(la);
}

/**
 * ARPL r/m16, r16 (63, outside 64-bit mode): raises the destination selector's RPL to the source's,
 * ZF = 1 when it did. #UD in real and virtual-8086 mode.
 */
export function arpl(c: Cpu, i: Insn): void {
  if (c.mode === 0 || (c.flagsRest & RFLAGS.VM) !== 0) throw new GuestFault(VEC.UD);
  const la = i.mem ? eaW(c, i, 2) : 0;
  const d = i.mem ? c.readW(la, 2) : c.R16[i.rm * 4];
  const s = c.R16[i.reg * 4];
  const f = arithFlags(c);
  if ((d & 3) < (s & 3)) {
    const v = (d & ~3) | (s & 3);
    if (i.mem) c.write16(la, v);
    else c.R16[i.rm * 4] = v;
    setArithFlags(c, f | 0x40);
  } else setArithFlags(c, f & ~0x40);
}

/** BOUND r16/32, m16&16 / m32&32 (62, outside 64-bit mode): #BR when the signed index is outside [lower, upper]. */
export function bound(c: Cpu, i: Insn): void {
  const la = ea(c, i, 2 * i.sz);
  let idx: number;
  let lo: number;
  let hi: number;
  if (i.sz === 2) {
    idx = (c.R16[i.reg * 4] << 16) >> 16;
    lo = (c.read16(la) << 16) >> 16;
    hi = (c.read16(la + 2) << 16) >> 16;
  } else {
    idx = c.R[i.reg * 2];
    lo = c.read32(la) | 0;
    hi = c.read32(la + 4) | 0;
  }
  if (idx < lo || idx > hi) throw new GuestFault(VEC.BR);
}

/** RDPMC / other privileged counters: #GP. */
export function gp0(_c: Cpu, _i: Insn): void {
  throw new GuestFault(VEC.GP, 0);
}

void readRm;
void writeRm;
