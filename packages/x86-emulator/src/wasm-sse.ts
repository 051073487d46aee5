/**
 * SSE2 integer and move instructions compiled inline by the WebAssembly block compiler, with
 * WebAssembly's fixed-width SIMD (`v128`) on the XMM registers in the CPU's state area.
 *
 * The planner leaves SSE instructions to their executor (`sse.ts`); for the forms below, in 64-bit
 * code, `wasm-jit.ts` calls {@link emitSse} instead. The common case runs inline: SSE usable
 * (the state area's SSE word, kept from CR0/CR4 by the CPU), and for a memory operand a TLB hit
 * with the whole access inside one page and, where the SDM requires it, 16-byte alignment. Any
 * other case (a TLB miss, a page-crossing or misaligned access, CR0.TS or EM set, CR4.OSFXSR
 * clear) calls the executor for the instruction, which does the same thing or raises the fault
 * (#PF, #GP, #UD, #NM) exactly as when interpreted. C library string and memory functions (strlen,
 * strchr, memset, memcpy) are made of these instructions; run by their executor each was a call
 * out of the compiled code.
 *
 * Only operations with the same result bit for bit are inline: moves, logic, integer compares,
 * adds and subtracts (wrapping and saturating), minimum and maximum, averages, PMULLW, unpacks,
 * shuffles, shifts by an immediate, MOVMSK/PMOVMSKB. Floating-point arithmetic stays with the
 * executor (MXCSR rounding, NaN propagation).
 *
 * @example
 * ```ts
 * if (sseInline(insn)) emitSse(gen, insn, index);
 * ```
 *
 * @module
 */
import type { Insn } from './insn.js';
import { sse } from './sse.js';
import { type Code, Op, Simd } from './wasm-encode.js';
import { BASE, FN_EX, L_LA, L_PEND, L_X, ST } from './wasm-jit.js';

/** What the SSE emitter needs of the WebAssembly block compiler's generator. */
export interface SseGen {
  readonly c: Code;
  /** Table entry of the block being compiled. */
  readonly id: number;
  /** The block is compiled as a loop (executor calls accumulate their "pending" bit in L_PEND). */
  readonly loop: boolean;
  /** Pushes GPR `r` (i64). */
  reg(r: number): Code;
  /** Pops an i64 into GPR `r`. */
  setReg(r: number): void;
  /** Pushes the linear address (i64) of `i`'s memory operand. */
  ea(i: Insn): void;
  /** TLB check of L_LA in bank `kOff` for `size` bytes inside one page: pushes the hit condition (i32). */
  tlbCheck(kOff: number, size: number): void;
  /** Pushes the host address (i32) of the access `tlbCheck` found. */
  hostAddr(): void;
  /** Stores registers, flags and the instruction index before an import. */
  beforeImport(k: number, clear: boolean): void;
  /** Returns after an executor ended the block. */
  exitAfterCall(x: number): void;
}

/** How an inline SSE instruction works. */
enum F {
  /** dst xmm = 128-bit source (register or memory). */
  LOAD128,
  /** 128-bit memory or register destination = xmm `reg`. */
  STORE128,
  /** dst xmm = op(dst, source). */
  BINARY,
  /** dst xmm = shuffle of the source (PSHUFD/PSHUFLW/PSHUFHW). */
  SHUFFLE_IMM,
  /** xmm = zero-extended GPR or memory, 32 or 64 bits (66 0f 6e). */
  MOVD_IN,
  /** GPR or memory = low 32 or 64 bits of xmm (66 0f 7e). */
  MOVD_OUT,
  /** xmm = low qword of xmm or m64, upper zeroed (f3 0f 7e). */
  MOVQ_IN,
  /** m64 = low qword, or xmm = low qword with upper zeroed (66 0f d6). */
  MOVQ_OUT,
  /** GPR = sign-bit mask of xmm (PMOVMSKB, MOVMSKPS, MOVMSKPD). */
  MASK,
  /** xmm `rm` shifted by an immediate (66 0f 71/72/73). */
  SHIFT_IMM,
}

