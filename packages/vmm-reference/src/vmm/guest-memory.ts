/**
 * Guest RAM for a backend: memfd-backed (shareable with KVM and worker threads) for KVM; for the
 * emulator, inside one shared WebAssembly.Memory when it fits (so the emulator's WebAssembly block
 * compiler reaches RAM directly), else one SharedArrayBuffer per range.
 *
 * @module
 */
import type { BackendKind } from '@ts-vmm/hypervisor';
import { GuestMemory, GuestMemoryError, wasmLayout } from '@ts-vmm/vm-memory';
import type { RamRange } from '../config/memory-layout.js';
import { VmmError } from './errors.js';

/**
 * Room left in the emulator's WebAssembly.Memory above guest RAM, for the emulator's own state
 * (registers, TLB: it takes it with `wasmMemory.grow()`, once per vCPU).
 */
export const EMULATOR_WASM_GROW_ROOM = 16 << 20;

/** Guest memory plus what the VMM must release with it. */
export interface VmmMemory {
  memory: GuestMemory;
  /** Unmaps the memory and closes its memfd (if any). */
  release(): void;
}

/**
 * Creates guest RAM for `backend` over `ranges`.
 *
 * - `'kvm'`: one memfd mmap'd per range (`GuestMemory.createMemfd`), which KVM registers as memory
 *   slots and vCPU worker threads map again.
 * - `'emulated'`: every range inside one shared `WebAssembly.Memory` (`GuestMemory.createWasm`, with
 *   {@link EMULATOR_WASM_GROW_ROOM} spare), when RAM plus that room fits in wasm32's 4 GiB, which
 *   is up to about 3 GiB of RAM with the VMM's MMIO hole; larger RAM (or an engine that refuses the
 *   allocation) gets one SharedArrayBuffer per range (`GuestMemory.createShared`), which the
 *   emulator runs on as well, without its WebAssembly compiler.
 *
 * @example const { memory, release } = await createGuestMemory('kvm', ramLayout(256));
 */
export async function createGuestMemory(
  backend: BackendKind,
  ranges: readonly RamRange[],
): Promise<VmmMemory> {
  if (backend !== 'kvm') {
    const memory = createEmulatorMemory(ranges);
    return { memory, release: () => memory.close() };
  }
  try {
    const memory = await GuestMemory.createMemfd(ranges, { name: 'ts-vmm-guest' });
    return { memory, release: () => memory.close() };
  } catch (e) {
    throw new VmmError('memory', `cannot create memfd guest memory: ${(e as Error).message}`, { cause: e });
  }
}

function createEmulatorMemory(ranges: readonly RamRange[]): GuestMemory {
  if (wasmLayout(ranges, EMULATOR_WASM_GROW_ROOM).fits) {
    try {
      return GuestMemory.createWasm(ranges, { growRoom: EMULATOR_WASM_GROW_ROOM });
    } catch (e) {
      // the engine refused the memory (address space, for one): plain SharedArrayBuffers will do
      if (!(e instanceof GuestMemoryError && e.kind === 'backing')) throw e;
    }
  }
  return GuestMemory.createShared(ranges);
}
