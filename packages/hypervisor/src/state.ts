/**
 * The plain state shapes both backends share: registers, FPU, MSRs, CPUID, debug registers, vCPU
 * events, the LAPIC page, the PIC/IOAPIC, the PIT and the VM clock. Each is the matching KVM
 * structure (`kvm_regs`, `kvm_sregs`, `kvm_fpu`, ...) with the C field names, u64 fields as `bigint`
 * and the C padding left out, so a snapshot made of them moves between KVM and the emulator.
 * `@ts-vmm/kvm-sys` holds the layout-checked codecs that turn them into the C bytes; this module is
 * plain TypeScript.
 *
 * @module
 */

/** General-purpose registers: `kvm_regs`. */
export interface Regs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

/** A segment register: `kvm_segment` (its attribute bits as separate numbers, 0 or 1 for flags). */
export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  /** Descriptor type (4 bits). */
  type: number;
  present: number;
  dpl: number;
  /** Default operation size (D/B). */
  db: number;
  /** Code/data (1) or system (0) descriptor. */
  s: number;
  /** 64-bit code segment. */
  l: number;
  /** Granularity (limit in 4 KiB units). */
  g: number;
  avl: number;
  /** Null or unusable selector. */
  unusable: number;
}

/** A descriptor table register: `kvm_dtable`. */
export interface DTable {
  base: bigint;
  limit: number;
}

/**
 * Special registers: `kvm_sregs`. `interrupt_bitmap` (256 bits as 4 u64) has at most one bit set:
 * a pending external interrupt.
 */
export interface Sregs {
  cs: Segment;
  ds: Segment;
  es: Segment;
  fs: Segment;
  gs: Segment;
  ss: Segment;
  tr: Segment;
  ldt: Segment;
  gdt: DTable;
  idt: DTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  interrupt_bitmap: bigint[];
}

/**
 * x87/SSE state: `kvm_fpu`. `fpr`: 8 registers x 16 bytes (80-bit values in the low 10 bytes);
 * `xmm`: 16 registers x 16 bytes.
 */
export interface Fpu {
  fpr: Uint8Array;
  fcw: number;
  fsw: number;
  /** Abridged tag word (one bit per register, 1 = valid), as FXSAVE stores it. */
  ftwx: number;
  last_opcode: number;
  last_ip: bigint;
  last_dp: bigint;
  xmm: Uint8Array;
  mxcsr: number;
}

/** One MSR value: `kvm_msr_entry`. */
export interface MsrEntry {
  index: number;
  data: bigint;
}

/**
 * One CPUID leaf: `kvm_cpuid_entry2`. `flags` is KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1) when `index`
 * selects a sub-leaf.
 */
export interface CpuidEntry {
  function: number;
  index: number;
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Debug registers: `kvm_debugregs` (`db` holds DR0-DR3). */
export interface DebugRegs {
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
  flags: bigint;
}

/** One extended control register: `kvm_xcr` (XCR0 is `xcr: 0`). */
export interface Xcr {
  xcr: number;
  value: bigint;
}

/**
 * Pending and injected events of a vCPU: `kvm_vcpu_events` (exception, interrupt, NMI, SIPI, SMI
 * and their shadow). `flags` holds KVM_VCPUEVENT_VALID_* bits saying which parts are meaningful.
 */
export interface VcpuEvents {
  exception: { injected: number; nr: number; has_error_code: number; pending: number; error_code: number };
  interrupt: { injected: number; nr: number; soft: number; shadow: number };
  nmi: { injected: number; pending: number; masked: number };
  sipi_vector: number;
  flags: number;
  smi: { smm: number; pending: number; smm_inside_nmi: number; latched_init: number };
  triple_fault: { pending: number };
  exception_has_payload: number;
  exception_payload: bigint;
}

/** The local APIC's 1 KiB register page: `kvm_lapic_state` (offsets are the xAPIC MMIO offsets). */
export interface LapicState {
  regs: Uint8Array;
}

/** One 8259A: `kvm_pic_state`. */
export interface PicState {
  last_irr: number;
  irr: number;
  imr: number;
  isr: number;
  priority_add: number;
  irq_base: number;
  read_reg_select: number;
  poll: number;
  special_mask: number;
  init_state: number;
  auto_eoi: number;
  rotate_on_auto_eoi: number;
  special_fully_nested_mode: number;
  init4: number;
  elcr: number;
  elcr_mask: number;
}

/** The IOAPIC: `kvm_ioapic_state`; `redirtbl` holds the 24 raw 64-bit redirection entries. */
export interface IoapicState {
  base_address: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  redirtbl: bigint[];
}

/** The interrupt controllers of a VM: `kvm_irqchip` for each chip (PIC master, PIC slave, IOAPIC). */
export interface IrqchipState {
  picMaster: PicState;
  picSlave: PicState;
  ioapic: IoapicState;
}

/** One 8254 channel: `kvm_pit_channel_state` (`count_load_time` in the backend's ns clock). */
export interface PitChannelState {
  count: number;
  latched_count: number;
  count_latched: number;
  status_latched: number;
  status: number;
  read_state: number;
  write_state: number;
  write_latch: number;
  rw_mode: number;
  mode: number;
  bcd: number;
  gate: number;
  count_load_time: bigint;
}

/** The 8254 PIT: `kvm_pit_state2` (three channels; `flags`: KVM_PIT_FLAGS_HPET_LEGACY, ...). */
export interface PitState {
  channels: PitChannelState[];
  flags: number;
}

/**
 * The VM's clock: `kvm_clock_data` (`clock` in ns of guest kvmclock time). `realtime` and
 * `host_tsc` are meaningful when `flags` has KVM_CLOCK_REALTIME / KVM_CLOCK_HOST_TSC.
 */
export interface ClockData {
  clock: bigint;
  flags: number;
  realtime?: bigint;
  host_tsc?: bigint;
}
