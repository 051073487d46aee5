/**
 * Segment registers: descriptor loads with the protection checks real kernels rely on (present,
 * type, DPL/RPL/CPL), the hidden descriptor caches, and the derived execution mode (real,
 * protected 16/32-bit, long 64-bit / compatibility, virtual-8086).
 *
 * Attributes are kept in the VMX access-rights layout: type(0-3) S(4) DPL(5-6) P(7) AVL(12) L(13)
 * D/B(14) G(15) unusable(16).
 *
 * @example
 * ```ts
 * loadSegment(cpu, SEG.DS, 0x18); // reads the GDT, checks, fills the cache
 * ```
 */
import type { Segment } from '@ts-vmm/hypervisor';
import { CR0, EFER, MODE, RFLAGS, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';

/** Access-rights bit for an unusable (null) segment. */
export const ATTR_UNUSABLE = 1 << 16;

/** kvm_segment -> packed attributes. @example segmentToAttr(sregs.cs) */
export function segmentToAttr(g: Segment): number {
  return (
    (g.type & 15) |
    ((g.s & 1) << 4) |
    ((g.dpl & 3) << 5) |
    ((g.present & 1) << 7) |
    ((g.avl & 1) << 12) |
    ((g.l & 1) << 13) |
    ((g.db & 1) << 14) |
    ((g.g & 1) << 15) |
    ((g.unusable & 1) << 16)
  );
}

/** Packed attributes -> kvm_segment. @example attrToSegment(8, 0, 0xffffffff, 0xa09b) */
export function attrToSegment(sel: number, base: number, limit: number, a: number): Segment {
  return {
    base: BigInt.asUintN(64, BigInt(base)),
    limit: limit >>> 0,
    selector: sel & 0xffff,
    type: a & 15,
    s: (a >> 4) & 1,
    dpl: (a >> 5) & 3,
    present: (a >> 7) & 1,
    avl: (a >> 12) & 1,
    l: (a >> 13) & 1,
    db: (a >> 14) & 1,
    g: (a >> 15) & 1,
    unusable: (a >> 16) & 1,
  };
}

/** Recomputes mode, CPL, default sizes and effective segment bases after CS/SS/CR0/EFER changes. */
export function recomputeMode(c: Cpu): void {
  const cs = c.segAttr[SEG.CS];
  if ((c.cr0 & CR0.PE) === 0) {
    c.mode = MODE.REAL;
    c.code64 = false;
    c.code32 = (cs & (1 << 14)) !== 0;
    c.cpl = 0;
  } else if ((c.flagsRest & RFLAGS.VM) !== 0) {
    c.mode = MODE.VM86;
    c.code64 = false;
    c.code32 = false;
    c.cpl = 3;
  } else if ((c.efer & EFER.LMA) !== 0 && (cs & (1 << 13)) !== 0) {
    c.mode = MODE.LONG64;
    c.code64 = true;
    c.code32 = true;
    c.cpl = (cs >> 5) & 3;
  } else {
    c.code64 = false;
    c.code32 = (cs & (1 << 14)) !== 0;
    c.mode = c.code32 ? MODE.PROT32 : MODE.PROT16;
    c.cpl = (cs >> 5) & 3;
  }
  c.stackSize = c.code64 ? 8 : (c.segAttr[SEG.SS] & (1 << 14)) !== 0 ? 4 : 2;
  for (let i = 0; i < 6; i++) {
    c.segEff[i] = c.code64 && i < 4 ? 0 : c.segBase[i];
    updateSegCheck(c, i);
  }
  c.privilegeChanged();
  // chained block links assume one mode and code segment base: break them only when one of these
  // changed (not on every interrupt, system call and IRET; links and the dispatcher's cache entries
  // carry the CPL they were made at instead)
  const now = c.mode * 64 + (c.code64 ? 2 : 0) + (c.code32 ? 1 : 0);
  if (now !== c.chainMode || c.segBase[SEG.CS] !== c.chainCsBase) {
    c.chainMode = now;
    c.chainCsBase = c.segBase[SEG.CS];
    c.tlb.breakChains();
  }
}

/** {@link Cpu.segChk}: a null (unusable) segment: any access raises #GP(0). */
export const CHK_NULL = 1;
/** {@link Cpu.segChk}: an execute-only code segment: reads raise #GP(0). */
export const CHK_NOREAD = 2;
/** {@link Cpu.segChk}: not writable (read-only data, code): writes raise #GP(0). */
export const CHK_NOWRITE = 4;
/** {@link Cpu.segChk}: offsets are checked against the limit (expand-up below 4 GiB, or expand-down). */
export const CHK_LIMIT = 8;

/**
 * Recomputes {@link Cpu.segChk} for data-access segment `seg` (ES, CS, SS, DS, FS, GS): 0 for a
 * segment whose accesses need no check (real mode, virtual-8086 mode, 64-bit mode, and flat
 * segments: writable expand-up data with a 4 GiB limit, whatever the base), else the CHK_ bits of
 * what {@link checkSeg} must look at. Accesses test the flag only, so flat segments cost one load.
 */
export function updateSegCheck(c: Cpu, seg: number): void {
  if (seg > 5) return;
  if (c.code64 || (c.cr0 & CR0.PE) === 0 || (c.flagsRest & RFLAGS.VM) !== 0) {
    c.segChk[seg] = 0;
    return;
  }
  const a = c.segAttr[seg];
  if ((a & ATTR_UNUSABLE) !== 0) {
    c.segChk[seg] = CHK_NULL;
    return;
  }
  const type = a & 15;
  let f = 0;
  if ((type & 8) !== 0) {
    f = CHK_NOWRITE | ((type & 2) === 0 ? CHK_NOREAD : 0);
    if (c.segLimit[seg] !== 0xffffffff) f |= CHK_LIMIT;
  } else {
    if ((type & 2) === 0) f |= CHK_NOWRITE;
    if ((type & 4) !== 0 || c.segLimit[seg] !== 0xffffffff) f |= CHK_LIMIT;
  }
  c.segChk[seg] = f;
}

/**
 * The protected-mode checks of a data access of `size` bytes at offset `off` through `seg` whose
 * {@link Cpu.segChk} is not 0 (SDM 5.3, 5.4, 3.4.5.1): a null segment, a read of execute-only code
 * or a write to a read-only segment raise #GP(0); an offset outside the limit (expand-up: above
 * it; expand-down: at or below it, or above 0xffff with B = 0) raises #SS(0) for SS, #GP(0) else.
 *
 * @example if (c.segChk[seg] !== 0) checkSeg(c, seg, off, 4, true);
 */
export function checkSeg(c: Cpu, seg: number, off: number, size: number, write: boolean): void {
  const f = c.segChk[seg];
  if ((f & CHK_NULL) !== 0) throw new GuestFault(seg === SEG.SS ? VEC.SS : VEC.GP, 0);
  if (write ? (f & CHK_NOWRITE) !== 0 : (f & CHK_NOREAD) !== 0) throw new GuestFault(VEC.GP, 0);
  if ((f & CHK_LIMIT) === 0) return;
  const last = off + size - 1;
  const limit = c.segLimit[seg];
  const a = c.segAttr[seg];
  let bad: boolean;
  if ((a & 0x1c) === 0x14) {
    // expand-down data: valid offsets are limit + 1 .. 0xffff (B = 0) or 0xffffffff (B = 1)
    const upper = (a & (1 << 14)) !== 0 ? 0xffffffff : 0xffff;
    bad = off <= limit || last > upper;
  } else bad = last > limit;
  if (bad) throw new GuestFault(seg === SEG.SS ? VEC.SS : VEC.GP, 0);
}

/** Sets a segment base directly (FS/GS base MSRs, WRFSBASE); keeps the effective base in step. */
export function setSegBase(c: Cpu, seg: number, base: number): void {
  c.segBase[seg] = base;
  c.segEff[seg] = c.code64 && seg < 4 ? 0 : base;
}

/** Scratch results of {@link readDescriptor}. */
export const desc = { lo: 0, hi: 0, hi2: 0, addr: 0 };

/**
 * Reads the 8-byte descriptor for `sel` from the GDT or LDT into {@link desc}; #GP(sel) if outside
 * the table. `wide` also reads the upper 8 bytes (system descriptors in long mode).
 */
export function readDescriptor(c: Cpu, sel: number, wide = false): void {
  const idx = sel & 0xfff8;
  let base: number;
  let limit: number;
  if ((sel & 4) !== 0) {
    if ((c.segAttr[SEG.LDTR] & ATTR_UNUSABLE) !== 0 || (c.segSel[SEG.LDTR] & 0xfffc) === 0)
      throw new GuestFault(VEC.GP, sel & 0xfffc);
    base = c.segBase[SEG.LDTR];
    limit = c.segLimit[SEG.LDTR];
  } else {
    base = c.gdtBase;
    limit = c.gdtLimit;
  }
  if (idx + (wide ? 15 : 7) > limit) throw new GuestFault(VEC.GP, sel & 0xfffc);
  const a = c.code64 || c.longMode ? base + idx : (base + idx) >>> 0;
  desc.addr = a;
  desc.lo = c.readSys(a, 4) | 0;
  desc.hi = c.readSys(a + 4, 4) | 0;
  desc.hi2 = wide ? c.readSys(a + 8, 4) | 0 : 0;
}

/** Base address of the descriptor in {@link desc}. */
export function descBase(): number {
  const b = ((desc.lo >>> 16) | ((desc.hi & 0xff) << 16) | (desc.hi & 0xff000000)) >>> 0;
  return b + (desc.hi2 !== 0 ? (desc.hi2 | 0) * 4294967296 : 0);
}
/** Limit of the descriptor in {@link desc}, scaled by G. */
export function descLimit(): number {
  const l = (desc.lo & 0xffff) | (desc.hi & 0xf0000);
  return (desc.hi & (1 << 23)) !== 0 ? ((l << 12) | 0xfff) >>> 0 : l;
}
/** Attributes (access-rights layout) of the descriptor in {@link desc}. */
export function descAttr(): number {
  return (desc.hi >> 8) & 0xf0ff;
}

/** Fills the cache of `seg` from {@link desc}, setting the descriptor's accessed bit in memory. */
export function setSegFromDesc(c: Cpu, seg: number, sel: number): void {
  if ((desc.hi & 0x100) === 0 && (desc.hi & 0x1000) !== 0) {
    desc.hi |= 0x100;
    c.writeSys(desc.addr + 4, 4, desc.hi);
  }
  c.segSel[seg] = sel & 0xffff;
  c.segBase[seg] = descBase();
  c.segLimit[seg] = descLimit();
  c.segAttr[seg] = descAttr();
  c.segEff[seg] = c.code64 && seg < 4 ? 0 : c.segBase[seg];
  updateSegCheck(c, seg);
}

/** Loads a null selector into a data segment register. */
export function loadNull(c: Cpu, seg: number, sel: number): void {
  c.segSel[seg] = sel & 0xffff;
  c.segAttr[seg] = ATTR_UNUSABLE;
  if (!(c.code64 && (seg === SEG.FS || seg === SEG.GS))) {
    c.segBase[seg] = 0;
    c.segEff[seg] = 0;
  }
  c.segLimit[seg] = 0;
  updateSegCheck(c, seg);
}

/**
 * MOV/POP to a data segment register or SS, with the protected-mode checks (#GP/#SS/#NP with the
 * selector as error code). Real and virtual-8086 mode: base = selector * 16.
 *
 * @example loadSegment(cpu, SEG.SS, 0x18)
 */
export function loadSegment(c: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  if ((c.cr0 & CR0.PE) === 0 || (c.flagsRest & RFLAGS.VM) !== 0) {
    c.segSel[seg] = sel;
    c.segBase[seg] = sel * 16;
    c.segEff[seg] = sel * 16;
    if ((c.flagsRest & RFLAGS.VM) !== 0) {
      c.segLimit[seg] = 0xffff;
      c.segAttr[seg] = 0xf3;
    } else if ((c.segAttr[seg] & ATTR_UNUSABLE) !== 0 || (c.segAttr[seg] & 0x80) === 0) {
      c.segAttr[seg] = 0x93;
    }
    if (seg === SEG.SS || seg === SEG.CS) recomputeMode(c);
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    if (seg === SEG.SS && !(c.code64 && c.cpl !== 3 && rpl === c.cpl)) throw new GuestFault(VEC.GP, 0);
    loadNull(c, seg, sel);
    if (seg === SEG.SS) {
      c.segAttr[seg] = ATTR_UNUSABLE | (c.cpl << 5);
      recomputeMode(c);
    }
    return;
  }
  readDescriptor(c, sel);
  const a = descAttr();
  const dpl = (a >> 5) & 3;
  const type = a & 15;
  if ((a & 0x10) === 0) throw new GuestFault(VEC.GP, sel & 0xfffc);
  if (seg === SEG.SS) {
    if (rpl !== c.cpl || dpl !== c.cpl || (type & 0xa) !== 2) throw new GuestFault(VEC.GP, sel & 0xfffc);
    if ((a & 0x80) === 0) throw new GuestFault(VEC.SS, sel & 0xfffc);
  } else {
    const code = (type & 8) !== 0;
    if (code && (type & 2) === 0) throw new GuestFault(VEC.GP, sel & 0xfffc);
    const conforming = code && (type & 4) !== 0;
    if (!conforming && dpl < Math.max(c.cpl, rpl)) throw new GuestFault(VEC.GP, sel & 0xfffc);
    if ((a & 0x80) === 0) throw new GuestFault(VEC.NP, sel & 0xfffc);
  }
  setSegFromDesc(c, seg, sel);
  if (seg === SEG.SS) recomputeMode(c);
}

/**
 * Loads CS for a far transfer or interrupt after the caller's checks: sets the cache from {@link desc}
 * with RPL = `cpl`, and recomputes the mode.
 */
export function loadCodeSegment(c: Cpu, sel: number, cpl: number): void {
  setSegFromDesc(c, SEG.CS, (sel & 0xfffc) | cpl);
  c.segAttr[SEG.CS] = (c.segAttr[SEG.CS] & ~0x60) | (cpl << 5);
  recomputeMode(c);
  c.cpl = cpl;
  c.privilegeChanged();
}

/**
 * Checks a code-segment descriptor in {@link desc} for a far JMP/CALL/RET/IRET to privilege `newCpl`.
 */
export function checkCodeDesc(sel: number): void {
  const a = descAttr();
  if ((a & 0x18) !== 0x18) throw new GuestFault(VEC.GP, sel & 0xfffc);
  if ((a & 0x80) === 0) throw new GuestFault(VEC.NP, sel & 0xfffc);
}

/** Real-mode CS load (far jumps, IVT delivery). */
export function loadRealCs(c: Cpu, sel: number): void {
  c.segSel[SEG.CS] = sel & 0xffff;
  c.segBase[SEG.CS] = (sel & 0xffff) * 16;
  c.segEff[SEG.CS] = c.segBase[SEG.CS];
  if ((c.flagsRest & RFLAGS.VM) !== 0) c.segAttr[SEG.CS] = 0xfb;
  recomputeMode(c);
}