interface Form {
  f: F;
  /** 16-byte alignment required for the memory operand. */
  align: boolean;
  /** The SIMD opcode (BINARY, MASK, SHIFT_IMM), or -1 for a shuffle (`lanes`). */
  simd: number;
  /** Swap the operands (PANDN: ~dst & src is andnot(src, dst)). */
  swap: boolean;
  /** BINARY shuffles: result byte k is byte lanes[k] of dst (0-15) or of the source (16-31). */
  lanes: readonly number[] | null;
}

const form = (
  f: F,
  align: boolean,
  simd = -1,
  swap = false,
  lanes: readonly number[] | null = null,
): Form => ({
  f,
  align,
  simd,
  swap,
  lanes,
});

/** Interleaving of the low (`hi` false) or high halves of dst and src in elements of `w` bytes. */
function unpackLanes(w: number, hi: boolean): number[] {
  const out: number[] = [];
  const base = hi ? 8 : 0;
  for (let e = 0; e < 8 / w; e++) {
    for (let b = 0; b < w; b++) out.push(base + e * w + b);
    for (let b = 0; b < w; b++) out.push(16 + base + e * w + b);
  }
  return out;
}

/** 66-prefixed packed-integer operations, by opcode byte. */
const BINARY_66: Record<number, Form> = {
  96: form(F.BINARY, true, -1, false, unpackLanes(1, false)),
  97: form(F.BINARY, true, -1, false, unpackLanes(2, false)),
  98: form(F.BINARY, true, -1, false, unpackLanes(4, false)),
  108: form(F.BINARY, true, -1, false, unpackLanes(8, false)),
  104: form(F.BINARY, true, -1, false, unpackLanes(1, true)),
  105: form(F.BINARY, true, -1, false, unpackLanes(2, true)),
  106: form(F.BINARY, true, -1, false, unpackLanes(4, true)),
  109: form(F.BINARY, true, -1, false, unpackLanes(8, true)),
  100: form(F.BINARY, true, Simd.I8X16_GT_S),
  101: form(F.BINARY, true, Simd.I16X8_GT_S),
  102: form(F.BINARY, true, Simd.I32X4_GT_S),
  116: form(F.BINARY, true, Simd.I8X16_EQ),
  117: form(F.BINARY, true, Simd.I16X8_EQ),
  118: form(F.BINARY, true, Simd.I32X4_EQ),
  212: form(F.BINARY, true, Simd.I64X2_ADD),
  213: form(F.BINARY, true, Simd.I16X8_MUL),
  216: form(F.BINARY, true, Simd.I8X16_SUB_SAT_U),
  217: form(F.BINARY, true, Simd.I16X8_SUB_SAT_U),
  218: form(F.BINARY, true, Simd.I8X16_MIN_U),
  219: form(F.BINARY, true, Simd.V128_AND),
  220: form(F.BINARY, true, Simd.I8X16_ADD_SAT_U),
  221: form(F.BINARY, true, Simd.I16X8_ADD_SAT_U),
  222: form(F.BINARY, true, Simd.I8X16_MAX_U),
  223: form(F.BINARY, true, Simd.V128_ANDNOT, true),
  224: form(F.BINARY, true, Simd.I8X16_AVGR_U),
  227: form(F.BINARY, true, Simd.I16X8_AVGR_U),
  232: form(F.BINARY, true, Simd.I8X16_SUB_SAT_S),
  233: form(F.BINARY, true, Simd.I16X8_SUB_SAT_S),
  234: form(F.BINARY, true, Simd.I16X8_MIN_S),
  235: form(F.BINARY, true, Simd.V128_OR),
  236: form(F.BINARY, true, Simd.I8X16_ADD_SAT_S),
  237: form(F.BINARY, true, Simd.I16X8_ADD_SAT_S),
  238: form(F.BINARY, true, Simd.I16X8_MAX_S),
  239: form(F.BINARY, true, Simd.V128_XOR),
  248: form(F.BINARY, true, Simd.I8X16_SUB),
  249: form(F.BINARY, true, Simd.I16X8_SUB),
  250: form(F.BINARY, true, Simd.I32X4_SUB),
  251: form(F.BINARY, true, Simd.I64X2_SUB),
  252: form(F.BINARY, true, Simd.I8X16_ADD),
  253: form(F.BINARY, true, Simd.I16X8_ADD),
  254: form(F.BINARY, true, Simd.I32X4_ADD),
};

