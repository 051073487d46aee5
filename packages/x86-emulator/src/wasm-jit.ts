/**
 * WebAssembly block compiler: hot basic blocks become WebAssembly functions, compiled in batches
 * into one module each, and called through one function table.
 *
 * Why WebAssembly: V8's baseline WebAssembly compiler (Liftoff) compiles a block in microseconds,
 * where its optimising JavaScript compiler takes milliseconds per block (a Linux boot compiles
 * thousands), and 64-bit integer arithmetic is native. Batching puts the code of many blocks next
 * to each other (calls into thousands of separately allocated functions are dominated by cache
 * and TLB misses), and one dispatcher export keeps the JavaScript-to-WebAssembly call site
 * monomorphic.
 *
 * It needs guest RAM inside a `WebAssembly.Memory` (vm-memory's `GuestMemory.createWasm`): the
 * compiled code reads and writes guest memory directly through the software TLB, whose tags and
 * page addresses live in the same memory, next to the registers (`Cpu.R` and `Cpu.segEff` are views
 * of this state area, which the CPU takes by growing the memory).
 *
 * Planning (which instructions are inline, flag liveness) is shared with the JavaScript block
 * compiler (jit.ts). Registers are i64 locals for the whole block; the lazy flag record is kept in
 * locals and written to the state area where something outside the block can see it; instructions
 * without an inline form call their executor through an import. A memory access off the TLB calls
 * the CPU's accessor through an import (which may throw a guest fault: registers and flags are
 * written to the state area before, so the CPU state is exactly that before the instruction).
 *
 * @example
 * ```ts
 * const jit = WasmJit.create(cpu, wm); // cpu.wasmState lies in wm
 * jit.enqueue(block, cpu); // compiled with the next batch; block.fn is set then
 * ```
 */
import { aluEI, aluGE, movEI, movGE, testEG, testEI } from './alu.js';
import type { Block } from './block-cache.js';
import { jcc } from './control.js';
import type { Cpu } from './cpu.js';
import {
  F_ADC,
  F_ADD,
  F_DEC,
  F_IMUL64,
  F_INC,
  F_LOGIC,
  F_PRESET,
  F_SBB,
  F_SUB,
  flagCF,
  cond as flagCond,
} from './flags.js';
import type { Insn } from './insn.js';
import { flagOpOf, K, planBlock, writtenBy } from './jit.js';
import { rotateFlags } from './shift.js';
import { TLB_KINDS, TLB_SIZE } from './tlb.js';
import { Code, F64, I32, I64, moduleBytes, Op, type Sig } from './wasm-encode.js';
import { emitSse, type SseGen, sseInline } from './wasm-sse.js';

// ------------------------------------------------------------------ the state area

/** Byte offsets inside the CPU's state area. */
export const ST = {
  /** General registers, 17 x i64 (`Cpu.R`). */
  R: 0,
  /** Flag record written by compiled code: op (-1: none), size, carry-in, CF, OF, A, B, result. */
  FOP: 256,
  FSZ: 260,
  FCIN: 264,
  FCF: 268,
  FOF: 272,
  FA: 280,
  FB: 288,
  FR: 296,
  /** RIP at a block's end (f64). */
  RIP: 320,
  /** TLB bank offsets for reads and writes at the current privilege (`Cpu.kR`/`kW`, kept by `Cpu.privilegeChanged`). */
  KR: 328,
  KW: 332,
  /** Index of the instruction an import was called for (fault reporting). */
  PC: 336,
  /** Iterations completed by a loop block (fault reporting). */
  IT: 340,
  /** Value returned by a slow-path read. */
  TMP: 344,
  /** Non-zero: the dispatcher must not chain to another block (exit, interrupt, shadow, halt). */
  STOP: 352,
  /** Table entry of the block running now (fault reporting). */
  CUR: 356,
  /** Instructions retired by the blocks the dispatcher ran before the current one. */
  TOTAL: 360,
  /** Blocks the dispatcher chained to after the first (statistics). */
  RUNS: 364,
  /** The TLB's flush epochs (`Tlb.epochs`: all flushes, global-affecting flushes). */
  EPOCHS: 368,
  /** 1 when SSE instructions may run inline (CR0.EM = 0, CR0.TS = 0, CR4.OSFXSR = 1; kept by the CPU). */
  SSEOK: 376,
  /** Effective segment bases, 8 x f64 (`Cpu.segEff`). */
  SEG: 384,
  /** XMM0-15, 16 bytes each (`Cpu.xmm`). */
  XMM: 512,
  /** TLB tags, f64 per slot (`Tlb.tag`). */
  TAG: 4096,
  /** TLB page addresses inside the WebAssembly memory, i32 per slot (`Tlb.wad`). */
  WAD: 4096 + TLB_SIZE * TLB_KINDS * 8,
} as const;
/**
 * The dispatcher's block cache: 64-bit code's RIP -> table entry, direct-mapped, 16 bytes per
 * entry (RIP f64, entry i32, epoch i32: see {@link cacheEpoch}).
 */
const CACHE = ST.WAD + TLB_SIZE * TLB_KINDS * 4;
const CACHE_SIZE = 16384;
/** Size of the state area. */
export const STATE_BYTES = CACHE + CACHE_SIZE * 16;

/**
 * The epoch word of a dispatcher cache entry: the TLB epoch it was entered under (its low 30 bits),
 * bit 31 set for a block on global pages (which only global-affecting flushes invalidate), bit 30
 * for an entry made at CPL 3 (followed only at the CPL it was made at).
 */
function cacheEpoch(epoch: number, global: boolean, user: boolean): number {
  return (epoch & 0x3fffffff) | (global ? 0x80000000 : 0) | (user ? 0x40000000 : 0);
}

/** Cache slot of RIP `rip` (the low 32 bits folded). */
function cacheSlot(rip: number): number {
  const lo = rip | 0;
  return (lo ^ (lo >>> 16)) & (CACHE_SIZE - 1);
}

// ------------------------------------------------------------------ imports and locals

// function types
const T_BLOCK = 0; // (budget, state area) -> retired
const T_RD = 1; // (la, size) -> ()
const T_WR = 2; // (la, size, lo, hi) -> brk
const T_EX = 3; // (block id, index) -> status
const T_CF = 4; // () -> cf
const T_ROT = 5; // (cf, of) -> ()
const T_COND = 6; // (cc) -> 0/1
const TYPES: Sig[] = [
  [[I32, I32], [I32]],
  [[F64, I32], []],
  [[F64, I32, I32, I32], [I32]],
  [[I32, I32], [I32]],
  [[], [I32]],
  [[I32, I32], []],
  [[I32], [I32]],
];
// imported functions (the first function indices)
const IMPORTS = [
  { name: 'rd', type: T_RD },
  { name: 'rdw', type: T_RD },
  { name: 'wr', type: T_WR },
  { name: 'ex', type: T_EX },
  { name: 'cond', type: T_COND },
  { name: 'cf', type: T_CF },
  { name: 'rot', type: T_ROT },
];
const FN_RD = 0;
const FN_RDW = 1;
const FN_WR = 2;
export const FN_EX = 3;
const FN_COND = 4;
const FN_CF = 5;
const FN_ROT = 6;

// locals (0 is the budget parameter, 1 the state area's address)
/** The state area of the CPU running the block (parameter 1). */
export const BASE = 1;
const L_REG = 2; // 16 x i64
const L_FA = 18;
const L_FB = 19;
const L_FR = 20;
const L_FCIN = 21;
const L_FCF = 22;
const L_FOF = 23;
const L_IT = 24;
const L_MAX = 25;
export const L_LA = 26;
const L_V = 27;
const L_A = 28;
const L_B = 29;
const L_T = 30;
const L_T2 = 31;
export const L_X = 32;
const L_X2 = 33;
const L_BK = 34;
export const L_PEND = 35;
/** The state area's flag op, while a condition is computed from the record there. */
const L_F = 36;
const LOCALS: number[] = [
  ...new Array<number>(19).fill(I64), // registers, fa, fb, fr
  ...new Array<number>(5).fill(I32), // fcin, fcf, fof, it, max
  ...new Array<number>(6).fill(I64), // la, v, a, b, t, t2
  ...new Array<number>(5).fill(I32), // x, x2, bk, pend, f
];

const M32 = 0xffffffff;

/** Static description of the flag record held in the locals. */
interface FlagState {
  op: number;
  sz: number;
}

// ------------------------------------------------------------------ code generation

class WGen implements SseGen {
  c = new Code();
  readonly used = new Set<number>();
  readonly written = new Set<number>();
  dirty = new Set<number>();
  flags: FlagState | null = null;

  constructor(
    readonly id: number,
    readonly n: number,
    readonly loop: boolean,
  ) {}

