/**
 * Lazy arithmetic flags. ALU instructions record their operation, operand size, operands and result
 * in the CPU's `f*` fields; CF/PF/AF/ZF/SF/OF are computed only when an instruction reads them.
 *
 * Representation: for operand sizes 1, 2 and 4 the operands and result are unsigned numbers masked to
 * the size; for size 8 the low halves sit in `fA`/`fB`/`fRes` and the high halves in
 * `fAH`/`fBH`/`fResH`, all as int32.
 *
 * @example
 * ```ts
 * // after `cmp eax, ebx` the CPU holds { fOp: F_SUB, fA: eax, fB: ebx, fRes: eax - ebx }
 * const zf = flagZF(cpu);
 * ```
 */
import type { Cpu } from './cpu.js';
import { imul64Overflow } from './muldiv.js';

/** Flags given explicitly in `fFlags`. */
export const F_EXPL = 0;
/** Addition: CF from the unsigned carry. */
export const F_ADD = 1;
/** Addition with carry-in `fCin`. */
export const F_ADC = 2;
/** Subtraction (also CMP, NEG as 0 - x). */
export const F_SUB = 3;
/** Subtraction with borrow-in `fCin`. */
export const F_SBB = 4;
/** Logic: CF = OF = AF = 0. */
export const F_LOGIC = 5;
/** Increment: CF preserved in `fCF`. */
export const F_INC = 6;
/** Decrement: CF preserved in `fCF`. */
export const F_DEC = 7;
/** CF/OF/AF preset in `fCF`/`fOF`/`fAF`; ZF/SF/PF from the result (shifts, multiplies). */
export const F_PRESET = 8;

/** 64-bit two/three-operand IMUL: CF = OF computed from the operands on demand; AF = 0. */
export const F_IMUL64 = 9;

/** Parity flag lookup for one byte: 1 when the number of set bits is even. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = (b & 1) ^ 1;
}

function ult64(ah: number, al: number, bh: number, bl: number): boolean {
  const ahu = ah >>> 0;
  const bhu = bh >>> 0;
  return ahu < bhu || (ahu === bhu && al >>> 0 < bl >>> 0);
}

/** Carry flag (0 or 1). @example const carry = flagCF(cpu); */
export function flagCF(c: Cpu): number {
  switch (c.fOp) {
    case F_ADD:
      if (c.fSz !== 8) return c.fRes < c.fA ? 1 : 0;
      return ult64(c.fResH, c.fRes, c.fAH, c.fA) ? 1 : 0;
    case F_ADC:
      if (c.fSz !== 8) return c.fRes < c.fA || (c.fCin !== 0 && c.fRes === c.fA) ? 1 : 0;
      return ult64(c.fResH, c.fRes, c.fAH, c.fA) || (c.fCin !== 0 && c.fRes === c.fA && c.fResH === c.fAH)
        ? 1
        : 0;
    case F_SUB:
      if (c.fSz !== 8) return c.fA < c.fB ? 1 : 0;
      return ult64(c.fAH, c.fA, c.fBH, c.fB) ? 1 : 0;
    case F_SBB:
      if (c.fSz !== 8) return c.fA < c.fB || (c.fCin !== 0 && c.fA === c.fB) ? 1 : 0;
      return ult64(c.fAH, c.fA, c.fBH, c.fB) || (c.fCin !== 0 && c.fA === c.fB && c.fAH === c.fBH) ? 1 : 0;
    case F_LOGIC:
      return 0;
    case F_INC:
    case F_DEC:
    case F_PRESET:
      return c.fCF;
    case F_IMUL64:
      return imul64Overflow(c);
    default:
      return c.fFlags & 1;
  }
}

/** Zero flag. @example flagZF(cpu) */
export function flagZF(c: Cpu): number {
  if (c.fOp === F_EXPL) return (c.fFlags >> 6) & 1;
  if (c.fSz === 8) return (c.fRes | c.fResH) === 0 ? 1 : 0;
  return c.fRes === 0 ? 1 : 0;
}

/** Sign flag. @example flagSF(cpu) */
export function flagSF(c: Cpu): number {
  if (c.fOp === F_EXPL) return (c.fFlags >> 7) & 1;
  if (c.fSz === 8) return c.fResH >>> 31;
  return (c.fRes >>> (c.fSz * 8 - 1)) & 1;
}

/** Parity flag (of the low result byte). @example flagPF(cpu) */
export function flagPF(c: Cpu): number {
  if (c.fOp === F_EXPL) return (c.fFlags >> 2) & 1;
  return PARITY[c.fRes & 0xff];
}

/** Auxiliary carry flag. @example flagAF(cpu) */
export function flagAF(c: Cpu): number {
  switch (c.fOp) {
    case F_ADD:
    case F_ADC:
    case F_SUB:
    case F_SBB:
    case F_INC:
    case F_DEC:
      return ((c.fA ^ c.fB ^ c.fRes) >> 4) & 1;
    case F_LOGIC:
    case F_IMUL64:
      return 0;
    case F_PRESET:
      return c.fAF;
    default:
      return (c.fFlags >> 4) & 1;
  }
}

