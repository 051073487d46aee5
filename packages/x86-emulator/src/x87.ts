/**
 * The x87 FPU: register stack, control/status/tag words, and the instructions ordinary code uses
 * (loads/stores of 32/64/80-bit reals and 16/32/64-bit integers, arithmetic, compares, FUCOMI/FCOMI,
 * FXCH, FCHS/FABS/FSQRT, constants, FNINIT/FLDCW/FNSTCW/FNSTSW, FCMOVcc).
 *
 * Precision: values are kept as JavaScript doubles (53-bit significand), not 64-bit extended
 * precision; FLD m80 rounds to double and FSTP m80 writes the double exactly. Exceptions are treated
 * as masked (results are IEEE infinities/NaNs; status bits for invalid and zero-divide are set).
 *
 * Each physical register also keeps its exact 80-bit image while nothing computed a new value into
 * it ({@link X87.raw}): what FXRSTOR, FRSTOR or FLD m80 loaded and what MMX instructions wrote (the
 * MMX registers are the registers' low 64 bits, with bits 79:64 set to ones) is saved by FXSAVE,
 * FNSAVE and FSTP m80 bit for bit.
 *
 * @example
 * ```ts
 * const f = new X87();
 * f.push(1.5);
 * f.st(0); // 1.5
 * ```
 */
import { VEC } from './constants.js';
import type { Cpu } from './cpu.js';
import { GuestFault } from './fault.js';
import { arithFlags, setArithFlags } from './flags.js';
import type { Insn } from './insn.js';
import { ea } from './operands.js';

const scratch = new DataView(new ArrayBuffer(16));

/**
 * Writes double `v` as an 80-bit extended real at `out[off..off+10)`.
 * @example writeExtended(1, buf, 0); // 00 00 00 00 00 00 00 80 ff 3f
 */
export function writeExtended(v: number, out: Uint8Array, off: number): void {
  let sign = 0;
  let exp = 0;
  let mantHi = 0;
  let mantLo = 0;
  scratch.setFloat64(0, v, true);
  const hi = scratch.getUint32(4, true);
  const lo = scratch.getUint32(0, true);
  sign = hi >>> 31;
  const e = (hi >>> 20) & 0x7ff;
  const fhi = hi & 0xfffff;
  if (e === 0 && fhi === 0 && lo === 0) {
    exp = 0;
  } else if (e === 0x7ff) {
    exp = 0x7fff;
    mantHi = (0x80000000 | (fhi << 11) | (lo >>> 21)) >>> 0;
    mantLo = (lo << 11) >>> 0;
  } else if (e === 0) {
    // double denormal: normalise
    let m = fhi * 4294967296 + lo;
    let ex = 1 - 1023;
    while (m < 2 ** 52) {
      m *= 2;
      ex--;
    }
    const mh = Math.floor(m / 4294967296);
    const ml = m % 4294967296;
    exp = ex + 16383;
    mantHi = (0x80000000 | ((mh & 0xfffff) << 11) | (ml >>> 21)) >>> 0;
    mantLo = (ml << 11) >>> 0;
  } else {
    exp = e - 1023 + 16383;
    mantHi = (0x80000000 | (fhi << 11) | (lo >>> 21)) >>> 0;
    mantLo = (lo << 11) >>> 0;
  }
  const dv = new DataView(out.buffer, out.byteOffset + off, 10);
  dv.setUint32(0, mantLo, true);
  dv.setUint32(4, mantHi, true);
  dv.setUint16(8, (sign << 15) | exp, true);
}

/**
 * Reads an 80-bit extended real (rounded to double).
 * @example readExtended(fxsaveImage, 32) // ST0 from an FXSAVE image
 */
export function readExtended(b: Uint8Array, off: number): number {
  const dv = new DataView(b.buffer, b.byteOffset + off, 10);
  const mantLo = dv.getUint32(0, true);
  const mantHi = dv.getUint32(4, true);
  const se = dv.getUint16(8, true);
  const sign = se >> 15 ? -1 : 1;
  const exp = se & 0x7fff;
  if (exp === 0x7fff) {
    if ((mantHi & 0x7fffffff) === 0 && mantLo === 0) return sign * Infinity;
    return Number.NaN;
  }
  const mant = mantHi * 4294967296 + mantLo;
  if (mant === 0) return sign === 1 ? 0 : -0;
  // scale in two steps so that results in the double denormal range do not underflow early
  return sign * (mant * 2 ** -63) * 2 ** (exp - 16383);
}