  reg(r: number): Code {
    this.used.add(r);
    return this.c.get(L_REG + r);
  }
  /** Pops the value on the stack into register `r`. */
  setReg(r: number): void {
    this.used.add(r);
    this.written.add(r);
    this.dirty.add(r);
    this.c.set(L_REG + r);
  }
  /** Stores the locals of `regs` to the state area's registers. */
  storeRegs(regs: Iterable<number>): void {
    for (const r of regs)
      this.c
        .get(BASE)
        .get(L_REG + r)
        .mem(Op.I64_STORE, ST.R + 8 * r);
  }
  syncRegs(): void {
    this.storeRegs(this.dirty);
    this.dirty = new Set();
  }
  reload(only: number[] | null): void {
    for (const r of only ?? this.used) {
      if (this.used.has(r))
        this.c
          .get(BASE)
          .mem(Op.I64_LOAD, ST.R + 8 * r)
          .set(L_REG + r);
    }
  }
  /** Writes the locals' flag record to the state area (compile-time state unchanged). */
  storeFlags(): void {
    const f = this.flags;
    if (f === null) return;
    const c = this.c;
    // op and size in one store; then only the fields the flag functions read for this op
    c.get(BASE)
      .i64(f.sz * 4294967296 + f.op)
      .mem(Op.I64_STORE, ST.FOP);
    const ab = f.op !== F_LOGIC && f.op !== F_PRESET;
    if (ab) c.get(BASE).get(L_FA).mem(Op.I64_STORE, ST.FA);
    if (ab) c.get(BASE).get(L_FB).mem(Op.I64_STORE, ST.FB);
    c.get(BASE).get(L_FR).mem(Op.I64_STORE, ST.FR);
    if (f.op === F_ADC || f.op === F_SBB) c.get(BASE).get(L_FCIN).mem(Op.I32_STORE, ST.FCIN);
    if (f.op === F_INC || f.op === F_DEC || f.op === F_PRESET)
      c.get(BASE).get(L_FCF).mem(Op.I32_STORE, ST.FCF);
    if (f.op === F_PRESET) c.get(BASE).get(L_FOF).mem(Op.I32_STORE, ST.FOF);
  }
  setFlags(op: number, sz: number): void {
    this.flags = { op, sz };
  }
  /** Before an import that may throw or read CPU state: registers, flags and the instruction index. */
  beforeImport(k: number, clear: boolean): void {
    if (clear) this.syncRegs();
    else this.storeRegs(this.dirty);
    this.storeFlags();
    this.c.get(BASE).i32(k).mem(Op.I32_STORE, ST.PC);
  }

  // ---------------------------------------------------------------- flags

  /** Pushes CF (i32 0/1). */
  cf(k: number): void {
    const f = this.flags;
    const c = this.c;
    switch (f?.op) {
      case F_ADD:
        c.get(L_FR).get(L_FA).op(Op.I64_LT_U);
        return;
      case F_ADC:
        c.get(L_FR).get(L_FA).op(Op.I64_LT_U);
        c.get(L_FCIN).get(L_FR).get(L_FA).op(Op.I64_EQ, Op.I32_AND, Op.I32_OR);
        return;
      case F_SUB:
        c.get(L_FA).get(L_FB).op(Op.I64_LT_U);
        return;
      case F_SBB:
        c.get(L_FA).get(L_FB).op(Op.I64_LT_U);
        c.get(L_FCIN).get(L_FA).get(L_FB).op(Op.I64_EQ, Op.I32_AND, Op.I32_OR);
        return;
      case F_LOGIC:
        c.i32(0);
        return;
      case F_INC:
      case F_DEC:
      case F_PRESET:
        c.get(L_FCF);
        return;
      default:
        if (f === null) this.fromRecord(1, k);
        else {
          this.beforeImport(k, false);
          c.call(FN_CF);
        }
    }
  }

  /**
   * With the flags in the state area's record (not known when the block was compiled, e.g. set by
   * the block before it): pushes CF (`kind` 1), ZF (2) or CF | ZF (3), inline for the records of
   * ADD, SUB, the logic ops, INC and DEC (whose values are kept at their operation's size), else
   * through the import. Loops starting with INC or a condition met this on every iteration.
   */
  private fromRecord(kind: number, k: number): void {
    const c = this.c;
    c.get(BASE).mem(Op.I32_LOAD, ST.FOP).set(L_F);
    const zf = () => c.get(BASE).mem(Op.I64_LOAD, ST.FR).op(Op.I64_EQZ);
    const is = (op: number) => c.get(L_F).i32(op).op(Op.I32_EQ);
    const cases: [() => void, () => void][] = [
      [
        () => is(F_ADD),
        () => c.get(BASE).mem(Op.I64_LOAD, ST.FR).get(BASE).mem(Op.I64_LOAD, ST.FA).op(Op.I64_LT_U),
      ],
      [
        () => is(F_SUB),
        () => c.get(BASE).mem(Op.I64_LOAD, ST.FA).get(BASE).mem(Op.I64_LOAD, ST.FB).op(Op.I64_LT_U),
      ],
      [() => is(F_LOGIC), () => c.i32(0)],
      [
        () => {
          is(F_INC);
          is(F_DEC);
          c.op(Op.I32_OR);
        },
        () => c.get(BASE).mem(Op.I32_LOAD, ST.FCF),
      ],
    ];
    for (const [test, carry] of cases) {
      test();
      c.ifT(I32);
      if (kind === 2) zf();
      else {
        carry();
        if (kind === 3) {
          zf();
          c.op(Op.I32_OR);
        }
      }
      c.op(Op.ELSE);
    }
    this.beforeImport(k, false);
    if (kind === 1) c.call(FN_CF);
    else c.i32(kind === 2 ? 4 : 6).call(FN_COND); // E, BE
    for (let n = 0; n < cases.length; n++) c.end();
  }

  /** Pushes the sign bit at the record's size of the i64 on the stack, as i32 0/1. */
  private signOf(sz: number): void {
    if (sz === 8) this.c.i64(0).op(Op.I64_LT_S);
    else
      this.c
        .i64(sz * 8 - 1)
        .op(Op.I64_SHR_U, Op.I32_WRAP_I64)
        .i32(1)
        .op(Op.I32_AND);
  }
  private zf(): void {
    this.c.get(L_FR).op(Op.I64_EQZ);
  }
  private sf(sz: number): void {
    this.c.get(L_FR);
    this.signOf(sz);
  }
  private pf(): void {
    this.c
      .get(L_FR)
      .op(Op.I32_WRAP_I64)
      .i32(255)
      .op(Op.I32_AND, Op.I32_POPCNT)
      .i32(1)
      .op(Op.I32_AND)
      .i32(1)
      .op(Op.I32_XOR);
  }
  private of(f: FlagState): void {
    const c = this.c;
    switch (f.op) {
      case F_SUB:
      case F_SBB:
        c.get(L_FA).get(L_FB).op(Op.I64_XOR).get(L_FA).get(L_FR).op(Op.I64_XOR, Op.I64_AND);
        this.signOf(f.sz);
        return;
      case F_ADD:
      case F_ADC:
        c.get(L_FA).get(L_FR).op(Op.I64_XOR).get(L_FB).get(L_FR).op(Op.I64_XOR, Op.I64_AND);
        this.signOf(f.sz);
        return;
      case F_INC:
        c.get(L_FR)
          .i64(f.sz === 8 ? -(2n ** 63n) : 2 ** (f.sz * 8 - 1))
          .op(Op.I64_EQ);
        return;
      case F_DEC:
        c.get(L_FR)
          .i64(f.sz === 8 ? 2n ** 63n - 1n : 2 ** (f.sz * 8 - 1) - 1)
          .op(Op.I64_EQ);
        return;
      case F_PRESET:
        c.get(L_FOF);
        return;
      default:
        c.i32(0); // F_LOGIC
    }
  }

