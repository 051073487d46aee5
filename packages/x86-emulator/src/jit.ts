/**
 * Block compiler: turns a hot basic block into one JavaScript function (`new Function`) that V8 then
 * optimises as a unit.
 *
 * - Registers live in JavaScript locals (`LN`/`HN`: the low and high int32 halves of GPR N) for the
 *   whole block: loaded once on entry, written back on every way out (the end, a call to an
 *   executor, an exit, a fault).
 * - Flags live in locals too (`fop`, `fa`, `fb`, `fr`, ... in the lazy-flag record format of
 *   flags.ts) and reach the CPU's record only where something outside the block can see them. A
 *   backward liveness pass drops the flag work of instructions whose flags the block overwrites
 *   before anything reads them; ROL/ROR are inline (with dead flags, plain register operations).
 *   Conditions (Jcc/SETcc/CMOVcc/ADC/SBB) on flags made inside the block are evaluated from the
 *   locals, specialised for the instruction that made them.
 * - The frequent instruction forms are emitted inline: 32/64-bit ALU, MOV, MOVZX/MOVSX(D), LEA, INC/DEC,
 *   shifts, rotates, IMUL, MUL, SETcc, CMOVcc, Jcc/JMP, and in 64-bit code memory operands (including
 *   RIP-relative and FS/GS-based ones), PUSH/POP/CALL/RET. Every other instruction becomes a direct
 *   call to its executor from a call site of its own, with registers and flags synchronised around it.
 * - A block whose last instruction branches back to its own start (a loop that is one basic block)
 *   becomes a JavaScript loop, bounded by the instruction budget the run loop passes in.
 *
 * Faults: a memory access that faults throws out of the block; the handler writes the locals back,
 * so the CPU state is exactly that before the faulting instruction (inline code touches no register
 * before its last possible fault), and points `cpu.cur` at it, as for interpreted blocks.
 *
 * The compiled function returns the number of instructions it retired.
 *
 * @example
 * ```ts
 * block.fn = compileBlock(block, flagCF); // cpu.run() then calls block.fn(cpu, budget)
 * ```
 */
import {
  aluEG,
  aluEI,
  aluGE,
  cmov,
  incDec,
  lea,
  movEG,
  movEI,
  movGE,
  movsx,
  movzx,
  negE,
  nop,
  notE,
  setcc,
  testEG,
  testEI,
} from './alu.js';
import { bsfBsr, btOp, popcnt } from './bits.js';
import type { Block } from './block-cache.js';
import { callE, callRel, jcc, jmpE, jmpRel, popR, pushR, retNear } from './control.js';
import type { Cpu } from './cpu.js';
import {
  cond,
  F_ADC,
  F_ADD,
  F_DEC,
  F_IMUL64,
  F_INC,
  F_LOGIC,
  F_PRESET,
  F_SBB,
  F_SUB,
  PARITY,
} from './flags.js';
import type { Insn } from './insn.js';
import { imul2, limbs, mul64, mulE } from './muldiv.js';
import { rotateFlags, shiftE } from './shift.js';

/** A compiled block: runs the block (or its loop) and returns the number of instructions retired. */
export type CompiledBlock = (c: Cpu, budget: number) => number;

// ------------------------------------------------------------------ planning

/** How an instruction is compiled. */
export enum K {
  CALL,
  NOP,
  JMP,
  JCC,
  ALU, // ALU/TEST with register or immediate source, register destination, 32/64-bit
  ALU_MEM_SRC, // ALU/TEST/CMP reg, [mem] (or [mem], imm / reg for CMP/TEST: no write), 32/64-bit
  ALU_RMW, // ALU [mem], reg/imm (writes memory), 32/64-bit
  MOV_RR,
  MOV_RI,
  LOAD, // MOV reg, [mem] 32/64-bit
  STORE, // MOV [mem], reg 32/64-bit
  STORE_IMM, // MOV [mem], imm 32/64-bit
  MOVZX,
  MOVZX_MEM,
  MOVSX,
  MOVSX_MEM,
  LEA,
  INCDEC,
  SHIFT, // SHL/SHR/SAR by immediate, 32/64-bit register
  ROTATE, // ROL/ROR by immediate, 32/64-bit register
  IMUL,
  MUL,
  SETCC,
  CMOV,
  PUSH,
  POP,
  CALLREL,
  RET,
  // WebAssembly compiler only (planBlock with `ext`):
  ALU8, // ALU/TEST/CMP on 8-bit registers or memory (64-bit code)
  MOV8, // MOV on 8-bit registers or memory (64-bit code)
  LEA32, // LEA with a 32-bit destination and 64-bit addresses
  NEG, // NEG on a 32/64-bit register
  NOT, // NOT on a 32/64-bit register
  JMPIND, // JMP r/m64 (near indirect, 64-bit code)
  CALLIND, // CALL r/m64 (near indirect, 64-bit code)
}

/** Flag behaviour of a planned instruction, for the liveness pass. */
enum FE {
  /** Neither reads nor writes the arithmetic flags. */
  NONE,
  /** Writes all six (and reads none). */
  WRITE,
  /** Reads them (conditions, carry-in, executors, possible faults before the write). */
  READ,
  /** Reads them (fault or carry-in), then writes all six. */
  READ_WRITE,
  /** Writes some and keeps the others: flags are live before it exactly when they are after it. */
  PARTIAL,
}

/** Whether the instruction's memory operand can be addressed inline (64-bit code). */
function memOk(i: Insn, is64: boolean): boolean {
  return is64 && i.mem && i.asz === 8;
}