/** x87 state. */
export class X87 {
  /** Physical registers R0..R7 (ST(i) = R[(top + i) & 7]). */
  readonly regs = new Float64Array(8);
  top = 0;
  /** Bit k set = R_k empty. */
  empty = 0xff;
  fcw = 0x37f;
  /** Status word bits other than TOP. */
  sw = 0;
  /** Exact 80-bit images: significand low/high halves per physical register (the MMX registers). */
  readonly mant = new Int32Array(16);
  /** Exact 80-bit images: sign and exponent per physical register. */
  readonly exp = new Uint16Array(8);
  /** Bit k set: physical register k's exact image is in {@link mant}/{@link exp} (`regs[k]` is its double). */
  raw = 0;

  /** ST(i). */
  st(i: number): number {
    return this.regs[(this.top + i) & 7];
  }
  /** Sets ST(i). */
  setSt(i: number, v: number): void {
    const r = (this.top + i) & 7;
    this.regs[r] = v;
    this.empty &= ~(1 << r);
    this.raw &= ~(1 << r);
  }
  /** Loads physical register `r` from the 80-bit value at `b[off..off+10)`, exactly. */
  loadReg(r: number, b: Uint8Array, off: number): void {
    const dv = new DataView(b.buffer, b.byteOffset + off, 10);
    this.mant[2 * r] = dv.getInt32(0, true);
    this.mant[2 * r + 1] = dv.getInt32(4, true);
    this.exp[r] = dv.getUint16(8, true);
    this.raw |= 1 << r;
    this.regs[r] = readExtended(b, off);
  }
  /** Writes physical register `r` as an 80-bit value at `out[off..off+10)` (its exact image when it has one). */
  storeReg(r: number, out: Uint8Array, off: number): void {
    if ((this.raw & (1 << r)) === 0) {
      writeExtended(this.regs[r], out, off);
      return;
    }
    const dv = new DataView(out.buffer, out.byteOffset + off, 10);
    dv.setInt32(0, this.mant[2 * r], true);
    dv.setInt32(4, this.mant[2 * r + 1], true);
    dv.setUint16(8, this.exp[r], true);
  }
  /** Makes physical register `r`'s exact image current (an MMX read of a register x87 code wrote). */
  exact(r: number): void {
    if ((this.raw & (1 << r)) !== 0) return;
    const b = new Uint8Array(10);
    writeExtended(this.regs[r], b, 0);
    const dv = new DataView(b.buffer);
    this.mant[2 * r] = dv.getInt32(0, true);
    this.mant[2 * r + 1] = dv.getInt32(4, true);
    this.exp[r] = dv.getUint16(8, true);
    this.raw |= 1 << r;
  }
  /**
   * An MMX write of MMn (physical register n): the significand gets the value, bits 79:64 all ones
   * (the register reads as a NaN, or -infinity, to x87 code).
   */
  setMmx(n: number, lo: number, hi: number): void {
    this.mant[2 * n] = lo;
    this.mant[2 * n + 1] = hi;
    this.exp[n] = 0xffff;
    this.raw |= 1 << n;
    this.regs[n] = lo === 0 && hi === (0x80000000 | 0) ? -Infinity : Number.NaN;
  }
  /** Entering MMX operation (every MMX instruction but EMMS): TOP = 0, every register valid. */
  mmxEnter(): void {
    this.top = 0;
    this.empty = 0;
  }
  /** Whether ST(i) is empty. */
  isEmpty(i: number): boolean {
    return (this.empty & (1 << ((this.top + i) & 7))) !== 0;
  }
  /** Pushes a value. */
  push(v: number): void {
    this.top = (this.top - 1) & 7;
    if (!this.isEmpty(0)) this.sw |= 0x41; // stack overflow: IE + SF
    this.setSt(0, v);
  }
  /** Pops ST(0). */
  pop(): void {
    this.empty |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }
  /** FNINIT. */
  init(): void {
    this.fcw = 0x37f;
    this.sw = 0;
    this.top = 0;
    this.empty = 0xff;
  }
  /** Full status word. */
  getFsw(): number {
    return (this.sw & ~0x3800) | (this.top << 11);
  }
  /** Sets the status word (TOP included). */
  setFsw(v: number): void {
    this.sw = v & ~0x3800;
    this.top = (v >> 11) & 7;
  }
  /** FXSAVE abridged tag byte (bit set = register valid). */
  abridgedTag(): number {
    return ~this.empty & 0xff;
  }
  /** Sets the tags from an abridged tag byte. */
  setAbridgedTag(v: number): void {
    this.empty = ~v & 0xff;
  }
  /** Full 16-bit tag word (FNSTENV layout). */
  tagWord(): number {
    let t = 0;
    for (let r = 0; r < 8; r++) {
      let k: number;
      if (this.empty & (1 << r)) k = 3;
      else if (this.regs[r] === 0) k = 1;
      else if (!Number.isFinite(this.regs[r])) k = 2;
      else k = 0;
      t |= k << (2 * r);
    }
    return t;
  }
  /** Writes ST(0)..ST(7) as 80-bit values every `stride` bytes (FXSAVE: 16). */
  storeRegisters(out: Uint8Array, stride: number): void {
    for (let i = 0; i < 8; i++) {
      out.fill(0, i * stride, i * stride + stride);
      this.storeReg((this.top + i) & 7, out, i * stride);
    }
  }
  /** Loads ST(0)..ST(7) from 80-bit values every `stride` bytes (exactly: see {@link X87.raw}). */
  loadRegisters(b: Uint8Array, stride: number): void {
    for (let i = 0; i < 8; i++) this.loadReg((this.top + i) & 7, b, i * stride);
  }
  /** Rounds per FCW.RC to an integer. */
  round(v: number): number {
    switch ((this.fcw >> 10) & 3) {
      case 0: {
        const f = Math.floor(v);
        const d = v - f;
        if (d > 0.5) return f + 1;
        if (d < 0.5) return f;
        return f % 2 === 0 ? f : f + 1;
      }
      case 1:
        return Math.floor(v);
      case 2:
        return Math.ceil(v);
      default:
        return Math.trunc(v);
    }
  }
}

