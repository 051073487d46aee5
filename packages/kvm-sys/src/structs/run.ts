// struct kvm_run: the page shared between KVM and the VMM for each vCPU (mmap of the vCPU fd),
// with the x86 exit payloads. Hot-path code reads single fields through KVM_RUN_OFFSETS and a
// DataView over the mapping; decodeKvmRunExit() decodes a whole exit for the cold path.

import { KvmSysError } from '../errors.js';
import {
  KVM_EXIT_DEBUG,
  KVM_EXIT_EXCEPTION,
  KVM_EXIT_FAIL_ENTRY,
  KVM_EXIT_HLT,
  KVM_EXIT_HYPERCALL,
  KVM_EXIT_HYPERV,
  KVM_EXIT_INTERNAL_ERROR,
  KVM_EXIT_INTR,
  KVM_EXIT_IO,
  KVM_EXIT_IOAPIC_EOI,
  KVM_EXIT_IRQ_WINDOW_OPEN,
  KVM_EXIT_MMIO,
  KVM_EXIT_NOTIFY,
  KVM_EXIT_SHUTDOWN,
  KVM_EXIT_SYSTEM_EVENT,
  KVM_EXIT_TPR_ACCESS,
  KVM_EXIT_UNKNOWN,
  KVM_EXIT_X86_BUS_LOCK,
  KVM_EXIT_X86_RDMSR,
  KVM_EXIT_X86_WRMSR,
  KVM_INTERNAL_ERROR_EMULATION,
} from '../ioctl-numbers.js';
import { KVM_EXIT_MEMORY_FAULT } from '../kvm-constants-newer.js';
import { array, bytes, defineStruct, type Struct, u8, u16, u32, u64 } from './layout.js';
import { KvmRegs, type KvmRegsValue, KvmSregs, type KvmSregsValue } from './regs.js';
import {
  KvmDebugExitArch,
  type KvmDebugExitArchValue,
  KvmVcpuEvents,
  type KvmVcpuEventsValue,
} from './vcpu-state.js';

/** Offset of the exit union inside kvm_run. */
const EXIT = 32;