function plan(i: Insn, is64: boolean, ext: boolean): K {
  const f = i.fn;
  const sz = i.sz;
  const wide = sz === 4 || sz === 8;
  if (f === jmpRel) return K.JMP;
  if (f === jcc) return K.JCC;
  if (f === nop) return K.NOP;
  if (!wide) {
    if (f === setcc && !i.mem) return K.SETCC;
    if (ext && sz === 1 && (!i.mem || memOk(i, is64))) {
      if (f === aluEG || f === aluGE || f === aluEI || f === testEG || f === testEI) return K.ALU8;
      if (f === movEG || f === movGE || f === movEI) return K.MOV8;
    }
    return K.CALL;
  }
  if (ext && is64 && sz === 8 && (f === jmpE || f === callE) && (!i.mem || memOk(i, is64)))
    return f === jmpE ? K.JMPIND : K.CALLIND;
  if (ext && !i.mem && f === negE) return K.NEG;
  if (ext && !i.mem && f === notE) return K.NOT;
  if (ext && f === lea && is64 && i.asz === 8 && sz === 4) return K.LEA32;
  if (f === aluEG || f === aluGE || f === aluEI || f === testEG || f === testEI) {
    if (!i.mem) return K.ALU;
    if (!memOk(i, is64)) return K.CALL;
    const noWrite = f === aluGE || f === testEG || f === testEI || i.op === 7;
    return noWrite ? K.ALU_MEM_SRC : K.ALU_RMW;
  }
  if (f === movEG || f === movGE) {
    if (!i.mem) return K.MOV_RR;
    if (!memOk(i, is64)) return K.CALL;
    return f === movGE ? K.LOAD : K.STORE;
  }
  if (f === movEI) {
    if (!i.mem) return K.MOV_RI;
    return memOk(i, is64) ? K.STORE_IMM : K.CALL;
  }
  if (f === movzx) {
    if (!i.mem) return K.MOVZX;
    return memOk(i, is64) ? K.MOVZX_MEM : K.CALL;
  }
  if (f === movsx) {
    if (!i.mem) return K.MOVSX;
    return memOk(i, is64) ? K.MOVSX_MEM : K.CALL;
  }
  if (f === lea) return is64 && i.asz === 8 && sz === 8 ? K.LEA : K.CALL;
  if (f === incDec) return i.mem ? K.CALL : K.INCDEC;
  if (f === shiftE) {
    if (i.mem || i.imm2 === 1) return K.CALL;
    const op = i.op;
    if (op >= 4) return K.SHIFT;
    if (op === 0 || op === 1) return K.ROTATE;
    return K.CALL;
  }
  if (f === imul2) {
    if (i.mem) return K.CALL;
    return K.IMUL;
  }
  if (f === mulE) return !i.mem && sz === 8 ? K.MUL : K.CALL;
  if (f === cmov) return i.mem ? K.CALL : K.CMOV;
  if (is64 && sz === 8) {
    if (f === pushR) return K.PUSH;
    if (f === popR) return K.POP;
    if (f === callRel) return K.CALLREL;
    if (f === retNear && i.imm === 0) return K.RET;
  }
  return K.CALL;
}

function flagEffect(k: K, i: Insn): FE {
  switch (k) {
    case K.NOP:
    case K.JMP:
    case K.MOV_RR:
    case K.MOV_RI:
    case K.MOVZX:
    case K.MOVSX:
    case K.LEA:
    case K.LEA32:
    case K.NOT:
      return FE.NONE;
    case K.NEG:
      return FE.WRITE;
    case K.ALU8:
      if (i.mem) return FE.READ_WRITE;
      return (i.op === 2 || i.op === 3) && i.fn !== testEG && i.fn !== testEI ? FE.READ_WRITE : FE.WRITE;
    case K.MOV8:
      return i.mem ? FE.READ : FE.NONE;
    case K.ALU:
      return i.op === 2 || i.op === 3
        ? i.fn === testEG || i.fn === testEI
          ? FE.WRITE
          : FE.READ_WRITE
        : FE.WRITE;
    case K.SHIFT:
      return (i.imm & (i.sz === 8 ? 63 : 31)) === 0 ? FE.NONE : FE.WRITE;
    case K.ROTATE:
      // with live flags it merges CF/OF into the flags before it: live before exactly when after
      return (i.imm & (i.sz === 8 ? 63 : 31)) === 0 ? FE.NONE : FE.PARTIAL;
    case K.IMUL:
    case K.MUL:
      return FE.WRITE;
    case K.INCDEC:
      return FE.PARTIAL;
    case K.ALU_MEM_SRC:
    case K.ALU_RMW:
      return FE.READ_WRITE;
    default:
      // conditions, executors and everything that can fault
      return FE.READ;
  }
}

// ------------------------------------------------------------------ code generation

const T32 = 4294967296;

/** Static description of the flag record held in the locals (or null: the CPU's record is current). */
interface FlagState {
  op: number;
  sz: number;
}

class Gen {
  readonly out: string[] = [];
  /** GPRs the block touches (loaded on entry). */
  readonly used = new Set<number>();
  /** GPRs the block may write (written back on the way out). */
  readonly written = new Set<number>();
  /** Written since the last synchronisation with `c.R`. */
  dirty = new Set<number>();
  /** The flag record in the locals, when it is newer than the CPU's. */
  flags: FlagState | null = null;
  constructor(readonly insns: Insn[]) {}

  emit(s: string): void {
    this.out.push(s);
  }
  lo(r: number): string {
    this.used.add(r);
    return `L${r}`;
  }
  hi(r: number): string {
    this.used.add(r);
    return `H${r}`;
  }
  /** Marks GPR `r` as written by the code being emitted. */
  wr(r: number): void {
    this.used.add(r);
    this.written.add(r);
    this.dirty.add(r);
  }
  setLo(r: number, v: string): void {
    this.wr(r);
    this.emit(`L${r} = ${v};`);
  }
  set64(r: number, lo: string, hi: string): void {
    this.wr(r);
    this.emit(`L${r} = ${lo}; H${r} = ${hi};`);
  }
  set32(r: number, lo: string): void {
    this.wr(r);
    this.emit(`L${r} = ${lo}; H${r} = 0;`);
  }

  /** Stores the dirty locals to `c.R`. */
  syncRegs(): void {
    if (this.dirty.size > 0) this.emit(storeRegs(this.dirty));
    this.dirty = new Set();
  }

  /** Code storing the dirty locals, leaving them marked dirty (for a path that may not be taken). */
  syncCode(): string {
    return storeRegs(this.dirty);
  }

  /** Code storing the locals' flag record, leaving the compile-time state as it is. */
  flagSyncCode(): string {
    const save = this.out.length;
    const f = this.flags;
    this.syncFlags();
    this.flags = f;
    return this.out.splice(save).join(' ');
  }

