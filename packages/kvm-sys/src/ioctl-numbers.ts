// KVM ioctl request numbers and ABI constants, as unsigned 32-bit numbers.
//
// Generated from <linux/kvm.h> and <asm/kvm.h> (x86-64) and checked against them at test time by
// src/structs/layout.test.ts, which compiles a C program printing every constant exported here.
// Ioctl numbers are built with the same _IO/_IOR/_IOW/_IOWR encoding as <asm-generic/ioctl.h>;
// the third argument is sizeof() the argument type on x86-64.

/** Ioctl direction bits (asm-generic). */
export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/**
 * Encodes an ioctl request number like the kernel's `_IOC(dir, type, nr, size)` macro.
 * The result is an unsigned 32-bit number (it may exceed 2^31).
 * @example
 * _IOC(IOC_READ | IOC_WRITE, 0xae, 0x05, 8) === 0xc008ae05; // KVM_GET_SUPPORTED_CPUID
 */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | ((size & 0x3fff) << 16) | ((type & 0xff) << 8) | (nr & 0xff)) >>> 0;
}
/** `_IO(type, nr)`: no argument. @example _IO(KVMIO, 0x80) === KVM_RUN */
export function _IO(type: number, nr: number): number {
  return _IOC(IOC_NONE, type, nr, 0);
}
/** `_IOR(type, nr, size)`: the kernel writes `size` bytes to the argument. @example _IOR(KVMIO, 0x81, 144) === KVM_GET_REGS */
export function _IOR(type: number, nr: number, size: number): number {
  return _IOC(IOC_READ, type, nr, size);
}
/** `_IOW(type, nr, size)`: the kernel reads `size` bytes from the argument. @example _IOW(KVMIO, 0x82, 144) === KVM_SET_REGS */
export function _IOW(type: number, nr: number, size: number): number {
  return _IOC(IOC_WRITE, type, nr, size);
}
/** `_IOWR(type, nr, size)`: both directions. @example _IOWR(KVMIO, 0x05, 8) === KVM_GET_SUPPORTED_CPUID */
export function _IOWR(type: number, nr: number, size: number): number {
  return _IOC(IOC_READ | IOC_WRITE, type, nr, size);
}

/** The ioctl "type" byte of all KVM ioctls. */
export const KVMIO = 0xae;
/** The only stable KVM API version; `KVM_GET_API_VERSION` must return it. */
export const KVM_API_VERSION = 12;

// ---- System ioctls (on the /dev/kvm fd)

/** system ioctl `KVM_GET_API_VERSION`; parameters: none; returns: the constant KVM_API_VERSION (=12). */
export const KVM_GET_API_VERSION = _IO(KVMIO, 0x00);
/** system ioctl `KVM_CREATE_VM`; parameters: machine type identifier (KVM_VM_*); returns: a VM fd that can be used to control the new virtual machine.. */
export const KVM_CREATE_VM = _IO(KVMIO, 0x01);
/** system ioctl `KVM_GET_MSR_INDEX_LIST`; parameters: struct kvm_msr_list (in/out); returns: 0 on success; -1 on error. */
export const KVM_GET_MSR_INDEX_LIST = _IOWR(KVMIO, 0x02, 4 /* sizeof(struct kvm_msr_list) */);
/** system, vm ioctl `KVM_CHECK_EXTENSION`; parameters: extension identifier (KVM_CAP_*); returns: 0 if unsupported; 1 (or some other positive integer) if supported. */
export const KVM_CHECK_EXTENSION = _IO(KVMIO, 0x03);
/** system ioctl `KVM_GET_VCPU_MMAP_SIZE`; parameters: none; returns: size of vcpu mmap area, in bytes. */
export const KVM_GET_VCPU_MMAP_SIZE = _IO(KVMIO, 0x04);
/** system ioctl `KVM_GET_SUPPORTED_CPUID`; parameters: struct kvm_cpuid2 (in/out); returns: 0 on success, -1 on error. */
export const KVM_GET_SUPPORTED_CPUID = _IOWR(KVMIO, 0x05, 8 /* sizeof(struct kvm_cpuid2) */);
/** system ioctl `KVM_GET_EMULATED_CPUID`; parameters: struct kvm_cpuid2 (in/out); returns: 0 on success, -1 on error. */
export const KVM_GET_EMULATED_CPUID = _IOWR(KVMIO, 0x09, 8 /* sizeof(struct kvm_cpuid2) */);
/** system ioctl `KVM_GET_MSR_FEATURE_INDEX_LIST`. */
export const KVM_GET_MSR_FEATURE_INDEX_LIST = _IOWR(KVMIO, 0x0a, 4 /* sizeof(struct kvm_msr_list) */);

// ---- VM ioctls (on a VM fd; some are also device ioctls)

