/**
 * Block compiler: turns a hot basic block into one JavaScript function (`new Function`) that V8 then
 * optimises as a unit. Register-only forms of the most frequent instructions (32/64-bit ALU, MOV,
 * INC/DEC, TEST, Jcc/JMP) are emitted inline on the register halves with the same lazy-flag records
 * the interpreter writes; every other instruction becomes a direct call to its executor from a call
 * site of its own (monomorphic, so V8 can inline it). Inline instructions cannot fault, so they skip
 * the per-instruction bookkeeping.
 *
 * The compiled function returns the number of instructions it retired; on a fault or an exit the run
 * loop uses `cpu.cur` exactly as for interpreted blocks.
 *
 * @example
 * ```ts
 * block.fn = compileBlock(block); // cpu.run() then calls block.fn(cpu, block.insns)
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
  movzx,
  setcc,
  testEG,
  testEI,
} from './alu.js';
import type { Block } from './block-cache.js';
import { callRel, jcc, jmpRel, popR, pushR, retNear } from './control.js';
import type { Cpu } from './cpu.js';
import { cond } from './flags.js';
import type { Insn } from './insn.js';
import { imul2, limbs, mul64, mulE } from './muldiv.js';
import { shiftE } from './shift.js';

/** A compiled block: returns the number of instructions retired. */
export type CompiledBlock = (c: Cpu, I: Insn[], cond: (c: Cpu, cc: number) => boolean) => number;

const ALU_INLINE = [0, 1, 2, 3, 4, 5, 6, 7]; // add, or, adc, sbb, and, sub, xor, cmp

function aluExpr(op: number, a: string, b: string): string {
  switch (op) {
    case 0:
      return `${a} + ${b}`;
    case 1:
      return `${a} | ${b}`;
    case 4:
      return `${a} & ${b}`;
    case 6:
      return `${a} ^ ${b}`;
    default:
      return `${a} - ${b}`;
  }
}
function flagKind(op: number): number {
  return op === 0 ? 1 : op === 2 ? 2 : op === 3 ? 4 : op === 1 || op === 4 || op === 6 ? 5 : 3;
}

/** Effective-address expression (64-bit address size, no FS/GS) for an inline memory operand. */
function eaExpr(i: Insn): string | null {
  if (i.asz !== 8 || i.ripRel || i.seg === 4 || i.seg === 5) return null;
  let e = `${i.disp}`;
  if (i.base >= 0) e += ` + (R[${i.base + 1}] * 4294967296 + (R[${i.base}] >>> 0))`;
  if (i.index >= 0) e += ` + (R[${i.index + 1}] * 4294967296 + (R[${i.index}] >>> 0)) * ${i.scale}`;
  return e;
}

/** Inline code that needs `c.cur` (it can fault); only valid in 64-bit blocks. */
function inline64(i: Insn, k: number): string | null {
  const f = i.fn;
  const sz = i.sz;
  const cur = `c.cur = I[${k}];`;
  if ((f === movGE || f === movEG) && i.mem && (sz === 8 || sz === 4)) {
    const e = eaExpr(i);
    if (e === null) return null;
    const r = i.reg * 2;
    if (f === movGE) {
      return sz === 8
        ? `{ ${cur} const lo = c.read64(${e}); R[${r}] = lo; R[${r + 1}] = c.tHi; }`
        : `{ ${cur} R[${r}] = c.read32(${e}) | 0; R[${r + 1}] = 0; }`;
    }
    return sz === 8
      ? `{ ${cur} c.write64(${e}, R[${r}], R[${r + 1}]); }`
      : `{ ${cur} c.write32(${e}, R[${r}]); }`;
  }
  if (f === pushR && sz === 8) {
    const r = i.reg * 2;
    return `{ ${cur} const v = R[${r}], vh = R[${r + 1}]; const s = (R[8] >>> 0) - 8; const lo = s | 0; const hi = (R[9] - (s < 0 ? 1 : 0)) | 0; c.write64(hi * 4294967296 + (lo >>> 0), v, vh); R[8] = lo; R[9] = hi; }`;
  }
  if (f === popR && sz === 8) {
    const r = i.reg * 2;
    return `{ ${cur} const sl = R[8], sh = R[9]; const v = c.read64(sh * 4294967296 + (sl >>> 0)); const vh = c.tHi; const s = (sl >>> 0) + 8; R[8] = s | 0; R[9] = (sh + (s > 4294967295 ? 1 : 0)) | 0; R[${r}] = v; R[${r + 1}] = vh; }`;
  }
  if (f === callRel && sz === 8) {
    const n = i.next;
    return `{ ${cur} const s = (R[8] >>> 0) - 8; const lo = s | 0; const hi = (R[9] - (s < 0 ? 1 : 0)) | 0; c.write64(hi * 4294967296 + (lo >>> 0), ${n | 0}, ${Math.floor(n / 4294967296) | 0}); R[8] = lo; R[9] = hi; c.rip = ${i.disp}; }`;
  }
  if (f === retNear && sz === 8 && i.imm === 0) {
    return `{ ${cur} const sl = R[8], sh = R[9]; const v = c.read64(sh * 4294967296 + (sl >>> 0)); const t = c.tHi * 4294967296 + (v >>> 0); if (t < -140737488355328 || t >= 140737488355328) { c.rip = ${i.next}; I[${k}].fn(c, I[${k}]); } else { const s = (sl >>> 0) + 8; R[8] = s | 0; R[9] = (sh + (s > 4294967295 ? 1 : 0)) | 0; c.rip = t; } }`;
  }
  return null;
}

