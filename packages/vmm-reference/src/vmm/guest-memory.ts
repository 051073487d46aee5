/**
 * Guest RAM for a backend: memfd-backed (shareable with KVM and worker threads) for KVM,
 * SharedArrayBuffer-backed for the emulator.
 *
 * @module
 */
import type { BackendKind } from '@ts-vmm/kvm-ioctls';
import { GuestMemory } from '@ts-vmm/vm-memory';
import type { RamRange } from '../config/memory-layout.js';
import { VmmError } from './errors.js';

/** Guest memory plus what the VMM must release with it. */
export interface VmmMemory {
  memory: GuestMemory;
  /** Unmaps the memory and closes its memfd (if any). */
  release(): void;
}

/**
 * Creates guest RAM for `backend` over `ranges`.
 * @example const { memory, release } = await createGuestMemory('kvm', ramLayout(256));
 */
export async function createGuestMemory(
  backend: BackendKind,
  ranges: readonly RamRange[],
): Promise<VmmMemory> {
  if (backend !== 'kvm') {
    const memory = GuestMemory.createShared(ranges);
    return { memory, release: () => memory.close() };
  }
  try {
    const memory = await GuestMemory.createMemfd(ranges, { name: 'ts-vmm-guest' });
    return { memory, release: () => memory.close() };
  } catch (e) {
    throw new VmmError(`cannot create memfd guest memory: ${(e as Error).message}`);
  }
}