function memReal(c: Cpu, la: number, kind: number): number {
  switch (kind) {
    case 0:
      scratch.setInt32(0, c.read32(la), true);
      return scratch.getFloat32(0, true);
    case 1: {
      const lo = c.read64(la);
      scratch.setInt32(0, lo, true);
      scratch.setInt32(4, c.tHi, true);
      return scratch.getFloat64(0, true);
    }
    case 2:
      return c.read32(la) | 0;
    default:
      return (c.read16(la) << 16) >> 16;
  }
}

function arith(f: X87, op: number, a: number, b: number): number {
  switch (op) {
    case 0:
      return a + b;
    case 1:
      return a * b;
    case 4:
      return a - b;
    case 5:
      return b - a;
    case 6:
      if (b === 0) f.sw |= 4;
      return a / b;
    default:
      if (a === 0) f.sw |= 4;
      return b / a;
  }
}

function compare(f: X87, a: number, b: number): number {
  // returns C3 C2 C0 encoding in sw bits: >: 0, <: C0, =: C3, unordered: all
  f.sw &= ~0x4500;
  if (Number.isNaN(a) || Number.isNaN(b)) {
    f.sw |= 0x4500;
    return 3;
  }
  if (a > b) return 0;
  if (a < b) {
    f.sw |= 0x100;
    return 1;
  }
  f.sw |= 0x4000;
  return 2;
}

function compareEflags(c: Cpu, a: number, b: number): void {
  let fl = arithFlags(c) & ~(0x45 | 0x800 | 0x80 | 0x10);
  if (Number.isNaN(a) || Number.isNaN(b)) fl |= 0x45;
  else if (a < b) fl |= 1;
  else if (a === b) fl |= 0x40;
  setArithFlags(c, fl);
}

function storeInt(c: Cpu, la: number, v: number, bytes: number): void {
  const f = c.x87;
  let r = f.round(v);
  const lim = 2 ** (bytes * 8 - 1);
  if (!Number.isFinite(r) || r >= lim || r < -lim) {
    f.sw |= 1;
    r = -lim;
  }
  if (bytes === 2) c.write16(la, r & 0xffff);
  else if (bytes === 4) c.write32(la, r | 0);
  else c.write64(la, r | 0, Math.floor(r / 4294967296) | 0);
}

/**
 * The memory operand of x87 instruction D8+`o` /`reg`: its size in bytes and whether it is written
 * (for the segment limit and type checks).
 */
