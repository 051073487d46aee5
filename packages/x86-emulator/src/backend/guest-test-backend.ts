/**
 * The emulated backend's entry for the shared guest suite of `@ts-vmm/hypervisor/testing`
 * (`defineGuestSuite(emulatedTestBackend)` in `guests.test.ts`). Test-only: not exported from the
 * package entry.
 *
 * @module
 */
import type { Hypervisor } from '@ts-vmm/hypervisor';
import { distUrl, GUEST_MEMORY_SIZE, startWatchdog, type TestBackend } from '@ts-vmm/hypervisor/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { EmulatedHypervisor } from './hypervisor.js';

/**
 * Runs the shared guests on the emulated backend. Differences from KVM, as fields rather than in
 * the tests: SharedArrayBuffer memory (KVM: memfd); the watchdog thread kicks through the emulated
 * kicker (a shared flag); I/O event handlers run synchronously inside `run()`; `run()` also returns
 * `interrupted` every host time slice, so the kick tests use a hypervisor with a long slice.
 *
 * @example
 * ```ts
 * await defineGuestSuite(emulatedTestBackend);
 * ```
 */
export const emulatedTestBackend: TestBackend = {
  name: 'the emulated backend',
  available: () => true,
  unavailableReason: '',
  open: async (): Promise<Hypervisor> => new EmulatedHypervisor(),
  openUnsliced: async (): Promise<Hypervisor> => new EmulatedHypervisor({ runSliceMs: 60_000 }),
  createMemory: async (size = GUEST_MEMORY_SIZE) => GuestMemory.createShared([{ start: 0, size }]),
  startWatchdog: (vcpu, ms) =>
    startWatchdog(vcpu.kicker(), ms, {
      url: distUrl('@ts-vmm/x86-emulator', import.meta.url),
      exportName: 'openEmulatedKicker',
    }),
  ioEventsSynchronous: true,
};