  /** Writes the locals' flag record to the CPU. */
  syncFlags(): void {
    const f = this.flags;
    if (f === null) return;
    let s = `c.fOp = ${f.op}; c.fSz = ${f.sz};`;
    switch (f.op) {
      case F_LOGIC:
        s += ' c.fRes = fr; c.fResH = frh;';
        break;
      case F_PRESET:
        s += ' c.fRes = fr; c.fResH = frh; c.fCF = fcf; c.fOF = fof; c.fAF = 0;';
        break;
      case F_INC:
      case F_DEC:
        s += ' c.fA = fa; c.fAH = fah; c.fB = 1; c.fBH = 0; c.fRes = fr; c.fResH = frh; c.fCF = fcf;';
        break;
      case F_ADC:
      case F_SBB:
        s += ' c.fA = fa; c.fAH = fah; c.fB = fb; c.fBH = fbh; c.fRes = fr; c.fResH = frh; c.fCin = fcin;';
        break;
      default:
        s += ' c.fA = fa; c.fAH = fah; c.fB = fb; c.fBH = fbh; c.fRes = fr; c.fResH = frh;';
    }
    this.emit(`${s} fop = -1;`);
    this.flags = null;
  }

  /** Reloads every used register after an executor ran (it may have changed any). */
  reload(only: number[] | null = null): void {
    for (const r of only ?? this.used) {
      if (this.used.has(r)) this.emit(`L${r} = R[${2 * r}]; H${r} = R[${2 * r + 1}];`);
    }
  }

  /** Records a new flag state in the locals (`fop`/`fsz` too, for the fault handler). */
  setFlags(op: number, sz: number, assigns: string): void {
    this.emit(`fop = ${op}; fsz = ${sz}; ${assigns}`);
    this.flags = { op, sz };
  }

  // ---------------------------------------------------------------- flag reads

  /** CF (0/1 expression) of the current state. */
  cf(): string {
    const f = this.flags;
    if (f === null) return 'flagCF(c)';
    const w = f.sz === 8;
    switch (f.op) {
      case F_ADD:
        return w ? `(${ult('frh', 'fr', 'fah', 'fa')} ? 1 : 0)` : '(fr < fa ? 1 : 0)';
      case F_ADC:
        return w
          ? `(${ult('frh', 'fr', 'fah', 'fa')} || (fcin !== 0 && fr === fa && frh === fah) ? 1 : 0)`
          : '(fr < fa || (fcin !== 0 && fr === fa) ? 1 : 0)';
      case F_SUB:
        return w ? `(${ult('fah', 'fa', 'fbh', 'fb')} ? 1 : 0)` : '(fa < fb ? 1 : 0)';
      case F_SBB:
        return w
          ? `(${ult('fah', 'fa', 'fbh', 'fb')} || (fcin !== 0 && fa === fb && fah === fbh) ? 1 : 0)`
          : '(fa < fb || (fcin !== 0 && fa === fb) ? 1 : 0)';
      case F_LOGIC:
        return '0';
      case F_INC:
      case F_DEC:
      case F_PRESET:
        return 'fcf';
      default:
        this.syncFlags();
        return 'flagCF(c)';
    }
  }

  /** Boolean expression for condition code `cc`. */
  cond(cc: number): string {
    const f = this.flags;
    const neg = (cc & 1) !== 0;
    const e = f === null ? null : this.condParts(f);
    if (e === null) {
      this.syncFlags();
      return `${neg ? '!' : ''}cond(c, ${cc & ~1})`;
    }
    const x = condExpr(cc >> 1, e);
    return neg ? `!(${x})` : `(${x})`;
  }

  /** The flags of record `f` as expressions on the locals, or null when it has no cheap form. */
  private condParts(f: FlagState): CondParts | null {
    const w = f.sz === 8;
    const zf = w ? '(fr | frh) === 0' : 'fr === 0';
    const sf = w ? 'frh < 0' : `((fr >>> ${f.sz * 8 - 1}) & 1) !== 0`;
    const pf = 'PARITY[fr & 255] !== 0';
    const top = f.sz * 8 - 1;
    switch (f.op) {
      case F_SUB: {
        if (!w && f.sz !== 4) return null;
        // compare the operands directly (CMP/SUB)
        const cf = w ? ult('fah', 'fa', 'fbh', 'fb') : 'fa < fb';
        const eq = w ? 'fa === fb && fah === fbh' : 'fa === fb';
        return {
          of: w ? '((fah ^ fbh) & (fah ^ frh)) < 0' : '((fa ^ fb) & (fa ^ fr) & 0x80000000) !== 0',
          cf,
          zf: eq,
          sf,
          pf,
          be: w ? `(${cf} || (${eq}))` : 'fa <= fb',
          l: w ? '(fah < fbh || (fah === fbh && (fa >>> 0) < (fb >>> 0)))' : '(fa | 0) < (fb | 0)',
          le: w ? '(fah < fbh || (fah === fbh && (fa >>> 0) <= (fb >>> 0)))' : '(fa | 0) <= (fb | 0)',
        };
      }
      case F_LOGIC:
        return { of: 'false', cf: 'false', zf, sf, pf, be: zf, l: sf, le: `(${zf} || ${sf})` };
      case F_ADD:
      case F_ADC:
      case F_SBB:
      case F_INC:
      case F_DEC:
      case F_PRESET: {
        let of: string;
        if (f.op === F_PRESET) of = 'fof !== 0';
        else if (f.op === F_INC) of = w ? '(frh === -2147483648 && fr === 0)' : `fr === ${2 ** top}`;
        else if (f.op === F_DEC) of = w ? '(frh === 2147483647 && fr === -1)' : `fr === ${2 ** top - 1}`;
        else if (f.op === F_SBB)
          of = w ? '((fah ^ fbh) & (fah ^ frh)) < 0' : `((((fa ^ fb) & (fa ^ fr)) >>> ${top}) & 1) !== 0`;
        else of = w ? '((fah ^ frh) & (fbh ^ frh)) < 0' : `((((fa ^ fr) & (fb ^ fr)) >>> ${top}) & 1) !== 0`;
        return { of, cf: `${this.cf()} !== 0`, zf, sf, pf };
      }
      default:
        return null;
    }
  }
}