/** kvm_run.io (KVM_EXIT_IO). Data lives in the run page at `data_offset`: `size * count` bytes. */
export interface KvmRunIo {
  /** KVM_EXIT_IO_IN (0) or KVM_EXIT_IO_OUT (1) */
  direction: number;
  /** Bytes per access: 1, 2 or 4. */
  size: number;
  port: number;
  /** Repetitions (string I/O). */
  count: number;
  /** Offset of the data from the start of kvm_run. */
  data_offset: bigint;
}
const Io = defineStruct<KvmRunIo>('', [
  ['direction', u8],
  ['size', u8],
  ['port', u16],
  ['count', u32],
  ['data_offset', u64],
]);
/** kvm_run.mmio (KVM_EXIT_MMIO). */
export interface KvmRunMmio {
  phys_addr: bigint;
  /** 8 bytes; the first `len` are meaningful. For reads, the VMM writes the result here. */
  data: Uint8Array;
  len: number;
  is_write: number;
}
const Mmio = defineStruct<KvmRunMmio>('', [
  ['phys_addr', u64],
  ['data', bytes(8)],
  ['len', u32],
  ['is_write', u8],
]);
/** kvm_run.hw (KVM_EXIT_UNKNOWN). */
export interface KvmRunHw {
  hardware_exit_reason: bigint;
}
const Hw = defineStruct<KvmRunHw>('', [['hardware_exit_reason', u64]]);
/** kvm_run.fail_entry (KVM_EXIT_FAIL_ENTRY). */
export interface KvmRunFailEntry {
  hardware_entry_failure_reason: bigint;
  cpu: number;
}
const FailEntry = defineStruct<KvmRunFailEntry>('', [
  ['hardware_entry_failure_reason', u64],
  ['cpu', u32],
]);
/** kvm_run.ex (KVM_EXIT_EXCEPTION). */
export interface KvmRunEx {
  exception: number;
  error_code: number;
}
const Ex = defineStruct<KvmRunEx>('', [
  ['exception', u32],
  ['error_code', u32],
]);
/** kvm_run.debug (KVM_EXIT_DEBUG). */
export interface KvmRunDebug {
  arch: KvmDebugExitArchValue;
}
const Debug = defineStruct<KvmRunDebug>('', [['arch', KvmDebugExitArch]]);
/** kvm_run.hypercall (KVM_EXIT_HYPERCALL). */
export interface KvmRunHypercall {
  nr: bigint;
  args: bigint[];
  ret: bigint;
  longmode: number;
  pad: number;
}
const Hypercall = defineStruct<KvmRunHypercall>('', [
  ['nr', u64],
  ['args', array(u64, 6)],
  ['ret', u64],
  ['longmode', u32],
  ['pad', u32],
]);
/** kvm_run.tpr_access (KVM_EXIT_TPR_ACCESS). */
export interface KvmRunTprAccess {
  rip: bigint;
  is_write: number;
  pad: number;
}
const TprAccess = defineStruct<KvmRunTprAccess>('', [
  ['rip', u64],
  ['is_write', u32],
  ['pad', u32],
]);
/** kvm_run.internal (KVM_EXIT_INTERNAL_ERROR). */
export interface KvmRunInternal {
  /** KVM_INTERNAL_ERROR_* */
  suberror: number;
  ndata: number;
  data: bigint[];
}
const Internal = defineStruct<KvmRunInternal>('', [
  ['suberror', u32],
  ['ndata', u32],
  ['data', array(u64, 16)],
]);
/** kvm_run.emulation_failure (KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION). */
export interface KvmRunEmulationFailure {
  suberror: number;
  ndata: number;
  /** KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES: insn_size/insn_bytes are valid. */
  flags: bigint;
  insn_size: number;
  insn_bytes: Uint8Array;
}
const EmulationFailure = defineStruct<KvmRunEmulationFailure>('', [
  ['suberror', u32],
  ['ndata', u32],
  ['flags', u64],
  ['insn_size', u8],
  ['insn_bytes', bytes(15)],
]);
/** kvm_run.system_event (KVM_EXIT_SYSTEM_EVENT). `flags` aliases `data[0]`. */
export interface KvmRunSystemEvent {
  /** KVM_SYSTEM_EVENT_* */
  type: number;
  ndata: number;
  flags: bigint;
  data: bigint[];
}
const SystemEvent = defineStruct<KvmRunSystemEvent>('', [
  ['type', u32],
  ['ndata', u32],
  ['flags', u64, { at: 8 }],
  ['data', array(u64, 16), { at: 8 }],
]);
/** kvm_run.eoi (KVM_EXIT_IOAPIC_EOI). */
export interface KvmRunEoi {
  vector: number;
}
const Eoi = defineStruct<KvmRunEoi>('', [['vector', u8]]);
/** kvm_run.msr (KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR). */
export interface KvmRunMsr {
  /** Set by the VMM: 1 injects #GP. */
  error: number;
  pad: Uint8Array;
  /** KVM_MSR_EXIT_REASON_* */
  reason: number;
  index: number;
  /** RDMSR: the VMM writes the value here; WRMSR: the value written. */
  data: bigint;
}
const Msr = defineStruct<KvmRunMsr>('', [
  ['error', u8],
  ['pad', bytes(7)],
  ['reason', u32],
  ['index', u32],
  ['data', u64],
]);
/** kvm_run.notify (KVM_EXIT_NOTIFY). */
export interface KvmRunNotify {
  /** KVM_NOTIFY_CONTEXT_INVALID */
  flags: number;
}
const Notify = defineStruct<KvmRunNotify>('', [['flags', u32]]);
/** kvm_run.memory_fault (KVM_EXIT_MEMORY_FAULT, Linux 6.8+; not in older headers). */
export interface KvmRunMemoryFault {
  /** KVM_MEMORY_EXIT_FLAG_PRIVATE */
  flags: bigint;
  gpa: bigint;
  size: bigint;
}
const MemoryFault = defineStruct<KvmRunMemoryFault>('', [
  ['flags', u64],
  ['gpa', u64],
  ['size', u64],
]);
/** `struct kvm_hyperv_exit` (kvm_run.hyperv, KVM_EXIT_HYPERV). All variants are decoded; `type` says which is valid. */
export interface KvmHypervExitValue {
  /** KVM_EXIT_HYPERV_SYNIC / _HCALL / _SYNDBG */
  type: number;
  pad1: number;
  u: {
    synic: { msr: number; pad2: number; control: bigint; evt_page: bigint; msg_page: bigint };
    hcall: { input: bigint; result: bigint; params: bigint[] };
    syndbg: {
      msr: number;
      pad2: number;
      control: bigint;
      status: bigint;
      send_page: bigint;
      recv_page: bigint;
      pending_page: bigint;
    };
  };
}
/** Layout of `struct kvm_hyperv_exit` (64 bytes). @example KvmHypervExit.decode(run, KVM_RUN_OFFSETS.exit).type */
export const KvmHypervExit: Struct<KvmHypervExitValue> = defineStruct('kvm_hyperv_exit', [
  ['type', u32],
  ['pad1', u32],
  [
    'u',
    defineStruct('', [
      [
        'synic',
        defineStruct('', [
          ['msr', u32],
          ['pad2', u32],
          ['control', u64],
          ['evt_page', u64],
          ['msg_page', u64],
        ]),
        { at: 0 },
      ],
      [
        'hcall',
        defineStruct('', [
          ['input', u64],
          ['result', u64],
          ['params', array(u64, 2)],
        ]),
        { at: 0 },
      ],
      [
        'syndbg',
        defineStruct('', [
          ['msr', u32],
          ['pad2', u32],
          ['control', u64],
          ['status', u64],
          ['send_page', u64],
          ['recv_page', u64],
          ['pending_page', u64],
        ]),
        { at: 0 },
      ],
    ]),
  ],
]);

