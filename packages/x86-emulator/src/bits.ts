/**
 * Bit instructions and atomics: BT/BTS/BTR/BTC, BSF/BSR (TZCNT/LZCNT encodings execute as BSF/BSR
 * since BMI1/ABM are not advertised), POPCNT, XADD, CMPXCHG, CMPXCHG8B/16B.
 *
 * LOCK: this CPU is single-threaded and executes each instruction to completion before anything
 * else can observe memory, so every locked read-modify-write is atomic by construction.
 *
 * @example
 * ```ts
 * // lock cmpxchg [rdi], rsi  ->  cmpxchg(cpu, insn)
 * ```
 */

import { aluOp, aluOp64 } from './alu.js';
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { arithFlags, F_PRESET, setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { ea, eaW, getR, setR } from './operands.js';

/** BT/BTS/BTR/BTC r/m, reg (imm2 = 0) or r/m, imm8 (imm2 = 1). i.op: 0 BT, 1 BTS, 2 BTR, 3 BTC. */
export function btOp(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const bits = sz * 8;
  let off: number;
  let bit: number;
  if (i.imm2 === 1) {
    off = 0;
    bit = i.imm & (bits - 1);
  } else {
    const v = getR(c, i.reg, 0, sz);
    bit = v & (bits - 1);
    // operand-sized units to skip: (signed offset) >> log2(bits), on halves
    off = sz === 8 ? c.tHi * 67108864 + (v >>> 6) : sz === 4 ? (v | 0) >> 5 : ((v << 16) >> 16) >> 4;
  }
  let la = 0;
  let a: number;
  let ah = 0;
  if (i.mem) {
    la = (i.op === 0 ? ea(c, i) : eaW(c, i)) + off * sz;
    if (!c.code64) la >>>= 0;
    a = i.op === 0 ? c.readN(la, sz) : c.readW(la, sz);
    ah = c.tHi;
  } else {
    a = getR(c, i.rm, i.rmB, sz);
    ah = c.tHi;
  }
  let cf: number;
  if (sz === 8) {
    const w = bit >= 32 ? ah : a;
    const b = bit & 31;
    cf = (w >>> b) & 1;
    let nw = w;
    if (i.op === 1) nw = w | (1 << b);
    else if (i.op === 2) nw = w & ~(1 << b);
    else if (i.op === 3) nw = w ^ (1 << b);
    if (bit >= 32) ah = nw;
    else a = nw;
  } else {
    cf = (a >>> bit) & 1;
    if (i.op === 1) a |= 1 << bit;
    else if (i.op === 2) a &= ~(1 << bit);
    else if (i.op === 3) a ^= 1 << bit;
    if (sz === 4) a >>>= 0;
  }
  setArithFlags(c, (arithFlags(c) & ~1) | cf);
  if (i.op === 0) return;
  if (i.mem) c.writeN(la, sz, a, ah);
  else setR(c, i.rm, i.rmB, sz, a, ah);
}

/** BSF (op 0) / BSR (op 1). Zero source: ZF = 1, destination unchanged. */
export function bsfBsr(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const v = i.mem ? c.readN(ea(c, i), sz) : getR(c, i.rm, i.rmB, sz);
  const vh = sz === 8 ? c.tHi : 0;
  if ((v | vh) === 0) {
    setArithFlags(c, 0x40);
    return;
  }
  let idx: number;
  if (i.op === 0) {
    idx = v !== 0 ? 31 - Math.clz32(v & -v) : 32 + 31 - Math.clz32(vh & -vh);
  } else {
    idx = vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(v);
  }
  setArithFlags(c, 0);
  setR(c, i.reg, 0, sz, idx, 0);
}

function pop32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** POPCNT reg, r/m. */
export function popcnt(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const v = i.mem ? c.readN(ea(c, i), sz) : getR(c, i.rm, i.rmB, sz);
  const n = pop32(v) + (sz === 8 ? pop32(c.tHi) : 0);
  setArithFlags(c, n === 0 ? 0x40 : 0);
  setR(c, i.reg, 0, sz, n, 0);
}

/** XADD r/m, reg. */
export function xadd(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const la = i.mem ? eaW(c, i) : 0;
  const a = i.mem ? c.readW(la, sz) : getR(c, i.rm, i.rmB, sz);
  const ah = c.tHi;
  const b = getR(c, i.reg, i.regB, sz);
  const bh = c.tHi;
  let r: number;
  let rh = 0;
  if (sz === 8) {
    r = aluOp64(c, 0, a, ah, b, bh);
    rh = c.tHi;
  } else r = aluOp(c, 0, sz, a, b);
  if (i.mem) c.writeN(la, sz, r, rh);
  setR(c, i.reg, i.regB, sz, a, ah);
  if (!i.mem) setR(c, i.rm, i.rmB, sz, r, rh);
}

/** CMPXCHG r/m, reg. */
export function cmpxchg(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const la = i.mem ? eaW(c, i) : 0;
  const d = i.mem ? c.readW(la, sz) : getR(c, i.rm, i.rmB, sz);
  const dh = c.tHi;
  const acc = getR(c, 0, 0, sz);
  const acch = c.tHi;
  let eq: boolean;
  if (sz === 8) {
    aluOp64(c, 7, acc, acch, d, dh);
    eq = (acc | 0) === (d | 0) && acch === dh;
  } else {
    aluOp(c, 7, sz, acc, d);
    eq = acc === d;
  }
  if (eq) {
    const s = getR(c, i.reg, i.regB, sz);
    if (i.mem) c.writeN(la, sz, s, c.tHi);
    else setR(c, i.rm, i.rmB, sz, s, c.tHi);
  } else {
    if (i.mem) c.writeN(la, sz, d, dh);
    setR(c, 0, 0, sz, d, dh);
  }
}

/** CMPXCHG8B m64 / CMPXCHG16B m128 (REX.W). */
export function cmpxchg8b(c: Cpu, i: Insn): void {
  if (!i.mem) throw new GuestFault(VEC.UD);
  const la = eaW(c, i, i.sz * 2);
  const R = c.R;
  if (i.sz === 8) {
    if (la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
    const m0 = c.readW(la, 8);
    const m0h = c.tHi;
    const m1 = c.readW(la + 8, 8);
    const m1h = c.tHi;
    if (m0 === R[0] && m0h === R[1] && m1 === R[4] && m1h === R[5]) {
      c.write64(la, R[6], R[7]);
      c.write64(la + 8, R[2], R[3]);
      setArithFlags(c, arithFlags(c) | 0x40);
    } else {
      c.write64(la, m0, m0h);
      c.write64(la + 8, m1, m1h);
      R[0] = m0;
      R[1] = m0h;
      R[4] = m1;
      R[5] = m1h;
      setArithFlags(c, arithFlags(c) & ~0x40);
    }
    return;
  }
  const lo = c.readW(la, 8);
  const hi = c.tHi;
  if (lo === R[0] && hi === R[4]) {
    c.write64(la, R[6], R[2]);
    setArithFlags(c, arithFlags(c) | 0x40);
  } else {
    c.write64(la, lo, hi);
    R[0] = lo;
    R[1] = 0;
    R[4] = hi;
    R[5] = 0;
    setArithFlags(c, arithFlags(c) & ~0x40);
  }
}
void F_PRESET;
