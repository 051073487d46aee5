/**
 * Chained block links and the WebAssembly dispatcher's cache survive privilege changes (a system
 * call or an interrupt from user space no longer breaks every chain) but are followed only at the
 * CPL they were made at: a link made in the kernel from code on a user page to code on a
 * supervisor-only page must not let user code past the fetch's permission check.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { describe, expect, it } from 'vitest';
import { assemble, hasAssembler } from '../test/assemble.js';
import { flatCpu } from '../test/flat-cpu.js';
import type { Cpu } from './cpu.js';
import { DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';

/** A supervisor-only 2 MiB page (the flat image's pages are all user pages). */
const KERNEL_PAGE = 0xa00000;

/** CPL0 registers for the flat image: kernel CS and SS/DS. */
function kernelSregs(): ReturnType<typeof flatSregs> {
  const s = flatSregs();
  const data = { ...s.ds, selector: FLAT.KERNEL_DS, dpl: 0 };
  return { ...s, cs: { ...s.cs, selector: FLAT.KERNEL_CS, dpl: 0 }, ds: data, es: data, ss: data };
}

function run(c: Cpu): ReturnType<Cpu['run']> {
  let exit = c.run(1_000_000);
  for (let n = 0; exit.kind === 'instruction-limit' && n < 100; n++) exit = c.run(1_000_000);
  return exit;
}

describe.skipIf(!hasAssembler())('block links across privilege levels', () => {
  for (const [jitThreshold, jit] of [
    [-1, 'wasm'],
    [0, 'wasm'],
    [0, 'js'],
  ] as const)
    it(`are not followed at another CPL (jitThreshold ${jitThreshold}, ${jit})`, () => {
      // user page: jump to the kernel page. Kernel page: count; 50 times back to the user page at
      // CPL0 (linking the user page's block to the kernel page's), then IRETQ to the user page at
      // CPL3, whose jump to the kernel page must fault there
      const user = assemble(`
  mov rax, ${KERNEL_PAGE}
  jmp rax
`);
      const kernel = assemble(`
  inc ecx
  cmp ecx, 50
  jae 1f
  mov rbx, ${FLAT.CODE}
  jmp rbx
1:
  push ${FLAT.USER_DS}
  push ${FLAT.USER_STACK}
  push 2
  push ${FLAT.USER_CS}
  push rbx
  iretq
`);
      const { cpu, mem } = flatCpu(user, new Uint8Array(4096), { jitThreshold, jit });
      mem.write32(FLAT.PD + (KERNEL_PAGE >> 21) * 8, KERNEL_PAGE | 0x83); // present, writable, large, not user
      mem.writeBytes(KERNEL_PAGE, new Uint8Array([...kernel, ...DONE_BYTES]));
      cpu.setSregs(kernelSregs());
      cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.KERNEL_STACK), rflags: 2n });
      // (following the kernel's link at CPL3 would run the kernel page: ECX 51 and the DONE write)
      expect(run(cpu)).toMatchObject({ kind: 'mmio-write', address: FLAT.MMIO_BASE + 14 }); // #PF
      expect(cpu.getRegs().rcx).toBe(50n);
      expect(cpu.cr2).toBe(KERNEL_PAGE);
    });
});