  /** Pushes condition `cc` (i32 0/1). */
  cond(cc: number, k: number): void {
    const f = this.flags;
    const c = this.c;
    const kind = cc >> 1;
    if (f === null && (kind === 1 || kind === 2 || kind === 3)) {
      this.fromRecord(kind, k);
      if ((cc & 1) !== 0) c.op(Op.I32_EQZ);
      return;
    }
    if (f === null || f.op === F_IMUL64) {
      this.beforeImport(k, false);
      c.i32(cc).call(FN_COND);
      return;
    }
    if (f.op === F_SUB && (kind === 1 || kind === 2 || kind === 3 || kind === 6 || kind === 7)) {
      // compare the operands directly
      if (kind === 6 || kind === 7) {
        if (f.sz === 8)
          c.get(L_FA)
            .get(L_FB)
            .op(kind === 6 ? Op.I64_LT_S : Op.I64_LE_S);
        else if (f.sz < 4) {
          const ext = f.sz === 1 ? Op.I64_EXTEND8_S : Op.I64_EXTEND16_S;
          c.get(L_FA)
            .op(ext)
            .get(L_FB)
            .op(ext, kind === 6 ? Op.I64_LT_S : Op.I64_LE_S);
        } else
          c.get(L_FA)
            .op(Op.I32_WRAP_I64)
            .get(L_FB)
            .op(Op.I32_WRAP_I64, kind === 6 ? Op.I32_LT_S : Op.I32_LE_S);
      } else {
        c.get(L_FA)
          .get(L_FB)
          .op(kind === 1 ? Op.I64_LT_U : kind === 2 ? Op.I64_EQ : Op.I64_LE_U);
      }
    } else {
      switch (kind) {
        case 0:
          this.of(f);
          break;
        case 1:
          this.cf(k);
          break;
        case 2:
          this.zf();
          break;
        case 3:
          this.cf(k);
          this.zf();
          c.op(Op.I32_OR);
          break;
        case 4:
          this.sf(f.sz);
          break;
        case 5:
          this.pf();
          break;
        case 6:
          this.sf(f.sz);
          this.of(f);
          c.op(Op.I32_XOR);
          break;
        default:
          this.zf();
          this.sf(f.sz);
          this.of(f);
          c.op(Op.I32_XOR, Op.I32_OR);
      }
    }
    if ((cc & 1) !== 0) c.op(Op.I32_EQZ);
  }

  // ---------------------------------------------------------------- memory

  /** Pushes the linear address (i64) of `i`'s memory operand (64-bit code, 64-bit addresses). */
  ea(i: Insn, withSeg = true): void {
    const c = this.c;
    c.i64(i.ripRel ? i.next + i.disp : i.disp);
    if (i.base >= 0) {
      this.reg(i.base >> 1);
      c.op(Op.I64_ADD);
    }
    if (i.index >= 0) {
      this.reg(i.index >> 1);
      if (i.scale > 1) c.i64(Math.log2(i.scale)).op(Op.I64_SHL);
      c.op(Op.I64_ADD);
    }
    if (withSeg && (i.seg === 4 || i.seg === 5))
      c.get(BASE)
        .mem(Op.F64_LOAD, ST.SEG + 8 * i.seg)
        .op(...I64_TRUNC_SAT_F64_S, Op.I64_ADD);
  }

  /** TLB check for `L_LA` in bank `kOff` (ST.KR/KW): leaves the hit condition; slot in L_X, page offset in L_X2. */
  tlbCheck(kOff: number, size: number): void {
    const c = this.c;
    c.get(L_LA)
      .op(Op.I32_WRAP_I64)
      .i32(12)
      .op(Op.I32_SHR_U)
      .i32(TLB_SIZE - 1)
      .op(Op.I32_AND);
    c.get(BASE).mem(Op.I32_LOAD, kOff).op(Op.I32_ADD).tee(L_X);
    c.i32(3).op(Op.I32_SHL).get(BASE).op(Op.I32_ADD).mem(Op.F64_LOAD, ST.TAG);
    c.get(L_LA).i64(-4096).op(Op.I64_AND, Op.F64_CONVERT_I64_S, Op.F64_EQ);
    c.get(L_LA).op(Op.I32_WRAP_I64).i32(0xfff).op(Op.I32_AND).tee(L_X2);
    c.i32(0x1000 - size).op(Op.I32_LE_U, Op.I32_AND);
  }

  /** Host address of the hit: pushes i32. */
  hostAddr(): void {
    this.c
      .get(L_X)
      .i32(2)
      .op(Op.I32_SHL)
      .get(BASE)
      .op(Op.I32_ADD)
      .mem(Op.I32_LOAD, ST.WAD)
      .get(L_X2)
      .op(Op.I32_ADD);
  }

  /** Reads `size` bytes at the operand of `i` (instruction `k`): pushes the value as i64 (zero-extended). */
  load(i: Insn, k: number, size: number, forWrite: boolean): void {
    this.ea(i);
    this.c.set(L_LA);
    this.loadLa(k, size, forWrite);
  }

  /** Reads `size` bytes at L_LA (already computed): pushes the value as i64 (zero-extended). */
  loadLa(k: number, size: number, forWrite: boolean): void {
    const c = this.c;
    this.tlbCheck(forWrite ? ST.KW : ST.KR, size);
    c.ifT(I64);
    this.hostAddr();
    c.mem(
      size === 1 ? Op.I64_LOAD8_U : size === 2 ? Op.I64_LOAD16_U : size === 4 ? Op.I64_LOAD32_U : Op.I64_LOAD,
      0,
    );
    c.op(Op.ELSE);
    this.beforeImport(k, false);
    c.get(L_LA)
      .op(Op.F64_CONVERT_I64_S)
      .i32(size)
      .call(forWrite ? FN_RDW : FN_RD);
    c.get(BASE).mem(Op.I64_LOAD, ST.TMP);
    c.end();
  }

  /** Writes `size` bytes of L_V at linear address L_LA (computed by the caller); a code page sets L_BK. */
  storeAt(k: number, size: number): void {
    const c = this.c;
    this.tlbCheck(ST.KW, size);
    c.if();
    this.hostAddr();
    c.get(L_V).mem(
      size === 8 ? Op.I64_STORE : size === 4 ? Op.I64_STORE32 : size === 2 ? Op.I64_STORE16 : Op.I64_STORE8,
      0,
    );
    c.op(Op.ELSE);
    this.beforeImport(k, false);
    c.get(L_LA).op(Op.F64_CONVERT_I64_S).i32(size);
    c.get(L_V).op(Op.I32_WRAP_I64).get(L_V).i64(32).op(Op.I64_SHR_U, Op.I32_WRAP_I64);
    c.call(FN_WR).set(L_BK);
    c.end();
  }

  store(i: Insn, k: number, size: number): void {
    this.ea(i);
    this.c.set(L_LA);
    this.storeAt(k, size);
  }

  // ---------------------------------------------------------------- exits

  /** Pushes `it * n + x` (loops) or `x`. */
  private retired(x: number): void {
    if (this.loop) this.c.get(L_IT).i32(this.n).op(Op.I32_MUL).i32(x).op(Op.I32_ADD);
    else this.c.i32(x);
  }
  /** Stores everything and returns `x` retired (plus whole loop iterations), RIP = `rip` (a constant) or already stored. */
  exit(x: number, rip: number | null): void {
    this.storeRegs(this.written);
    this.storeFlags();
    if (rip !== null) this.setRip(rip);
    this.retired(x);
    this.c.op(Op.RETURN);
  }
  /** Returns after an executor ended the block (`c.rip` set by it): the negated count. */
  exitAfterCall(x: number): void {
    this.c.i32(0);
    this.retired(x);
    this.c.op(Op.I32_SUB, Op.RETURN);
  }
  setRip(rip: number): void {
    this.c.get(BASE).f64(rip).mem(Op.F64_STORE, ST.RIP);
  }
}

/** Sign-extended 64-bit immediate of `i`: a number when it is a safe integer, else a bigint. */
function imm64(i: Insn): number | bigint {
  const v = (i.immH | 0) * 4294967296 + (i.imm >>> 0);
  return Number.isSafeInteger(v) ? v : (BigInt(i.immH | 0) << 32n) | BigInt(i.imm >>> 0);
}

/** Pushes byte register `b` (an index into `Cpu.R8`: register * 8 + byte) as i64. */
function getB(g: WGen, b: number): void {
  g.reg(b >> 3);
  if ((b & 7) !== 0) g.c.i64(8 * (b & 7)).op(Op.I64_SHR_U);
  g.c.i64(255).op(Op.I64_AND);
}

/** Pops an i64 (0..255) into byte register `b`. */
function setB(g: WGen, b: number): void {
  const r = b >> 3;
  const sh = 8 * (b & 7);
  g.c.set(L_T2);
  g.reg(r);
  g.c
    .i64(~(255 << sh))
    .op(Op.I64_AND)
    .get(L_T2);
  if (sh !== 0) g.c.i64(sh).op(Op.I64_SHL);
  g.c.op(Op.I64_OR);
  g.setReg(r);
}

/** Pushes register `r` zero-extended from 32 bits. */
function lo32(g: WGen, r: number): void {
  g.reg(r);
  g.c.i64(M32).op(Op.I64_AND);
}

