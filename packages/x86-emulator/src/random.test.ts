/**
 * RDRAND/RDSEED against the architectural contract, at CPL3 in the flat long-mode image: CPUID
 * advertises them, a success writes the value (16-bit keeps bits 16-63, 32-bit zero-extends) with
 * CF = 1 and OF/SF/ZF/AF/PF = 0, a failing source gives 0 with CF = 0, the forms that are other
 * instructions (memory operand, F3 prefix) raise #UD, and the host source gives varied values
 * through both block compilers.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { EmulatedHypervisor } from './backend/hypervisor.js';
import { VEC } from './constants.js';
import { Cpu, type CpuOptions } from './cpu.js';
import { defaultCpuid, lookupCpuid } from './cpuid.js';
import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';
import { RANDOM_POOL_WORDS, type RandomSource, seededRandom } from './random.js';

const ONES = 0xffff_ffff_ffff_ffffn;
/** RFLAGS: CF PF AF ZF SF OF. */
const ARITH = 0x8d5n;

function userCpu(code: number[], options: CpuOptions = {}, wasm = false) {
  const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
  const mem = wasm ? GuestMemory.createWasm(spec) : GuestMemory.createShared(spec);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, new Uint8Array([...code, ...DONE_BYTES]));
  const cpu = new Cpu(mem, options);
  cpu.setSregs(flatSregs());
  cpu.setRegs({
    ...zeroRegs(),
    rip: BigInt(FLAT.CODE),
    rsp: BigInt(FLAT.USER_STACK),
    rcx: ONES,
    rdx: ONES,
    rax: ONES,
    rflags: 0x202n,
  });
  expect(cpu.cpl).toBe(3);
  return cpu;
}

function runToEnd(cpu: Cpu): void {
  const exit = cpu.run(1_000_000);
  expect(exit).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE });
}

/** A source handing out 1, 2, 3, ... times a constant, so each drawn word is known. */
function countingSource(): { source: RandomSource; word: (k: number) => bigint } {
  const word = (k: number) => BigInt(Math.imul(0x9e3779b1, k + 1) >>> 0);
  let fills = 0;
  return {
    source: (w) => {
      for (let k = 0; k < w.length; k++) w[k] = Number(word(fills * w.length + k));
      fills++;
    },
    word,
  };
}

// push 0x8d5 ; popfq: every arithmetic flag set before the instruction under test
const SET_FLAGS = [0x68, 0xd5, 0x08, 0x00, 0x00, 0x9d];
const RDRAND_RAX = [0x48, 0x0f, 0xc7, 0xf0];
const RDRAND_ECX = [0x0f, 0xc7, 0xf1];
const RDRAND_DX = [0x66, 0x0f, 0xc7, 0xf2];
const RDSEED_R9 = [0x49, 0x0f, 0xc7, 0xf9];
const PUSHF_POP_RSI = [0x9c, 0x5e];
const PUSHF_POP_RDI = [0x9c, 0x5f];