/** Boolean expressions for the flags a condition reads; `be`/`l`/`le` default to their definitions. */
interface CondParts {
  of: string;
  cf: string;
  zf: string;
  sf: string;
  pf: string;
  be?: string;
  l?: string;
  le?: string;
}

/** Condition `k` (condition code >> 1: O, B, Z, BE, S, P, L, LE) from its flags. */
function condExpr(k: number, p: CondParts): string {
  switch (k) {
    case 0:
      return p.of;
    case 1:
      return p.cf;
    case 2:
      return p.zf;
    case 3:
      return p.be ?? `(${p.cf} || ${p.zf})`;
    case 4:
      return p.sf;
    case 5:
      return p.pf;
    case 6:
      return p.l ?? `(${p.sf}) !== (${p.of})`;
    default:
      return p.le ?? `(${p.zf} || (${p.sf}) !== (${p.of}))`;
  }
}

function ult(ah: string, al: string, bh: string, bl: string): string {
  return `((${ah} >>> 0) < (${bh} >>> 0) || (${ah} === ${bh} && (${al} >>> 0) < (${bl} >>> 0)))`;
}

/** Linear address expression of `i`'s memory operand (64-bit code, 64-bit address size). */
function eaExpr(g: Gen, i: Insn): string {
  let e = i.ripRel ? `${i.next + i.disp}` : `${i.disp}`;
  if (i.base >= 0) {
    const b = i.base >> 1;
    e += ` + (${g.hi(b)} * ${T32} + (${g.lo(b)} >>> 0))`;
  }
  if (i.index >= 0) {
    const x = i.index >> 1;
    e += ` + (${g.hi(x)} * ${T32} + (${g.lo(x)} >>> 0)) * ${i.scale}`;
  }
  if (i.seg === 4 || i.seg === 5) e += ` + c.segEff[${i.seg}]`;
  return e;
}

/** Loads the memory operand (size 4: unsigned number; 8: `ml`/`mh`) into consts; `w`: read for a write. */
function loadMem(g: Gen, i: Insn, k: number, sz: number, w: boolean): void {
  g.emit(`pc = ${k}; const ma = ${eaExpr(g, i)};`);
  if (sz === 8) g.emit(`const ml = ${w ? 'c.readW(ma, 8)' : 'c.read64(ma)'}; const mh = c.tHi;`);
  else g.emit(`const ml = ${w ? 'c.readW(ma, 4)' : 'c.read32(ma)'};`);
}

export function flagOpOf(op: number): number {
  return op === 0
    ? F_ADD
    : op === 2
      ? F_ADC
      : op === 3
        ? F_SBB
        : op === 1 || op === 4 || op === 6
          ? F_LOGIC
          : F_SUB;
}

/**
 * ALU core: operands in consts `al`/`ah` (destination) and `bl`/`bh` (source) already emitted;
 * leaves the result in `lo`/`hi` (sz 8) or `r` (sz 4, unsigned).
 */
function aluCore(g: Gen, op: number, sz: number, live: boolean): void {
  const fop = flagOpOf(op);
  const cin = op === 2 || op === 3 ? `const cin = ${g.cf()}; ` : '';
  if (sz === 8) {
    let body: string;
    switch (op) {
      case 0:
        body =
          'const s = (al >>> 0) + (bl >>> 0); const lo = s | 0; const hi = (ah + bh + (s > 4294967295 ? 1 : 0)) | 0;';
        break;
      case 2:
        body =
          'const s = (al >>> 0) + (bl >>> 0) + cin; const lo = s | 0; const hi = (ah + bh + (s > 4294967295 ? 1 : 0)) | 0;';
        break;
      case 3:
        body =
          'const s = (al >>> 0) - (bl >>> 0) - cin; const lo = s | 0; const hi = (ah - bh - (s < 0 ? 1 : 0)) | 0;';
        break;
      case 5:
      case 7:
        body =
          'const s = (al >>> 0) - (bl >>> 0); const lo = s | 0; const hi = (ah - bh - (s < 0 ? 1 : 0)) | 0;';
        break;
      default: {
        const o = op === 1 ? '|' : op === 4 ? '&' : '^';
        body = `const lo = al ${o} bl; const hi = ah ${o} bh;`;
      }
    }
    g.emit(`${cin}${body}`);
    if (live)
      g.setFlags(
        fop,
        8,
        `fa = al; fah = ah; fb = bl; fbh = bh; fr = lo; frh = hi;${cin !== '' ? ' fcin = cin;' : ''}`,
      );
    return;
  }
  let e: string;
  switch (op) {
    case 0:
      e = 'a + b';
      break;
    case 2:
      e = 'a + b + cin';
      break;
    case 3:
      e = 'a - b - cin';
      break;
    case 5:
    case 7:
      e = 'a - b';
      break;
    case 1:
      e = 'a | b';
      break;
    case 4:
      e = 'a & b';
      break;
    default:
      e = 'a ^ b';
  }
  g.emit(`${cin}const a = al >>> 0; const b = bl >>> 0; const r = (${e}) >>> 0;`);
  if (live)
    g.setFlags(
      fop,
      4,
      `fa = a; fah = 0; fb = b; fbh = 0; fr = r; frh = 0;${cin !== '' ? ' fcin = cin;' : ''}`,
    );
}

