/**
 * Register offsets and field values shared by the local APIC, the IOAPIC and MSI decoding (Intel SDM
 * vol. 3, chapter 11; offsets are into the 4 KiB xAPIC page and the 1 KiB `kvm_lapic_state`).
 *
 * @module
 */

/** Default physical address of the xAPIC MMIO page. */
export const LAPIC_DEFAULT_BASE = 0xfee0_0000;
/** Size of the decoded xAPIC window. */
export const LAPIC_MMIO_SIZE = 0x1000;
/** Size of the register page exchanged by `getLapic`/`setLapic` (`kvm_lapic_state`). */
export const LAPIC_REGISTER_PAGE_SIZE = 0x400;

/** xAPIC register offsets (x2APIC MSR = 0x800 + offset / 16). */
export const LapicReg = {
  ID: 0x20,
  VERSION: 0x30,
  TPR: 0x80,
  APR: 0x90,
  PPR: 0xa0,
  EOI: 0xb0,
  RRD: 0xc0,
  LDR: 0xd0,
  DFR: 0xe0,
  SVR: 0xf0,
  ISR: 0x100,
  TMR: 0x180,
  IRR: 0x200,
  ESR: 0x280,
  LVT_CMCI: 0x2f0,
  ICR_LOW: 0x300,
  ICR_HIGH: 0x310,
  LVT_TIMER: 0x320,
  LVT_THERMAL: 0x330,
  LVT_PERF: 0x340,
  LVT_LINT0: 0x350,
  LVT_LINT1: 0x360,
  LVT_ERROR: 0x370,
  TIMER_INITIAL: 0x380,
  TIMER_CURRENT: 0x390,
  TIMER_DIVIDE: 0x3e0,
  /** x2APIC only (MSR 0x83f). */
  SELF_IPI: 0x3f0,
} as const;

/** Interrupt delivery modes (ICR, LVT, IOAPIC redirection entries, MSI data bits 8-10). */
export const DeliveryMode = {
  FIXED: 0,
  LOWEST_PRIORITY: 1,
  SMI: 2,
  NMI: 4,
  INIT: 5,
  STARTUP: 6,
  EXTINT: 7,
} as const;

/** ICR destination shorthands (bits 18-19). */
export const Shorthand = {
  NONE: 0,
  SELF: 1,
  ALL_INCLUDING_SELF: 2,
  ALL_EXCLUDING_SELF: 3,
} as const;

/** LVT timer modes (bits 17-18). */
export const TimerMode = {
  ONE_SHOT: 0,
  PERIODIC: 1,
  TSC_DEADLINE: 2,
} as const;

/** MSR numbers the local APIC answers. */
export const ApicMsr = {
  APIC_BASE: 0x1b,
  TSC_DEADLINE: 0x6e0,
  X2APIC_FIRST: 0x800,
  X2APIC_LAST: 0x8ff,
} as const;

/** IA32_APIC_BASE bits. */
export const ApicBaseBits = {
  BSP: 1 << 8,
  X2APIC_ENABLE: 1 << 10,
  GLOBAL_ENABLE: 1 << 11,
} as const;

/** Error status register (ESR) bits. */
export const ApicEsrBit = {
  SEND_ILLEGAL_VECTOR: 1 << 5,
  RECEIVE_ILLEGAL_VECTOR: 1 << 6,
  ILLEGAL_REGISTER: 1 << 7,
} as const;

/** LVT mask bit. */
export const LVT_MASKED = 1 << 16;

/** vCPU run states, the same values as `MpState` of `@ts-vmm/hypervisor` (KVM_MP_STATE_*). */
export const ApicMpState = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** Default physical address of the IOAPIC. */
export const IOAPIC_DEFAULT_BASE = 0xfec0_0000;
/** Number of IOAPIC input pins (as KVM's in-kernel IOAPIC). */
export const IOAPIC_NUM_PINS = 24;
/** IOAPIC version register value: version 0x20, maximum redirection entry 23. */
export const IOAPIC_VERSION = 0x0017_0020;
