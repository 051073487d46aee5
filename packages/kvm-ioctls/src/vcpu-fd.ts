/**
 * `VcpuFd`: one KVM vCPU, its mmap'd `kvm_run`, and `run()` decoding every x86 exit reason.
 *
 * @module
 */

import type {
  CpuidEntry,
  Fpu,
  MsrEntry,
  Regs,
  Sregs,
  SystemEventType,
  Translation,
  VcpuExit,
} from '@ts-vmm/hypervisor';
import * as K from '@ts-vmm/kvm-sys';
import {
  KvmCoalescedMmio,
  KvmCoalescedMmioRing,
  KvmCpuid2,
  KvmDebugregs,
  type KvmDebugregsValue,
  KvmFpu,
  KvmGuestDebug,
  KvmInterrupt,
  KvmLapicState,
  KvmMpState,
  KvmMsrs,
  KvmRegs,
  KvmSregs,
  KvmTranslation,
  KvmVcpuEvents,
  type KvmVcpuEventsValue,
  KvmXcrs,
  KvmXsave,
  KVM_RUN_OFFSETS as O,
} from '@ts-vmm/kvm-sys';
import { KvmError } from './errors.js';
import { FdHandle } from './fd-handle.js';
import {
  cpuidEntryFromKvm,
  fpuFromKvm,
  fpuToKvm,
  msrEntryFromKvm,
  sregsFromKvm,
  sregsToKvm,
} from './neutral-shapes.js';
import { loadNativeAddon, type NativeAddon } from './sys.js';

const PROT_READ_WRITE = K.PROT_READ | K.PROT_WRITE;
const PAGE_SIZE = 4096;
/** End of the 256-byte exit union of kvm_run (`kvm_valid_regs` follows it). */
const EXIT_UNION_END = O.kvm_valid_regs;
/** Entries in the coalesced MMIO ring page (the kernel's KVM_COALESCED_MMIO_MAX). */
const COALESCED_MMIO_MAX = Math.floor((PAGE_SIZE - KvmCoalescedMmioRing.size) / KvmCoalescedMmio.size);
const CM = KvmCoalescedMmio.offsets;
/** KVM_MAX_XCRS: the entries `struct kvm_xcrs` has room for. */
const MAX_XCRS = KvmXcrs.fields.find((f) => f.name === 'xcrs')?.type.element?.count ?? 0;
/** Scratch for the register ioctls: room for the largest of kvm_regs, kvm_sregs, kvm_fpu. */
const SCRATCH_SIZE = Math.max(KvmRegs.size, KvmSregs.size, KvmFpu.size);

type ExitOf<K extends VcpuExit['kind']> = Extract<VcpuExit, { kind: K }>;

/** `struct kvm_vcpu_events`, as kvm-sys decodes it (see the kernel's api.rst for each field). */
export type VcpuEvents = KvmVcpuEventsValue;
/** `struct kvm_debugregs`, as kvm-sys decodes it (`db[0..3]`, `dr6`, `dr7`, `flags`). */
export type DebugRegs = KvmDebugregsValue;

/**
 * A structured-clonable description of a vCPU kicker (see {@link openKvmKicker}).
 * `alive` is cleared when the vCPU closes, so a late kick never signals a dead thread.
 */
export interface KvmKickerDescription {
  readonly backend: 'kvm';
  readonly vcpuFd: number;
  readonly mmapSize: number;
  readonly thread: bigint;
  readonly alive: SharedArrayBuffer;
}

const SYSTEM_EVENT_TYPES: SystemEventType[] = [
  'unknown',
  'shutdown',
  'reset',
  'crash',
  'wakeup',
  'suspend',
  'sev-term',
];

/**
 * A KVM vCPU. Use it only on the thread that created it (KVM's rule), except for a kicker.
 *
 * @example
 * ```ts
 * const vcpu = vm.createVcpu(0);
 * vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n, rflags: 2n });
 * for (;;) {
 *   const exit = vcpu.run();
 *   if (exit.kind === 'io-out') console.log(exit.port, exit.data[0]);
 *   else if (exit.kind === 'hlt') break;
 * }
 * ```
 */
export class VcpuFd extends FdHandle {
  protected readonly what: string;
  /** The vCPU id given to `KVM_CREATE_VCPU`. */
  readonly id: number;
  /** Size of the kvm_run mapping. */
  readonly mmapSize: number;
  /** The mmap'd `struct kvm_run` (and the PIO data page after it); valid until {@link VcpuFd.close}. */
  readonly runBytes: Uint8Array;
  #runBuf: ArrayBuffer;
  #runView: DataView;
  #runU32: Uint32Array;
  #runFd: number;
  #thread: bigint;
  #alive = new SharedArrayBuffer(4);
  #scratch = new Uint8Array(SCRATCH_SIZE);

