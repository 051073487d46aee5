/**
 * MMX: the 64-bit integer SIMD instructions on MM0-MM7, which are the x87 registers' significands
 * (physical registers R0-R7, kept exactly by {@link X87}: `setMmx`, `exact`). Every MMX instruction
 * sets TOP = 0 and tags every register valid, except EMMS, which tags every register empty; a write
 * sets bits 79:64 of its register to ones. CR0.EM raises #UD, CR0.TS #NM.
 *
 * Implemented: MOVD/MOVQ (to and from general registers and memory), the arithmetic (PADD/PSUB
 * with wrap-around and saturation, PMULLW/PMULHW, PMADDWD), logic (PAND/PANDN/POR/PXOR), shifts
 * (PSLL/PSRL/PSRA by register, memory and immediate), compares (PCMPEQ/PCMPGT), packs and unpacks,
 * EMMS; SSE's integer instructions on MMX registers (PAVGB/W, PMINUB/SW, PMAXUB/SW, PMULHUW,
 * PSADBW, PSHUFW, PINSRW, PEXTRW, PMOVMSKB, MOVNTQ, MASKMOVQ) and SSE2's (PADDQ, PSUBQ, PMULUDQ);
 * the conversions between MMX and XMM registers (CVTPI2PS, CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI,
 * CVTTPD2PI, MOVQ2DQ, MOVDQ2Q).
 *
 * @example
 * ```ts
 * // 48 0f 6e c0: movq mm0, rax ; 0f fc c0: paddb mm0, mm0 ; 0f 77: emms
 * ```
 */
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import type { Insn } from './insn.js';
import { ea, eaW, getR, setR } from './operands.js';
import type { X87 } from './x87.js';

const buf = new ArrayBuffer(24);
// destination (A), source (B), result (R)
const A8 = new Uint8Array(buf, 0, 8);
const AI8 = new Int8Array(buf, 0, 8);
const A16 = new Uint16Array(buf, 0, 4);
const AI16 = new Int16Array(buf, 0, 4);
const A32 = new Int32Array(buf, 0, 2);
const B8 = new Uint8Array(buf, 8, 8);
const BI8 = new Int8Array(buf, 8, 8);
const B16 = new Uint16Array(buf, 8, 4);
const BI16 = new Int16Array(buf, 8, 4);
const B32 = new Int32Array(buf, 8, 2);
const BF32 = new Float32Array(buf, 8, 2);
const R8 = new Uint8Array(buf, 16, 8);
const RI8 = new Int8Array(buf, 16, 8);
const R16 = new Uint16Array(buf, 16, 4);
const RI16 = new Int16Array(buf, 16, 4);
const R32 = new Int32Array(buf, 16, 2);
const TF64 = new Float64Array(2);

/** Opcodes (second byte, no mandatory prefix) that are MMX instructions. */
export const MMX_OPS = new Uint8Array(256);
for (const op of [
  0x2a, 0x2c, 0x2d, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6e, 0x6f, 0x70,
  0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x7e, 0x7f, 0xc4, 0xc5, 0xe7, 0xf7,
])
  MMX_OPS[op] = 1;
for (let op = 0xd1; op <= 0xfe; op++) if (op !== 0xd6 && op !== 0xe6 && op !== 0xf0) MMX_OPS[op] = 1;

function check(c: Cpu): X87 {
  if ((c.cr0 & 4) !== 0) throw new GuestFault(VEC.UD);
  if ((c.cr0 & 8) !== 0) throw new GuestFault(VEC.NM);
  return c.x87;
}
function checkXmm(c: Cpu): X87 {
  if ((c.cr4 & (1 << 9)) === 0) throw new GuestFault(VEC.UD);
  return check(c);
}