/** ALU operation `op` on L_A, L_B (size `sz`): pushes the result; records the flags when `live`. */
function aluCore(g: WGen, op: number, sz: number, live: boolean, k: number): void {
  const c = g.c;
  const cin = op === 2 || op === 3;
  if (cin) {
    g.cf(k);
    c.set(L_FCIN);
  }
  c.get(L_A).get(L_B);
  switch (op) {
    case 0:
      c.op(Op.I64_ADD);
      break;
    case 2:
      c.op(Op.I64_ADD).get(L_FCIN).op(Op.I64_EXTEND_I32_U, Op.I64_ADD);
      break;
    case 3:
      c.op(Op.I64_SUB).get(L_FCIN).op(Op.I64_EXTEND_I32_U, Op.I64_SUB);
      break;
    case 5:
    case 7:
      c.op(Op.I64_SUB);
      break;
    case 1:
      c.op(Op.I64_OR);
      break;
    case 4:
      c.op(Op.I64_AND);
      break;
    default:
      c.op(Op.I64_XOR);
  }
  if (sz < 8) c.i64(sz === 4 ? M32 : sz === 2 ? 0xffff : 0xff).op(Op.I64_AND);
  c.tee(L_T);
  if (live) {
    c.get(L_A).set(L_FA).get(L_B).set(L_FB).get(L_T).set(L_FR);
    g.setFlags(flagOpOf(op), sz);
  }
}

/** Emits instruction `i` (index `k`, inline kind `kind`). */
function emitInline(g: WGen, i: Insn, k: number, kind: K, live: boolean): void {
  const c = g.c;
  const sz = i.sz;
  switch (kind) {
    case K.NOP:
      return;
    case K.JMP:
      g.setRip(i.disp);
      return;
    case K.JCC:
      c.get(BASE).f64(i.disp).f64(i.next);
      g.cond(i.op, k);
      c.op(Op.SELECT).mem(Op.F64_STORE, ST.RIP);
      return;
    case K.ALU:
    case K.ALU_MEM_SRC:
    case K.ALU_RMW: {
      const f = i.fn;
      const isTest = f === testEG || f === testEI;
      const op = isTest ? 4 : i.op;
      const write = !(isTest || op === 7);
      let dstReg = -1;
      // destination operand -> L_A
      if (kind === K.ALU_RMW || (kind === K.ALU_MEM_SRC && f !== aluGE)) {
        g.load(i, k, sz, kind === K.ALU_RMW);
      } else {
        dstReg = f === aluGE ? i.reg : i.rm;
        if (sz === 8) g.reg(dstReg);
        else lo32(g, dstReg);
      }
      c.set(L_A);
      // source operand -> L_B
      if (f === aluEI || f === testEI) c.i64(sz === 8 ? imm64(i) : i.imm >>> 0);
      else if (f === aluGE) {
        if (kind === K.ALU_MEM_SRC) g.load(i, k, sz, false);
        else if (sz === 8) g.reg(i.rm);
        else lo32(g, i.rm);
      } else if (sz === 8) g.reg(i.reg);
      else lo32(g, i.reg);
      c.set(L_B);
      aluCore(g, op, sz, live, k);
      if (write) {
        if (kind === K.ALU_RMW) {
          c.set(L_V);
          g.storeAt(k, sz); // L_LA still holds the address
        } else g.setReg(dstReg);
      } else c.op(Op.DROP);
      return;
    }
    case K.MOV_RR: {
      const d = i.fn === movGE ? i.reg : i.rm;
      const s = i.fn === movGE ? i.rm : i.reg;
      if (sz === 8) g.reg(s);
      else lo32(g, s);
      g.setReg(d);
      return;
    }
    case K.MOV_RI:
      c.i64(sz === 8 ? imm64(i) : i.imm >>> 0);
      g.setReg(i.rm);
      return;
    case K.LOAD:
      g.load(i, k, sz, false);
      g.setReg(i.reg);
      return;
    case K.STORE:
      if (sz === 8) g.reg(i.reg);
      else lo32(g, i.reg);
      c.set(L_V);
      g.store(i, k, sz);
      return;
    case K.STORE_IMM:
      c.i64(sz === 8 ? imm64(i) : i.imm >>> 0).set(L_V);
      g.store(i, k, sz);
      return;
    case K.MOVZX:
    case K.MOVZX_MEM:
    case K.MOVSX:
    case K.MOVSX_MEM: {
      // i.op: source size 1, 2 (or 4 for MOVSXD)
      if (kind === K.MOVZX_MEM || kind === K.MOVSX_MEM) g.load(i, k, i.op, false);
      else if (i.op === 1) {
        g.reg(i.rmB >> 3);
        if ((i.rmB & 7) !== 0) c.i64(8).op(Op.I64_SHR_U);
        c.i64(255).op(Op.I64_AND);
      } else if (i.op === 2) {
        g.reg(i.rm);
        c.i64(0xffff).op(Op.I64_AND);
      } else lo32(g, i.rm);
      if (kind === K.MOVSX || kind === K.MOVSX_MEM)
        c.op(i.op === 1 ? Op.I64_EXTEND8_S : i.op === 2 ? Op.I64_EXTEND16_S : Op.I64_EXTEND32_S);
      if (sz === 4) c.i64(M32).op(Op.I64_AND);
      g.setReg(i.reg);
      return;
    }
    case K.LEA:
      g.ea(i, false);
      g.setReg(i.reg);
      return;
    case K.INCDEC: {
      const d = i.rm;
      if (live) {
        g.cf(k);
        c.set(L_FCF);
      }
      if (sz === 8) g.reg(d);
      else lo32(g, d);
      c.tee(L_A)
        .i64(1)
        .op(i.op === 0 ? Op.I64_ADD : Op.I64_SUB);
      if (sz === 4) c.i64(M32).op(Op.I64_AND);
      c.tee(L_T);
      if (live) {
        c.get(L_A).set(L_FA).i64(1).set(L_FB).get(L_T).set(L_FR);
        g.setFlags(i.op === 0 ? F_INC : F_DEC, sz);
      }
      g.setReg(d);
      return;
    }
    case K.SHIFT:
      emitShift(g, i, live);
      return;
    case K.ROTATE: {
      const d = i.rm;
      const n0 = i.imm & (sz === 8 ? 63 : 31);
      if (n0 === 0) {
        if (sz === 4) {
          lo32(g, d);
          g.setReg(d);
        }
        return;
      }
      if (sz === 8)
        g.reg(d)
          .i64(n0)
          .op(i.op === 0 ? Op.I64_ROTL : Op.I64_ROTR);
      else {
        g.reg(d);
        c.op(Op.I32_WRAP_I64)
          .i32(n0)
          .op(i.op === 0 ? Op.I32_ROTL : Op.I32_ROTR, Op.I64_EXTEND_I32_U);
      }
      c.set(L_T);
      if (live) {
        // CF and OF from the result; the other flags stay (merged into the CPU's record)
        const top = sz * 8 - 1;
        if (i.op === 0) {
          c.get(L_T).op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND).tee(L_X); // cf = bit 0
          c.get(L_T).i64(top).op(Op.I64_SHR_U, Op.I32_WRAP_I64).i32(1).op(Op.I32_AND).get(L_X).op(Op.I32_XOR);
        } else {
          c.get(L_T).i64(top).op(Op.I64_SHR_U, Op.I32_WRAP_I64).i32(1).op(Op.I32_AND); // cf = top bit
          c.get(L_T)
            .i64(top)
            .op(Op.I64_SHR_U)
            .get(L_T)
            .i64(top - 1)
            .op(Op.I64_SHR_U, Op.I64_XOR);
          c.op(Op.I32_WRAP_I64).i32(1).op(Op.I32_AND);
        }
        c.set(L_X2).set(L_X);
        g.beforeImport(k, false);
        c.get(L_X).get(L_X2).call(FN_ROT);
        g.flags = null;
      }
      c.get(L_T);
      g.setReg(d);
      return;
    }
    case K.IMUL: {
      const d = i.reg;
      const three = i.op === 1;
      if (sz === 8) {
        g.reg(i.rm);
        c.set(L_A);
        if (three) c.i64(imm64(i));
        else g.reg(d);
        c.set(L_B);
        c.get(L_A).get(L_B).op(Op.I64_MUL).tee(L_T);
        if (live) {
          c.get(L_A).set(L_FA).get(L_B).set(L_FB).get(L_T).set(L_FR);
          g.setFlags(F_IMUL64, 8);
        }
        g.setReg(d);
      } else {
        g.reg(i.rm);
        c.op(Op.I32_WRAP_I64, Op.I64_EXTEND_I32_S);
        if (three) c.i64(i.imm | 0);
        else {
          g.reg(d);
          c.op(Op.I32_WRAP_I64, Op.I64_EXTEND_I32_S);
        }
        c.op(Op.I64_MUL).tee(L_T); // exact 64-bit product
        c.i64(M32).op(Op.I64_AND).set(L_V);
        if (live) {
          c.get(L_V).set(L_FR);
          c.get(L_T).get(L_T).op(Op.I32_WRAP_I64, Op.I64_EXTEND_I32_S, Op.I64_NE).tee(L_FCF).set(L_FOF);
          g.setFlags(F_PRESET, 4);
        }
        c.get(L_V);
        g.setReg(d);
      }
      return;
    }
    case K.MUL: {
      // RDX:RAX = RAX * r/m, unsigned 64 x 64 -> 128 from 32-bit limbs
      g.reg(0);
      c.set(L_A);
      g.reg(i.rm);
      c.set(L_B);
      // L_T = a0*b0, L_T2 = a1*b0, L_V = a0*b1
      c.get(L_A).i64(M32).op(Op.I64_AND).get(L_B).i64(M32).op(Op.I64_AND, Op.I64_MUL).set(L_T);
      c.get(L_A).i64(32).op(Op.I64_SHR_U).get(L_B).i64(M32).op(Op.I64_AND, Op.I64_MUL).set(L_T2);
      c.get(L_A).i64(M32).op(Op.I64_AND).get(L_B).i64(32).op(Op.I64_SHR_U, Op.I64_MUL).set(L_V);
      // mid = (a0b0 >> 32) + lo32(a1b0) + lo32(a0b1)   (< 3 * 2^32: no overflow)
      c.get(L_T).i64(32).op(Op.I64_SHR_U).get(L_T2).i64(M32).op(Op.I64_AND, Op.I64_ADD);
      c.get(L_V).i64(M32).op(Op.I64_AND, Op.I64_ADD).set(L_LA);
      // hi = a1*b1 + (a1b0 >> 32) + (a0b1 >> 32) + (mid >> 32)
      c.get(L_A).i64(32).op(Op.I64_SHR_U).get(L_B).i64(32).op(Op.I64_SHR_U, Op.I64_MUL);
      c.get(L_T2).i64(32).op(Op.I64_SHR_U, Op.I64_ADD).get(L_V).i64(32).op(Op.I64_SHR_U, Op.I64_ADD);
      c.get(L_LA).i64(32).op(Op.I64_SHR_U, Op.I64_ADD).set(L_T2);
      c.get(L_A).get(L_B).op(Op.I64_MUL).set(L_T);
      if (live) {
        c.get(L_T).set(L_FR).get(L_T2).op(Op.I64_EQZ, Op.I32_EQZ).tee(L_FCF).set(L_FOF);
        g.setFlags(F_PRESET, 8);
      }
      c.get(L_T);
      g.setReg(0);
      c.get(L_T2);
      g.setReg(2);
      return;
    }
    case K.SETCC: {
      const r = i.rmB >> 3;
      const sh = (i.rmB & 7) * 8;
      g.reg(r);
      c.i64(~(255 << sh)).op(Op.I64_AND);
      g.cond(i.op, k);
      c.op(Op.I64_EXTEND_I32_U).i64(sh).op(Op.I64_SHL, Op.I64_OR);
      g.setReg(r);
      return;
    }
    case K.CMOV: {
      const d = i.reg;
      if (sz === 8) g.reg(i.rm);
      else lo32(g, i.rm);
      if (sz === 8) g.reg(d);
      else lo32(g, d);
      g.cond(i.op, k);
      c.op(Op.SELECT);
      g.setReg(d);
      return;
    }
    case K.PUSH:
      g.reg(i.reg);
      c.set(L_V);
      pushV(g, k);
      return;
    case K.POP:
      g.reg(4);
      c.set(L_LA);
      popTo(g, k);
      // RSP first: POP RSP loads the value read
      g.reg(4);
      c.i64(8).op(Op.I64_ADD);
      g.setReg(4);
      c.get(L_V);
      g.setReg(i.reg);
      return;
    case K.CALLREL:
      c.i64(i.next).set(L_V);
      pushV(g, k);
      g.setRip(i.disp);
      return;
    case K.JMPIND:
    case K.CALLIND: {
      // the target (read before CALL pushes: it may be addressed through RSP) -> L_T
      if (i.mem) g.load(i, k, 8, false);
      else g.reg(i.rm);
      c.set(L_T);
      nearTargetCheck(g, k, L_T);
      if (kind === K.CALLIND) {
        c.i64(i.next).set(L_V);
        pushV(g, k);
      }
      c.get(BASE).get(L_T).op(Op.F64_CONVERT_I64_S).mem(Op.F64_STORE, ST.RIP);
      return;
    }
    case K.RET: {
      g.reg(4);
      c.set(L_LA);
      popTo(g, k);
      nearTargetCheck(g, k, L_V);
      g.reg(4);
      c.i64(8).op(Op.I64_ADD);
      g.setReg(4);
      c.get(BASE).get(L_V).op(Op.F64_CONVERT_I64_S).mem(Op.F64_STORE, ST.RIP);
      return;
    }
    case K.ALU8: {
      const f = i.fn;
      const isTest = f === testEG || f === testEI;
      const op = isTest ? 4 : i.op;
      const write = !(isTest || op === 7);
      const dstIsReg = f === aluGE;
      // destination -> L_A
      if (!dstIsReg && i.mem) g.load(i, k, 1, write);
      else getB(g, dstIsReg ? i.regB : i.rmB);
      c.set(L_A);
      // source -> L_B
      if (f === aluEI || f === testEI) c.i64(i.imm & 255);
      else if (dstIsReg) {
        if (i.mem) g.load(i, k, 1, false);
        else getB(g, i.rmB);
      } else getB(g, i.regB);
      c.set(L_B);
      aluCore(g, op, 1, live, k);
      if (!write) c.op(Op.DROP);
      else if (!dstIsReg && i.mem) {
        c.set(L_V);
        g.storeAt(k, 1); // L_LA still holds the address
      } else setB(g, dstIsReg ? i.regB : i.rmB);
      return;
    }
    case K.MOV8: {
      const f = i.fn;
      if (f === movGE) {
        if (i.mem) g.load(i, k, 1, false);
        else getB(g, i.rmB);
        setB(g, i.regB);
        return;
      }
      if (f === movEI) c.i64(i.imm & 255);
      else getB(g, i.regB);
      if (i.mem) {
        c.set(L_V);
        g.store(i, k, 1);
      } else setB(g, i.rmB);
      return;
    }
    case K.LEA32:
      g.ea(i, false);
      c.i64(M32).op(Op.I64_AND);
      g.setReg(i.reg);
      return;
    case K.NEG:
      c.i64(0).set(L_A);
      if (sz === 8) g.reg(i.rm);
      else lo32(g, i.rm);
      c.set(L_B);
      aluCore(g, 5, sz, live, k);
      g.setReg(i.rm);
      return;
    case K.NOT:
      g.reg(i.rm);
      c.i64(-1).op(Op.I64_XOR);
      if (sz === 4) c.i64(M32).op(Op.I64_AND);
      g.setReg(i.rm);
      return;
    default:
      throw new Error(`wasm-jit: no inline form for kind ${kind}`);
  }
}

