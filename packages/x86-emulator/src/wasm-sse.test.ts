/**
 * SSE compiled inline by the WebAssembly block compiler (`wasm-sse.ts`) against the interpreter:
 * the same programs end in the same registers, XMM registers, memory, instruction count and exit,
 * compiled before their first run and after a few; the common case runs without calling the
 * executor, and the slow paths (a misaligned MOVDQA, an access across a page, CR0.TS) give the
 * executor's results and faults.
 */
import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { flatCpu, patternPage } from '../test/flat-cpu.js';
import type { Cpu, CpuExit } from './cpu.js';
import { DONE_BYTES, FLAT } from './flat-long-mode.js';

interface Outcome {
  exit: CpuExit;
  regs: ReturnType<Cpu['getRegs']>;
  xmm: number[];
  icount: number;
  data: Uint8Array;
  executorCalls: number;
  compiled: number;
}

const DATA = patternPage(0x2545f491);

/** The string the strlen program measures. */
const TEXT = 'the quick brown fox jumps over the lazy dog, twice over';

/** Runs `code`; `midway` (if given) changes the CPU after its first 2000 instructions. */
function run(code: Uint8Array, jitThreshold: number, midway?: (c: Cpu) => void): Outcome {
  const { cpu, mem } = flatCpu(new Uint8Array([...code, ...DONE_BYTES]), DATA, { jitThreshold });
  // a NUL-terminated string for the strlen loop, 16-byte aligned at DATA + 0x800
  mem.writeBytes(FLAT.DATA + 0x800, new TextEncoder().encode(`${TEXT}\0`));
  let exit = cpu.run(midway ? 2000 : 10_000_000);
  if (midway && exit.kind === 'instruction-limit') midway(cpu);
  for (let n = 0; exit.kind === 'instruction-limit' && n < 1000; n++) exit = cpu.run(10_000_000);
  return {
    exit,
    regs: cpu.getRegs(),
    xmm: [...cpu.xmm],
    icount: cpu.icount,
    data: mem.readBytes(FLAT.DATA, 8192),
    executorCalls: cpu.wasmJit?.executorCalls ?? -1,
    compiled: cpu.compiledBlocks,
  };
}

function expectSame(src: string, midway?: (c: Cpu) => void): Outcome[] {
  const code = assemble(src);
  const ref = run(code, -1, midway);
  expect(ref.exit.kind).not.toBe('internal-error');
  const out: Outcome[] = [];
  for (const t of [0, 3]) {
    const got = run(code, t, midway);
    expect(got.compiled).toBeGreaterThan(0);
    expect({ t, exit: got.exit, regs: got.regs, xmm: got.xmm, icount: got.icount }).toEqual({
      t,
      exit: ref.exit,
      regs: ref.regs,
      xmm: ref.xmm,
      icount: ref.icount,
    });
    expect(Buffer.from(got.data).equals(Buffer.from(ref.data))).toBe(true);
    out.push(got);
  }
  return out;
}

