/**
 * The KVM entry of the shared guest tests.
 *
 * @module
 */

import type { Hypervisor } from '@ts-vmm/hypervisor';
import { distUrl, GUEST_MEMORY_SIZE, startWatchdog, type TestBackend } from '@ts-vmm/hypervisor/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { hasKvm, openKvm } from '../backend/kvm-hypervisor.js';

/**
 * Runs the shared guests on `/dev/kvm` with memfd-backed memory.
 * @example if (kvmTestBackend.available()) await kvmTestBackend.open();
 */
export const kvmTestBackend: TestBackend = {
  name: 'kvm',
  available: () => hasKvm(),
  unavailableReason: '/dev/kvm not available',
  open: (): Promise<Hypervisor> => openKvm(),
  createMemory: (size = GUEST_MEMORY_SIZE) => GuestMemory.createMemfd([{ start: 0, size }]),
  startWatchdog: (vcpu, ms) =>
    startWatchdog(vcpu.kicker(), ms, {
      url: distUrl('@ts-vmm/kvm-ioctls', import.meta.url),
      exportName: 'openKvmKicker',
    }),
  ioEventsSynchronous: false,
};

/**
 * The backends to run shared guest tests on; prints a "skipped" line for each one unavailable here.
 * @example
 * ```ts
 * // src/guests.test.ts
 * import { defineGuestSuite } from '@ts-vmm/hypervisor/testing';
 * for (const backend of testBackends()) await defineGuestSuite(backend);
 * ```
 */
export function testBackends(extra: readonly TestBackend[] = []): TestBackend[] {
  const all = [kvmTestBackend, ...extra];
  for (const b of all) if (!b.available()) console.log(`skipped: ${b.name} tests: ${b.unavailableReason}`);
  return all;
}
