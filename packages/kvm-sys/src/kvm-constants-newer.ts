// KVM ABI constants newer than the uapi headers installed here (Debian 12: Linux 6.1), with values
// from mainline include/uapi/linux/kvm.h (Linux 6.8+). The layout test compares each one with the
// installed header when the header defines it, and skips it (saying so) when it does not.
// Numbers, once in mainline uapi, never change.

/** kvm_run.exit_reason: KVM could not resolve a guest memory access (Linux 6.8+, KVM_CAP_MEMORY_FAULT_INFO). */
export const KVM_EXIT_MEMORY_FAULT = 39;
/** kvm_run.memory_fault.flags: the access was to private (guest_memfd) memory. */
export const KVM_MEMORY_EXIT_FLAG_PRIVATE = 8;
/** Capability `KVM_CAP_USER_MEMORY2` (KVM_SET_USER_MEMORY_REGION2; Linux 6.8+). */
export const KVM_CAP_USER_MEMORY2 = 231;
/** Capability `KVM_CAP_MEMORY_FAULT_INFO` (KVM_EXIT_MEMORY_FAULT; Linux 6.8+). */
export const KVM_CAP_MEMORY_FAULT_INFO = 232;
/** Capability `KVM_CAP_MEMORY_ATTRIBUTES` (Linux 6.8+). */
export const KVM_CAP_MEMORY_ATTRIBUTES = 233;
/** Capability `KVM_CAP_GUEST_MEMFD` (Linux 6.8+). */
export const KVM_CAP_GUEST_MEMFD = 234;
/** Capability `KVM_CAP_VM_TYPES` (Linux 6.8+). */
export const KVM_CAP_VM_TYPES = 235;

/**
 * Names of the constants above, for tools that compare against older headers.
 * @example UAPI_NEWER_CONSTANTS.includes('KVM_EXIT_MEMORY_FAULT') // true
 */
export const UAPI_NEWER_CONSTANTS: readonly string[] = [
  'KVM_EXIT_MEMORY_FAULT',
  'KVM_MEMORY_EXIT_FLAG_PRIVATE',
  'KVM_CAP_USER_MEMORY2',
  'KVM_CAP_MEMORY_FAULT_INFO',
  'KVM_CAP_MEMORY_ATTRIBUTES',
  'KVM_CAP_GUEST_MEMFD',
  'KVM_CAP_VM_TYPES',
];