/** Emits instruction `i` (index `k`) of kind `kind`; returns false when it must be called instead. */
function emitInline(g: Gen, i: Insn, k: number, kind: K, live: boolean): void {
  const sz = i.sz;
  switch (kind) {
    case K.NOP:
      return;
    case K.JMP:
      g.emit(`c.rip = ${i.disp};`);
      return;
    case K.JCC:
      g.emit(`c.rip = ${g.cond(i.op)} ? ${i.disp} : ${i.next};`);
      return;
    case K.ALU:
    case K.ALU_MEM_SRC:
    case K.ALU_RMW: {
      const f = i.fn;
      const isTest = f === testEG || f === testEI;
      const op = isTest ? 4 : i.op;
      const write = !(isTest || op === 7);
      g.emit('{');
      // destination (a) and source (b)
      let dstReg = -1;
      if (kind === K.ALU_RMW || (kind === K.ALU_MEM_SRC && f !== aluGE)) {
        loadMem(g, i, k, sz, kind === K.ALU_RMW);
        g.emit(sz === 8 ? 'const al = ml, ah = mh;' : 'const al = ml, ah = 0;');
      } else {
        dstReg = f === aluGE ? i.reg : i.rm;
        g.emit(`const al = ${g.lo(dstReg)}, ah = ${sz === 8 ? g.hi(dstReg) : '0'};`);
      }
      if (f === aluEI || f === testEI) {
        g.emit(
          sz === 8 ? `const bl = ${i.imm | 0}, bh = ${i.immH | 0};` : `const bl = ${i.imm | 0}, bh = 0;`,
        );
      } else if (f === aluGE) {
        if (kind === K.ALU_MEM_SRC) {
          loadMem(g, i, k, sz, false);
          g.emit(sz === 8 ? 'const bl = ml, bh = mh;' : 'const bl = ml | 0, bh = 0;');
        } else g.emit(`const bl = ${g.lo(i.rm)}, bh = ${sz === 8 ? g.hi(i.rm) : '0'};`);
      } else {
        g.emit(`const bl = ${g.lo(i.reg)}, bh = ${sz === 8 ? g.hi(i.reg) : '0'};`);
      }
      aluCore(g, op, sz, live);
      if (write) {
        if (kind === K.ALU_RMW) {
          g.emit(sz === 8 ? 'c.write64(ma, lo, hi);' : 'c.write32(ma, r | 0);');
        } else if (sz === 8) g.set64(dstReg, 'lo', 'hi');
        else g.set32(dstReg, 'r | 0');
      }
      g.emit('}');
      return;
    }
    case K.MOV_RR: {
      const d = i.fn === movGE ? i.reg : i.rm;
      const s = i.fn === movGE ? i.rm : i.reg;
      if (sz === 8) g.set64(d, g.lo(s), g.hi(s));
      else g.set32(d, g.lo(s));
      return;
    }
    case K.MOV_RI:
      if (sz === 8) g.set64(i.rm, `${i.imm | 0}`, `${i.immH | 0}`);
      else g.set32(i.rm, `${i.imm | 0}`);
      return;
    case K.LOAD:
      g.emit('{');
      loadMem(g, i, k, sz, false);
      if (sz === 8) g.set64(i.reg, 'ml', 'mh');
      else g.set32(i.reg, 'ml | 0');
      g.emit('}');
      return;
    case K.STORE:
      g.emit(`{ pc = ${k}; const ma = ${eaExpr(g, i)};`);
      g.emit(
        sz === 8 ? `c.write64(ma, ${g.lo(i.reg)}, ${g.hi(i.reg)}); }` : `c.write32(ma, ${g.lo(i.reg)}); }`,
      );
      return;
    case K.STORE_IMM:
      g.emit(`{ pc = ${k}; const ma = ${eaExpr(g, i)};`);
      g.emit(sz === 8 ? `c.write64(ma, ${i.imm | 0}, ${i.immH | 0}); }` : `c.write32(ma, ${i.imm | 0}); }`);
      return;
    case K.MOVZX:
    case K.MOVZX_MEM:
    case K.MOVSX:
    case K.MOVSX_MEM: {
      // i.op: source size 1, 2 (or 4 for MOVSXD)
      let v: string;
      g.emit('{');
      if (kind === K.MOVZX_MEM || kind === K.MOVSX_MEM) {
        g.emit(`pc = ${k}; const ma = ${eaExpr(g, i)};`);
        v = i.op === 1 ? 'c.read8(ma)' : i.op === 2 ? 'c.read16(ma)' : '(c.read32(ma) | 0)';
      } else if (i.op === 1) {
        const r = i.rmB >> 3;
        v = (i.rmB & 7) === 0 ? `(${g.lo(r)} & 255)` : `((${g.lo(r)} >>> 8) & 255)`;
      } else if (i.op === 2) v = `(${g.lo(i.rm)} & 65535)`;
      else v = g.lo(i.rm);
      const signed = kind === K.MOVSX || kind === K.MOVSX_MEM;
      if (signed)
        v = i.op === 1 ? `((${v} << 24) >> 24)` : i.op === 2 ? `((${v} << 16) >> 16)` : `(${v} | 0)`;
      g.emit(`const v = ${v};`);
      if (sz === 8) g.set64(i.reg, 'v', signed ? 'v >> 31' : '0');
      else g.set32(i.reg, 'v');
      g.emit('}');
      return;
    }
    case K.LEA: {
      g.emit(
        `{ let lo = ${i.ripRel ? ((i.next + i.disp) % T32) >>> 0 : i.disp >>> 0}; let hi = ${i.ripRel ? Math.floor((i.next + i.disp) / T32) | 0 : i.disp < 0 ? -1 : 0};`,
      );
      if (i.base >= 0) g.emit(`lo += ${g.lo(i.base >> 1)} >>> 0; hi += ${g.hi(i.base >> 1)};`);
      if (i.index >= 0)
        g.emit(
          `lo += (${g.lo(i.index >> 1)} >>> 0) * ${i.scale}; hi += Math.imul(${g.hi(i.index >> 1)}, ${i.scale});`,
        );
      g.emit('const nh = (hi + Math.floor(lo / 4294967296)) | 0;');
      g.set64(i.reg, 'lo | 0', 'nh');
      g.emit('}');
      return;
    }
    case K.INCDEC: {
      const d = i.rm;
      const inc = i.op === 0;
      g.emit(`{ const cf = ${live ? g.cf() : '0'};`);
      if (sz === 8) {
        g.emit(
          inc
            ? `const a = ${g.lo(d)}, ah = ${g.hi(d)}; const s = (a >>> 0) + 1; const r = s | 0; const rh = (ah + (s > 4294967295 ? 1 : 0)) | 0;`
            : `const a = ${g.lo(d)}, ah = ${g.hi(d)}; const s = (a >>> 0) - 1; const r = s | 0; const rh = (ah - (s < 0 ? 1 : 0)) | 0;`,
        );
        if (live)
          g.setFlags(
            inc ? F_INC : F_DEC,
            8,
            'fa = a; fah = ah; fb = 1; fbh = 0; fr = r; frh = rh; fcf = cf;',
          );
        g.set64(d, 'r', 'rh');
      } else {
        g.emit(`const a = ${g.lo(d)} >>> 0; const r = (a ${inc ? '+' : '-'} 1) >>> 0;`);
        if (live)
          g.setFlags(inc ? F_INC : F_DEC, 4, 'fa = a; fah = 0; fb = 1; fbh = 0; fr = r; frh = 0; fcf = cf;');
        g.set32(d, 'r | 0');
      }
      g.emit('}');
      return;
    }
    case K.SHIFT:
      emitShift(g, i, live);
      return;
    case K.ROTATE: {
      const d = i.rm;
      const n0 = i.imm & (sz === 8 ? 63 : 31);
      if (n0 === 0) {
        if (sz === 4) g.set32(d, g.lo(d));
        return;
      }
      g.emit(`{ const a = ${g.lo(d)}, ah = ${g.hi(d)};`);
      if (sz === 4) {
        const n = i.op === 0 ? n0 : 32 - n0;
        g.emit(`const lo = (a << ${n}) | (a >>> ${32 - n}), hi = 0;`);
      } else {
        const n = i.op === 0 ? n0 : 64 - n0;
        if (n === 32) g.emit('const lo = ah, hi = a;');
        else if (n < 32)
          g.emit(`const lo = (a << ${n}) | (ah >>> ${32 - n}), hi = (ah << ${n}) | (a >>> ${32 - n});`);
        else
          g.emit(
            `const lo = (ah << ${n - 32}) | (a >>> ${64 - n}), hi = (a << ${n - 32}) | (ah >>> ${64 - n});`,
          );
      }
      if (live) {
        // CF and OF from the result; the other flags stay: they go to the CPU's record first
        const top = sz === 8 ? 'hi' : 'lo';
        const cfOf =
          i.op === 0
            ? `const cf = lo & 1; const o = ((${top} >>> 31) ^ cf) & 1;`
            : `const cf = ${top} >>> 31; const o = ((${top} >>> 31) ^ (${top} >>> 30)) & 1;`;
        g.emit(cfOf);
        g.syncFlags();
        g.emit('rotateFlags(c, cf, o);');
      }
      if (sz === 8) g.set64(d, 'lo', 'hi');
      else g.set32(d, 'lo');
      g.emit('}');
      return;
    }
    case K.IMUL: {
      const d = i.reg;
      const r = i.rm;
      const three = i.op === 1;
      if (sz === 8) {
        g.emit(
          `{ const a = ${g.lo(r)}, ah = ${g.hi(r)}, bl = ${three ? i.imm | 0 : g.lo(d)}, bh = ${three ? i.immH | 0 : g.hi(d)}; const lo = Math.imul(a, bl); const hi = (Math.round(((a >>> 0) * (bl >>> 0) - (lo >>> 0)) / 4294967296) + Math.imul(a, bh) + Math.imul(ah, bl)) | 0;`,
        );
        if (live) g.setFlags(F_IMUL64, 8, 'fa = a; fah = ah; fb = bl; fbh = bh; fr = lo; frh = hi;');
        g.set64(d, 'lo', 'hi');
      } else {
        g.emit(
          `{ const a = ${g.lo(r)} | 0, b = ${three ? i.imm | 0 : `${g.lo(d)} | 0`}; const lo = Math.imul(a, b); const o = a * b !== lo ? 1 : 0;`,
        );
        if (live) g.setFlags(F_PRESET, 4, 'fr = lo >>> 0; frh = 0; fcf = o; fof = o;');
        g.set32(d, 'lo');
      }
      g.emit('}');
      return;
    }
    case K.MUL: {
      const r = i.rm;
      g.emit(
        `{ mul64(${g.lo(0)}, ${g.hi(0)}, ${g.lo(r)}, ${g.hi(r)}, false); const q0 = limbs[0] | 0, q1 = limbs[1] | 0, q2 = limbs[2] | 0, q3 = limbs[3] | 0; const o = q2 !== 0 || q3 !== 0 ? 1 : 0;`,
      );
      if (live) g.setFlags(F_PRESET, 8, 'fr = q0; frh = q1; fcf = o; fof = o;');
      g.set64(0, 'q0', 'q1');
      g.set64(2, 'q2', 'q3');
      g.emit('}');
      return;
    }
    case K.SETCC: {
      const r = i.rmB >> 3;
      const sh = (i.rmB & 7) * 8;
      g.setLo(r, `(${g.lo(r)} & ${~(255 << sh)}) | ((${g.cond(i.op)} ? 1 : 0) << ${sh})`);
      return;
    }
    case K.CMOV: {
      const d = i.reg;
      const r = i.rm;
      const c = g.cond(i.op);
      g.wr(d);
      if (sz === 8) g.emit(`if (${c}) { L${d} = ${g.lo(r)}; H${d} = ${g.hi(r)}; }`);
      else g.emit(`if (${c}) L${d} = ${g.lo(r)}; H${d} = 0;`);
      return;
    }
    case K.PUSH: {
      const r = i.reg;
      g.emit(
        `{ pc = ${k}; const v = ${g.lo(r)}, vh = ${g.hi(r)}; const s = (${g.lo(4)} >>> 0) - 8; const nl = s | 0; const nh = (${g.hi(4)} - (s < 0 ? 1 : 0)) | 0; c.write64(nh * 4294967296 + (nl >>> 0), v, vh);`,
      );
      g.set64(4, 'nl', 'nh');
      g.emit('}');
      return;
    }
    case K.POP: {
      g.emit(
        `{ pc = ${k}; const sl = ${g.lo(4)}, sh = ${g.hi(4)}; const v = c.read64(sh * 4294967296 + (sl >>> 0)); const vh = c.tHi; const s = (sl >>> 0) + 8;`,
      );
      g.set64(4, 's | 0', '(sh + (s > 4294967295 ? 1 : 0)) | 0');
      g.set64(i.reg, 'v', 'vh');
      g.emit('}');
      return;
    }
    case K.CALLREL: {
      const n = i.next;
      g.emit(
        `{ pc = ${k}; const s = (${g.lo(4)} >>> 0) - 8; const nl = s | 0; const nh = (${g.hi(4)} - (s < 0 ? 1 : 0)) | 0; c.write64(nh * 4294967296 + (nl >>> 0), ${n | 0}, ${Math.floor(n / T32) | 0});`,
      );
      g.set64(4, 'nl', 'nh');
      g.emit(`c.rip = ${i.disp}; }`);
      return;
    }
    case K.RET: {
      g.emit(
        `{ pc = ${k}; const sl = ${g.lo(4)}, sh = ${g.hi(4)}; const v = c.read64(sh * 4294967296 + (sl >>> 0)); const t = c.tHi * 4294967296 + (v >>> 0);`,
      );
      // a non-canonical target faults in the executor (with RIP still at the RET)
      g.emit(`if (t < -140737488355328 || t >= 140737488355328) { ${g.syncCode()}`);
      g.emit(`c.cur = I[${k}]; c.rip = ${i.next}; I[${k}].fn(c, I[${k}]); }`);
      g.emit('const s = (sl >>> 0) + 8;');
      g.set64(4, 's | 0', '(sh + (s > 4294967295 ? 1 : 0)) | 0');
      g.emit('c.rip = t; }');
      return;
    }
    default:
      throw new Error(`jit: no inline form for kind ${kind}`);
  }
}