function x87Access(o: number, reg: number, opSize: number): [number, boolean] {
  const env = opSize === 2 ? 14 : 28;
  switch (o) {
    case 0:
    case 2:
      return [4, false];
    case 4:
      return [8, false];
    case 6:
      return [2, false];
    case 1:
      return [[4, 4, 4, 4, env, 2, env, 2][reg], reg === 2 || reg === 3 || reg === 6 || reg === 7];
    case 3:
      return [[4, 4, 4, 4, 4, 10, 4, 10][reg], reg === 1 || reg === 2 || reg === 3 || reg === 7];
    case 5:
      return [[8, 8, 8, 8, env + 80, 8, env + 80, 2][reg], reg === 1 || reg === 2 || reg === 3 || reg >= 6];
    default:
      return [[2, 2, 2, 2, 10, 8, 10, 8][reg], reg === 1 || reg === 2 || reg === 3 || reg === 6 || reg === 7];
  }
}

/** Executes an x87 instruction (D8-DF): i.opc = opcode byte, i.op = ModRM.reg, i.rm = ST(i) for register forms. */
export function fpu(c: Cpu, i: Insn): void {
  const f = c.x87;
  const o = i.opc & 7;
  const reg = i.op;
  if ((c.cr0 & 0xc) !== 0) throw new GuestFault(VEC.NM); // EM or TS
  if (i.mem) {
    const [size, write] = x87Access(o, reg, i.sz);
    const la = ea(c, i, size, write);
    switch (o) {
      case 0: // m32fp arith
      case 2: // m32int arith
      case 4: // m64fp
      case 6: {
        // m16int
        const kind = o === 0 ? 0 : o === 4 ? 1 : o === 2 ? 2 : 3;
        const v = memReal(c, la, kind);
        if (reg === 2 || reg === 3) {
          compare(f, f.st(0), v);
          if (reg === 3) f.pop();
        } else f.setSt(0, arith(f, reg, f.st(0), v));
        return;
      }
      case 1:
        switch (reg) {
          case 0:
            f.push(memReal(c, la, 0));
            return;
          case 2:
          case 3:
            scratch.setFloat32(0, f.st(0), true);
            c.write32(la, scratch.getInt32(0, true));
            if (reg === 3) f.pop();
            return;
          case 5:
            f.fcw = c.read16(la) | 0x40;
            return;
          case 7:
            c.write16(la, f.fcw);
            return;
          case 4:
          case 6:
            fenv(c, la, reg === 6, i.sz);
            return;
        }
        break;
      case 3:
        switch (reg) {
          case 0:
            f.push(c.read32(la) | 0);
            return;
          case 1:
            storeIntTrunc(c, la, f.st(0), 4);
            f.pop();
            return;
          case 2:
          case 3:
            storeInt(c, la, f.st(0), 4);
            if (reg === 3) f.pop();
            return;
          case 5: {
            const b = new Uint8Array(10);
            for (let k = 0; k < 10; k++) b[k] = c.read8(la + k);
            f.push(readExtended(b, 0));
            f.loadReg(f.top, b, 0);
            return;
          }
          case 7: {
            const b = new Uint8Array(10);
            f.storeReg(f.top, b, 0);
            for (let k = 0; k < 10; k++) c.write8(la + k, b[k]);
            f.pop();
            return;
          }
        }
        break;
      case 5:
        switch (reg) {
          case 0:
            f.push(memReal(c, la, 1));
            return;
          case 1:
            storeIntTrunc(c, la, f.st(0), 8);
            f.pop();
            return;
          case 2:
          case 3:
            scratch.setFloat64(0, f.st(0), true);
            c.write64(la, scratch.getInt32(0, true), scratch.getInt32(4, true));
            if (reg === 3) f.pop();
            return;
          case 7:
            c.write16(la, f.getFsw());
            return;
          case 4:
          case 6:
            fsave(c, la, reg === 6, i.sz);
            return;
        }
        break;
      case 7:
        switch (reg) {
          case 0:
            f.push((c.read16(la) << 16) >> 16);
            return;
          case 1:
            storeIntTrunc(c, la, f.st(0), 2);
            f.pop();
            return;
          case 2:
          case 3:
            storeInt(c, la, f.st(0), 2);
            if (reg === 3) f.pop();
            return;
          case 5: {
            const lo = c.read64(la);
            f.push(c.tHi * 4294967296 + (lo >>> 0));
            return;
          }
          case 7:
            storeInt(c, la, f.st(0), 8);
            f.pop();
            return;
        }
        break;
    }
    throw new GuestFault(VEC.UD);
  }
  const r = i.rm & 7;
  switch (o) {
    case 0:
      if (reg === 2 || reg === 3) {
        compare(f, f.st(0), f.st(r));
        if (reg === 3) f.pop();
      } else f.setSt(0, arith(f, reg, f.st(0), f.st(r)));
      return;
    case 1:
      fpuD9(c, f, reg, r);
      return;
    case 2:
      if (reg === 5 && r === 1) {
        compare(f, f.st(0), f.st(1));
        f.pop();
        f.pop();
        return;
      }
      if (reg < 4) {
        const cc = [2, 4, 6, 10][reg]; // B, E, BE, U(P)
        if (evalCond(c, cc)) f.setSt(0, f.st(r));
        return;
      }
      break;
    case 3:
      if (reg < 4) {
        const cc = [3, 5, 7, 11][reg];
        if (evalCond(c, cc)) f.setSt(0, f.st(r));
        return;
      }
      if (reg === 4) {
        if (r === 2)
          f.sw &= ~0x80ff; // FNCLEX
        else if (r === 3) f.init();
        return;
      }
      if (reg === 5 || reg === 6) {
        compareEflags(c, f.st(0), f.st(r));
        return;
      }
      break;
    case 4:
      if (reg === 2 || reg === 3) {
        compare(f, f.st(0), f.st(r));
        if (reg === 3) f.pop();
      } else f.setSt(r, arith(f, reg ^ (reg >= 4 ? 1 : 0), f.st(r), f.st(0)));
      return;
    case 5:
      switch (reg) {
        case 0:
          f.empty |= 1 << ((f.top + r) & 7);
          return;
        case 2:
        case 3:
          f.setSt(r, f.st(0));
          if (reg === 3) f.pop();
          return;
        case 4:
        case 5:
          compare(f, f.st(0), f.st(r));
          if (reg === 5) f.pop();
          return;
      }
      break;
    case 6:
      if (reg === 3 && r === 1) {
        compare(f, f.st(0), f.st(1));
        f.pop();
        f.pop();
        return;
      }
      if (reg !== 2 && reg !== 3) {
        f.setSt(r, arith(f, reg ^ (reg >= 4 ? 1 : 0), f.st(r), f.st(0)));
        f.pop();
        return;
      }
      break;
    case 7:
      if (reg === 4 && r === 0) {
        c.R16[0] = f.getFsw();
        return;
      }
      if (reg === 5 || reg === 6) {
        compareEflags(c, f.st(0), f.st(r));
        f.pop();
        return;
      }
      break;
  }
  throw new GuestFault(VEC.UD);
}