/** Pushes L_V on the stack (RSP -= 8, then the store; RSP is written after it cannot fault). */
/** A non-canonical near branch target in local `t` (i64) faults in the executor of instruction `k`, with RIP still at it. */
function nearTargetCheck(g: WGen, k: number, t: number): void {
  const c = g.c;
  c.get(t)
    .i64(2 ** 47)
    .op(Op.I64_ADD)
    .i64(2 ** 48 - 1)
    .op(Op.I64_GT_U);
  c.if();
  g.beforeImport(k, false);
  c.i32(g.id).i32(k).call(FN_EX).op(Op.DROP);
  g.exitAfterCall(k + 1);
  c.end();
}

function pushV(g: WGen, k: number): void {
  g.reg(4);
  g.c.i64(8).op(Op.I64_SUB).tee(L_T2).set(L_LA);
  g.c.i32(0).set(L_BK);
  g.storeAt(k, 8);
  g.c.get(L_T2);
  g.setReg(4);
}

/** Reads the 8 bytes at L_LA into L_V. */
function popTo(g: WGen, k: number): void {
  g.loadLa(k, 8, false);
  g.c.set(L_V);
}

/** SHL/SAL/SHR/SAR by an immediate on a 32/64-bit register. */
function emitShift(g: WGen, i: Insn, live: boolean): void {
  const c = g.c;
  const op = i.op;
  const d = i.rm;
  const sz = i.sz;
  const n = i.imm & (sz === 8 ? 63 : 31);
  if (n === 0) {
    if (sz === 4) {
      lo32(g, d);
      g.setReg(d);
    }
    return;
  }
  const left = op === 4 || op === 6;
  const arith = op === 7;
  const bits = sz * 8;
  if (sz === 8) g.reg(d);
  else if (arith) {
    g.reg(d);
    c.op(Op.I32_WRAP_I64, Op.I64_EXTEND_I32_S); // sign-extend so that >>s works on 32 bits
  } else lo32(g, d);
  c.tee(L_A)
    .i64(n)
    .op(left ? Op.I64_SHL : arith ? Op.I64_SHR_S : Op.I64_SHR_U);
  if (sz === 4) c.i64(M32).op(Op.I64_AND);
  c.set(L_T);
  if (live) {
    // CF: the last bit shifted out
    c.get(L_A)
      .i64(left ? bits - n : n - 1)
      .op(left ? Op.I64_SHR_U : Op.I64_SHR_S)
      .op(Op.I32_WRAP_I64)
      .i32(1)
      .op(Op.I32_AND)
      .set(L_FCF);
    if (left) {
      c.get(L_T)
        .i64(bits - 1)
        .op(Op.I64_SHR_U, Op.I32_WRAP_I64)
        .i32(1)
        .op(Op.I32_AND)
        .get(L_FCF)
        .op(Op.I32_XOR);
    } else if (arith) c.i32(0);
    else
      c.get(L_A)
        .i64(bits - 1)
        .op(Op.I64_SHR_U, Op.I32_WRAP_I64)
        .i32(1)
        .op(Op.I32_AND);
    c.set(L_FOF);
    c.get(L_T).set(L_FR);
    g.setFlags(F_PRESET, sz);
  }
  c.get(L_T);
  g.setReg(d);
}

