// Conformance: the shared guest suite of @ts-vmm/hypervisor/testing, the one packages/kvm-ioctls
// runs on KVM, with the same expectations on the emulated backend. The backend differences are
// fields of emulatedTestBackend (./guest-test-backend.ts).
import { defineGuestSuite } from '@ts-vmm/hypervisor/testing';
import { emulatedTestBackend } from './guest-test-backend.js';

await defineGuestSuite(emulatedTestBackend);
