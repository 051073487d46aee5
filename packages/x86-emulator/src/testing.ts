/**
 * Fixtures for tests, benchmarks and the differential tester (`@ts-vmm/x86-emulator/testing`), not
 * needed to build a VMM: the flat long-mode image, a ready-made 64-bit environment for running
 * code at CPL3 (identity-mapped page tables, GDT, TSS, and an IDT whose stubs report each exception
 * as an MMIO write), and which exception vectors push an error code.
 *
 * @example
 * ```ts
 * import { zeroRegs } from '@ts-vmm/hypervisor';
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { Cpu } from '@ts-vmm/x86-emulator';
 * import { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from '@ts-vmm/x86-emulator/testing';
 *
 * const mem = GuestMemory.createShared([{ start: 0, size: FLAT.RAM_SIZE }]);
 * buildFlatImage(mem);
 * mem.writeBytes(FLAT.CODE, new Uint8Array([0x48, 0xff, 0xc0, ...DONE_BYTES])); // inc rax; done
 * const cpu = new Cpu(mem);
 * cpu.setSregs(flatSregs());
 * cpu.setRegs({ ...zeroRegs(), rip: BigInt(FLAT.CODE), rsp: BigInt(FLAT.USER_STACK), rflags: 0x202n });
 * cpu.run(100); // { kind: 'mmio-write', address: FLAT.MMIO_BASE + FLAT.DONE, ... }, rax = 1
 * ```
 *
 * @packageDocumentation
 */
export { hasErrorCode } from './exceptions.js';
export { buildFlatImage, DONE_BYTES, FLAT, flatSregs } from './flat-long-mode.js';