/** `struct kvm_sync_regs` (x86): registers shared through kvm_run.s with KVM_CAP_SYNC_REGS. */
export interface KvmSyncRegsValue {
  regs: KvmRegsValue;
  sregs: KvmSregsValue;
  events: KvmVcpuEventsValue;
}
/** Layout of `struct kvm_sync_regs` (520 bytes). @example KvmSyncRegs.decode(run, KVM_RUN_OFFSETS.s).regs.rip */
export const KvmSyncRegs: Struct<KvmSyncRegsValue> = defineStruct('kvm_sync_regs', [
  ['regs', KvmRegs],
  ['sregs', KvmSregs],
  ['events', KvmVcpuEvents],
]);

/** `struct kvm_run` decoded in full (every exit payload decoded; only the one `exit_reason` names is meaningful). */
export interface KvmRunValue {
  request_interrupt_window: number;
  immediate_exit: number;
  padding1: Uint8Array;
  exit_reason: number;
  ready_for_interrupt_injection: number;
  if_flag: number;
  flags: number;
  cr8: bigint;
  apic_base: bigint;
  hw: KvmRunHw;
  fail_entry: KvmRunFailEntry;
  ex: KvmRunEx;
  io: KvmRunIo;
  debug: KvmRunDebug;
  mmio: KvmRunMmio;
  hypercall: KvmRunHypercall;
  tpr_access: KvmRunTprAccess;
  internal: KvmRunInternal;
  emulation_failure: KvmRunEmulationFailure;
  system_event: KvmRunSystemEvent;
  eoi: KvmRunEoi;
  hyperv: KvmHypervExitValue;
  msr: KvmRunMsr;
  notify: KvmRunNotify;
  memory_fault: KvmRunMemoryFault;
  kvm_valid_regs: bigint;
  kvm_dirty_regs: bigint;
  s: { regs: KvmSyncRegsValue };
}
/**
 * Layout of `struct kvm_run` (2352 bytes; the mapping is KVM_GET_VCPU_MMAP_SIZE bytes and also holds
 * the PIO data page and the coalesced MMIO ring). Prefer {@link KVM_RUN_OFFSETS} on the hot path.
 * @example const run = KvmRun.decode(new Uint8Array(runMapping)); run.exit_reason;
 */
export const KvmRun: Struct<KvmRunValue> = defineStruct(
  'kvm_run',
  [
    ['request_interrupt_window', u8],
    ['immediate_exit', u8],
    ['padding1', bytes(6)],
    ['exit_reason', u32],
    ['ready_for_interrupt_injection', u8],
    ['if_flag', u8],
    ['flags', u16],
    ['cr8', u64],
    ['apic_base', u64],
    ['hw', Hw, { at: EXIT }],
    ['fail_entry', FailEntry, { at: EXIT }],
    ['ex', Ex, { at: EXIT }],
    ['io', Io, { at: EXIT }],
    ['debug', Debug, { at: EXIT }],
    ['mmio', Mmio, { at: EXIT }],
    ['hypercall', Hypercall, { at: EXIT }],
    ['tpr_access', TprAccess, { at: EXIT }],
    ['internal', Internal, { at: EXIT }],
    ['emulation_failure', EmulationFailure, { at: EXIT }],
    ['system_event', SystemEvent, { at: EXIT }],
    ['eoi', Eoi, { at: EXIT }],
    ['hyperv', KvmHypervExit, { at: EXIT }],
    ['msr', Msr, { at: EXIT }],
    ['notify', Notify, { at: EXIT }],
    ['memory_fault', MemoryFault, { at: EXIT }],
    ['kvm_valid_regs', u64, { at: EXIT + 256 }],
    ['kvm_dirty_regs', u64, { at: EXIT + 264 }],
    ['s', defineStruct('', [['regs', KvmSyncRegs]], { size: 2048 }), { at: EXIT + 272 }],
  ],
  { size: EXIT + 272 + 2048 },
);

