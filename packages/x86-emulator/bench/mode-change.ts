/**
 * Benchmark: what a CR0/CR4 write costs the emulator, in a loop that also reads 512 pages (so the
 * TLB holds what a kernel's working set puts there and a flush has something to lose and refill).
 *
 * Per write, in µs (the loop's time with the writes minus its time without, over the writes; 16
 * rounds of the writes per iteration where they flush nothing):
 * - CR4 rewritten with its own value, CR4.TSD toggled, CR0.CD toggled (the MTRR/PAT setup path):
 *   no paging bit changes, so no TLB or decode-cache flush;
 * - EFER rewritten with its own value, EFER.SCE toggled: no NXE change, so no flush;
 * - CR4.PGE toggled (Linux's global TLB flush without INVPCID): every translation is dropped;
 * - CR0.PE toggled in real mode with paging off (a firmware's or boot loader's mode switches): the
 *   translations stay the same, only the decode mode changes.
 *
 * Prints, in the same run, the ratio of a flushing write (PGE) to the non-paging writes.
 * `pnpm --filter @ts-vmm/x86-emulator bench:mode` (BENCH_ITERATIONS to change
 * the loop count).
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu } from '../src/index.js';
import { buildFlatImage, FLAT, flatSregs } from '../src/testing.js';
import { assemble, hasAssembler } from '../test/assemble.js';

const ITER = Number(process.env.BENCH_ITERATIONS ?? 20000);
const PAGES = 512;
/** Where the loop reads its pages (inside the flat image's identity map, clear of code and data). */
const AREA = 0x800000;

if (!hasAssembler()) {
  console.log('skipped: GNU as/objcopy not available to assemble the workload');
  process.exit(0);
}

/** A 64-bit CPL0 loop: read PAGES pages, then `writes`, `n` times. */
function longModeLoop(writes: string, n: number): string {
  return `
  mov r12, ${n}
1:
  mov rsi, ${AREA}
  mov ecx, ${PAGES}
2:
  add rax, [rsi]
  add rsi, 4096
  dec ecx
  jnz 2b
${writes}
  dec r12
  jnz 1b
  mov byte ptr [${FLAT.MMIO_BASE + FLAT.DONE}], al
`;
}

function runLong(source: string, jit: 'wasm' | 'js'): number {
  const spec = [{ start: 0, size: FLAT.RAM_SIZE }];
  const mem = jit === 'js' ? GuestMemory.createShared(spec) : GuestMemory.createWasm(spec);
  buildFlatImage(mem);
  mem.writeBytes(FLAT.CODE, assemble(source));
  const cpu = new Cpu(mem, { jit, jitAsync: false });
  const s = flatSregs();
  const kds = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  cpu.setSregs({ ...s, cs: { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 }, ss: kds, ds: kds, es: kds });
  cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.KERNEL_STACK), rflags: 2n });
  const t0 = performance.now();
  const exit = cpu.run(Number.MAX_SAFE_INTEGER);
  const ms = performance.now() - t0;
  if (exit.kind !== 'mmio-write') throw new Error(`workload ended with ${JSON.stringify(exit)}`);
  return ms;
}

/** A 16-bit real-mode loop at 0x1000 (paging off): read the 16 pages of the data segment, then `writes`. */
function realModeLoop(writes: string, n: number): string {
  return `
  mov edi, ${n}
1:
  xor si, si
  mov cx, 16
2:
  add ax, [si]
  add si, 4096
  dec cx
  jnz 2b
${writes}
  dec edi
  jnz 1b
  hlt
`;
}

function runReal(source: string, jit: 'wasm' | 'js'): number {
  const spec = [{ start: 0, size: 1 << 20 }];
  const mem = jit === 'js' ? GuestMemory.createShared(spec) : GuestMemory.createWasm(spec);
  mem.writeBytes(0x1000, assemble(source, 16));
  const cpu = new Cpu(mem, { jit, jitAsync: false });
  cpu.resetRealMode(0, 0x1000);
  const t0 = performance.now();
  const exit = cpu.run(Number.MAX_SAFE_INTEGER);
  const ms = performance.now() - t0;
  if (exit.kind !== 'hlt') throw new Error(`workload ended with ${JSON.stringify(exit)}`);
  return ms;
}

