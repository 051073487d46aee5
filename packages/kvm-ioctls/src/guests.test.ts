// The shared guest tests (./testing/guest-suite.ts) on KVM; the x86 emulator runs the same suite
// on its backend. Prints "skipped: kvm tests: /dev/kvm not available" where there is no /dev/kvm.
import { defineGuestSuite } from '@ts-vmm/hypervisor/testing';
import { kvmTestBackend } from './testing/index.js';

await defineGuestSuite(kvmTestBackend);