/** vm ioctl `KVM_SET_MEMORY_REGION`; parameters: struct kvm_memory_region (in); returns: 0 on success, -1 on error. */
export const KVM_SET_MEMORY_REGION = _IOW(KVMIO, 0x40, 24 /* sizeof(struct kvm_memory_region) */);
/** vm ioctl `KVM_CREATE_VCPU`; parameters: vcpu id (apic id on x86); returns: vcpu fd on success, -1 on error. */
export const KVM_CREATE_VCPU = _IO(KVMIO, 0x41);
/** vm ioctl `KVM_GET_DIRTY_LOG`; parameters: struct kvm_dirty_log (in/out); returns: 0 on success, -1 on error. */
export const KVM_GET_DIRTY_LOG = _IOW(KVMIO, 0x42, 16 /* sizeof(struct kvm_dirty_log) */);
/** vm/vcpu ioctl `KVM_SET_NR_MMU_PAGES`. */
export const KVM_SET_NR_MMU_PAGES = _IO(KVMIO, 0x44);
/** vm/vcpu ioctl `KVM_GET_NR_MMU_PAGES`. */
export const KVM_GET_NR_MMU_PAGES = _IO(KVMIO, 0x45);
/** vm ioctl `KVM_SET_USER_MEMORY_REGION`; parameters: struct kvm_userspace_memory_region (in); returns: 0 on success, -1 on error. */
export const KVM_SET_USER_MEMORY_REGION = _IOW(
  KVMIO,
  0x46,
  32 /* sizeof(struct kvm_userspace_memory_region) */,
);
/** vm ioctl `KVM_SET_TSS_ADDR`; parameters: unsigned long tss_address (in); returns: 0 on success, -1 on error. */
export const KVM_SET_TSS_ADDR = _IO(KVMIO, 0x47);
/** vm ioctl `KVM_SET_IDENTITY_MAP_ADDR`; parameters: unsigned long identity (in); returns: 0 on success, -1 on error. */
export const KVM_SET_IDENTITY_MAP_ADDR = _IOW(KVMIO, 0x48, 8 /* sizeof(__u64) */);
/** vm ioctl `KVM_CREATE_IRQCHIP`; parameters: none; returns: 0 on success, -1 on error. */
export const KVM_CREATE_IRQCHIP = _IO(KVMIO, 0x60);
/** vm ioctl `KVM_IRQ_LINE`; parameters: struct kvm_irq_level; returns: 0 on success, -1 on error. */
export const KVM_IRQ_LINE = _IOW(KVMIO, 0x61, 8 /* sizeof(struct kvm_irq_level) */);
/** vm ioctl `KVM_GET_IRQCHIP`; parameters: struct kvm_irqchip (in/out); returns: 0 on success, -1 on error. */
export const KVM_GET_IRQCHIP = _IOWR(KVMIO, 0x62, 520 /* sizeof(struct kvm_irqchip) */);
/** vm ioctl `KVM_SET_IRQCHIP`; parameters: struct kvm_irqchip (in); returns: 0 on success, -1 on error. */
export const KVM_SET_IRQCHIP = _IOR(KVMIO, 0x63, 520 /* sizeof(struct kvm_irqchip) */);
/** vm/vcpu ioctl `KVM_CREATE_PIT`. */
export const KVM_CREATE_PIT = _IO(KVMIO, 0x64);
/** vm/vcpu ioctl `KVM_GET_PIT`. */
export const KVM_GET_PIT = _IOWR(KVMIO, 0x65, 72 /* sizeof(struct kvm_pit_state) */);
/** vm/vcpu ioctl `KVM_SET_PIT`. */
export const KVM_SET_PIT = _IOR(KVMIO, 0x66, 72 /* sizeof(struct kvm_pit_state) */);
/** vm/vcpu ioctl `KVM_IRQ_LINE_STATUS`. */
export const KVM_IRQ_LINE_STATUS = _IOWR(KVMIO, 0x67, 8 /* sizeof(struct kvm_irq_level) */);
/** vm/vcpu ioctl `KVM_REGISTER_COALESCED_MMIO`. */
export const KVM_REGISTER_COALESCED_MMIO = _IOW(KVMIO, 0x67, 16 /* sizeof(struct kvm_coalesced_mmio_zone) */);
/** vm/vcpu ioctl `KVM_UNREGISTER_COALESCED_MMIO`. */
export const KVM_UNREGISTER_COALESCED_MMIO = _IOW(
  KVMIO,
  0x68,
  16 /* sizeof(struct kvm_coalesced_mmio_zone) */,
);
/** vm ioctl `KVM_SET_GSI_ROUTING`; parameters: struct kvm_irq_routing (in); returns: 0 on success, -1 on error. */
export const KVM_SET_GSI_ROUTING = _IOW(KVMIO, 0x6a, 8 /* sizeof(struct kvm_irq_routing) */);
/** vm/vcpu ioctl `KVM_REINJECT_CONTROL`. */
export const KVM_REINJECT_CONTROL = _IO(KVMIO, 0x71);
/** vm ioctl `KVM_IRQFD`; parameters: struct kvm_irqfd (in); returns: 0 on success, -1 on error. */
export const KVM_IRQFD = _IOW(KVMIO, 0x76, 32 /* sizeof(struct kvm_irqfd) */);
/** vm ioctl `KVM_CREATE_PIT2`; parameters: struct kvm_pit_config (in); returns: 0 on success, -1 on error. */
export const KVM_CREATE_PIT2 = _IOW(KVMIO, 0x77, 64 /* sizeof(struct kvm_pit_config) */);
/** vm ioctl `KVM_SET_BOOT_CPU_ID`; parameters: unsigned long vcpu_id; returns: 0 on success, -1 on error. */
export const KVM_SET_BOOT_CPU_ID = _IO(KVMIO, 0x78);
/** vm ioctl `KVM_IOEVENTFD`; parameters: struct kvm_ioeventfd (in); returns: 0 on success, !0 on error. */
export const KVM_IOEVENTFD = _IOW(KVMIO, 0x79, 64 /* sizeof(struct kvm_ioeventfd) */);
/** vm ioctl `KVM_SET_CLOCK`; parameters: struct kvm_clock_data (in); returns: 0 on success, -1 on error. */
export const KVM_SET_CLOCK = _IOW(KVMIO, 0x7b, 48 /* sizeof(struct kvm_clock_data) */);
/** vm ioctl `KVM_GET_CLOCK`; parameters: struct kvm_clock_data (out); returns: 0 on success, -1 on error. */
export const KVM_GET_CLOCK = _IOR(KVMIO, 0x7c, 48 /* sizeof(struct kvm_clock_data) */);
/** vm ioctl `KVM_GET_PIT2`; parameters: struct kvm_pit_state2 (out); returns: 0 on success, -1 on error. */
export const KVM_GET_PIT2 = _IOR(KVMIO, 0x9f, 112 /* sizeof(struct kvm_pit_state2) */);
/** vm ioctl `KVM_SET_PIT2`; parameters: struct kvm_pit_state2 (in); returns: 0 on success, -1 on error. */
export const KVM_SET_PIT2 = _IOW(KVMIO, 0xa0, 112 /* sizeof(struct kvm_pit_state2) */);
/** vm ioctl `KVM_SIGNAL_MSI`; parameters: struct kvm_msi (in); returns: >0 on delivery, 0 if guest blocked the MSI, and -1 on error. */
export const KVM_SIGNAL_MSI = _IOW(KVMIO, 0xa5, 32 /* sizeof(struct kvm_msi) */);
/** vm/vcpu ioctl `KVM_SET_PMU_EVENT_FILTER`. */
export const KVM_SET_PMU_EVENT_FILTER = _IOW(KVMIO, 0xb2, 32 /* sizeof(struct kvm_pmu_event_filter) */);
/** vm ioctl `KVM_CREATE_DEVICE`; parameters: struct kvm_create_device (in/out); returns: 0 on success, -1 on error. */
export const KVM_CREATE_DEVICE = _IOWR(KVMIO, 0xe0, 12 /* sizeof(struct kvm_create_device) */);
/** device, vm ioctl `KVM_SET_DEVICE_ATTR`; parameters: struct kvm_device_attr; returns: 0 on success, -1 on error. */
export const KVM_SET_DEVICE_ATTR = _IOW(KVMIO, 0xe1, 24 /* sizeof(struct kvm_device_attr) */);
/** vm/vcpu ioctl `KVM_GET_DEVICE_ATTR`. */
export const KVM_GET_DEVICE_ATTR = _IOW(KVMIO, 0xe2, 24 /* sizeof(struct kvm_device_attr) */);
/** device, vm ioctl `KVM_HAS_DEVICE_ATTR`; parameters: struct kvm_device_attr; returns: 0 on success, -1 on error. */
export const KVM_HAS_DEVICE_ATTR = _IOW(KVMIO, 0xe3, 24 /* sizeof(struct kvm_device_attr) */);
/** vm/vcpu ioctl `KVM_SET_CPUID2`. */
export const KVM_SET_CPUID2 = _IOW(KVMIO, 0x90, 8 /* sizeof(struct kvm_cpuid2) */);
/** vm/vcpu ioctl `KVM_GET_CPUID2`. */
export const KVM_GET_CPUID2 = _IOWR(KVMIO, 0x91, 8 /* sizeof(struct kvm_cpuid2) */);
/** vm/vcpu ioctl `KVM_TPR_ACCESS_REPORTING`. */
export const KVM_TPR_ACCESS_REPORTING = _IOWR(KVMIO, 0x92, 40 /* sizeof(struct kvm_tpr_access_ctl) */);
/** vm/vcpu ioctl `KVM_SET_VAPIC_ADDR`. */
export const KVM_SET_VAPIC_ADDR = _IOW(KVMIO, 0x93, 8 /* sizeof(struct kvm_vapic_addr) */);
/** vm/vcpu ioctl `KVM_X86_SETUP_MCE`. */
export const KVM_X86_SETUP_MCE = _IOW(KVMIO, 0x9c, 8 /* sizeof(__u64) */);
/** vm/vcpu ioctl `KVM_X86_GET_MCE_CAP_SUPPORTED`. */
export const KVM_X86_GET_MCE_CAP_SUPPORTED = _IOR(KVMIO, 0x9d, 8 /* sizeof(__u64) */);
/** vm/vcpu ioctl `KVM_X86_SET_MCE`. */
export const KVM_X86_SET_MCE = _IOW(KVMIO, 0x9e, 64 /* sizeof(struct kvm_x86_mce) */);
/** vm/vcpu ioctl `KVM_GET_VCPU_EVENTS`. */
export const KVM_GET_VCPU_EVENTS = _IOR(KVMIO, 0x9f, 64 /* sizeof(struct kvm_vcpu_events) */);
/** vm/vcpu ioctl `KVM_SET_VCPU_EVENTS`. */
export const KVM_SET_VCPU_EVENTS = _IOW(KVMIO, 0xa0, 64 /* sizeof(struct kvm_vcpu_events) */);
/** vm ioctl `KVM_GET_DEBUGREGS`; parameters: struct kvm_debugregs (out); returns: 0 on success, -1 on error. */
export const KVM_GET_DEBUGREGS = _IOR(KVMIO, 0xa1, 128 /* sizeof(struct kvm_debugregs) */);
/** vm ioctl `KVM_SET_DEBUGREGS`; parameters: struct kvm_debugregs (in); returns: 0 on success, -1 on error. */
export const KVM_SET_DEBUGREGS = _IOW(KVMIO, 0xa2, 128 /* sizeof(struct kvm_debugregs) */);
/** vm/vcpu ioctl `KVM_SMI`. */
export const KVM_SMI = _IO(KVMIO, 0xb7);
/** vm/vcpu ioctl `KVM_MEMORY_ENCRYPT_OP`. */
export const KVM_MEMORY_ENCRYPT_OP = _IOWR(KVMIO, 0xba, 8 /* sizeof(unsigned long) */);
/** vm/vcpu ioctl `KVM_MEMORY_ENCRYPT_REG_REGION`. */
export const KVM_MEMORY_ENCRYPT_REG_REGION = _IOR(KVMIO, 0xbb, 16 /* sizeof(struct kvm_enc_region) */);
/** vm/vcpu ioctl `KVM_MEMORY_ENCRYPT_UNREG_REGION`. */
export const KVM_MEMORY_ENCRYPT_UNREG_REGION = _IOR(KVMIO, 0xbc, 16 /* sizeof(struct kvm_enc_region) */);
/** vm/vcpu ioctl `KVM_HYPERV_EVENTFD`. */
export const KVM_HYPERV_EVENTFD = _IOW(KVMIO, 0xbd, 24 /* sizeof(struct kvm_hyperv_eventfd) */);
/** vm/vcpu ioctl `KVM_GET_NESTED_STATE`. */
export const KVM_GET_NESTED_STATE = _IOWR(KVMIO, 0xbe, 128 /* sizeof(struct kvm_nested_state) */);
/** vm/vcpu ioctl `KVM_SET_NESTED_STATE`. */
export const KVM_SET_NESTED_STATE = _IOW(KVMIO, 0xbf, 128 /* sizeof(struct kvm_nested_state) */);
/** vm/vcpu ioctl `KVM_CLEAR_DIRTY_LOG`. */
export const KVM_CLEAR_DIRTY_LOG = _IOWR(KVMIO, 0xc0, 24 /* sizeof(struct kvm_clear_dirty_log) */);
/** vm/vcpu ioctl `KVM_GET_SUPPORTED_HV_CPUID`. */
export const KVM_GET_SUPPORTED_HV_CPUID = _IOWR(KVMIO, 0xc1, 8 /* sizeof(struct kvm_cpuid2) */);
/** vm/vcpu ioctl `KVM_X86_SET_MSR_FILTER`. */
export const KVM_X86_SET_MSR_FILTER = _IOW(KVMIO, 0xc6, 392 /* sizeof(struct kvm_msr_filter) */);
/** vm/vcpu ioctl `KVM_RESET_DIRTY_RINGS`. */
export const KVM_RESET_DIRTY_RINGS = _IO(KVMIO, 0xc7);
/** vm/vcpu ioctl `KVM_GET_SREGS2`. */
export const KVM_GET_SREGS2 = _IOR(KVMIO, 0xcc, 320 /* sizeof(struct kvm_sregs2) */);
/** vm/vcpu ioctl `KVM_SET_SREGS2`. */
export const KVM_SET_SREGS2 = _IOW(KVMIO, 0xcd, 320 /* sizeof(struct kvm_sregs2) */);
/** vm/vcpu ioctl `KVM_GET_STATS_FD`. */
export const KVM_GET_STATS_FD = _IO(KVMIO, 0xce);
/** vm/vcpu ioctl `KVM_GET_XSAVE2`. */
export const KVM_GET_XSAVE2 = _IOR(KVMIO, 0xcf, 4096 /* sizeof(struct kvm_xsave) */);

// ---- vCPU ioctls (on a vCPU fd, from the thread that created it)

