/** The backends the reliability tests run on here, each with a skip line when it is missing. */
import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { backendAvailable } from '../../src/vmm/backend.js';

export type BackendName = 'kvm' | 'emulated';

const kvm = hasKvm();
const emulated = (await backendAvailable('emulated')).ok;

/** `[name, available]` for KVM and the emulator; prints `skipped:` for each missing one. */
export function reliabilityBackends(what: string): { name: BackendName; ok: boolean }[] {
  if (!kvm) console.log(`skipped: ${what} on KVM (/dev/kvm not available)`);
  if (!emulated) console.log(`skipped: ${what} on the emulated backend (not available)`);
  return [
    { name: 'kvm', ok: kvm },
    { name: 'emulated', ok: emulated },
  ];
}

/** Whether the emulated backend can run here. */
export const emulatedAvailable = emulated;
