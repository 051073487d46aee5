/**
 * Backend-neutral virtual machine interfaces. The KVM backend (`KvmHypervisor` in
 * `@ts-vmm/kvm-ioctls`) and the pure-TypeScript emulator (`EmulatedHypervisor` in
 * `@ts-vmm/x86-emulator`) both implement them, so a VMM written against {@link Hypervisor},
 * {@link Vm} and {@link Vcpu} never imports native code and runs unchanged on either.
 *
 * Threading: a {@link Vcpu} is used only from the thread that created it (KVM's rule). A VMM that runs
 * each vCPU in its own worker sends the worker `vm.shareable()` and calls `hypervisor.openVm()` of the
 * same backend there, then `createVcpu()`; the vCPU's `kicker()` description goes back to the main
 * thread, which builds a {@link VcpuKicker} with `hypervisor.openKicker()`. Backends that cannot be shared across threads say so with
 * `capabilities.multiThreaded === false` (the VMM then runs every vCPU on one thread).
 *
 * @module
 */
import type { GuestMemory } from '@ts-vmm/vm-memory';

/** Which implementation stands behind the interfaces. */
export type BackendKind = 'kvm' | 'emulated';

/** What a backend can do, for a VMM to choose its wiring. */
export interface BackendCapabilities {
  /** In-kernel (or emulated) LAPIC, IOAPIC and PIC available through {@link Vm.createIrqchip}. */
  readonly irqchip: boolean;
  /** An 8254 PIT through {@link Vm.createPit}. */
  readonly pit: boolean;
  /** {@link Vm.createInterruptLine} delivers without a vCPU exit (irqfd or direct). */
  readonly interruptLines: boolean;
  /** {@link Vm.registerIoEvent} catches guest writes without a synchronous vCPU exit (ioeventfd or direct). */
  readonly ioEvents: boolean;
  /** vCPUs may run on different worker threads. */
  readonly multiThreaded: boolean;
  /** Single-stepping through {@link Vcpu.setGuestDebug}. */
  readonly guestDebug: boolean;
  /** Dirty page logging through {@link Vm.getDirtyLog}. */
  readonly dirtyLog: boolean;
  /** The largest number of vCPUs a VM may have. */
  readonly maxVcpus: number;
}

export type {
  ClockData,
  CpuidEntry,
  DebugRegs,
  DTable,
  Fpu,
  IoapicState,
  IrqchipState,
  LapicState,
  MsrEntry,
  PicState,
  PitChannelState,
  PitState,
  Regs,
  Segment,
  Sregs,
  VcpuEvents,
  Xcr,
} from './state.js';

import type {
  ClockData,
  CpuidEntry,
  DebugRegs,
  Fpu,
  IrqchipState,
  MsrEntry,
  PitState,
  Regs,
  Sregs,
  VcpuEvents,
  Xcr,
} from './state.js';

/** vCPU run state, as in `kvm_mp_state` (KVM_MP_STATE_* values). */
export const MpState = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
} as const;

/** Guest debug controls for {@link Vcpu.setGuestDebug}. */
export interface GuestDebug {
  enable: boolean;
  singleStep?: boolean;
  /** Up to four hardware breakpoint addresses (execute). */
  hwBreakpoints?: bigint[];
}

/** Result of {@link Vcpu.translate}. */
export interface Translation {
  physicalAddress: bigint;
  valid: boolean;
  writeable: boolean;
  usermode: boolean;
}

/** What the guest asked for when it stopped with a `system-event` exit. */
export type SystemEventType = 'shutdown' | 'reset' | 'crash' | 'wakeup' | 'suspend' | 'sev-term' | 'unknown';

/**
 * Why {@link Vcpu.run} returned. The object (and any `data` view in it) is valid until the next
 * `run()`, and backends may reuse the same object for the next exit of the same kind: copy what
 * you keep. Replies travel back through the object:
 * - `io-in` / `mmio-read`: fill `data` before calling `run()` again;
 * - `rdmsr`: set `data` (and `error: true` to inject #GP); `wrmsr`: set `error` to reject;
 * - `hypercall`: set `ret`.
 *
 * `interrupted` may also be returned spuriously (a signal that arrived late); a VMM loop treats it
 * as "check your own state and run again".
 *
 * @example
 * ```ts
 * const exit = vcpu.run();
 * switch (exit.kind) {
 *   case 'io-out': serial.write(exit.port, exit.data[0]); break;
 *   case 'io-in': exit.data[0] = serial.read(exit.port); break;
 *   case 'hlt': return;
 * }
 * ```
 */
