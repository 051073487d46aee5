/**
 * @packageDocumentation
 * Raw KVM bindings: a small node-addon-api addon (ioctl, mmap, memfd, eventfd, fd watching, vCPU
 * kick) and the KVM ABI in TypeScript (ioctl numbers, capabilities, exit reasons, byte-exact struct
 * layouts). Everything except `loadAddon()` and what it returns is pure TypeScript and works on any host.
 *
 * @example
 * import { loadAddon, KVM_GET_API_VERSION, O_RDWR } from '@ts-vmm/kvm-sys';
 * const addon = loadAddon();
 * const kvm = addon.open('/dev/kvm', O_RDWR);
 * console.log(addon.ioctl(kvm, KVM_GET_API_VERSION)); // 12
 */
export * from './addon.js';
export * from './errors.js';
export * from './ioctl-numbers.js';
export * from './kvm-constants-newer.js';
export * from './structs/index.js';
