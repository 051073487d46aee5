/**
 * Operand access shared by the executors: effective addresses, register and r/m reads and writes at
 * every operand size, stack pushes and pops. 64-bit values travel as (low int32 return value,
 * high half in `cpu.tHi`) so nothing allocates.
 *
 * @example
 * ```ts
 * const v = readRm(cpu, insn);           // 1/2/4-byte operands: unsigned number
 * writeRm(cpu, insn, v + 1, 0);
 * ```
 */
import { SEG } from './constants.js';
import type { Cpu } from './cpu.js';
import type { Insn } from './insn.js';
import { checkSeg } from './segments.js';

const TWO32 = 4294967296;
const TWO63 = 2 ** 63;
const TWO64 = 2 ** 64;

/**
 * Linear address of the memory operand of `i`, an access of `size` bytes (default the operand
 * size). Outside 64-bit mode, a segment that is not flat (see `updateSegCheck`) has the access
 * checked (`checkSeg`): null segment, limit, and a read of execute-only code or (`write`, see
 * {@link eaW}) a write to a segment that is not writable. @example const la = ea(cpu, insn);
 */
export function ea(c: Cpu, i: Insn, size = i.sz, write = false): number {
  const R = c.R;
  if (i.asz === 8) {
    let a = i.disp;
    if (i.base >= 0) a += R[i.base + 1] * TWO32 + (R[i.base] >>> 0);
    else if (i.ripRel) a += c.rip;
    if (i.index >= 0) a += (R[i.index + 1] * TWO32 + (R[i.index] >>> 0)) * i.scale;
    if (a >= TWO63) a -= TWO64;
    else if (a < -TWO63) a += TWO64;
    return a + c.segEff[i.seg];
  }
  if (i.asz === 4) {
    let a = i.disp;
    if (i.base >= 0) a += R[i.base];
    else if (i.ripRel) a += c.rip;
    if (i.index >= 0) a += R[i.index] * i.scale;
    a >>>= 0;
    if (c.code64) return a + c.segEff[i.seg];
    if (c.segChk[i.seg] !== 0) checkSeg(c, i.seg, a, size, write);
    return (a + c.segEff[i.seg]) >>> 0;
  }
  let a = i.disp;
  if (i.base >= 0) a += c.R16[i.base * 2];
  if (i.index >= 0) a += c.R16[i.index * 2];
  a &= 0xffff;
  if (c.segChk[i.seg] !== 0) checkSeg(c, i.seg, a, size, write);
  return (a + c.segEff[i.seg]) >>> 0;
}

/**
 * {@link ea} for an operand the instruction writes (a store or a read-modify-write): also #GP(0)
 * through a segment that is not writable. @example c.writeN(eaW(cpu, insn), 4, v, 0);
 */
export function eaW(c: Cpu, i: Insn, size = i.sz): number {
  return ea(c, i, size, true);
}

/** High half of the last 64-bit {@link eaOffset}. */
export let eaHi = 0;

/**
 * Offset part (no segment base) of the effective address, for LEA. With a 64-bit address size the
 * sum is computed exactly on 32-bit halves: returns the low half (int32), high half in {@link eaHi}.
 */
export function eaOffset(c: Cpu, i: Insn): number {
  const R = c.R;
  if (i.asz === 8) {
    let lo = i.disp >>> 0;
    let hi = i.disp < 0 ? -1 : 0;
    if (i.base >= 0) {
      lo += R[i.base] >>> 0;
      hi += R[i.base + 1];
    } else if (i.ripRel) {
      const r = c.rip;
      lo += r >>> 0;
      hi += Math.floor(r / TWO32);
    }
    if (i.index >= 0) {
      const s = i.scale;
      lo += (R[i.index] >>> 0) * s;
      hi += Math.imul(R[i.index + 1], s);
    }
    eaHi = (hi + Math.floor(lo / TWO32)) | 0;
    return lo | 0;
  }
  if (i.asz === 4) {
    let a = i.disp;
    if (i.base >= 0) a += R[i.base];
    else if (i.ripRel) a += c.rip;
    if (i.index >= 0) a += R[i.index] * i.scale;
    return a >>> 0;
  }
  let a = i.disp;
  if (i.base >= 0) a += c.R16[i.base * 2];
  if (i.index >= 0) a += c.R16[i.index * 2];
  return a & 0xffff;
}

/** Reads register `r` (byte index `rb` for 8-bit) at size `sz`. 8 bytes: low half, high in tHi. */
export function getR(c: Cpu, r: number, rb: number, sz: number): number {
  switch (sz) {
    case 1:
      return c.R8[rb];
    case 2:
      return c.R16[r * 4];
    case 4:
      return c.R[r * 2] >>> 0;
    default:
      c.tHi = c.R[r * 2 + 1];
      return c.R[r * 2];
  }
}

