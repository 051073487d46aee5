/**
 * Integer ALU executors: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC/DEC, NOT/NEG, MOV/MOVZX/MOVSX/
 * MOVSXD, XCHG, LEA, CMOVcc, SETcc, BSWAP, CBW family, and the flag-only instructions. 64-bit
 * operands are handled on 32-bit halves.
 *
 * @example
 * ```ts
 * aluOp(cpu, 0, 4, 1, 2); // 32-bit ADD of 1 and 2: returns 3 and records lazy flags
 * ```
 */
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import {
  arithFlags,
  cond,
  F_ADC,
  F_ADD,
  F_DEC,
  F_INC,
  F_LOGIC,
  F_SBB,
  F_SUB,
  flagCF,
  setArithFlags,
} from './flags.js';
import type { Insn } from './insn.js';
import { ea, eaOffset, eaW, getR, readReg, readRm, setR } from './operands.js';

const TWO32 = 4294967296;

/**
 * ALU operation `op` (0 add, 1 or, 2 adc, 3 sbb, 4 and, 5 sub, 6 xor, 7 cmp) on unsigned `a`, `b`
 * of `sz` (1, 2, 4) bytes. Returns the result; records lazy flags.
 * @example aluOp(cpu, 5, 1, 0, 1) // 0xff, CF=1
 */
export function aluOp(c: Cpu, op: number, sz: number, a: number, b: number): number {
  let r: number;
  let k: number;
  switch (op) {
    case 0:
      r = a + b;
      k = F_ADD;
      break;
    case 1:
      r = a | b;
      k = F_LOGIC;
      break;
    case 2: {
      const cin = flagCF(c);
      c.fCin = cin;
      r = a + b + cin;
      k = F_ADC;
      break;
    }
    case 3: {
      const cin = flagCF(c);
      c.fCin = cin;
      r = a - b - cin;
      k = F_SBB;
      break;
    }
    case 4:
      r = a & b;
      k = F_LOGIC;
      break;
    case 6:
      r = a ^ b;
      k = F_LOGIC;
      break;
    default:
      r = a - b;
      k = F_SUB;
  }
  r = sz === 4 ? r >>> 0 : sz === 2 ? r & 0xffff : r & 0xff;
  c.fOp = k;
  c.fSz = sz;
  c.fA = a;
  c.fB = b;
  c.fRes = r;
  return r;
}

/** 64-bit ALU operation on halves; returns the low half, high half in `tHi`. */
export function aluOp64(c: Cpu, op: number, al: number, ah: number, bl: number, bh: number): number {
  let lo: number;
  let hi: number;
  let k: number;
  switch (op) {
    case 0:
    case 2: {
      const cin = op === 2 ? flagCF(c) : 0;
      c.fCin = cin;
      const s = (al >>> 0) + (bl >>> 0) + cin;
      lo = s | 0;
      hi = (ah + bh + (s > 0xffffffff ? 1 : 0)) | 0;
      k = op === 0 ? F_ADD : F_ADC;
      break;
    }
    case 1:
      lo = al | bl;
      hi = ah | bh;
      k = F_LOGIC;
      break;
    case 4:
      lo = al & bl;
      hi = ah & bh;
      k = F_LOGIC;
      break;
    case 6:
      lo = al ^ bl;
      hi = ah ^ bh;
      k = F_LOGIC;
      break;
    default: {
      const cin = op === 3 ? flagCF(c) : 0;
      c.fCin = cin;
      const s = (al >>> 0) - (bl >>> 0) - cin;
      lo = s | 0;
      hi = (ah - bh - (s < 0 ? 1 : 0)) | 0;
      k = op === 3 ? F_SBB : F_SUB;
    }
  }
  c.fOp = k;
  c.fSz = 8;
  c.fA = al | 0;
  c.fAH = ah | 0;
  c.fB = bl | 0;
  c.fBH = bh | 0;
  c.fRes = lo;
  c.fResH = hi;
  c.tHi = hi;
  return lo;
}

