/**
 * SSE and SSE2: moves, logic, integer and floating-point arithmetic, compares, shuffles, unpacks,
 * packs, shifts, conversions, MOVMSK/PMOVMSKB, LDMXCSR/STMXCSR and FXSAVE/FXRSTOR (exact 512-byte
 * layout). XMM registers live in `cpu.xmm` (16 x 4 dwords) with typed-array views per lane width.
 *
 * The MMX forms (no 66 prefix on the integer opcodes) and the MMX/XMM conversions go to `mmx.ts`.
 * SIMD floating-point exceptions are treated as masked; DAZ/FTZ are ignored.
 *
 * @example
 * ```ts
 * // 66 0f ef c0: pxor xmm0, xmm0
 * ```
 */
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { MMX_OPS, mmx } from './mmx.js';
import { ea, eaW, getR, setR } from './operands.js';

const tmpBuf = new ArrayBuffer(32);
const T8 = new Uint8Array(tmpBuf);
const TI8 = new Int8Array(tmpBuf);
const T16 = new Uint16Array(tmpBuf);
const TI16 = new Int16Array(tmpBuf);
const T32 = new Int32Array(tmpBuf);
const TU32 = new Uint32Array(tmpBuf);
const TF32 = new Float32Array(tmpBuf);
const TF64 = new Float64Array(tmpBuf);
const resBuf = new ArrayBuffer(16);
const R8 = new Uint8Array(resBuf);
const R32 = new Int32Array(resBuf);
const RI8 = new Int8Array(resBuf);
const RU16 = new Uint16Array(resBuf);
const RI16 = new Int16Array(resBuf);

/** The XMM array the views below are over (each CPU's own; in the WebAssembly state area when it has one). */
let viewOf: Int32Array | null = null;
let X8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
let XI8: Int8Array<ArrayBufferLike> = new Int8Array(0);
let X16: Uint16Array<ArrayBufferLike> = new Uint16Array(0);
let XI16: Int16Array<ArrayBufferLike> = new Int16Array(0);
let X32: Int32Array<ArrayBufferLike> = new Int32Array(0);
let XU32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let XF32: Float32Array<ArrayBufferLike> = new Float32Array(0);
let XF64: Float64Array<ArrayBufferLike> = new Float64Array(0);

function views(c: Cpu): void {
  const x = c.xmm;
  if (viewOf === x) return;
  viewOf = x;
  const b = x.buffer;
  const o = x.byteOffset;
  X8 = new Uint8Array(b, o, 256);
  XI8 = new Int8Array(b, o, 256);
  X16 = new Uint16Array(b, o, 128);
  XI16 = new Int16Array(b, o, 128);
  X32 = new Int32Array(b, o, 64);
  XU32 = new Uint32Array(b, o, 64);
  XF32 = new Float32Array(b, o, 64);
  XF64 = new Float64Array(b, o, 32);
}

function checkSse(c: Cpu): void {
  if ((c.cr0 & 4) !== 0 || (c.cr4 & (1 << 9)) === 0) throw new GuestFault(VEC.UD);
  if ((c.cr0 & 8) !== 0) throw new GuestFault(VEC.NM);
}