/** ANDPS/ANDNPS/ORPS/XORPS and their PD forms (no prefix or 66). */
const LOGIC_PS: Record<number, Form> = {
  84: form(F.BINARY, true, Simd.V128_AND),
  85: form(F.BINARY, true, Simd.V128_ANDNOT, true),
  86: form(F.BINARY, true, Simd.V128_OR),
  87: form(F.BINARY, true, Simd.V128_XOR),
};

const LOAD_U = form(F.LOAD128, false);
const LOAD_A = form(F.LOAD128, true);
const STORE_U = form(F.STORE128, false);
const STORE_A = form(F.STORE128, true);

/** The inline form of `i`, or null when its executor runs it. */
function formOf(i: Insn): Form | null {
  if (i.fn !== sse || i.opc >> 8 !== 1) return null;
  if (i.mem && i.asz !== 8) return null;
  const op = i.opc & 0xff;
  const p = i.pfx;
  if (p === 0 || p === 1) {
    switch (op) {
      case 0x10:
        return LOAD_U;
      case 0x11:
        return STORE_U;
      case 0x28:
        return LOAD_A;
      case 0x29:
        return STORE_A;
      case 0x2b:
        return i.mem ? STORE_A : null;
      case 0x50:
        return i.mem ? null : form(F.MASK, false, p === 0 ? Simd.I32X4_BITMASK : Simd.I64X2_BITMASK);
      default:
        if (LOGIC_PS[op] !== undefined) return LOGIC_PS[op];
    }
  }
  if (p === 1) {
    switch (op) {
      case 0x6f:
        return LOAD_A;
      case 0x7f:
        return STORE_A;
      case 0xe7:
        return i.mem ? STORE_A : null;
      case 0x6e:
        return form(F.MOVD_IN, false);
      case 0x7e:
        return form(F.MOVD_OUT, false);
      case 0xd6:
        return form(F.MOVQ_OUT, false);
      case 0xd7:
        return i.mem ? null : form(F.MASK, false, Simd.I8X16_BITMASK);
      case 0x70:
        return form(F.SHUFFLE_IMM, true);
      case 0x71:
      case 0x72:
      case 0x73: {
        if (i.mem) return null;
        const sub = i.reg & 7;
        const ok =
          op === 0x73
            ? sub === 2 || sub === 3 || sub === 6 || sub === 7
            : sub === 2 || sub === 4 || sub === 6;
        return ok ? form(F.SHIFT_IMM, false) : null;
      }
      default:
        return BINARY_66[op] ?? null;
    }
  }
  if (p === 2) {
    if (op === 0x6f) return LOAD_U;
    if (op === 0x7f) return STORE_U;
    if (op === 0x7e) return form(F.MOVQ_IN, false);
    if (op === 0x70) return form(F.SHUFFLE_IMM, false);
  }
  if (p === 3 && op === 0x70) return form(F.SHUFFLE_IMM, false);
  return null;
}

/** Whether {@link emitSse} compiles `i` (64-bit code). @example sseInline(insn) */
export function sseInline(i: Insn): boolean {
  return formOf(i) !== null;
}

const xmm = (r: number): number => ST.XMM + 16 * r;

/** Bytes of the memory operand each form accesses. */
function accessSize(i: Insn, f: F): number {
  switch (f) {
    case F.MOVD_IN:
    case F.MOVD_OUT:
      return i.sz === 8 ? 8 : 4;
    case F.MOVQ_IN:
    case F.MOVQ_OUT:
      return 8;
    default:
      return 16;
  }
}

/** Whether the form writes its memory operand (else it reads it). */
function writesMemory(f: F): boolean {
  return f === F.STORE128 || f === F.MOVD_OUT || f === F.MOVQ_OUT;
}

/** The GPR an executor run of `i` may write (its reload after the slow path), or -1. */
function gprWritten(i: Insn, f: F): number {
  if (f === F.MASK) return i.reg;
  if (f === F.MOVD_OUT && !i.mem) return i.rm;
  return -1;
}