/** The GPRs an instruction run by its executor may change. */
function reloadAfter(g: WGen, i: Insn): void {
  g.reload(writtenBy(i));
}

/** Compiles block `b` (registered as `id`) to a function body. */
function compileBody(b: Block, id: number): { prologue: Code; code: Code; selfLoop: boolean } {
  const insns = b.insns;
  const n = insns.length;
  const last = insns[n - 1];
  const selfLoop = last.fn === jcc && last.disp === insns[0].ip && n > 1;
  const is64 = (b.key & 3) === 3;
  const { kinds, liveAfter } = planBlock(insns, is64, true);
  // SSE instructions the planner leaves to their executor that this compiler runs inline (their
  // slow paths still call the executor, so the block has calls either way)
  const sse = kinds.map((kind, k) => kind === K.CALL && is64 && sseInline(insns[k]));
  const hasCalls = kinds.includes(K.CALL);
  const gen = (g: WGen): void => {
    const c = g.c;
    if (selfLoop) {
      // max = budget > n ? budget / n : 1
      c.get(0)
        .i32(n)
        .op(Op.I32_GT_U)
        .ifT(I32)
        .get(0)
        .i32(n)
        .op(Op.I32_DIV_U)
        .op(Op.ELSE)
        .i32(1)
        .end()
        .set(L_MAX);
      c.i32(0).set(L_IT);
      c.loop();
      c.get(BASE).get(L_IT).mem(Op.I32_STORE, ST.IT);
      if (hasCalls) c.i32(0).set(L_PEND);
    }
    for (let k = 0; k < n; k++) {
      const i = insns[k];
      const kind = kinds[k];
      if (sse[k]) {
        emitSse(g, i, k);
        if (k === n - 1) g.setRip(i.next);
        continue;
      }
      if (kind === K.CALL) {
        g.beforeImport(k, true);
        g.flags = null;
        c.i32(id).i32(k).call(FN_EX).tee(L_X);
        c.i32(1).op(Op.I32_AND).if();
        g.exitAfterCall(k + 1);
        c.end();
        if (selfLoop) c.get(L_X).i32(1).op(Op.I32_SHR_U).get(L_PEND).op(Op.I32_OR).set(L_PEND);
        reloadAfter(g, i);
        continue;
      }
      if (selfLoop && k === n - 1) break; // the loop's branch is emitted below
      const stores =
        kind === K.STORE ||
        kind === K.STORE_IMM ||
        kind === K.ALU_RMW ||
        ((kind === K.ALU8 || kind === K.MOV8) && i.mem);
      if (stores) c.i32(0).set(L_BK);
      emitInline(g, i, k, kind, liveAfter[k]);
      if (stores || kind === K.PUSH || kind === K.CALLREL || kind === K.CALLIND) {
        // a store into a page holding code ends the block after it (self-modifying code)
        const isBranch = kind === K.CALLREL || kind === K.CALLIND;
        c.get(L_BK).if();
        g.exit(k + 1, isBranch ? null : i.next);
        c.end();
      }
      if (
        k === n - 1 &&
        kind !== K.JCC &&
        kind !== K.JMP &&
        kind !== K.CALLREL &&
        kind !== K.RET &&
        kind !== K.JMPIND &&
        kind !== K.CALLIND
      )
        g.setRip(i.next);
    }
    if (selfLoop) {
      // not taken: leave with RIP after the branch, one more iteration done
      g.cond(last.op, n - 1);
      c.op(Op.I32_EQZ).if();
      c.get(L_IT).i32(1).op(Op.I32_ADD).set(L_IT);
      g.exit(0, last.next);
      c.end();
      c.get(L_IT).i32(1).op(Op.I32_ADD).tee(L_IT).get(L_MAX).op(Op.I32_GE_S);
      if (hasCalls) c.get(L_PEND).op(Op.I32_OR);
      c.if();
      g.exit(0, last.disp);
      c.end();
      g.storeFlags(); // the next iteration starts with the flags in the state area
      c.br(0);
      c.end(); // loop
      c.i32(0); // not reached; keeps the validator's stack typing simple
    } else {
      g.storeRegs(g.written);
      g.storeFlags();
      // negative: RIP was set by the executor of the last instruction, not in the state area
      c.i32(kinds[n - 1] === K.CALL && !sse[n - 1] ? -n : n);
    }
  };
  // first pass: which registers the block uses and writes; second with that known (a loop body
  // starts with everything it writes dirty)
  const g1 = new WGen(id, n, selfLoop);
  g1.c.dry = true;
  gen(g1);
  const g = new WGen(id, n, selfLoop);
  for (const r of g1.used) g.used.add(r);
  for (const r of g1.written) g.written.add(r);
  if (selfLoop) g.dirty = new Set(g1.written);
  gen(g);
  const prologue = new Code();
  for (const r of [...g.used].sort((x, y) => x - y))
    prologue
      .get(BASE)
      .mem(Op.I64_LOAD, ST.R + 8 * r)
      .set(L_REG + r);
  return { prologue, code: g.c, selfLoop };
}

// ------------------------------------------------------------------ runtime

/**
 * Dispatcher module: `run(index, budget, base)` calls table entry `index` on the CPU whose state
 * area is at `base`, then, while the budget lasts
 * and nothing asked to stop, follows RIP through the block cache to the next compiled block.
 * Returns the instructions retired, negated when the last block left RIP in the CPU (an executor
 * ended it) rather than in the state area.
 */
function dispatcherBytes(): Uint8Array {
  const c = new Code();
  const ID = 0;
  const BUDGET = 1;
  const BASE = 2; // the running CPU's state area
  const TOTAL = 3;
  const R = 4;
  const RIP = 5;
  const E = 6;
  const EP = 7;
  const X = 8;
  c.block().loop();
  c.get(BASE).get(ID).mem(Op.I32_STORE, ST.CUR);
  c.get(BUDGET).get(BASE).get(ID).op(Op.CALL_INDIRECT, T_DISPATCH_TARGET, 0).tee(R);
  c.i32(0).op(Op.I32_LT_S).if().get(R).get(TOTAL).op(Op.I32_SUB, Op.RETURN).end();
  c.get(TOTAL).get(R).op(Op.I32_ADD).set(TOTAL);
  c.get(BASE).get(TOTAL).mem(Op.I32_STORE, ST.TOTAL);
  c.get(BUDGET).get(R).op(Op.I32_SUB).tee(BUDGET).i32(0).op(Op.I32_LE_S).brIf(1);
  c.get(BASE).mem(Op.I32_LOAD, ST.STOP).brIf(1);
  // the next block: RIP -> cache slot
  c.get(BASE)
    .mem(Op.F64_LOAD, ST.RIP)
    .tee(RIP)
    .op(...I64_TRUNC_SAT_F64_S, Op.I32_WRAP_I64)
    .tee(X);
  c.get(X)
    .i32(16)
    .op(Op.I32_SHR_U, Op.I32_XOR)
    .i32(CACHE_SIZE - 1)
    .op(Op.I32_AND)
    .i32(4)
    .op(Op.I32_SHL)
    .get(BASE)
    .op(Op.I32_ADD)
    .tee(E);
  c.mem(Op.F64_LOAD, CACHE).get(RIP).op(Op.F64_NE).brIf(1);
  c.get(E)
    .mem(Op.I32_LOAD, CACHE + 12)
    .tee(EP)
    .i32(0)
    .op(Op.I32_LT_S);
  c.ifT(I32)
    .get(BASE)
    .mem(Op.I32_LOAD, ST.EPOCHS + 4)
    .i32(0x3fffffff)
    .op(Op.I32_AND)
    .i32(-0x80000000)
    .op(Op.I32_OR);
  c.op(Op.ELSE).get(BASE).mem(Op.I32_LOAD, ST.EPOCHS).i32(0x3fffffff).op(Op.I32_AND).end();
  // made at the CPL running now (bit 30: CPL 3, whose TLB banks start past 0)
  c.get(BASE).mem(Op.I32_LOAD, ST.KR).i32(0).op(Op.I32_NE).i32(30).op(Op.I32_SHL, Op.I32_OR);
  c.get(EP).op(Op.I32_NE).brIf(1);
  c.get(E)
    .mem(Op.I32_LOAD, CACHE + 8)
    .set(ID);
  c.get(BASE).get(BASE).mem(Op.I32_LOAD, ST.RUNS).i32(1).op(Op.I32_ADD).mem(Op.I32_STORE, ST.RUNS);
  c.br(0);
  c.end().end();
  c.get(TOTAL);
  return moduleBytes({
    types: [
      [[I32, I32, I32], [I32]],
      [[I32, I32], [I32]],
    ],
    imports: [],
    memory: { min: 0, max: 65536 },
    table: true,
    funcs: [{ type: 0, locals: [I32, I32, F64, I32, I32, I32], code: c }],
    exports: [{ name: 'run', func: 0 }],
  });
}
const T_DISPATCH_TARGET = 1;
/** i64.trunc_sat_f64_s (non-trapping conversion). */
const I64_TRUNC_SAT_F64_S = [0xfc, 0x06];

