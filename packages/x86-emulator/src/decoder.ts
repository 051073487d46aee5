/**
 * The instruction decoder for 16-, 32- and 64-bit code: legacy prefixes, REX, ModRM/SIB,
 * displacements, immediates, RIP-relative addressing. It produces {@link Insn} records grouped into
 * basic blocks (ending at control transfers, at 64 instructions, or at a page boundary).
 *
 * Unimplemented or invalid opcodes decode to an instruction that raises #UD when executed (so the
 * fault is precise); only those keep their bytes, for diagnostics (`UndefinedOpcode.bytes`): a copy
 * per decoded instruction would cost more memory than the instruction record itself.
 *
 * @example
 * ```ts
 * const block = decodeBlock(cpu, linearRip, physRip);
 * block.insns.length; // instructions in the block
 * ```
 */
import {
  aamAad,
  aluEG,
  aluEI,
  aluGE,
  bcdAdjust,
  bswap,
  carryOp,
  cbw,
  cmov,
  cwd,
  incDec,
  lahf,
  lea,
  movEG,
  movEI,
  movGE,
  movMoffs,
  movsx,
  movzx,
  negE,
  nop,
  notE,
  sahf,
  setcc,
  testEG,
  testEI,
  xchg,
} from './alu.js';
import { bsfBsr, btOp, cmpxchg, cmpxchg8b, popcnt, xadd } from './bits.js';
import { type Block, newBlock } from './block-cache.js';
import { SEG, VEC } from './constants.js';
import {
  callE,
  callRel,
  enter,
  farDirect,
  farIndirect,
  intN,
  iret,
  jcc,
  jmpE,
  jmpRel,
  leave,
  loop,
  popa,
  popE,
  popf,
  popR,
  popSeg,
  pusha,
  pushE,
  pushf,
  pushI,
  pushR,
  pushSeg,
  retFar,
  retNear,
} from './control.js';
import type { Cpu } from './cpu.js';
import { GuestFault, UndefinedOpcode } from './fault.js';
import { type Handler, Insn } from './insn.js';
import { emms } from './mmx.js';
import { divE, imul1, imul2, mulE } from './muldiv.js';
import { rdrand } from './random.js';
import { shiftE, shxd } from './shift.js';
import { sse, sseState } from './sse.js';
import { cmps, ins, lods, movs, outs, scas, stos } from './string.js';
import {
  arpl,
  bound,
  cldStd,
  cli,
  clts,
  cpuid,
  descTable,
  gp0,
  group6,
  hlt,
  inPort,
  invlpg,
  larLsl,
  loadFarPtr,
  movCr,
  movDr,
  movFromSeg,
  movToSeg,
  msw,
  outPort,
  rdmsr,
  rdtsc,
  sti,
  swapgs,
  syscall,
  sysret,
  vmcall,
  wbinvd,
  wrmsr,
  xlat,
} from './system.js';
import { fpu, fwait } from './x87.js';

/** Longest basic block, in instructions. */
export const MAX_BLOCK = 64;

// decoder cursor (module state: decoding is not re-entrant)
let cpu: Cpu;
let lin = 0;
let count = 0;
let code64 = false;
let rex = 0;
let modrmByte = 0;
const raw = new Uint8Array(16);

function nb(): number {
  if (count >= 15) throw new GuestFault(VEC.GP, 0);
  const v = cpu.fetch8(lin + count);
  raw[count++] = v;
  return v;
}
function i8(): number {
  return (nb() << 24) >> 24;
}
function i16(): number {
  const a = nb();
  return a | (nb() << 8);
}
function i32(): number {
  const a = nb();
  const b = nb();
  const c = nb();
  return a | (b << 8) | (c << 16) | (nb() << 24);
}

/** ModRM.reg of the last parsed ModRM byte. */
function reg3(): number {
  return (modrmByte >> 3) & 7;
}
/** Iz: a 16- or 32-bit immediate. */
function iz(sz: number): number {
  return sz === 2 ? i16() : i32();
}