/** vcpu ioctl `KVM_SET_TSC_KHZ`; parameters: virtual tsc_khz; returns: 0 on success, -1 on error. */
export const KVM_SET_TSC_KHZ = _IO(KVMIO, 0xa2);
/** vcpu ioctl `KVM_GET_TSC_KHZ`; parameters: none; returns: virtual tsc-khz on success, negative value on error. */
export const KVM_GET_TSC_KHZ = _IO(KVMIO, 0xa3);
/** vcpu ioctl `KVM_RUN`; parameters: none; returns: 0 on success, -1 on error. */
export const KVM_RUN = _IO(KVMIO, 0x80);
/** vcpu ioctl `KVM_GET_REGS`; parameters: struct kvm_regs (out); returns: 0 on success, -1 on error. */
export const KVM_GET_REGS = _IOR(KVMIO, 0x81, 144 /* sizeof(struct kvm_regs) */);
/** vcpu ioctl `KVM_SET_REGS`; parameters: struct kvm_regs (in); returns: 0 on success, -1 on error. */
export const KVM_SET_REGS = _IOW(KVMIO, 0x82, 144 /* sizeof(struct kvm_regs) */);
/** vcpu ioctl `KVM_GET_SREGS`; parameters: struct kvm_sregs (out); returns: 0 on success, -1 on error. */
export const KVM_GET_SREGS = _IOR(KVMIO, 0x83, 312 /* sizeof(struct kvm_sregs) */);
/** vcpu ioctl `KVM_SET_SREGS`; parameters: struct kvm_sregs (in); returns: 0 on success, -1 on error. */
export const KVM_SET_SREGS = _IOW(KVMIO, 0x84, 312 /* sizeof(struct kvm_sregs) */);
/** vcpu ioctl `KVM_TRANSLATE`; parameters: struct kvm_translation (in/out); returns: 0 on success, -1 on error. */
export const KVM_TRANSLATE = _IOWR(KVMIO, 0x85, 24 /* sizeof(struct kvm_translation) */);
/** vcpu ioctl `KVM_INTERRUPT`; parameters: struct kvm_interrupt (in); returns: 0 on success, -1 on error. */
export const KVM_INTERRUPT = _IOW(KVMIO, 0x86, 4 /* sizeof(struct kvm_interrupt) */);
/** vcpu ioctl `KVM_GET_MSRS`; parameters: struct kvm_msrs (in/out); returns: 0 on success, -1 on error. */
export const KVM_GET_MSRS = _IOWR(KVMIO, 0x88, 8 /* sizeof(struct kvm_msrs) */);
/** vcpu ioctl `KVM_SET_MSRS`; parameters: struct kvm_msrs (in); returns: 0 on success, -1 on error. */
export const KVM_SET_MSRS = _IOW(KVMIO, 0x89, 8 /* sizeof(struct kvm_msrs) */);
/** vcpu ioctl `KVM_SET_CPUID`; parameters: struct kvm_cpuid (in); returns: 0 on success, -1 on error. */
export const KVM_SET_CPUID = _IOW(KVMIO, 0x8a, 8 /* sizeof(struct kvm_cpuid) */);
/** vcpu ioctl `KVM_SET_SIGNAL_MASK`; parameters: struct kvm_signal_mask (in); returns: 0 on success, -1 on error. */
export const KVM_SET_SIGNAL_MASK = _IOW(KVMIO, 0x8b, 4 /* sizeof(struct kvm_signal_mask) */);
/** vcpu ioctl `KVM_GET_FPU`; parameters: struct kvm_fpu (out); returns: 0 on success, -1 on error. */
export const KVM_GET_FPU = _IOR(KVMIO, 0x8c, 416 /* sizeof(struct kvm_fpu) */);
/** vcpu ioctl `KVM_SET_FPU`; parameters: struct kvm_fpu (in); returns: 0 on success, -1 on error. */
export const KVM_SET_FPU = _IOW(KVMIO, 0x8d, 416 /* sizeof(struct kvm_fpu) */);
/** vcpu ioctl `KVM_GET_LAPIC`; parameters: struct kvm_lapic_state (out); returns: 0 on success, -1 on error. */
export const KVM_GET_LAPIC = _IOR(KVMIO, 0x8e, 1024 /* sizeof(struct kvm_lapic_state) */);
/** vcpu ioctl `KVM_SET_LAPIC`; parameters: struct kvm_lapic_state (in); returns: 0 on success, -1 on error. */
export const KVM_SET_LAPIC = _IOW(KVMIO, 0x8f, 1024 /* sizeof(struct kvm_lapic_state) */);
/** vcpu ioctl `KVM_GET_MP_STATE`; parameters: struct kvm_mp_state (out); returns: 0 on success; -1 on error. */
export const KVM_GET_MP_STATE = _IOR(KVMIO, 0x98, 4 /* sizeof(struct kvm_mp_state) */);
/** vcpu ioctl `KVM_SET_MP_STATE`; parameters: struct kvm_mp_state (in); returns: 0 on success; -1 on error. */
export const KVM_SET_MP_STATE = _IOW(KVMIO, 0x99, 4 /* sizeof(struct kvm_mp_state) */);
/** vcpu ioctl `KVM_NMI`; parameters: none; returns: 0 on success, -1 on error. */
export const KVM_NMI = _IO(KVMIO, 0x9a);
/** vcpu ioctl `KVM_SET_GUEST_DEBUG`; parameters: struct kvm_guest_debug (in); returns: 0 on success; -1 on error. */
export const KVM_SET_GUEST_DEBUG = _IOW(KVMIO, 0x9b, 72 /* sizeof(struct kvm_guest_debug) */);
/** vcpu, vm ioctl `KVM_ENABLE_CAP`; parameters: struct kvm_enable_cap (in); returns: 0 on success; -1 on error. */
export const KVM_ENABLE_CAP = _IOW(KVMIO, 0xa3, 104 /* sizeof(struct kvm_enable_cap) */);
/** vcpu ioctl `KVM_GET_XSAVE`; parameters: struct kvm_xsave (out); returns: 0 on success, -1 on error. */
export const KVM_GET_XSAVE = _IOR(KVMIO, 0xa4, 4096 /* sizeof(struct kvm_xsave) */);
/** vcpu ioctl `KVM_SET_XSAVE`; parameters: struct kvm_xsave (in); returns: 0 on success, -1 on error. */
export const KVM_SET_XSAVE = _IOW(KVMIO, 0xa5, 4096 /* sizeof(struct kvm_xsave) */);
/** vcpu ioctl `KVM_GET_XCRS`; parameters: struct kvm_xcrs (out); returns: 0 on success, -1 on error. */
export const KVM_GET_XCRS = _IOR(KVMIO, 0xa6, 392 /* sizeof(struct kvm_xcrs) */);
/** vcpu ioctl `KVM_SET_XCRS`; parameters: struct kvm_xcrs (in); returns: 0 on success, -1 on error. */
export const KVM_SET_XCRS = _IOW(KVMIO, 0xa7, 392 /* sizeof(struct kvm_xcrs) */);
/** vcpu ioctl `KVM_DIRTY_TLB`; parameters: struct kvm_dirty_tlb (in); returns: 0 on success, -1 on error. */
export const KVM_DIRTY_TLB = _IOW(KVMIO, 0xaa, 16 /* sizeof(struct kvm_dirty_tlb) */);
/** vcpu ioctl `KVM_GET_ONE_REG`; parameters: struct kvm_one_reg (in and out); returns: 0 on success, negative value on failure. */
export const KVM_GET_ONE_REG = _IOW(KVMIO, 0xab, 16 /* sizeof(struct kvm_one_reg) */);
/** vcpu ioctl `KVM_SET_ONE_REG`; parameters: struct kvm_one_reg (in); returns: 0 on success, negative value on failure. */
export const KVM_SET_ONE_REG = _IOW(KVMIO, 0xac, 16 /* sizeof(struct kvm_one_reg) */);
/** vcpu ioctl `KVM_KVMCLOCK_CTRL`; parameters: None; returns: 0 on success, -1 on error. */
export const KVM_KVMCLOCK_CTRL = _IO(KVMIO, 0xad);
/** vcpu ioctl `KVM_GET_REG_LIST`; parameters: struct kvm_reg_list (in/out); returns: 0 on success; -1 on error. */
export const KVM_GET_REG_LIST = _IOWR(KVMIO, 0xb0, 8 /* sizeof(struct kvm_reg_list) */);

// ---- Capabilities for KVM_CHECK_EXTENSION / KVM_ENABLE_CAP