/**
 * Byte offsets into the kvm_run mapping for hot-path field access (read with a DataView, little-endian).
 * @example
 * const view = new DataView(runMapping);
 * if (view.getUint32(KVM_RUN_OFFSETS.exit_reason, true) === KVM_EXIT_IO) {
 *   const port = view.getUint16(KVM_RUN_OFFSETS.io_port, true);
 *   const dataAt = Number(view.getBigUint64(KVM_RUN_OFFSETS.io_data_offset, true));
 * }
 */
export const KVM_RUN_OFFSETS = {
  request_interrupt_window: 0,
  immediate_exit: 1,
  exit_reason: 8,
  ready_for_interrupt_injection: 12,
  if_flag: 13,
  flags: 14,
  cr8: 16,
  apic_base: 24,
  /** Start of the exit union. */
  exit: 32,
  hw_hardware_exit_reason: 32,
  fail_entry_hardware_entry_failure_reason: 32,
  fail_entry_cpu: 40,
  ex_exception: 32,
  ex_error_code: 36,
  io_direction: 32,
  io_size: 33,
  io_port: 34,
  io_count: 36,
  io_data_offset: 40,
  debug_arch_exception: 32,
  debug_arch_pc: 40,
  debug_arch_dr6: 48,
  debug_arch_dr7: 56,
  mmio_phys_addr: 32,
  mmio_data: 40,
  mmio_len: 48,
  mmio_is_write: 52,
  hypercall_nr: 32,
  hypercall_args: 40,
  hypercall_ret: 88,
  hypercall_longmode: 96,
  tpr_access_rip: 32,
  tpr_access_is_write: 40,
  internal_suberror: 32,
  internal_ndata: 36,
  internal_data: 40,
  emulation_failure_flags: 40,
  emulation_failure_insn_size: 48,
  emulation_failure_insn_bytes: 49,
  system_event_type: 32,
  system_event_ndata: 36,
  system_event_flags: 40,
  system_event_data: 40,
  eoi_vector: 32,
  hyperv_type: 32,
  msr_error: 32,
  msr_reason: 40,
  msr_index: 44,
  msr_data: 48,
  notify_flags: 32,
  memory_fault_flags: 32,
  memory_fault_gpa: 40,
  memory_fault_size: 48,
  kvm_valid_regs: 288,
  kvm_dirty_regs: 296,
  s: 304,
} as const;

/** Common header fields of kvm_run returned with every decoded exit. */
export interface KvmRunHeader {
  exit_reason: number;
  request_interrupt_window: number;
  immediate_exit: number;
  ready_for_interrupt_injection: number;
  if_flag: number;
  /** KVM_RUN_X86_SMM, KVM_RUN_X86_BUS_LOCK */
  flags: number;
  cr8: bigint;
  apic_base: bigint;
}

/**
 * A decoded exit, discriminated by `kind`. For `io`, `data` is a copy of the `size * count` bytes at
 * `data_offset` (or empty if that range lies outside the buffer); `emulation_failure` is present for
 * internal errors with suberror KVM_INTERNAL_ERROR_EMULATION.
 */
export type KvmRunExit = KvmRunHeader &
  (
    | { kind: 'io'; io: KvmRunIo; data: Uint8Array }
    | { kind: 'mmio'; mmio: KvmRunMmio }
    | { kind: 'hlt' }
    | { kind: 'shutdown' }
    | { kind: 'intr' }
    | { kind: 'irq_window_open' }
    | { kind: 'unknown'; hw: KvmRunHw }
    | { kind: 'fail_entry'; fail_entry: KvmRunFailEntry }
    | { kind: 'exception'; ex: KvmRunEx }
    | { kind: 'debug'; debug: KvmRunDebug }
    | { kind: 'hypercall'; hypercall: KvmRunHypercall }
    | { kind: 'tpr_access'; tpr_access: KvmRunTprAccess }
    | { kind: 'internal_error'; internal: KvmRunInternal; emulation_failure?: KvmRunEmulationFailure }
    | { kind: 'system_event'; system_event: KvmRunSystemEvent }
    | { kind: 'ioapic_eoi'; eoi: KvmRunEoi }
    | { kind: 'hyperv'; hyperv: KvmHypervExitValue }
    | { kind: 'x86_rdmsr'; msr: KvmRunMsr }
    | { kind: 'x86_wrmsr'; msr: KvmRunMsr }
    | { kind: 'x86_bus_lock' }
    | { kind: 'notify'; notify: KvmRunNotify }
    | { kind: 'memory_fault'; memory_fault: KvmRunMemoryFault }
    | { kind: 'other' }
  );