/** SHL/SAL/SHR/SAR by an immediate on a 32/64-bit register. */
function emitShift(g: Gen, i: Insn, live: boolean): void {
  const op = i.op;
  const d = i.rm;
  const n = i.imm & (i.sz === 8 ? 63 : 31);
  if (n === 0) {
    if (i.sz === 4) g.set32(d, g.lo(d));
    return;
  }
  const left = op === 4 || op === 6;
  if (i.sz === 4) {
    g.emit(`{ const a = ${g.lo(d)};`);
    const r = left ? `(a << ${n}) >>> 0` : op === 5 ? `a >>> ${n}` : `(a >> ${n}) >>> 0`;
    g.emit(`const r = ${r};`);
    if (live) {
      const cf = left ? `(a >>> ${32 - n}) & 1` : op === 5 ? `(a >>> ${n - 1}) & 1` : `(a >> ${n - 1}) & 1`;
      const of = left ? '((r >>> 31) ^ cf) & 1' : op === 5 ? 'a >>> 31' : '0';
      g.setFlags(F_PRESET, 4, `const cf = ${cf}; fr = r; frh = 0; fcf = cf; fof = ${of};`);
    }
    g.set32(d, 'r | 0');
    g.emit('}');
    return;
  }
  let lo: string;
  let hi: string;
  let cf: string;
  let of: string;
  if (left) {
    if (n >= 32) {
      lo = '0';
      hi = `a << ${n - 32}`;
    } else {
      lo = `a << ${n}`;
      hi = `(ah << ${n}) | (a >>> ${32 - n})`;
    }
    cf = n > 32 ? `(a >>> ${64 - n}) & 1` : n === 32 ? 'ah & 1' : `(ah >>> ${32 - n}) & 1`;
    of = '((rh >>> 31) ^ cf) & 1';
  } else {
    const arith = op === 7;
    if (n >= 32) {
      lo = arith ? `ah >> ${n - 32}` : `(ah >>> ${n - 32}) | 0`;
      hi = arith ? 'ah >> 31' : '0';
    } else {
      lo = `((a >>> ${n}) | (ah << ${32 - n})) | 0`;
      hi = arith ? `ah >> ${n}` : `ah >>> ${n}`;
    }
    cf =
      n > 32 ? `(ah ${arith ? '>>' : '>>>'} ${n - 33}) & 1` : n === 32 ? 'a >>> 31' : `(a >>> ${n - 1}) & 1`;
    of = arith ? '0' : 'ah >>> 31';
  }
  g.emit(`{ const a = ${g.lo(d)}, ah = ${g.hi(d)}; const r = (${lo}) | 0; const rh = (${hi}) | 0;`);
  if (live) g.setFlags(F_PRESET, 8, `const cf = ${cf}; fr = r; frh = rh; fcf = cf; fof = ${of};`);
  g.set64(d, 'r', 'rh');
  g.emit('}');
}