export type VcpuExit =
  | { kind: 'io-in'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'io-out'; port: number; size: 1 | 2 | 4; count: number; data: Uint8Array }
  | { kind: 'mmio-read'; address: number; size: number; data: Uint8Array }
  | { kind: 'mmio-write'; address: number; size: number; data: Uint8Array }
  /** HLT with no in-kernel irqchip to wait in. */
  | { kind: 'hlt' }
  /** Triple fault (or an unrecoverable guest state). */
  | { kind: 'shutdown' }
  /** `run()` was interrupted: a kick from another thread or a signal. */
  | { kind: 'interrupted' }
  | { kind: 'debug'; exception: number; pc: bigint; dr6: bigint; dr7: bigint }
  | { kind: 'system-event'; type: SystemEventType; code: number; data: bigint[] }
  | { kind: 'internal-error'; suberror: number; message: string; data: bigint[]; bytes?: Uint8Array }
  | { kind: 'fail-entry'; reason: bigint; cpu: number }
  | { kind: 'irq-window-open' }
  | { kind: 'hypercall'; nr: bigint; args: bigint[]; ret: bigint; longMode?: boolean }
  | { kind: 'exception'; vector: number; errorCode: number }
  /** `reason`: KVM_MSR_EXIT_REASON_* bits (1 invalid, 2 unknown, 4 filter). */
  | { kind: 'rdmsr'; index: number; data: bigint; error: boolean; reason?: number }
  | { kind: 'wrmsr'; index: number; data: bigint; error: boolean; reason?: number }
  /** An NMI window exit. */
  | { kind: 'nmi' }
  /** The guest changed its TPR (CR8) below the threshold. */
  | { kind: 'set-tpr' }
  | { kind: 'tpr-access'; rip: bigint; isWrite: boolean }
  /** Split irqchip: the guest EOId a level-triggered `vector` routed through the userspace IOAPIC. */
  | { kind: 'ioapic-eoi'; vector: number }
  /** Hyper-V or Xen enlightenment exits; `raw` holds the 256-byte exit union. */
  | { kind: 'hyperv'; raw: Uint8Array }
  | { kind: 'xen'; raw: Uint8Array }
  | { kind: 'dirty-ring-full' }
  | { kind: 'ap-reset-hold' }
  /** A split-lock/bus-lock was detected (the instruction already completed). */
  | { kind: 'bus-lock' }
  /** The guest did not leave a state within the notify window; `flags` bit 0: context invalid. */
  | { kind: 'notify'; flags: number }
  /** A guest access KVM could not resolve (guest_memfd/private memory). */
  | { kind: 'memory-fault'; flags: bigint; address: bigint; size: bigint }
  | { kind: 'unknown'; reason: number; hardwareReason?: bigint };

/** The `kind` of every {@link VcpuExit}. */
export type VcpuExitKind = VcpuExit['kind'];

/** An interrupt source wired to a GSI, raised without a vCPU exit. */
export interface InterruptLine {
  readonly gsi: number;
  /** Edge: one interrupt. */
  trigger(): void;
  /** Level: assert or deassert the line. */
  setLevel(level: boolean): void;
  /** Stops delivering; the line cannot be used afterwards. */
  close(): void;
}

/** A guest write address to watch without a synchronous exit (ioeventfd on KVM). */
export interface IoEventSpec {
  space: 'pio' | 'mmio';
  address: number;
  /** Access length in bytes (0 = any, MMIO only). */
  length: 0 | 1 | 2 | 4 | 8;
  /** Fire only for this written value. */
  datamatch?: bigint;
}

/** A registered I/O event. */
export interface IoEvent {
  readonly spec: IoEventSpec;
  close(): void;
}

/** A message-signalled interrupt. */
export interface Msi {
  address: bigint;
  data: number;
}

/**
 * A transferable handle to stop a vCPU's `run()` from another thread: `run()` then returns
 * `{ kind: 'interrupted' }` (at once, if the vCPU was not in `run()` at the time of the kick).
 */