function byteReg(r: number): number {
  return rex !== 0 || r < 4 || r >= 8 ? r * 8 : (r - 4) * 8 + 1;
}

/** Parses ModRM (+SIB, displacement) into `i`. */
function modrm(i: Insn, segOverride: number): void {
  const m = nb();
  modrmByte = m;
  const mod = m >> 6;
  const reg = ((m >> 3) & 7) | ((rex & 4) << 1);
  let rm = m & 7;
  i.reg = reg;
  i.regB = byteReg(reg);
  if (mod === 3) {
    rm |= (rex & 1) << 3;
    i.rm = rm;
    i.rmB = byteReg(rm);
    i.mem = false;
    return;
  }
  i.mem = true;
  let seg: number = SEG.DS;
  if (i.asz === 2) {
    const bases = [3, 3, 5, 5, 6, 7, 5, 3];
    const idx = [6, 7, 6, 7, -1, -1, -1, -1];
    if (mod === 0 && rm === 6) {
      i.base = -1;
      i.index = -1;
      i.disp = i16() & 0xffff;
    } else {
      i.base = bases[rm] * 2;
      i.index = idx[rm] >= 0 ? idx[rm] * 2 : -1;
      if (rm === 2 || rm === 3 || rm === 6) seg = SEG.SS;
      i.disp = mod === 1 ? i8() : mod === 2 ? i16() : 0;
    }
    i.scale = 1;
  } else {
    let base = -1;
    let index = -1;
    let scale = 1;
    if (rm === 4) {
      const sib = nb();
      scale = 1 << (sib >> 6);
      const ix = ((sib >> 3) & 7) | ((rex & 2) << 2);
      if (ix !== 4) index = ix;
      const b = sib & 7;
      if (b === 5 && mod === 0) {
        base = -1;
        i.disp = i32();
      } else {
        base = b | ((rex & 1) << 3);
      }
    } else if (rm === 5 && mod === 0) {
      if (code64) i.ripRel = true;
      i.disp = i32();
    } else {
      base = rm | ((rex & 1) << 3);
    }
    if (mod === 1) i.disp = i8();
    else if (mod === 2) i.disp = i32();
    if (base === 4 || base === 5) seg = SEG.SS;
    i.base = base >= 0 ? base * 2 : -1;
    i.index = index >= 0 ? index * 2 : -1;
    i.scale = scale;
    if (i.asz === 4 && !code64) i.disp |= 0;
  }
  i.seg = segOverride >= 0 ? segOverride : seg;
}

function maskImm(i: Insn, v: number, sz: number): void {
  if (sz === 8) {
    i.imm = v | 0;
    i.immH = v >> 31;
  } else {
    i.imm = sz === 4 ? v >>> 0 : sz === 2 ? v & 0xffff : v & 0xff;
    i.immH = 0;
  }
}

