/**
 * The block compiler against the interpreter: the same programs, interpreted (jitThreshold -1) and
 * compiled (every block before its first run, and after a few runs), must end in the same registers,
 * flags, memory and instruction count, including when a fault, an instruction budget or a write to
 * the running code cuts a compiled loop short.
 */

import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { flatCpu, patternPage } from '../test/flat-cpu.js';
import { bignumProgram } from '../test/kernel-bignum.js';
import { Cpu, type CpuExit } from './cpu.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';
import { STATE_PAGES } from './wasm-jit.js';

interface Outcome {
  exit: CpuExit;
  regs: ReturnType<Cpu['getRegs']>;
  icount: number;
  data: Uint8Array;
  stack: Uint8Array;
  compiled: number;
}

/** The data page every program starts with. */
const DATA = patternPage(0x9e3779b9);

function runProgram(
  code: Uint8Array,
  jitThreshold: number,
  slice = 10_000_000,
  jit: 'wasm' | 'js' = 'wasm',
): Outcome {
  const { cpu, mem } = flatCpu(new Uint8Array([...code, ...DONE_BYTES]), DATA, { jitThreshold, jit });
  let exit = cpu.run(slice);
  for (let n = 0; exit.kind === 'instruction-limit' && n < 100_000; n++) exit = cpu.run(slice);
  return {
    exit,
    regs: cpu.getRegs(),
    icount: cpu.icount,
    data: mem.readBytes(FLAT.DATA, 4096),
    stack: mem.readBytes(FLAT.USER_STACK - 256, 256),
    compiled: cpu.compiledBlocks,
  };
}

function expectSame(src: string, slices: number[] = [10_000_000]): void {
  const code = assemble(src);
  const ref = runProgram(code, -1);
  expect(ref.exit.kind).not.toBe('internal-error');
  for (const [jit, engine] of [
    [0, 'wasm'],
    [3, 'wasm'],
    [0, 'js'],
    [3, 'js'],
  ] as const) {
    for (const slice of slices) {
      const got = runProgram(code, jit, slice, engine);
      expect(got.compiled).toBeGreaterThan(0);
      expect({ jit, engine, slice, exit: got.exit, regs: got.regs, icount: got.icount }).toEqual({
        jit,
        engine,
        slice,
        exit: ref.exit,
        regs: ref.regs,
        icount: ref.icount,
      });
      expect(Buffer.from(got.data).equals(Buffer.from(ref.data))).toBe(true);
      expect(Buffer.from(got.stack).equals(Buffer.from(ref.stack))).toBe(true);
    }
  }
}

/** Stores the six arithmetic flags (PUSHF) and a few registers to the data page at `slot`. */
const SAVE = (slot: number) => `
  pushfq
  pop r14
  and r14, 0x8d5
  mov [r15 + ${slot * 8}], r14
`;

describe.skipIf(!hasAssembler())('block compiler', () => {
  it('computes the kernel bignum loop (mpihelp_addmul_1) exactly, as a compiled loop', () => {
    expectSame(bignumProgram(50), [10_000_000, 7, 100]);
  });

  it('keeps flags exact through MUL, IMUL, rotates, shifts, INC/DEC, ADC/SBB and every condition', () => {
    // five rounds, so that the blocks also run compiled with jitThreshold 3
    let src =
      '  mov r13d, 5\ntop:\n  mov rbx, 0x8000000000000001\n  mov rcx, 0xfffffffffffffff3\n  mov edx, 7\n';
    const ops = [
      'mul rbx',
      'imul rcx, rbx',
      'imul ecx, ebx',
      'imul rdx, rcx, 3',
      'rol rbx, 7',
      'ror ecx, 31',
      'rol rbx, 32',
      'shl rbx, 63',
      'sar rcx, 40',
      'shr edx, 3',
      'inc rbx',
      'dec ecx',
      'adc rbx, rcx',
      'sbb edx, ecx',
      'add rcx, [r15 + 16]',
      'sub dword ptr [r15 + 24], 0x7fffffff',
      'cmp rbx, [r15 + 32]',
      'test dword ptr [r15 + 40], 0x80000000',
      'xor eax, eax',
      'neg rcx',
    ];
    let slot = 0;
    for (const op of ops) {
      src += `  ${op}\n`;
      for (const cc of ['o', 'b', 'z', 'be', 's', 'p', 'l', 'le']) {
        src += `  set${cc} al\n  setn${cc} ah\n  cmov${cc} r8, rbx\n  cmovn${cc} r9d, ecx\n`;
      }
      src += `  mov [r15 + ${2048 + slot * 8}], rax\n${SAVE(slot + 1)}`;
      slot++;
      // rotates whose flags a later instruction reads, and ones whose flags are dead
      src += `  rol rcx, 1\n  ror rbx, 5\n  jc 1f\n  add rdx, 1\n1:\n  ror rdx, 9\n  add rax, rdx\n`;
    }
    expectSame(`${src}  dec r13d\n  jnz top\n`);
  });

  it('stops a compiled loop at an MMIO read with the state and instruction count of that iteration', () => {
    // walks up through RAM until it reads past its end (16 MiB): an MMIO-read exit from inside the loop
    expectSame(
      `
  mov rsi, 0xff0000
  xor eax, eax
1:
  add rax, [rsi]
  rol rax, 3
  add rsi, 512
  cmp rax, rsi
  jne 1b
`,
      [10_000_000, 13],
    );
  });

  it('stops a compiled loop at a fault raised by an executor (#DE) with the exact state', () => {
    expectSame(
      `
  mov ecx, 20
  mov eax, 1000
1:
  xor edx, edx
  mov ebx, ecx
  sub ebx, 7
  div ebx
  rol eax, 1
  add eax, 1000
  dec ecx
  jnz 1b
`,
      [10_000_000, 5],
    );
  });

  it('follows indirect JMP and CALL through registers, memory and RSP-relative slots', () => {
    // a jump table in the data page, a PLT-style `jmp [rip + slot]`, `call reg`, `call [rsp + 8]`
    expectSame(`
  lea rax, [rip + 5f]
  mov [r15 + 0x100], rax
  lea rax, [rip + 6f]
  mov [r15 + 0x108], rax
  lea rbx, [rip + 7f]
  mov ecx, 30
  xor edx, edx
1:
  mov rsi, rcx
  and esi, 1
  jmp [r15 + 0x100 + rsi * 8]
5:
  add edx, 3
  call rbx
  jmp 8f
6:
  add edx, 5
  push rbx
  push rbx
  call [rsp + 8]
  add rsp, 16
8:
  dec ecx
  jnz 1b
  jmp 9f
7:
  add edx, ecx
  ret
9:
`);
  });

  it('raises #GP for an indirect JMP or CALL to a non-canonical address, with RIP at the branch', () => {
    for (const op of ['jmp', 'call'])
      expectSame(`
  mov ecx, 5
  mov rax, 0x12345
  lea rbx, [rip + 2f]
1:
  cmp ecx, 1
  jne 3f
  mov rbx, rax
  shl rbx, 40
3:
  ${op} rbx
2:
  ${op === 'call' ? 'pop rdi' : 'nop'}
  dec ecx
  jnz 1b
`);
  });

  it('leaves a compiled block after it writes its own code', () => {
    // on its 5th iteration the loop patches the 32-bit immediate of an ADD later in the same block
    expectSame(`
  mov ecx, 10
  xor ebx, ebx
  lea rdi, [rip + 2f + 2]
1:
  cmp ecx, 5
  jne 3f
  mov dword ptr [rdi], 100
2:
  add ebx, 0x12345678
  dec ecx
  jnz 1b
  jmp 4f
3:
  add ebx, 1
  dec ecx
  jnz 1b
4:
`);
  });
});