export interface VcpuKicker {
  kick(): void;
  /** Releases what the kicker holds (a mapping, on KVM); `kick()` does nothing afterwards. */
  close?(): void;
}

/** Options for creating a VM. */
export interface VmOptions {
  /** Guest memory; may also be set later with {@link Vm.setMemory}. */
  memory?: GuestMemory;
  /** Log dirty pages of the memory given to the VM, for {@link Vm.getDirtyLog}. */
  dirtyLog?: boolean;
}

/**
 * A hypervisor backend: KVM or the emulator.
 *
 * @example
 * ```ts
 * const hv: Hypervisor = await openKvm(); // or new EmulatedHypervisor()
 * const vm = await hv.createVm({ memory });
 * const vcpu = vm.createVcpu(0);
 * ```
 */
export interface Hypervisor {
  readonly kind: BackendKind;
  readonly capabilities: BackendCapabilities;
  /** The CPUID leaves this backend can present to a guest. */
  supportedCpuid(): CpuidEntry[];
  /** MSR indices the backend saves and restores. */
  supportedMsrs(): number[];
  createVm(options?: VmOptions): Promise<Vm>;
  /**
   * Opens, in this thread, the VM described by another thread's {@link Vm.shareable}. Backends with
   * `capabilities.multiThreaded === false` leave it out.
   */
  openVm?(description: unknown): Promise<Vm>;
  /** Builds, in this thread, the kicker described by another thread's {@link Vcpu.kicker}. */
  openKicker?(description: unknown): VcpuKicker;
}

/**
 * A virtual machine: memory, interrupt controllers, I/O events and vCPUs.
 */
export interface Vm {
  readonly hypervisor: Hypervisor;
  /** Registers every region of `memory` with the VM (replacing none: call once). */
  setMemory(memory: GuestMemory): void;
  /** The memory given to {@link Vm.setMemory}. */
  readonly memory: GuestMemory | undefined;
  /** Creates the LAPICs, IOAPIC (24 pins, GSIs 0-23) and PIC pair. Call before creating vCPUs. */
  createIrqchip(): void;
  /** Creates the 8254 PIT (channel 0 on IRQ 0, channel 2 gated through port 0x61). */
  createPit(): void;
  /** Sets the level of an irqchip input (GSI). */
  setIrqLine(gsi: number, level: boolean): void;
  /** Delivers a message-signalled interrupt. */
  signalMsi(msi: Msi): void;
  /** An interrupt source for a device on `gsi` (irqfd on KVM). */
  createInterruptLine(gsi: number): InterruptLine;
  /**
   * Calls `handler` when the guest writes `spec.address` (ioeventfd on KVM: the handler runs from the
   * event loop of the thread that registered it, not synchronously with the write). `value` is the
   * written value where the backend sees it; KVM's ioeventfd does not carry it, so there it is
   * `spec.datamatch` when set, otherwise the number of writes coalesced since the last call.
   */
  registerIoEvent(spec: IoEventSpec, handler: (value: bigint) => void): IoEvent;
  /** Guest addresses of pages dirtied since the last call (memory registered with dirty logging). */
  getDirtyLog(): number[];
  /**
   * The PIC pair's and the IOAPIC's state (`KVM_GET_IRQCHIP` for each chip; needs {@link Vm.createIrqchip}).
   * @example const { ioapic } = vm.getIrqchip(); ioapic.redirtbl[4];
   */
  getIrqchip(): IrqchipState;
  /**
   * Loads the PIC pair's and the IOAPIC's state, as {@link Vm.getIrqchip} returned it (on this or the other backend).
   * @example vm.setIrqchip(savedState.irqchip);
   */
  setIrqchip(state: IrqchipState): void;
  /**
   * The PIT's three channels (`KVM_GET_PIT2`; needs {@link Vm.createPit}). `count_load_time` is in the
   * backend's own clock: restoring reloads each counter from its `count` (as `KVM_SET_PIT2` does).
   * @example vm.getPit().channels[0].mode
   */
  getPit(): PitState;
  /** Loads the PIT's state from {@link Vm.getPit}. @example vm.setPit(savedState.pit) */
  setPit(state: PitState): void;
  /** The VM clock, in ns of kvm-clock time (`KVM_GET_CLOCK`). @example vm.getClock().clock */
  getClock(): ClockData;
  /**
   * Sets the VM clock (`KVM_SET_CLOCK`): kvm-clock time (and, on the emulator, every timer and TSC
   * of the VM) reads `clock` from now on. Give `flags: 0` to set it as it is.
   * @example vm.setClock({ clock: savedState.clock.clock, flags: 0 });
   */
  setClock(data: ClockData): void;
  /** Creates vCPU `id` on the calling thread. */
  createVcpu(id: number): Vcpu;
  /** A structured-clonable description for opening this VM in a worker (see `openVm` of the backend). */
  shareable(): unknown;
  /** Releases everything (vCPUs must be closed first). */
  close(): void;
}