/** Capability `KVM_CAP_IRQCHIP`. */
export const KVM_CAP_IRQCHIP = 0;
/** Capability `KVM_CAP_HLT`. */
export const KVM_CAP_HLT = 1;
/** Capability `KVM_CAP_MMU_SHADOW_CACHE_CONTROL`. */
export const KVM_CAP_MMU_SHADOW_CACHE_CONTROL = 2;
/** Capability `KVM_CAP_USER_MEMORY`. */
export const KVM_CAP_USER_MEMORY = 3;
/** Capability `KVM_CAP_SET_TSS_ADDR`. */
export const KVM_CAP_SET_TSS_ADDR = 4;
/** Capability `KVM_CAP_VAPIC`. */
export const KVM_CAP_VAPIC = 6;
/** Capability `KVM_CAP_EXT_CPUID`. */
export const KVM_CAP_EXT_CPUID = 7;
/** Capability `KVM_CAP_CLOCKSOURCE`. */
export const KVM_CAP_CLOCKSOURCE = 8;
/** Capability `KVM_CAP_NR_VCPUS`. */
export const KVM_CAP_NR_VCPUS = 9;
/** Capability `KVM_CAP_NR_MEMSLOTS`. */
export const KVM_CAP_NR_MEMSLOTS = 10;
/** Capability `KVM_CAP_PIT`. */
export const KVM_CAP_PIT = 11;
/** Capability `KVM_CAP_NOP_IO_DELAY`. */
export const KVM_CAP_NOP_IO_DELAY = 12;
/** Capability `KVM_CAP_PV_MMU`. */
export const KVM_CAP_PV_MMU = 13;
/** Capability `KVM_CAP_MP_STATE`. */
export const KVM_CAP_MP_STATE = 14;
/** Capability `KVM_CAP_COALESCED_MMIO`. */
export const KVM_CAP_COALESCED_MMIO = 15;
/** Capability `KVM_CAP_SYNC_MMU`. */
export const KVM_CAP_SYNC_MMU = 16;
/** Capability `KVM_CAP_IOMMU`. */
export const KVM_CAP_IOMMU = 18;
/** Capability `KVM_CAP_DESTROY_MEMORY_REGION_WORKS`. */
export const KVM_CAP_DESTROY_MEMORY_REGION_WORKS = 21;
/** Capability `KVM_CAP_USER_NMI`. */
export const KVM_CAP_USER_NMI = 22;
/** Capability `KVM_CAP_SET_GUEST_DEBUG`. */
export const KVM_CAP_SET_GUEST_DEBUG = 23;
/** Capability `KVM_CAP_REINJECT_CONTROL`. */
export const KVM_CAP_REINJECT_CONTROL = 24;
/** Capability `KVM_CAP_IRQ_ROUTING`. */
export const KVM_CAP_IRQ_ROUTING = 25;
/** Capability `KVM_CAP_IRQ_INJECT_STATUS`. */
export const KVM_CAP_IRQ_INJECT_STATUS = 26;
/** Capability `KVM_CAP_ASSIGN_DEV_IRQ`. */
export const KVM_CAP_ASSIGN_DEV_IRQ = 29;
/** Capability `KVM_CAP_JOIN_MEMORY_REGIONS_WORKS`. */
export const KVM_CAP_JOIN_MEMORY_REGIONS_WORKS = 30;
/** Capability `KVM_CAP_MCE`. */
export const KVM_CAP_MCE = 31;
/** Capability `KVM_CAP_IRQFD`. */
export const KVM_CAP_IRQFD = 32;
/** Capability `KVM_CAP_PIT2`. */
export const KVM_CAP_PIT2 = 33;
/** Capability `KVM_CAP_SET_BOOT_CPU_ID`. */
export const KVM_CAP_SET_BOOT_CPU_ID = 34;
/** Capability `KVM_CAP_PIT_STATE2`. */
export const KVM_CAP_PIT_STATE2 = 35;
/** Capability `KVM_CAP_IOEVENTFD`. */
export const KVM_CAP_IOEVENTFD = 36;
/** Capability `KVM_CAP_SET_IDENTITY_MAP_ADDR`. */
export const KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
/** Capability `KVM_CAP_XEN_HVM`. */
export const KVM_CAP_XEN_HVM = 38;
/** Capability `KVM_CAP_ADJUST_CLOCK`. */
export const KVM_CAP_ADJUST_CLOCK = 39;
/** Capability `KVM_CAP_INTERNAL_ERROR_DATA`. */
export const KVM_CAP_INTERNAL_ERROR_DATA = 40;
/** Capability `KVM_CAP_VCPU_EVENTS`. */
export const KVM_CAP_VCPU_EVENTS = 41;
/** Capability `KVM_CAP_S390_PSW`. */
export const KVM_CAP_S390_PSW = 42;
/** Capability `KVM_CAP_PPC_SEGSTATE`. */
export const KVM_CAP_PPC_SEGSTATE = 43;
/** Capability `KVM_CAP_HYPERV`. */
export const KVM_CAP_HYPERV = 44;
/** Capability `KVM_CAP_HYPERV_VAPIC`. */
export const KVM_CAP_HYPERV_VAPIC = 45;
/** Capability `KVM_CAP_HYPERV_SPIN`. */
export const KVM_CAP_HYPERV_SPIN = 46;
/** Capability `KVM_CAP_PCI_SEGMENT`. */
export const KVM_CAP_PCI_SEGMENT = 47;
/** Capability `KVM_CAP_PPC_PAIRED_SINGLES`. */
export const KVM_CAP_PPC_PAIRED_SINGLES = 48;
/** Capability `KVM_CAP_INTR_SHADOW`. */
export const KVM_CAP_INTR_SHADOW = 49;
/** Capability `KVM_CAP_DEBUGREGS`. */
export const KVM_CAP_DEBUGREGS = 50;
/** Capability `KVM_CAP_X86_ROBUST_SINGLESTEP`. */
export const KVM_CAP_X86_ROBUST_SINGLESTEP = 51;
/** Capability `KVM_CAP_PPC_OSI`. */
export const KVM_CAP_PPC_OSI = 52;
/** Capability `KVM_CAP_PPC_UNSET_IRQ`. */
export const KVM_CAP_PPC_UNSET_IRQ = 53;
/** Capability `KVM_CAP_ENABLE_CAP`. */
export const KVM_CAP_ENABLE_CAP = 54;
/** Capability `KVM_CAP_XSAVE`. */
export const KVM_CAP_XSAVE = 55;
/** Capability `KVM_CAP_XCRS`. */
export const KVM_CAP_XCRS = 56;
/** Capability `KVM_CAP_PPC_GET_PVINFO`. */
export const KVM_CAP_PPC_GET_PVINFO = 57;
/** Capability `KVM_CAP_PPC_IRQ_LEVEL`. */
export const KVM_CAP_PPC_IRQ_LEVEL = 58;
/** Capability `KVM_CAP_ASYNC_PF`. */
export const KVM_CAP_ASYNC_PF = 59;
/** Capability `KVM_CAP_TSC_CONTROL`. */
export const KVM_CAP_TSC_CONTROL = 60;
/** Capability `KVM_CAP_GET_TSC_KHZ`. */
export const KVM_CAP_GET_TSC_KHZ = 61;
/** Capability `KVM_CAP_PPC_BOOKE_SREGS`. */
export const KVM_CAP_PPC_BOOKE_SREGS = 62;
/** Capability `KVM_CAP_SPAPR_TCE`. */
export const KVM_CAP_SPAPR_TCE = 63;
/** Capability `KVM_CAP_PPC_SMT`. */
export const KVM_CAP_PPC_SMT = 64;
/** Capability `KVM_CAP_PPC_RMA`. */
export const KVM_CAP_PPC_RMA = 65;
/** Capability `KVM_CAP_MAX_VCPUS`. */
export const KVM_CAP_MAX_VCPUS = 66;
/** Capability `KVM_CAP_PPC_HIOR`. */
export const KVM_CAP_PPC_HIOR = 67;
/** Capability `KVM_CAP_PPC_PAPR`. */
export const KVM_CAP_PPC_PAPR = 68;
/** Capability `KVM_CAP_SW_TLB`. */
export const KVM_CAP_SW_TLB = 69;
/** Capability `KVM_CAP_ONE_REG`. */
export const KVM_CAP_ONE_REG = 70;
/** Capability `KVM_CAP_S390_GMAP`. */
export const KVM_CAP_S390_GMAP = 71;
/** Capability `KVM_CAP_TSC_DEADLINE_TIMER`. */
export const KVM_CAP_TSC_DEADLINE_TIMER = 72;
/** Capability `KVM_CAP_S390_UCONTROL`. */
export const KVM_CAP_S390_UCONTROL = 73;
/** Capability `KVM_CAP_SYNC_REGS`. */
export const KVM_CAP_SYNC_REGS = 74;
/** Capability `KVM_CAP_PCI_2_3`. */
export const KVM_CAP_PCI_2_3 = 75;
/** Capability `KVM_CAP_KVMCLOCK_CTRL`. */
export const KVM_CAP_KVMCLOCK_CTRL = 76;
/** Capability `KVM_CAP_SIGNAL_MSI`. */
export const KVM_CAP_SIGNAL_MSI = 77;
/** Capability `KVM_CAP_PPC_GET_SMMU_INFO`. */
export const KVM_CAP_PPC_GET_SMMU_INFO = 78;
/** Capability `KVM_CAP_S390_COW`. */
export const KVM_CAP_S390_COW = 79;
/** Capability `KVM_CAP_PPC_ALLOC_HTAB`. */
export const KVM_CAP_PPC_ALLOC_HTAB = 80;
/** Capability `KVM_CAP_READONLY_MEM`. */
export const KVM_CAP_READONLY_MEM = 81;
/** Capability `KVM_CAP_IRQFD_RESAMPLE`. */
export const KVM_CAP_IRQFD_RESAMPLE = 82;
/** Capability `KVM_CAP_PPC_BOOKE_WATCHDOG`. */
export const KVM_CAP_PPC_BOOKE_WATCHDOG = 83;
/** Capability `KVM_CAP_PPC_HTAB_FD`. */
export const KVM_CAP_PPC_HTAB_FD = 84;
/** Capability `KVM_CAP_S390_CSS_SUPPORT`. */
export const KVM_CAP_S390_CSS_SUPPORT = 85;
/** Capability `KVM_CAP_PPC_EPR`. */
export const KVM_CAP_PPC_EPR = 86;
/** Capability `KVM_CAP_ARM_PSCI`. */
export const KVM_CAP_ARM_PSCI = 87;
/** Capability `KVM_CAP_ARM_SET_DEVICE_ADDR`. */
export const KVM_CAP_ARM_SET_DEVICE_ADDR = 88;
/** Capability `KVM_CAP_DEVICE_CTRL`. */
export const KVM_CAP_DEVICE_CTRL = 89;
/** Capability `KVM_CAP_IRQ_MPIC`. */
export const KVM_CAP_IRQ_MPIC = 90;
/** Capability `KVM_CAP_PPC_RTAS`. */
export const KVM_CAP_PPC_RTAS = 91;
/** Capability `KVM_CAP_IRQ_XICS`. */
export const KVM_CAP_IRQ_XICS = 92;
/** Capability `KVM_CAP_ARM_EL1_32BIT`. */
export const KVM_CAP_ARM_EL1_32BIT = 93;
/** Capability `KVM_CAP_SPAPR_MULTITCE`. */
export const KVM_CAP_SPAPR_MULTITCE = 94;
/** Capability `KVM_CAP_EXT_EMUL_CPUID`. */
export const KVM_CAP_EXT_EMUL_CPUID = 95;
/** Capability `KVM_CAP_HYPERV_TIME`. */
export const KVM_CAP_HYPERV_TIME = 96;
/** Capability `KVM_CAP_IOAPIC_POLARITY_IGNORED`. */
export const KVM_CAP_IOAPIC_POLARITY_IGNORED = 97;
/** Capability `KVM_CAP_ENABLE_CAP_VM`. */
export const KVM_CAP_ENABLE_CAP_VM = 98;
/** Capability `KVM_CAP_S390_IRQCHIP`. */
export const KVM_CAP_S390_IRQCHIP = 99;
/** Capability `KVM_CAP_IOEVENTFD_NO_LENGTH`. */
export const KVM_CAP_IOEVENTFD_NO_LENGTH = 100;
/** Capability `KVM_CAP_VM_ATTRIBUTES`. */
export const KVM_CAP_VM_ATTRIBUTES = 101;
/** Capability `KVM_CAP_ARM_PSCI_0_2`. */
export const KVM_CAP_ARM_PSCI_0_2 = 102;
/** Capability `KVM_CAP_PPC_FIXUP_HCALL`. */
export const KVM_CAP_PPC_FIXUP_HCALL = 103;
/** Capability `KVM_CAP_PPC_ENABLE_HCALL`. */
export const KVM_CAP_PPC_ENABLE_HCALL = 104;
/** Capability `KVM_CAP_CHECK_EXTENSION_VM`. */
export const KVM_CAP_CHECK_EXTENSION_VM = 105;
/** Capability `KVM_CAP_S390_USER_SIGP`. */
export const KVM_CAP_S390_USER_SIGP = 106;
/** Capability `KVM_CAP_S390_VECTOR_REGISTERS`. */
export const KVM_CAP_S390_VECTOR_REGISTERS = 107;
/** Capability `KVM_CAP_S390_MEM_OP`. */
export const KVM_CAP_S390_MEM_OP = 108;
/** Capability `KVM_CAP_S390_USER_STSI`. */
export const KVM_CAP_S390_USER_STSI = 109;
/** Capability `KVM_CAP_S390_SKEYS`. */
export const KVM_CAP_S390_SKEYS = 110;
/** Capability `KVM_CAP_MIPS_FPU`. */
export const KVM_CAP_MIPS_FPU = 111;
/** Capability `KVM_CAP_MIPS_MSA`. */
export const KVM_CAP_MIPS_MSA = 112;
/** Capability `KVM_CAP_S390_INJECT_IRQ`. */
export const KVM_CAP_S390_INJECT_IRQ = 113;
/** Capability `KVM_CAP_S390_IRQ_STATE`. */
export const KVM_CAP_S390_IRQ_STATE = 114;
/** Capability `KVM_CAP_PPC_HWRNG`. */
export const KVM_CAP_PPC_HWRNG = 115;
/** Capability `KVM_CAP_DISABLE_QUIRKS`. */
export const KVM_CAP_DISABLE_QUIRKS = 116;
/** Capability `KVM_CAP_X86_SMM`. */
export const KVM_CAP_X86_SMM = 117;
/** Capability `KVM_CAP_MULTI_ADDRESS_SPACE`. */
export const KVM_CAP_MULTI_ADDRESS_SPACE = 118;
/** Capability `KVM_CAP_GUEST_DEBUG_HW_BPS`. */
export const KVM_CAP_GUEST_DEBUG_HW_BPS = 119;
/** Capability `KVM_CAP_GUEST_DEBUG_HW_WPS`. */
export const KVM_CAP_GUEST_DEBUG_HW_WPS = 120;
/** Capability `KVM_CAP_SPLIT_IRQCHIP`. */
export const KVM_CAP_SPLIT_IRQCHIP = 121;
/** Capability `KVM_CAP_IOEVENTFD_ANY_LENGTH`. */
export const KVM_CAP_IOEVENTFD_ANY_LENGTH = 122;
/** Capability `KVM_CAP_HYPERV_SYNIC`. */
export const KVM_CAP_HYPERV_SYNIC = 123;
/** Capability `KVM_CAP_S390_RI`. */
export const KVM_CAP_S390_RI = 124;
/** Capability `KVM_CAP_SPAPR_TCE_64`. */
export const KVM_CAP_SPAPR_TCE_64 = 125;
/** Capability `KVM_CAP_ARM_PMU_V3`. */
export const KVM_CAP_ARM_PMU_V3 = 126;
/** Capability `KVM_CAP_VCPU_ATTRIBUTES`. */
export const KVM_CAP_VCPU_ATTRIBUTES = 127;
/** Capability `KVM_CAP_MAX_VCPU_ID`. */
export const KVM_CAP_MAX_VCPU_ID = 128;
/** Capability `KVM_CAP_X2APIC_API`. */
export const KVM_CAP_X2APIC_API = 129;
/** Capability `KVM_CAP_S390_USER_INSTR0`. */
export const KVM_CAP_S390_USER_INSTR0 = 130;
/** Capability `KVM_CAP_MSI_DEVID`. */
export const KVM_CAP_MSI_DEVID = 131;
/** Capability `KVM_CAP_PPC_HTM`. */
export const KVM_CAP_PPC_HTM = 132;
/** Capability `KVM_CAP_SPAPR_RESIZE_HPT`. */
export const KVM_CAP_SPAPR_RESIZE_HPT = 133;
/** Capability `KVM_CAP_PPC_MMU_RADIX`. */
export const KVM_CAP_PPC_MMU_RADIX = 134;
/** Capability `KVM_CAP_PPC_MMU_HASH_V3`. */
export const KVM_CAP_PPC_MMU_HASH_V3 = 135;
/** Capability `KVM_CAP_IMMEDIATE_EXIT`. */
export const KVM_CAP_IMMEDIATE_EXIT = 136;
/** Capability `KVM_CAP_MIPS_VZ`. */
export const KVM_CAP_MIPS_VZ = 137;
/** Capability `KVM_CAP_MIPS_TE`. */
export const KVM_CAP_MIPS_TE = 138;
/** Capability `KVM_CAP_MIPS_64BIT`. */
export const KVM_CAP_MIPS_64BIT = 139;
/** Capability `KVM_CAP_S390_GS`. */
export const KVM_CAP_S390_GS = 140;
/** Capability `KVM_CAP_S390_AIS`. */
export const KVM_CAP_S390_AIS = 141;
/** Capability `KVM_CAP_SPAPR_TCE_VFIO`. */
export const KVM_CAP_SPAPR_TCE_VFIO = 142;
/** Capability `KVM_CAP_X86_DISABLE_EXITS`. */
export const KVM_CAP_X86_DISABLE_EXITS = 143;
/** Capability `KVM_CAP_ARM_USER_IRQ`. */
export const KVM_CAP_ARM_USER_IRQ = 144;
/** Capability `KVM_CAP_S390_CMMA_MIGRATION`. */
export const KVM_CAP_S390_CMMA_MIGRATION = 145;
/** Capability `KVM_CAP_PPC_FWNMI`. */
export const KVM_CAP_PPC_FWNMI = 146;
/** Capability `KVM_CAP_PPC_SMT_POSSIBLE`. */
export const KVM_CAP_PPC_SMT_POSSIBLE = 147;
/** Capability `KVM_CAP_HYPERV_SYNIC2`. */
export const KVM_CAP_HYPERV_SYNIC2 = 148;
/** Capability `KVM_CAP_HYPERV_VP_INDEX`. */
export const KVM_CAP_HYPERV_VP_INDEX = 149;
/** Capability `KVM_CAP_S390_AIS_MIGRATION`. */
export const KVM_CAP_S390_AIS_MIGRATION = 150;
/** Capability `KVM_CAP_PPC_GET_CPU_CHAR`. */
export const KVM_CAP_PPC_GET_CPU_CHAR = 151;
/** Capability `KVM_CAP_S390_BPB`. */
export const KVM_CAP_S390_BPB = 152;
/** Capability `KVM_CAP_GET_MSR_FEATURES`. */
export const KVM_CAP_GET_MSR_FEATURES = 153;
/** Capability `KVM_CAP_HYPERV_EVENTFD`. */
export const KVM_CAP_HYPERV_EVENTFD = 154;
/** Capability `KVM_CAP_HYPERV_TLBFLUSH`. */
export const KVM_CAP_HYPERV_TLBFLUSH = 155;
/** Capability `KVM_CAP_S390_HPAGE_1M`. */
export const KVM_CAP_S390_HPAGE_1M = 156;
/** Capability `KVM_CAP_NESTED_STATE`. */
export const KVM_CAP_NESTED_STATE = 157;
/** Capability `KVM_CAP_ARM_INJECT_SERROR_ESR`. */
export const KVM_CAP_ARM_INJECT_SERROR_ESR = 158;
/** Capability `KVM_CAP_MSR_PLATFORM_INFO`. */
export const KVM_CAP_MSR_PLATFORM_INFO = 159;
/** Capability `KVM_CAP_PPC_NESTED_HV`. */
export const KVM_CAP_PPC_NESTED_HV = 160;
/** Capability `KVM_CAP_HYPERV_SEND_IPI`. */
export const KVM_CAP_HYPERV_SEND_IPI = 161;
/** Capability `KVM_CAP_COALESCED_PIO`. */
export const KVM_CAP_COALESCED_PIO = 162;
/** Capability `KVM_CAP_HYPERV_ENLIGHTENED_VMCS`. */
export const KVM_CAP_HYPERV_ENLIGHTENED_VMCS = 163;
/** Capability `KVM_CAP_EXCEPTION_PAYLOAD`. */
export const KVM_CAP_EXCEPTION_PAYLOAD = 164;
/** Capability `KVM_CAP_ARM_VM_IPA_SIZE`. */
export const KVM_CAP_ARM_VM_IPA_SIZE = 165;
/** Capability `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT`. */
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT = 166;
/** Capability `KVM_CAP_HYPERV_CPUID`. */
export const KVM_CAP_HYPERV_CPUID = 167;
/** Capability `KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2`. */
export const KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = 168;
/** Capability `KVM_CAP_PPC_IRQ_XIVE`. */
export const KVM_CAP_PPC_IRQ_XIVE = 169;
/** Capability `KVM_CAP_ARM_SVE`. */
export const KVM_CAP_ARM_SVE = 170;
/** Capability `KVM_CAP_ARM_PTRAUTH_ADDRESS`. */
export const KVM_CAP_ARM_PTRAUTH_ADDRESS = 171;
/** Capability `KVM_CAP_ARM_PTRAUTH_GENERIC`. */
export const KVM_CAP_ARM_PTRAUTH_GENERIC = 172;
/** Capability `KVM_CAP_PMU_EVENT_FILTER`. */
export const KVM_CAP_PMU_EVENT_FILTER = 173;
/** Capability `KVM_CAP_ARM_IRQ_LINE_LAYOUT_2`. */
export const KVM_CAP_ARM_IRQ_LINE_LAYOUT_2 = 174;
/** Capability `KVM_CAP_HYPERV_DIRECT_TLBFLUSH`. */
export const KVM_CAP_HYPERV_DIRECT_TLBFLUSH = 175;
/** Capability `KVM_CAP_PPC_GUEST_DEBUG_SSTEP`. */
export const KVM_CAP_PPC_GUEST_DEBUG_SSTEP = 176;
/** Capability `KVM_CAP_ARM_NISV_TO_USER`. */
export const KVM_CAP_ARM_NISV_TO_USER = 177;
/** Capability `KVM_CAP_ARM_INJECT_EXT_DABT`. */
export const KVM_CAP_ARM_INJECT_EXT_DABT = 178;
/** Capability `KVM_CAP_S390_VCPU_RESETS`. */
export const KVM_CAP_S390_VCPU_RESETS = 179;
/** Capability `KVM_CAP_S390_PROTECTED`. */
export const KVM_CAP_S390_PROTECTED = 180;
/** Capability `KVM_CAP_PPC_SECURE_GUEST`. */
export const KVM_CAP_PPC_SECURE_GUEST = 181;
/** Capability `KVM_CAP_HALT_POLL`. */
export const KVM_CAP_HALT_POLL = 182;
/** Capability `KVM_CAP_ASYNC_PF_INT`. */
export const KVM_CAP_ASYNC_PF_INT = 183;
/** Capability `KVM_CAP_LAST_CPU`. */
export const KVM_CAP_LAST_CPU = 184;
/** Capability `KVM_CAP_SMALLER_MAXPHYADDR`. */
export const KVM_CAP_SMALLER_MAXPHYADDR = 185;
/** Capability `KVM_CAP_S390_DIAG318`. */
export const KVM_CAP_S390_DIAG318 = 186;
/** Capability `KVM_CAP_STEAL_TIME`. */
export const KVM_CAP_STEAL_TIME = 187;
/** Capability `KVM_CAP_X86_USER_SPACE_MSR`. */
export const KVM_CAP_X86_USER_SPACE_MSR = 188;
/** Capability `KVM_CAP_X86_MSR_FILTER`. */
export const KVM_CAP_X86_MSR_FILTER = 189;
/** Capability `KVM_CAP_ENFORCE_PV_FEATURE_CPUID`. */
export const KVM_CAP_ENFORCE_PV_FEATURE_CPUID = 190;
/** Capability `KVM_CAP_SYS_HYPERV_CPUID`. */
export const KVM_CAP_SYS_HYPERV_CPUID = 191;
/** Capability `KVM_CAP_DIRTY_LOG_RING`. */
export const KVM_CAP_DIRTY_LOG_RING = 192;
/** Capability `KVM_CAP_X86_BUS_LOCK_EXIT`. */
export const KVM_CAP_X86_BUS_LOCK_EXIT = 193;
/** Capability `KVM_CAP_PPC_DAWR1`. */
export const KVM_CAP_PPC_DAWR1 = 194;
/** Capability `KVM_CAP_SET_GUEST_DEBUG2`. */
export const KVM_CAP_SET_GUEST_DEBUG2 = 195;
/** Capability `KVM_CAP_SGX_ATTRIBUTE`. */
export const KVM_CAP_SGX_ATTRIBUTE = 196;
/** Capability `KVM_CAP_VM_COPY_ENC_CONTEXT_FROM`. */
export const KVM_CAP_VM_COPY_ENC_CONTEXT_FROM = 197;
/** Capability `KVM_CAP_PTP_KVM`. */
export const KVM_CAP_PTP_KVM = 198;
/** Capability `KVM_CAP_HYPERV_ENFORCE_CPUID`. */
export const KVM_CAP_HYPERV_ENFORCE_CPUID = 199;
/** Capability `KVM_CAP_SREGS2`. */
export const KVM_CAP_SREGS2 = 200;
/** Capability `KVM_CAP_EXIT_HYPERCALL`. */
export const KVM_CAP_EXIT_HYPERCALL = 201;
/** Capability `KVM_CAP_PPC_RPT_INVALIDATE`. */
export const KVM_CAP_PPC_RPT_INVALIDATE = 202;
/** Capability `KVM_CAP_BINARY_STATS_FD`. */
export const KVM_CAP_BINARY_STATS_FD = 203;
/** Capability `KVM_CAP_EXIT_ON_EMULATION_FAILURE`. */
export const KVM_CAP_EXIT_ON_EMULATION_FAILURE = 204;
/** Capability `KVM_CAP_ARM_MTE`. */
export const KVM_CAP_ARM_MTE = 205;
/** Capability `KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM`. */
export const KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM = 206;
/** Capability `KVM_CAP_VM_GPA_BITS`. */
export const KVM_CAP_VM_GPA_BITS = 207;
/** Capability `KVM_CAP_XSAVE2`. */
export const KVM_CAP_XSAVE2 = 208;
/** Capability `KVM_CAP_SYS_ATTRIBUTES`. */
export const KVM_CAP_SYS_ATTRIBUTES = 209;
/** Capability `KVM_CAP_PPC_AIL_MODE_3`. */
export const KVM_CAP_PPC_AIL_MODE_3 = 210;
/** Capability `KVM_CAP_S390_MEM_OP_EXTENSION`. */
export const KVM_CAP_S390_MEM_OP_EXTENSION = 211;
/** Capability `KVM_CAP_PMU_CAPABILITY`. */
export const KVM_CAP_PMU_CAPABILITY = 212;
/** Capability `KVM_CAP_DISABLE_QUIRKS2`. */
export const KVM_CAP_DISABLE_QUIRKS2 = 213;
/** Capability `KVM_CAP_VM_TSC_CONTROL`. */
export const KVM_CAP_VM_TSC_CONTROL = 214;
/** Capability `KVM_CAP_SYSTEM_EVENT_DATA`. */
export const KVM_CAP_SYSTEM_EVENT_DATA = 215;
/** Capability `KVM_CAP_ARM_SYSTEM_SUSPEND`. */
export const KVM_CAP_ARM_SYSTEM_SUSPEND = 216;
/** Capability `KVM_CAP_S390_PROTECTED_DUMP`. */
export const KVM_CAP_S390_PROTECTED_DUMP = 217;
/** Capability `KVM_CAP_X86_TRIPLE_FAULT_EVENT`. */
export const KVM_CAP_X86_TRIPLE_FAULT_EVENT = 218;
/** Capability `KVM_CAP_X86_NOTIFY_VMEXIT`. */
export const KVM_CAP_X86_NOTIFY_VMEXIT = 219;
/** Capability `KVM_CAP_VM_DISABLE_NX_HUGE_PAGES`. */
export const KVM_CAP_VM_DISABLE_NX_HUGE_PAGES = 220;
/** Capability `KVM_CAP_S390_ZPCI_OP`. */
export const KVM_CAP_S390_ZPCI_OP = 221;
/** Capability `KVM_CAP_S390_CPU_TOPOLOGY`. */
export const KVM_CAP_S390_CPU_TOPOLOGY = 222;
/** Capability `KVM_CAP_DIRTY_LOG_RING_ACQ_REL`. */
export const KVM_CAP_DIRTY_LOG_RING_ACQ_REL = 223;

