/**
 * Random instruction-sequence generator for the differential tester. Each template says which
 * arithmetic flags it reads, defines and leaves undefined; the generator never emits an
 * instruction that reads a flag the manuals leave undefined at that point, and the final RFLAGS
 * comparison masks the flags still undefined at the end.
 *
 * Memory operands go through r15 (the data page, never written by generated code) so every access
 * lands in the compared page. RSP and R15 are not in the random register pool.
 */

export const CF = 1;
export const PF = 4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const OF = 0x800;
export const ALL = CF | PF | AF | ZF | SF | OF;

/** Deterministic PRNG (mulberry32). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  u32(): number {
    return (this.next() * 4294967296) >>> 0;
  }
  /** Interesting 64-bit values. */
  u64(): bigint {
    switch (this.int(8)) {
      case 0:
        return 0n;
      case 1:
        return BigInt(this.int(16));
      case 2:
        return 0xffffffffffffffffn - BigInt(this.int(4));
      case 3:
        return 0x8000000000000000n + BigInt(this.int(3)) - 1n;
      case 4:
        return BigInt(this.u32());
      case 5:
        return 0x7fffffffn + BigInt(this.int(3));
      default:
        return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
    }
  }
}

const R64 = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14'];
const R32 = [
  'eax',
  'ebx',
  'ecx',
  'edx',
  'esi',
  'edi',
  'ebp',
  'r8d',
  'r9d',
  'r10d',
  'r11d',
  'r12d',
  'r13d',
  'r14d',
];
const R16 = ['ax', 'bx', 'cx', 'dx', 'si', 'di', 'bp', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w'];
const R8 = [
  'al',
  'bl',
  'cl',
  'dl',
  'sil',
  'dil',
  'bpl',
  'r8b',
  'r9b',
  'r10b',
  'r11b',
  'r12b',
  'r13b',
  'r14b',
];
const R8H = ['ah', 'bh', 'ch', 'dh'];
const PTR: Record<number, string> = { 1: 'byte ptr', 2: 'word ptr', 4: 'dword ptr', 8: 'qword ptr' };
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'];
const CC_READS = [
  OF,
  OF,
  CF,
  CF,
  ZF,
  ZF,
  CF | ZF,
  CF | ZF,
  SF,
  SF,
  PF,
  PF,
  SF | OF,
  SF | OF,
  ZF | SF | OF,
  ZF | SF | OF,
];

interface Gen {
  text: string;
  reads: number;
  def: number;
  undef: number;
}

function reg(r: Rng, sz: number): string {
  const i = r.int(R64.length);
  if (sz === 8) return R64[i];
  if (sz === 4) return R32[i];
  if (sz === 2) return R16[i];
  return R8[i];
}
/** A register other than RCX (whose low byte holds a shift count). */
function regNoRcx(r: Rng, sz: number): string {
  let v = reg(r, sz);
  while (/^(cl|cx|ecx|rcx)$/.test(v)) v = reg(r, sz);
  return v;
}
function mem(r: Rng, sz: number): string {
  const off = r.int(4000) - (r.int(4) === 0 ? 0 : 0);
  return `${PTR[sz]} [r15 + ${off}]`;
}
function imm(r: Rng, sz: number): number {
  const bits = Math.min(sz * 8, 32);
  const v = r.int(3) === 0 ? r.int(256) - 128 : r.u32();
  if (bits === 8) return v & 0xff;
  if (bits === 16) return v & 0xffff;
  return v | 0;
}
function size(r: Rng): number {
  return r.pick([1, 2, 4, 8, 8, 4]);
}
function g(text: string, reads: number, def: number, undef: number): Gen {
  return { text, reads, def, undef };
}

type Template = (r: Rng) => Gen;

const ALU = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
function aluFlags(op: string): [number, number, number] {
  const reads = op === 'adc' || op === 'sbb' ? CF : 0;
  if (op === 'and' || op === 'or' || op === 'xor') return [reads, ALL & ~AF, AF];
  return [reads, ALL, 0];
}

const templates: [number, Template][] = [
  [
    10,
    (r) => {
      const op = r.pick(ALU);
      const sz = size(r);
      const [rd, df, un] = aluFlags(op);
      const form = r.int(5);
      let t: string;
      if (form === 0) t = `${op} ${reg(r, sz)}, ${reg(r, sz)}`;
      else if (form === 1) t = `${op} ${reg(r, sz)}, ${imm(r, sz)}`;
      else if (form === 2) t = `${op} ${reg(r, sz)}, ${mem(r, sz)}`;
      else if (form === 3) t = `${op} ${mem(r, sz)}, ${reg(r, sz)}`;
      else t = `${op} ${mem(r, sz)}, ${imm(r, sz)}`;
      return g(t, rd, df, un);
    },
  ],
  [
    2,
    (r) => {
      const op = r.pick(ALU);
      const [rd, df, un] = aluFlags(op);
      return g(
        `${op} ${r.pick(R8H)}, ${r.pick(['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'])}`,
        rd,
        df,
        un,
      );
    },
  ],
  [
    2,
    (r) => {
      const sz = size(r);
      const v = r.int(2) ? reg(r, sz) : imm(r, sz);
      return g(`test ${r.int(2) ? reg(r, sz) : mem(r, sz)}, ${v}`, 0, ALL & ~AF, AF);
    },
  ],
  [
    3,
    (r) => {
      const op = r.pick(['inc', 'dec', 'neg', 'not']);
      const sz = size(r);
      const o = r.int(3) ? reg(r, sz) : mem(r, sz);
      if (op === 'not') return g(`not ${o}`, 0, 0, 0);
      if (op === 'neg') return g(`neg ${o}`, 0, ALL, 0);
      return g(`${op} ${o}`, 0, ALL & ~CF, 0);
    },
  ],
  [
    4,
    (r) => {
      const op = r.pick(['shl', 'shr', 'sar', 'rol', 'ror', 'rcl', 'rcr']);
      const sz = size(r);
      const o = r.int(3) ? reg(r, sz) : mem(r, sz);
      const one = r.int(3) === 0;
      const n = one ? 1 : 1 + r.int(sz * 8 - 1);
      if (op === 'rcl' || op === 'rcr') return g(`${op} ${o}, 1`, CF, CF | OF, 0);
      const ofDef = n === 1 ? OF : 0;
      if (op === 'rol' || op === 'ror') return g(`${op} ${o}, ${n}`, 0, CF | ofDef, n === 1 ? 0 : OF);
      return g(`${op} ${o}, ${n}`, 0, CF | ZF | SF | PF | ofDef, AF | (n === 1 ? 0 : OF));
    },
  ],
  [
    2,
    (r) => {
      const op = r.pick(['shld', 'shrd']);
      const sz = r.pick([2, 4, 8]);
      const n = 1 + r.int(sz * 8 - 1);
      const o = r.int(2) ? reg(r, sz) : mem(r, sz);
      return g(
        `${op} ${o}, ${reg(r, sz)}, ${n}`,
        0,
        CF | ZF | SF | PF | (n === 1 ? OF : 0),
        AF | (n === 1 ? 0 : OF),
      );
    },
  ],
  [
    3,
    (r) => {
      const sz = size(r);
      const form = r.int(4);
      const src = r.int(2) ? reg(r, sz) : mem(r, sz);
      if (form === 0) return g(`mul ${src}`, 0, CF | OF, SF | ZF | AF | PF);
      if (form === 1 || sz === 1) return g(`imul ${src}`, 0, CF | OF, SF | ZF | AF | PF);
      if (form === 2) return g(`imul ${reg(r, sz)}, ${src}`, 0, CF | OF, SF | ZF | AF | PF);
      return g(`imul ${reg(r, sz)}, ${src}, ${imm(r, Math.min(sz, 4))}`, 0, CF | OF, SF | ZF | AF | PF);
    },
  ],
  [
    1,
    (r) => {
      const sz = size(r);
      const op = r.pick(['div', 'idiv']);
      return g(`${op} ${r.int(2) ? reg(r, sz) : mem(r, sz)}`, 0, 0, ALL);
    },
  ],
  [
    3,
    (r) => {
      const sz = r.pick([2, 4, 8]);
      const op = r.pick(['bt', 'bts', 'btr', 'btc']);
      const form = r.int(3);
      let t: string;
      if (form === 0) t = `${op} ${reg(r, sz)}, ${reg(r, sz)}`;
      else if (form === 1) t = `${op} ${r.int(2) ? reg(r, sz) : mem(r, sz)}, ${r.int(256)}`;
      else
        t = `mov r13d, ${r.int(8000)}\n ${op} ${PTR[sz]} [r15 + ${r.int(3000)}], ${sz === 8 ? 'r13' : sz === 4 ? 'r13d' : 'r13w'}`;
      return g(t, 0, CF, OF | SF | AF | PF);
    },
  ],
  [
    2,
    (r) => {
      const sz = r.pick([2, 4, 8]);
      const op = r.pick(['bsf', 'bsr', 'popcnt']);
      const src = r.int(2) ? reg(r, sz) : mem(r, sz);
      if (op === 'popcnt') return g(`popcnt ${reg(r, sz)}, ${src}`, 0, ALL, 0);
      // destination is undefined for a zero source: write a fresh register from a non-zero source
      return g(`${op} ${reg(r, sz)}, ${src}`, 0, ZF, CF | OF | SF | AF | PF);
    },
  ],
  [
    6,
    (r) => {
      const sz = size(r);
      const form = r.int(5);
      if (form === 0) return g(`mov ${reg(r, sz)}, ${reg(r, sz)}`, 0, 0, 0);
      if (form === 1) return g(`mov ${reg(r, sz)}, ${mem(r, sz)}`, 0, 0, 0);
      if (form === 2) return g(`mov ${mem(r, sz)}, ${reg(r, sz)}`, 0, 0, 0);
      if (form === 3) return g(`mov ${mem(r, sz)}, ${imm(r, sz)}`, 0, 0, 0);
      if (sz === 8) return g(`movabs ${reg(r, 8)}, ${r.u64()}`, 0, 0, 0);
      return g(`mov ${reg(r, sz)}, ${imm(r, sz)}`, 0, 0, 0);
    },
  ],
  [
    3,
    (r) => {
      const op = r.pick(['movzx', 'movsx']);
      const from = r.pick([1, 2]);
      const to = r.pick([2, 4, 8].filter((x) => x > from));
      const src = r.int(2) ? reg(r, from) : mem(r, from);
      if (r.int(4) === 0) return g(`movsxd ${reg(r, 8)}, ${r.int(2) ? reg(r, 4) : mem(r, 4)}`, 0, 0, 0);
      return g(`${op} ${reg(r, to)}, ${src}`, 0, 0, 0);
    },
  ],
  [
    2,
    (r) => {
      const sz = r.pick([2, 4, 8]);
      const sc = r.pick([1, 2, 4, 8]);
      return g(`lea ${reg(r, sz)}, [${reg(r, 8)} + ${reg(r, 8)}*${sc} + ${r.int(2000) - 1000}]`, 0, 0, 0);
    },
  ],
  [
    2,
    (r) => {
      const sz = size(r);
      return g(`xchg ${r.int(2) ? reg(r, sz) : mem(r, sz)}, ${reg(r, sz)}`, 0, 0, 0);
    },
  ],
  [
    2,
    (r) => {
      const sz = size(r);
      const op = r.pick(['xadd', 'cmpxchg']);
      return g(`${op} ${r.int(2) ? reg(r, sz) : mem(r, sz)}, ${reg(r, sz)}`, 0, ALL, 0);
    },
  ],
  [
    3,
    (r) => {
      const cc = r.int(16);
      const sz = r.pick([2, 4, 8]);
      return g(`cmov${CC[cc]} ${reg(r, sz)}, ${r.int(2) ? reg(r, sz) : mem(r, sz)}`, CC_READS[cc], 0, 0);
    },
  ],
  [
    3,
    (r) => {
      const cc = r.int(16);
      return g(`set${CC[cc]} ${r.int(2) ? reg(r, 1) : mem(r, 1)}`, CC_READS[cc], 0, 0);
    },
  ],
  [
    3,
    (r) => {
      const cc = r.int(16);
      const inner = r.pick(['inc rax', 'add rbx, 7', 'xor ecx, edx', 'not r9']);
      const def = inner === 'not r9' ? 0 : inner === 'inc rax' ? ALL & ~CF : ALL;
      // the skipped instruction leaves flags either unchanged or defined: only fully defined after
      return g(
        `j${CC[cc]} 1f\n ${inner}\n 1:`,
        CC_READS[cc],
        0,
        def === 0 ? 0 : inner === 'xor ecx, edx' ? AF : 0,
      );
    },
  ],
  [
    2,
    (r) => {
      const sz = r.pick([4, 8]);
      return g(`bswap ${reg(r, sz)}`, 0, 0, 0);
    },
  ],
  [1, (r) => g(r.pick(['cbw', 'cwde', 'cdqe', 'cwd', 'cdq', 'cqo']), 0, 0, 0)],
  [1, (r) => g(r.pick(['clc', 'stc']), 0, CF, 0)],
  [1, () => g('cmc', CF, CF, 0)],
  [1, () => g('sahf', 0, CF | PF | AF | ZF | SF, 0)],
  [1, () => g('lahf', CF | PF | AF | ZF | SF, 0, 0)],
  [
    2,
    (r) => {
      const a = reg(r, 8);
      const b = reg(r, 8);
      return g(
        `push ${a}\n push qword ptr [r15 + ${r.int(4000)}]\n pop ${b}\n pop qword ptr [r15 + ${r.int(4000)}]`,
        0,
        0,
        0,
      );
    },
  ],
  [1, () => g('pushfq\n pop rax', ALL, 0, 0)],
  [
    1,
    (r) =>
      g(
        `pushfq\n xor qword ptr [rsp], ${r.pick([0x8d5, 0x1, 0x40, 0x400, 0x200, 0x3000])}\n popfq\n cld`,
        ALL,
        ALL,
        0,
      ),
  ],
  [
    2,
    (r) => {
      const sz = size(r);
      const op = r.pick(['shl', 'shr', 'sar', 'rol', 'ror']);
      const n = r.int(sz * 8);
      const o = r.int(3) ? regNoRcx(r, sz) : mem(r, sz);
      const t = `mov cl, ${n}\n ${op} ${o}, cl`;
      if (n === 0) return g(t, 0, 0, 0);
      if (op === 'rol' || op === 'ror') return g(t, 0, CF | (n === 1 ? OF : 0), n === 1 ? 0 : OF);
      return g(t, 0, CF | ZF | SF | PF | (n === 1 ? OF : 0), AF | (n === 1 ? 0 : OF));
    },
  ],
  [
    1,
    (r) => {
      const sz = r.pick([2, 4, 8]);
      const n = r.int(sz * 8);
      const t = `mov cl, ${n}\n ${r.pick(['shld', 'shrd'])} ${r.int(2) ? regNoRcx(r, sz) : mem(r, sz)}, ${reg(r, sz)}, cl`;
      if (n === 0) return g(t, 0, 0, 0);
      return g(t, 0, CF | ZF | SF | PF | (n === 1 ? OF : 0), AF | (n === 1 ? 0 : OF));
    },
  ],
  [
    1,
    (r) => {
      const sz = size(r);
      const op = r.pick(['rcl', 'rcr']);
      const n = 1 + r.int(sz * 8 - 1);
      return g(
        `${op} ${r.int(2) ? reg(r, sz) : mem(r, sz)}, ${n}`,
        CF,
        CF | (n === 1 ? OF : 0),
        n === 1 ? 0 : OF,
      );
    },
  ],
  [
    2,
    (r) => {
      // near call/ret pair with a body, and a counted loop
      const body = r.pick(['add rax, rbx', 'imul rdx, rsi', 'xor r8d, r9d', 'inc r10']);
      if (r.int(2) === 0) return g(`call 1f\n jmp 2f\n 1:\n ${body}\n ret\n 2:`, 0, 0, ALL);
      return g(
        `mov ecx, ${1 + r.int(20)}\n 1:\n ${body}\n ${r.pick(['loop 1b', 'dec ecx\n jnz 1b'])}`,
        0,
        0,
        ALL,
      );
    },
  ],
  [1, (r) => g(`${r.pick(['cmpxchg8b', 'cmpxchg8b'])} qword ptr [r15 + ${r.int(4000)}]`, 0, ZF, 0)],
  [1, (r) => g(`lea rbx, [r15 + ${r.int(3800)}]\n mov al, ${r.int(200)}\n xlat`, 0, 0, 0)],
  [
    2,
    (r) => {
      const op = r.pick(['movsb', 'movsw', 'movsd', 'movsq', 'stosb', 'stosd', 'stosq', 'lodsb', 'lodsq']);
      const rep = op.startsWith('lods') ? '' : r.pick(['rep ', '']);
      const d = r.int(2) ? 'cld' : 'std';
      return g(
        `${d}\n lea rsi, [r15 + ${1000 + r.int(1000)}]\n lea rdi, [r15 + ${1000 + r.int(1000)}]\n mov ecx, ${r.int(40)}\n ${rep}${op}\n cld`,
        0,
        0,
        0,
      );
    },
  ],
  [
    2,
    (r) => {
      const op = r.pick(['cmpsb', 'cmpsd', 'scasb', 'scasq']);
      const rep = r.pick(['repe ', 'repne ', '']);
      // with a zero count the flags are unchanged: start from a fully defined state
      return g(
        `lea rsi, [r15 + ${r.int(2000)}]\n lea rdi, [r15 + ${r.int(2000)}]\n mov ecx, ${1 + r.int(30)}\n ${rep}${op}`,
        0,
        ALL,
        0,
      );
    },
  ],
  [
    4,
    (r) => {
      const x = () => `xmm${r.int(8)}`;
      const op = r.pick([
        'pxor',
        'pand',
        'por',
        'pandn',
        'paddb',
        'paddw',
        'paddd',
        'paddq',
        'psubb',
        'psubw',
        'psubd',
        'psubq',
        'pcmpeqb',
        'pcmpeqw',
        'pcmpeqd',
        'pcmpgtb',
        'pcmpgtw',
        'pcmpgtd',
        'pminub',
        'pmaxub',
        'pminsw',
        'pmaxsw',
        'punpcklbw',
        'punpcklwd',
        'punpckldq',
        'punpcklqdq',
        'punpckhbw',
        'punpckhwd',
        'punpckhdq',
        'punpckhqdq',
        'paddusb',
        'paddsw',
        'psubusb',
        'psubsb',
        'pmullw',
        'pmulhw',
        'pmulhuw',
        'pmuludq',
        'pmaddwd',
        'psadbw',
        'pavgb',
        'pavgw',
        'packsswb',
        'packuswb',
        'packssdw',
      ]);
      return g(`${op} ${x()}, ${r.int(3) ? x() : `xmmword ptr [r15 + ${r.int(250) * 16}]`}`, 0, 0, 0);
    },
  ],
  [
    3,
    (r) => {
      const x = () => `xmm${r.int(8)}`;
      switch (r.int(10)) {
        case 0:
          return g(`pshufd ${x()}, ${x()}, ${r.int(256)}`, 0, 0, 0);
        case 1:
          return g(`${r.pick(['pshuflw', 'pshufhw'])} ${x()}, ${x()}, ${r.int(256)}`, 0, 0, 0);
        case 2:
          return g(
            `${r.pick(['psllw', 'psrlw', 'psraw', 'pslld', 'psrld', 'psrad', 'psllq', 'psrlq'])} ${x()}, ${r.int(70)}`,
            0,
            0,
            0,
          );
        case 3:
          return g(`${r.pick(['pslldq', 'psrldq'])} ${x()}, ${r.int(20)}`, 0, 0, 0);
        case 4:
          return g(`pmovmskb ${reg(r, 4)}, ${x()}`, 0, 0, 0);
        case 5:
          return g(`movd ${x()}, ${reg(r, 4)}\n movq ${reg(r, 8)}, ${x()}`, 0, 0, 0);
        case 6:
          return g(
            `movdqu ${x()}, xmmword ptr [r15 + ${r.int(4000)}]\n movdqa xmmword ptr [r15 + ${r.int(250) * 16}], ${x()}`,
            0,
            0,
            0,
          );
        case 7:
          return g(
            `movq ${x()}, qword ptr [r15 + ${r.int(4000)}]\n movq qword ptr [r15 + ${r.int(4000)}], ${x()}`,
            0,
            0,
            0,
          );
        case 8:
          return g(`${r.pick(['psllw', 'psrlq', 'psrad'])} ${x()}, ${x()}`, 0, 0, 0);
        default:
          return g(`${r.pick(['shufps', 'shufpd'])} ${x()}, ${x()}, ${r.int(256)}`, 0, 0, 0);
      }
    },
  ],
  [
    2,
    (r) => {
      // scalar double arithmetic on converted integers (no NaN payload games)
      const x = () => `xmm${8 + r.int(4)}`;
      const a = x();
      const b = x();
      const op = r.pick([
        'addsd',
        'subsd',
        'mulsd',
        'divsd',
        'minsd',
        'maxsd',
        'sqrtsd',
        'addss',
        'mulss',
        'subss',
      ]);
      const cvt = op.endsWith('ss') ? 'cvtsi2ss' : 'cvtsi2sd';
      return g(
        `${cvt} ${a}, ${reg(r, r.pick([4, 8]))}\n ${cvt} ${b}, ${reg(r, 4)}\n ${op} ${a}, ${b}\n ${op.endsWith('ss') ? 'cvttss2si' : 'cvttsd2si'} ${reg(r, r.pick([4, 8]))}, ${a}\n ucomisd ${a}, ${b}`,
        0,
        ALL,
        0,
      );
    },
  ],
  [
    4,
    (r) => {
      // MMX: the registers alias the x87 ones (the harness and the emulator start both from the
      // same random ST0-7, TOP and tags, and compare them after)
      const m = () => `mm${r.int(8)}`;
      const op = r.pick([
        'pxor',
        'pand',
        'por',
        'pandn',
        'paddb',
        'paddw',
        'paddd',
        'paddq',
        'psubb',
        'psubw',
        'psubd',
        'psubq',
        'paddsb',
        'paddsw',
        'paddusb',
        'paddusw',
        'psubsb',
        'psubsw',
        'psubusb',
        'psubusw',
        'pcmpeqb',
        'pcmpeqw',
        'pcmpeqd',
        'pcmpgtb',
        'pcmpgtw',
        'pcmpgtd',
        'pmullw',
        'pmulhw',
        'pmulhuw',
        'pmuludq',
        'pmaddwd',
        'psadbw',
        'pavgb',
        'pavgw',
        'pminub',
        'pmaxub',
        'pminsw',
        'pmaxsw',
        'packsswb',
        'packssdw',
        'packuswb',
        'punpckhbw',
        'punpckhwd',
        'punpckhdq',
        'psllw',
        'pslld',
        'psllq',
        'psrlw',
        'psrld',
        'psrlq',
        'psraw',
        'psrad',
      ]);
      const low = r.pick(['punpcklbw', 'punpcklwd', 'punpckldq']);
      if (r.int(8) === 0)
        return g(`${low} ${m()}, ${r.int(2) ? m() : `dword ptr [r15 + ${r.int(1000) * 4}]`}`, 0, 0, 0);
      return g(`${op} ${m()}, ${r.int(3) ? m() : `qword ptr [r15 + ${r.int(500) * 8}]`}`, 0, 0, 0);
    },
  ],
  [
    3,
    (r) => {
      const m = () => `mm${r.int(8)}`;
      const x = () => `xmm${r.int(8)}`;
      const q = () => `qword ptr [r15 + ${r.int(500) * 8}]`;
      switch (r.int(12)) {
        case 0:
          return g(
            r.pick([
              `movd ${m()}, ${reg(r, 4)}`,
              `movq ${m()}, ${reg(r, 8)}`,
              `movd ${reg(r, 4)}, ${m()}`,
              `movq ${reg(r, 8)}, ${m()}`,
              `movd ${m()}, dword ptr [r15 + ${r.int(1000) * 4}]`,
              `movd dword ptr [r15 + ${r.int(1000) * 4}], ${m()}`,
            ]),
            0,
            0,
            0,
          );
        case 1:
          return g(r.pick([`movq ${m()}, ${q()}`, `movq ${q()}, ${m()}`, `movq ${m()}, ${m()}`]), 0, 0, 0);
        case 2:
          return g(
            `${r.pick(['psllw', 'psrlw', 'psraw', 'pslld', 'psrld', 'psrad', 'psllq', 'psrlq'])} ${m()}, ${r.int(70)}`,
            0,
            0,
            0,
          );
        case 3:
          // a small count in a register shifts by that much
          return g(
            `mov eax, ${r.int(70)}
 movd mm7, eax
 ${r.pick(['psllw', 'psrld', 'psraw', 'psllq', 'psrlq', 'psrad'])} ${m()}, mm7`,
            0,
            0,
            0,
          );
        case 4:
          return g(`pshufw ${m()}, ${r.int(2) ? m() : q()}, ${r.int(256)}`, 0, 0, 0);
        case 5:
          return g(
            `pinsrw ${m()}, ${reg(r, 4)}, ${r.int(4)}
 pextrw ${reg(r, 4)}, ${m()}, ${r.int(4)}`,
            0,
            0,
            0,
          );
        case 6:
          return g(`pmovmskb ${reg(r, 4)}, ${m()}`, 0, 0, 0);
        case 7:
          return g('emms', 0, 0, 0);
        case 8:
          return g(r.pick([`movq2dq ${x()}, ${m()}`, `movdq2q ${m()}, ${x()}`]), 0, 0, 0);
        case 9:
          return g(
            r.pick([
              `cvtpi2ps ${x()}, ${m()}`,
              `cvtpi2ps ${x()}, ${q()}`,
              `cvtpi2pd ${x()}, ${m()}`,
              `cvtpi2pd ${x()}, ${q()}`,
            ]),
            0,
            0,
            0,
          );
        case 10:
          return g(
            r.pick([
              `cvtps2pi ${m()}, ${x()}`,
              `cvttps2pi ${m()}, ${x()}`,
              `cvtpd2pi ${m()}, ${x()}`,
              `cvttpd2pi ${m()}, xmmword ptr [r15 + ${r.int(250) * 16}]`,
            ]),
            0,
            0,
            0,
          );
        default:
          return g(
            r.pick([
              `movntq ${q()}, ${m()}`,
              `lea rdi, [r15 + ${r.int(4000)}]
 maskmovq ${m()}, ${m()}`,
            ]),
            0,
            0,
            0,
          );
      }
    },
  ],
];

const totalWeight = templates.reduce((s, [w]) => s + w, 0);

function pickTemplate(r: Rng): Template {
  let k = r.int(totalWeight);
  for (const [w, t] of templates) {
    if (k < w) return t;
    k -= w;
  }
  return templates[0][1];
}

/** One generated case. */
export interface GenCase {
  asm: string;
  /** Instructions generated (counting each template line). */
  instructions: number;
  /** Flags still undefined at the end. */
  undefFlags: number;
  regs: bigint[];
  data: Uint8Array;
  xmm: Uint8Array;
  /** 32-bit compatibility-mode code (EBP holds the data page address). */
  compat?: boolean;
  /** 64-bit code at CPL0 (the conformance programs; generated cases run at CPL3). */
  kernel?: boolean;
  /** Initial ST0-7 in 16-byte FXSAVE slots (default zeros), x87 status word and abridged tag word. */
  x87?: Uint8Array;
  fsw?: number;
  ftw?: number;
}

/** Generates a case of about `n` instructions. */
export function generateCase(r: Rng, n: number): GenCase {
  let undef = ALL; // initial flags are defined, but start conservative for reads
  undef = 0;
  const lines: string[] = [];
  let count = 0;
  while (count < n) {
    let gen: Gen;
    let tries = 0;
    do {
      gen = pickTemplate(r)(r);
      tries++;
    } while ((gen.reads & undef) !== 0 && tries < 20);
    if ((gen.reads & undef) !== 0) continue;
    lines.push(gen.text);
    count += gen.text.split('\n').filter((l) => l.trim() !== '' && !l.trim().endsWith(':')).length;
    undef = (undef & ~gen.def) | gen.undef;
  }
  const regs: bigint[] = [];
  for (let k = 0; k < 16; k++) regs.push(r.u64());
  const data = new Uint8Array(4096);
  for (let k = 0; k < 4096; k++) data[k] = r.int(256);
  const xmm = new Uint8Array(256);
  for (let k = 0; k < 256; k++) xmm[k] = r.int(256);
  // the x87 registers (MMX's home): random significands, exponents either all ones (as MMX leaves
  // them) or random, random TOP and tags
  const x87 = new Uint8Array(128);
  for (let k = 0; k < 8; k++) {
    for (let j = 0; j < 8; j++) x87[16 * k + j] = r.int(256);
    const e = r.int(2) ? 0xffff : r.int(65536);
    x87[16 * k + 8] = e & 0xff;
    x87[16 * k + 9] = e >> 8;
  }
  const fsw = r.int(8) << 11;
  const ftw = r.int(256);
  return { asm: lines.join('\n'), instructions: count, undefFlags: undef, regs, data, xmm, x87, fsw, ftw };
}

// ---------------------------------------------------------------- compatibility mode (32-bit code)

const C32 = ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'];
const C16 = ['ax', 'bx', 'cx', 'dx', 'si', 'di'];
const C8 = ['al', 'bl', 'cl', 'dl', 'ah', 'bh', 'ch', 'dh'];

function creg(r: Rng, sz: number): string {
  return sz === 4 ? r.pick(C32) : sz === 2 ? r.pick(C16) : r.pick(C8);
}
function cmem(r: Rng, sz: number): string {
  return `${PTR[sz]} [ebp + ${r.int(4000)}]`;
}
function csize(r: Rng): number {
  return r.pick([1, 2, 4, 4]);
}

const compatTemplates: [number, Template][] = [
  [
    10,
    (r) => {
      const op = r.pick(ALU);
      const sz = csize(r);
      const [rd, df, un] = aluFlags(op);
      const form = r.int(4);
      const t =
        form === 0
          ? `${op} ${creg(r, sz)}, ${creg(r, sz)}`
          : form === 1
            ? `${op} ${creg(r, sz)}, ${imm(r, sz)}`
            : form === 2
              ? `${op} ${creg(r, sz)}, ${cmem(r, sz)}`
              : `${op} ${cmem(r, sz)}, ${creg(r, sz)}`;
      return g(t, rd, df, un);
    },
  ],
  // one-byte INC/DEC (40-4F), only encodable outside 64-bit mode
  [4, (r) => g(`${r.pick(['inc', 'dec'])} ${r.pick([...C32, ...C16])}`, 0, ALL & ~CF, 0)],
  // The BCD instructions are not run natively by this host's KVM (PVM): DAA/DAS/AAA/AAS raise #UD
  // and AAM/AAD come back with flags computed on AX; they are unit-tested against the manual instead.
  [2, () => g('pushad\n popad', 0, 0, 0)],
  [2, (r) => g(`push ${r.pick(C32)}\n pop ${r.pick(C32)}`, 0, 0, 0)],
  [
    3,
    (r) => {
      const sz = csize(r);
      const op = r.pick(['shl', 'shr', 'sar']);
      const n = 1 + r.int(sz * 8 - 1);
      return g(
        `${op} ${r.int(2) ? creg(r, sz) : cmem(r, sz)}, ${n}`,
        0,
        CF | ZF | SF | PF | (n === 1 ? OF : 0),
        AF | (n === 1 ? 0 : OF),
      );
    },
  ],
  [
    2,
    (r) => {
      const sz = csize(r);
      return g(
        `${r.pick(['mul', 'imul'])} ${r.int(2) ? creg(r, sz) : cmem(r, sz)}`,
        0,
        CF | OF,
        SF | ZF | AF | PF,
      );
    },
  ],
  [1, (r) => g(`${r.pick(['div', 'idiv'])} ${creg(r, csize(r))}`, 0, 0, ALL)],
  [
    3,
    (r) => {
      const cc = r.int(16);
      return g(
        `set${CC[cc]} ${r.pick(C8)}\n cmov${CC[cc]} ${r.pick(C32)}, ${cmem(r, 4)}`,
        CC_READS[cc],
        0,
        0,
      );
    },
  ],
  [
    3,
    (r) =>
      g(
        `movzx ${r.pick(C32)}, ${r.int(2) ? r.pick(C8) : cmem(r, 2)}\n movsx ${r.pick(C16)}, ${r.pick(C8)}`,
        0,
        0,
        0,
      ),
  ],
  [
    2,
    (r) =>
      g(
        `lea ${r.pick(C32)}, [${r.pick(C32)} + ${r.pick(C32)}*${r.pick([1, 2, 4, 8])} + ${r.int(2000) - 1000}]`,
        0,
        0,
        0,
      ),
  ],
  [
    2,
    (r) =>
      g(`lea ${r.pick(C16)}, [${r.pick(C32)} + ${r.int(100)}]\n xchg ${r.pick(C8)}, ${r.pick(C8)}`, 0, 0, 0),
  ],
  [1, (r) => g(r.pick(['cbw', 'cwde', 'cwd', 'cdq']), 0, 0, 0)],
  [
    2,
    (r) =>
      g(`bswap ${r.pick(C32)}\n ${r.pick(['xadd', 'cmpxchg'])} ${cmem(r, 4)}, ${r.pick(C32)}`, 0, ALL, 0),
  ],
  [
    2,
    (r) => g(`${r.pick(['bt', 'bts', 'btr', 'btc'])} ${creg(r, 4)}, ${r.int(32)}`, 0, CF, OF | SF | AF | PF),
  ],
  [
    2,
    (r) => {
      const cc = r.int(16);
      return g(`j${CC[cc]} 1f\n inc eax\n 1:`, CC_READS[cc], 0, 0);
    },
  ],
  [
    1,
    (r) =>
      g(
        `lea esi, [ebp + ${r.int(1000)}]\n lea edi, [ebp + ${1000 + r.int(1000)}]\n mov ecx, ${r.int(30)}\n rep movsb`,
        0,
        0,
        0,
      ),
  ],
];
const compatWeight = compatTemplates.reduce((s, [w]) => s + w, 0);

/** Generates a 32-bit compatibility-mode case of about `n` instructions (data base in EBP). */
export function generateCompatCase(r: Rng, n: number): GenCase {
  let undef = 0;
  const lines: string[] = [];
  let count = 0;
  while (count < n) {
    let k = r.int(compatWeight);
    let t = compatTemplates[0][1];
    for (const [w, tt] of compatTemplates) {
      if (k < w) {
        t = tt;
        break;
      }
      k -= w;
    }
    const gen = t(r);
    if ((gen.reads & undef) !== 0) continue;
    lines.push(gen.text);
    count += gen.text.split('\n').filter((l) => l.trim() !== '' && !l.trim().endsWith(':')).length;
    undef = (undef & ~gen.def) | gen.undef;
  }
  const c = generateCase(r, 0);
  return { ...c, asm: lines.join('\n'), instructions: count, undefFlags: undef, compat: true };
}
