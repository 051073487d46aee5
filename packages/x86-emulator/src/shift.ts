/**
 * Shifts and rotates: ROL/ROR/RCL/RCR/SHL/SHR/SAL/SAR by 1, CL or imm8, and SHLD/SHRD. Flags follow
 * the manuals where defined; where they are undefined (OF for counts > 1, AF) the values are those
 * of the formula used for count 1 and AF = 0.
 *
 * @example
 * ```ts
 * shl64(1, 0, 40); // low 0, high (in shiftHi) 0x100
 * ```
 */
import type { Cpu } from './cpu.js';
import { arithFlags, F_PRESET, setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { eaW, getR, setR } from './operands.js';

/** High half of the last 64-bit shift helper result. */
export let shiftHi = 0;

/** 64-bit logical left shift by 0..63 on halves. */
export function shl64(lo: number, hi: number, n: number): number {
  if (n === 0) {
    shiftHi = hi;
    return lo;
  }
  if (n >= 32) {
    shiftHi = lo << (n - 32);
    return 0;
  }
  shiftHi = (hi << n) | (lo >>> (32 - n));
  return lo << n;
}
/** 64-bit logical right shift by 0..63. */
export function shr64(lo: number, hi: number, n: number): number {
  if (n === 0) {
    shiftHi = hi;
    return lo;
  }
  if (n >= 32) {
    shiftHi = 0;
    return (hi >>> (n - 32)) | 0;
  }
  shiftHi = hi >>> n;
  return (lo >>> n) | (hi << (32 - n)) | 0;
}
/** 64-bit arithmetic right shift by 0..63. */
export function sar64(lo: number, hi: number, n: number): number {
  if (n === 0) {
    shiftHi = hi;
    return lo;
  }
  if (n >= 32) {
    shiftHi = hi >> 31;
    return hi >> (n - 32);
  }
  shiftHi = hi >> n;
  return (lo >>> n) | (hi << (32 - n)) | 0;
}

function preset(c: Cpu, sz: number, res: number, resH: number, cf: number, of: number): void {
  c.fOp = F_PRESET;
  c.fSz = sz;
  c.fRes = res;
  c.fResH = resH;
  c.fCF = cf;
  c.fOF = of;
  c.fAF = 0;
}

/**
 * Sets CF and OF (0/1) and keeps the other arithmetic flags, as ROL/ROR do.
 * @example rotateFlags(cpu, 1, 0)
 */
export function rotateFlags(c: Cpu, cf: number, of: number): void {
  setCfOf(c, cf, of);
}

function setCfOf(c: Cpu, cf: number, of: number): void {
  const f = arithFlags(c);
  setArithFlags(c, (f & ~0x801) | cf | (of << 11));
}

function big(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Group 2: i.op = 0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR, 6 SAL, 7 SAR; count in imm or CL (imm2 = 1). */
export function shiftE(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const bits = sz * 8;
  const cnt = (i.imm2 === 1 ? c.R8[8] : i.imm) & (sz === 8 ? 63 : 31);
  if (cnt === 0) {
    // still touches memory (permission checks); no flags change; a 32-bit register is still
    // written (zero-extended), as on hardware
    if (i.mem) c.readW(eaW(c, i), sz);
    else if (sz === 4) c.R[i.rm * 2 + 1] = 0;
    return;
  }
  const la = i.mem ? eaW(c, i) : 0;
  const a = i.mem ? c.readW(la, sz) : getR(c, i.rm, i.rmB, sz);
  const ah = c.tHi;
  let r = 0;
  let rh = 0;
  const op = i.op;
  if (sz === 8) {
    switch (op) {
      case 0:
      case 1: {
        const n = op === 0 ? cnt : 64 - cnt;
        const l1 = shl64(a, ah, n);
        const h1 = shiftHi;
        const l2 = shr64(a, ah, 64 - n);
        r = l1 | l2;
        rh = h1 | shiftHi;
        if (op === 0) setCfOf(c, r & 1, ((rh >>> 31) ^ r) & 1);
        else setCfOf(c, rh >>> 31, ((rh >>> 31) ^ (rh >>> 30)) & 1);
        break;
      }
      case 2:
      case 3: {
        let v = big(a, ah);
        let cf = BigInt(arithFlags(c) & 1);
        for (let k = 0; k < cnt; k++) {
          if (op === 2) {
            const out = v >> 63n;
            v = ((v << 1n) | cf) & 0xffffffffffffffffn;
            cf = out;
          } else {
            const out = v & 1n;
            v = (v >> 1n) | (cf << 63n);
            cf = out;
          }
        }
        r = Number(v & 0xffffffffn) | 0;
        rh = Number(v >> 32n) | 0;
        const cfn = Number(cf);
        if (op === 2) setCfOf(c, cfn, ((rh >>> 31) ^ cfn) & 1);
        else setCfOf(c, cfn, ((rh >>> 31) ^ (rh >>> 30)) & 1);
        break;
      }
      case 4:
      case 6: {
        r = shl64(a, ah, cnt);
        rh = shiftHi;
        const cf = cnt > 32 ? (a >>> (64 - cnt)) & 1 : cnt === 32 ? ah & 1 : (ah >>> (32 - cnt)) & 1;
        preset(c, 8, r, rh, cf, ((rh >>> 31) ^ cf) & 1);
        break;
      }
      case 5: {
        r = shr64(a, ah, cnt);
        rh = shiftHi;
        const cf = cnt > 32 ? (ah >>> (cnt - 33)) & 1 : cnt === 32 ? a >>> 31 : (a >>> (cnt - 1)) & 1;
        preset(c, 8, r, rh, cf, ah >>> 31);
        break;
      }
      default: {
        r = sar64(a, ah, cnt);
        rh = shiftHi;
        const cf = cnt > 32 ? (ah >> (cnt - 33)) & 1 : cnt === 32 ? a >>> 31 : (a >>> (cnt - 1)) & 1;
        preset(c, 8, r, rh, cf, 0);
      }
    }
  } else {
    const m = sz === 4 ? 0xffffffff : (1 << bits) - 1;
    const msb = bits - 1;
    switch (op) {
      case 0: {
        const n = cnt % bits;
        r = n === 0 ? a : ((a << n) | (a >>> (bits - n))) & m;
        r >>>= 0;
        const cf = r & 1;
        setCfOf(c, cf, ((r >>> msb) ^ cf) & 1);
        break;
      }
      case 1: {
        const n = cnt % bits;
        r = n === 0 ? a : ((a >>> n) | (a << (bits - n))) & m;
        r >>>= 0;
        setCfOf(c, (r >>> msb) & 1, ((r >>> msb) ^ (r >>> (msb - 1))) & 1);
        break;
      }
      case 2:
      case 3: {
        const n = sz <= 2 ? cnt % (bits + 1) : cnt;
        let cf = arithFlags(c) & 1;
        let v = a;
        for (let k = 0; k < n; k++) {
          if (op === 2) {
            const out = (v >>> msb) & 1;
            v = ((v << 1) | cf) & m;
            cf = out;
          } else {
            const out = v & 1;
            v = (v >>> 1) | (cf << msb);
            cf = out;
          }
          v >>>= 0;
        }
        r = v;
        if (op === 2) setCfOf(c, cf, ((r >>> msb) ^ cf) & 1);
        else setCfOf(c, cf, ((r >>> msb) ^ (r >>> (msb - 1))) & 1);
        break;
      }
      case 4:
      case 6: {
        r = cnt >= 32 ? 0 : (a << cnt) & m;
        r >>>= 0;
        const cf = cnt <= bits ? (a >>> (bits - cnt)) & 1 : 0;
        preset(c, sz, r, 0, cf, ((r >>> msb) ^ cf) & 1);
        break;
      }
      case 5: {
        r = cnt >= bits ? 0 : a >>> cnt;
        const cf = cnt <= bits ? (a >>> (cnt - 1)) & 1 : 0;
        preset(c, sz, r, 0, cf, (a >>> msb) & 1);
        break;
      }
      default: {
        const sa = sz === 4 ? a | 0 : sz === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
        r = (sa >> Math.min(cnt, 31)) & m;
        r >>>= 0;
        const cf = (sa >> Math.min(cnt - 1, 31)) & 1;
        preset(c, sz, r, 0, cf, 0);
      }
    }
  }
  if (i.mem) c.writeN(la, sz, r, rh);
  else setR(c, i.rm, i.rmB, sz, r, rh);
}

/** SHLD (op 0) / SHRD (op 1) r/m, reg, imm8 or CL (imm2 = 1). */
export function shxd(c: Cpu, i: Insn): void {
  const sz = i.sz;
  const bits = sz * 8;
  const cnt = (i.imm2 === 1 ? c.R8[8] : i.imm) & (sz === 8 ? 63 : 31);
  const la = i.mem ? eaW(c, i) : 0;
  const a = i.mem ? c.readW(la, sz) : getR(c, i.rm, i.rmB, sz);
  const ah = c.tHi;
  if (cnt === 0) {
    if (!i.mem && sz === 4) c.R[i.rm * 2 + 1] = 0;
    return;
  }
  const s = getR(c, i.reg, 0, sz);
  const sh = c.tHi;
  const W = BigInt(bits);
  const M = (1n << W) - 1n;
  const dv = sz === 8 ? big(a, ah) : BigInt(a >>> 0);
  const sv = sz === 8 ? big(s, sh) : BigInt(s >>> 0);
  const n = BigInt(cnt);
  let res: bigint;
  let cf: number;
  if (i.op === 0) {
    // concatenate dest:src (2*bits), shift left, take the upper half
    const cat = (dv << W) | sv;
    const sh2 = cnt > bits ? (cat << n) | (dv << (n - W)) : cat << n; // 16-bit counts > 16: hardware-specific
    res = (sh2 >> W) & M;
    cf = Number((cat >> (2n * W - n)) & 1n);
  } else {
    const cat = (sv << W) | dv;
    res = (cat >> n) & M;
    cf = Number((cat >> (n - 1n)) & 1n);
  }
  const msbRes = Number((res >> (W - 1n)) & 1n);
  const msbA = Number((dv >> (W - 1n)) & 1n);
  const r = Number(res & 0xffffffffn) | 0;
  const rh = sz === 8 ? Number(res >> 32n) | 0 : 0;
  c.fOp = F_PRESET;
  c.fSz = sz;
  c.fRes = sz === 8 ? r : r >>> 0;
  c.fResH = rh;
  c.fCF = cf;
  c.fOF = msbRes ^ msbA;
  c.fAF = 0;
  if (i.mem) c.writeN(la, sz, r, rh);
  else setR(c, i.rm, i.rmB, sz, sz === 4 ? r >>> 0 : r, rh);
}