describe.skipIf(!hasAssembler())('WebAssembly block compiler shared by two CPUs', () => {
  it('runs code compiled by one CPU on another with that CPU’s own registers, flags and memory', () => {
    // sums a table and returns flags: the same code, different inputs per CPU
    const code = assemble(`
  mov ecx, 64
  xor eax, eax
1:
  add rax, [r15 + rcx*8]
  rol rax, 5
  dec ecx
  jnz 1b
  cmp rax, rbx
  setb dl
  mov [r15 + 2048], rax
`);
    const mem = GuestMemory.createWasm([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    mem.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
    mem.writeBytes(FLAT.DATA, DATA);
    const run = (cpu: Cpu, rbx: bigint, r15: number) => {
      cpu.setSregs(flatSregs());
      cpu.setRegs({
        ...zeroRegs(),
        rip: BigInt(FLAT.CODE),
        rsp: BigInt(FLAT.USER_STACK),
        r15: BigInt(r15),
        rbx,
        rflags: 0x202n,
      });
      let exit = cpu.run(1_000_000);
      while (exit.kind === 'instruction-limit') exit = cpu.run(1_000_000);
      return { exit, regs: cpu.getRegs(), icount: cpu.icount };
    };
    // reference: the interpreter on its own memory
    const refFor = (rbx: bigint, r15: number) => {
      const m = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
      buildFlatImage(m);
      m.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
      m.writeBytes(FLAT.DATA, DATA);
      const r = run(new Cpu(m, { jitThreshold: -1 }), rbx, r15);
      return { ...r, out: m.readBytes(r15 + 2048, 8) };
    };
    const a = new Cpu(mem, { jitThreshold: 0 });
    const b = new Cpu(mem, { jitThreshold: 0 });
    b.shareDecodeCache(a);
    expect(b.wasmJit).toBe(a.wasmJit);
    const ra = run(a, 0n, FLAT.DATA);
    expect(a.compiledBlocks).toBeGreaterThan(0);
    const rb = run(b, -1n, FLAT.DATA + 8);
    expect(b.compiledBlocks).toBe(0); // it ran the code the first CPU compiled
    const refA = refFor(0n, FLAT.DATA);
    const refB = refFor(-1n, FLAT.DATA + 8);
    expect({ exit: ra.exit, regs: ra.regs, icount: ra.icount }).toEqual({
      exit: refA.exit,
      regs: refA.regs,
      icount: refA.icount,
    });
    expect({ exit: rb.exit, regs: rb.regs, icount: rb.icount }).toEqual({
      exit: refB.exit,
      regs: refB.regs,
      icount: refB.icount,
    });
    expect(ra.regs.rax).not.toBe(rb.regs.rax);
  });
});

describe('WebAssembly block compiler: memory without room for its state', () => {
  it('falls back to the JavaScript compiler when the memory cannot grow, and says so when a vCPU cannot share', () => {
    const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
    const none = new Cpu(GuestMemory.createWasm(spec, { growRoom: 0 }));
    expect(none.wasmJit).toBeNull();
    expect(none.wasmState).toBeNull();
    expect(none.jitThreshold).toBe(4000); // the JavaScript compiler's default
    // room for one state area: the first CPU compiles to WebAssembly, a second cannot join it
    const mem = GuestMemory.createWasm(spec, { growRoom: STATE_PAGES * 65536 });
    const a = new Cpu(mem);
    const b = new Cpu(mem);
    expect(a.wasmJit).not.toBeNull();
    expect(b.wasmState).toBeNull();
    expect(() => b.shareDecodeCache(a)).toThrow(/state area could not be allocated/);
    // plain SharedArrayBuffer memory never uses it
    expect(new Cpu(GuestMemory.createShared(spec)).wasmJit).toBeNull();
  });
});