/** Loads MMn into A. */
function loadA(f: X87, n: number): void {
  f.exact(n);
  A32[0] = f.mant[2 * n];
  A32[1] = f.mant[2 * n + 1];
}
/** Loads the mm/m64 source into B (m32 when `narrow`: the low-half unpacks). */
function loadB(c: Cpu, f: X87, i: Insn, narrow = false): void {
  if (i.mem) {
    const la = ea(c, i, narrow ? 4 : 8);
    if (narrow) {
      B32[0] = c.read32(la);
      B32[1] = 0;
    } else {
      B32[0] = c.read64(la);
      B32[1] = c.tHi;
    }
    return;
  }
  const n = i.rm & 7;
  f.exact(n);
  B32[0] = f.mant[2 * n];
  B32[1] = f.mant[2 * n + 1];
}

function sat8(v: number): number {
  return v > 127 ? 127 : Math.max(v, -128);
}
function satU8(v: number): number {
  return v > 255 ? 255 : Math.max(v, 0);
}
function sat16(v: number): number {
  return v > 32767 ? 32767 : Math.max(v, -32768);
}
function satU16(v: number): number {
  return v > 65535 ? 65535 : Math.max(v, 0);
}

/** Shifts A's lanes by `cnt` (0..255+) into R: kind 0 logical right, 1 arithmetic right, 2 left; width 2/4/8 bytes. */
function shift(kind: number, width: number, cnt: number): void {
  if (width === 2) {
    for (let k = 0; k < 4; k++) {
      if (kind === 1) RI16[k] = AI16[k] >> Math.min(cnt, 15);
      else R16[k] = cnt > 15 ? 0 : kind === 0 ? A16[k] >>> cnt : A16[k] << cnt;
    }
  } else if (width === 4) {
    for (let k = 0; k < 2; k++) {
      if (kind === 1) R32[k] = A32[k] >> Math.min(cnt, 31);
      else R32[k] = cnt > 31 ? 0 : kind === 0 ? A32[k] >>> cnt : A32[k] << cnt;
    }
  } else {
    const lo = A32[0];
    const hi = A32[1];
    if (cnt > 63) {
      R32[0] = 0;
      R32[1] = 0;
    } else if (cnt === 0) {
      R32[0] = lo;
      R32[1] = hi;
    } else if (cnt < 32) {
      if (kind === 2) {
        R32[0] = lo << cnt;
        R32[1] = (hi << cnt) | (lo >>> (32 - cnt));
      } else {
        R32[0] = (lo >>> cnt) | (hi << (32 - cnt));
        R32[1] = hi >>> cnt;
      }
    } else if (kind === 2) {
      R32[0] = 0;
      R32[1] = lo << (cnt - 32);
    } else {
      R32[0] = hi >>> (cnt - 32);
      R32[1] = 0;
    }
  }
}

/** B's 64-bit shift count, saturated to 255 (anything larger shifts every bit out). */
function countB(): number {
  return B32[1] !== 0 || B32[0] >>> 0 > 255 ? 255 : B32[0] >>> 0;
}

