/**
 * The KVM entry of the shared guest tests (`@ts-vmm/kvm-ioctls/testing`): {@link kvmTestBackend}
 * and {@link testBackends}. The guests, the suite and the watchdog are `@ts-vmm/hypervisor/testing`.
 *
 * @packageDocumentation
 */
export * from './kvm-backend.js';