/** Executors that write no GPR but the ModRM r/m operand (when it is a register). */
const WRITES_RM = new Set<unknown>([aluEG, aluEI, incDec, notE, negE, movEG, movEI, setcc, shiftE, btOp]);
/** Executors that write no GPR but the ModRM reg operand. */
const WRITES_REG = new Set<unknown>([aluGE, movGE, movzx, movsx, lea, cmov, imul2, bsfBsr, popcnt]);

/** The GPRs an executor call for `i` can change, or null when it is not known (reload them all). */
export function writtenBy(i: Insn): number[] | null {
  const f = i.fn;
  if (f === testEG || f === testEI) return [];
  if (WRITES_RM.has(f)) return i.mem ? [] : [i.sz === 1 ? i.rmB >> 3 : i.rm];
  if (WRITES_REG.has(f)) return [i.sz === 1 ? i.regB >> 3 : i.reg];
  return null;
}

/** A call to the executor of `i`, with registers and flags synchronised around it. */
function emitCall(g: Gen, i: Insn, k: number, loopBody: boolean): void {
  g.syncRegs();
  g.syncFlags();
  g.emit(`pc = ${k}; { const i = I[${k}]; c.cur = i; c.rip = ${i.next}; i.fn(c, i); }`);
  g.reload(writtenBy(i));
  g.emit(`if (c.brk) return ${loopBody ? `it * ${g.insns.length} + ` : ''}${k + 1};`);
}

/**
 * Plans a block: how each instruction is compiled, and whether the arithmetic flags are live after
 * it (read before the block overwrites them, or seen outside the block). `ext` admits the kinds only
 * the WebAssembly compiler emits inline (8-bit ALU and MOV, LEA to 32 bits, NEG, NOT).
 * @example const { kinds, liveAfter } = planBlock(block.insns, true);
 */
export function planBlock(insns: Insn[], is64: boolean, ext = false): { kinds: K[]; liveAfter: boolean[] } {
  const n = insns.length;
  const kinds: K[] = new Array(n);
  const liveAfter: boolean[] = new Array(n);
  let live = true;
  for (let k = n - 1; k >= 0; k--) {
    liveAfter[k] = live;
    const kind = plan(insns[k], is64, ext);
    kinds[k] = kind;
    switch (flagEffect(kind, insns[k])) {
      case FE.WRITE:
        live = false;
        break;
      case FE.READ:
      case FE.READ_WRITE:
        live = true;
        break;
      default:
        break; // NONE and PARTIAL: unchanged
    }
  }
  return { kinds, liveAfter };
}