/** Decodes the basic block starting at linear `la` (physical `pa`). */
export function decodeBlock(c: Cpu, la: number, pa: number): Block {
  cpu = c;
  const insns: Insn[] = [];
  const pages = [pa - (pa % 4096)];
  let ip = c.rip;
  let l = la;
  // the page being decoded from: the block's first, or (64-bit code) a JMP's target page
  let page = la - (la & 0xfff);
  let xLinear = -1;
  let xPhys = -1;
  for (;;) {
    let i: Insn;
    try {
      i = decodeOne(c, ip, l);
    } catch (e) {
      if (insns.length === 0) throw e;
      break;
    }
    i.idx = insns.length;
    insns.push(i);
    const lastByte = l + i.len - 1;
    const lastPage = lastByte - (lastByte & 0xfff);
    if (lastPage !== page) {
      const p2 = c.codePhys(lastByte);
      pages.push(p2 - (p2 % 4096));
    }
    if (insns.length >= MAX_BLOCK || lastPage !== page) break;
    if (ends) {
      // 64-bit code: decoding goes on at the target of a direct JMP (the kernel returns through
      // `jmp __x86_return_thunk`), onto at most one other page, whose mapping lookups re-check
      if (!code64 || i.fn !== jmpRel || insns.length > MAX_BLOCK - 8) break;
      const t = i.disp;
      if (insns.some((x) => x.ip === t)) break; // a loop closed by the JMP: not unrolled
      const tPage = t - (t & 0xfff);
      if (tPage !== la - (la & 0xfff) && tPage !== xLinear) {
        if (xLinear !== -1) break;
        let tp: number;
        try {
          tp = c.codePhys(t);
        } catch {
          break;
        }
        xLinear = tPage;
        xPhys = tp - (tp % 4096);
        if (!pages.includes(xPhys)) pages.push(xPhys);
      }
      page = tPage;
      ip = t;
      l = t;
      continue;
    }
    ip = i.next;
    l = code64 ? i.next : c.segBase[SEG.CS] + i.next;
    if (!code64) l >>>= 0;
    if (l - (l & 0xfff) !== page) break;
  }
  return newBlock(la, pages, insns, xLinear, xPhys);
}

let ends = false;

function undefinedOp(): Handler {
  const bytes = raw.slice(0, count);
  return () => {
    throw new UndefinedOpcode(bytes);
  };
}

/**
 * Decodes one instruction at offset `ip` (linear `l`).
 * @example const insn = decodeOne(cpu, cpu.rip, cpu.ripLinear()); insn.len; // bytes
 */