/**
 * Decodes the exit described by a kvm_run mapping (cold path: allocates).
 * @example
 * const exit = decodeKvmRunExit(new Uint8Array(runMapping));
 * if (exit.kind === 'io') console.log(exit.io.port.toString(16), exit.data);
 */
export function decodeKvmRunExit(run: Uint8Array): KvmRunExit {
  if (run.length < KvmRun.size) {
    throw new KvmSysError(
      'bounds',
      `decodeKvmRunExit: kvm_run needs ${KvmRun.size} bytes, got ${run.length}`,
    );
  }
  const v = new DataView(run.buffer, run.byteOffset, run.byteLength);
  const header: KvmRunHeader = {
    exit_reason: v.getUint32(8, true),
    request_interrupt_window: v.getUint8(0),
    immediate_exit: v.getUint8(1),
    ready_for_interrupt_injection: v.getUint8(12),
    if_flag: v.getUint8(13),
    flags: v.getUint16(14, true),
    cr8: v.getBigUint64(16, true),
    apic_base: v.getBigUint64(24, true),
  };
  switch (header.exit_reason) {
    case KVM_EXIT_IO: {
      const io = Io.read(v, EXIT);
      const start = Number(io.data_offset);
      const len = io.size * io.count;
      const data = start + len <= run.length ? run.slice(start, start + len) : new Uint8Array(0);
      return { ...header, kind: 'io', io, data };
    }
    case KVM_EXIT_MMIO:
      return { ...header, kind: 'mmio', mmio: Mmio.read(v, EXIT) };
    case KVM_EXIT_HLT:
      return { ...header, kind: 'hlt' };
    case KVM_EXIT_SHUTDOWN:
      return { ...header, kind: 'shutdown' };
    case KVM_EXIT_INTR:
      return { ...header, kind: 'intr' };
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return { ...header, kind: 'irq_window_open' };
    case KVM_EXIT_UNKNOWN:
      return { ...header, kind: 'unknown', hw: Hw.read(v, EXIT) };
    case KVM_EXIT_FAIL_ENTRY:
      return { ...header, kind: 'fail_entry', fail_entry: FailEntry.read(v, EXIT) };
    case KVM_EXIT_EXCEPTION:
      return { ...header, kind: 'exception', ex: Ex.read(v, EXIT) };
    case KVM_EXIT_DEBUG:
      return { ...header, kind: 'debug', debug: Debug.read(v, EXIT) };
    case KVM_EXIT_HYPERCALL:
      return { ...header, kind: 'hypercall', hypercall: Hypercall.read(v, EXIT) };
    case KVM_EXIT_TPR_ACCESS:
      return { ...header, kind: 'tpr_access', tpr_access: TprAccess.read(v, EXIT) };
    case KVM_EXIT_INTERNAL_ERROR: {
      const internal = Internal.read(v, EXIT);
      if (internal.suberror === KVM_INTERNAL_ERROR_EMULATION) {
        return {
          ...header,
          kind: 'internal_error',
          internal,
          emulation_failure: EmulationFailure.read(v, EXIT),
        };
      }
      return { ...header, kind: 'internal_error', internal };
    }
    case KVM_EXIT_SYSTEM_EVENT:
      return { ...header, kind: 'system_event', system_event: SystemEvent.read(v, EXIT) };
    case KVM_EXIT_IOAPIC_EOI:
      return { ...header, kind: 'ioapic_eoi', eoi: Eoi.read(v, EXIT) };
    case KVM_EXIT_HYPERV:
      return { ...header, kind: 'hyperv', hyperv: KvmHypervExit.read(v, EXIT) };
    case KVM_EXIT_X86_RDMSR:
      return { ...header, kind: 'x86_rdmsr', msr: Msr.read(v, EXIT) };
    case KVM_EXIT_X86_WRMSR:
      return { ...header, kind: 'x86_wrmsr', msr: Msr.read(v, EXIT) };
    case KVM_EXIT_X86_BUS_LOCK:
      return { ...header, kind: 'x86_bus_lock' };
    case KVM_EXIT_NOTIFY:
      return { ...header, kind: 'notify', notify: Notify.read(v, EXIT) };
    case KVM_EXIT_MEMORY_FAULT:
      return { ...header, kind: 'memory_fault', memory_fault: MemoryFault.read(v, EXIT) };
    default:
      return { ...header, kind: 'other' };
  }
}