/** Loads the 128-bit source operand into the temp buffer (T*). `align` checks 16-byte alignment. */
function src128(c: Cpu, i: Insn, align: boolean): void {
  if (!i.mem) {
    const o = i.rm * 4;
    T32[0] = X32[o];
    T32[1] = X32[o + 1];
    T32[2] = X32[o + 2];
    T32[3] = X32[o + 3];
    return;
  }
  const la = ea(c, i, 16);
  if (align && la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
  T32[0] = c.read64(la);
  T32[1] = c.tHi;
  T32[2] = c.read64(la + 8);
  T32[3] = c.tHi;
}
/** Loads a 64-bit source (low qword of xmm or m64) into T32[0..1]. */
function src64(c: Cpu, i: Insn): void {
  if (!i.mem) {
    T32[0] = X32[i.rm * 4];
    T32[1] = X32[i.rm * 4 + 1];
    return;
  }
  T32[0] = c.read64(ea(c, i, 8));
  T32[1] = c.tHi;
}
function src32(c: Cpu, i: Insn): void {
  T32[0] = i.mem ? c.read32(ea(c, i, 4)) : X32[i.rm * 4];
}
function store128(c: Cpu, i: Insn, r: number, align: boolean): void {
  const o = r * 4;
  if (!i.mem) {
    const d = i.rm * 4;
    X32[d] = X32[o];
    X32[d + 1] = X32[o + 1];
    X32[d + 2] = X32[o + 2];
    X32[d + 3] = X32[o + 3];
    return;
  }
  const la = eaW(c, i, 16);
  if (align && la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
  c.write64(la, X32[o], X32[o + 1]);
  c.write64(la + 8, X32[o + 2], X32[o + 3]);
}
function setDst(r: number): void {
  const o = r * 4;
  X32[o] = R32[0];
  X32[o + 1] = R32[1];
  X32[o + 2] = R32[2];
  X32[o + 3] = R32[3];
}

function rne(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
function roundMx(c: Cpu, v: number, trunc: boolean): number {
  if (trunc) return Math.trunc(v);
  switch ((c.mxcsr >> 13) & 3) {
    case 0:
      return rne(v);
    case 1:
      return Math.floor(v);
    case 2:
      return Math.ceil(v);
    default:
      return Math.trunc(v);
  }
}
function cvtToInt(c: Cpu, v: number, trunc: boolean, bits: number): number {
  if (Number.isNaN(v)) return -(2 ** (bits - 1));
  const r = roundMx(c, v, trunc);
  if (r >= 2 ** (bits - 1) || r < -(2 ** (bits - 1))) return -(2 ** (bits - 1));
  return r;
}

function fop(op: number, a: number, b: number): number {
  switch (op) {
    case 0x58:
      return a + b;
    case 0x59:
      return a * b;
    case 0x5c:
      return a - b;
    case 0x5d:
      return Math.min(a, b);
    case 0x5e:
      return a / b;
    case 0x5f:
      return Math.max(a, b);
    default:
      return Math.sqrt(b);
  }
}

/**
 * Scalar/packed float op with x86 NaN rules: a NaN operand propagates (first operand first, quieted);
 * an invalid operation on non-NaN operands yields the default NaN (negative quiet NaN).
 */
function f64op(op: number, di: number, si: number): void {
  const a = XF64[di];
  const b = TF64[si];
  if (Number.isNaN(a) || Number.isNaN(b)) {
    const fromDst = op !== 0x51 && Number.isNaN(a) && !(op === 0x5d || op === 0x5f);
    if (op === 0x5d || op === 0x5f) {
      X32[di * 2] = T32[si * 2];
      X32[di * 2 + 1] = T32[si * 2 + 1];
      return;
    }
    if (!fromDst) {
      X32[di * 2] = T32[si * 2];
      X32[di * 2 + 1] = T32[si * 2 + 1] | 0x80000;
    } else X32[di * 2 + 1] |= 0x80000;
    return;
  }
  const r = fop(op, a, b);
  if (Number.isNaN(r)) {
    X32[di * 2] = 0;
    X32[di * 2 + 1] = 0xfff80000 | 0;
    return;
  }
  XF64[di] = r;
}
function f32op(op: number, di: number, si: number): void {
  const a = XF32[di];
  const b = TF32[si];
  if (Number.isNaN(a) || Number.isNaN(b)) {
    if (op === 0x5d || op === 0x5f || op === 0x51 || !Number.isNaN(a))
      X32[di] = T32[si] | (op === 0x5d || op === 0x5f ? 0 : 0x400000);
    else X32[di] |= 0x400000;
    return;
  }
  const r = fop(op, a, b);
  if (Number.isNaN(r)) {
    X32[di] = 0xffc00000 | 0;
    return;
  }
  XF32[di] = r;
}

function cmpPred(p: number, a: number, b: number): boolean {
  const un = Number.isNaN(a) || Number.isNaN(b);
  switch (p & 7) {
    case 0:
      return a === b;
    case 1:
      return a < b;
    case 2:
      return a <= b;
    case 3:
      return un;
    case 4:
      return !(a === b);
    case 5:
      return !(a < b);
    case 6:
      return !(a <= b);
    default:
      return !un;
  }
}

function satS8(v: number): number {
  return v > 127 ? 127 : Math.max(v, -128);
}
function satU8(v: number): number {
  return v > 255 ? 255 : Math.max(v, 0);
}
function satS16(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}
function satU16(v: number): number {
  return v > 65535 ? 65535 : Math.max(v, 0);
}

/** Packed integer op on dst (xmm i.reg) and src (T*) into R*; returns false if unknown. */
function packedInt(c: Cpu, opc: number, d: number, i: Insn): boolean {
  const b = d * 16;
  switch (opc) {
    case 0x60:
    case 0x68:
      for (let k = 0; k < 8; k++) {
        const s = opc === 0x68 ? 8 : 0;
        R8[2 * k] = X8[b + s + k];
        R8[2 * k + 1] = T8[s + k];
      }
      return true;
    case 0x61:
    case 0x69:
      for (let k = 0; k < 4; k++) {
        const s = opc === 0x69 ? 4 : 0;
        RU16[2 * k] = X16[d * 8 + s + k];
        RU16[2 * k + 1] = T16[s + k];
      }
      return true;
    case 0x62:
    case 0x6a: {
      const s = opc === 0x6a ? 2 : 0;
      R32[0] = X32[d * 4 + s];
      R32[1] = T32[s];
      R32[2] = X32[d * 4 + s + 1];
      R32[3] = T32[s + 1];
      return true;
    }
    case 0x6c:
    case 0x6d: {
      const s = opc === 0x6d ? 2 : 0;
      R32[0] = X32[d * 4 + s];
      R32[1] = X32[d * 4 + s + 1];
      R32[2] = T32[s];
      R32[3] = T32[s + 1];
      return true;
    }
    case 0x63:
      for (let k = 0; k < 8; k++) {
        RI8[k] = satS8(XI16[d * 8 + k]);
        RI8[k + 8] = satS8(TI16[k]);
      }
      return true;
    case 0x67:
      for (let k = 0; k < 8; k++) {
        R8[k] = satU8(XI16[d * 8 + k]);
        R8[k + 8] = satU8(TI16[k]);
      }
      return true;
    case 0x6b:
      for (let k = 0; k < 4; k++) {
        RI16[k] = satS16(X32[d * 4 + k]);
        RI16[k + 4] = satS16(T32[k]);
      }
      return true;
    case 0x64:
      for (let k = 0; k < 16; k++) R8[k] = XI8[b + k] > TI8[k] ? 0xff : 0;
      return true;
    case 0x65:
      for (let k = 0; k < 8; k++) RU16[k] = XI16[d * 8 + k] > TI16[k] ? 0xffff : 0;
      return true;
    case 0x66:
      for (let k = 0; k < 4; k++) R32[k] = X32[d * 4 + k] > T32[k] ? -1 : 0;
      return true;
    case 0x74:
      for (let k = 0; k < 16; k++) R8[k] = X8[b + k] === T8[k] ? 0xff : 0;
      return true;
    case 0x75:
      for (let k = 0; k < 8; k++) RU16[k] = X16[d * 8 + k] === T16[k] ? 0xffff : 0;
      return true;
    case 0x76:
      for (let k = 0; k < 4; k++) R32[k] = X32[d * 4 + k] === T32[k] ? -1 : 0;
      return true;
    case 0xd4:
    case 0xfb: {
      for (let q = 0; q < 2; q++) {
        const al = X32[d * 4 + 2 * q] >>> 0;
        const ah = X32[d * 4 + 2 * q + 1];
        const bl = T32[2 * q] >>> 0;
        const bh = T32[2 * q + 1];
        if (opc === 0xd4) {
          const s = al + bl;
          R32[2 * q] = s | 0;
          R32[2 * q + 1] = (ah + bh + (s > 0xffffffff ? 1 : 0)) | 0;
        } else {
          const s = al - bl;
          R32[2 * q] = s | 0;
          R32[2 * q + 1] = (ah - bh - (s < 0 ? 1 : 0)) | 0;
        }
      }
      return true;
    }
    case 0xd5:
      for (let k = 0; k < 8; k++) RI16[k] = Math.imul(XI16[d * 8 + k], TI16[k]);
      return true;
    case 0xe5:
      for (let k = 0; k < 8; k++) RI16[k] = (XI16[d * 8 + k] * TI16[k]) >> 16;
      return true;
    case 0xe4:
      for (let k = 0; k < 8; k++) RU16[k] = (X16[d * 8 + k] * T16[k]) >>> 16;
      return true;
    case 0xf4:
      for (let q = 0; q < 2; q++) {
        const a = XU32[d * 4 + 2 * q];
        const bb = TU32[2 * q];
        const al = a & 0xffff;
        const ah = a >>> 16;
        const bl = bb & 0xffff;
        const bh = bb >>> 16;
        const mid = ah * bl + al * bh;
        const low = al * bl + (mid % 65536) * 65536;
        const hi = ah * bh + Math.floor(mid / 65536) + Math.floor(low / 4294967296);
        R32[2 * q] = (low % 4294967296) | 0;
        R32[2 * q + 1] = hi | 0;
      }
      return true;
    case 0xf5:
      for (let k = 0; k < 4; k++)
        R32[k] = XI16[d * 8 + 2 * k] * TI16[2 * k] + XI16[d * 8 + 2 * k + 1] * TI16[2 * k + 1];
      return true;
    case 0xf6: {
      for (let q = 0; q < 2; q++) {
        let s = 0;
        for (let k = 0; k < 8; k++) s += Math.abs(X8[b + q * 8 + k] - T8[q * 8 + k]);
        R32[2 * q] = s;
        R32[2 * q + 1] = 0;
      }
      return true;
    }
    case 0xd8:
    case 0xd9:
    case 0xdc:
    case 0xdd:
    case 0xe8:
    case 0xe9:
    case 0xec:
    case 0xed:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfc:
    case 0xfd:
    case 0xfe:
    case 0xda:
    case 0xde:
    case 0xea:
    case 0xee:
    case 0xe0:
    case 0xe3:
      return laneArith(opc, d, b);
    case 0xdb:
      for (let k = 0; k < 4; k++) R32[k] = X32[d * 4 + k] & T32[k];
      return true;
    case 0xdf:
      for (let k = 0; k < 4; k++) R32[k] = ~X32[d * 4 + k] & T32[k];
      return true;
    case 0xeb:
      for (let k = 0; k < 4; k++) R32[k] = X32[d * 4 + k] | T32[k];
      return true;
    case 0xef:
      for (let k = 0; k < 4; k++) R32[k] = X32[d * 4 + k] ^ T32[k];
      return true;
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xe1:
    case 0xe2:
    case 0xf1:
    case 0xf2:
    case 0xf3: {
      // shift count = low 64 bits of source
      const cnt = T32[1] !== 0 ? 64 : T32[0] >>> 0;
      shiftLanes(opc, d, Math.min(cnt, 64));
      return true;
    }
  }
  void c;
  void i;
  return false;
}

function laneArith(opc: number, d: number, b: number): boolean {
  switch (opc) {
    case 0xfc:
      for (let k = 0; k < 16; k++) R8[k] = X8[b + k] + T8[k];
      break;
    case 0xfd:
      for (let k = 0; k < 8; k++) RU16[k] = X16[d * 8 + k] + T16[k];
      break;
    case 0xfe:
      for (let k = 0; k < 4; k++) R32[k] = (X32[d * 4 + k] + T32[k]) | 0;
      break;
    case 0xf8:
      for (let k = 0; k < 16; k++) R8[k] = X8[b + k] - T8[k];
      break;
    case 0xf9:
      for (let k = 0; k < 8; k++) RU16[k] = X16[d * 8 + k] - T16[k];
      break;
    case 0xfa:
      for (let k = 0; k < 4; k++) R32[k] = (X32[d * 4 + k] - T32[k]) | 0;
      break;
    case 0xec:
      for (let k = 0; k < 16; k++) RI8[k] = satS8(XI8[b + k] + TI8[k]);
      break;
    case 0xed:
      for (let k = 0; k < 8; k++) RI16[k] = satS16(XI16[d * 8 + k] + TI16[k]);
      break;
    case 0xe8:
      for (let k = 0; k < 16; k++) RI8[k] = satS8(XI8[b + k] - TI8[k]);
      break;
    case 0xe9:
      for (let k = 0; k < 8; k++) RI16[k] = satS16(XI16[d * 8 + k] - TI16[k]);
      break;
    case 0xdc:
      for (let k = 0; k < 16; k++) R8[k] = satU8(X8[b + k] + T8[k]);
      break;
    case 0xdd:
      for (let k = 0; k < 8; k++) RU16[k] = satU16(X16[d * 8 + k] + T16[k]);
      break;
    case 0xd8:
      for (let k = 0; k < 16; k++) R8[k] = satU8(X8[b + k] - T8[k]);
      break;
    case 0xd9:
      for (let k = 0; k < 8; k++) RU16[k] = satU16(X16[d * 8 + k] - T16[k]);
      break;
    case 0xda:
      for (let k = 0; k < 16; k++) R8[k] = Math.min(X8[b + k], T8[k]);
      break;
    case 0xde:
      for (let k = 0; k < 16; k++) R8[k] = Math.max(X8[b + k], T8[k]);
      break;
    case 0xea:
      for (let k = 0; k < 8; k++) RI16[k] = Math.min(XI16[d * 8 + k], TI16[k]);
      break;
    case 0xee:
      for (let k = 0; k < 8; k++) RI16[k] = Math.max(XI16[d * 8 + k], TI16[k]);
      break;
    case 0xe0:
      for (let k = 0; k < 16; k++) R8[k] = (X8[b + k] + T8[k] + 1) >> 1;
      break;
    case 0xe3:
      for (let k = 0; k < 8; k++) RU16[k] = (X16[d * 8 + k] + T16[k] + 1) >> 1;
      break;
    default:
      return false;
  }
  return true;
}

function shiftLanes(opc: number, d: number, cnt: number): void {
  const o = d * 4;
  switch (opc) {
    case 0xd1:
    case 0x71 * 16 + 2:
      for (let k = 0; k < 8; k++) RU16[k] = cnt > 15 ? 0 : X16[d * 8 + k] >>> cnt;
      return;
    case 0xe1:
    case 0x71 * 16 + 4:
      for (let k = 0; k < 8; k++) RI16[k] = XI16[d * 8 + k] >> Math.min(cnt, 15);
      return;
    case 0xf1:
    case 0x71 * 16 + 6:
      for (let k = 0; k < 8; k++) RU16[k] = cnt > 15 ? 0 : X16[d * 8 + k] << cnt;
      return;
    case 0xd2:
    case 0x72 * 16 + 2:
      for (let k = 0; k < 4; k++) R32[k] = cnt > 31 ? 0 : X32[o + k] >>> cnt;
      return;
    case 0xe2:
    case 0x72 * 16 + 4:
      for (let k = 0; k < 4; k++) R32[k] = X32[o + k] >> Math.min(cnt, 31);
      return;
    case 0xf2:
    case 0x72 * 16 + 6:
      for (let k = 0; k < 4; k++) R32[k] = cnt > 31 ? 0 : X32[o + k] << cnt;
      return;
    case 0xd3:
    case 0x73 * 16 + 2:
    case 0xf3:
    case 0x73 * 16 + 6: {
      const left = opc === 0xf3 || opc === 0x73 * 16 + 6;
      for (let q = 0; q < 2; q++) {
        const lo = X32[o + 2 * q];
        const hi = X32[o + 2 * q + 1];
        let rl = 0;
        let rh = 0;
        if (cnt === 0) {
          rl = lo;
          rh = hi;
        } else if (cnt < 32) {
          if (left) {
            rl = lo << cnt;
            rh = (hi << cnt) | (lo >>> (32 - cnt));
          } else {
            rl = (lo >>> cnt) | (hi << (32 - cnt));
            rh = hi >>> cnt;
          }
        } else if (cnt < 64) {
          if (left) rh = lo << (cnt - 32);
          else rl = hi >>> (cnt - 32);
        }
        R32[2 * q] = rl;
        R32[2 * q + 1] = rh;
      }
      return;
    }
    case 0x73 * 16 + 3:
    case 0x73 * 16 + 7: {
      const n = Math.min(cnt, 16);
      const b = d * 16;
      for (let k = 0; k < 16; k++) {
        if (opc === 0x73 * 16 + 3) R8[k] = k + n < 16 ? X8[b + k + n] : 0;
        else R8[k] = k - n >= 0 ? X8[b + k - n] : 0;
      }
      return;
    }
  }
}

function ucomi(c: Cpu, a: number, b: number): void {
  let f = 0;
  if (Number.isNaN(a) || Number.isNaN(b)) f = 0x45;
  else if (a < b) f = 1;
  else if (a === b) f = 0x40;
  setArithFlags(c, f);
}

/** Executes an SSE/SSE2 instruction: i.opc = 0x100 + second opcode byte, i.pfx = mandatory prefix. */
export function sse(c: Cpu, i: Insn): void {
  const op = i.opc & 0xff;
  const p = i.pfx;
  if (p === 0 ? MMX_OPS[op] === 1 : p === 1 ? op === 0x2a || op === 0x2c || op === 0x2d : op === 0xd6) {
    mmx(c, i);
    return;
  }
  checkSse(c);
  views(c);
  const d = i.reg;
  const o = d * 4;
  switch (op) {
    case 0x10:
    case 0x11: {
      if (op === 0x11 && p < 2) {
        store128(c, i, d, false);
        return;
      }
      if (p < 2) {
        src128(c, i, false);
        for (let k = 0; k < 4; k++) X32[o + k] = T32[k];
        return;
      }
      const w = p === 2 ? 1 : 2; // dwords
      if (op === 0x10) {
        if (i.mem) {
          const la = ea(c, i, w * 4);
          X32[o] = c.read32(la);
          X32[o + 1] = w === 2 ? c.read32(la + 4) : 0;
          X32[o + 2] = 0;
          X32[o + 3] = 0;
        } else for (let k = 0; k < w; k++) X32[o + k] = X32[i.rm * 4 + k];
      } else if (i.mem) {
        const la = eaW(c, i, w * 4);
        c.write32(la, X32[o]);
        if (w === 2) c.write32(la + 4, X32[o + 1]);
      } else for (let k = 0; k < w; k++) X32[i.rm * 4 + k] = X32[o + k];
      return;
    }
    case 0x12:
    case 0x16: {
      const hiHalf = op === 0x16 ? 2 : 0;
      if (p >= 2) break;
      if (i.mem) {
        const la = ea(c, i, 8);
        X32[o + hiHalf] = c.read64(la);
        X32[o + hiHalf + 1] = c.tHi;
      } else {
        // MOVHLPS (12) / MOVLHPS (16)
        const s = i.rm * 4;
        if (op === 0x12) {
          X32[o] = X32[s + 2];
          X32[o + 1] = X32[s + 3];
        } else {
          X32[o + 2] = X32[s];
          X32[o + 3] = X32[s + 1];
        }
      }
      return;
    }
    case 0x13:
    case 0x17: {
      if (!i.mem || p >= 2) break;
      const h = op === 0x17 ? 2 : 0;
      c.write64(eaW(c, i, 8), X32[o + h], X32[o + h + 1]);
      return;
    }
    case 0x14:
    case 0x15: {
      if (p >= 2) break;
      src128(c, i, true);
      if (p === 0) {
        const s = op === 0x15 ? 2 : 0;
        R32[0] = X32[o + s];
        R32[1] = T32[s];
        R32[2] = X32[o + s + 1];
        R32[3] = T32[s + 1];
      } else {
        const s = op === 0x15 ? 2 : 0;
        R32[0] = X32[o + s];
        R32[1] = X32[o + s + 1];
        R32[2] = T32[s];
        R32[3] = T32[s + 1];
      }
      setDst(d);
      return;
    }
    case 0x28:
      if (p >= 2) break;
      src128(c, i, true);
      for (let k = 0; k < 4; k++) X32[o + k] = T32[k];
      return;
    case 0x29:
    case 0x2b:
      if (p >= 2) break;
      if (op === 0x2b && !i.mem) break;
      store128(c, i, d, true);
      return;
    case 0x2a: {
      if (p < 2) break;
      const v = i.mem
        ? c.readN(ea(c, i, i.sz === 8 ? 8 : 4), i.sz === 8 ? 8 : 4)
        : getR(c, i.rm, 0, i.sz === 8 ? 8 : 4);
      const n = i.sz === 8 ? c.tHi * 4294967296 + (v >>> 0) : v | 0;
      if (p === 2) XF32[o] = n;
      else XF64[d * 2] = n;
      return;
    }
    case 0x2c:
    case 0x2d: {
      if (p < 2) break;
      let v: number;
      if (p === 2) {
        src32(c, i);
        v = TF32[0];
      } else {
        src64(c, i);
        v = TF64[0];
      }
      const bits = i.sz === 8 ? 64 : 32;
      const r = cvtToInt(c, v, op === 0x2c, bits);
      if (bits === 64) {
        if (r === -(2 ** 63)) setR(c, d, 0, 8, 0, 0x80000000 | 0);
        else setR(c, d, 0, 8, r | 0, Math.floor(r / 4294967296) | 0);
      } else setR(c, d, 0, 4, r | 0, 0);
      return;
    }
    case 0x2e:
    case 0x2f:
      if (p === 0) {
        src32(c, i);
        ucomi(c, XF32[o], TF32[0]);
        return;
      }
      if (p === 1) {
        src64(c, i);
        ucomi(c, XF64[d * 2], TF64[0]);
        return;
      }
      break;
    case 0x50: {
      if (i.mem || p >= 2) break;
      const s = i.rm * 4;
      let m = 0;
      if (p === 0) for (let k = 0; k < 4; k++) m |= (X32[s + k] >>> 31) << k;
      else m = (X32[s + 1] >>> 31) | ((X32[s + 3] >>> 31) << 1);
      setR(c, d, 0, 4, m, 0);
      return;
    }
    case 0x51:
    case 0x58:
    case 0x59:
    case 0x5c:
    case 0x5d:
    case 0x5e:
    case 0x5f: {
      if (p === 0 || p === 1) {
        src128(c, i, true);
        if (p === 0) for (let k = 0; k < 4; k++) f32op(op, o + k, k);
        else for (let k = 0; k < 2; k++) f64op(op, d * 2 + k, k);
      } else if (p === 2) {
        src32(c, i);
        f32op(op, o, 0);
      } else {
        src64(c, i);
        f64op(op, d * 2, 0);
      }
      return;
    }
    case 0x54:
    case 0x55:
    case 0x56:
    case 0x57:
      if (p >= 2) break;
      src128(c, i, true);
      for (let k = 0; k < 4; k++) {
        const a = X32[o + k];
        const b = T32[k];
        X32[o + k] = op === 0x54 ? a & b : op === 0x55 ? ~a & b : op === 0x56 ? a | b : a ^ b;
      }
      return;
    case 0x5a:
      switch (p) {
        case 0: // CVTPS2PD
          src64(c, i);
          XF64[d * 2] = TF32[0];
          XF64[d * 2 + 1] = TF32[1];
          return;
        case 1: // CVTPD2PS
          src128(c, i, true);
          XF32[o] = TF64[0];
          XF32[o + 1] = TF64[1];
          X32[o + 2] = 0;
          X32[o + 3] = 0;
          return;
        case 2:
          src32(c, i);
          XF64[d * 2] = TF32[0];
          return;
        default:
          src64(c, i);
          XF32[o] = TF64[0];
          return;
      }
    case 0x5b:
      src128(c, i, true);
      if (p === 0) for (let k = 0; k < 4; k++) XF32[o + k] = T32[k];
      else if (p === 1 || p === 2) for (let k = 0; k < 4; k++) X32[o + k] = cvtToInt(c, TF32[k], p === 2, 32);
      else break;
      return;
    case 0xe6:
      if (p === 2) {
        src64(c, i);
        XF64[d * 2] = T32[0];
        XF64[d * 2 + 1] = T32[1];
        return;
      }
      if (p === 1 || p === 3) {
        src128(c, i, true);
        X32[o] = cvtToInt(c, TF64[0], p === 1, 32);
        X32[o + 1] = cvtToInt(c, TF64[1], p === 1, 32);
        X32[o + 2] = 0;
        X32[o + 3] = 0;
        return;
      }
      break;
    case 0x6e:
      if (p !== 1) break;
      {
        const v = i.mem
          ? c.readN(ea(c, i, i.sz === 8 ? 8 : 4), i.sz === 8 ? 8 : 4)
          : getR(c, i.rm, 0, i.sz === 8 ? 8 : 4);
        X32[o] = v;
        X32[o + 1] = i.sz === 8 ? c.tHi : 0;
        X32[o + 2] = 0;
        X32[o + 3] = 0;
      }
      return;
    case 0x7e:
      if (p === 1) {
        if (i.mem) c.writeN(eaW(c, i, i.sz === 8 ? 8 : 4), i.sz === 8 ? 8 : 4, X32[o], X32[o + 1]);
        else setR(c, i.rm, 0, i.sz === 8 ? 8 : 4, X32[o], X32[o + 1]);
        return;
      }
      if (p === 2) {
        src64(c, i);
        X32[o] = T32[0];
        X32[o + 1] = T32[1];
        X32[o + 2] = 0;
        X32[o + 3] = 0;
        return;
      }
      break;
    case 0xd6:
      if (p !== 1) break;
      if (i.mem) c.write64(eaW(c, i, 8), X32[o], X32[o + 1]);
      else {
        const s = i.rm * 4;
        X32[s] = X32[o];
        X32[s + 1] = X32[o + 1];
        X32[s + 2] = 0;
        X32[s + 3] = 0;
      }
      return;
    case 0x6f:
      if (p === 1 || p === 2) {
        src128(c, i, p === 1);
        for (let k = 0; k < 4; k++) X32[o + k] = T32[k];
        return;
      }
      break;
    case 0x7f:
      if (p === 1 || p === 2) {
        store128(c, i, d, p === 1);
        return;
      }
      break;
    case 0xe7:
      if (p === 1 && i.mem) {
        store128(c, i, d, true);
        return;
      }
      break;
    case 0x70: {
      if (p === 0) break;
      src128(c, i, p === 1);
      const imm = i.imm;
      if (p === 1) for (let k = 0; k < 4; k++) R32[k] = T32[(imm >> (2 * k)) & 3];
      else if (p === 3) {
        for (let k = 0; k < 4; k++) RU16[k] = T16[(imm >> (2 * k)) & 3];
        R32[2] = T32[2];
        R32[3] = T32[3];
      } else {
        for (let k = 0; k < 4; k++) RU16[4 + k] = T16[4 + ((imm >> (2 * k)) & 3)];
        R32[0] = T32[0];
        R32[1] = T32[1];
      }
      setDst(d);
      return;
    }
    case 0x71:
    case 0x72:
    case 0x73: {
      if (p !== 1 || i.mem) break;
      const sub = op * 16 + (i.reg & 7);
      const valid = op === 0x73 ? [2, 3, 6, 7] : [2, 4, 6];
      if (!valid.includes(i.reg & 7)) break;
      shiftLanes(sub, i.rm, i.imm & 0xff);
      setDst(i.rm);
      return;
    }
    case 0xc2: {
      const pred = i.imm & 7;
      if (p === 0 || p === 1) {
        src128(c, i, true);
        if (p === 0) for (let k = 0; k < 4; k++) X32[o + k] = cmpPred(pred, XF32[o + k], TF32[k]) ? -1 : 0;
        else
          for (let k = 0; k < 2; k++) {
            const r = cmpPred(pred, XF64[d * 2 + k], TF64[k]) ? -1 : 0;
            X32[o + 2 * k] = r;
            X32[o + 2 * k + 1] = r;
          }
      } else if (p === 2) {
        src32(c, i);
        X32[o] = cmpPred(pred, XF32[o], TF32[0]) ? -1 : 0;
      } else {
        src64(c, i);
        const r = cmpPred(pred, XF64[d * 2], TF64[0]) ? -1 : 0;
        X32[o] = r;
        X32[o + 1] = r;
      }
      return;
    }
    case 0xc4: {
      if (p !== 1) break;
      const v = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
      X16[d * 8 + (i.imm & 7)] = v;
      return;
    }
    case 0xc5:
      if (p !== 1 || i.mem) break;
      setR(c, d, 0, 4, X16[i.rm * 8 + (i.imm & 7)], 0);
      return;
    case 0xc6: {
      if (p >= 2) break;
      src128(c, i, true);
      const imm = i.imm;
      if (p === 0) {
        R32[0] = X32[o + (imm & 3)];
        R32[1] = X32[o + ((imm >> 2) & 3)];
        R32[2] = T32[(imm >> 4) & 3];
        R32[3] = T32[(imm >> 6) & 3];
      } else {
        const a = imm & 1 ? 2 : 0;
        const b = imm & 2 ? 2 : 0;
        R32[0] = X32[o + a];
        R32[1] = X32[o + a + 1];
        R32[2] = T32[b];
        R32[3] = T32[b + 1];
      }
      setDst(d);
      return;
    }
    case 0xd7: {
      if (p !== 1 || i.mem) break;
      let m = 0;
      const b = i.rm * 16;
      for (let k = 0; k < 16; k++) m |= (X8[b + k] >> 7) << k;
      setR(c, d, 0, 4, m, 0);
      return;
    }
    case 0xf7: {
      // MASKMOVDQU: store bytes of xmm(reg) selected by xmm(rm) sign bits to DS:rDI
      if (p !== 1 || i.mem) break;
      const base = i.asz === 8 ? c.getReg(7) : i.asz === 4 ? c.R[14] >>> 0 : c.R16[28];
      for (let k = 0; k < 16; k++)
        if (X8[i.rm * 16 + k] & 0x80) c.write8(base + c.segEff[i.seg] + k, X8[d * 16 + k]);
      return;
    }
    default:
      if (p === 1) {
        src128(c, i, true);
        if (packedInt(c, op, d, i)) {
          setDst(d);
          return;
        }
      }
  }
  throw new GuestFault(VEC.UD);
}

/** LDMXCSR (op 2), STMXCSR (op 3), FXSAVE (op 0), FXRSTOR (op 1). */
export function sseState(c: Cpu, i: Insn): void {
  if (!i.mem) throw new GuestFault(VEC.UD);
  // LDMXCSR reads 4 bytes, STMXCSR writes 4, FXSAVE writes 512, FXRSTOR reads 512
  const la = i.op === 0 || i.op === 3 ? eaW(c, i, i.op === 3 ? 4 : 512) : ea(c, i, i.op === 2 ? 4 : 512);
  switch (i.op) {
    case 2: {
      checkSse(c);
      const v = c.read32(la);
      if ((v & ~0xffff) !== 0) throw new GuestFault(VEC.GP, 0);
      c.mxcsr = v;
      return;
    }
    case 3:
      checkSse(c);
      c.write32(la, c.mxcsr);
      return;
    case 0:
      fxsave(c, la, i.sz === 8);
      return;
    default:
      fxrstor(c, la, i.sz === 8);
  }
}

/**
 * FXSAVE: the 512-byte image (FCW, FSW, abridged FTW, FOP, FIP/FDP, MXCSR, MXCSR_MASK, ST0-7 in
 * 16-byte slots, XMM0-15). Reserved and available bytes are left untouched, as on hardware.
 */
export function fxsave(c: Cpu, la: number, rex64: boolean): void {
  if (la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
  if ((c.cr0 & 0xc) !== 0) throw new GuestFault(VEC.NM);
  const f = c.x87;
  const img = new Uint8Array(416);
  const dv = new DataView(img.buffer);
  dv.setUint16(0, f.fcw, true);
  dv.setUint16(2, f.getFsw(), true);
  img[4] = f.abridgedTag();
  dv.setUint32(24, c.mxcsr, true);
  dv.setUint32(28, 0xffff, true);
  const regs = new Uint8Array(128);
  f.storeRegisters(regs, 16);
  img.set(regs, 32);
  const n = c.code64 ? 16 : 8;
  img.set(c.xmmB.subarray(0, n * 16), 160);
  void rex64;
  // write (check the whole range first so a fault leaves memory unchanged)
  c.write8(la, img[0]);
  c.write8(la + 511, c.read8(la + 511));
  const upto = 160 + n * 16;
  for (let k = 0; k < upto; k += 4) {
    c.write32(la + k, dv.getInt32(k, true));
  }
}

/** FXRSTOR from a 512-byte image. */
export function fxrstor(c: Cpu, la: number, rex64: boolean): void {
  if (la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
  if ((c.cr0 & 0xc) !== 0) throw new GuestFault(VEC.NM);
  const img = new Uint8Array(416);
  const dv = new DataView(img.buffer);
  for (let k = 0; k < 416; k += 4) dv.setInt32(k, c.read32(la + k), true);
  const mx = dv.getUint32(24, true);
  if ((mx & ~0xffff) !== 0) throw new GuestFault(VEC.GP, 0);
  const f = c.x87;
  f.fcw = dv.getUint16(0, true);
  f.setFsw(dv.getUint16(2, true));
  f.setAbridgedTag(img[4]);
  f.loadRegisters(img.subarray(32, 160), 16);
  c.mxcsr = mx;
  const n = c.code64 ? 16 : 8;
  c.xmmB.set(img.subarray(160, 160 + n * 16), 0);
  void rex64;
}