/** Best of three (the least disturbed run), after one warm-up. */
function best(f: () => number): number {
  f();
  return Math.min(f(), f(), f());
}

/** Writes per iteration in the cases that flush nothing: enough to stand out of the loop's noise. */
const REPEAT = 16;

const CASES: { name: string; writes: string; count: number; real?: boolean; paging?: boolean }[] = [
  { name: 'CR4 rewritten unchanged', writes: '  mov rax, cr4\n  mov cr4, rax', count: 1 },
  {
    name: 'CR4.TSD toggled',
    writes: '  mov rbx, cr4\n  xor rbx, 4\n  mov cr4, rbx\n  xor rbx, 4\n  mov cr4, rbx',
    count: 2,
  },
  {
    name: 'CR0.CD toggled',
    writes: '  mov rbx, cr0\n  bts rbx, 30\n  mov cr0, rbx\n  btr rbx, 30\n  mov cr0, rbx',
    count: 2,
  },
  {
    name: 'CR0.PE toggled in real mode (paging off)',
    writes: '  mov ebx, cr0\n  or bl, 1\n  mov cr0, ebx\n  and bl, 0xfe\n  mov cr0, ebx',
    count: 2,
    real: true,
  },
  {
    name: 'EFER rewritten unchanged (rdmsr; wrmsr)',
    writes: '  mov ecx, 0xc0000080\n  rdmsr\n  wrmsr',
    count: 1,
  },
  {
    name: 'EFER.SCE toggled',
    writes: '  mov ecx, 0xc0000080\n  rdmsr\n  xor eax, 1\n  wrmsr\n  xor eax, 1\n  wrmsr',
    count: 2,
  },
  {
    name: 'CR4.PGE toggled (a global TLB flush)',
    writes: '  mov rbx, cr4\n  xor rbx, 0x80\n  mov cr4, rbx\n  xor rbx, 0x80\n  mov cr4, rbx',
    count: 2,
    paging: true,
  },
];

for (const jit of ['wasm', 'js'] as const) {
  console.log(`--- ${jit} block compiler: a loop of ${PAGES} page reads (16 in real mode) plus the writes`);
  const baseLong = best(() => runLong(longModeLoop('', ITER), jit)) / ITER;
  const baseReal = best(() => runReal(realModeLoop('', ITER), jit)) / ITER;
  console.log(
    `loop without writes: ${(baseLong * 1000).toFixed(3)} µs per iteration (long mode), ${(baseReal * 1000).toFixed(3)} µs (real mode)`,
  );
  let nonPaging = 0;
  let nonPagingN = 0;
  let paging = 0;
  for (const c of CASES) {
    // a flushing write costs the loop its translations: fewer iterations measure it as well
    const n = c.paging ? Math.ceil(ITER / 50) : ITER;
    const k = c.paging ? 1 : REPEAT;
    const writes = Array(k).fill(c.writes).join('\n');
    const ms = c.real
      ? best(() => runReal(realModeLoop(writes, n), jit))
      : best(() => runLong(longModeLoop(writes, n), jit));
    const us = (Math.max(ms / n - (c.real ? baseReal : baseLong), 0) * 1000) / (c.count * k);
    console.log(`${c.name.padEnd(42)} ${us.toFixed(3).padStart(8)} µs per write`);
    if (c.paging) paging = us;
    else {
      nonPaging += us;
      nonPagingN++;
    }
  }
  const avg = nonPaging / nonPagingN;
  console.log(
    `ratio: a paging-bit write (PGE) / a write that changes no paging bit (mean of the others) = ${(paging / Math.max(avg, 0.001)).toFixed(1)}x`,
  );
}