/** A op B into R for the two-operand arithmetic, logic and compare opcodes; false for others. */
function binary(op: number): boolean {
  switch (op) {
    case 0x60:
      for (let k = 0; k < 4; k++) {
        R8[2 * k] = A8[k];
        R8[2 * k + 1] = B8[k];
      }
      return true;
    case 0x61:
      for (let k = 0; k < 2; k++) {
        R16[2 * k] = A16[k];
        R16[2 * k + 1] = B16[k];
      }
      return true;
    case 0x62:
      R32[0] = A32[0];
      R32[1] = B32[0];
      return true;
    case 0x63:
      for (let k = 0; k < 4; k++) {
        RI8[k] = sat8(AI16[k]);
        RI8[k + 4] = sat8(BI16[k]);
      }
      return true;
    case 0x64:
      for (let k = 0; k < 8; k++) R8[k] = AI8[k] > BI8[k] ? 0xff : 0;
      return true;
    case 0x65:
      for (let k = 0; k < 4; k++) R16[k] = AI16[k] > BI16[k] ? 0xffff : 0;
      return true;
    case 0x66:
      for (let k = 0; k < 2; k++) R32[k] = A32[k] > B32[k] ? -1 : 0;
      return true;
    case 0x67:
      for (let k = 0; k < 4; k++) {
        R8[k] = satU8(AI16[k]);
        R8[k + 4] = satU8(BI16[k]);
      }
      return true;
    case 0x68:
      for (let k = 0; k < 4; k++) {
        R8[2 * k] = A8[k + 4];
        R8[2 * k + 1] = B8[k + 4];
      }
      return true;
    case 0x69:
      for (let k = 0; k < 2; k++) {
        R16[2 * k] = A16[k + 2];
        R16[2 * k + 1] = B16[k + 2];
      }
      return true;
    case 0x6a:
      R32[0] = A32[1];
      R32[1] = B32[1];
      return true;
    case 0x6b:
      for (let k = 0; k < 2; k++) {
        RI16[k] = sat16(A32[k]);
        RI16[k + 2] = sat16(B32[k]);
      }
      return true;
    case 0x74:
      for (let k = 0; k < 8; k++) R8[k] = A8[k] === B8[k] ? 0xff : 0;
      return true;
    case 0x75:
      for (let k = 0; k < 4; k++) R16[k] = A16[k] === B16[k] ? 0xffff : 0;
      return true;
    case 0x76:
      for (let k = 0; k < 2; k++) R32[k] = A32[k] === B32[k] ? -1 : 0;
      return true;
    case 0xd1:
    case 0xd2:
    case 0xd3:
      shift(0, op === 0xd1 ? 2 : op === 0xd2 ? 4 : 8, countB());
      return true;
    case 0xe1:
    case 0xe2:
      shift(1, op === 0xe1 ? 2 : 4, countB());
      return true;
    case 0xf1:
    case 0xf2:
    case 0xf3:
      shift(2, op === 0xf1 ? 2 : op === 0xf2 ? 4 : 8, countB());
      return true;
    case 0xd4:
    case 0xfb: {
      const al = A32[0] >>> 0;
      const bl = B32[0] >>> 0;
      if (op === 0xd4) {
        const s = al + bl;
        R32[0] = s | 0;
        R32[1] = (A32[1] + B32[1] + (s > 0xffffffff ? 1 : 0)) | 0;
      } else {
        const s = al - bl;
        R32[0] = s | 0;
        R32[1] = (A32[1] - B32[1] - (s < 0 ? 1 : 0)) | 0;
      }
      return true;
    }
    case 0xd5:
      for (let k = 0; k < 4; k++) RI16[k] = Math.imul(AI16[k], BI16[k]);
      return true;
    case 0xe5:
      for (let k = 0; k < 4; k++) RI16[k] = (AI16[k] * BI16[k]) >> 16;
      return true;
    case 0xe4:
      for (let k = 0; k < 4; k++) R16[k] = (A16[k] * B16[k]) >>> 16;
      return true;
    case 0xf4: {
      // PMULUDQ: low dwords, unsigned, to 64 bits
      const a = A32[0] >>> 0;
      const b = B32[0] >>> 0;
      const al = a & 0xffff;
      const ah = a >>> 16;
      const bl = b & 0xffff;
      const bh = b >>> 16;
      const mid = ah * bl + al * bh;
      const low = al * bl + (mid % 65536) * 65536;
      R32[0] = (low % 4294967296) | 0;
      R32[1] = (ah * bh + Math.floor(mid / 65536) + Math.floor(low / 4294967296)) | 0;
      return true;
    }
    case 0xf5:
      for (let k = 0; k < 2; k++)
        R32[k] = (AI16[2 * k] * BI16[2 * k] + AI16[2 * k + 1] * BI16[2 * k + 1]) | 0;
      return true;
    case 0xf6: {
      let s = 0;
      for (let k = 0; k < 8; k++) s += Math.abs(A8[k] - B8[k]);
      R32[0] = s;
      R32[1] = 0;
      return true;
    }
    case 0xdb:
      R32[0] = A32[0] & B32[0];
      R32[1] = A32[1] & B32[1];
      return true;
    case 0xdf:
      R32[0] = ~A32[0] & B32[0];
      R32[1] = ~A32[1] & B32[1];
      return true;
    case 0xeb:
      R32[0] = A32[0] | B32[0];
      R32[1] = A32[1] | B32[1];
      return true;
    case 0xef:
      R32[0] = A32[0] ^ B32[0];
      R32[1] = A32[1] ^ B32[1];
      return true;
    case 0xfc:
      for (let k = 0; k < 8; k++) R8[k] = A8[k] + B8[k];
      return true;
    case 0xfd:
      for (let k = 0; k < 4; k++) R16[k] = A16[k] + B16[k];
      return true;
    case 0xfe:
      for (let k = 0; k < 2; k++) R32[k] = (A32[k] + B32[k]) | 0;
      return true;
    case 0xf8:
      for (let k = 0; k < 8; k++) R8[k] = A8[k] - B8[k];
      return true;
    case 0xf9:
      for (let k = 0; k < 4; k++) R16[k] = A16[k] - B16[k];
      return true;
    case 0xfa:
      for (let k = 0; k < 2; k++) R32[k] = (A32[k] - B32[k]) | 0;
      return true;
    case 0xec:
      for (let k = 0; k < 8; k++) RI8[k] = sat8(AI8[k] + BI8[k]);
      return true;
    case 0xed:
      for (let k = 0; k < 4; k++) RI16[k] = sat16(AI16[k] + BI16[k]);
      return true;
    case 0xe8:
      for (let k = 0; k < 8; k++) RI8[k] = sat8(AI8[k] - BI8[k]);
      return true;
    case 0xe9:
      for (let k = 0; k < 4; k++) RI16[k] = sat16(AI16[k] - BI16[k]);
      return true;
    case 0xdc:
      for (let k = 0; k < 8; k++) R8[k] = satU8(A8[k] + B8[k]);
      return true;
    case 0xdd:
      for (let k = 0; k < 4; k++) R16[k] = satU16(A16[k] + B16[k]);
      return true;
    case 0xd8:
      for (let k = 0; k < 8; k++) R8[k] = satU8(A8[k] - B8[k]);
      return true;
    case 0xd9:
      for (let k = 0; k < 4; k++) R16[k] = satU16(A16[k] - B16[k]);
      return true;
    case 0xda:
      for (let k = 0; k < 8; k++) R8[k] = Math.min(A8[k], B8[k]);
      return true;
    case 0xde:
      for (let k = 0; k < 8; k++) R8[k] = Math.max(A8[k], B8[k]);
      return true;
    case 0xea:
      for (let k = 0; k < 4; k++) RI16[k] = Math.min(AI16[k], BI16[k]);
      return true;
    case 0xee:
      for (let k = 0; k < 4; k++) RI16[k] = Math.max(AI16[k], BI16[k]);
      return true;
    case 0xe0:
      for (let k = 0; k < 8; k++) R8[k] = (A8[k] + B8[k] + 1) >> 1;
      return true;
    case 0xe3:
      for (let k = 0; k < 4; k++) R16[k] = (A16[k] + B16[k] + 1) >> 1;
      return true;
  }
  return false;
}

