/**
 * Control transfer and stack executors: JMP/Jcc/CALL/RET (near and far), LOOP/JCXZ, PUSH/POP (incl.
 * segment registers, PUSHA/POPA), ENTER/LEAVE, PUSHF/POPF with the IOPL/VM rules, INT n/INT3/INTO/
 * INT1 and IRET in real, protected, compatibility and 64-bit mode.
 *
 * For relative branches the decoder stores the target offset in `insn.disp`.
 *
 * @example
 * ```ts
 * // e8 rel32 in 64-bit mode: pushes the return RIP and jumps
 * callRel(cpu, insn);
 * ```
 */
import { CR0, EFER, RFLAGS, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { deliverInterrupt, inner, innerStack } from './exceptions.js';
import { GuestFault } from './fault.js';
import { cond, flagOF } from './flags.js';
import type { Insn } from './insn.js';
import { addSp, ea, eaW, getSp, peek, pop, push, readRm, setR, setSp, stackLinear } from './operands.js';
import {
  ATTR_UNUSABLE,
  checkCodeDesc,
  desc,
  descAttr,
  descBase,
  descLimit,
  loadCodeSegment,
  loadNull,
  loadRealCs,
  loadSegment,
  readDescriptor,
  recomputeMode,
  setSegFromDesc,
} from './segments.js';

const TWO32 = 4294967296;

/** Sets RIP to a computed near target of operand size `sz` (checks canonical in 64-bit mode). */
export function setNearTarget(c: Cpu, lo: number, hi: number, sz: number): void {
  if (sz === 8) {
    const t = hi * TWO32 + (lo >>> 0);
    if (t < -(2 ** 47) || t >= 2 ** 47) throw new GuestFault(VEC.GP, 0);
    c.rip = t;
  } else if (sz === 4) c.rip = lo >>> 0;
  else c.rip = lo & 0xffff;
}

/** Jcc rel. */
export function jcc(c: Cpu, i: Insn): void {
  if (cond(c, i.op)) c.rip = i.disp;
}

/** JMP rel. */
export function jmpRel(c: Cpu, i: Insn): void {
  c.rip = i.disp;
}

/** CALL rel. */
export function callRel(c: Cpu, i: Insn): void {
  const r = c.rip;
  if (i.sz === 8) push(c, 8, r | 0, Math.floor(r / TWO32) | 0);
  else push(c, i.sz, r, 0);
  c.rip = i.disp;
}

/** JMP r/m (near indirect). */
export function jmpE(c: Cpu, i: Insn): void {
  const lo = readRm(c, i);
  setNearTarget(c, lo, c.tHi, i.sz);
}

/** CALL r/m (near indirect). */
export function callE(c: Cpu, i: Insn): void {
  const lo = readRm(c, i);
  const hi = c.tHi;
  const r = c.rip;
  if (i.sz === 8) push(c, 8, r | 0, Math.floor(r / TWO32) | 0);
  else push(c, i.sz, r, 0);
  try {
    setNearTarget(c, lo, hi, i.sz);
  } catch (e) {
    addSp(c, i.sz);
    throw e;
  }
}

/** RET / RET imm16 (imm in i.imm). */
export function retNear(c: Cpu, i: Insn): void {
  const lo = peek(c, i.sz, 0);
  const hi = c.tHi;
  setNearTarget(c, lo, hi, i.sz);
  addSp(c, i.sz + i.imm);
}

/** LOOP (op 2), LOOPE (op 1), LOOPNE (op 0), JCXZ (op 3); counter width = address size. */
export function loop(c: Cpu, i: Insn): void {
  const asz = i.asz;
  let zero: boolean;
  if (i.op === 3) {
    zero = asz === 8 ? (c.R[2] | c.R[3]) === 0 : asz === 4 ? c.R[2] === 0 : c.R16[4] === 0;
    if (zero) c.rip = i.disp;
    return;
  }
  if (asz === 8) {
    const lo = (c.R[2] - 1) | 0;
    if (lo === -1) c.R[3] = (c.R[3] - 1) | 0;
    c.R[2] = lo;
    zero = (c.R[2] | c.R[3]) === 0;
  } else if (asz === 4) {
    c.R[2] = (c.R[2] - 1) | 0;
    if (c.code64) c.R[3] = 0;
    zero = c.R[2] === 0;
  } else {
    c.R16[4] = c.R16[4] - 1;
    zero = c.R16[4] === 0;
  }
  if (zero) return;
  if (i.op === 2 || (i.op === 1 && cond(c, 4)) || (i.op === 0 && cond(c, 5))) c.rip = i.disp;
}

/** PUSH reg (50+r). */
export function pushR(c: Cpu, i: Insn): void {
  const r = i.reg * 2;
  if (i.sz === 8) push(c, 8, c.R[r], c.R[r + 1]);
  else push(c, i.sz, i.sz === 4 ? c.R[r] : c.R16[i.reg * 4], 0);
}

/** POP reg (58+r). */
export function popR(c: Cpu, i: Insn): void {
  const v = pop(c, i.sz);
  setR(c, i.reg, 0, i.sz, v, c.tHi);
}

/** PUSH imm. */
export function pushI(c: Cpu, i: Insn): void {
  push(c, i.sz, i.imm, i.immH);
}

/** PUSH r/m (FF /6). */
export function pushE(c: Cpu, i: Insn): void {
  const v = readRm(c, i);
  push(c, i.sz, v, c.tHi);
}

/** POP r/m (8F /0): RSP is incremented before the destination address is computed. */
export function popE(c: Cpu, i: Insn): void {
  const sp = getSp(c);
  const v = pop(c, i.sz);
  const vh = c.tHi;
  if (!i.mem) {
    setR(c, i.rm, 0, i.sz, v, vh);
    return;
  }
  try {
    c.writeN(eaW(c, i), i.sz, v, vh);
  } catch (e) {
    setSp(c, sp);
    throw e;
  }
}

/** PUSH segment register (i.reg = segment). */
export function pushSeg(c: Cpu, i: Insn): void {
  push(c, i.sz, c.segSel[i.reg], 0);
}

/**
 * POP segment register (POP SS holds interrupts and debug traps off for one instruction). The pop
 * is an access to the stack it reads from: the stack pointer moves with that stack's address size
 * even when POP SS loads a segment of the other size.
 */
export function popSeg(c: Cpu, i: Insn): void {
  const v = peek(c, i.sz, 0) & 0xffff;
  const width = c.stackSize;
  const sp = getSp(c) + i.sz;
  loadSegment(c, i.reg, v);
  if (width === 8) {
    c.R[8] = sp | 0;
    c.R[9] = Math.floor(sp / TWO32) | 0;
  } else if (width === 4) {
    c.R[8] = sp | 0;
    c.R[9] = 0;
  } else c.R16[16] = sp;
  if (i.reg === SEG.SS) {
    c.shadow = true;
    c.ssShadow = true;
    c.brk = true;
  }
}

/** PUSHA/PUSHAD (PUSHAD stores the whole ESP, also on a 16-bit stack). */
export function pusha(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const sp = sz === 4 ? c.R[8] >>> 0 : c.R16[16];
  for (let r = 0; r < 8; r++) {
    const v = r === 4 ? sp : sz === 4 ? c.R[r * 2] : c.R16[r * 4];
    push(c, sz, v, 0);
  }
}

/** POPA/POPAD (the stored SP is skipped). */
export function popa(c: Cpu, i: Insn): void {
  const sz = i.sz;
  for (let r = 7; r >= 0; r--) {
    const v = pop(c, sz);
    if (r !== 4) setR(c, r, 0, sz, v, 0);
  }
}

/**
 * ENTER imm16, imm8 (i.imm = size, i.imm2 = nesting level). The outer frame pointers are read at
 * SS:[xBP - k * size] with xBP the frame pointer of the stack's address size (BP wraps at 64 KiB on
 * a 16-bit stack); the final stack pointer is checked writable before anything changes.
 */
export function enter(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const level = i.imm2 & 31;
  const bp = c.R[10];
  const bph = c.R[11];
  const w = c.stackSize;
  // the final stack pointer must be writable (#SS / #PF before any change, as on hardware)
  {
    let fin = getSp(c) - sz * (level > 0 ? level + 1 : 1) - i.imm;
    if (w === 4) fin >>>= 0;
    else if (w === 2) fin &= 0xffff;
    c.readW(stackLinear(c, fin, sz, true), sz);
  }
  push(c, sz, sz === 2 ? c.R16[20] : bp, bph);
  const frame = getSp(c);
  for (let k = 1; k < level; k++) {
    const off = k * sz;
    let bpv = (w === 8 ? bph * TWO32 + (bp >>> 0) : w === 4 ? bp >>> 0 : bp & 0xffff) - off;
    if (w === 4) bpv >>>= 0;
    else if (w === 2) bpv &= 0xffff;
    const v = c.readN(stackLinear(c, bpv, sz, false), sz);
    push(c, sz, v, c.tHi);
  }
  if (level > 0) push(c, sz, frame | 0, Math.floor(frame / TWO32) | 0);
  if (sz === 2) c.R16[20] = frame;
  else setR(c, 5, 0, sz, frame | 0, Math.floor(frame / TWO32) | 0);
  addSp(c, -i.imm);
}

/** LEAVE. */
export function leave(c: Cpu, i: Insn): void {
  const bp = c.stackSize === 8 ? c.getReg(5) : c.stackSize === 4 ? c.R[10] >>> 0 : c.R16[20];
  const save = getSp(c);
  setSp(c, bp);
  try {
    const v = pop(c, i.sz);
    setR(c, 5, 0, i.sz, v, c.tHi);
  } catch (e) {
    setSp(c, save);
    throw e;
  }
}

const POPF_ALL = 0x3f7fd5 & ~(RFLAGS.VM | RFLAGS.VIP | RFLAGS.VIF | RFLAGS.RF);

/**
 * Applies a popped RFLAGS image with the privilege rules of POPF/IRET (IRET also loads RF, which a
 * debug handler sets to step over an instruction breakpoint). With IF set afterwards the interrupt
 * controller is asked at the next boundary.
 */
export function writeFlagsPriv(c: Cpu, v: number, sz: number, iret: boolean): void {
  let m = POPF_ALL;
  if (c.cpl > 0 && c.mode !== 0) m &= ~RFLAGS.IOPL;
  const iopl = (c.flagsRest >> 12) & 3;
  if (c.mode !== 0 && c.cpl > iopl) m &= ~RFLAGS.IF;
  if (iret && c.cpl === 0) m |= RFLAGS.VIF | RFLAGS.VIP;
  if (iret && c.mode !== 0) m |= RFLAGS.RF;
  if (sz === 2) m &= 0xffff;
  const cur = c.getRflags();
  c.setRflags((cur & ~m) | (v & m));
  if ((c.flagsRest & RFLAGS.IF) !== 0) c.irqPoll = true;
}

/** PUSHF/PUSHFD/PUSHFQ. */
export function pushf(c: Cpu, i: Insn): void {
  if ((c.flagsRest & RFLAGS.VM) !== 0 && ((c.flagsRest >> 12) & 3) < 3) throw new GuestFault(VEC.GP, 0);
  const f = c.getRflags() & ~(RFLAGS.VM | RFLAGS.RF);
  push(c, i.sz, i.sz === 2 ? f & 0xffff : f, 0);
}

/** POPF/POPFD/POPFQ. */
export function popf(c: Cpu, i: Insn): void {
  if ((c.flagsRest & RFLAGS.VM) !== 0 && ((c.flagsRest >> 12) & 3) < 3) throw new GuestFault(VEC.GP, 0);
  const v = peek(c, i.sz, 0);
  addSp(c, i.sz);
  writeFlagsPriv(c, v, i.sz, false);
  c.brk = true;
}

/** INT imm8 (op 0), INT3 (op 1), INTO (op 2), INT1 (op 3). */
export function intN(c: Cpu, i: Insn): void {
  if (i.op === 2) {
    if (flagOF(c) === 0) return;
    deliverInterrupt(c, VEC.OF, -1, true);
    return;
  }
  if ((c.flagsRest & RFLAGS.VM) !== 0 && ((c.flagsRest >> 12) & 3) < 3 && i.op === 0)
    throw new GuestFault(VEC.GP, 0);
  const v = i.op === 0 ? i.imm & 0xff : i.op === 1 ? 3 : 1;
  deliverInterrupt(c, v, -1, i.op !== 3);
}

/** On a return to outer level `cpl`: data segments not accessible there become null. */
function nullInaccessible(c: Cpu, cpl: number): void {
  for (const s of [SEG.ES, SEG.DS, SEG.FS, SEG.GS]) {
    const a = c.segAttr[s];
    const code = (a & 8) !== 0;
    const conf = code && (a & 4) !== 0;
    if ((a & ATTR_UNUSABLE) === 0 && !conf && ((a >> 5) & 3) < cpl) loadNull(c, s, 0);
  }
}

/** IRET/IRETD/IRETQ. */
export function iret(c: Cpu, i: Insn): void {
  const sz = i.sz;
  c.nmiBlocked = false;
  if ((c.cr0 & CR0.PE) === 0) {
    const ip = peek(c, sz, 0);
    const cs = peek(c, sz, sz) & 0xffff;
    const fl = peek(c, sz, 2 * sz);
    addSp(c, 3 * sz);
    loadRealCs(c, cs);
    c.rip = sz === 2 ? ip & 0xffff : ip >>> 0;
    writeFlagsPriv(c, fl, sz, true);
    c.brk = true;
    return;
  }
  if ((c.flagsRest & RFLAGS.VM) !== 0) {
    if (((c.flagsRest >> 12) & 3) < 3) throw new GuestFault(VEC.GP, 0);
    const ip = peek(c, sz, 0);
    const cs = peek(c, sz, sz) & 0xffff;
    const fl = peek(c, sz, 2 * sz);
    addSp(c, 3 * sz);
    loadRealCs(c, cs);
    c.rip = ip & 0xffff;
    writeFlagsPriv(c, fl, sz, false);
    c.brk = true;
    return;
  }
  if ((c.flagsRest & RFLAGS.NT) !== 0 && (c.efer & EFER.LMA) === 0) throw new GuestFault(VEC.GP, 0); // task return
  const ripLo = peek(c, sz, 0);
  const ripHi = sz === 8 ? c.tHi : 0;
  const csSel = peek(c, sz, sz) & 0xffff;
  const fl = peek(c, sz, 2 * sz);
  if (sz === 4 && c.cpl === 0 && (fl & RFLAGS.VM) !== 0 && (c.efer & EFER.LMA) === 0) {
    iretToV86(c, ripLo, csSel, fl);
    return;
  }
  const rpl = csSel & 3;
  if (rpl < c.cpl) throw new GuestFault(VEC.GP, csSel & 0xfffc);
  if ((csSel & 0xfffc) === 0) throw new GuestFault(VEC.GP, 0);
  readDescriptor(c, csSel);
  checkCodeDesc(csSel);
  const attr = descAttr();
  const dpl = (attr >> 5) & 3;
  if ((attr & 4) !== 0 ? dpl > rpl : dpl !== rpl) throw new GuestFault(VEC.GP, csSel & 0xfffc);
  const long = (c.efer & EFER.LMA) !== 0;
  const to64 = long && (attr & (1 << 13)) !== 0;
  const popStack = rpl > c.cpl || c.code64;
  let spLo = 0;
  let spHi = 0;
  let ssSel = 0;
  if (popStack) {
    spLo = peek(c, sz, 3 * sz);
    spHi = sz === 8 ? c.tHi : 0;
    ssSel = peek(c, sz, 4 * sz) & 0xffff;
  }
  // validate SS before committing
  const csLo = attr;
  void csLo;
  const saveDesc = { sel: csSel };
  if (popStack && (ssSel & 0xfffc) === 0 && !(long && rpl !== 3)) throw new GuestFault(VEC.GP, 0);
  const oldCpl = c.cpl;
  const flagsCpl = c.cpl;
  // commit CS
  readDescriptor(c, saveDesc.sel);
  loadCodeSegment(c, csSel, rpl);
  c.cpl = flagsCpl; // flag rules use the old CPL
  writeFlagsPriv(c, fl, sz, true);
  c.cpl = rpl;
  c.privilegeChanged();
  if (popStack) {
    if ((ssSel & 0xfffc) === 0) {
      loadNull(c, SEG.SS, ssSel);
      c.segAttr[SEG.SS] = ATTR_UNUSABLE | (rpl << 5);
    } else {
      readDescriptor(c, ssSel);
      setSegFromDesc(c, SEG.SS, ssSel);
    }
    recomputeMode(c);
    if (c.stackSize === 8 || to64) {
      c.R[8] = spLo;
      c.R[9] = spHi;
    } else if (c.stackSize === 4) {
      c.R[8] = spLo;
      c.R[9] = 0;
    } else c.R16[16] = spLo;
  } else {
    addSp(c, 3 * sz);
  }
  if (rpl > oldCpl) nullInaccessible(c, rpl);
  recomputeMode(c);
  setNearTarget(c, ripLo, ripHi, c.code64 ? 8 : sz === 8 ? 8 : sz);
  c.brk = true;
}

/**
 * IRETD at CPL0 with VM = 1 in the popped EFLAGS (SDM IRET, RETURN-TO-VIRTUAL-8086-MODE): pops
 * ESP, SS, ES, DS, FS, GS after EIP, CS, EFLAGS, loads every segment register real-mode style
 * (base = selector * 16, limit 0xffff) and continues at CPL3 in virtual-8086 mode.
 */
function iretToV86(c: Cpu, eip: number, cs: number, fl: number): void {
  const sel: number[] = [];
  for (let k = 3; k < 9; k++) sel.push(peek(c, 4, 4 * k));
  const esp = sel[0];
  c.setRflags(fl);
  c.segLimit[SEG.CS] = 0xffff;
  loadRealCs(c, cs);
  const order = [SEG.SS, SEG.ES, SEG.DS, SEG.FS, SEG.GS];
  for (let k = 0; k < 5; k++) loadSegment(c, order[k], sel[k + 1] & 0xffff);
  c.R[8] = esp | 0;
  c.R[9] = 0;
  recomputeMode(c);
  c.rip = eip & 0xffff;
  if ((c.flagsRest & RFLAGS.IF) !== 0) c.irqPoll = true;
  c.brk = true;
}

/**
 * Far JMP/CALL through a call gate (SDM 5.8.3-5.8.5): the gate's DPL must admit CPL and RPL, its
 * target a code segment at DPL <= CPL. A CALL to a more privileged non-conforming segment switches
 * to the stack for that level from the TSS, pushes the caller's SS and ESP, copies the gate's count
 * of parameters (words for a 16-bit gate, dwords for a 32-bit one) from the caller's stack, then CS
 * and EIP; a JMP never changes privilege (the target must be at CPL, or conforming).
 */
function callGate(c: Cpu, gateSel: number, call: boolean): void {
  const gLo = desc.lo;
  const gHi = desc.hi;
  const gType = (gHi >> 8) & 15;
  const gDpl = (gHi >> 13) & 3;
  if (gDpl < c.cpl || gDpl < (gateSel & 3)) throw new GuestFault(VEC.GP, gateSel & 0xfffc);
  if ((gHi & 0x8000) === 0) throw new GuestFault(VEC.NP, gateSel & 0xfffc);
  const g32 = gType === 12;
  const sel = gLo >>> 16;
  const off = g32 ? ((gLo & 0xffff) | (gHi & 0xffff0000)) >>> 0 : gLo & 0xffff;
  const count = gHi & 0x1f;
  if ((sel & 0xfffc) === 0) throw new GuestFault(VEC.GP, 0);
  readDescriptor(c, sel);
  const attr = descAttr();
  if ((attr & 0x18) !== 0x18) throw new GuestFault(VEC.GP, sel & 0xfffc);
  const dpl = (attr >> 5) & 3;
  const conforming = (attr & 4) !== 0;
  if (dpl > c.cpl || (!call && !conforming && dpl !== c.cpl)) throw new GuestFault(VEC.GP, sel & 0xfffc);
  if ((attr & 0x80) === 0) throw new GuestFault(VEC.NP, sel & 0xfffc);
  const csLo = desc.lo;
  const csHi = desc.hi;
  const csAddr = desc.addr;
  const w = g32 ? 4 : 2;
  if (call && !conforming && dpl < c.cpl) {
    // more privilege: the inner stack from the TSS
    innerStack(c, dpl);
    const newSs = inner.ss;
    const ssBase = descBase();
    const ssLimit = descLimit();
    const stack32 = (desc.hi & (1 << 22)) !== 0;
    const oldSs = c.segSel[SEG.SS];
    const oldEsp = c.R[8] >>> 0;
    const oldSp = c.stackSize === 4 ? oldEsp : oldEsp & 0xffff;
    const vals: number[] = [oldSs, oldEsp];
    for (let k = count - 1; k >= 0; k--) {
      const a = c.stackSize === 4 ? (oldSp + k * w) >>> 0 : (oldSp + k * w) & 0xffff;
      vals.push(c.readN(stackLinear(c, a, w, false), w));
    }
    vals.push(c.segSel[SEG.CS], c.rip >>> 0);
    let esp = stack32 ? inner.esp : inner.esp & 0xffff;
    if (esp - vals.length * w < 0 || esp - 1 > ssLimit) throw new GuestFault(VEC.SS, newSs & 0xfffc);
    for (const v of vals) {
      esp = stack32 ? (esp - w) >>> 0 : (esp - w) & 0xffff;
      c.writeSys((ssBase + esp) >>> 0, w, v & (w === 2 ? 0xffff : 0xffffffff));
    }
    readDescriptor(c, newSs);
    setSegFromDesc(c, SEG.SS, newSs);
    desc.lo = csLo;
    desc.hi = csHi;
    desc.hi2 = 0;
    desc.addr = csAddr;
    loadCodeSegment(c, sel, dpl);
    if (stack32) {
      c.R[8] = esp | 0;
      c.R[9] = 0;
    } else c.R16[16] = esp;
  } else {
    if (call) {
      const r = c.rip;
      push(c, w, c.segSel[SEG.CS], 0);
      push(c, w, r, 0);
    }
    desc.lo = csLo;
    desc.hi = csHi;
    desc.hi2 = 0;
    desc.addr = csAddr;
    loadCodeSegment(c, sel, c.cpl);
  }
  setNearTarget(c, off, 0, w);
  c.brk = true;
}

/** Far JMP/CALL through a code-segment selector or a call gate (no task switches). */
function farTransfer(c: Cpu, sel: number, off: number, offHi: number, sz: number, call: boolean): void {
  if ((c.cr0 & CR0.PE) === 0 || (c.flagsRest & RFLAGS.VM) !== 0) {
    if (call) {
      push(c, sz, c.segSel[SEG.CS], 0);
      push(c, sz, c.rip, 0);
    }
    loadRealCs(c, sel);
    c.rip = sz === 2 ? off & 0xffff : off >>> 0;
    c.brk = true;
    return;
  }
  if ((sel & 0xfffc) === 0) throw new GuestFault(VEC.GP, 0);
  readDescriptor(c, sel);
  const attr = descAttr();
  if ((attr & 0x10) === 0) {
    const type = attr & 15;
    // call gates (16-bit type 4, 32-bit type 12) outside long mode; task gates and TSSs unsupported
    if ((type === 4 || type === 12) && (c.efer & EFER.LMA) === 0) {
      callGate(c, sel, call);
      return;
    }
    throw new GuestFault(VEC.GP, sel & 0xfffc);
  }
  checkCodeDesc(sel);
  const dpl = (attr >> 5) & 3;
  const rpl = sel & 3;
  if ((attr & 4) !== 0 ? dpl > c.cpl : rpl > c.cpl || dpl !== c.cpl)
    throw new GuestFault(VEC.GP, sel & 0xfffc);
  if (call) {
    const r = c.rip;
    push(c, sz, c.segSel[SEG.CS], 0);
    if (sz === 8) push(c, 8, r | 0, Math.floor(r / TWO32) | 0);
    else push(c, sz, r, 0);
  }
  readDescriptor(c, sel);
  loadCodeSegment(c, sel, c.cpl);
  setNearTarget(c, off, offHi, c.code64 ? 8 : sz === 8 ? 4 : sz);
  c.brk = true;
}

/** JMP/CALL ptr16:16/32 (EA, 9A): offset in i.imm, selector in i.imm2; i.op = 1 for CALL. */
export function farDirect(c: Cpu, i: Insn): void {
  farTransfer(c, i.imm2, i.imm, 0, i.sz, i.op === 1);
}

/** JMP/CALL m16:16/32/64 (FF /5, FF /3): i.op = 1 for CALL. */
export function farIndirect(c: Cpu, i: Insn): void {
  if (!i.mem) throw new GuestFault(VEC.UD);
  const la = ea(c, i, i.sz + 2);
  const off = c.readN(la, i.sz);
  const offHi = i.sz === 8 ? c.tHi : 0;
  const sel = c.read16(la + i.sz);
  farTransfer(c, sel, off, offHi, i.sz, i.op === 1);
}

/** RETF / RETF imm16. */
export function retFar(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const off = peek(c, sz, 0);
  const offHi = sz === 8 ? c.tHi : 0;
  const sel = peek(c, sz, sz) & 0xffff;
  if ((c.cr0 & CR0.PE) === 0 || (c.flagsRest & RFLAGS.VM) !== 0) {
    addSp(c, 2 * sz + i.imm);
    loadRealCs(c, sel);
    c.rip = sz === 2 ? off & 0xffff : off >>> 0;
    c.brk = true;
    return;
  }
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0 || rpl < c.cpl) throw new GuestFault(VEC.GP, sel & 0xfffc);
  readDescriptor(c, sel);
  checkCodeDesc(sel);
  const attr = descAttr();
  const dpl = (attr >> 5) & 3;
  if ((attr & 4) !== 0 ? dpl > rpl : dpl !== rpl) throw new GuestFault(VEC.GP, sel & 0xfffc);
  if (rpl > c.cpl) {
    const spLo = peek(c, sz, 2 * sz + i.imm);
    const spHi = sz === 8 ? c.tHi : 0;
    const ss = peek(c, sz, 3 * sz + i.imm) & 0xffff;
    loadCodeSegment(c, sel, rpl);
    loadSegment(c, SEG.SS, ss);
    if (sz === 8) {
      c.R[8] = spLo;
      c.R[9] = spHi;
    } else setSp(c, spLo >>> 0);
    addSp(c, i.imm);
    nullInaccessible(c, rpl);
  } else {
    addSp(c, 2 * sz + i.imm);
    loadCodeSegment(c, sel, c.cpl);
  }
  setNearTarget(c, off, offHi, c.code64 ? 8 : sz === 8 ? 4 : sz);
  c.brk = true;
}