function evalCond(c: Cpu, cc: number): boolean {
  const fl = arithFlags(c);
  switch (cc) {
    case 2:
      return (fl & 1) !== 0;
    case 3:
      return (fl & 1) === 0;
    case 4:
      return (fl & 0x40) !== 0;
    case 5:
      return (fl & 0x40) === 0;
    case 6:
      return (fl & 0x41) !== 0;
    case 7:
      return (fl & 0x41) === 0;
    case 10:
      return (fl & 4) !== 0;
    default:
      return (fl & 4) === 0;
  }
}

function storeIntTrunc(c: Cpu, la: number, v: number, bytes: number): void {
  const f = c.x87;
  const save = f.fcw;
  f.fcw |= 0xc00;
  storeInt(c, la, v, bytes);
  f.fcw = save;
}

const CONSTS = [1, Math.log2(10), Math.LOG2E, Math.PI, Math.log10(2), Math.LN2, 0];

function fpuD9(c: Cpu, f: X87, reg: number, r: number): void {
  switch (reg) {
    case 0:
      f.push(f.st(r));
      return;
    case 1: {
      const a = f.st(0);
      f.setSt(0, f.st(r));
      f.setSt(r, a);
      return;
    }
    case 2:
      if (r === 0) return; // FNOP
      break;
    case 4:
      switch (r) {
        case 0:
          f.setSt(0, -f.st(0));
          return;
        case 1:
          f.setSt(0, Math.abs(f.st(0)));
          return;
        case 4:
          compare(f, f.st(0), 0);
          return;
        case 5: {
          const v = f.st(0);
          f.sw &= ~0x4700;
          let cls: number;
          if (f.isEmpty(0)) cls = 0x4100;
          else if (Number.isNaN(v)) cls = 0x100;
          else if (!Number.isFinite(v)) cls = 0x500;
          else if (v === 0) cls = 0x4000;
          else cls = 0x400;
          if (v < 0 || Object.is(v, -0)) cls |= 0x200;
          f.sw |= cls;
          return;
        }
      }
      break;
    case 5:
      if (r < 7) {
        f.push(CONSTS[r]);
        return;
      }
      break;
    case 6:
      switch (r) {
        case 0:
          f.setSt(0, 2 ** f.st(0) - 1);
          return;
        case 1:
          f.setSt(1, f.st(1) * Math.log2(f.st(0)));
          f.pop();
          return;
        case 2:
          f.setSt(0, Math.tan(f.st(0)));
          f.push(1);
          return;
        case 3:
          f.setSt(1, Math.atan2(f.st(1), f.st(0)));
          f.pop();
          return;
        case 6:
          f.top = (f.top - 1) & 7;
          return;
        case 7:
          f.top = (f.top + 1) & 7;
          return;
        case 5: // FPREM1
        case 4: // FXTRACT
          if (r === 5) {
            const a = f.st(0);
            const b = f.st(1);
            f.setSt(0, a - Math.round(a / b) * b);
            f.sw &= ~0x400;
            return;
          }
          {
            const v = f.st(0);
            const e = v === 0 ? -Infinity : Math.floor(Math.log2(Math.abs(v)));
            f.setSt(0, e);
            f.push(v / 2 ** e);
            return;
          }
      }
      break;
    case 7:
      switch (r) {
        case 0: {
          const a = f.st(0);
          const b = f.st(1);
          const q = Math.trunc(a / b);
          f.setSt(0, a - q * b);
          f.sw = (f.sw & ~0x4700) | ((q & 4) << 6) | ((q & 2) << 13) | ((q & 1) << 9);
          return;
        }
        case 1:
          f.setSt(1, f.st(1) * Math.log2(f.st(0) + 1));
          f.pop();
          return;
        case 2:
          f.setSt(0, Math.sqrt(f.st(0)));
          return;
        case 3: {
          const v = f.st(0);
          f.setSt(0, Math.sin(v));
          f.push(Math.cos(v));
          return;
        }
        case 4:
          f.setSt(0, f.round(f.st(0)));
          return;
        case 5:
          f.setSt(0, f.st(0) * 2 ** Math.trunc(f.st(1)));
          return;
        case 6:
          f.setSt(0, Math.sin(f.st(0)));
          return;
        case 7:
          f.setSt(0, Math.cos(f.st(0)));
          return;
      }
      break;
  }
  void c;
  throw new GuestFault(VEC.UD);
}