export function decodeOne(c: Cpu, ip: number, l: number): Insn {
  cpu = c;
  lin = l;
  count = 0;
  rex = 0;
  ends = false;
  code64 = c.code64;
  const i = new Insn(nop);
  i.ip = ip;
  let opsz = false;
  let adsz = false;
  let rep = 0;
  let seg = -1;
  let b: number;
  for (;;) {
    b = nb();
    switch (b) {
      case 0x66:
        opsz = true;
        rex = 0;
        continue;
      case 0x67:
        adsz = true;
        rex = 0;
        continue;
      case 0xf2:
        rep = 2;
        rex = 0;
        continue;
      case 0xf3:
        rep = 1;
        rex = 0;
        continue;
      case 0xf0:
        rex = 0;
        continue;
      case 0x26:
      case 0x2e:
      case 0x36:
      case 0x3e:
        if (!code64) seg = (b >> 3) & 3;
        rex = 0;
        continue;
      case 0x64:
      case 0x65:
        seg = b === 0x64 ? SEG.FS : SEG.GS;
        rex = 0;
        continue;
    }
    if (code64 && (b & 0xf0) === 0x40) {
      rex = b;
      continue;
    }
    break;
  }
  const W = (rex & 8) !== 0;
  const code32 = c.code32;
  const osz = code64 ? (W ? 8 : opsz ? 2 : 4) : code32 !== opsz ? 4 : 2;
  const d64 = code64 ? (opsz ? 2 : 8) : osz;
  i.asz = code64 ? (adsz ? 4 : 8) : code32 !== adsz ? 4 : 2;
  i.rep = rep;
  i.pfx = rep === 2 ? 3 : rep === 1 ? 2 : opsz ? 1 : 0;
  i.seg = seg >= 0 ? seg : SEG.DS;
  i.sz = osz;
  let rel = false;
  let fn: Handler | null = null;

  if (b !== 0x0f) {
    i.opc = b;
    if (b < 0x40 && (b & 7) < 6) {
      const form = b & 7;
      i.op = b >> 3;
      switch (form) {
        case 0:
        case 1:
          i.sz = form === 0 ? 1 : osz;
          modrm(i, seg);
          fn = aluEG;
          break;
        case 2:
        case 3:
          i.sz = form === 2 ? 1 : osz;
          modrm(i, seg);
          fn = aluGE;
          break;
        default:
          i.sz = form === 4 ? 1 : osz;
          i.mem = false;
          i.rm = 0;
          i.rmB = 0;
          maskImm(i, form === 4 ? nb() : iz(i.sz), i.sz);
          fn = aluEI;
      }
    } else if (b < 0x40) {
      switch (b) {
        case 0x06:
        case 0x0e:
        case 0x16:
        case 0x1e:
          if (code64) break;
          i.reg = b >> 3;
          fn = pushSeg;
          break;
        case 0x07:
        case 0x17:
        case 0x1f:
          if (code64) break;
          i.reg = b >> 3;
          fn = popSeg;
          break;
        case 0x27:
        case 0x2f:
        case 0x37:
        case 0x3f:
          if (code64) break;
          i.op = [0x27, 0x2f, 0x37, 0x3f].indexOf(b);
          fn = bcdAdjust;
          break;
      }
    } else if (b < 0x50) {
      // 16/32-bit INC/DEC reg (REX in 64-bit mode, consumed above)
      i.op = b >= 0x48 ? 1 : 0;
      i.mem = false;
      i.rm = b & 7;
      fn = incDec;
    } else if (b < 0x60) {
      i.reg = (b & 7) | ((rex & 1) << 3);
      i.sz = d64;
      fn = b < 0x58 ? pushR : popR;
    } else if (b >= 0x70 && b < 0x80) {
      i.op = b & 15;
      i.imm = i8();
      rel = true;
      fn = jcc;
    } else if (b >= 0x91 && b < 0x98) {
      i.mem = false;
      i.rm = (b & 7) | ((rex & 1) << 3);
      i.reg = 0;
      fn = xchg;
    } else if (b >= 0xb0 && b < 0xc0) {
      i.mem = false;
      i.rm = (b & 7) | ((rex & 1) << 3);
      if (b < 0xb8) {
        i.sz = 1;
        i.rmB = byteReg(i.rm);
        i.imm = nb();
      } else if (osz === 8) {
        i.imm = i32();
        i.immH = i32();
      } else maskImm(i, iz(osz), osz);
      fn = movEI;
    } else if (b >= 0xd8 && b <= 0xdf) {
      modrm(i, seg);
      i.op = reg3();
      i.opc = b;
      fn = fpu;
    } else {
      switch (b) {
        case 0x60:
          if (!code64) fn = pusha;
          break;
        case 0x61:
          if (!code64) fn = popa;
          break;
        case 0x62:
          // BOUND r, m16&16 / m32&32 (64-bit mode: the EVEX prefix, not implemented)
          if (code64) break;
          modrm(i, seg);
          if (i.mem) fn = bound;
          break;
        case 0x63:
          modrm(i, seg);
          if (code64) {
            i.op = 4;
            fn = movsx;
          } else {
            // ARPL r/m16, r16
            i.sz = 2;
            fn = arpl;
          }
          break;
        case 0x68:
          i.sz = d64;
          maskImm(i, iz(d64), d64);
          fn = pushI;
          break;
        case 0x6a:
          i.sz = d64;
          maskImm(i, i8(), d64);
          fn = pushI;
          break;
        case 0x69:
        case 0x6b:
          modrm(i, seg);
          i.op = 1;
          maskImm(i, b === 0x69 ? iz(osz) : i8(), osz);
          fn = imul2;
          break;
        case 0x6c:
        case 0x6d:
        case 0x6e:
        case 0x6f:
          i.sz = b & 1 ? (osz === 8 ? 4 : osz) : 1;
          fn = b < 0x6e ? ins : outs;
          break;
        case 0x80:
        case 0x81:
        case 0x82:
        case 0x83:
          if (b === 0x82 && code64) break;
          i.sz = b === 0x81 || b === 0x83 ? osz : 1;
          modrm(i, seg);
          i.op = reg3();
          maskImm(i, b === 0x81 ? iz(osz) : b === 0x83 ? i8() : nb(), i.sz);
          fn = aluEI;
          break;
        case 0x84:
        case 0x85:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          fn = testEG;
          break;
        case 0x86:
        case 0x87:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          fn = xchg;
          break;
        case 0x88:
        case 0x89:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          fn = movEG;
          break;
        case 0x8a:
        case 0x8b:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          fn = movGE;
          break;
        case 0x8c:
          modrm(i, seg);
          i.reg &= 7;
          fn = movFromSeg;
          break;
        case 0x8d:
          modrm(i, seg);
          if (i.mem) fn = lea;
          break;
        case 0x8e:
          modrm(i, seg);
          i.reg &= 7;
          fn = movToSeg;
          break;
        case 0x8f:
          i.sz = d64;
          modrm(i, seg);
          if (reg3() === 0) fn = popE;
          break;
        case 0x90:
          if (rex & 1) {
            i.mem = false;
            i.rm = 8;
            i.reg = 0;
            fn = xchg;
          } else fn = nop;
          break;
        case 0x98:
          fn = cbw;
          break;
        case 0x99:
          fn = cwd;
          break;
        case 0x9a:
        case 0xea:
          if (code64) break;
          i.imm = osz === 2 ? i16() & 0xffff : i32() >>> 0;
          i.imm2 = i16() & 0xffff;
          i.op = b === 0x9a ? 1 : 0;
          fn = farDirect;
          ends = true;
          break;
        case 0x9b:
          fn = fwait;
          break;
        case 0x9c:
          i.sz = d64;
          fn = pushf;
          break;
        case 0x9d:
          i.sz = d64;
          fn = popf;
          break;
        case 0x9e:
          fn = sahf;
          break;
        case 0x9f:
          fn = lahf;
          break;
        case 0xa0:
        case 0xa1:
        case 0xa2:
        case 0xa3: {
          i.sz = b & 1 ? osz : 1;
          i.mem = true;
          i.base = -1;
          i.index = -1;
          if (i.asz === 8) {
            const lo = i32();
            const hi = i32();
            i.disp = hi * 4294967296 + (lo >>> 0);
          } else i.disp = i.asz === 4 ? i32() >>> 0 : i16() & 0xffff;
          i.op = b < 0xa2 ? 0 : 1;
          fn = movMoffs;
          break;
        }
        case 0xa4:
        case 0xa5:
        case 0xa6:
        case 0xa7:
        case 0xaa:
        case 0xab:
        case 0xac:
        case 0xad:
        case 0xae:
        case 0xaf:
          i.sz = b & 1 ? osz : 1;
          fn = [movs, movs, cmps, cmps, null, null, stos, stos, lods, lods, scas, scas][b - 0xa4];
          break;
        case 0xa8:
        case 0xa9:
          i.sz = b & 1 ? osz : 1;
          i.mem = false;
          i.rm = 0;
          i.rmB = 0;
          maskImm(i, b === 0xa8 ? nb() : iz(osz), i.sz);
          fn = testEI;
          break;
        case 0xc0:
        case 0xc1:
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          i.op = reg3();
          if (b < 0xc2) i.imm = nb();
          else if (b < 0xd2) i.imm = 1;
          else i.imm2 = 1;
          fn = shiftE;
          break;
        case 0xc2:
        case 0xc3:
          i.sz = code64 ? 8 : osz;
          i.imm = b === 0xc2 ? i16() & 0xffff : 0;
          fn = retNear;
          ends = true;
          break;
        case 0xc4:
        case 0xc5:
          if (code64) break;
          modrm(i, seg);
          if (!i.mem) break;
          i.op = b === 0xc4 ? SEG.ES : SEG.DS;
          fn = loadFarPtr;
          break;
        case 0xc6:
        case 0xc7:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          if (reg3() !== 0) break;
          maskImm(i, b === 0xc6 ? nb() : iz(osz), i.sz);
          fn = movEI;
          break;
        case 0xc8:
          i.sz = d64;
          i.imm = i16() & 0xffff;
          i.imm2 = nb();
          fn = enter;
          break;
        case 0xc9:
          i.sz = d64;
          fn = leave;
          break;
        case 0xca:
        case 0xcb:
          i.imm = b === 0xca ? i16() & 0xffff : 0;
          fn = retFar;
          ends = true;
          break;
        case 0xcc:
          i.op = 1;
          fn = intN;
          ends = true;
          break;
        case 0xcd:
          i.op = 0;
          i.imm = nb();
          fn = intN;
          ends = true;
          break;
        case 0xce:
          if (code64) break;
          i.op = 2;
          fn = intN;
          ends = true;
          break;
        case 0xcf:
          fn = iret;
          ends = true;
          break;
        case 0xd4:
        case 0xd5:
          if (code64) break;
          i.op = b === 0xd4 ? 0 : 1;
          i.imm = nb();
          fn = aamAad;
          break;
        case 0xd7:
          fn = xlat;
          break;
        case 0xe0:
        case 0xe1:
        case 0xe2:
        case 0xe3:
          i.op = b - 0xe0;
          i.imm = i8();
          i.sz = code64 ? 8 : osz;
          rel = true;
          fn = loop;
          break;
        case 0xe4:
        case 0xe5:
        case 0xe6:
        case 0xe7:
        case 0xec:
        case 0xed:
        case 0xee:
        case 0xef:
          i.sz = b & 1 ? (osz === 8 ? 4 : osz) : 1;
          i.op = b >= 0xec ? 1 : 0;
          if (b < 0xec) i.imm = nb();
          fn = (b & 2) === 0 ? inPort : outPort;
          break;
        case 0xe8:
        case 0xe9:
          i.sz = code64 ? 8 : osz;
          i.imm = iz(code64 ? 4 : osz);
          rel = true;
          fn = b === 0xe8 ? callRel : jmpRel;
          break;
        case 0xeb:
          i.sz = code64 ? 8 : osz;
          i.imm = i8();
          rel = true;
          fn = jmpRel;
          break;
        case 0xf1:
          i.op = 3;
          fn = intN;
          ends = true;
          break;
        case 0xf4:
          fn = hlt;
          ends = true;
          break;
        case 0xf5:
          i.op = 2;
          fn = carryOp;
          break;
        case 0xf6:
        case 0xf7:
          i.sz = b & 1 ? osz : 1;
          modrm(i, seg);
          i.op = reg3();
          switch (i.op) {
            case 0:
            case 1:
              maskImm(i, b === 0xf6 ? nb() : iz(osz), i.sz);
              fn = testEI;
              break;
            case 2:
              fn = notE;
              break;
            case 3:
              fn = negE;
              break;
            case 4:
              fn = mulE;
              break;
            case 5:
              fn = imul1;
              break;
            default:
              fn = divE;
          }
          break;
        case 0xf8:
        case 0xf9:
          i.op = b - 0xf8;
          fn = carryOp;
          break;
        case 0xfa:
          fn = cli;
          break;
        case 0xfb:
          fn = sti;
          break;
        case 0xfc:
        case 0xfd:
          i.op = b - 0xfc;
          fn = cldStd;
          break;
        case 0xfe:
          i.sz = 1;
          modrm(i, seg);
          if (reg3() < 2) {
            i.op = reg3();
            fn = incDec;
          }
          break;
        case 0xff:
          modrm(i, seg);
          switch (reg3()) {
            case 0:
            case 1:
              i.op = reg3();
              fn = incDec;
              break;
            case 2:
              i.sz = code64 ? 8 : osz;
              fn = callE;
              ends = true;
              break;
            case 3:
            case 5:
              i.op = reg3() === 3 ? 1 : 0;
              fn = farIndirect;
              ends = true;
              break;
            case 4:
              i.sz = code64 ? 8 : osz;
              fn = jmpE;
              ends = true;
              break;
            case 6:
              i.sz = d64;
              fn = pushE;
              break;
          }
          break;
      }
    }
  } else {
    const b2 = nb();
    i.opc = 0x100 + b2;
    fn = decode0F(i, b2, osz, d64, W, seg);
    if (fn === jcc) rel = true;
  }

  i.len = count;
  const next = ip + count;
  i.next = code64 ? next : c.code32 ? next >>> 0 : next & 0xffff;
  if (rel) {
    const t = i.next + i.imm;
    i.disp = code64 ? t : i.sz === 2 ? t & 0xffff : t >>> 0;
    ends = true;
  }
  if (fn === null) {
    fn = undefinedOp();
    ends = true;
  }
  i.fn = fn;
  return i;
}

