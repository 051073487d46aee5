// Conformance: the shared guest suite of @ts-vmm/kvm-ioctls/testing, the one packages/kvm-ioctls
// runs on KVM, with the same expectations on the emulated backend. The backend differences are
// fields of emulatedTestBackend (./guest-test-backend.ts).
import { defineGuestSuite } from '@ts-vmm/kvm-ioctls/testing';
import { emulatedTestBackend } from './guest-test-backend.js';

await defineGuestSuite(emulatedTestBackend);
