/**
 * MUL, IMUL (one, two and three operand forms), DIV and IDIV with #DE. 32x32 products are computed
 * exactly with 16-bit limbs; 64x64 -> 128 with 32-bit limbs; 128/64 division falls back to BigInt
 * only when the dividend does not fit in 53 bits.
 *
 * @example
 * ```ts
 * mul32(0xffffffff, 0xffffffff); // returns low 0x00000001, high in mulHi: 0xfffffffe
 * ```
 */
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { F_IMUL64, F_PRESET } from './flags.js';
import type { Insn } from './insn.js';
import { ea, readRm, setR } from './operands.js';

const TWO32 = 4294967296;
/** 2^-32: multiplying by it is exact, and faster than dividing by 2^32. */
const INV32 = 1 / TWO32;
/** High half of the last {@link mul32}. */
export let mulHi = 0;

/** Unsigned 32x32 -> 64 multiply: returns the low half (unsigned), high half in {@link mulHi}. */
export function mul32(x: number, y: number): number {
  x >>>= 0;
  y >>>= 0;
  const low = Math.imul(x, y) >>> 0;
  // the double product is within 2^12 of the exact one: rounding recovers the high half exactly
  mulHi = Math.round((x * y - low) * INV32);
  return low;
}

/** 128-bit product limbs of the last {@link mul64}. */
export const limbs = new Float64Array(4);

/** Unsigned (or signed with `signed`) 64x64 -> 128 multiply into {@link limbs} (little-endian 32-bit limbs, unsigned). */
export function mul64(al: number, ah: number, bl: number, bh: number, signed: boolean): void {
  const p0l = mul32(al, bl);
  const p0h = mulHi;
  const p1l = mul32(al, bh);
  const p1h = mulHi;
  const p2l = mul32(ah, bl);
  const p2h = mulHi;
  const p3l = mul32(ah, bh);
  const p3h = mulHi;
  limbs[0] = p0l;
  // sums of at most four 32-bit values stay exact; carries by floor(x * 2^-32), no float modulo
  const t1 = p0h + p1l + p2l;
  const c1 = Math.floor(t1 * INV32);
  limbs[1] = t1 - c1 * TWO32;
  const t2 = p1h + p2h + p3l + c1;
  const c2 = Math.floor(t2 * INV32);
  limbs[2] = t2 - c2 * TWO32;
  limbs[3] = (p3h + c2) >>> 0;
  if (signed) {
    // high 64 -= b if a < 0; -= a if b < 0
    if (ah < 0) sub64hi(bl, bh);
    if (bh < 0) sub64hi(al, ah);
  }
}

function sub64hi(lo: number, hi: number): void {
  let s = limbs[2] - (lo >>> 0);
  let borrow = 0;
  if (s < 0) {
    s += TWO32;
    borrow = 1;
  }
  limbs[2] = s;
  let t = limbs[3] - (hi >>> 0) - borrow;
  if (t < 0) t += TWO32;
  limbs[3] = t;
}

function presetFlags(c: Cpu, sz: number, res: number, resH: number, overflow: boolean): void {
  c.fOp = F_PRESET;
  c.fSz = sz;
  c.fRes = res;
  c.fResH = resH;
  c.fCF = overflow ? 1 : 0;
  c.fOF = c.fCF;
  c.fAF = 0;
}

/** MUL r/m (accumulator forms). */
export function mulE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const v = readRm(c, i);
  const vh = c.tHi;
  switch (sz) {
    case 1: {
      const r = c.R8[0] * v;
      c.R16[0] = r;
      presetFlags(c, 1, r & 0xff, 0, r > 0xff);
      return;
    }
    case 2: {
      const r = c.R16[0] * v;
      c.R16[0] = r & 0xffff;
      c.R16[8] = r >>> 16;
      presetFlags(c, 2, r & 0xffff, 0, r > 0xffff);
      return;
    }
    case 4: {
      const lo = mul32(c.R[0], v);
      const hi = mulHi;
      c.R[0] = lo | 0;
      c.R[1] = 0;
      c.R[4] = hi | 0;
      c.R[5] = 0;
      presetFlags(c, 4, lo, 0, hi !== 0);
      return;
    }
    default: {
      mul64(c.R[0], c.R[1], v, vh, false);
      c.R[0] = limbs[0] | 0;
      c.R[1] = limbs[1] | 0;
      c.R[4] = limbs[2] | 0;
      c.R[5] = limbs[3] | 0;
      presetFlags(c, 8, limbs[0] | 0, limbs[1] | 0, limbs[2] !== 0 || limbs[3] !== 0);
    }
  }
}