// ---- kvm_run.exit_reason values

/** `KVM_EXIT_HYPERV_SYNIC` from <linux/kvm.h>. */
export const KVM_EXIT_HYPERV_SYNIC = 1;
/** `KVM_EXIT_HYPERV_HCALL` from <linux/kvm.h>. */
export const KVM_EXIT_HYPERV_HCALL = 2;
/** `KVM_EXIT_HYPERV_SYNDBG` from <linux/kvm.h>. */
export const KVM_EXIT_HYPERV_SYNDBG = 3;
/** `KVM_EXIT_XEN_HCALL` from <linux/kvm.h>. */
export const KVM_EXIT_XEN_HCALL = 1;
/** `KVM_EXIT_UNKNOWN` from <linux/kvm.h>. */
export const KVM_EXIT_UNKNOWN = 0;
/** `KVM_EXIT_EXCEPTION` from <linux/kvm.h>. */
export const KVM_EXIT_EXCEPTION = 1;
/** `KVM_EXIT_IO` from <linux/kvm.h>. */
export const KVM_EXIT_IO = 2;
/** `KVM_EXIT_HYPERCALL` from <linux/kvm.h>. */
export const KVM_EXIT_HYPERCALL = 3;
/** `KVM_EXIT_DEBUG` from <linux/kvm.h>. */
export const KVM_EXIT_DEBUG = 4;
/** `KVM_EXIT_HLT` from <linux/kvm.h>. */
export const KVM_EXIT_HLT = 5;
/** `KVM_EXIT_MMIO` from <linux/kvm.h>. */
export const KVM_EXIT_MMIO = 6;
/** `KVM_EXIT_IRQ_WINDOW_OPEN` from <linux/kvm.h>. */
export const KVM_EXIT_IRQ_WINDOW_OPEN = 7;
/** `KVM_EXIT_SHUTDOWN` from <linux/kvm.h>. */
export const KVM_EXIT_SHUTDOWN = 8;
/** `KVM_EXIT_FAIL_ENTRY` from <linux/kvm.h>. */
export const KVM_EXIT_FAIL_ENTRY = 9;
/** `KVM_EXIT_INTR` from <linux/kvm.h>. */
export const KVM_EXIT_INTR = 10;
/** `KVM_EXIT_SET_TPR` from <linux/kvm.h>. */
export const KVM_EXIT_SET_TPR = 11;
/** `KVM_EXIT_TPR_ACCESS` from <linux/kvm.h>. */
export const KVM_EXIT_TPR_ACCESS = 12;
/** `KVM_EXIT_S390_SIEIC` from <linux/kvm.h>. */
export const KVM_EXIT_S390_SIEIC = 13;
/** `KVM_EXIT_S390_RESET` from <linux/kvm.h>. */
export const KVM_EXIT_S390_RESET = 14;
/** `KVM_EXIT_DCR` from <linux/kvm.h>. */
export const KVM_EXIT_DCR = 15;
/** `KVM_EXIT_NMI` from <linux/kvm.h>. */
export const KVM_EXIT_NMI = 16;
/** `KVM_EXIT_INTERNAL_ERROR` from <linux/kvm.h>. */
export const KVM_EXIT_INTERNAL_ERROR = 17;
/** `KVM_EXIT_OSI` from <linux/kvm.h>. */
export const KVM_EXIT_OSI = 18;
/** `KVM_EXIT_PAPR_HCALL` from <linux/kvm.h>. */
export const KVM_EXIT_PAPR_HCALL = 19;
/** `KVM_EXIT_S390_UCONTROL` from <linux/kvm.h>. */
export const KVM_EXIT_S390_UCONTROL = 20;
/** `KVM_EXIT_WATCHDOG` from <linux/kvm.h>. */
export const KVM_EXIT_WATCHDOG = 21;
/** `KVM_EXIT_S390_TSCH` from <linux/kvm.h>. */
export const KVM_EXIT_S390_TSCH = 22;
/** `KVM_EXIT_EPR` from <linux/kvm.h>. */
export const KVM_EXIT_EPR = 23;
/** `KVM_EXIT_SYSTEM_EVENT` from <linux/kvm.h>. */
export const KVM_EXIT_SYSTEM_EVENT = 24;
/** `KVM_EXIT_S390_STSI` from <linux/kvm.h>. */
export const KVM_EXIT_S390_STSI = 25;
/** `KVM_EXIT_IOAPIC_EOI` from <linux/kvm.h>. */
export const KVM_EXIT_IOAPIC_EOI = 26;
/** `KVM_EXIT_HYPERV` from <linux/kvm.h>. */
export const KVM_EXIT_HYPERV = 27;
/** `KVM_EXIT_ARM_NISV` from <linux/kvm.h>. */
export const KVM_EXIT_ARM_NISV = 28;
/** `KVM_EXIT_X86_RDMSR` from <linux/kvm.h>. */
export const KVM_EXIT_X86_RDMSR = 29;
/** `KVM_EXIT_X86_WRMSR` from <linux/kvm.h>. */
export const KVM_EXIT_X86_WRMSR = 30;
/** `KVM_EXIT_DIRTY_RING_FULL` from <linux/kvm.h>. */
export const KVM_EXIT_DIRTY_RING_FULL = 31;
/** `KVM_EXIT_AP_RESET_HOLD` from <linux/kvm.h>. */
export const KVM_EXIT_AP_RESET_HOLD = 32;
/** `KVM_EXIT_X86_BUS_LOCK` from <linux/kvm.h>. */
export const KVM_EXIT_X86_BUS_LOCK = 33;
/** `KVM_EXIT_XEN` from <linux/kvm.h>. */
export const KVM_EXIT_XEN = 34;
/** `KVM_EXIT_RISCV_SBI` from <linux/kvm.h>. */
export const KVM_EXIT_RISCV_SBI = 35;
/** `KVM_EXIT_RISCV_CSR` from <linux/kvm.h>. */
export const KVM_EXIT_RISCV_CSR = 36;
/** `KVM_EXIT_NOTIFY` from <linux/kvm.h>. */
export const KVM_EXIT_NOTIFY = 37;
/** `KVM_EXIT_IO_IN` from <linux/kvm.h>. */
export const KVM_EXIT_IO_IN = 0;
/** `KVM_EXIT_IO_OUT` from <linux/kvm.h>. */
export const KVM_EXIT_IO_OUT = 1;