const NO_INSNS: Insn[] = [];

/** Default compile threshold with the WebAssembly compiler (executions before a block is queued). */
export const WASM_JIT_THRESHOLD = 32;

/** A batch compiling in the background. */
interface Inflight {
  blocks: Block[];
  ids: number[];
  loops: boolean[];
  bytes: Uint8Array;
  /** Instruction count (of the CPU that queued it) when it started. */
  since: number;
  /** Host time (ms) when it started. */
  at: number;
  done: boolean;
}

/** Milliseconds after which a background compile is taken to be done (see WasmJit.compileDue). */
const COMPILE_DUE_MS = 2;

/** Instructions after which poll() compiles a background batch on the spot (the caller never yielded). */
const SYNC_AFTER = 20_000_000;

/** Blocks compiled together into one module (their code then lies together). */
const BATCH = 32;
/** Instructions after which a partial batch is compiled anyway. */
const BATCH_WAIT = 2_000_000;

/**
 * One CPU's state area in the WebAssembly memory (registers, flag record, TLB, dispatcher cache),
 * as views. Compiled blocks take its address as a parameter, so CPUs sharing a decode cache share
 * compiled code.
 *
 * @example
 * ```ts
 * const st = new WasmState(wm, wm.grow(STATE_PAGES) * 65536);
 * ```
 */
export class WasmState {
  readonly S32: Int32Array;
  readonly F64v: Float64Array;
  constructor(
    wm: WebAssembly.Memory,
    /** Byte offset of the state area inside the memory. */
    readonly base: number,
  ) {
    const buf = wm.buffer;
    this.S32 = new Int32Array(buf, base, STATE_BYTES / 4);
    this.F64v = new Float64Array(buf, base, STATE_BYTES / 8);
    this.F64v.fill(Number.NaN, CACHE / 8, STATE_BYTES / 8); // empty cache: no RIP equals NaN
    this.S32[ST.FOP / 4] = -1;
  }

  /** Records the TLB bank offsets of the current privilege (the CPU calls it when they change). @example st.setBanks(cpu.kR, cpu.kW) */
  setBanks(kR: number, kW: number): void {
    this.S32[ST.KR / 4] = kR;
    this.S32[ST.KW / 4] = kW;
  }
}

/** 64 KiB pages a state area takes. */
export const STATE_PAGES = Math.ceil(STATE_BYTES / 65536);

/**
 * The WebAssembly block compiler: the imports, the function table, the dispatcher and the queue of
 * blocks waiting for the next batch. One per decode cache: CPUs that share a cache (the vCPUs of
 * one VM) share it, each with its own {@link WasmState}.
 *
 * @example
 * ```ts
 * const jit = WasmJit.create(cpu, wm);
 * jit.enqueue(block, cpu); jit.flush(); // block.fn now runs the WebAssembly function
 * ```
 */
export class WasmJit {
  /** Modules (batches) compiled so far. */
  modules = 0;
  /** Instructions compiled code left to their executor, run so far (calls out of the compiled code). */
  executorCalls = 0;
  /** The CPU running compiled code now, and its state views (set on each entry; imports use them). */
  private cur: Cpu;
  private S32: Int32Array;
  private F64v: Float64Array;
  /** State areas of every CPU using this compiler (a dropped block leaves each one's cache). */
  private readonly states: WasmState[] = [];
  private readonly table = new WebAssembly.Table({ initial: 0, element: 'anyfunc' });
  private readonly run: (index: number, budget: number, base: number) => number;
  private readonly imports: Record<string, WebAssembly.ImportValue>;
  /** Instructions of each table entry (for executor calls and fault reports). */
  private readonly insnsOf: Insn[][] = [];
  /** Per table entry: the block's length when it is a loop (iterations count in ST.IT), else 0. */
  private readonly loopN: number[] = [];
  private pending: Block[] = [];
  /** Batches being compiled in the background, oldest first. */
  private readonly inflight: Inflight[] = [];
  /** A background compile that failed (a compiler bug): thrown at the next install. */
  private failure: unknown = null;
  /** Free table entries. */
  private readonly free: number[] = [];
  private pendingSince = 0;
  private readonly batch: number;

  private constructor(
    c: Cpu,
    private readonly wm: WebAssembly.Memory,
    /** Compile batches on background threads (WebAssembly.compile) rather than on the spot. */
    private readonly background: boolean,
  ) {
    const st = c.wasmState as WasmState;
    this.cur = c;
    this.S32 = st.S32;
    this.F64v = st.F64v;
    this.states.push(st);
    this.batch = c.jitThreshold <= 16 ? 1 : BATCH;
    c.blocks.onRelease = (b) => this.release(b);
    const run = new WebAssembly.Instance(new WebAssembly.Module(dispatcherBytes() as BufferSource), {
      e: { t: this.table, m: wm },
    }).exports.run as (index: number, budget: number, base: number) => number;
    this.run = run;
    const TMP = ST.TMP / 4;
    const insnsOf = this.insnsOf;
    this.imports = {
      m: wm,
      rd: (la: number, size: number): void => {
        this.flagsIn();
        const c = this.cur;
        let hi = 0;
        let v: number;
        if (size === 1) v = c.read8(la);
        else if (size === 2) v = c.read16(la);
        else if (size === 4) v = c.read32(la);
        else {
          v = c.read64(la);
          hi = c.tHi;
        }
        this.S32[TMP] = v;
        this.S32[TMP + 1] = hi;
      },
      rdw: (la: number, size: number): void => {
        this.flagsIn();
        const c = this.cur;
        const v = c.readW(la, size);
        this.S32[TMP] = v;
        this.S32[TMP + 1] = size === 8 ? c.tHi : 0;
      },
      wr: (la: number, size: number, lo: number, hi: number): number => {
        this.flagsIn();
        const c = this.cur;
        if (size === 8) c.write64(la, lo, hi);
        else if (size === 4) c.write32(la, lo);
        else if (size === 2) c.write16(la, lo & 0xffff);
        else c.write8(la, lo & 0xff);
        if (!c.brk) return 0;
        this.S32[ST.STOP / 4] = 1;
        return 1;
      },
      ex: (id: number, k: number): number => {
        this.executorCalls++;
        this.flagsIn();
        const c = this.cur;
        const S32 = this.S32;
        const i = insnsOf[id][k];
        c.cur = i;
        c.rip = i.next;
        i.fn(c, i);
        // an interrupt to take, an interrupt shadow or a halt: back to the run loop after this block
        const pend = c.pendingIrq >= 0 || c.pendingNmi || c.shadow || c.halted;
        if (pend || c.brk) S32[ST.STOP / 4] = 1;
        return (c.brk ? 1 : 0) | (pend ? 2 : 0);
      },
      cond: (cc: number): number => {
        this.flagsIn();
        return flagCond(this.cur, cc) ? 1 : 0;
      },
      cf: (): number => {
        this.flagsIn();
        return flagCF(this.cur);
      },
      rot: (cf: number, of: number): void => {
        this.flagsIn();
        rotateFlags(this.cur, cf, of);
      },
    };
  }

  /**
   * The compiler for `c` (which has its {@link WasmState} in `wm`).
   * @example const jit = WasmJit.create(cpu, wm);
   */
  static create(c: Cpu, wm: WebAssembly.Memory, background = true): WasmJit {
    return new WasmJit(c, wm, background);
  }

  /**
   * Lets another CPU run this compiler's code (it shares the decode cache of the first); false when
   * it cannot (its state area is not in this compiler's memory).
   * @example if (!jit.adopt(cpu1, cpu1.memory.wasmMemory)) console.log('cpu1 cannot run this compiler\'s code');
   */
  adopt(c: Cpu, wm: WebAssembly.Memory | undefined): boolean {
    const st = c.wasmState;
    if (st === null || wm !== this.wm) return false;
    this.states.push(st);
    return true;
  }