/** Writes register `r` at size `sz` (32-bit writes zero the upper half). */
export function setR(c: Cpu, r: number, rb: number, sz: number, v: number, hi: number): void {
  switch (sz) {
    case 1:
      c.R8[rb] = v;
      return;
    case 2:
      c.R16[r * 4] = v;
      return;
    case 4:
      c.R[r * 2] = v;
      c.R[r * 2 + 1] = 0;
      return;
    default:
      c.R[r * 2] = v;
      c.R[r * 2 + 1] = hi;
  }
}

/** Reads the r/m operand. @example readRm(cpu, insn) */
export function readRm(c: Cpu, i: Insn): number {
  if (!i.mem) return getR(c, i.rm, i.rmB, i.sz);
  return c.readN(ea(c, i), i.sz);
}

/** Writes the r/m operand. @example writeRm(cpu, insn, 1, 0) */
export function writeRm(c: Cpu, i: Insn, v: number, hi: number): void {
  if (!i.mem) setR(c, i.rm, i.rmB, i.sz, v, hi);
  else c.writeN(eaW(c, i), i.sz, v, hi);
}

/** Reads the reg operand. */
export function readReg(c: Cpu, i: Insn): number {
  return getR(c, i.reg, i.regB, i.sz);
}

/** Writes the reg operand. */
export function writeReg(c: Cpu, i: Insn, v: number, hi: number): void {
  setR(c, i.reg, i.regB, i.sz, v, hi);
}

/** Stack pointer as a number (width per the stack size). */
export function getSp(c: Cpu): number {
  switch (c.stackSize) {
    case 8:
      return c.R[9] * TWO32 + (c.R[8] >>> 0);
    case 4:
      return c.R[8] >>> 0;
    default:
      return c.R16[16];
  }
}

/** Sets the stack pointer (width per the stack size; 16-bit keeps the upper bits). */
export function setSp(c: Cpu, v: number): void {
  switch (c.stackSize) {
    case 8:
      c.R[8] = v | 0;
      c.R[9] = Math.floor(v / TWO32) | 0;
      return;
    case 4:
      c.R[8] = v | 0;
      c.R[9] = 0;
      return;
    default:
      c.R16[16] = v;
  }
}

/** Linear address of a stack access of `sz` bytes at `sp` (SS checks outside 64-bit mode). */
export function stackLinear(c: Cpu, sp: number, sz: number, write: boolean): number {
  if (c.stackSize === 8) return sp;
  if (c.segChk[SEG.SS] !== 0) checkSeg(c, SEG.SS, sp, sz, write);
  return (c.segEff[SEG.SS] + sp) >>> 0;
}

/** Pushes a value of `sz` bytes (8: `v` low, `hi` high). @example push(cpu, 8, lo, hi) */
export function push(c: Cpu, sz: number, v: number, hi: number): void {
  let sp = getSp(c) - sz;
  if (c.stackSize === 4) sp >>>= 0;
  else if (c.stackSize === 2) sp &= 0xffff;
  c.writeN(stackLinear(c, sp, sz, true), sz, v, hi);
  setSp(c, sp);
}

/** Pops `sz` bytes (8: returns low, high in tHi). @example const v = pop(cpu, 4); */
export function pop(c: Cpu, sz: number): number {
  const sp = getSp(c);
  const v = c.readN(stackLinear(c, sp, sz, false), sz);
  let nsp = sp + sz;
  if (c.stackSize === 4) nsp >>>= 0;
  else if (c.stackSize === 2) nsp &= 0xffff;
  setSp(c, nsp);
  return v;
}

/** Reads `sz` bytes at stack offset `off` from SP without popping. */
export function peek(c: Cpu, sz: number, off: number): number {
  let sp = getSp(c) + off;
  if (c.stackSize === 4) sp >>>= 0;
  else if (c.stackSize === 2) sp &= 0xffff;
  return c.readN(stackLinear(c, sp, sz, false), sz);
}

/** Adds to SP with the stack width's wrap-around. */
export function addSp(c: Cpu, n: number): void {
  let sp = getSp(c) + n;
  if (c.stackSize === 4) sp >>>= 0;
  else if (c.stackSize === 2) sp &= 0xffff;
  setSp(c, pop0(sp));
}
function pop0(v: number): number {
  return v;
}

/** Masks a value to `sz` bytes (1, 2, 4). */
export function mask(v: number, sz: number): number {
  return sz === 4 ? v >>> 0 : sz === 2 ? v & 0xffff : v & 0xff;
}

/** Sign-extends a `sz`-byte value to int32. */
export function sext(v: number, sz: number): number {
  return sz === 4 ? v | 0 : sz === 2 ? (v << 16) >> 16 : (v << 24) >> 24;
}