/**
 * A virtual CPU. Used only on the thread that created it.
 */
export interface Vcpu {
  readonly id: number;
  /** Runs the guest until it needs the VMM. */
  run(): VcpuExit;
  getRegs(): Regs;
  setRegs(regs: Regs): void;
  getSregs(): Sregs;
  setSregs(sregs: Sregs): void;
  getFpu(): Fpu;
  setFpu(fpu: Fpu): void;
  getMsrs(indices: number[]): MsrEntry[];
  setMsrs(entries: MsrEntry[]): void;
  setCpuid(entries: CpuidEntry[]): void;
  getCpuid(): CpuidEntry[];
  /** The 1 KiB local APIC register page (irqchip only). */
  getLapic(): Uint8Array;
  setLapic(regs: Uint8Array): void;
  getMpState(): number;
  setMpState(state: number): void;
  /**
   * Pending and injected exceptions, interrupts and NMIs, the interrupt shadow and NMI masking
   * (`KVM_GET_VCPU_EVENTS`).
   * @example vcpu.getVcpuEvents().interrupt.shadow
   */
  getVcpuEvents(): VcpuEvents;
  /**
   * Loads {@link Vcpu.getVcpuEvents}'s state; `flags` (KVM_VCPUEVENT_VALID_*) says which optional
   * parts to take.
   * @example vcpu.setVcpuEvents(savedState.events)
   */
  setVcpuEvents(events: VcpuEvents): void;
  /** DR0-DR3, DR6, DR7 (`KVM_GET_DEBUGREGS`). @example vcpu.getDebugRegs().dr7 */
  getDebugRegs(): DebugRegs;
  /** Sets DR0-DR3, DR6, DR7. @example vcpu.setDebugRegs({ ...vcpu.getDebugRegs(), dr7: 0x400n }) */
  setDebugRegs(regs: DebugRegs): void;
  /** The extended control registers (XCR0) (`KVM_GET_XCRS`). @example vcpu.getXcrs() // [{ xcr: 0, value: 1n }] */
  getXcrs(): Xcr[];
  /** Sets the extended control registers. @example vcpu.setXcrs([{ xcr: 0, value: 1n }]) */
  setXcrs(xcrs: Xcr[]): void;
  /**
   * The x87, SSE and (where the backend has them) AVX and later register state as a standard-format
   * (not compacted) XSAVE area (`KVM_GET_XSAVE`): the 512-byte FXSAVE region, the 64-byte header
   * (XSTATE_BV at byte 512), then each component at its CPUID.0xD offset. At least 576 bytes; KVM's
   * is 4096. {@link fpuFromXsave} and {@link xsaveFromFpu} convert to and from {@link Fpu}.
   * @example const area = vcpu.getXsave();
   */
  getXsave(): Uint8Array;
  /**
   * Loads an XSAVE area from {@link Vcpu.getXsave} (either backend's). Components marked present in
   * XSTATE_BV that this vCPU lacks are refused unless they hold their initial (all-zero) state.
   * @example vcpu.setXsave(savedState.xsave)
   */
  setXsave(area: Uint8Array): void;
  setGuestDebug(debug: GuestDebug): void;
  translate(linearAddress: bigint): Translation;
  /** Queues an external interrupt vector (without irqchip). */
  interrupt(vector: number): void;
  /** Queues an NMI. */
  nmi(): void;
  /** Whether `run()` should return `interrupted` at once (KVM's immediate_exit). */
  setImmediateExit(on: boolean): void;
  /**
   * A structured-clonable description of a kicker for this vCPU: post it to another thread and
   * build the kicker there with {@link Hypervisor.openKicker} (or the backend's own function).
   */
  kicker(): unknown;
  close(): void;
}