/** IMUL r/m (one-operand, accumulator forms). */
export function imul1(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const v = readRm(c, i);
  const vh = c.tHi;
  switch (sz) {
    case 1: {
      const r = ((c.R8[0] << 24) >> 24) * ((v << 24) >> 24);
      c.R16[0] = r & 0xffff;
      presetFlags(c, 1, r & 0xff, 0, r !== (r << 24) >> 24);
      return;
    }
    case 2: {
      const r = ((c.R16[0] << 16) >> 16) * ((v << 16) >> 16);
      c.R16[0] = r & 0xffff;
      c.R16[8] = (r >> 16) & 0xffff;
      presetFlags(c, 2, r & 0xffff, 0, r !== (r << 16) >> 16);
      return;
    }
    case 4: {
      const a = c.R[0];
      const lo = mul32(a, v) | 0;
      let hi = mulHi;
      if (a < 0) hi -= v >>> 0;
      if ((v | 0) < 0) hi -= a >>> 0;
      hi |= 0;
      c.R[0] = lo;
      c.R[1] = 0;
      c.R[4] = hi;
      c.R[5] = 0;
      presetFlags(c, 4, lo >>> 0, 0, hi !== lo >> 31);
      return;
    }
    default: {
      mul64(c.R[0], c.R[1], v, vh, true);
      const l1 = limbs[1] | 0;
      c.R[0] = limbs[0] | 0;
      c.R[1] = l1;
      c.R[4] = limbs[2] | 0;
      c.R[5] = limbs[3] | 0;
      const s = l1 >> 31;
      presetFlags(c, 8, limbs[0] | 0, l1, (limbs[2] | 0) !== s || (limbs[3] | 0) !== s);
    }
  }
}

/** IMUL reg, r/m (0F AF) and IMUL reg, r/m, imm (69, 6B: i.op = 1). */
export function imul2(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const a = readRm(c, i);
  const ah = c.tHi;
  let bl: number;
  let bh: number;
  if (i.op === 1) {
    bl = i.imm;
    bh = i.immH;
  } else {
    bl = sz === 8 ? c.R[i.reg * 2] : sz === 4 ? c.R[i.reg * 2] : c.R16[i.reg * 4];
    bh = c.R[i.reg * 2 + 1];
  }
  switch (sz) {
    case 2: {
      const r = ((a << 16) >> 16) * ((bl << 16) >> 16);
      setR(c, i.reg, 0, 2, r & 0xffff, 0);
      presetFlags(c, 2, r & 0xffff, 0, r !== (r << 16) >> 16);
      return;
    }
    case 4: {
      const lo = mul32(a, bl) | 0;
      let hi = mulHi;
      if ((a | 0) < 0) hi -= bl >>> 0;
      if ((bl | 0) < 0) hi -= a >>> 0;
      hi |= 0;
      setR(c, i.reg, 0, 4, lo, 0);
      presetFlags(c, 4, lo >>> 0, 0, hi !== lo >> 31);
      return;
    }
    default: {
      // low 64 bits now; CF/OF (which need the high half) only when a flag is read
      const lo = Math.imul(a, bl);
      const au = a >>> 0;
      const bu = bl >>> 0;
      const hi = (Math.round((au * bu - (lo >>> 0)) / TWO32) + Math.imul(a, bh) + Math.imul(ah, bl)) | 0;
      setR(c, i.reg, 0, 8, lo, hi);
      c.fOp = F_IMUL64;
      c.fSz = 8;
      c.fA = a | 0;
      c.fAH = ah | 0;
      c.fB = bl | 0;
      c.fBH = bh | 0;
      c.fRes = lo;
      c.fResH = hi;
    }
  }
}

/** CF = OF for a lazily recorded 64-bit IMUL: whether the signed product overflows 64 bits. */
export function imul64Overflow(c: Cpu): number {
  mul64(c.fA, c.fAH, c.fB, c.fBH, true);
  const s = (limbs[1] | 0) >> 31;
  return (limbs[2] | 0) !== s || (limbs[3] | 0) !== s ? 1 : 0;
}