/** ALU r/m, reg (opcodes 00-39 even/odd forms with r/m destination). */
export function aluEG(c: Cpu, i: Insn): void {
  const op = i.op;
  const sz = i.sz;
  if (sz === 8) {
    const bl = c.R[i.reg * 2];
    const bh = c.R[i.reg * 2 + 1];
    if (!i.mem) {
      const r = i.rm * 2;
      const lo = aluOp64(c, op, c.R[r], c.R[r + 1], bl, bh);
      if (op !== 7) {
        c.R[r] = lo;
        c.R[r + 1] = c.tHi;
      }
      return;
    }
    const la = op === 7 ? ea(c, i) : eaW(c, i);
    const al = op === 7 ? c.read64(la) : c.readW(la, 8);
    const lo = aluOp64(c, op, al, c.tHi, bl, bh);
    if (op !== 7) c.write64(la, lo, c.tHi);
    return;
  }
  const b = getR(c, i.reg, i.regB, sz);
  if (!i.mem) {
    const r = aluOp(c, op, sz, getR(c, i.rm, i.rmB, sz), b);
    if (op !== 7) setR(c, i.rm, i.rmB, sz, r, 0);
    return;
  }
  const la = op === 7 ? ea(c, i) : eaW(c, i);
  const a = op === 7 ? c.readN(la, sz) : c.readW(la, sz);
  const r = aluOp(c, op, sz, a, b);
  if (op !== 7) c.writeN(la, sz, r, 0);
}

/** ALU reg, r/m. */
export function aluGE(c: Cpu, i: Insn): void {
  const op = i.op;
  const sz = i.sz;
  if (sz === 8) {
    let bl: number;
    let bh: number;
    if (i.mem) {
      bl = c.read64(ea(c, i));
      bh = c.tHi;
    } else {
      bl = c.R[i.rm * 2];
      bh = c.R[i.rm * 2 + 1];
    }
    const r = i.reg * 2;
    const lo = aluOp64(c, op, c.R[r], c.R[r + 1], bl, bh);
    if (op !== 7) {
      c.R[r] = lo;
      c.R[r + 1] = c.tHi;
    }
    return;
  }
  const b = readRm(c, i);
  const r = aluOp(c, op, sz, getR(c, i.reg, i.regB, sz), b);
  if (op !== 7) setR(c, i.reg, i.regB, sz, r, 0);
}

/** ALU r/m, imm (group 1 and the accumulator forms, which decode as register r/m). */
export function aluEI(c: Cpu, i: Insn): void {
  const op = i.op;
  const sz = i.sz;
  if (sz === 8) {
    if (!i.mem) {
      const r = i.rm * 2;
      const lo = aluOp64(c, op, c.R[r], c.R[r + 1], i.imm, i.immH);
      if (op !== 7) {
        c.R[r] = lo;
        c.R[r + 1] = c.tHi;
      }
      return;
    }
    const la = op === 7 ? ea(c, i) : eaW(c, i);
    const al = op === 7 ? c.read64(la) : c.readW(la, 8);
    const lo = aluOp64(c, op, al, c.tHi, i.imm, i.immH);
    if (op !== 7) c.write64(la, lo, c.tHi);
    return;
  }
  if (!i.mem) {
    const r = aluOp(c, op, sz, getR(c, i.rm, i.rmB, sz), i.imm);
    if (op !== 7) setR(c, i.rm, i.rmB, sz, r, 0);
    return;
  }
  const la = op === 7 ? ea(c, i) : eaW(c, i);
  const a = op === 7 ? c.readN(la, sz) : c.readW(la, sz);
  const r = aluOp(c, op, sz, a, i.imm);
  if (op !== 7) c.writeN(la, sz, r, 0);
}

/** TEST r/m, reg. */
export function testEG(c: Cpu, i: Insn): void {
  const sz = i.sz;
  if (sz === 8) {
    const a = readRm(c, i);
    const ah = c.tHi;
    aluOp64(c, 4, a, ah, c.R[i.reg * 2], c.R[i.reg * 2 + 1]);
    return;
  }
  aluOp(c, 4, sz, readRm(c, i), readReg(c, i));
}

/** TEST r/m, imm. */
export function testEI(c: Cpu, i: Insn): void {
  if (i.sz === 8) {
    const a = readRm(c, i);
    aluOp64(c, 4, a, c.tHi, i.imm, i.immH);
    return;
  }
  aluOp(c, 4, i.sz, readRm(c, i), i.imm);
}

