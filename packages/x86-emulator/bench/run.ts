/**
 * Benchmark: a CPL3 64-bit compute workload (integer arithmetic, memory copy, branches, calls) run on
 * the emulator and natively under KVM in the same run. Prints guest instructions per second, the
 * slowdown ratio against KVM, and the TLB and decode-cache hit rates.
 *
 * Each workload runs with both block compilers (WebAssembly, the default where RAM is a
 * WebAssembly.Memory, and JavaScript). `pnpm bench` (BENCH_ITERATIONS to change the outer loop
 * count, BENCH_JIT_THRESHOLD the compile threshold).
 */
import { GuestMemory } from '@ts-vmm/vm-memory';
import type { Cpu } from '../src/index.js';
import { buildFlatImage, FLAT } from '../src/testing.js';
import { assemble, hasAssembler } from '../test/assemble.js';
import type { GenCase } from '../test/difftest/generator.js';
import { hasKvm, runKvm } from '../test/difftest/runner.js';
import { flatCpu, patternPage } from '../test/flat-cpu.js';
import { bignumProgram } from '../test/kernel-bignum.js';

const ITER = Number(process.env.BENCH_ITERATIONS ?? 20000);
const JIT =
  process.env.BENCH_JIT_THRESHOLD === undefined ? undefined : Number(process.env.BENCH_JIT_THRESHOLD);

const MIXED = `
  mov r12, ${ITER}
  mov rax, 0x12345
  mov rbx, 0x9e3779b9
outer:
  mov ecx, 32
1:
  imul rax, rbx
  add rax, rcx
  xor rdx, rax
  rol rdx, 13
  sub rdx, rcx
  dec ecx
  jnz 1b
  lea rsi, [r15]
  lea rdi, [r15 + 2048]
  mov ecx, 32
2:
  mov r8, [rsi]
  mov [rdi], r8
  add rsi, 8
  add rdi, 8
  dec ecx
  jnz 2b
  mov ecx, 16
3:
  call func
  test eax, 1
  jz 4f
  add r9, rax
4:
  cmp rdx, r9
  cmovb r10, rdx
  dec ecx
  jnz 3b
  dec r12
  jnz outer
  mov byte ptr [${FLAT.MMIO_BASE + FLAT.DONE}], al
func:
  lea rax, [rax + rdx*2 + 1]
  movzx r11d, al
  shr rax, 3
  ret
`;

/** The kernel's bignum loop (see test/kernel-bignum.ts), then the end-of-run marker. */
const BIGNUM = `${bignumProgram(ITER * 4)}  mov byte ptr [${FLAT.MMIO_BASE + FLAT.DONE}], al
`;

if (!hasAssembler()) {
  console.log('skipped: GNU as/objcopy not available to assemble the workload');
  process.exit(0);
}
/** Data the workloads read: a fixed pseudo-random pattern (same bytes for the emulator and KVM). */
const DATA = patternPage(0x2545f491);

function runEmulator(
  code: Uint8Array,
  jit: 'wasm' | 'js',
): {
  instructions: number;
  ms: number;
  stats: ReturnType<Cpu['stats']>;
} {
  // one synchronous run: the WebAssembly compiler compiles on the spot (no event-loop turn to
  // finish a background compile)
  const { cpu } = flatCpu(code, DATA, { jitThreshold: JIT, jit, jitAsync: false });
  const t0 = performance.now();
  const exit = cpu.run(Number.MAX_SAFE_INTEGER);
  const ms = performance.now() - t0;
  if (exit.kind !== 'mmio-write' || exit.address !== FLAT.MMIO_BASE + FLAT.DONE)
    throw new Error(`workload ended with ${JSON.stringify(exit)}`);
  return { instructions: cpu.icount, ms, stats: cpu.stats() };
}

function measure(name: string, source: string): void {
  const code = assemble(source);
  console.log(`--- ${name}`);
  const res = { wasm: runEmulator(code, 'wasm'), js: runEmulator(code, 'js') };
  for (const jit of ['wasm', 'js'] as const) {
    // the first run above warmed V8 up (it optimises the emulator itself); this one is measured
    const r = runEmulator(code, jit);
    res[jit] = r;
    if (jit === 'wasm')
      console.log(`workload: ${r.instructions} guest instructions (${ITER} outer iterations)`);
    console.log(
      `emulator (${jit} block compiler): ${r.ms.toFixed(1)} ms, ${(r.instructions / r.ms / 1000).toFixed(1)} M instructions/s`,
    );
  }
  const st = res.js.stats; // the WebAssembly code's TLB hits are not counted
  console.log(
    `emulator caches (js compiler): TLB hit rate ${(st.tlbHitRate * 100).toFixed(3)}% (${st.tlbMisses} misses), ` +
      `decode-cache hit rate ${(st.decodeHitRate * 100).toFixed(3)}% (${st.blockMisses} block decodes)`,
  );
  const emu = res.wasm;

  if (hasKvm()) {
    const gen: GenCase = {
      asm: '',
      instructions: 0,
      undefFlags: 0,
      regs: new Array(16).fill(0n),
      data: DATA,
      xmm: new Uint8Array(256),
    };
    const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
    buildFlatImage(mem);
    const base = mem.readBytes(0, 0x100000);
    runKvm(base, [gen], [code]);
    const kvm = runKvm(base, [gen], [code])[0];
    if (kvm.kind !== 0) throw new Error(`KVM run ended with kind ${kvm.kind}`);
    const kvmMs = kvm.usec / 1000;
    console.log(
      `kvm (native CPL3): ${kvmMs.toFixed(2)} ms, ${(emu.instructions / kvmMs / 1000).toFixed(0)} M instructions/s`,
    );
    console.log(
      `slowdown: emulator / kvm = ${(emu.ms / kvmMs).toFixed(1)}x (wasm compiler), ${(res.js.ms / kvmMs).toFixed(1)}x (js compiler)`,
    );
  } else {
    console.log('kvm: skipped: /dev/kvm not available (no native baseline)');
  }
}

measure('mixed: integer ALU, copies, calls, branches', MIXED);
measure("bignum: the kernel's mpihelp_addmul_1 loop (32 limbs)", BIGNUM);