/** Rounds `v` to an integer by MXCSR.RC (or truncates) for CVT*2PI; out of range or NaN: the integer indefinite. */
function toInt32(c: Cpu, v: number, trunc: boolean): number {
  if (Number.isNaN(v)) return 0x80000000 | 0;
  let r: number;
  if (trunc) r = Math.trunc(v);
  else
    switch ((c.mxcsr >> 13) & 3) {
      case 0: {
        const f = Math.floor(v);
        const d = v - f;
        r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
        break;
      }
      case 1:
        r = Math.floor(v);
        break;
      case 2:
        r = Math.ceil(v);
        break;
      default:
        r = Math.trunc(v);
    }
  return r >= 2 ** 31 || r < -(2 ** 31) ? 0x80000000 | 0 : r;
}

/** The conversions and moves between MMX and XMM registers (0f 2a/2c/2d with no or a 66 prefix, f3/f2 0f d6). */
function convert(c: Cpu, i: Insn, op: number, p: number): void {
  const f = checkXmm(c);
  const X32 = c.xmm;
  const xr = i.reg * 4;
  if (op === 0xd6) {
    if (i.mem) throw new GuestFault(VEC.UD);
    f.mmxEnter();
    if (p === 2) {
      // MOVQ2DQ xmm, mm
      const n = i.rm & 7;
      f.exact(n);
      X32[xr] = f.mant[2 * n];
      X32[xr + 1] = f.mant[2 * n + 1];
      X32[xr + 2] = 0;
      X32[xr + 3] = 0;
    } else {
      // MOVDQ2Q mm, xmm
      const s = i.rm * 4;
      f.setMmx(i.reg & 7, X32[s], X32[s + 1]);
    }
    return;
  }
  if (op === 0x2a) {
    // CVTPI2PS xmm, mm/m64 (no prefix) / CVTPI2PD xmm, mm/m64 (66): with a memory source no MMX
    // register is read and the x87 state stays as it was (as the silicon the difftest runs on does)
    loadB(c, f, i);
    if (!i.mem) f.mmxEnter();
    if (p === 0) {
      c.xmmF32[xr] = B32[0];
      c.xmmF32[xr + 1] = B32[1];
    } else {
      c.xmmF64[i.reg * 2] = B32[0];
      c.xmmF64[i.reg * 2 + 1] = B32[1];
    }
    return;
  }
  // CVT(T)PS2PI mm, xmm/m64 (no prefix), CVT(T)PD2PI mm, xmm/m128 (66)
  const trunc = op === 0x2c;
  let v0: number;
  let v1: number;
  if (p === 0) {
    if (i.mem) {
      const la = ea(c, i, 8);
      B32[0] = c.read64(la);
      B32[1] = c.tHi;
    } else {
      B32[0] = X32[i.rm * 4];
      B32[1] = X32[i.rm * 4 + 1];
    }
    v0 = BF32[0];
    v1 = BF32[1];
  } else {
    if (i.mem) {
      const la = ea(c, i, 16);
      if (la % 16 !== 0) throw new GuestFault(VEC.GP, 0);
      const t = new Int32Array(TF64.buffer);
      t[0] = c.read64(la);
      t[1] = c.tHi;
      t[2] = c.read64(la + 8);
      t[3] = c.tHi;
      v0 = TF64[0];
      v1 = TF64[1];
    } else {
      v0 = c.xmmF64[i.rm * 2];
      v1 = c.xmmF64[i.rm * 2 + 1];
    }
  }
  f.mmxEnter();
  f.setMmx(i.reg & 7, toInt32(c, v0, trunc), toInt32(c, v1, trunc));
}