/** Inline shift by an immediate count (SHL/SAL/SHR/SAR on 32/64-bit registers). */
function inlineShift(i: Insn): string | null {
  if (i.fn !== shiftE || i.mem || i.imm2 === 1 || (i.sz !== 4 && i.sz !== 8)) return null;
  const op = i.op;
  if (op !== 4 && op !== 5 && op !== 6 && op !== 7) return null;
  const d = i.rm * 2;
  const n = i.imm & (i.sz === 8 ? 63 : 31);
  if (n === 0) return '';
  const pre = (sz: number, cf: string, of: string) =>
    `c.fOp = 8; c.fSz = ${sz}; c.fCF = ${cf}; c.fOF = ${of}; c.fAF = 0;`;
  if (i.sz === 4) {
    if (op === 4 || op === 6)
      return `{ const a = R[${d}] >>> 0; const r = (a << ${n}) >>> 0; const cf = (a >>> ${32 - n}) & 1; ${pre(4, 'cf', '((r >>> 31) ^ cf) & 1')} c.fRes = r; c.fResH = 0; R[${d}] = r | 0; R[${d + 1}] = 0; }`;
    if (op === 5)
      return `{ const a = R[${d}] >>> 0; const r = a >>> ${n}; ${pre(4, `(a >>> ${n - 1}) & 1`, 'a >>> 31')} c.fRes = r; c.fResH = 0; R[${d}] = r | 0; R[${d + 1}] = 0; }`;
    return `{ const a = R[${d}] | 0; const r = (a >> ${n}) >>> 0; ${pre(4, `(a >> ${n - 1}) & 1`, '0')} c.fRes = r; c.fResH = 0; R[${d}] = r | 0; R[${d + 1}] = 0; }`;
  }
  let lo: string;
  let hi: string;
  let cf: string;
  let of: string;
  if (op === 4 || op === 6) {
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
  return `{ const a = R[${d}], ah = R[${d + 1}]; const r = (${lo}) | 0; const rh = (${hi}) | 0; const cf = ${cf}; ${pre(8, 'cf', of)} c.fRes = r; c.fResH = rh; R[${d}] = r; R[${d + 1}] = rh; }`;
}

/** Inline forms of IMUL r64, r64 / MOVZX / LEA (64-bit) / CMOVcc on registers. */
function inlineMisc(i: Insn): string | null {
  const f = i.fn;
  const sz = i.sz;
  if (f === imul2 && i.op === 0 && !i.mem && sz === 8) {
    const d = i.reg * 2;
    const r = i.rm * 2;
    return `{ const a = R[${r}], ah = R[${r + 1}], bl = R[${d}], bh = R[${d + 1}]; const lo = Math.imul(a, bl); const hi = (Math.round(((a >>> 0) * (bl >>> 0) - (lo >>> 0)) / 4294967296) + Math.imul(a, bh) + Math.imul(ah, bl)) | 0; R[${d}] = lo; R[${d + 1}] = hi; c.fOp = 9; c.fSz = 8; c.fA = a; c.fAH = ah; c.fB = bl; c.fBH = bh; c.fRes = lo; c.fResH = hi; }`;
  }
  if (f === setcc && !i.mem) return `c.R8[${i.rmB}] = cond(c, ${i.op}) ? 1 : 0;`;
  if (f === mulE && !i.mem && sz === 8) {
    const r = i.rm * 2;
    return `{ mul64(R[0], R[1], R[${r}], R[${r + 1}], false); const l0 = limbs[0] | 0, l1 = limbs[1] | 0, l2 = limbs[2] | 0, l3 = limbs[3] | 0; R[0] = l0; R[1] = l1; R[4] = l2; R[5] = l3; const cf = l2 !== 0 || l3 !== 0 ? 1 : 0; c.fOp = 8; c.fSz = 8; c.fRes = l0; c.fResH = l1; c.fCF = cf; c.fOF = cf; c.fAF = 0; }`;
  }
  if (f === movzx && !i.mem && (sz === 4 || sz === 8)) {
    const src = i.op === 1 ? `c.R8[${i.rmB}]` : `c.R16[${i.rm * 4}]`;
    return `R[${i.reg * 2}] = ${src}; R[${i.reg * 2 + 1}] = 0;`;
  }
  if (f === lea && sz === 8 && i.asz === 8 && !i.ripRel) {
    const d = i.reg * 2;
    let code = `{ let lo = ${i.disp >>> 0}; let hi = ${i.disp < 0 ? -1 : 0};`;
    if (i.base >= 0) code += ` lo += R[${i.base}] >>> 0; hi += R[${i.base + 1}];`;
    if (i.index >= 0)
      code += ` lo += (R[${i.index}] >>> 0) * ${i.scale}; hi += Math.imul(R[${i.index + 1}], ${i.scale});`;
    return `${code} R[${d + 1}] = (hi + Math.floor(lo / 4294967296)) | 0; R[${d}] = lo | 0; }`;
  }
  if (f === cmov && !i.mem && (sz === 4 || sz === 8)) {
    const d = i.reg * 2;
    const r = i.rm * 2;
    return sz === 8
      ? `if (cond(c, ${i.op})) { R[${d}] = R[${r}]; R[${d + 1}] = R[${r + 1}]; }`
      : `if (cond(c, ${i.op})) { R[${d}] = R[${r}]; } R[${d + 1}] = 0;`;
  }
  return null;
}

/** Emits inline code for `i`, or returns null when it must be called. */
function inline(i: Insn): string | null {
  const f = i.fn;
  const sz = i.sz;
  const sh = inlineShift(i) ?? inlineMisc(i);
  if (sh !== null) return sh;
  if (i.mem || (sz !== 4 && sz !== 8)) {
    if (f === jmpRel) return `c.rip = ${i.disp};`;
    if (f === jcc) return `c.rip = cond(c, ${i.op}) ? ${i.disp} : ${i.next};`;
    return null;
  }
  if (f === jmpRel) return `c.rip = ${i.disp};`;
  if (f === jcc) return `c.rip = cond(c, ${i.op}) ? ${i.disp} : ${i.next};`;
  let dst: number;
  let src: string | null = null;
  let srcH: string | null = null;
  let op: number;
  if (f === aluEG || f === aluGE || f === aluEI || f === testEG || f === testEI) {
    op = f === testEG || f === testEI ? 4 : i.op;
    if (!ALU_INLINE.includes(op)) return null;
    if (f === aluGE) {
      dst = i.reg;
      src = `R[${i.rm * 2}]`;
      srcH = `R[${i.rm * 2 + 1}]`;
    } else if (f === aluEI || f === testEI) {
      dst = i.rm;
      src = sz === 8 ? `${i.imm | 0}` : `${i.imm >>> 0}`;
      srcH = `${i.immH | 0}`;
    } else {
      dst = i.rm;
      src = `R[${i.reg * 2}]`;
      srcH = `R[${i.reg * 2 + 1}]`;
    }
    const write = !(op === 7 || f === testEG || f === testEI);
    const k = flagKind(op);
    const d = dst * 2;
    // ADC/SBB: carry-in from the flags before this instruction
    const cin = op === 2 || op === 3 ? 'const cin = flagCF(c); c.fCin = cin; ' : '';
    if (sz === 4) {
      const b = f === aluEI || f === testEI ? src : `(${src} >>> 0)`;
      const e = op === 2 ? 'a + b + cin' : op === 3 ? 'a - b - cin' : aluExpr(op, 'a', 'b');
      return `{ ${cin}const a = R[${d}] >>> 0; const b = ${b}; const r = (${e}) >>> 0; c.fOp = ${k}; c.fSz = 4; c.fA = a; c.fB = b; c.fRes = r;${write ? ` R[${d}] = r | 0; R[${d + 1}] = 0;` : ''} }`;
    }
    let body: string;
    if (op === 2) {
      body = `const s = (al >>> 0) + (bl >>> 0) + cin; const lo = s | 0; const hi = (ah + bh + (s > 4294967295 ? 1 : 0)) | 0;`;
    } else if (op === 3) {
      body = `const s = (al >>> 0) - (bl >>> 0) - cin; const lo = s | 0; const hi = (ah - bh - (s < 0 ? 1 : 0)) | 0;`;
    } else if (op === 0) {
      body = `const s = (al >>> 0) + (bl >>> 0); const lo = s | 0; const hi = (ah + bh + (s > 4294967295 ? 1 : 0)) | 0;`;
    } else if (op === 5 || op === 7) {
      body = `const s = (al >>> 0) - (bl >>> 0); const lo = s | 0; const hi = (ah - bh - (s < 0 ? 1 : 0)) | 0;`;
    } else {
      const o = op === 1 ? '|' : op === 4 ? '&' : '^';
      body = `const lo = al ${o} bl; const hi = ah ${o} bh;`;
    }
    return `{ ${cin}const al = R[${d}], ah = R[${d + 1}], bl = ${src} | 0, bh = ${srcH} | 0; ${body} c.fOp = ${k}; c.fSz = 8; c.fA = al; c.fAH = ah; c.fB = bl; c.fBH = bh; c.fRes = lo; c.fResH = hi;${write ? ` R[${d}] = lo; R[${d + 1}] = hi;` : ''} }`;
  }
  if (f === movGE || f === movEG) {
    const d = (f === movGE ? i.reg : i.rm) * 2;
    const s = (f === movGE ? i.rm : i.reg) * 2;
    return sz === 8 ? `R[${d}] = R[${s}]; R[${d + 1}] = R[${s + 1}];` : `R[${d}] = R[${s}]; R[${d + 1}] = 0;`;
  }
  if (f === movEI) {
    const d = i.rm * 2;
    return `R[${d}] = ${i.imm | 0}; R[${d + 1}] = ${sz === 8 ? i.immH | 0 : 0};`;
  }
  if (f === incDec) {
    const d = i.rm * 2;
    const inc = i.op === 0;
    if (sz === 4) {
      return `{ const cf = c.fOp === 0 ? c.fFlags & 1 : flagCF(c); const a = R[${d}] >>> 0; const r = (a ${inc ? '+' : '-'} 1) >>> 0; c.fA = a; c.fRes = r; c.fB = 1; c.fSz = 4; c.fOp = ${inc ? 6 : 7}; c.fCF = cf; R[${d}] = r | 0; R[${d + 1}] = 0; }`;
    }
    const body = inc
      ? `const s = (a >>> 0) + 1; const r = s | 0; const rh = (ah + (s > 4294967295 ? 1 : 0)) | 0;`
      : `const s = (a >>> 0) - 1; const r = s | 0; const rh = (ah - (s < 0 ? 1 : 0)) | 0;`;
    return `{ const cf = c.fOp === 0 ? c.fFlags & 1 : flagCF(c); const a = R[${d}], ah = R[${d + 1}]; ${body} c.fAH = ah; c.fBH = 0; c.fResH = rh; c.fA = a | 0; c.fRes = r; c.fB = 1; c.fSz = 8; c.fOp = ${inc ? 6 : 7}; c.fCF = cf; R[${d}] = r; R[${d + 1}] = rh; }`;
  }
  return null;
}

/** Compiles `b` to a JavaScript function. @example const fn = compileBlock(block) */
export function compileBlock(b: Block, flagCF: (c: Cpu) => number): (c: Cpu) => number {
  const lines: string[] = ['const R = c.R;'];
  const n = b.insns.length;
  const is64 = (b.key & 3) === 3;
  for (let k = 0; k < n; k++) {
    const i = b.insns[k];
    const code = inline(i) ?? (is64 ? inline64(i, k) : null);
    if (code !== null) {
      lines.push(code);
      const branch = i.fn === jcc || i.fn === jmpRel || i.fn === callRel || i.fn === retNear;
      if (k === n - 1 && !branch) lines.push(`c.rip = ${i.next};`);
      continue;
    }
    lines.push(
      `{ const i = I[${k}]; c.cur = i; c.rip = ${i.next}; i.fn(c, i); if (c.brk) return ${k + 1}; }`,
    );
  }
  lines.push(`return ${n};`);
  const body = lines.join('\n');
  const factory = new Function(
    'I',
    'cond',
    'flagCF',
    'mul64',
    'limbs',
    `return function block(c) {\n${body}\n};`,
  ) as (
    I: Insn[],
    cnd: typeof cond,
    fcf: (c: Cpu) => number,
    m64: typeof mul64,
    lb: typeof limbs,
  ) => (c: Cpu) => number;
  return factory(b.insns, cond, flagCF, mul64, limbs);
}