describe('RDRAND and RDSEED', () => {
  it('are advertised: CPUID.1:ECX bit 30 and CPUID.7.0:EBX bit 18, in the CPU table, the backend and to a CPL3 CPUID', () => {
    expect((lookupCpuid(defaultCpuid(), 1, 0)[2] >>> 30) & 1).toBe(1);
    expect((lookupCpuid(defaultCpuid(), 7, 0)[1] >>> 18) & 1).toBe(1);
    const backend = new EmulatedHypervisor().supportedCpuid();
    expect((lookupCpuid(backend, 1, 0)[2] >>> 30) & 1).toBe(1);
    expect((lookupCpuid(backend, 7, 0)[1] >>> 18) & 1).toBe(1);
    // mov eax, 1 ; cpuid ; mov esi, ecx ; mov eax, 7 ; xor ecx, ecx ; cpuid ; mov edi, ebx
    const cpu = userCpu([
      0xb8, 1, 0, 0, 0, 0x0f, 0xa2, 0x89, 0xce, 0xb8, 7, 0, 0, 0, 0x31, 0xc9, 0x0f, 0xa2, 0x89, 0xdf,
    ]);
    runToEnd(cpu);
    const r = cpu.getRegs();
    expect((r.rsi >> 30n) & 1n).toBe(1n);
    expect((r.rdi >> 18n) & 1n).toBe(1n);
  });

  it('write the source value at CPL3 with CF=1 and OF/SF/ZF/AF/PF cleared, by operand size', () => {
    const { source, word } = countingSource();
    const cpu = userCpu(
      [
        ...SET_FLAGS,
        ...RDRAND_RAX,
        ...PUSHF_POP_RSI,
        ...SET_FLAGS,
        ...RDRAND_ECX,
        ...RDRAND_DX,
        ...RDSEED_R9,
        ...PUSHF_POP_RDI,
      ],
      { random: source },
    );
    runToEnd(cpu);
    const r = cpu.getRegs();
    expect(r.rsi & ARITH).toBe(1n); // after RDRAND rax
    expect(r.rdi & ARITH).toBe(1n); // after RDSEED r9
    expect(r.rax).toBe((word(1) << 32n) | word(0));
    expect(r.rcx).toBe(word(2)); // a 32-bit destination is zero-extended
    expect(r.rdx).toBe((ONES & ~0xffffn) | (word(3) & 0xffffn)); // a 16-bit one keeps bits 16-63
    expect(r.r9).toBe((word(5) << 32n) | word(4));
  });

  it('report failure with CF=0 and a zero destination when the source fails', () => {
    const cpu = userCpu(
      [...SET_FLAGS, ...RDRAND_RAX, ...PUSHF_POP_RSI, ...SET_FLAGS, ...RDSEED_R9, ...PUSHF_POP_RDI],
      {
        random: () => {
          throw new Error('no entropy');
        },
      },
    );
    cpu.setRegs({ ...cpu.getRegs(), r9: ONES });
    runToEnd(cpu);
    const r = cpu.getRegs();
    expect(r.rax).toBe(0n);
    expect(r.r9).toBe(0n);
    expect(r.rsi & ARITH).toBe(0n);
    expect(r.rdi & ARITH).toBe(0n);
  });

  it('raise #UD for the forms that are other instructions: a memory operand, an F3 prefix (RDPID)', () => {
    for (const code of [
      [0x0f, 0xc7, 0x30], // 0F C7 /6 with a memory operand (VMPTRLD)
      [0x0f, 0xc7, 0x38], // 0F C7 /7 with a memory operand (VMPTRST)
      [0xf3, 0x0f, 0xc7, 0xf8], // F3 0F C7 /7: RDPID
      [0xf2, 0x0f, 0xc7, 0xf0],
    ]) {
      const cpu = userCpu(code);
      expect(cpu.run(100)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + VEC.UD });
    }
  });

  it('draw varied values from the host source, interpreted and compiled (JavaScript and WebAssembly)', () => {
    // rbx = 0, rdx = ~0 ; loop 3000 times: rdrand rax ; jnc fail ; or rbx, rax ; and rdx, rax ;
    // rdseed r8 ; jnc fail ; or rbx, r8 ; and rdx, r8 ; dec ecx ; jnz loop ; fail: (rcx != 0)
    const loop = [
      0x48, 0x0f, 0xc7, 0xf0, 0x73, 0x16, 0x48, 0x09, 0xc3, 0x48, 0x21, 0xc2, 0x49, 0x0f, 0xc7, 0xf8, 0x73,
      0x0a, 0x4c, 0x09, 0xc3, 0x4c, 0x21, 0xc2, 0xff, 0xc9, 0x75, 0xe4,
    ];
    const code = [0x31, 0xdb, 0xb9, 0xb8, 0x0b, 0, 0, ...loop];
    for (const [options, wasm] of [
      [{ jitThreshold: -1 }, false],
      [{ jit: 'js', jitThreshold: 16 }, false],
      [{ jitThreshold: 16, jitAsync: false }, true],
    ] as [CpuOptions, boolean][]) {
      const cpu = userCpu(code, options, wasm);
      runToEnd(cpu);
      const r = cpu.getRegs();
      expect(r.rcx).toBe(0n); // no failure
      // 6000 64-bit values: every bit was 1 in one of them and 0 in another
      expect(r.rbx).toBe(ONES);
      expect(r.rdx).toBe(0n);
      if (options.jitThreshold !== -1) expect(cpu.compiledBlocks).toBeGreaterThan(0);
    }
  });

  it('refill their pool from the source in blocks, and a seeded source repeats', () => {
    let calls = 0;
    const seeded = seededRandom(7);
    const cpu = userCpu(
      // mov ecx, n ; l: rdrand eax ; dec ecx ; jnz l
      [0xb9, ...u32(RANDOM_POOL_WORDS * 3), 0x0f, 0xc7, 0xf0, 0xff, 0xc9, 0x75, 0xf9],
      {
        random: (w) => {
          calls++;
          seeded(w);
        },
      },
    );
    runToEnd(cpu);
    expect(calls).toBe(3);
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    seededRandom(7)(a);
    seededRandom(7)(b);
    expect([...a]).toEqual([...b]);
    expect(new Set(a).size).toBe(4);
  });
});

function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