// ---- kvm_run.internal.suberror values

/** `KVM_INTERNAL_ERROR_EMULATION` from <linux/kvm.h>. */
export const KVM_INTERNAL_ERROR_EMULATION = 1;
/** `KVM_INTERNAL_ERROR_SIMUL_EX` from <linux/kvm.h>. */
export const KVM_INTERNAL_ERROR_SIMUL_EX = 2;
/** `KVM_INTERNAL_ERROR_DELIVERY_EV` from <linux/kvm.h>. */
export const KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
/** `KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON` from <linux/kvm.h>. */
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
/** `KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES` from <linux/kvm.h>. */
export const KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES = 1;

// ---- kvm_run.system_event.type values

/** `KVM_SYSTEM_EVENT_SHUTDOWN` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_SHUTDOWN = 1;
/** `KVM_SYSTEM_EVENT_RESET` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_RESET = 2;
/** `KVM_SYSTEM_EVENT_CRASH` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_CRASH = 3;
/** `KVM_SYSTEM_EVENT_WAKEUP` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_WAKEUP = 4;
/** `KVM_SYSTEM_EVENT_SUSPEND` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_SUSPEND = 5;
/** `KVM_SYSTEM_EVENT_SEV_TERM` from <linux/kvm.h>. */
export const KVM_SYSTEM_EVENT_SEV_TERM = 6;