function decode0F(i: Insn, b: number, osz: number, d64: number, W: boolean, seg: number): Handler | null {
  if (
    (b >= 0x10 && b <= 0x17) ||
    (b >= 0x28 && b <= 0x2f) ||
    (b >= 0x50 && b <= 0x7f && b !== 0x77) ||
    b === 0xc2 ||
    (b >= 0xc4 && b <= 0xc6) ||
    b >= 0xd1
  ) {
    if (b === 0xff) return null;
    modrm(i, seg);
    i.sz = W ? 8 : 4;
    if ((b >= 0x70 && b <= 0x73) || b === 0xc2 || (b >= 0xc4 && b <= 0xc6)) i.imm = nb();
    return sse;
  }
  if (b >= 0x40 && b < 0x50) {
    modrm(i, seg);
    i.op = b & 15;
    return cmov;
  }
  if (b >= 0x80 && b < 0x90) {
    i.op = b & 15;
    i.sz = code64 ? 8 : osz;
    i.imm = (i.sz === 2 ? (i16() << 16) >> 16 : i32()) | 0;
    return jcc;
  }
  if (b >= 0x90 && b < 0xa0) {
    i.sz = 1;
    modrm(i, seg);
    i.op = b & 15;
    return setcc;
  }
  if (b >= 0xc8 && b < 0xd0) {
    i.mem = false;
    i.rm = (b & 7) | ((rex & 1) << 3);
    return bswap;
  }
  if (b >= 0x18 && b <= 0x1f) {
    modrm(i, seg);
    return nop;
  }
  switch (b) {
    case 0x00:
      modrm(i, seg);
      i.op = reg3();
      return i.op < 6 ? group6 : null;
    case 0x01: {
      modrm(i, seg);
      const r = reg3();
      if (i.mem) {
        switch (r) {
          case 0:
          case 1:
          case 2:
          case 3:
            i.op = r < 2 ? r : r;
            return descTable;
          case 4:
            i.op = 1;
            return msw;
          case 6:
            i.op = 0;
            return msw;
          case 7:
            return invlpg;
        }
        return null;
      }
      const rm = modrmByte & 7;
      if (r === 4) {
        i.op = 1;
        return msw;
      }
      if (r === 6) {
        i.op = 0;
        return msw;
      }
      if (r === 7 && rm === 0) {
        ends = true;
        return swapgs;
      }
      if (r === 7 && rm === 1) {
        i.op = 1;
        return rdtsc;
      }
      if ((r === 0 || r === 3) && rm === 1) {
        // VMCALL (0f 01 c1) / VMMCALL (0f 01 d9): hypercalls
        i.op = r === 0 ? 0 : 1;
        ends = true;
        return vmcall;
      }
      return null;
    }
    case 0x02:
    case 0x03:
      modrm(i, seg);
      i.op = b - 2;
      return larLsl;
    case 0x05:
      ends = true;
      return syscall;
    case 0x06:
      return clts;
    case 0x07:
      i.sz = W ? 8 : 4;
      ends = true;
      return sysret;
    case 0x08:
    case 0x09:
      return wbinvd;
    case 0x0b:
      ends = true;
      return null;
    case 0x0d:
      modrm(i, seg);
      return nop;
    case 0x77:
      return emms;
    case 0x20:
    case 0x22:
    case 0x21:
    case 0x23: {
      modrm(i, seg);
      i.mem = false;
      i.rm = (modrmByte & 7) | ((rex & 1) << 3);
      i.op = b & 2 ? 1 : 0;
      return b & 1 ? movDr : movCr;
    }
    case 0x30:
      return wrmsr;
    case 0x31:
      i.op = 0;
      return rdtsc;
    case 0x32:
      return rdmsr;
    case 0x33:
      return gp0;
    case 0xa0:
    case 0xa8:
      i.reg = b === 0xa0 ? SEG.FS : SEG.GS;
      i.sz = d64;
      return pushSeg;
    case 0xa1:
    case 0xa9:
      i.reg = b === 0xa1 ? SEG.FS : SEG.GS;
      i.sz = d64;
      return popSeg;
    case 0xa2:
      return cpuid;
    case 0xa3:
    case 0xab:
    case 0xb3:
    case 0xbb:
      modrm(i, seg);
      i.op = [0xa3, 0xab, 0xb3, 0xbb].indexOf(b);
      return btOp;
    case 0xa4:
    case 0xa5:
    case 0xac:
    case 0xad:
      modrm(i, seg);
      i.op = b >= 0xac ? 1 : 0;
      if (b & 1) i.imm2 = 1;
      else i.imm = nb();
      return shxd;
    case 0xae: {
      modrm(i, seg);
      const r = reg3();
      if (i.mem) {
        if (i.pfx !== 0) return null;
        if (r < 4) {
          i.op = r;
          i.sz = W ? 8 : 4;
          return sseState;
        }
        if (r === 7) return nop; // CLFLUSH
        return null;
      }
      if (i.pfx === 0 && r >= 5) return nop; // LFENCE/MFENCE/SFENCE
      return null;
    }
    case 0xaf:
      modrm(i, seg);
      i.op = 0;
      return imul2;
    case 0xb0:
    case 0xb1:
      i.sz = b & 1 ? osz : 1;
      modrm(i, seg);
      return cmpxchg;
    case 0xb2:
    case 0xb4:
    case 0xb5:
      modrm(i, seg);
      i.op = b === 0xb2 ? SEG.SS : b === 0xb4 ? SEG.FS : SEG.GS;
      return loadFarPtr;
    case 0xb6:
    case 0xb7:
    case 0xbe:
    case 0xbf: {
      const src = b & 1 ? 2 : 1;
      modrm(i, seg);
      if (src === 1) i.rmB = byteReg(i.rm);
      i.op = src;
      return b < 0xb8 ? movzx : movsx;
    }
    case 0xb8:
      if (i.rep !== 1) return null;
      modrm(i, seg);
      return popcnt;
    case 0xba:
      modrm(i, seg);
      if (reg3() < 4) return null;
      i.op = reg3() - 4;
      i.imm = nb();
      i.imm2 = 1;
      return btOp;
    case 0xbc:
    case 0xbd:
      modrm(i, seg);
      i.op = b - 0xbc;
      return bsfBsr;
    case 0xc0:
    case 0xc1:
      i.sz = b & 1 ? osz : 1;
      modrm(i, seg);
      return xadd;
    case 0xc3:
      modrm(i, seg);
      if (!i.mem) return null;
      return movEG;
    case 0xc7:
      modrm(i, seg);
      if (reg3() === 1 && i.mem) {
        i.sz = W ? 8 : 4;
        return cmpxchg8b;
      }
      // RDRAND (/6) and RDSEED (/7) take a register and no F2/F3 prefix (F3 /7 is RDPID)
      if ((reg3() === 6 || reg3() === 7) && !i.mem && i.rep === 0) {
        i.sz = osz;
        i.op = reg3() - 6;
        return rdrand;
      }
      return null;
  }
  return null;
}