/** INC/DEC r/m (op 0 inc, 1 dec); also 40-4F in 16/32-bit modes (register form). */
export function incDec(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const cf = flagCF(c);
  const la = i.mem ? eaW(c, i) : 0;
  let a: number;
  let ah = 0;
  if (i.mem) {
    a = c.readW(la, sz);
    ah = c.tHi;
  } else {
    a = getR(c, i.rm, i.rmB, sz);
    ah = c.tHi;
  }
  let r: number;
  let rh = 0;
  if (sz === 8) {
    if (i.op === 0) {
      const s = (a >>> 0) + 1;
      r = s | 0;
      rh = (ah + (s > 0xffffffff ? 1 : 0)) | 0;
    } else {
      const s = (a >>> 0) - 1;
      r = s | 0;
      rh = (ah - (s < 0 ? 1 : 0)) | 0;
    }
    c.fAH = ah;
    c.fBH = 0;
    c.fResH = rh;
    c.fA = a | 0;
    c.fRes = r;
  } else {
    r = i.op === 0 ? a + 1 : a - 1;
    r = sz === 4 ? r >>> 0 : sz === 2 ? r & 0xffff : r & 0xff;
    c.fA = a;
    c.fRes = r;
  }
  c.fB = 1;
  c.fSz = sz;
  c.fOp = i.op === 0 ? F_INC : F_DEC;
  c.fCF = cf;
  if (i.mem) c.writeN(la, sz, r, rh);
  else setR(c, i.rm, i.rmB, sz, r, rh);
}

/** NOT r/m (no flags). */
export function notE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  if (i.mem) {
    const la = eaW(c, i);
    const a = c.readW(la, sz);
    c.writeN(la, sz, ~a, ~c.tHi);
  } else {
    const a = getR(c, i.rm, i.rmB, sz);
    setR(c, i.rm, i.rmB, sz, sz === 4 ? ~a >>> 0 : ~a, ~c.tHi);
  }
}

/** NEG r/m: 0 - x with SUB flags. */
export function negE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const la = i.mem ? eaW(c, i) : 0;
  let a: number;
  if (i.mem) a = c.readW(la, sz);
  else a = getR(c, i.rm, i.rmB, sz);
  if (sz === 8) {
    const lo = aluOp64(c, 5, 0, 0, a, c.tHi);
    if (i.mem) c.write64(la, lo, c.tHi);
    else setR(c, i.rm, 0, 8, lo, c.tHi);
    return;
  }
  const r = aluOp(c, 5, sz, 0, a);
  if (i.mem) c.writeN(la, sz, r, 0);
  else setR(c, i.rm, i.rmB, sz, r, 0);
}

/** MOV r/m, reg. */
export function movEG(c: Cpu, i: Insn): void {
  const sz = i.sz;
  if (sz === 8) {
    const lo = c.R[i.reg * 2];
    const hi = c.R[i.reg * 2 + 1];
    if (i.mem) c.write64(eaW(c, i), lo, hi);
    else {
      c.R[i.rm * 2] = lo;
      c.R[i.rm * 2 + 1] = hi;
    }
    return;
  }
  const v = getR(c, i.reg, i.regB, sz);
  if (i.mem) c.writeN(eaW(c, i), sz, v, 0);
  else setR(c, i.rm, i.rmB, sz, v, 0);
}

/** MOV reg, r/m. */
export function movGE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  if (sz === 8) {
    if (i.mem) {
      const lo = c.read64(ea(c, i));
      c.R[i.reg * 2] = lo;
      c.R[i.reg * 2 + 1] = c.tHi;
    } else {
      c.R[i.reg * 2] = c.R[i.rm * 2];
      c.R[i.reg * 2 + 1] = c.R[i.rm * 2 + 1];
    }
    return;
  }
  if (sz === 4) {
    c.R[i.reg * 2] = i.mem ? c.read32(ea(c, i)) : c.R[i.rm * 2];
    c.R[i.reg * 2 + 1] = 0;
    return;
  }
  setR(c, i.reg, i.regB, sz, readRm(c, i), 0);
}

/** MOV r/m, imm and MOV reg, imm (B0-BF decode as register r/m). */
export function movEI(c: Cpu, i: Insn): void {
  if (i.mem) c.writeN(eaW(c, i), i.sz, i.imm, i.immH);
  else setR(c, i.rm, i.rmB, i.sz, i.imm, i.immH);
}

/** MOV AL/AX/EAX/RAX, moffs (op 0) and moffs, accumulator (op 1). */
export function movMoffs(c: Cpu, i: Insn): void {
  const la = i.op === 0 ? ea(c, i) : eaW(c, i);
  if (i.op === 0) {
    const v = c.readN(la, i.sz);
    setR(c, 0, 0, i.sz, v, c.tHi);
  } else {
    const v = getR(c, 0, 0, i.sz);
    c.writeN(la, i.sz, v, c.tHi);
  }
}

/** MOVZX reg, r/m8/16 (i.op = source size). */
export function movzx(c: Cpu, i: Insn): void {
  let v: number;
  if (i.mem) v = c.readN(ea(c, i, i.op), i.op);
  else v = i.op === 1 ? c.R8[i.rmB] : c.R16[i.rm * 4];
  setR(c, i.reg, 0, i.sz, v, 0);
}