/** Shuffle lanes of PSHUFD (p 1), PSHUFHW (p 2), PSHUFLW (p 3) with immediate `imm`, from one source. */
function shuffleImmLanes(p: number, imm: number): number[] {
  const out: number[] = [];
  if (p === 1) {
    for (let d = 0; d < 4; d++) {
      const s = (imm >> (2 * d)) & 3;
      for (let b = 0; b < 4; b++) out.push(4 * s + b);
    }
    return out;
  }
  const hiWords = p === 2;
  for (let w = 0; w < 8; w++) {
    const inHalf = hiWords ? w >= 4 : w < 4;
    const s = inHalf ? (hiWords ? 4 : 0) + ((imm >> (2 * (w & 3))) & 3) : w;
    out.push(2 * s, 2 * s + 1);
  }
  return out;
}

/** Pushes the v128 source operand: xmm `rm`, or the 16 bytes at the host address found. */
function source128(g: SseGen, i: Insn): void {
  if (i.mem) {
    g.hostAddr();
    g.c.simdMem(Simd.V128_LOAD, 0);
  } else g.c.get(BASE).simdMem(Simd.V128_LOAD, xmm(i.rm));
}

/** The fast path of `i` (the conditions for it hold). */
function fast(g: SseGen, i: Insn, fm: Form): void {
  const c = g.c;
  const d = i.reg;
  switch (fm.f) {
    case F.LOAD128:
      c.get(BASE);
      source128(g, i);
      c.simdMem(Simd.V128_STORE, xmm(d));
      return;
    case F.STORE128:
      if (i.mem) g.hostAddr();
      else c.get(BASE);
      c.get(BASE).simdMem(Simd.V128_LOAD, xmm(d));
      c.simdMem(Simd.V128_STORE, i.mem ? 0 : xmm(i.rm));
      return;
    case F.BINARY:
      c.get(BASE);
      if (fm.swap) {
        source128(g, i);
        c.get(BASE).simdMem(Simd.V128_LOAD, xmm(d));
      } else {
        c.get(BASE).simdMem(Simd.V128_LOAD, xmm(d));
        source128(g, i);
      }
      if (fm.lanes !== null) c.shuffle(fm.lanes);
      else c.simd(fm.simd);
      c.simdMem(Simd.V128_STORE, xmm(d));
      return;
    case F.SHUFFLE_IMM: {
      c.get(BASE);
      source128(g, i);
      c.v128Zero();
      c.shuffle(shuffleImmLanes(i.pfx, i.imm & 0xff));
      c.simdMem(Simd.V128_STORE, xmm(d));
      return;
    }
    case F.MOVD_IN: {
      const size = i.sz === 8 ? 8 : 4;
      c.get(BASE);
      if (i.mem) {
        g.hostAddr();
        c.mem(size === 8 ? Op.I64_LOAD : Op.I64_LOAD32_U, 0);
      } else {
        g.reg(i.rm);
        if (size === 4) c.op(Op.I32_WRAP_I64, Op.I64_EXTEND_I32_U);
      }
      c.mem(Op.I64_STORE, xmm(d));
      c.get(BASE)
        .i64(0)
        .mem(Op.I64_STORE, xmm(d) + 8);
      return;
    }
    case F.MOVD_OUT: {
      const size = i.sz === 8 ? 8 : 4;
      if (i.mem) {
        g.hostAddr();
        c.get(BASE).mem(size === 8 ? Op.I64_LOAD : Op.I64_LOAD32_U, xmm(d));
        c.mem(size === 8 ? Op.I64_STORE : Op.I64_STORE32, 0);
      } else {
        c.get(BASE).mem(size === 8 ? Op.I64_LOAD : Op.I64_LOAD32_U, xmm(d));
        g.setReg(i.rm);
      }
      return;
    }
    case F.MOVQ_IN:
      c.get(BASE);
      if (i.mem) {
        g.hostAddr();
        c.mem(Op.I64_LOAD, 0);
      } else c.get(BASE).mem(Op.I64_LOAD, xmm(i.rm));
      c.mem(Op.I64_STORE, xmm(d));
      c.get(BASE)
        .i64(0)
        .mem(Op.I64_STORE, xmm(d) + 8);
      return;
    case F.MOVQ_OUT:
      if (i.mem) {
        g.hostAddr();
        c.get(BASE).mem(Op.I64_LOAD, xmm(d));
        c.mem(Op.I64_STORE, 0);
      } else {
        c.get(BASE).get(BASE).mem(Op.I64_LOAD, xmm(d)).mem(Op.I64_STORE, xmm(i.rm));
        c.get(BASE)
          .i64(0)
          .mem(Op.I64_STORE, xmm(i.rm) + 8);
      }
      return;
    case F.MASK:
      c.get(BASE).simdMem(Simd.V128_LOAD, xmm(i.rm)).simd(fm.simd);
      c.op(Op.I64_EXTEND_I32_U);
      g.setReg(d);
      return;
    case F.SHIFT_IMM:
      shiftImm(g, i);
      return;
  }
}