/** EMMS (0f 77): every x87 register empty, TOP = 0 (SDM table 9-3). */
export function emms(c: Cpu, _i: Insn): void {
  const f = check(c);
  f.top = 0;
  f.empty = 0xff;
}

/** Executes an MMX instruction (i.opc = 0x100 + second opcode byte; i.pfx its mandatory prefix). */
export function mmx(c: Cpu, i: Insn): void {
  const op = i.opc & 0xff;
  if (i.pfx !== 0 || op === 0x2a || op === 0x2c || op === 0x2d) {
    convert(c, i, op, i.pfx);
    return;
  }
  const f = check(c);
  const d = i.reg & 7;
  switch (op) {
    case 0x6e: {
      // MOVD/MOVQ mm, r/m32/64
      const wide = i.sz === 8;
      const v = i.mem ? c.readN(ea(c, i, wide ? 8 : 4), wide ? 8 : 4) : getR(c, i.rm, 0, wide ? 8 : 4);
      const hi = wide ? c.tHi : 0;
      f.mmxEnter();
      f.setMmx(d, v, hi);
      return;
    }
    case 0x7e: {
      // MOVD/MOVQ r/m32/64, mm
      const wide = i.sz === 8;
      f.exact(d);
      const lo = f.mant[2 * d];
      const hi = f.mant[2 * d + 1];
      if (i.mem) c.writeN(eaW(c, i, wide ? 8 : 4), wide ? 8 : 4, lo, hi);
      else setR(c, i.rm, 0, wide ? 8 : 4, lo, wide ? hi : 0);
      f.mmxEnter();
      return;
    }
    case 0x6f:
      loadB(c, f, i);
      f.mmxEnter();
      f.setMmx(d, B32[0], B32[1]);
      return;
    case 0x7f:
    case 0xe7: {
      // MOVQ mm/m64, mm; MOVNTQ m64, mm
      if (op === 0xe7 && !i.mem) break;
      f.exact(d);
      const lo = f.mant[2 * d];
      const hi = f.mant[2 * d + 1];
      if (i.mem) c.write64(eaW(c, i, 8), lo, hi);
      else f.setMmx(i.rm & 7, lo, hi);
      f.mmxEnter();
      return;
    }
    case 0x70: {
      // PSHUFW mm, mm/m64, imm8
      loadB(c, f, i);
      for (let k = 0; k < 4; k++) R16[k] = B16[(i.imm >> (2 * k)) & 3];
      f.mmxEnter();
      f.setMmx(d, R32[0], R32[1]);
      return;
    }
    case 0x71:
    case 0x72:
    case 0x73: {
      // PSRL/PSRA/PSLL mm, imm8 (ModRM.reg 2, 4, 6; no PSRAQ)
      if (i.mem) break;
      const sub = i.reg & 7;
      const kind = sub === 2 ? 0 : sub === 4 ? 1 : sub === 6 ? 2 : -1;
      if (kind < 0 || (op === 0x73 && kind === 1)) break;
      const n = i.rm & 7;
      loadA(f, n);
      shift(kind, op === 0x71 ? 2 : op === 0x72 ? 4 : 8, i.imm & 0xff);
      f.mmxEnter();
      f.setMmx(n, R32[0], R32[1]);
      return;
    }
    case 0xc4: {
      // PINSRW mm, r32/m16, imm8
      const v = i.mem ? c.read16(ea(c, i, 2)) : c.R16[i.rm * 4];
      loadA(f, d);
      A16[i.imm & 3] = v;
      f.mmxEnter();
      f.setMmx(d, A32[0], A32[1]);
      return;
    }
    case 0xc5: {
      // PEXTRW r32, mm, imm8
      if (i.mem) break;
      loadA(f, i.rm & 7);
      f.mmxEnter();
      setR(c, i.reg, 0, 4, A16[i.imm & 3], 0);
      return;
    }
    case 0xd7: {
      // PMOVMSKB r32, mm
      if (i.mem) break;
      loadA(f, i.rm & 7);
      let m = 0;
      for (let k = 0; k < 8; k++) m |= (A8[k] >> 7) << k;
      f.mmxEnter();
      setR(c, i.reg, 0, 4, m, 0);
      return;
    }
    case 0xf7: {
      // MASKMOVQ mm1, mm2: the bytes of mm1 whose mm2 byte has its top bit set, to DS:rDI
      if (i.mem) break;
      loadA(f, d);
      loadB(c, f, i);
      const base = i.asz === 8 ? c.getReg(7) : i.asz === 4 ? c.R[14] >>> 0 : c.R16[28];
      const la = c.code64 ? base + c.segEff[i.seg] : (base + c.segEff[i.seg]) >>> 0;
      for (let k = 0; k < 8; k++) if ((B8[k] & 0x80) !== 0) c.write8(la + k, A8[k]);
      f.mmxEnter();
      return;
    }
    default: {
      loadB(c, f, i, op >= 0x60 && op <= 0x62);
      loadA(f, d);
      if (!binary(op)) break;
      f.mmxEnter();
      f.setMmx(d, R32[0], R32[1]);
      return;
    }
  }
  throw new GuestFault(VEC.UD);
}