/** MOVSX reg, r/m8/16 and MOVSXD reg, r/m32 (i.op = source size). */
export function movsx(c: Cpu, i: Insn): void {
  let v: number;
  if (i.mem) v = c.readN(ea(c, i, i.op), i.op);
  else v = i.op === 1 ? c.R8[i.rmB] : i.op === 2 ? c.R16[i.rm * 4] : c.R[i.rm * 2];
  v = i.op === 1 ? (v << 24) >> 24 : i.op === 2 ? (v << 16) >> 16 : v | 0;
  const sz = i.sz;
  if (sz === 8) setR(c, i.reg, 0, 8, v, v >> 31);
  else setR(c, i.reg, 0, sz, sz === 4 ? v >>> 0 : v & 0xffff, 0);
}

/** LEA. */
export function lea(c: Cpu, i: Insn): void {
  const sz = i.sz;
  if (sz === 8 && i.asz === 8) {
    // exact 64-bit sum on halves: LEA is used as arithmetic on values beyond 2^53 (boot fix)
    const R = c.R;
    let lo = i.disp >>> 0;
    let hi = i.disp < 0 ? -1 : 0;
    let s = 0;
    if (i.base >= 0) {
      s = lo + (R[i.base] >>> 0);
      hi = (hi + R[i.base + 1] + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s >>> 0;
    } else if (i.ripRel) {
      s = lo + (c.rip >>> 0);
      hi = (hi + (Math.floor(c.rip / TWO32) | 0) + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s >>> 0;
    }
    if (i.index >= 0) {
      const sh = i.scale === 1 ? 0 : i.scale === 2 ? 1 : i.scale === 4 ? 2 : 3;
      const xl = R[i.index] >>> 0;
      const xh = sh === 0 ? R[i.index + 1] : (R[i.index + 1] << sh) | (xl >>> (32 - sh));
      s = lo + ((xl << sh) >>> 0);
      hi = (hi + xh + (s > 0xffffffff ? 1 : 0)) | 0;
      lo = s >>> 0;
    }
    setR(c, i.reg, 0, 8, lo | 0, hi);
    return;
  }
  const a = eaOffset(c, i);
  if (sz === 8) setR(c, i.reg, 0, 8, a | 0, Math.floor(a / TWO32) | 0);
  else setR(c, i.reg, 0, sz, sz === 4 ? a >>> 0 : a & 0xffff, 0);
}

/** XCHG r/m, reg (memory form is implicitly locked). */
export function xchg(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const b = getR(c, i.reg, i.regB, sz);
  const bh = c.tHi;
  if (i.mem) {
    const la = eaW(c, i);
    const a = c.readW(la, sz);
    const ah = c.tHi;
    c.writeN(la, sz, b, bh);
    setR(c, i.reg, i.regB, sz, a, ah);
  } else {
    const a = getR(c, i.rm, i.rmB, sz);
    const ah = c.tHi;
    setR(c, i.rm, i.rmB, sz, b, bh);
    setR(c, i.reg, i.regB, sz, a, ah);
  }
}

/** CMOVcc reg, r/m (the source is read, and the destination zero-extended for 32-bit, either way). */
export function cmov(c: Cpu, i: Insn): void {
  const v = readRm(c, i);
  const h = c.tHi;
  if (cond(c, i.op)) setR(c, i.reg, 0, i.sz, v, h);
  else if (i.sz === 4) c.R[i.reg * 2 + 1] = 0;
}

/** SETcc r/m8. */
export function setcc(c: Cpu, i: Insn): void {
  const v = cond(c, i.op) ? 1 : 0;
  if (i.mem) c.write8(eaW(c, i, 1), v);
  else c.R8[i.rmB] = v;
}

/** BSWAP reg. */
export function bswap(c: Cpu, i: Insn): void {
  const sw = (x: number) => (x >>> 24) | ((x >>> 8) & 0xff00) | ((x & 0xff00) << 8) | (x << 24) | 0;
  const r = i.rm * 2;
  if (i.sz === 8) {
    const lo = c.R[r];
    c.R[r] = sw(c.R[r + 1]);
    c.R[r + 1] = sw(lo);
  } else if (i.sz === 4) {
    c.R[r] = sw(c.R[r]);
    c.R[r + 1] = 0;
  } else c.R16[i.rm * 4] = 0; // 16-bit BSWAP is undefined; hardware gives 0
}

/** CBW/CWDE/CDQE (98). */
export function cbw(c: Cpu, i: Insn): void {
  switch (i.sz) {
    case 2:
      c.R16[0] = (c.R8[0] << 24) >> 24;
      break;
    case 4:
      c.R[0] = (c.R16[0] << 16) >> 16;
      c.R[1] = 0;
      break;
    default:
      c.R[1] = c.R[0] >> 31;
  }
}

/** CWD/CDQ/CQO (99). */
export function cwd(c: Cpu, i: Insn): void {
  switch (i.sz) {
    case 2:
      c.R16[8] = c.R16[0] & 0x8000 ? 0xffff : 0;
      break;
    case 4:
      c.R[4] = c.R[0] >> 31;
      c.R[5] = 0;
      break;
    default: {
      const s = c.R[1] >> 31;
      c.R[4] = s;
      c.R[5] = s;
    }
  }
}

/** CLC, STC, CMC (op 0, 1, 2). */
export function carryOp(c: Cpu, i: Insn): void {
  const f = arithFlags(c);
  setArithFlags(c, i.op === 0 ? f & ~1 : i.op === 1 ? f | 1 : f ^ 1);
}

/** SAHF. */
export function sahf(c: Cpu, _i: Insn): void {
  const f = arithFlags(c);
  setArithFlags(c, (f & ~0xd5) | (c.R8[1] & 0xd5));
}

/** LAHF. */
export function lahf(c: Cpu, _i: Insn): void {
  c.R8[1] = (arithFlags(c) & 0xd5) | 2;
}

/** NOP (also multi-byte 0F 1F, PAUSE, prefetches, fences, CLFLUSH, WBINVD, INVD). */
export function nop(_c: Cpu, _i: Insn): void {}

// ---------------------------------------------------------------- BCD (16/32-bit modes)

/** DAA/DAS/AAA/AAS (op 0..3). */
export function bcdAdjust(c: Cpu, i: Insn): void {
  const f = arithFlags(c);
  let al = c.R8[0];
  let cf = f & 1;
  let af = (f >> 4) & 1;
  const oldAl = al;
  const oldCf = cf;
  switch (i.op) {
    case 0: // DAA
      if ((al & 0xf) > 9 || af) {
        al = (al + 6) & 0xff;
        af = 1;
      } else af = 0;
      if (oldAl > 0x99 || oldCf) {
        al = (al + 0x60) & 0xff;
        cf = 1;
      } else cf = 0;
      c.R8[0] = al;
      break;
    case 1: // DAS: CF is the borrow of the low adjustment, or set by the high one (SDM)
      cf = 0;
      if ((al & 0xf) > 9 || af) {
        cf = oldCf | (al < 6 ? 1 : 0);
        al = (al - 6) & 0xff;
        af = 1;
      } else af = 0;
      if (oldAl > 0x99 || oldCf) {
        al = (al - 0x60) & 0xff;
        cf = 1;
      }
      c.R8[0] = al;
      break;
    case 2: // AAA
    case 3: // AAS
      if ((al & 0xf) > 9 || af) {
        if (i.op === 2) {
          c.R16[0] = (c.R16[0] + 0x106) & 0xffff;
        } else {
          c.R16[0] = (c.R16[0] - 6) & 0xffff;
          c.R8[1] = (c.R8[1] - 1) & 0xff;
        }
        af = 1;
        cf = 1;
      } else {
        af = 0;
        cf = 0;
      }
      c.R8[0] &= 0xf;
      al = c.R8[0];
      break;
  }
  let nf = (f & 0x800) | cf | (af << 4);
  const res = c.R8[0];
  if (res === 0) nf |= 0x40;
  if (res & 0x80) nf |= 0x80;
  let p = res;
  p ^= p >> 4;
  p ^= p >> 2;
  p ^= p >> 1;
  if ((p & 1) === 0) nf |= 4;
  void al;
  setArithFlags(c, nf);
}

/** AAM imm8 (op 0) and AAD imm8 (op 1). */
export function aamAad(c: Cpu, i: Insn): void {
  const base = i.imm & 0xff;
  if (i.op === 0) {
    if (base === 0) throw new GuestFault(VEC.DE);
    const al = c.R8[0];
    c.R8[1] = Math.floor(al / base);
    c.R8[0] = al % base;
  } else {
    c.R8[0] = (c.R8[0] + c.R8[1] * base) & 0xff;
    c.R8[1] = 0;
  }
  aluOp(c, 1, 1, c.R8[0], 0);
}
