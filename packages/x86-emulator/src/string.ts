/**
 * String instructions MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS with REP/REPE/REPNE. A REP instruction runs
 * at most {@link REP_CHUNK} iterations per execution and then restarts itself, so interrupts and the
 * instruction budget are honoured during long copies. Forward REP MOVSB/STOSB (and wider) between
 * RAM pages copy whole page spans at a time.
 *
 * Port string instructions transfer one element per exit.
 *
 * @example
 * ```ts
 * // rep movsb with rcx = 4096 copies in one or two page spans
 * ```
 */

import { aluOp, aluOp64 } from './alu.js';
import { RFLAGS, SEG } from './constants.js';
import type { Cpu } from './cpu.js';
import { flagZF } from './flags.js';
import type { Insn } from './insn.js';
import { getR, setR } from './operands.js';
import { checkSeg } from './segments.js';
import { ioAllowed } from './system.js';

/** Iterations of one REP instruction before it yields to the run loop. */
export const REP_CHUNK = 1 << 16;
const TWO32 = 4294967296;

function getIdx(c: Cpu, r: number, asz: number): number {
  if (asz === 8) return c.R[r * 2 + 1] * TWO32 + (c.R[r * 2] >>> 0);
  if (asz === 4) return c.R[r * 2] >>> 0;
  return c.R16[r * 4];
}
function setIdx(c: Cpu, r: number, asz: number, v: number): void {
  if (asz === 8) {
    c.R[r * 2] = v | 0;
    c.R[r * 2 + 1] = Math.floor(v / TWO32) | 0;
  } else if (asz === 4) {
    c.R[r * 2] = v | 0;
    c.R[r * 2 + 1] = 0;
  } else c.R16[r * 4] = v;
}
function wrapIdx(v: number, asz: number): number {
  if (asz === 8) {
    if (v >= 2 ** 63) return v - 2 ** 64;
    if (v < -(2 ** 63)) return v + 2 ** 64;
    return v;
  }
  return asz === 4 ? v >>> 0 : v & 0xffff;
}
/** Linear address of an element of `sz` bytes at `off` in `seg` (`w`: written), with the segment checks. */
function lin(c: Cpu, seg: number, off: number, _asz: number, sz: number, w: boolean): number {
  if (c.code64) return off + c.segEff[seg];
  if (c.segChk[seg] !== 0) checkSeg(c, seg, off, sz, w);
  return (off + c.segEff[seg]) >>> 0;
}

function srcIdx(_asz: number): number {
  return 6;
}

/** MOVS. */
export function movs(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  let n = i.rep !== 0 ? getIdx(c, 1, asz) : 1;
  if (n === 0) return;
  let si = getIdx(c, srcIdx(asz), asz);
  let di = getIdx(c, 7, asz);
  let iter = 0;
  if (i.rep !== 0 && d > 0 && n > 16 && (c.segChk[i.seg] | c.segChk[SEG.ES]) === 0) {
    // bulk spans
    while (n > 0 && iter < REP_CHUNK) {
      const sl = lin(c, i.seg, si, asz, sz, false);
      const dl = lin(c, SEG.ES, di, asz, sz, true);
      const span = Math.min(n * sz, 0x1000 - (sl & 0xfff), 0x1000 - (dl & 0xfff));
      const elems = Math.floor(span / sz);
      if (elems < 2 || !c.copySpan(dl, sl, elems * sz)) break;
      si = wrapIdx(si + elems * sz, asz);
      di = wrapIdx(di + elems * sz, asz);
      n -= elems;
      iter += elems;
      setIdx(c, 6, asz, si);
      setIdx(c, 7, asz, di);
      setIdx(c, 1, asz, n);
    }
  }
  while (n > 0 && iter < REP_CHUNK) {
    const v = c.readN(lin(c, i.seg, si, asz, sz, false), sz);
    c.writeN(lin(c, SEG.ES, di, asz, sz, true), sz, v, c.tHi);
    si = wrapIdx(si + d, asz);
    di = wrapIdx(di + d, asz);
    n--;
    iter++;
    setIdx(c, 6, asz, si);
    setIdx(c, 7, asz, di);
    if (i.rep !== 0) setIdx(c, 1, asz, n);
  }
  if (i.rep !== 0 && n > 0) {
    c.rip = i.ip;
    c.brk = true;
  }
}

/** STOS. */
export function stos(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  let n = i.rep !== 0 ? getIdx(c, 1, asz) : 1;
  if (n === 0) return;
  const v = getR(c, 0, 0, sz);
  const vh = c.tHi;
  let di = getIdx(c, 7, asz);
  let iter = 0;
  if (i.rep !== 0 && d > 0 && n > 16 && c.segChk[SEG.ES] === 0) {
    while (n > 0 && iter < REP_CHUNK) {
      const dl = lin(c, SEG.ES, di, asz, sz, true);
      const span = Math.min(n * sz, 0x1000 - (dl & 0xfff));
      const elems = Math.floor(span / sz);
      if (elems < 2 || !c.fillSpan(dl, elems, sz, v, vh)) break;
      di = wrapIdx(di + elems * sz, asz);
      n -= elems;
      iter += elems;
      setIdx(c, 7, asz, di);
      setIdx(c, 1, asz, n);
    }
  }
  while (n > 0 && iter < REP_CHUNK) {
    c.writeN(lin(c, SEG.ES, di, asz, sz, true), sz, v, vh);
    di = wrapIdx(di + d, asz);
    n--;
    iter++;
    setIdx(c, 7, asz, di);
    if (i.rep !== 0) setIdx(c, 1, asz, n);
  }
  if (i.rep !== 0 && n > 0) {
    c.rip = i.ip;
    c.brk = true;
  }
}