/** FNSTENV (store) / FLDENV (load), 28-byte protected-mode layout (14 bytes with 16-bit operands). */
function fenv(c: Cpu, la: number, store: boolean, sz: number): void {
  const f = c.x87;
  const w = sz === 2 ? 2 : 4;
  if (store) {
    c.writeN(la, w, f.fcw | (w === 4 ? 0xffff0000 : 0), 0);
    c.writeN(la + w, w, f.getFsw() | (w === 4 ? 0xffff0000 : 0), 0);
    c.writeN(la + 2 * w, w, f.tagWord() | (w === 4 ? 0xffff0000 : 0), 0);
    for (let k = 3; k < 7; k++) c.writeN(la + k * w, w, 0, 0);
    f.fcw |= 0x3f;
  } else {
    f.fcw = c.read16(la);
    f.setFsw(c.read16(la + w));
    const tw = c.read16(la + 2 * w);
    let e = 0;
    for (let r = 0; r < 8; r++) if (((tw >> (2 * r)) & 3) === 3) e |= 1 << r;
    f.empty = e;
  }
}

/** FNSAVE / FRSTOR: environment plus eight 10-byte registers. */
function fsave(c: Cpu, la: number, store: boolean, sz: number): void {
  const f = c.x87;
  const envSize = sz === 2 ? 14 : 28;
  const b = new Uint8Array(80);
  if (store) {
    fenv(c, la, true, sz);
    for (let k = 0; k < 8; k++) f.storeReg((f.top + k) & 7, b, k * 10);
    for (let k = 0; k < 80; k++) c.write8(la + envSize + k, b[k]);
    f.init();
  } else {
    for (let k = 0; k < 80; k++) b[k] = c.read8(la + envSize + k);
    fenv(c, la, false, sz);
    for (let k = 0; k < 8; k++) f.loadReg((f.top + k) & 7, b, k * 10);
  }
}

/** FWAIT: nothing pending (exceptions are masked). */
export function fwait(_c: Cpu, _i: Insn): void {}
