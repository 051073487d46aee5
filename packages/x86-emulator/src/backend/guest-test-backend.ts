/**
 * The emulated backend's entry for the shared guest suite of `@ts-vmm/kvm-ioctls/testing`
 * (`defineGuestSuite(emulatedTestBackend)` in `guests.test.ts`). Test-only: not exported from the
 * package entry.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Hypervisor } from '@ts-vmm/kvm-ioctls';
import { GUEST_MEMORY_SIZE, startWatchdog, type TestBackend } from '@ts-vmm/kvm-ioctls/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { EmulatedHypervisor } from './hypervisor.js';

/** `file:` URL of this package's built entry: watchdog threads import `openEmulatedKicker` from it. */
function builtEntryUrl(): string {
  const url = new URL('../../dist/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`${fileURLToPath(url)} is missing: build @ts-vmm/x86-emulator first (pnpm build)`);
  return url.href;
}

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
    startWatchdog(vcpu.kicker(), ms, { url: builtEntryUrl(), exportName: 'openEmulatedKicker' }),
  ioEventsSynchronous: true,
};