  /** Copies a flag record written by compiled code into the running CPU's lazy flags. @example jit.flagsIn() */
  flagsIn(): void {
    const S32 = this.S32;
    const op = S32[ST.FOP / 4];
    if (op < 0) return;
    const c = this.cur;
    S32[ST.FOP / 4] = -1;
    const sz = S32[ST.FSZ / 4];
    c.fOp = op;
    c.fSz = sz;
    const a = ST.FA / 4;
    const b = ST.FB / 4;
    const r = ST.FR / 4;
    if (sz === 8) {
      c.fA = S32[a];
      c.fAH = S32[a + 1];
      c.fB = S32[b];
      c.fBH = S32[b + 1];
      c.fRes = S32[r];
      c.fResH = S32[r + 1];
    } else {
      c.fA = S32[a] >>> 0;
      c.fAH = 0;
      c.fB = S32[b] >>> 0;
      c.fBH = 0;
      c.fRes = S32[r] >>> 0;
      c.fResH = 0;
    }
    c.fCF = S32[ST.FCF / 4];
    c.fOF = S32[ST.FOF / 4];
    c.fAF = 0;
    c.fCin = S32[ST.FCIN / 4];
  }

  /**
   * Frees the table entry of a block the cache dropped: the entry is reused, and a module whose
   * functions are all dropped can be garbage-collected.
   * @example cpu.blocks.onRelease = (b) => jit.release(b);
   */
  release(b: Block): void {
    const id = b.wasmId;
    const e = (CACHE + cacheSlot(b.linear) * 16) / 4;
    for (const st of this.states) if (st.S32[e + 2] === id) st.F64v[e / 2] = Number.NaN;
    this.table.set(id, null);
    this.insnsOf[id] = NO_INSNS;
    this.free.push(id);
  }

  /** Queues `b` for the next batch (compiled at once when the batch is full). @example jit.enqueue(block, cpu) */
  enqueue(b: Block, c: Cpu): void {
    if (this.pending.length === 0) this.pendingSince = c.icount;
    this.pending.push(b);
    if (this.pending.length >= this.batch) this.flush();
  }

  /** Compiles a partial batch that has waited long enough (called by the run loop now and then). @example jit.poll(cpu) */
  poll(c: Cpu): void {
    if (this.pending.length > 0 && c.icount - this.pendingSince >= BATCH_WAIT) this.flush();
    const job = this.inflight[0];
    if (job !== undefined && !job.done && Math.abs(c.icount - job.since) >= SYNC_AFTER) {
      job.done = true;
      this.inflight.shift();
      this.install(job.blocks, job.ids, job.loops, new WebAssembly.Module(job.bytes as BufferSource));
    }
  }

  /** Compiles every queued block (still valid) into one module and installs them. @example jit.flush() */
  flush(): void {
    const blocks = this.pending.filter((b) => b.valid && b.fn === null);
    this.pending = [];
    if (blocks.length === 0) return;
    const ids: number[] = [];
    for (let j = 0; j < blocks.length; j++) {
      const id = this.free.pop();
      if (id !== undefined) ids.push(id);
      else ids.push(this.table.grow(1));
    }
    const funcs = [];
    const loops: boolean[] = [];
    for (let j = 0; j < blocks.length; j++) {
      const { prologue, code, selfLoop } = compileBody(blocks[j], ids[j]);
      funcs.push({ type: T_BLOCK, locals: LOCALS, prologue, code });
      loops.push(selfLoop);
    }
    const bytes = moduleBytes({
      types: TYPES,
      imports: IMPORTS,
      memory: { min: 0, max: 65536 },
      funcs,
      exports: funcs.map((_, j) => ({ name: `${j}`, func: IMPORTS.length + j })),
    });
    if (!this.background || this.batch === 1) {
      this.install(blocks, ids, loops, new WebAssembly.Module(bytes as BufferSource));
      return;
    }
    // compiled in the background; a caller that never yields to the event loop (one long
    // synchronous run) gets it compiled on the spot by poll() after SYNC_AFTER instructions
    const job: Inflight = {
      blocks,
      ids,
      loops,
      bytes,
      since: this.cur.icount,
      at: performance.now(),
      done: false,
    };
    this.inflight.push(job);
    WebAssembly.compile(bytes as BufferSource).then(
      (mod) => this.finish(job, mod),
      (e: unknown) => {
        this.finish(job, null);
        this.failure = e;
      },
    );
  }

  /**
   * Whether a background compile started at least {@link COMPILE_DUE_MS} ago is still waiting to be
   * installed: its result arrives through the event loop, so a run loop that holds the thread for
   * long slices should yield now.
   * @example if (cpu.wasmJit?.compileDue(performance.now())) return; // let the event loop run
   */
  compileDue(now: number): boolean {
    const job = this.inflight[0];
    return job !== undefined && now - job.at >= COMPILE_DUE_MS;
  }

  /** Whether a batch is compiling in the background. @example const busy = cpu.wasmJit?.compiling; */
  get compiling(): boolean {
    return this.inflight.length > 0;
  }

  /**
   * Compiles every batch still compiling in the background on the spot and installs it (its
   * background result is then ignored): for a caller that will not yield to the event loop, where
   * that result would arrive.
   * @example if (cpu.wasmJit?.compileDue(performance.now())) cpu.wasmJit.settle();
   */
  settle(): void {
    for (;;) {
      const job = this.inflight.shift();
      if (job === undefined) return;
      if (job.done) continue;
      job.done = true;
      this.install(job.blocks, job.ids, job.loops, new WebAssembly.Module(job.bytes as BufferSource));
    }
  }

  /** Installs a background compile's result (unless poll() already compiled it on the spot; null: it failed). */
  private finish(job: Inflight, mod: WebAssembly.Module | null): void {
    const k = this.inflight.indexOf(job);
    if (k >= 0) this.inflight.splice(k, 1);
    if (job.done || mod === null) return;
    job.done = true;
    this.install(job.blocks, job.ids, job.loops, mod);
  }

  /** Instantiates a compiled batch and gives its blocks their functions (those still valid). */
  private install(blocks: Block[], ids: number[], loops: boolean[], mod: WebAssembly.Module): void {
    if (this.failure !== null) throw this.failure;
    const inst = new WebAssembly.Instance(mod, { e: this.imports });
    for (let j = 0; j < blocks.length; j++) {
      const b = blocks[j];
      const id = ids[j];
      if (!b.valid) {
        this.free.push(id); // dropped while its batch compiled
        continue;
      }
      this.table.set(id, inst.exports[`${j}`] as () => number);
      this.insnsOf[id] = b.insns;
      this.loopN[id] = loops[j] ? b.insns.length : 0;
      b.wasmId = id;
      b.fn = this.glue(id, b);
    }
    this.cur.compiledBlocks += blocks.length;
    this.modules++;
  }

  /** The JavaScript entry of table entry `id` (the `Block.fn` shape): runs it and the blocks chained after it. */
  private glue(id: number, b: Block): (c: Cpu, budget: number) => number {
    const run = this.run;
    const insnsOf = this.insnsOf;
    const loopN = this.loopN;
    const rip = b.linear;
    const global = b.global;
    // 64-bit code enters the dispatcher's cache (its RIP is its linear address)
    const e = (b.key & 3) === 3 ? (CACHE + cacheSlot(rip) * 16) / 4 : -1;
    return (c: Cpu, budget: number): number => {
      const st = c.wasmState as WasmState;
      const S32 = st.S32;
      const F64v = st.F64v;
      this.cur = c;
      this.S32 = S32;
      this.F64v = F64v;
      S32[ST.STOP / 4] = 0;
      S32[ST.TOTAL / 4] = 0;
      S32[ST.RUNS / 4] = 0;
      if (e >= 0) {
        const tlb = c.tlb;
        F64v[e / 2] = rip;
        S32[e + 2] = id;
        S32[e + 3] = cacheEpoch(global ? tlb.globalFlushes : tlb.flushes, global, c.cpl === 3);
      }
      let r: number;
      try {
        r = run(id, Math.min(budget, 0x3fffffff), st.base);
      } catch (err) {
        this.flagsIn();
        const cur = S32[ST.CUR / 4];
        c.cur = insnsOf[cur][S32[ST.PC / 4]];
        c.icount += S32[ST.TOTAL / 4] + loopN[cur] * S32[ST.IT / 4];
        c.compiledRuns += S32[ST.RUNS / 4];
        throw err;
      }
      if (S32[ST.FOP / 4] >= 0) this.flagsIn();
      c.compiledRuns += S32[ST.RUNS / 4];
      if (r >= 0) {
        c.rip = F64v[ST.RIP / 8];
        return r;
      }
      return -r;
    };
  }
}