/** LODS. */
export function lods(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  let n = i.rep !== 0 ? getIdx(c, 1, asz) : 1;
  if (n === 0) return;
  let si = getIdx(c, 6, asz);
  let iter = 0;
  while (n > 0 && iter < REP_CHUNK) {
    const v = c.readN(lin(c, i.seg, si, asz, sz, false), sz);
    setR(c, 0, 0, sz, v, c.tHi);
    si = wrapIdx(si + d, asz);
    n--;
    iter++;
    setIdx(c, 6, asz, si);
    if (i.rep !== 0) setIdx(c, 1, asz, n);
  }
  if (i.rep !== 0 && n > 0) {
    c.rip = i.ip;
    c.brk = true;
  }
}

function cmpVals(c: Cpu, sz: number, a: number, ah: number, b: number, bh: number): void {
  if (sz === 8) aluOp64(c, 7, a, ah, b, bh);
  else aluOp(c, 7, sz, a, b);
}

/** CMPS (compares [rsi] with [rdi]). */
export function cmps(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  let n = i.rep !== 0 ? getIdx(c, 1, asz) : 1;
  if (n === 0) return;
  let si = getIdx(c, 6, asz);
  let di = getIdx(c, 7, asz);
  let iter = 0;
  let stop = false;
  while (n > 0 && iter < REP_CHUNK) {
    const a = c.readN(lin(c, i.seg, si, asz, sz, false), sz);
    const ah = c.tHi;
    const b = c.readN(lin(c, SEG.ES, di, asz, sz, false), sz);
    cmpVals(c, sz, a, ah, b, c.tHi);
    si = wrapIdx(si + d, asz);
    di = wrapIdx(di + d, asz);
    n--;
    iter++;
    setIdx(c, 6, asz, si);
    setIdx(c, 7, asz, di);
    if (i.rep !== 0) {
      setIdx(c, 1, asz, n);
      const zf = flagZF(c);
      if ((i.rep === 1 && zf === 0) || (i.rep === 2 && zf === 1)) {
        stop = true;
        break;
      }
    }
  }
  if (i.rep !== 0 && n > 0 && !stop) {
    c.rip = i.ip;
    c.brk = true;
  }
}

/** SCAS (compares the accumulator with [rdi]). */
export function scas(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  let n = i.rep !== 0 ? getIdx(c, 1, asz) : 1;
  if (n === 0) return;
  const a = getR(c, 0, 0, sz);
  const ah = c.tHi;
  let di = getIdx(c, 7, asz);
  let iter = 0;
  let stop = false;
  while (n > 0 && iter < REP_CHUNK) {
    const b = c.readN(lin(c, SEG.ES, di, asz, sz, false), sz);
    cmpVals(c, sz, a, ah, b, c.tHi);
    di = wrapIdx(di + d, asz);
    n--;
    iter++;
    setIdx(c, 7, asz, di);
    if (i.rep !== 0) {
      setIdx(c, 1, asz, n);
      const zf = flagZF(c);
      if ((i.rep === 1 && zf === 0) || (i.rep === 2 && zf === 1)) {
        stop = true;
        break;
      }
    }
  }
  if (i.rep !== 0 && n > 0 && !stop) {
    c.rip = i.ip;
    c.brk = true;
  }
}

/** INS (one element per exit). */
export function ins(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  if (i.rep !== 0 && getIdx(c, 1, asz) === 0) return;
  ioAllowed(c, c.R16[8], sz);
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  const di = getIdx(c, 7, asz);
  const la = lin(c, SEG.ES, di, asz, sz, true);
  const v = c.ioIn(c.R16[8], sz);
  c.writeN(la, sz, v, 0);
  setIdx(c, 7, asz, wrapIdx(di + d, asz));
  if (i.rep !== 0) {
    const n = getIdx(c, 1, asz) - 1;
    setIdx(c, 1, asz, n);
    if (n > 0) {
      c.rip = i.ip;
      c.brk = true;
    }
  }
}

/** OUTS (one element per exit). */
export function outs(c: Cpu, i: Insn): void {
  const asz = i.asz;
  const sz = i.sz;
  if (i.rep !== 0 && getIdx(c, 1, asz) === 0) return;
  ioAllowed(c, c.R16[8], sz);
  const d = (c.flagsRest & RFLAGS.DF) !== 0 ? -sz : sz;
  const si = getIdx(c, 6, asz);
  const v = c.readN(lin(c, i.seg, si, asz, sz, false), sz);
  c.ioOut(c.R16[8], sz, v);
  setIdx(c, 6, asz, wrapIdx(si + d, asz));
  if (i.rep !== 0) {
    const n = getIdx(c, 1, asz) - 1;
    setIdx(c, 1, asz, n);
    if (n > 0) c.rip = i.ip;
  }
}