// ---- kvm_run.msr.reason values

/** `KVM_MSR_EXIT_REASON_INVAL` from <linux/kvm.h>. */
export const KVM_MSR_EXIT_REASON_INVAL = 1;
/** `KVM_MSR_EXIT_REASON_UNKNOWN` from <linux/kvm.h>. */
export const KVM_MSR_EXIT_REASON_UNKNOWN = 2;
/** `KVM_MSR_EXIT_REASON_FILTER` from <linux/kvm.h>. */
export const KVM_MSR_EXIT_REASON_FILTER = 4;

// ---- kvm_guest_debug.control flags

/** `KVM_GUESTDBG_ENABLE` from <linux/kvm.h>. */
export const KVM_GUESTDBG_ENABLE = 1;
/** `KVM_GUESTDBG_SINGLESTEP` from <linux/kvm.h>. */
export const KVM_GUESTDBG_SINGLESTEP = 2;
/** `KVM_GUESTDBG_USE_SW_BP` from <linux/kvm.h>. */
export const KVM_GUESTDBG_USE_SW_BP = 0x10000;
/** `KVM_GUESTDBG_USE_HW_BP` from <linux/kvm.h>. */
export const KVM_GUESTDBG_USE_HW_BP = 0x20000;
/** `KVM_GUESTDBG_INJECT_DB` from <linux/kvm.h>. */
export const KVM_GUESTDBG_INJECT_DB = 0x40000;
/** `KVM_GUESTDBG_INJECT_BP` from <linux/kvm.h>. */
export const KVM_GUESTDBG_INJECT_BP = 0x80000;
/** `KVM_GUESTDBG_BLOCKIRQ` from <linux/kvm.h>. */
export const KVM_GUESTDBG_BLOCKIRQ = 0x100000;

// ---- kvm_userspace_memory_region.flags

/** `KVM_MEM_LOG_DIRTY_PAGES` from <linux/kvm.h>. */
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
/** `KVM_MEM_READONLY` from <linux/kvm.h>. */
export const KVM_MEM_READONLY = 2;

// ---- kvm_irqfd.flags

/** `KVM_IRQFD_FLAG_DEASSIGN` from <linux/kvm.h>. */
export const KVM_IRQFD_FLAG_DEASSIGN = 1;
/** `KVM_IRQFD_FLAG_RESAMPLE` from <linux/kvm.h>. */
export const KVM_IRQFD_FLAG_RESAMPLE = 2;

// ---- kvm_ioeventfd.flags

/** `KVM_IOEVENTFD_FLAG_DATAMATCH` from <linux/kvm.h>. */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
/** `KVM_IOEVENTFD_FLAG_PIO` from <linux/kvm.h>. */
export const KVM_IOEVENTFD_FLAG_PIO = 2;
/** `KVM_IOEVENTFD_FLAG_DEASSIGN` from <linux/kvm.h>. */
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
/** `KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY` from <linux/kvm.h>. */
export const KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY = 8;
/** `KVM_IOEVENTFD_VALID_FLAG_MASK` from <linux/kvm.h>. */
export const KVM_IOEVENTFD_VALID_FLAG_MASK = 31;

// ---- kvm_irq_routing_entry.type

/** `KVM_IRQ_ROUTING_IRQCHIP` from <linux/kvm.h>. */
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
/** `KVM_IRQ_ROUTING_MSI` from <linux/kvm.h>. */
export const KVM_IRQ_ROUTING_MSI = 2;
/** `KVM_IRQ_ROUTING_HV_SINT` from <linux/kvm.h>. */
export const KVM_IRQ_ROUTING_HV_SINT = 4;

// ---- kvm_mp_state.mp_state values

/** `KVM_MP_STATE_RUNNABLE` from <linux/kvm.h>. */
export const KVM_MP_STATE_RUNNABLE = 0;
/** `KVM_MP_STATE_UNINITIALIZED` from <linux/kvm.h>. */
export const KVM_MP_STATE_UNINITIALIZED = 1;
/** `KVM_MP_STATE_INIT_RECEIVED` from <linux/kvm.h>. */
export const KVM_MP_STATE_INIT_RECEIVED = 2;
/** `KVM_MP_STATE_HALTED` from <linux/kvm.h>. */
export const KVM_MP_STATE_HALTED = 3;
/** `KVM_MP_STATE_SIPI_RECEIVED` from <linux/kvm.h>. */
export const KVM_MP_STATE_SIPI_RECEIVED = 4;
/** `KVM_MP_STATE_STOPPED` from <linux/kvm.h>. */
export const KVM_MP_STATE_STOPPED = 5;
/** `KVM_MP_STATE_CHECK_STOP` from <linux/kvm.h>. */
export const KVM_MP_STATE_CHECK_STOP = 6;
/** `KVM_MP_STATE_OPERATING` from <linux/kvm.h>. */
export const KVM_MP_STATE_OPERATING = 7;
/** `KVM_MP_STATE_LOAD` from <linux/kvm.h>. */
export const KVM_MP_STATE_LOAD = 8;
/** `KVM_MP_STATE_AP_RESET_HOLD` from <linux/kvm.h>. */
export const KVM_MP_STATE_AP_RESET_HOLD = 9;
/** `KVM_MP_STATE_SUSPENDED` from <linux/kvm.h>. */
export const KVM_MP_STATE_SUSPENDED = 10;

// ---- kvm_irqchip.chip_id values and interrupt controller sizes

/** `KVM_NR_INTERRUPTS` from <linux/kvm.h>. */
export const KVM_NR_INTERRUPTS = 256;
/** `KVM_IOAPIC_NUM_PINS` from <linux/kvm.h>. */
export const KVM_IOAPIC_NUM_PINS = 24;
/** `KVM_IRQCHIP_PIC_MASTER` from <linux/kvm.h>. */
export const KVM_IRQCHIP_PIC_MASTER = 0;
/** `KVM_IRQCHIP_PIC_SLAVE` from <linux/kvm.h>. */
export const KVM_IRQCHIP_PIC_SLAVE = 1;
/** `KVM_IRQCHIP_IOAPIC` from <linux/kvm.h>. */
export const KVM_IRQCHIP_IOAPIC = 2;
/** `KVM_NR_IRQCHIPS` from <linux/kvm.h>. */
export const KVM_NR_IRQCHIPS = 3;
/** `KVM_APIC_REG_SIZE` from <linux/kvm.h>. */
export const KVM_APIC_REG_SIZE = 1024;

// ---- kvm_pit_config / kvm_pit_state2 flags

/** `KVM_PIT_SPEAKER_DUMMY` from <linux/kvm.h>. */
export const KVM_PIT_SPEAKER_DUMMY = 1;
/** `KVM_PIT_FLAGS_HPET_LEGACY` from <linux/kvm.h>. */
export const KVM_PIT_FLAGS_HPET_LEGACY = 1;
/** `KVM_PIT_FLAGS_SPEAKER_DATA_ON` from <linux/kvm.h>. */
export const KVM_PIT_FLAGS_SPEAKER_DATA_ON = 2;

// ---- kvm_vcpu_events.flags and shadow bits

/** `KVM_VCPUEVENT_VALID_NMI_PENDING` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_NMI_PENDING = 1;
/** `KVM_VCPUEVENT_VALID_SIPI_VECTOR` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_SIPI_VECTOR = 2;
/** `KVM_VCPUEVENT_VALID_SHADOW` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_SHADOW = 4;
/** `KVM_VCPUEVENT_VALID_SMM` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_SMM = 8;
/** `KVM_VCPUEVENT_VALID_PAYLOAD` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_PAYLOAD = 16;
/** `KVM_VCPUEVENT_VALID_TRIPLE_FAULT` from <linux/kvm.h>. */
export const KVM_VCPUEVENT_VALID_TRIPLE_FAULT = 32;
/** `KVM_X86_SHADOW_INT_MOV_SS` from <linux/kvm.h>. */
export const KVM_X86_SHADOW_INT_MOV_SS = 1;
/** `KVM_X86_SHADOW_INT_STI` from <linux/kvm.h>. */
export const KVM_X86_SHADOW_INT_STI = 2;

// ---- kvm_cpuid_entry2.flags

/** `KVM_CPUID_FLAG_SIGNIFCANT_INDEX` from <linux/kvm.h>. */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;
/** `KVM_CPUID_FLAG_STATEFUL_FUNC` from <linux/kvm.h>. */
export const KVM_CPUID_FLAG_STATEFUL_FUNC = 2;
/** `KVM_CPUID_FLAG_STATE_READ_NEXT` from <linux/kvm.h>. */
export const KVM_CPUID_FLAG_STATE_READ_NEXT = 4;

// ---- kvm_clock_data.flags

/** `KVM_CLOCK_TSC_STABLE` from <linux/kvm.h>. */
export const KVM_CLOCK_TSC_STABLE = 2;
/** `KVM_CLOCK_REALTIME` from <linux/kvm.h>. */
export const KVM_CLOCK_REALTIME = 4;
/** `KVM_CLOCK_HOST_TSC` from <linux/kvm.h>. */
export const KVM_CLOCK_HOST_TSC = 8;