/** Every inline form, on registers and on aligned memory, 40 times round a loop. */
const ALL_FORMS = `
  mov ecx, 40
  movdqa xmm0, [r15]
  movdqu xmm1, [r15 + 0x13]
  movups xmm2, [r15 + 0x27]
  movaps xmm3, [r15 + 0x30]
  movapd xmm4, [r15 + 0x40]
  movupd xmm5, [r15 + 0x51]
1:
  pxor xmm6, xmm6
  paddb xmm0, xmm1
  paddw xmm1, [r15 + 0x60]
  paddd xmm2, xmm0
  paddq xmm3, xmm1
  psubb xmm4, xmm2
  psubw xmm5, [r15 + 0x70]
  psubd xmm0, xmm3
  psubq xmm1, xmm4
  pcmpeqb xmm6, xmm5
  pcmpeqw xmm6, xmm0
  pcmpeqd xmm6, [r15 + 0x80]
  pcmpgtb xmm2, xmm1
  pcmpgtw xmm3, xmm2
  pcmpgtd xmm4, xmm3
  pand xmm5, xmm4
  por xmm5, xmm0
  pandn xmm6, xmm1
  pminub xmm0, xmm1
  pmaxub xmm1, [r15 + 0x90]
  pminsw xmm2, xmm3
  pmaxsw xmm3, xmm4
  paddusb xmm4, xmm5
  paddusw xmm5, xmm6
  psubusb xmm6, xmm0
  psubusw xmm0, xmm1
  paddsb xmm1, xmm2
  paddsw xmm2, xmm3
  psubsb xmm3, xmm4
  psubsw xmm4, xmm5
  pavgb xmm5, xmm6
  pavgw xmm6, xmm0
  pmullw xmm0, xmm1
  punpcklbw xmm1, xmm2
  punpcklwd xmm2, xmm3
  punpckldq xmm3, xmm4
  punpcklqdq xmm4, [r15 + 0xa0]
  punpckhbw xmm5, xmm6
  punpckhwd xmm6, xmm0
  punpckhdq xmm0, xmm1
  punpckhqdq xmm1, xmm2
  pshufd xmm2, xmm3, 0x1b
  pshuflw xmm3, xmm4, 0xb4
  pshufhw xmm4, [r15 + 0xb3], 0x4e
  psllw xmm5, 3
  psrlw xmm6, 17
  psraw xmm0, 5
  pslld xmm1, 9
  psrld xmm2, 33
  psrad xmm3, 40
  psllq xmm4, 63
  psrlq xmm5, 1
  pslldq xmm6, 5
  psrldq xmm0, 11
  andps xmm1, xmm2
  andnps xmm2, xmm3
  orps xmm3, [r15 + 0xc0]
  xorps xmm4, xmm5
  andpd xmm5, xmm6
  xorpd xmm6, xmm0
  movd xmm7, ecx
  movq xmm8, rcx
  movd xmm9, [r15 + 0xd1]
  movq xmm10, [r15 + 0xd9]
  movd eax, xmm0
  movq rbx, xmm1
  add rax, rbx
  movd [r15 + 0x403], xmm2
  movq [r15 + 0x409], xmm3
  movq xmm11, xmm4
  movq xmm12, [r15 + 0xe5]
  movq [r15 + 0x413], xmm5
  movq xmm13, xmm6
  pmovmskb edx, xmm0
  add rax, rdx
  movmskps edx, xmm1
  add rax, rdx
  movmskpd edx, xmm2
  add rax, rdx
  movdqa [r15 + 0x420], xmm0
  movdqu [r15 + 0x437], xmm1
  movups [r15 + 0x449], xmm2
  movaps [r15 + 0x460], xmm3
  movntdq [r15 + 0x470], xmm4
  movdqa xmm14, xmm5
  movaps xmm15, xmm6
  add [r15 + 0x480], rax
  dec ecx
  jnz 1b
`;

/** glibc's SSE2 strlen: PCMPEQB against zero, PMOVMSKB, BSF, 16 bytes at a time. */
const STRLEN = `
  mov ecx, 30
2:
  lea rdi, [r15 + 0x800]
  pxor xmm0, xmm0
  mov rax, rdi
1:
  movdqa xmm1, [rax]
  pcmpeqb xmm1, xmm0
  pmovmskb edx, xmm1
  add rax, 16
  test edx, edx
  jz 1b
  bsf edx, edx
  lea rax, [rax + rdx - 16]
  sub rax, rdi
  add [r15 + 0x900], rax
  dec ecx
  jnz 2b
`;

describe.skipIf(!hasAssembler())('SSE compiled inline by the WebAssembly block compiler', () => {
  it('gives every inline form the interpreter’s results', () => {
    const [precompiled] = expectSame(ALL_FORMS);
    // the first round is interpreted, the 39 others run inline
    expect(precompiled.executorCalls).toBe(0);
  });

  it('runs glibc’s strlen loop without calling the executor once compiled', () => {
    const [precompiled] = expectSame(STRLEN);
    // the first round is interpreted; in the 29 others nothing but BSF (left to its executor)
    // leaves the compiled code
    expect(precompiled.executorCalls).toBe(29);
    expect(precompiled.regs.rax).toBe(BigInt(TEXT.length));
  });

  it('takes the executor for a misaligned MOVDQA (#GP) and a load across a page boundary', () => {
    // five rounds: loads across the data page's end each time, then a MOVDQA at an address that
    // is aligned until the last round
    expectSame(`
  mov ecx, 5
  mov ebx, 0x20
1:
  movdqu xmm1, [r15 + 0xff9]
  movq xmm2, [r15 + 0xffc]
  paddb xmm2, xmm1
  cmp ecx, 1
  jne 2f
  mov ebx, 0x18
2:
  movdqa xmm0, [r15 + rbx]
  paddd xmm0, xmm2
  dec ecx
  jnz 1b
`);
  });

  it('raises #NM for inline SSE while CR0.TS is set, and #UD without CR4.OSFXSR', () => {
    // the loop is compiled when the host changes CR0/CR4 after 2000 instructions
    const src = `
  mov ecx, 100000
1:
  pxor xmm0, xmm1
  paddb xmm1, [r15]
  dec ecx
  jnz 1b
`;
    const ts = expectSame(src, (c) => {
      c.cr0 |= 8;
    });
    expect(ts[0].exit.kind).not.toBe('hlt');
    expectSame(src, (c) => {
      c.cr4 &= ~0x200;
    });
  });
});