/** Compiles `b` to a JavaScript function. @example const fn = compileBlock(block, flagCF) */
export function compileBlock(b: Block, flagCF: (c: Cpu) => number): CompiledBlock {
  const insns = b.insns;
  const n = insns.length;
  const is64 = (b.key & 3) === 3;
  const last = insns[n - 1];
  // a block that ends by branching back to its own first instruction: compile it as a loop
  const selfLoop = last.fn === jcc && last.disp === insns[0].ip && n > 1;

  const { kinds, liveAfter } = planBlock(insns, is64);

  const g = new Gen(insns);
  const hasCalls = kinds.includes(K.CALL);
  const gen = (): void => {
    for (let k = 0; k < n; k++) {
      const i = insns[k];
      const kind = kinds[k];
      if (kind === K.CALL) {
        emitCall(g, i, k, selfLoop);
        continue;
      }
      if (selfLoop && k === n - 1) break; // the loop's branch is emitted below
      emitInline(g, i, k, kind, liveAfter[k]);
      if (kind === K.STORE || kind === K.STORE_IMM || kind === K.ALU_RMW || kind === K.PUSH) {
        // a store into a page holding code ends the block after it (self-modifying code)
        g.emit(`if (c.brk) { ${exitCode(k + 1, i)} }`);
      }
      if (k === n - 1 && kind !== K.JCC && kind !== K.JMP && kind !== K.CALLREL && kind !== K.RET)
        g.emit(`c.rip = ${i.next};`);
    }
    if (selfLoop) {
      const cnd = g.cond(last.op);
      g.emit(`if (!${cnd}) { ${g.flagSyncCode()} c.rip = ${last.next}; it++; break; }`);
      g.syncFlags();
      g.emit(
        `if (++it >= max${hasCalls ? ' || c.pendingIrq >= 0 || c.pendingNmi' : ''}) { c.rip = ${last.disp}; break; }`,
      );
    } else g.syncFlags();
  };
  // first pass: which registers the block uses and writes; second pass with that known (executor
  // calls reload every used register; a loop body starts with everything it writes dirty)
  gen();
  g.out.length = 0;
  g.dirty = selfLoop ? new Set(g.written) : new Set();
  g.flags = null;
  gen();
  const lines: string[] = ["'use strict';", 'const R = c.R;'];
  const used = [...g.used].sort((x, y) => x - y);
  if (used.length > 0)
    lines.push(`let ${used.map((r) => `L${r} = R[${2 * r}], H${r} = R[${2 * r + 1}]`).join(', ')};`);
  lines.push(
    'let fop = -1, fsz = 0, fa = 0, fah = 0, fb = 0, fbh = 0, fr = 0, frh = 0, fcf = 0, fof = 0, fcin = 0;',
  );
  lines.push('let pc = 0;');
  if (selfLoop) lines.push(`let it = 0; const max = budget > ${n} ? Math.floor(budget / ${n}) : 1;`);
  const dynFlags =
    'if (fop >= 0) { c.fOp = fop; c.fSz = fsz; c.fA = fa; c.fAH = fah; c.fB = fb; c.fBH = fbh; c.fRes = fr; c.fResH = frh; c.fCF = fcf; c.fOF = fof; c.fAF = 0; c.fCin = fcin; }';
  // Per-instruction temporaries are shared function-level variables, not block-scoped consts: V8
  // gives every block-scoped const its own interpreter register, and a frame of hundreds of
  // registers made the optimising compile of a long block many times slower.
  lines.push(`let ${TEMPS.map((t) => `${t} = 0`).join(', ')}, i = null;`);
  const body = g.out.map((l) => l.replace(/\b(?:const|let) /g, ''));
  lines.push(`let x = ${selfLoop ? 0 : n};`);
  lines.push('try {');
  // early exits (a store into code) break out of `body` with `x` = instructions retired so far
  if (selfLoop) lines.push('body: for (;;) {', ...body, '}');
  else lines.push('body: {', ...body, '}');
  lines.push(writeBack(g));
  lines.push(dynFlags);
  lines.push(`return ${selfLoop ? `it * ${n} + x` : 'x'};`);
  lines.push('} catch (e) {');
  lines.push(writeBack(g));
  lines.push(dynFlags);
  lines.push(`c.cur = I[pc];${selfLoop ? ` c.icount += it * ${n};` : ''}`);
  lines.push('throw e;');
  lines.push('}');
  const src = lines.join('\n');
  const factory = new Function(
    'I',
    'cond',
    'flagCF',
    'mul64',
    'limbs',
    'PARITY',
    'rotateFlags',
    `return function block(c, budget) {\n${src}\n};`,
  ) as (
    I: Insn[],
    cnd: typeof cond,
    fcf: (c: Cpu) => number,
    m64: typeof mul64,
    lb: typeof limbs,
    par: typeof PARITY,
    rf: typeof rotateFlags,
  ) => CompiledBlock;
  return factory(insns, cond, flagCF, mul64, limbs, PARITY, rotateFlags);
}

/** Names of the temporaries the emitted instruction code uses (declared once per function). */
const TEMPS = [
  'a',
  'ah',
  'al',
  'b',
  'bh',
  'bl',
  'cf',
  'cin',
  'hi',
  'lo',
  'ma',
  'mh',
  'ml',
  'nh',
  'nl',
  'o',
  'q0',
  'q1',
  'q2',
  'q3',
  'r',
  'rh',
  's',
  'sh',
  'sl',
  't',
  'v',
  'vh',
];

/** Code storing the locals of `regs` to `c.R`. */
function storeRegs(regs: Iterable<number>): string {
  return [...regs].map((r) => `R[${2 * r}] = L${r}; R[${2 * r + 1}] = H${r};`).join(' ');
}

/** Stores every register the block writes (locals equal `c.R` for the others). */
function writeBack(g: Gen): string {
  return storeRegs(g.written);
}

/** Code that leaves the block early after `retired` instructions (the code after `body` stores locals and flags). */
function exitCode(retired: number, i: Insn): string {
  return `x = ${retired}; c.rip = ${i.next}; break body;`;
}