// ---- kvm_msi.flags

/** `KVM_MSI_VALID_DEVID` from <linux/kvm.h>. */
export const KVM_MSI_VALID_DEVID = 1;

// ---- KVM_CAP_X86_DISABLE_EXITS arguments

/** `KVM_X86_DISABLE_EXITS_MWAIT` from <linux/kvm.h>. */
export const KVM_X86_DISABLE_EXITS_MWAIT = 1;
/** `KVM_X86_DISABLE_EXITS_HLT` from <linux/kvm.h>. */
export const KVM_X86_DISABLE_EXITS_HLT = 2;
/** `KVM_X86_DISABLE_EXITS_PAUSE` from <linux/kvm.h>. */
export const KVM_X86_DISABLE_EXITS_PAUSE = 4;
/** `KVM_X86_DISABLE_EXITS_CSTATE` from <linux/kvm.h>. */
export const KVM_X86_DISABLE_EXITS_CSTATE = 8;
/** `KVM_X86_DISABLE_VALID_EXITS` from <linux/kvm.h>. */
export const KVM_X86_DISABLE_VALID_EXITS = 15;

// ---- KVM_CAP_X2APIC_API arguments

/** `KVM_X2APIC_API_USE_32BIT_IDS` from <linux/kvm.h>. */
export const KVM_X2APIC_API_USE_32BIT_IDS = 1;
/** `KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK` from <linux/kvm.h>. */
export const KVM_X2APIC_API_DISABLE_BROADCAST_QUIRK = 2;

// ---- KVM_CAP_DISABLE_QUIRKS arguments

/** `KVM_X86_QUIRK_LINT0_REENABLED` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_LINT0_REENABLED = 1;
/** `KVM_X86_QUIRK_CD_NW_CLEARED` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_CD_NW_CLEARED = 2;
/** `KVM_X86_QUIRK_LAPIC_MMIO_HOLE` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_LAPIC_MMIO_HOLE = 4;
/** `KVM_X86_QUIRK_OUT_7E_INC_RIP` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_OUT_7E_INC_RIP = 8;
/** `KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_MISC_ENABLE_NO_MWAIT = 16;
/** `KVM_X86_QUIRK_FIX_HYPERCALL_INSN` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_FIX_HYPERCALL_INSN = 32;
/** `KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS` from <linux/kvm.h>. */
export const KVM_X86_QUIRK_MWAIT_NEVER_UD_FAULTS = 64;

// ---- KVM_CAP_X86_NOTIFY_VMEXIT arguments

/** `KVM_X86_NOTIFY_VMEXIT_ENABLED` from <linux/kvm.h>. */
export const KVM_X86_NOTIFY_VMEXIT_ENABLED = 1;
/** `KVM_X86_NOTIFY_VMEXIT_USER` from <linux/kvm.h>. */
export const KVM_X86_NOTIFY_VMEXIT_USER = 2;

// ---- KVM_CAP_X86_BUS_LOCK_EXIT arguments

/** `KVM_BUS_LOCK_DETECTION_OFF` from <linux/kvm.h>. */
export const KVM_BUS_LOCK_DETECTION_OFF = 1;
/** `KVM_BUS_LOCK_DETECTION_EXIT` from <linux/kvm.h>. */
export const KVM_BUS_LOCK_DETECTION_EXIT = 2;

// ---- KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 / dirty ring

/** `KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE` from <linux/kvm.h>. */
export const KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE = 1;
/** `KVM_DIRTY_LOG_INITIALLY_SET` from <linux/kvm.h>. */
export const KVM_DIRTY_LOG_INITIALLY_SET = 2;
/** `KVM_DIRTY_LOG_PAGE_OFFSET` from <linux/kvm.h>. */
export const KVM_DIRTY_LOG_PAGE_OFFSET = 64;
/** `KVM_DIRTY_GFN_F_DIRTY` from <linux/kvm.h>. */
export const KVM_DIRTY_GFN_F_DIRTY = 1;
/** `KVM_DIRTY_GFN_F_RESET` from <linux/kvm.h>. */
export const KVM_DIRTY_GFN_F_RESET = 2;
/** `KVM_DIRTY_GFN_F_MASK` from <linux/kvm.h>. */
export const KVM_DIRTY_GFN_F_MASK = 3;

// ---- KVM_X86_SET_MSR_FILTER

/** `KVM_MSR_FILTER_MAX_BITMAP_SIZE` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 1536;
/** `KVM_MSR_FILTER_READ` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_READ = 1;
/** `KVM_MSR_FILTER_WRITE` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_WRITE = 2;
/** `KVM_MSR_FILTER_MAX_RANGES` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_MAX_RANGES = 16;
/** `KVM_MSR_FILTER_DEFAULT_ALLOW` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
/** `KVM_MSR_FILTER_DEFAULT_DENY` from <linux/kvm.h>. */
export const KVM_MSR_FILTER_DEFAULT_DENY = 1;

// ---- KVM_SET_PMU_EVENT_FILTER / KVM_CAP_PMU_CAPABILITY

/** `KVM_PMU_CAP_DISABLE` from <linux/kvm.h>. */
export const KVM_PMU_CAP_DISABLE = 1;
/** `KVM_PMU_EVENT_ALLOW` from <linux/kvm.h>. */
export const KVM_PMU_EVENT_ALLOW = 0;
/** `KVM_PMU_EVENT_DENY` from <linux/kvm.h>. */
export const KVM_PMU_EVENT_DENY = 1;

// ---- kvm_run.kvm_valid_regs / sync regs

/** `KVM_SYNC_X86_REGS` from <linux/kvm.h>. */
export const KVM_SYNC_X86_REGS = 1;
/** `KVM_SYNC_X86_SREGS` from <linux/kvm.h>. */
export const KVM_SYNC_X86_SREGS = 2;
/** `KVM_SYNC_X86_EVENTS` from <linux/kvm.h>. */
export const KVM_SYNC_X86_EVENTS = 4;
/** `KVM_SYNC_X86_VALID_FIELDS` from <linux/kvm.h>. */
export const KVM_SYNC_X86_VALID_FIELDS = 7;

// ---- kvm_run.flags

/** `KVM_RUN_X86_SMM` from <linux/kvm.h>. */
export const KVM_RUN_X86_SMM = 1;
/** `KVM_RUN_X86_BUS_LOCK` from <linux/kvm.h>. */
export const KVM_RUN_X86_BUS_LOCK = 2;

// ---- kvm_run.notify.flags

/** `KVM_NOTIFY_CONTEXT_INVALID` from <linux/kvm.h>. */
export const KVM_NOTIFY_CONTEXT_INVALID = 1;

// ---- vCPU mmap page offsets (in pages)

/** `KVM_PIO_PAGE_OFFSET` from <linux/kvm.h>. */
export const KVM_PIO_PAGE_OFFSET = 1;
/** `KVM_COALESCED_MMIO_PAGE_OFFSET` from <linux/kvm.h>. */
export const KVM_COALESCED_MMIO_PAGE_OFFSET = 2;

// ---- Hyper-V eventfd

/** `KVM_HYPERV_EVENTFD_DEASSIGN` from <linux/kvm.h>. */
export const KVM_HYPERV_EVENTFD_DEASSIGN = 1;

// ---- Device types for KVM_CREATE_DEVICE

/** `KVM_DEV_TYPE_VFIO` from <linux/kvm.h>. */
export const KVM_DEV_TYPE_VFIO = 4;

// ---- kvm_sregs2.flags

/** `KVM_SREGS2_FLAGS_PDPTRS_VALID` from <linux/kvm.h>. */
export const KVM_SREGS2_FLAGS_PDPTRS_VALID = 1;

// ---- Misc limits

/** `KVM_MAX_XCRS` from <linux/kvm.h>. */
export const KVM_MAX_XCRS = 16;
/** `KVM_X86_XCOMP_GUEST_SUPP` from <linux/kvm.h>. */
export const KVM_X86_XCOMP_GUEST_SUPP = 0;
/** `KVM_VCPU_TSC_CTRL` from <linux/kvm.h>. */
export const KVM_VCPU_TSC_CTRL = 0;
/** `KVM_VCPU_TSC_OFFSET` from <linux/kvm.h>. */
export const KVM_VCPU_TSC_OFFSET = 0;

// ---- Host (non-KVM) constants for the addon's generic calls (x86-64 Linux values)

/** `open()` flags. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECT = 0o40000;
export const O_CLOEXEC = 0o2000000;

/** `mmap()` protection bits. */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** `mmap()` flags. */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;

/** `memfd_create()` flags (the addon always adds MFD_CLOEXEC). */
export const MFD_CLOEXEC = 1;
export const MFD_ALLOW_SEALING = 2;
export const MFD_HUGETLB = 4;

/** `eventfd()` flags (the addon always adds EFD_CLOEXEC). */
export const EFD_SEMAPHORE = 1;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** Events for the addon's `watchFd`: readable, writable, error/hangup (reported only). */
export const WATCH_READABLE = 1;
export const WATCH_WRITABLE = 2;
export const WATCH_ERROR = 4;

/** The addon's `ioctlFast` returns this (-EINTR) when a kick signal interrupted the ioctl. */
export const EINTR_RESULT = -4;
/**
 * The addon's `ioctlFast` returns this (-EAGAIN) when the ioctl asks to be called again: KVM_RUN of
 * an application processor that was waiting for INIT/SIPI and has just received them.
 */
export const EAGAIN_RESULT = -11;

/** TUN/TAP ioctls (<linux/if_tun.h>), for opening a tap device through the generic `ioctl`. */
export const TUNSETIFF = _IOW(0x54, 202, 4 /* int */);
export const TUNGETIFF = _IOR(0x54, 210, 4 /* unsigned int */);
export const TUNSETOFFLOAD = _IOW(0x54, 208, 4 /* unsigned int */);
export const TUNSETVNETHDRSZ = _IOW(0x54, 216, 4 /* int */);
export const TUNGETVNETHDRSZ = _IOR(0x54, 215, 4 /* int */);
export const TUNGETFEATURES = _IOR(0x54, 207, 4 /* unsigned int */);

/** `struct ifreq.ifr_flags` bits for TUNSETIFF. */
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NAPI = 0x0010;
export const IFF_NAPI_FRAGS = 0x0020;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_ONE_QUEUE = 0x2000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;
/** TUNSETOFFLOAD bits. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** Size of `struct ifreq` (name 16 bytes + union 24 bytes). */
export const IFREQ_SIZE = 40;
/** Maximum interface name length including the NUL (IFNAMSIZ). */
export const IFNAMSIZ = 16;