function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** DIV r/m (op 6) and IDIV r/m (op 7). */
export function divE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const signed = i.op === 7;
  let d = i.mem ? c.readN(ea(c, i), sz) : readRm(c, i);
  const dh = c.tHi;
  switch (sz) {
    case 1: {
      const n = signed ? (c.R16[0] << 16) >> 16 : c.R16[0];
      if (signed) d = (d << 24) >> 24;
      if (d === 0) throw new GuestFault(VEC.DE);
      const q = Math.trunc(n / d);
      const r = n - q * d;
      if (signed ? q > 127 || q < -128 : q > 255) throw new GuestFault(VEC.DE);
      c.R8[0] = q & 0xff;
      c.R8[1] = r & 0xff;
      return;
    }
    case 2: {
      let n = c.R16[8] * 65536 + c.R16[0];
      if (signed) {
        n |= 0;
        d = (d << 16) >> 16;
      }
      if (d === 0) throw new GuestFault(VEC.DE);
      const q = Math.trunc(n / d);
      const r = n - q * d;
      if (signed ? q > 32767 || q < -32768 : q > 65535) throw new GuestFault(VEC.DE);
      c.R16[0] = q & 0xffff;
      c.R16[8] = r & 0xffff;
      return;
    }
    case 4: {
      if (d === 0) throw new GuestFault(VEC.DE);
      let q: number;
      let r: number;
      if (!signed) {
        const n = (c.R[4] >>> 0) * TWO32 + (c.R[0] >>> 0);
        if (n < 2 ** 53) {
          q = Math.floor(n / d);
          r = n - q * d;
          if (r < 0) {
            q--;
            r += d;
          } else if (r >= d) {
            q++;
            r -= d;
          }
        } else {
          const bn = u64(c.R[0], c.R[4]);
          const bq = bn / BigInt(d);
          q = Number(bq);
          r = Number(bn - bq * BigInt(d));
        }
        if (q > 0xffffffff) throw new GuestFault(VEC.DE);
      } else {
        const bn = BigInt.asIntN(64, u64(c.R[0], c.R[4]));
        const bd = BigInt(d | 0);
        const bq = bn / bd;
        if (bq > 0x7fffffffn || bq < -0x80000000n) throw new GuestFault(VEC.DE);
        q = Number(bq);
        r = Number(bn - bq * bd);
      }
      c.R[0] = q | 0;
      c.R[1] = 0;
      c.R[4] = r | 0;
      c.R[5] = 0;
      return;
    }
    default: {
      const dl = d;
      if ((dl | dh) === 0) throw new GuestFault(VEC.DE);
      if (!signed && c.R[4] === 0 && c.R[5] === 0 && c.R[1] >>> 0 < 0x200000 && dh >>> 0 < 0x200000) {
        const n = (c.R[1] >>> 0) * TWO32 + (c.R[0] >>> 0);
        const dd = (dh >>> 0) * TWO32 + (dl >>> 0);
        let q = Math.floor(n / dd);
        let r = n - q * dd;
        if (r < 0) {
          q--;
          r += dd;
        } else if (r >= dd) {
          q++;
          r -= dd;
        }
        c.R[0] = q | 0;
        c.R[1] = Math.floor(q / TWO32) | 0;
        c.R[4] = r | 0;
        c.R[5] = Math.floor(r / TWO32) | 0;
        return;
      }
      let bn = (u64(c.R[4], c.R[5]) << 64n) | u64(c.R[0], c.R[1]);
      let bd = u64(dl, dh);
      if (signed) {
        bn = BigInt.asIntN(128, bn);
        bd = BigInt.asIntN(64, bd);
      }
      const bq = bn / bd;
      const br = bn - bq * bd;
      if (signed ? bq > 0x7fffffffffffffffn || bq < -0x8000000000000000n : bq > 0xffffffffffffffffn)
        throw new GuestFault(VEC.DE);
      const uq = BigInt.asUintN(64, bq);
      const ur = BigInt.asUintN(64, br);
      c.R[0] = Number(uq & 0xffffffffn) | 0;
      c.R[1] = Number(uq >> 32n) | 0;
      c.R[4] = Number(ur & 0xffffffffn) | 0;
      c.R[5] = Number(ur >> 32n) | 0;
    }
  }
}