/** 66 0f 71/72/73 on xmm `rm` by `imm`: lane shifts (a count past the lane width gives 0, or all sign bits), byte shifts. */
function shiftImm(g: SseGen, i: Insn): void {
  const c = g.c;
  const op = i.opc & 0xff;
  const sub = i.reg & 7;
  const n = i.imm & 0xff;
  const r = xmm(i.rm);
  c.get(BASE);
  if (op === 0x73 && (sub === 3 || sub === 7)) {
    // PSRLDQ / PSLLDQ: whole-register byte shifts
    const lanes: number[] = [];
    for (let j = 0; j < 16; j++) {
      const s = sub === 3 ? j + n : j - n;
      lanes.push(s >= 0 && s < 16 ? s : 16);
    }
    c.get(BASE).simdMem(Simd.V128_LOAD, r).v128Zero().shuffle(lanes);
  } else {
    const bits = op === 0x71 ? 16 : op === 0x72 ? 32 : 64;
    const arith = sub === 4;
    if (!arith && n >= bits) c.v128Zero();
    else {
      const [shl, shrS, shrU] =
        bits === 16
          ? [Simd.I16X8_SHL, Simd.I16X8_SHR_S, Simd.I16X8_SHR_U]
          : bits === 32
            ? [Simd.I32X4_SHL, Simd.I32X4_SHR_S, Simd.I32X4_SHR_U]
            : [Simd.I64X2_SHL, -1, Simd.I64X2_SHR_U];
      c.get(BASE).simdMem(Simd.V128_LOAD, r);
      c.i32(arith ? Math.min(n, bits - 1) : n);
      c.simd(sub === 6 ? shl : arith ? shrS : shrU);
    }
  }
  c.simdMem(Simd.V128_STORE, r);
}

/**
 * Emits `i` (instruction `k` of its block; {@link sseInline} said yes): the inline fast path under
 * its conditions, else a call of its executor.
 */
export function emitSse(g: SseGen, i: Insn, k: number): void {
  const fm = formOf(i) as Form;
  const c = g.c;
  if (i.mem) {
    g.ea(i);
    c.set(L_LA);
    g.tlbCheck(writesMemory(fm.f) ? ST.KW : ST.KR, accessSize(i, fm.f));
    if (fm.align) c.get(L_LA).op(Op.I32_WRAP_I64).i32(15).op(Op.I32_AND, Op.I32_EQZ, Op.I32_AND);
    c.get(BASE).mem(Op.I32_LOAD, ST.SSEOK).op(Op.I32_AND);
  } else c.get(BASE).mem(Op.I32_LOAD, ST.SSEOK);
  c.if();
  fast(g, i, fm);
  c.op(Op.ELSE);
  // the executor: the same operation, or the fault
  g.beforeImport(k, false);
  c.i32(g.id).i32(k).call(FN_EX).tee(L_X);
  c.i32(1).op(Op.I32_AND).if();
  g.exitAfterCall(k + 1);
  c.end();
  if (g.loop) c.get(L_X).i32(1).op(Op.I32_SHR_U).get(L_PEND).op(Op.I32_OR).set(L_PEND);
  const w = gprWritten(i, fm.f);
  if (w >= 0) {
    c.get(BASE).mem(Op.I64_LOAD, ST.R + 8 * w);
    g.setReg(w);
  }
  c.end();
}
