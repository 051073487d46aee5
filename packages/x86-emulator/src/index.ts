/**
 * A pure-TypeScript x86-64 CPU for ts-vmm: real, protected, compatibility and long mode, paging with a
 * software TLB, decoded-block cache with self-modifying-code invalidation, lazy flags, x87/SSE/SSE2,
 * exceptions and interrupts. See {@link Cpu}.
 *
 * @packageDocumentation
 */

export * from './backend/index.js';
export { ARITH_FLAGS, CR0, CR4, EFER, MODE, PFERR, RFLAGS, SEG, VEC } from './constants.js';
export { Cpu, type CpuExit, type CpuOptions } from './cpu.js';
export { defaultCpuid, LEAF1_ECX, LEAF1_EDX, lookupCpuid } from './cpuid.js';
export { decodeBlock, decodeOne, MAX_BLOCK } from './decoder.js';
export { hex, X86EmulatorError, type X86EmulatorErrorKind } from './errors.js';
export { GuestFault, UndefinedOpcode } from './fault.js';
export { buildFlatImage, DONE_BYTES, FLAT, flatSregs, zeroRegs } from './flat-long-mode.js';
export { type Handler, Insn } from './insn.js';
export { type CompiledBlock, compileBlock } from './jit.js';
export { ARCH_CAPABILITIES_NOT_AFFECTED, MSR, MsrFile, type MsrHandler, type MsrWriteHook } from './msr.js';
export * from './platform/index.js';
export { TLB_SIZE, Tlb } from './tlb.js';
export { STATE_BYTES, WASM_JIT_THRESHOLD, WasmJit, WasmState } from './wasm-jit.js';
export { readExtended, writeExtended, X87 } from './x87.js';
