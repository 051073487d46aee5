/**
 * Exception and interrupt delivery: the real-mode IVT, 32-bit protected-mode IDT gates (interrupt and
 * trap gates, 16/32-bit, privilege change through the 32-bit TSS), long-mode IDT gates (IST stacks,
 * RSP0 from the 64-bit TSS), double fault and triple fault (which becomes a `shutdown` exit).
 *
 * Not modelled: task gates and hardware task switches (they raise #GP), virtual-8086 interrupt
 * redirection.
 *
 * @example
 * ```ts
 * deliverException(cpu, VEC.GP, 0); // pushes a frame and jumps to the #GP handler
 * ```
 */
import { CR0, EFER, RFLAGS, SEG, VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import {
  CHK_LIMIT,
  checkCodeDesc,
  desc,
  descAttr,
  loadCodeSegment,
  loadNull,
  loadRealCs,
  readDescriptor,
  recomputeMode,
  setSegFromDesc,
} from './segments.js';

const TWO32 = 4294967296;

function contributory(v: number): boolean {
  return v === VEC.DE || (v >= VEC.TS && v <= VEC.GP);
}

/** Vectors that push an error code when raised as exceptions. */
export function hasErrorCode(v: number): boolean {
  return v === 8 || (v >= 10 && v <= 14) || v === 17 || v === 21;
}

/**
 * Delivers exception `vector` (error code or -1) with double-fault and triple-fault escalation.
 * Returns 'shutdown' on a triple fault.
 *
 * @example if (deliverException(cpu, 14, 2) === 'shutdown') stop();
 */
export function deliverException(c: Cpu, vector: number, errorCode: number): 'ok' | 'shutdown' {
  let v = vector;
  let err = errorCode;
  let prev = -1;
  for (;;) {
    if (prev >= 0) {
      if (prev === VEC.DF) return 'shutdown';
      if ((contributory(prev) && contributory(v)) || (prev === VEC.PF && (contributory(v) || v === VEC.PF))) {
        v = VEC.DF;
        err = 0;
      }
    }
    try {
      deliverInterrupt(c, v, hasErrorCode(v) ? Math.max(err, 0) : -1, false);
      return 'ok';
    } catch (e) {
      if (!(e instanceof GuestFault)) throw e;
      prev = v;
      v = e.vector;
      err = e.errorCode;
    }
  }
}

/**
 * Delivers interrupt `vector` through the IVT/IDT. `soft` marks INT n / INT3 / INTO (gate DPL is
 * checked against CPL). RIP must already hold the return address.
 */
export function deliverInterrupt(c: Cpu, vector: number, errorCode: number, soft: boolean): void {
  c.halted = false;
  c.deliveries++;
  if ((c.cr0 & CR0.PE) === 0) {
    deliverReal(c, vector);
    return;
  }
  if ((c.efer & EFER.LMA) !== 0) deliverLong(c, vector, errorCode, soft);
  else deliverProtected(c, vector, errorCode, soft);
}

function deliverReal(c: Cpu, vector: number): void {
  const ent = vector * 4;
  if (ent + 3 > c.idtLimit) throw new GuestFault(VEC.GP, vector * 8 + 2);
  const off = c.readSys(c.idtBase + ent, 2);
  const sel = c.readSys(c.idtBase + ent + 2, 2);
  const ssb = c.segBase[SEG.SS];
  let sp = c.R[8] & 0xffff;
  const flags = c.getRflags() & 0xffff;
  sp = (sp - 2) & 0xffff;
  c.write16(ssb + sp, flags);
  sp = (sp - 2) & 0xffff;
  c.write16(ssb + sp, c.segSel[SEG.CS]);
  sp = (sp - 2) & 0xffff;
  c.write16(ssb + sp, c.rip & 0xffff);
  c.R16[16] = sp;
  c.flagsRest &= ~(RFLAGS.IF | RFLAGS.TF | RFLAGS.AC | RFLAGS.RF);
  loadRealCs(c, sel);
  c.rip = off;
}

function gateCheck(c: Cpu, vector: number, soft: boolean, lo: number, hi: number, wide: boolean): number {
  const type = (hi >> 8) & 0x1f;
  const dpl = (hi >> 13) & 3;
  const ok = wide
    ? type === 0xe || type === 0xf
    : type === 0xe || type === 0xf || type === 0x6 || type === 0x7;
  if (!ok) throw new GuestFault(VEC.GP, vector * 8 + 2);
  if (soft && dpl < c.cpl) throw new GuestFault(VEC.GP, vector * 8 + 2);
  if ((hi & 0x8000) === 0) throw new GuestFault(VEC.NP, vector * 8 + 2);
  void lo;
  return type;
}

function deliverLong(c: Cpu, vector: number, errorCode: number, soft: boolean): void {
  const ent = vector * 16;
  if (ent + 15 > c.idtLimit) throw new GuestFault(VEC.GP, vector * 8 + 2);
  const a = c.idtBase + ent;
  const lo = c.readSys(a, 4) | 0;
  const hi = c.readSys(a + 4, 4) | 0;
  const hi2 = c.readSys(a + 8, 4) | 0;
  const type = gateCheck(c, vector, soft, lo, hi, true);
  const sel = lo >>> 16;
  const target = ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0;
  const rip = hi2 * TWO32 + target;
  if ((sel & 0xfffc) === 0) throw new GuestFault(VEC.GP, 0);
  readDescriptor(c, sel);
  checkCodeDesc(sel);
  const attr = descAttr();
  if ((attr & (1 << 13)) === 0 || (attr & (1 << 14)) !== 0) throw new GuestFault(VEC.GP, sel & 0xfffc);
  const dpl = (attr >> 5) & 3;
  const conforming = (attr & 4) !== 0;
  const newCpl = conforming ? c.cpl : dpl;
  if (newCpl > c.cpl) throw new GuestFault(VEC.GP, sel & 0xfffc);
  const ist = hi & 7;
  const oldRsp = c.getReg(4);
  const oldSs = c.segSel[SEG.SS];
  const trBase = c.segBase[SEG.TR];
  let rsp: number;
  if (ist !== 0) {
    rsp =
      c.readSys(trBase + 0x24 + 8 * (ist - 1), 4) + (c.readSys(trBase + 0x28 + 8 * (ist - 1), 4) | 0) * TWO32;
  } else if (newCpl < c.cpl) {
    rsp = c.readSys(trBase + 4 + 8 * newCpl, 4) + (c.readSys(trBase + 8 + 8 * newCpl, 4) | 0) * TWO32;
  } else {
    rsp = oldRsp;
  }
  rsp -= ((rsp % 16) + 16) % 16;
  const flags = c.getRflags();
  const frame = errorCode >= 0 ? 6 : 5;
  let p = rsp - frame * 8;
  const newRsp = p;
  const ripNow = c.rip;
  if (errorCode >= 0) {
    c.writeSys(p, 8, errorCode, 0);
    p += 8;
  }
  c.writeSys(p, 8, ripNow | 0, Math.floor(ripNow / TWO32) | 0);
  c.writeSys(p + 8, 8, c.segSel[SEG.CS], 0);
  c.writeSys(p + 16, 8, flags, 0);
  c.writeSys(p + 24, 8, oldRsp | 0, Math.floor(oldRsp / TWO32) | 0);
  c.writeSys(p + 32, 8, oldSs, 0);
  // commit
  if (newCpl !== c.cpl) {
    loadNull(c, SEG.SS, newCpl);
    c.segAttr[SEG.SS] = 0x10000 | (newCpl << 5);
  }
  loadCodeSegment(c, sel, newCpl);
  c.setReg(4, newRsp);
  c.flagsRest &= ~(RFLAGS.TF | RFLAGS.NT | RFLAGS.RF | RFLAGS.VM);
  if (type === 0xe) c.flagsRest &= ~RFLAGS.IF;
  recomputeMode(c);
  c.rip = rip;
}

/** Result of {@link innerStack}. */
export const inner = { ss: 0, esp: 0 };

/**
 * The stack for privilege level `cpl` from the current TSS (32-bit: ESPn/SSn at 4 + 8n / 8 + 8n;
 * 16-bit: SPn/SSn at 2 + 4n / 4 + 4n) into {@link inner}, with the checks of SDM 6.12.1 on the new
 * SS (#TS(SS) unless a present writable data segment with RPL = DPL = `cpl`, #SS(SS) if not
 * present); leaves the SS descriptor in `desc`.
 *
 * @example innerStack(cpu, 0); // inner.ss, inner.esp
 */
export function innerStack(c: Cpu, cpl: number): void {
  const tr = c.segBase[SEG.TR];
  const t32 = (c.segAttr[SEG.TR] & 8) !== 0;
  const off = t32 ? 4 + 8 * cpl : 2 + 4 * cpl;
  if (off + (t32 ? 5 : 3) > c.segLimit[SEG.TR]) throw new GuestFault(VEC.TS, c.segSel[SEG.TR] & 0xfffc);
  inner.esp = t32 ? c.readSys((tr + off) >>> 0, 4) >>> 0 : c.readSys((tr + off) >>> 0, 2);
  const ss = c.readSys((tr + off + (t32 ? 4 : 2)) >>> 0, 2);
  inner.ss = ss;
  if ((ss & 0xfffc) === 0) throw new GuestFault(VEC.TS, 0);
  readDescriptor(c, ss);
  const a = descAttr();
  if ((ss & 3) !== cpl || ((a >> 5) & 3) !== cpl || (a & 0x1a) !== 0x12)
    throw new GuestFault(VEC.TS, ss & 0xfffc);
  if ((a & 0x80) === 0) throw new GuestFault(VEC.SS, ss & 0xfffc);
}

/**
 * The interrupt frame of `n` slots of `w` bytes pushed below `esp` must lie inside the stack
 * segment (SDM 6.12.1, 3.4.5.1): the new one after a stack switch (`newSs`, whose descriptor is in
 * {@link desc}; #SS(newSs)) or the current SS when its accesses are checked (#SS(0)). Checked
 * before anything is written, so a fault leaves memory and registers as they were.
 */
function checkFrameFits(c: Cpu, esp: number, n: number, w: number, stack32: boolean, newSs: number): void {
  let limit: number;
  let down: boolean;
  let big: boolean;
  if (newSs >= 0) {
    limit = (desc.lo & 0xffff) | (desc.hi & 0xf0000);
    if ((desc.hi & (1 << 23)) !== 0) limit = limit * 4096 + 0xfff;
    down = ((desc.hi >> 8) & 0x1c) === 0x14;
    big = (desc.hi & (1 << 22)) !== 0;
  } else {
    if ((c.segChk[SEG.SS] & CHK_LIMIT) === 0) return;
    limit = c.segLimit[SEG.SS];
    down = (c.segAttr[SEG.SS] & 0x1c) === 0x14;
    big = (c.segAttr[SEG.SS] & (1 << 14)) !== 0;
  }
  let e = esp;
  for (let k = 0; k < n; k++) {
    e = stack32 ? (e - w) >>> 0 : (e - w) & 0xffff;
    const last = e + w - 1;
    if (down ? e <= limit || last > (big ? 0xffffffff : 0xffff) : last > limit)
      throw new GuestFault(VEC.SS, newSs >= 0 ? newSs & 0xfffc : 0);
  }
}

function deliverProtected(c: Cpu, vector: number, errorCode: number, soft: boolean): void {
  const ent = vector * 8;
  if (ent + 7 > c.idtLimit) throw new GuestFault(VEC.GP, vector * 8 + 2);
  const a = (c.idtBase + ent) >>> 0;
  const lo = c.readSys(a, 4) | 0;
  const hi = c.readSys(a + 4, 4) | 0;
  const type = gateCheck(c, vector, soft, lo, hi, false);
  const gate32 = (type & 8) !== 0;
  const sel = lo >>> 16;
  const target = ((lo & 0xffff) | (gate32 ? hi & 0xffff0000 : 0)) >>> 0;
  if ((sel & 0xfffc) === 0) throw new GuestFault(VEC.GP, 0);
  const vm = (c.flagsRest & RFLAGS.VM) !== 0;
  readDescriptor(c, sel);
  checkCodeDesc(sel);
  const attr = descAttr();
  const dpl = (attr >> 5) & 3;
  const newCpl = (attr & 4) !== 0 ? c.cpl : dpl;
  if (newCpl > c.cpl) throw new GuestFault(VEC.GP, sel & 0xfffc);
  // from virtual-8086 mode: only to a non-conforming DPL 0 handler through a 32-bit gate (SDM 20.3.1.1)
  if (vm && ((attr & 4) !== 0 || dpl !== 0 || !gate32)) throw new GuestFault(VEC.GP, sel & 0xfffc);
  const csLo = desc.lo;
  const csHi = desc.hi;
  const csAddr = desc.addr;
  const w = gate32 ? 4 : 2;
  const flags = c.getRflags();
  const oldEsp = c.R[8] >>> 0;
  const oldSs = c.segSel[SEG.SS];
  let ssBase: number;
  let esp: number;
  let stack32: boolean;
  let newSs = -1;
  if (newCpl < c.cpl) {
    innerStack(c, newCpl);
    esp = inner.esp;
    newSs = inner.ss;
    ssBase = ((desc.lo >>> 16) | ((desc.hi & 0xff) << 16) | (desc.hi & 0xff000000)) >>> 0;
    stack32 = (desc.hi & (1 << 22)) !== 0;
  } else {
    esp = c.stackSize === 4 ? oldEsp : oldEsp & 0xffff;
    ssBase = c.segBase[SEG.SS];
    stack32 = c.stackSize === 4;
  }
  const vals: number[] = [];
  if (vm) vals.push(c.segSel[SEG.GS], c.segSel[SEG.FS], c.segSel[SEG.DS], c.segSel[SEG.ES]);
  if (newSs >= 0) vals.push(oldSs, oldEsp);
  vals.push(flags, c.segSel[SEG.CS], c.rip >>> 0);
  if (errorCode >= 0) vals.push(errorCode);
  checkFrameFits(c, esp, vals.length, w, stack32, newSs);
  for (const v of vals) {
    esp = stack32 ? (esp - w) >>> 0 : (esp - w) & 0xffff;
    c.writeSys((ssBase + esp) >>> 0, w, v);
  }
  if (newSs >= 0) {
    readDescriptor(c, newSs);
    setSegFromDesc(c, SEG.SS, newSs);
  }
  if (vm) for (const s of [SEG.ES, SEG.DS, SEG.FS, SEG.GS]) loadNull(c, s, 0);
  desc.lo = csLo;
  desc.hi = csHi;
  desc.hi2 = 0;
  desc.addr = csAddr;
  loadCodeSegment(c, sel, newCpl);
  if (stack32) c.R[8] = esp | 0;
  else c.R16[16] = esp;
  c.flagsRest &= ~(RFLAGS.TF | RFLAGS.NT | RFLAGS.RF | RFLAGS.VM);
  if ((type & 7) === 6) c.flagsRest &= ~RFLAGS.IF;
  recomputeMode(c);
  c.rip = target;
}