  // Reused exit objects: the IO/MMIO path allocates nothing.
  #ioIn: ExitOf<'io-in'> = { kind: 'io-in', port: 0, size: 1, count: 1, data: new Uint8Array(0) };
  #ioOut: ExitOf<'io-out'> = { kind: 'io-out', port: 0, size: 1, count: 1, data: new Uint8Array(0) };
  #mmioRead: ExitOf<'mmio-read'> = { kind: 'mmio-read', address: 0, size: 0, data: new Uint8Array(0) };
  #mmioWrite: ExitOf<'mmio-write'> = { kind: 'mmio-write', address: 0, size: 0, data: new Uint8Array(0) };
  #mmioViews: Uint8Array[];
  #ioViewOffset = -1;
  #ioViews: Uint8Array[] = [];
  static readonly #hlt: ExitOf<'hlt'> = Object.freeze({ kind: 'hlt' as const });
  static readonly #interrupted: ExitOf<'interrupted'> = Object.freeze({ kind: 'interrupted' as const });
  static readonly #shutdown: ExitOf<'shutdown'> = Object.freeze({ kind: 'shutdown' as const });
  #pendingReply: ExitOf<'rdmsr'> | ExitOf<'wrmsr'> | ExitOf<'hypercall'> | undefined;

  private constructor(sys: NativeAddon, fd: number, id: number, mmapSize: number) {
    super(sys, fd);
    this.what = `VcpuFd ${id}`;
    this.id = id;
    this.mmapSize = mmapSize;
    try {
      this.#runBuf = sys.mmap(fd, mmapSize, PROT_READ_WRITE, K.MAP_SHARED, 0);
    } catch (e) {
      sys.close(fd);
      throw KvmError.fromSyscall(`mmap kvm_run of vCPU ${id}`, e);
    }
    this.runBytes = new Uint8Array(this.#runBuf);
    this.#runView = new DataView(this.#runBuf);
    this.#runU32 = new Uint32Array(this.#runBuf, 0, 64);
    this.#runFd = fd;
    this.#mmioViews = [];
    for (let n = 0; n <= 8; n++) this.#mmioViews.push(new Uint8Array(this.#runBuf, O.mmio_data, n));
    sys.installKickSignal();
    this.#thread = sys.currentThread();
    new Int32Array(this.#alive)[0] = 1;
  }

  /** @internal */
  static wrap(sys: NativeAddon, fd: number, id: number, mmapSize: number): VcpuFd {
    return new VcpuFd(sys, fd, id, mmapSize);
  }

  protected override onClose(): void {
    Atomics.store(new Int32Array(this.#alive), 0, 0);
    this.#runFd = -1;
    this.sys.munmap(this.#runBuf);
  }

  /**
   * Runs the guest until it needs the VMM (`KVM_RUN`) and decodes the exit. The returned object is
   * reused by later exits of the same kind; for `io-in` and `mmio-read` fill `data` before the next
   * `run()`. A `KVM_RUN` that fails with EAGAIN (an application processor woken by INIT/SIPI) is
   * entered again; EINTR (a kick or signal) returns `interrupted`.
   * @example
   * ```ts
   * const exit = vcpu.run();
   * if (exit.kind === 'mmio-read') exit.data.fill(0xff);
   * ```
   */
  run(): VcpuExit {
    const fd = this.#runFd;
    if (fd < 0) throw KvmError.closed(this.what, 'KVM_RUN');
    if (this.#pendingReply !== undefined) this.#writeReply();
    let r: number;
    try {
      // EAGAIN: an application processor that waited in KVM_RUN for INIT/SIPI has received them
      // and is runnable now; KVM wants KVM_RUN again (as QEMU and Firecracker do).
      do r = this.sys.ioctlFast(fd, K.KVM_RUN);
      while (r === K.EAGAIN_RESULT);
    } catch (e) {
      throw KvmError.fromSyscall(`KVM_RUN vCPU ${this.id}`, e);
    }
    if (r === K.EINTR_RESULT) {
      this.runBytes[O.immediate_exit] = 0;
      return VcpuFd.#interrupted;
    }
    const u32 = this.#runU32;
    const reason = u32[O.exit_reason >> 2];
    if (reason === K.KVM_EXIT_IO) {
      const b = this.runBytes;
      const size = b[O.io_size] as 1 | 2 | 4;
      const count = u32[O.io_count >> 2];
      const off = u32[O.io_data_offset >> 2];
      const len = size * count;
      let data: Uint8Array;
      if (count === 1 && off === this.#ioViewOffset) data = this.#ioViews[size];
      else if (count === 1) {
        this.#ioViewOffset = off;
        this.#ioViews = [];
        for (let n = 0; n <= 4; n++) this.#ioViews.push(new Uint8Array(this.#runBuf, off, n));
        data = this.#ioViews[size];
      } else data = new Uint8Array(this.#runBuf, off, len);
      const e = b[O.io_direction] === 0 ? this.#ioIn : this.#ioOut;
      e.port = b[O.io_port] | (b[O.io_port + 1] << 8);
      e.size = size;
      e.count = count;
      e.data = data;
      return e;
    }
    if (reason === K.KVM_EXIT_MMIO) {
      const len = u32[O.mmio_len >> 2];
      const e = this.runBytes[O.mmio_is_write] ? this.#mmioWrite : this.#mmioRead;
      e.address = u32[O.mmio_phys_addr >> 2] + u32[(O.mmio_phys_addr >> 2) + 1] * 0x1_0000_0000;
      e.size = len;
      e.data = len <= 8 ? this.#mmioViews[len] : new Uint8Array(this.#runBuf, O.mmio_data, 8);
      return e;
    }
    return this.#slowExit(reason);
  }

  #slowExit(reason: number): VcpuExit {
    const v = this.#runView;
    const u64 = (o: number) => v.getBigUint64(o, true);
    const u32 = (o: number) => v.getUint32(o, true);
    switch (reason) {
      case K.KVM_EXIT_HLT:
        return VcpuFd.#hlt;
      case K.KVM_EXIT_SHUTDOWN:
        return VcpuFd.#shutdown;
      case K.KVM_EXIT_INTR:
        this.runBytes[O.immediate_exit] = 0;
        return VcpuFd.#interrupted;
      case K.KVM_EXIT_DEBUG:
        return {
          kind: 'debug',
          exception: u32(O.debug_arch_exception),
          pc: u64(O.debug_arch_pc),
          dr6: u64(O.debug_arch_dr6),
          dr7: u64(O.debug_arch_dr7),
        };
      case K.KVM_EXIT_EXCEPTION:
        return { kind: 'exception', vector: u32(O.ex_exception), errorCode: u32(O.ex_error_code) };
      case K.KVM_EXIT_FAIL_ENTRY:
        return {
          kind: 'fail-entry',
          reason: u64(O.fail_entry_hardware_entry_failure_reason),
          cpu: u32(O.fail_entry_cpu),
        };
      case K.KVM_EXIT_IRQ_WINDOW_OPEN:
        return { kind: 'irq-window-open' };
      case K.KVM_EXIT_NMI:
        return { kind: 'nmi' };
      case K.KVM_EXIT_SET_TPR:
        return { kind: 'set-tpr' };
      case K.KVM_EXIT_TPR_ACCESS:
        return { kind: 'tpr-access', rip: u64(O.tpr_access_rip), isWrite: u32(O.tpr_access_is_write) !== 0 };
      case K.KVM_EXIT_INTERNAL_ERROR: {
        const suberror = u32(O.internal_suberror);
        const ndata = Math.min(u32(O.internal_ndata), 16);
        const data: bigint[] = [];
        for (let i = 0; i < ndata; i++) data.push(u64(O.internal_data + i * 8));
        const e: ExitOf<'internal-error'> = {
          kind: 'internal-error',
          suberror,
          message: internalErrorText(suberror),
          data,
        };
        if (
          suberror === K.KVM_INTERNAL_ERROR_EMULATION &&
          ndata >= 2 &&
          (u64(O.emulation_failure_flags) & BigInt(K.KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) !==
            0n
        ) {
          const n = Math.min(this.runBytes[O.emulation_failure_insn_size], 15);
          e.bytes = this.runBytes.slice(O.emulation_failure_insn_bytes, O.emulation_failure_insn_bytes + n);
        }
        return e;
      }
      case K.KVM_EXIT_SYSTEM_EVENT: {
        const code = u32(O.system_event_type);
        const ndata = Math.min(u32(O.system_event_ndata), 16);
        const data: bigint[] = [];
        for (let i = 0; i < ndata; i++) data.push(u64(O.system_event_data + i * 8));
        return { kind: 'system-event', type: SYSTEM_EVENT_TYPES[code] ?? 'unknown', code, data };
      }
      case K.KVM_EXIT_HYPERCALL: {
        const args: bigint[] = [];
        for (let i = 0; i < 6; i++) args.push(u64(O.hypercall_args + i * 8));
        const e: ExitOf<'hypercall'> = {
          kind: 'hypercall',
          nr: u64(O.hypercall_nr),
          args,
          ret: u64(O.hypercall_ret),
          longMode: (u32(O.hypercall_longmode) & 1) !== 0,
        };
        this.#pendingReply = e;
        return e;
      }
      case K.KVM_EXIT_X86_RDMSR:
      case K.KVM_EXIT_X86_WRMSR: {
        const e = {
          kind: reason === K.KVM_EXIT_X86_RDMSR ? 'rdmsr' : 'wrmsr',
          index: u32(O.msr_index),
          data: u64(O.msr_data),
          error: false,
          reason: u32(O.msr_reason),
        } as ExitOf<'rdmsr'> | ExitOf<'wrmsr'>;
        this.#pendingReply = e;
        return e;
      }
      case K.KVM_EXIT_IOAPIC_EOI:
        return { kind: 'ioapic-eoi', vector: this.runBytes[O.eoi_vector] };
      case K.KVM_EXIT_HYPERV:
        return { kind: 'hyperv', raw: this.runBytes.slice(O.exit, EXIT_UNION_END) };
      case K.KVM_EXIT_XEN:
        return { kind: 'xen', raw: this.runBytes.slice(O.exit, EXIT_UNION_END) };
      case K.KVM_EXIT_DIRTY_RING_FULL:
        return { kind: 'dirty-ring-full' };
      case K.KVM_EXIT_AP_RESET_HOLD:
        return { kind: 'ap-reset-hold' };
      case K.KVM_EXIT_X86_BUS_LOCK:
        return { kind: 'bus-lock' };
      case K.KVM_EXIT_NOTIFY:
        return { kind: 'notify', flags: u32(O.notify_flags) };
      case K.KVM_EXIT_MEMORY_FAULT:
        return {
          kind: 'memory-fault',
          flags: u64(O.memory_fault_flags),
          address: u64(O.memory_fault_gpa),
          size: u64(O.memory_fault_size),
        };
      default:
        return { kind: 'unknown', reason, hardwareReason: u64(O.hw_hardware_exit_reason) };
    }
  }

  #writeReply(): void {
    const e = this.#pendingReply!;
    this.#pendingReply = undefined;
    const v = this.#runView;
    if (e.kind === 'hypercall') v.setBigUint64(O.hypercall_ret, BigInt.asUintN(64, e.ret), true);
    else {
      this.runBytes[O.msr_error] = e.error ? 1 : 0;
      if (e.kind === 'rdmsr') v.setBigUint64(O.msr_data, BigInt.asUintN(64, e.data), true);
    }
  }

  /**
   * Sets `kvm_run.immediate_exit`: while set, `run()` returns `interrupted` without entering the guest.
   * `run()` clears it when it returns `interrupted`.
   * @example vcpu.setImmediateExit(true); vcpu.run().kind; // 'interrupted'
   */
  setImmediateExit(on: boolean): void {
    this.fdFor('setImmediateExit');
    this.runBytes[O.immediate_exit] = on ? 1 : 0;
  }

  /**
   * Drains the coalesced MMIO/PIO ring (writes to zones registered with
   * `VmFd.registerCoalescedMmio`, which KVM buffers instead of exiting). `pageOffset` is what
   * `checkExtension(KVM_CAP_COALESCED_MMIO)` returned (the ring's page in the vCPU mapping). Call it
   * before handling each exit so buffered writes are seen in order. Returns how many were drained.
   * @example vcpu.drainCoalescedMmio(1, (addr, data, pio) => bus.write(addr, data));
   */
  drainCoalescedMmio(
    pageOffset: number,
    handler: (address: number, data: Uint8Array, pio: boolean) => void,
  ): number {
    this.fdFor('drainCoalescedMmio');
    const base = pageOffset * PAGE_SIZE;
    if (pageOffset <= 0 || base + PAGE_SIZE > this.mmapSize) {
      throw KvmError.invalid(
        'drainCoalescedMmio',
        `page offset ${pageOffset} is outside the ${this.mmapSize}-byte vCPU mapping`,
      );
    }
    const v = this.#runView;
    const ring = KvmCoalescedMmioRing.offsets;
    let first = v.getUint32(base + ring.first, true);
    const last = v.getUint32(base + ring.last, true);
    let n = 0;
    while (first !== last && first < COALESCED_MMIO_MAX) {
      const e = base + KvmCoalescedMmioRing.size + first * KvmCoalescedMmio.size;
      const len = Math.min(v.getUint32(e + CM.len, true), 8);
      const addr =
        v.getUint32(e + CM.phys_addr, true) + v.getUint32(e + CM.phys_addr + 4, true) * 0x1_0000_0000;
      const data = this.runBytes.slice(e + CM.data, e + CM.data + len);
      handler(addr, data, v.getUint32(e + CM.pio, true) !== 0);
      first = (first + 1) % COALESCED_MMIO_MAX;
      v.setUint32(base + ring.first, first, true);
      n++;
    }
    return n;
  }

  /**
   * `kvm_run.request_interrupt_window`: ask for an `irq-window-open` exit (no in-kernel irqchip).
   * @example vcpu.setRequestInterruptWindow(true)
   */
  setRequestInterruptWindow(on: boolean): void {
    this.fdFor('setRequestInterruptWindow');
    this.runBytes[O.request_interrupt_window] = on ? 1 : 0;
  }

  /**
   * `kvm_run.ready_for_interrupt_injection` after the last exit.
   * @example if (vcpu.readyForInterruptInjection) vcpu.interrupt(0x20)
   */
  get readyForInterruptInjection(): boolean {
    return this.runBytes[O.ready_for_interrupt_injection] !== 0;
  }

  /**
   * `kvm_run.if_flag` after the last exit.
   * @example vcpu.ifFlag
   */
  get ifFlag(): boolean {
    return this.runBytes[O.if_flag] !== 0;
  }

  /**
   * A structured-clonable kicker description; build the kicker in another thread with
   * {@link openKvmKicker}.
   * @example worker.postMessage({ kicker: vcpu.kickerDescription() });
   */
  kickerDescription(): KvmKickerDescription {
    return {
      backend: 'kvm',
      vcpuFd: this.fdFor('kicker'),
      mmapSize: this.mmapSize,
      thread: this.#thread,
      alive: this.#alive,
    };
  }

  /** `KVM_GET_REGS`. @example const { rip } = vcpu.getRegs(); */
  getRegs(): Regs {
    const b = this.#scratch.subarray(0, KvmRegs.size);
    this.ioctl('KVM_GET_REGS', K.KVM_GET_REGS, b);
    return KvmRegs.decode(b);
  }

  /** `KVM_SET_REGS`. @example vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x7c00n }) */
  setRegs(regs: Regs): void {
    this.ioctl('KVM_SET_REGS', K.KVM_SET_REGS, KvmRegs.encode(regs, this.#scratch.subarray(0, KvmRegs.size)));
  }

  /**
   * `KVM_GET_SREGS`.
   * @example vcpu.getSregs().cr0
   */
  getSregs(): Sregs {
    const b = this.#scratch.subarray(0, KvmSregs.size);
    this.ioctl('KVM_GET_SREGS', K.KVM_GET_SREGS, b);
    return sregsFromKvm(KvmSregs.decode(b));
  }

  /** `KVM_SET_SREGS`. @example const s = vcpu.getSregs(); s.cr0 |= 1n; vcpu.setSregs(s); */
  setSregs(sregs: Sregs): void {
    const b = KvmSregs.encode(sregsToKvm(sregs), this.#scratch.subarray(0, KvmSregs.size));
    this.ioctl('KVM_SET_SREGS', K.KVM_SET_SREGS, b);
  }

  /**
   * `KVM_GET_FPU`.
   * @example vcpu.getFpu().fcw // 0x37f
   */
  getFpu(): Fpu {
    const b = this.#scratch.subarray(0, KvmFpu.size);
    this.ioctl('KVM_GET_FPU', K.KVM_GET_FPU, b);
    return fpuFromKvm(KvmFpu.decode(b));
  }

  /** `KVM_SET_FPU`. @example vcpu.setFpu({ ...vcpu.getFpu(), fcw: 0x37f, mxcsr: 0x1f80 }) */
  setFpu(fpu: Fpu): void {
    const b = KvmFpu.encode(fpuToKvm(fpu), this.#scratch.subarray(0, KvmFpu.size));
    this.ioctl('KVM_SET_FPU', K.KVM_SET_FPU, b);
  }

  /**
   * `KVM_GET_MSRS`: reads `indices`; stops at the first MSR KVM cannot read (the result is shorter).
   * @example vcpu.getMsrs([0xc0000080]); // [{ index: 0xc0000080, data: 0x500n }]
   */
  getMsrs(indices: readonly number[]): MsrEntry[] {
    const b = KvmMsrs.encode({ entries: indices.map((index) => ({ index, data: 0n })) });
    const n = this.ioctl('KVM_GET_MSRS', K.KVM_GET_MSRS, b);
    return KvmMsrs.decode(b).entries.slice(0, n).map(msrEntryFromKvm);
  }

  /**
   * `KVM_SET_MSRS`: returns how many were set; throws when KVM rejects one (naming its index).
   * @example vcpu.setMsrs([{ index: 0x174, data: 0x10n }]);
   */
  setMsrs(entries: readonly MsrEntry[]): number {
    const n = this.ioctl('KVM_SET_MSRS', K.KVM_SET_MSRS, KvmMsrs.encode({ entries: [...entries] }));
    if (n < entries.length) {
      throw new KvmError(
        'syscall',
        'KVM_SET_MSRS',
        'EINVAL',
        22,
        `MSR 0x${entries[n].index.toString(16)} rejected (${n} of ${entries.length} set)`,
      );
    }
    return n;
  }

  /** `KVM_SET_CPUID2`. @example vcpu.setCpuid2(kvm.supportedCpuid()) */
  setCpuid2(entries: readonly CpuidEntry[]): void {
    this.ioctl(
      `KVM_SET_CPUID2 (${entries.length} entries)`,
      K.KVM_SET_CPUID2,
      KvmCpuid2.encode({ entries: [...entries] }),
    );
  }

  /**
   * `KVM_GET_CPUID2`.
   * @example vcpu.getCpuid2().length
   */
  getCpuid2(max = K.KVM_MAX_CPUID_ENTRIES): CpuidEntry[] {
    const b = KvmCpuid2.alloc(max);
    this.ioctl('KVM_GET_CPUID2', K.KVM_GET_CPUID2, b);
    return KvmCpuid2.decode(b).entries.map(cpuidEntryFromKvm);
  }

  /**
   * `KVM_GET_LAPIC`: the 1 KiB register page (in-kernel irqchip only).
   * @example const lapic = vcpu.getLapic()
   */
  getLapic(): Uint8Array {
    const b = new Uint8Array(KvmLapicState.size);
    this.ioctl('KVM_GET_LAPIC', K.KVM_GET_LAPIC, b);
    return b;
  }

  /**
   * `KVM_SET_LAPIC`.
   * @example vcpu.setLapic(vcpu.getLapic())
   */
  setLapic(regs: Uint8Array): void {
    if (regs.length !== KvmLapicState.size) {
      throw KvmError.invalid(
        'KVM_SET_LAPIC',
        `register page is ${regs.length} bytes, expected ${KvmLapicState.size}`,
      );
    }
    this.ioctl('KVM_SET_LAPIC', K.KVM_SET_LAPIC, regs);
  }

  /**
   * `KVM_GET_MP_STATE` (a `MpState` value).
   * @example vcpu.getMpState() === MpState.RUNNABLE
   */
  getMpState(): number {
    const b = new Uint8Array(KvmMpState.size);
    this.ioctl('KVM_GET_MP_STATE', K.KVM_GET_MP_STATE, b);
    return KvmMpState.decode(b).mp_state;
  }

  /** `KVM_SET_MP_STATE`. @example vcpu.setMpState(MpState.RUNNABLE) */
  setMpState(state: number): void {
    this.ioctl(`KVM_SET_MP_STATE ${state}`, K.KVM_SET_MP_STATE, KvmMpState.encode({ mp_state: state }));
  }

  /**
   * `KVM_GET_VCPU_EVENTS`: pending exceptions, interrupts, NMIs, SMIs.
   * @example vcpu.getVcpuEvents().nmi.pending
   */
  getVcpuEvents(): VcpuEvents {
    const b = new Uint8Array(KvmVcpuEvents.size);
    this.ioctl('KVM_GET_VCPU_EVENTS', K.KVM_GET_VCPU_EVENTS, b);
    return KvmVcpuEvents.decode(b);
  }

  /**
   * `KVM_SET_VCPU_EVENTS`.
   * @example
   * const ev = vcpu.getVcpuEvents();
   * ev.nmi.pending = 1;
   * ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING;
   * vcpu.setVcpuEvents(ev);
   */
  setVcpuEvents(events: VcpuEvents): void {
    this.ioctl('KVM_SET_VCPU_EVENTS', K.KVM_SET_VCPU_EVENTS, KvmVcpuEvents.encode(events));
  }

  /**
   * `KVM_GET_DEBUGREGS`.
   * @example vcpu.getDebugRegs().dr7
   */
  getDebugRegs(): DebugRegs {
    const b = new Uint8Array(KvmDebugregs.size);
    this.ioctl('KVM_GET_DEBUGREGS', K.KVM_GET_DEBUGREGS, b);
    return KvmDebugregs.decode(b);
  }

  /**
   * `KVM_SET_DEBUGREGS`.
   * @example
   * const dr = vcpu.getDebugRegs();
   * dr.db[0] = 0x1000n;
   * vcpu.setDebugRegs(dr);
   */
  setDebugRegs(regs: DebugRegs): void {
    this.ioctl('KVM_SET_DEBUGREGS', K.KVM_SET_DEBUGREGS, KvmDebugregs.encode(regs));
  }

  /**
   * `KVM_GET_XSAVE`: the 4 KiB legacy XSAVE area.
   * @example const area = vcpu.getXsave()
   */
  getXsave(): Uint8Array {
    const b = new Uint8Array(KvmXsave.size);
    this.ioctl('KVM_GET_XSAVE', K.KVM_GET_XSAVE, b);
    return b;
  }

  /**
   * `KVM_SET_XSAVE`.
   * @example vcpu.setXsave(vcpu.getXsave())
   */
  setXsave(area: Uint8Array): void {
    if (area.length < KvmXsave.size)
      throw KvmError.invalid('KVM_SET_XSAVE', `area is ${area.length} bytes, at least ${KvmXsave.size}`);
    this.ioctl('KVM_SET_XSAVE', K.KVM_SET_XSAVE, area);
  }

  /** `KVM_GET_XCRS`. @example vcpu.getXcrs(); // [{ xcr: 0, value: 1n }] */
  getXcrs(): { xcr: number; value: bigint }[] {
    const b = new Uint8Array(KvmXcrs.size);
    this.ioctl('KVM_GET_XCRS', K.KVM_GET_XCRS, b);
    const { nr_xcrs, xcrs } = KvmXcrs.decode(b);
    return xcrs.slice(0, Math.min(nr_xcrs, MAX_XCRS)).map(({ xcr, value }) => ({ xcr, value }));
  }

  /**
   * `KVM_SET_XCRS`.
   * @example vcpu.setXcrs([{ xcr: 0, value: 3n }])
   */
  setXcrs(xcrs: readonly { xcr: number; value: bigint }[]): void {
    if (xcrs.length > MAX_XCRS)
      throw KvmError.invalid('KVM_SET_XCRS', `${xcrs.length} XCRs, at most ${MAX_XCRS}`);
    const b = KvmXcrs.encode({
      nr_xcrs: xcrs.length,
      flags: 0,
      xcrs: xcrs.map(({ xcr, value }) => ({ xcr, reserved: 0, value })),
      padding: [],
    });
    this.ioctl('KVM_SET_XCRS', K.KVM_SET_XCRS, b);
  }

  /**
   * `KVM_SET_GUEST_DEBUG`. `control`: `KVM_GUESTDBG_*` bits; `debugreg`: DR0-3, DR6, DR7 for hardware
   * breakpoints (with `KVM_GUESTDBG_USE_HW_BP`).
   * @example vcpu.setGuestDebug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP);
   */
  setGuestDebug(
    control: number,
    debugreg: { dr0?: bigint; dr1?: bigint; dr2?: bigint; dr3?: bigint; dr6?: bigint; dr7?: bigint } = {},
  ): void {
    const { dr0 = 0n, dr1 = 0n, dr2 = 0n, dr3 = 0n, dr6 = 0n, dr7 = 0n } = debugreg;
    const b = KvmGuestDebug.encode({
      control,
      pad: 0,
      // x86 kvm_guest_debug_arch.debugreg: DR0-DR3, two unused slots, DR6, DR7.
      arch: { debugreg: [dr0, dr1, dr2, dr3, 0n, 0n, dr6, dr7] },
    });
    this.ioctl(`KVM_SET_GUEST_DEBUG 0x${control.toString(16)}`, K.KVM_SET_GUEST_DEBUG, b);
  }

  /**
   * `KVM_TRANSLATE`: a guest linear address through the vCPU's current page tables.
   * @example vcpu.translate(0xffff_8000_0000_0000n).physicalAddress
   */
  translate(linearAddress: bigint): Translation {
    const b = KvmTranslation.encode({
      linear_address: linearAddress,
      physical_address: 0n,
      valid: 0,
      writeable: 0,
      usermode: 0,
      pad: new Uint8Array(0),
    });
    this.ioctl(`KVM_TRANSLATE 0x${linearAddress.toString(16)}`, K.KVM_TRANSLATE, b);
    const t = KvmTranslation.decode(b);
    return {
      physicalAddress: t.physical_address,
      valid: t.valid !== 0,
      writeable: t.writeable !== 0,
      usermode: t.usermode !== 0,
    };
  }

  /**
   * `KVM_INTERRUPT`: queue external interrupt `vector` (no in-kernel irqchip).
   * @example vcpu.interrupt(0x20)
   */
  interrupt(vector: number): void {
    this.ioctl(`KVM_INTERRUPT ${vector}`, K.KVM_INTERRUPT, KvmInterrupt.encode({ irq: vector }));
  }

  /**
   * `KVM_NMI`.
   * @example vcpu.nmi()
   */
  nmi(): void {
    this.ioctl('KVM_NMI', K.KVM_NMI);
  }

  /**
   * `KVM_KVMCLOCK_CTRL`: tell the guest it was paused (avoids soft-lockup warnings).
   * @example vcpu.kvmclockCtrl()
   */
  kvmclockCtrl(): void {
    this.ioctl('KVM_KVMCLOCK_CTRL', K.KVM_KVMCLOCK_CTRL);
  }

  /**
   * `KVM_GET_TSC_KHZ`.
   * @example vcpu.getTscKhz()
   */
  getTscKhz(): number {
    return this.ioctl('KVM_GET_TSC_KHZ', K.KVM_GET_TSC_KHZ);
  }

  /**
   * `KVM_SET_TSC_KHZ`.
   * @example vcpu.setTscKhz(2_000_000)
   */
  setTscKhz(khz: number): void {
    this.ioctl(`KVM_SET_TSC_KHZ ${khz}`, K.KVM_SET_TSC_KHZ, khz);
  }
}

function internalErrorText(suberror: number): string {
  switch (suberror) {
    case K.KVM_INTERNAL_ERROR_EMULATION:
      return 'emulation failure';
    case K.KVM_INTERNAL_ERROR_SIMUL_EX:
      return 'exception while delivering an exception';
    case K.KVM_INTERNAL_ERROR_DELIVERY_EV:
      return 'event delivery failed';
    case K.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return 'unexpected exit reason';
    default:
      return `internal error ${suberror}`;
  }
}

/**
 * A kicker built from a {@link KvmKickerDescription}: maps the vCPU's `kvm_run` in this thread to set
 * `immediate_exit`, then signals the vCPU thread so a blocked `KVM_RUN` returns.
 *
 * @example
 * ```ts
 * // main thread, with `desc` posted by the vCPU worker:
 * const kicker = openKvmKicker(desc);
 * kicker.kick(); // the worker's vcpu.run() returns { kind: 'interrupted' }
 * ```
 */
export class KvmKicker {
  #run: Uint8Array | undefined;
  #buf: ArrayBuffer | undefined;
  #alive: Int32Array;
  readonly #desc: KvmKickerDescription;
  readonly #sys: NativeAddon;

  constructor(desc: KvmKickerDescription, sys: NativeAddon) {
    this.#desc = desc;
    this.#sys = sys;
    this.#alive = new Int32Array(desc.alive);
    if (Atomics.load(this.#alive, 0) !== 1) throw KvmError.closed(`VcpuFd ${desc.vcpuFd}`, 'kicker');
    try {
      this.#buf = sys.mmap(desc.vcpuFd, desc.mmapSize, PROT_READ_WRITE, K.MAP_SHARED, 0);
    } catch (e) {
      throw KvmError.fromSyscall('mmap kvm_run for kicker', e);
    }
    this.#run = new Uint8Array(this.#buf);
  }

  /**
   * Makes the vCPU's current or next `run()` return `interrupted`. No-op once the vCPU is closed.
   * @example kicker.kick()
   */
  kick(): void {
    const run = this.#run;
    if (!run || Atomics.load(this.#alive, 0) !== 1) return;
    run[O.immediate_exit] = 1;
    try {
      this.#sys.kickThread(this.#desc.thread);
    } catch (e) {
      throw KvmError.fromSyscall('kick vCPU thread', e);
    }
  }

  /**
   * Unmaps `kvm_run`; later kicks do nothing.
   * @example kicker.close()
   */
  close(): void {
    if (this.#buf) this.#sys.munmap(this.#buf);
    this.#buf = undefined;
    this.#run = undefined;
  }
}

/**
 * Builds a {@link KvmKicker} in the calling thread from a description posted by the vCPU's thread.
 * @example const kicker = openKvmKicker(msg.kicker);
 */
export function openKvmKicker(desc: KvmKickerDescription, sys: NativeAddon = loadNativeAddon()): KvmKicker {
  return new KvmKicker(desc, sys);
}