/** Overflow flag. @example flagOF(cpu) */
export function flagOF(c: Cpu): number {
  const sz = c.fSz;
  switch (c.fOp) {
    case F_ADD:
    case F_ADC:
      if (sz === 8) return (((c.fAH ^ c.fResH) & (c.fBH ^ c.fResH)) >>> 31) & 1;
      return (((c.fA ^ c.fRes) & (c.fB ^ c.fRes)) >>> (sz * 8 - 1)) & 1;
    case F_SUB:
    case F_SBB:
      if (sz === 8) return (((c.fAH ^ c.fBH) & (c.fAH ^ c.fResH)) >>> 31) & 1;
      return (((c.fA ^ c.fB) & (c.fA ^ c.fRes)) >>> (sz * 8 - 1)) & 1;
    case F_INC:
      if (sz === 8) return c.fResH === (0x80000000 | 0) && c.fRes === 0 ? 1 : 0;
      return c.fRes === 2 ** (sz * 8 - 1) ? 1 : 0;
    case F_DEC:
      if (sz === 8) return c.fResH === 0x7fffffff && c.fRes === -1 ? 1 : 0;
      return c.fRes === 2 ** (sz * 8 - 1) - 1 ? 1 : 0;
    case F_LOGIC:
      return 0;
    case F_PRESET:
      return c.fOF;
    case F_IMUL64:
      return imul64Overflow(c);
    default:
      return (c.fFlags >> 11) & 1;
  }
}

/** The six arithmetic flags as RFLAGS bits. @example const f = arithFlags(cpu) & 0x8d5; */
export function arithFlags(c: Cpu): number {
  if (c.fOp === F_EXPL) return c.fFlags;
  return (
    flagCF(c) | (flagPF(c) << 2) | (flagAF(c) << 4) | (flagZF(c) << 6) | (flagSF(c) << 7) | (flagOF(c) << 11)
  );
}

/** Sets the arithmetic flags explicitly (RFLAGS bit layout). @example setArithFlags(cpu, 0x40) // ZF */
export function setArithFlags(c: Cpu, bits: number): void {
  c.fFlags = bits & 0x8d5;
  c.fOp = F_EXPL;
}

/**
 * Evaluates condition code `cc` (0..15, the low nibble of Jcc/SETcc/CMOVcc) against the flags.
 * @example cond(cpu, 4) // ZF set ("e")
 */
export function cond(c: Cpu, cc: number): boolean {
  let r: number;
  if (c.fOp === F_SUB && c.fSz !== 8) {
    // cmp/sub fast path on unsigned masked values
    const a = c.fA;
    const b = c.fB;
    switch (cc >> 1) {
      case 1:
        r = a < b ? 1 : 0;
        break;
      case 2:
        r = a === b ? 1 : 0;
        break;
      case 3:
        r = a <= b ? 1 : 0;
        break;
      case 6: {
        const sh = 32 - c.fSz * 8;
        r = (a << sh) >> sh < (b << sh) >> sh ? 1 : 0;
        break;
      }
      case 7: {
        const sh = 32 - c.fSz * 8;
        r = (a << sh) >> sh <= (b << sh) >> sh ? 1 : 0;
        break;
      }
      default:
        r = condSlow(c, cc >> 1);
    }
  } else if (c.fOp === F_SUB) {
    // 64-bit cmp/sub: compare the operands' halves directly
    const ah = c.fAH;
    const bh = c.fBH;
    const al = c.fA >>> 0;
    const bl = c.fB >>> 0;
    switch (cc >> 1) {
      case 1:
        r = ah >>> 0 < bh >>> 0 || (ah === bh && al < bl) ? 1 : 0;
        break;
      case 2:
        r = ah === bh && al === bl ? 1 : 0;
        break;
      case 3:
        r = ah >>> 0 < bh >>> 0 || (ah === bh && al <= bl) ? 1 : 0;
        break;
      case 6:
        r = ah < bh || (ah === bh && al < bl) ? 1 : 0;
        break;
      case 7:
        r = ah < bh || (ah === bh && al <= bl) ? 1 : 0;
        break;
      default:
        r = condSlow(c, cc >> 1);
    }
  } else if (c.fOp === F_LOGIC) {
    // test/and/or/xor: CF = OF = 0
    switch (cc >> 1) {
      case 0:
      case 1:
        r = 0;
        break;
      case 2:
      case 3:
        r = flagZF(c);
        break;
      case 4:
      case 6:
        r = flagSF(c);
        break;
      case 7:
        r = flagZF(c) | flagSF(c);
        break;
      default:
        r = flagPF(c);
    }
  } else {
    r = condSlow(c, cc >> 1);
  }
  return (r ^ (cc & 1)) !== 0;
}

function condSlow(c: Cpu, k: number): number {
  switch (k) {
    case 0:
      return flagOF(c);
    case 1:
      return flagCF(c);
    case 2:
      return flagZF(c);
    case 3:
      return flagCF(c) | flagZF(c);
    case 4:
      return flagSF(c);
    case 5:
      return flagPF(c);
    case 6:
      return flagSF(c) ^ flagOF(c);
    default:
      return flagZF(c) | (flagSF(c) ^ flagOF(c));
  }
}
