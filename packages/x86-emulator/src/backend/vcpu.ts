/**
 * The emulated vCPU: a {@link Cpu} run in instruction slices, with the emulated LAPIC, IOAPIC, PIC
 * and PIT serviced inside `run()`, the machine clock advanced by executed instructions, interrupts
 * injected at instruction boundaries, idle time skipped, and kvm-clock.
 *
 * @module
 */
import type {
  CpuidEntry,
  DebugRegs,
  Fpu,
  GuestDebug,
  MsrEntry,
  Regs,
  Sregs,
  Translation,
  Vcpu,
  VcpuEvents,
  VcpuExit,
  Xcr,
} from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { RFLAGS, VEC } from '../constants.js';
import { Cpu, type CpuExit } from '../cpu.js';
import { X86EmulatorError } from '../errors.js';
import { GuestFault } from '../fault.js';
import { MSR } from '../msr.js';
import { ApicMpState } from '../platform/apic-constants.js';
import type { EmulatedIrqchip } from '../platform/irqchip.js';
import type { Lapic } from '../platform/lapic.js';
import { encodePvclockTimeInfo, encodePvclockWallClock, pvclockTimeInfo } from '../platform/pvclock.js';
import { seededRandom } from '../random.js';
import { KVM_CLOCK_PAIRING_WALLCLOCK, KvmHypercallError, kvmHypercall } from './hypercall.js';
import { type EmulatedKickerDescription, KICK_WORD } from './kicker.js';
import { BUSY_WAIT_SKIP_NS, BUSY_WAIT_WINDOW } from './options.js';
import { walkPageTables } from './translate.js';
import {
  exportDebugRegs,
  exportVcpuEvents,
  exportXsave,
  importDebugRegs,
  importVcpuEvents,
  importXsave,
} from './vcpu-state.js';
import type { EmulatedVm } from './vm.js';

/** kvm-clock MSRs (new and old numbers). */
export const KvmClockMsr = {
  WALL_CLOCK_NEW: 0x4b56_4d00,
  SYSTEM_TIME_NEW: 0x4b56_4d01,
  WALL_CLOCK: 0x11,
  SYSTEM_TIME: 0x12,
} as const;

const INTERRUPTED: VcpuExit = { kind: 'interrupted' };
/** IA32_APIC_BASE x2APIC enable (bit 10) and CPUID.1:ECX.x2APIC (bit 21). */
const APIC_BASE_X2APIC = 0x400n;
const X2APIC = 1 << 21;
/** Longest slice handed to the CPU at once (instructions). */
const MAX_SLICE = 200_000;
/**
 * Real-time clock: the longest slice in host time (1 ms), so a timer that the guest armed fires
 * within about that of its deadline however slowly the code before it runs.
 */
const REALTIME_SLICE_NS = 1_000_000;
/** Real-time clock: instructions per host ns assumed before a slice was measured (20 M/s). */
const INITIAL_RATE = 0.02;
/** Real-time clock: slices shorter than this (instructions) are not rate samples (fixed costs). */
const RATE_SAMPLE_MIN = 256;
/** Real-time clock: the shortest slice sized by time (instructions), above RATE_SAMPLE_MIN. */
const REALTIME_MIN_SLICE = 1000;
/** Slice while an interrupt waits for RFLAGS.IF / the interrupt shadow. */
const WINDOW_SLICE = 200;
/** A fixed wall-clock epoch for deterministic runs (2025-01-01T00:00:00Z). */
const DETERMINISTIC_EPOCH_NS = 1_735_689_600_000_000_000n;

/**
 * A vCPU of an {@link EmulatedVm}. Use it only on the thread that created the VM.
 *
 * `run()` returns for the exits a VMM handles: port and MMIO accesses of its devices, HLT when the
 * VM has no irqchip, shutdown (triple fault), internal errors, debug exits, and `interrupted`: after
 * a kick, with immediate exit set, about every `runSliceMs` (20 ms) of host time so a single-threaded
 * VMM can serve its event loop, when another vCPU of the VM can run while this one is halted, and
 * from idle waits (see {@link EmulatedBackendOptions.paceIdle}). Accesses to the LAPIC, IOAPIC, PIC,
 * PIT and port 0x61 never leave `run()`.
 *
 * @example
 * ```ts
 * const vcpu = vm.createVcpu(0);
 * for (;;) {
 *   const exit = vcpu.run();
 *   if (exit.kind === 'io-out' && exit.port === 0x3f8) process.stdout.write(Buffer.from(exit.data));
 *   else if (exit.kind === 'shutdown') break;
 * }
 * ```
 */
export class EmulatedVcpu implements Vcpu {
  readonly id: number;
  /** The CPU itself (registers, statistics, decode cache). */
  readonly cpu: Cpu;
  private readonly vm: EmulatedVm;
  private readonly memory: GuestMemory;
  private readonly irqchip: EmulatedIrqchip | undefined;
  private readonly lapic: Lapic | undefined;
  private readonly kickSab = new SharedArrayBuffer(4);
  private readonly kick = new Int32Array(this.kickSab);
  private immediateExit = false;
  /** Whether this thread may block in `Atomics.wait` (false on a browser's main thread, found on first try). */
  private canBlock = true;
  /** Run state besides HALTED (which is `cpu.halted`): RUNNABLE, UNINITIALIZED or INIT_RECEIVED. */
  private mpState: number = ApicMpState.RUNNABLE;
  /** Instructions retired up to which the clock has been advanced. */
  private accounted = 0;
  /** Deterministic mode: the instruction count at which run() next returns `interrupted`. */
  private detLimit = 0;
  private breakpoints: number[] = [];
  private userSingleStep = false;
  /** The breakpoint at RIP was reported; execute that instruction once before reporting it again. */
  private breakpointSkip = false;
  private readonly kvmclockMsrs = new Map<number, bigint>();
  private pvclockVersion = 0;
  /** Address and instruction count of the last RDTSC (busy-wait detection). */
  private pollIp = -1;
  private pollIcount = 0;
  /** Real-time clock: guest instructions per host ns, measured (see noteRate). */
  private rate = INITIAL_RATE;
  /** A microtask ran since run() last returned with a background compile in flight (see run()). */
  private yielded = true;
  private yieldArmed = false;
  private closed = false;
  /** XCR0 (x87, SSE): kept for snapshots; the CPU offers no XSAVE, so the guest never reads it. */
  private xcr0 = 1n;

  constructor(vm: EmulatedVm, id: number, memory: GuestMemory) {
    this.vm = vm;
    this.id = id;
    this.memory = memory;
    this.cpu = new Cpu(memory, {
      cpuid: vm.hypervisor.supportedCpuid(),
      tsc: () => this.guestTsc(),
      msrHandler: { read: (i) => this.readMsr(i), write: (i, v) => this.writeMsr(i, v) },
      // deterministic runs compile on the spot: which code runs compiled must not depend on timing
      jitAsync: !vm.options.deterministic,
      // and take RDRAND/RDSEED values from a seeded generator, so the trace repeats
      random: vm.options.deterministic ? seededRandom(0x7473766d + id) : undefined,
      // VMCALL: KVM's hypercalls, as the KVM signature in CPUID 0x40000000 promises
      hypercall: (c) =>
        kvmHypercall(c, {
          clockPairing: vm.options.kvmclock ? (gpa, type) => this.clockPairing(gpa, type) : null,
        }),
    });
    this.cpu.reportUd = vm.options.reportUnimplemented;
    this.irqchip = vm.irqchip;
    if (this.irqchip) {
      const ic = this.irqchip;
      this.lapic = ic.addVcpu(id);
      this.cpu.msrs.apicBase = BigInt(this.lapic.apicBase);
      // CR8 is the LAPIC's TPR, and an interrupt the LAPIC holds is taken as soon as the guest
      // opens the window (after `sti; nop`, right after IRET), not at the end of the slice
      this.cpu.apic = this.lapic;
      this.cpu.acceptInterrupt = () => (ic.pendingInterrupt(id) >= 0 ? ic.acknowledge(id) : -1);
    }
    this.detLimit = vm.options.deterministicSlice;
    this.vm.attachCpu(this.cpu);
  }

  // ---------------------------------------------------------------- CPU hooks

  /** Guest TSC now (before the per-vCPU offset), counting the instructions of the current slice. */
  private clockTsc(): number {
    return this.vm.clock.tscAt(this.nowNs());
  }

  /** Guest time now, counting the instructions of the current slice (not yet given to the clock). */
  private nowNs(): number {
    const clock = this.vm.clock;
    let ns = clock.now();
    if (clock.mode === 'virtual') {
      ns += (this.cpu.icount - this.accounted) / (clock.instructionsPerNs * this.vm.vcpuCount);
    }
    return ns;
  }

  /**
   * RDTSC from the machine clock ({@link CpuOptions.tsc}); in virtual-clock mode a TSC read repeated
   * at the same RIP within a short window (a busy-wait) moves the clock on.
   */
  private guestTsc(): number {
    const cpu = this.cpu;
    const clock = this.vm.clock;
    if (this.vm.options.skipBusyWaits && clock.mode === 'virtual') {
      const ip = cpu.cur === null ? -1 : cpu.cur.ip;
      if (ip === this.pollIp && cpu.icount - this.pollIcount < BUSY_WAIT_WINDOW)
        clock.advance(BUSY_WAIT_SKIP_NS);
      this.pollIp = ip;
      this.pollIcount = cpu.icount;
    }
    return this.clockTsc();
  }

  /** The MSRs the CPU has no chips for ({@link CpuOptions.msrHandler}): the LAPIC's, and kvm-clock's. */
  private readMsr(i: number): bigint | undefined {
    const ic = this.irqchip;
    if (ic?.handlesMsr(i)) {
      const v = ic.readMsr(this.id, i);
      if (v === undefined) throw new GuestFault(VEC.GP, 0);
      return v;
    }
    if (this.vm.options.kvmclock && isKvmClockMsr(i)) return this.kvmclockMsrs.get(i) ?? 0n;
    return undefined;
  }

  /** Writes to the LAPIC's MSRs, IA32_TSC (moves this vCPU's offset) and kvm-clock's; false for the rest. */
  private writeMsr(i: number, value: bigint): boolean {
    const ic = this.irqchip;
    const cpu = this.cpu;
    if (ic?.handlesMsr(i)) {
      // the x2APIC enable bit is reserved unless the guest's CPUID offers x2APIC (KVM's
      // kvm_set_apic_base): without this check the xAPIC page would vanish under a guest that set it
      if (
        i === MSR.APIC_BASE &&
        (value & APIC_BASE_X2APIC) !== 0n &&
        (cpu.cpuidLookup(1, 0)[2] & X2APIC) === 0
      )
        throw new GuestFault(VEC.GP, 0);
      if (!ic.writeMsr(this.id, i, value)) throw new GuestFault(VEC.GP, 0);
      if (i === MSR.APIC_BASE) cpu.msrs.apicBase = BigInt(this.lapic!.apicBase);
      return true;
    }
    if (i === MSR.TSC) {
      cpu.tscOffset = Number(BigInt.asUintN(64, value)) - this.clockTsc();
      if (this.lapic) this.lapic.tscOffset = cpu.tscOffset;
      return true;
    }
    if (this.vm.options.kvmclock && isKvmClockMsr(i)) {
      this.writeKvmClockMsr(i, BigInt.asUintN(64, value));
      return true;
    }
    return false;
  }

  /** `KVM_HC_CLOCK_PAIRING`: the guest's wall-clock time and TSC at one instant (`struct kvm_clock_pairing`). */
  private clockPairing(gpa: number, clockType: number): number {
    if (clockType !== KVM_CLOCK_PAIRING_WALLCLOCK) return -KvmHypercallError.EOPNOTSUPP;
    if (!this.memory.checkRange(gpa, 64)) return -KvmHypercallError.EFAULT;
    const ns = this.nowNs();
    // the same wall clock as kvm-clock's (the epoch plus guest time)
    const epoch = this.vm.options.deterministic ? DETERMINISTIC_EPOCH_NS : this.vm.clock.wallClockEpochNs();
    const wall = epoch + BigInt(Math.floor(ns));
    const rec = new Uint8Array(64);
    const dv = new DataView(rec.buffer);
    dv.setBigInt64(0, wall / 1_000_000_000n, true);
    dv.setBigInt64(8, wall % 1_000_000_000n, true);
    dv.setBigUint64(
      16,
      BigInt.asUintN(64, BigInt(Math.floor(this.vm.clock.tscAt(ns) + this.cpu.tscOffset))),
      true,
    );
    this.writeGuest(gpa, rec);
    return 0;
  }

  private writeKvmClockMsr(index: number, value: bigint): void {
    this.kvmclockMsrs.set(index, value);
    if (index === KvmClockMsr.WALL_CLOCK_NEW || index === KvmClockMsr.WALL_CLOCK) {
      const at = Number(value);
      // the Unix time at guest time 0: the guest adds kvm-clock's system time to it
      const epoch = this.vm.options.deterministic ? DETERMINISTIC_EPOCH_NS : this.vm.clock.wallClockEpochNs();
      this.writeGuest(at, encodePvclockWallClock(2, epoch));
      return;
    }
    this.updatePvclock();
  }

  /** Writes this vCPU's pvclock record if kvm-clock's system-time MSR enables one. */
  private updatePvclock(): void {
    const v =
      this.kvmclockMsrs.get(KvmClockMsr.SYSTEM_TIME_NEW) ?? this.kvmclockMsrs.get(KvmClockMsr.SYSTEM_TIME);
    if (v === undefined || (v & 1n) === 0n) return;
    this.pvclockVersion += 2;
    const info = pvclockTimeInfo(this.vm.clock, this.cpu.tscOffset, this.pvclockVersion);
    // the TSC and system time must be read at the same instant as the guest's RDTSC would see
    const ns = this.nowNs();
    info.tscTimestamp = BigInt(this.vm.clock.tscAt(ns) + this.cpu.tscOffset);
    info.systemTime = BigInt(Math.floor(ns));
    this.writeGuest(Number(v & ~1n), encodePvclockTimeInfo(info));
  }

  private writeGuest(at: number, bytes: Uint8Array): void {
    if (!this.memory.checkRange(at, bytes.length)) return; // KVM ignores a bad address as well
    this.memory.writeBytes(at, bytes);
    this.cpu.invalidateCode(at, bytes.length);
    if (this.vm.dirtyPages) this.vm.dirtyPages[Math.floor(at / 4096)] = 1;
  }

  // ---------------------------------------------------------------- run

  /**
   * Runs the guest until the VMM must act (see the class comment for which exits come back).
   * @example const exit = vcpu.run();
   */
  run(): VcpuExit {
    this.check('run');
    if (this.immediateExit) return INTERRUPTED;
    if (Atomics.exchange(this.kick, KICK_WORD, 0) !== 0) return INTERRUPTED;
    const exit = this.runLoop();
    // while a background compile is in flight, notice whether the caller lets microtasks (and so
    // maybe the event loop) run before it calls again
    if (this.cpu.wasmJit?.compiling) {
      this.yielded = false;
      if (!this.yieldArmed) {
        this.yieldArmed = true;
        queueMicrotask(this.onYield);
      }
    }
    return exit;
  }

  private readonly onYield = (): void => {
    this.yielded = true;
    this.yieldArmed = false;
  };

  private runLoop(): VcpuExit {
    const vm = this.vm;
    const cpu = this.cpu;
    const ic = this.irqchip;
    const clock = vm.clock;
    const opts = vm.options;
    const det = opts.deterministic;
    const t0 = performance.now();
    /** Whether this call has run a slice of guest instructions yet. */
    let ran = false;
    for (;;) {
      if (det) {
        if (cpu.icount >= this.detLimit) {
          this.detLimit = cpu.icount + opts.deterministicSlice;
          return INTERRUPTED;
        }
      } else {
        const now = performance.now();
        if (now - t0 >= opts.runSliceMs) return INTERRUPTED;
        // a background compile has probably finished: its result comes through the event loop, so
        // return (once this call made progress) to let the caller serve it; a caller that did not
        // yield since the last return (a synchronous loop of run() calls) would never get it, and
        // gets it compiled here instead
        const jit = cpu.wasmJit;
        if (jit?.compileDue(now)) {
          if (!this.yielded) jit.settle();
          else if (ran) return INTERRUPTED;
        }
      }
      if (Atomics.load(this.kick, KICK_WORD) !== 0) {
        Atomics.store(this.kick, KICK_WORD, 0);
        return INTERRUPTED;
      }
      if (ic) {
        const lapic = this.lapic!;
        if (lapic.hasInitOrSipi) this.acceptApicEvents(lapic);
        if (this.isIdle()) {
          const r = this.idle(t0);
          if (r !== null) return r;
          continue;
        }
        cpu.halted = false;
        if (!cpu.pendingNmi && lapic.hasNmi && ic.takeNmi(this.id)) cpu.injectNmi();
        if (cpu.pendingIrq < 0 && cpu.interruptWindowOpen && ic.pendingInterrupt(this.id) >= 0) {
          const v = ic.acknowledge(this.id);
          if (v >= 0) cpu.injectInterrupt(v);
        }
      }
      if (this.breakpoints.length > 0 && !this.breakpointSkip && this.breakpoints.includes(cpu.ripLinear())) {
        this.breakpointSkip = true;
        return { kind: 'debug', exception: VEC.DB, pc: cpu.getRip(), dr6: 0xffff0ff0n, dr7: 0x400n };
      }
      // the slice: up to the next timer deadline, short while an interrupt waits for its window
      let budget = det ? this.detLimit - cpu.icount : MAX_SLICE;
      const hostTimed = clock.mode !== 'virtual';
      if (hostTimed) {
        // instructions do not move time: end the slice near the deadline on the host's clock, and
        // within REALTIME_SLICE_NS, by the instruction rate measured over the last slices
        const n = Math.max(
          Math.min(clock.nsUntilDeadline(), REALTIME_SLICE_NS) * this.rate,
          REALTIME_MIN_SLICE,
        );
        if (n < budget) budget = Math.ceil(n);
      } else {
        const until = clock.instructionsUntilDeadline() * vm.vcpuCount;
        if (until < budget) budget = Math.ceil(until);
      }
      if (ic && cpu.pendingIrq < 0 && budget > WINDOW_SLICE && ic.pendingInterrupt(this.id) >= 0) {
        budget = WINDOW_SLICE;
      }
      if (budget < 1) budget = 1;
      const stepping = this.breakpoints.length > 0 && !this.userSingleStep;
      if (stepping) cpu.singleStep = true;
      let exit: CpuExit;
      const i0 = cpu.icount;
      const h0 = hostTimed ? performance.now() : 0;
      try {
        exit = cpu.run(budget);
        ran = true;
        if (hostTimed && exit.kind === 'instruction-limit')
          this.noteRate(cpu.icount - i0, performance.now() - h0);
      } catch (e) {
        this.account();
        return this.internalError(e);
      } finally {
        if (stepping) cpu.singleStep = this.userSingleStep;
      }
      this.breakpointSkip = false;
      this.account();
      switch (exit.kind) {
        case 'instruction-limit':
          continue;
        case 'hlt':
          if (!ic) {
            // as KVM without an in-kernel irqchip: the next run() resumes after the HLT
            cpu.halted = false;
            return exit;
          }
          continue;
        case 'debug':
          if (stepping) continue;
          return exit;
        case 'io-out': {
          const d = exit.data;
          if (ic?.pioWrite(exit.port, exit.size, littleEndian(d))) continue;
          if (vm.pioEventCount > 0 && vm.dispatchIoEvent('pio', exit.port, d)) continue;
          return exit;
        }
        case 'io-in': {
          const v = ic?.pioRead(exit.port, exit.size);
          if (v !== undefined) {
            storeLittleEndian(exit.data, v);
            continue;
          }
          return exit;
        }
        case 'mmio-read': {
          if (ic && exit.size <= 4) {
            const v = ic.mmioRead(this.id, exit.address, exit.size);
            if (v !== undefined) {
              storeLittleEndian(exit.data, v);
              continue;
            }
          }
          return exit;
        }
        case 'mmio-write': {
          const d = exit.data;
          if (ic && exit.size <= 4 && ic.mmioWrite(this.id, exit.address, exit.size, littleEndian(d)))
            continue;
          if (vm.mmioEventCount > 0 && vm.dispatchIoEvent('mmio', exit.address, d)) continue;
          return exit;
        }
        default:
          return exit;
      }
    }
  }

  /**
   * Real-time clock: records the instruction rate of a slice that ran to its budget. A slower one
   * lowers the estimate fast (at most fourfold per slice, so one pause of the host does not ruin
   * it), a faster one raises it by an eighth of the difference: slow code (cold, interpreted,
   * missing the TLB) after fast code must not overrun its deadline much, and a short slice's fixed
   * costs must not drag the estimate down for good.
   */
  private noteRate(instructions: number, ms: number): void {
    if (instructions < RATE_SAMPLE_MIN || !(ms > 0)) return;
    const r = instructions / (ms * 1e6);
    this.rate = r < this.rate ? Math.max(r, this.rate / 4) : this.rate + (r - this.rate) / 8;
  }

  /** Advances the machine clock by the instructions retired since the last call (fires timers). */
  private account(): void {
    const n = this.cpu.icount - this.accounted;
    this.accounted = this.cpu.icount;
    if (n > 0) this.vm.clock.advanceInstructions(n / this.vm.vcpuCount);
  }

  /** @internal Halted with nothing to wake it, or waiting for INIT/SIPI (irqchip VMs only). */
  isIdle(): boolean {
    const ic = this.irqchip;
    if (!ic || this.closed) return false;
    if (this.mpState === ApicMpState.UNINITIALIZED || this.mpState === ApicMpState.INIT_RECEIVED) {
      return !this.lapic!.hasInitOrSipi;
    }
    if (!this.cpu.halted) return false;
    return !ic.shouldWake(this.id, (this.cpu.flagsRest & RFLAGS.IF) !== 0);
  }

  /**
   * This vCPU is idle. If another vCPU can run, return so the VMM runs it. If all are idle, move
   * guest time to the next timer deadline (paced against host time, see `paceIdle`), or wait
   * briefly on the host for outside input when no timer is armed. Returns an exit, or null to go on.
   */
  private idle(t0: number): VcpuExit | null {
    const vm = this.vm;
    for (const v of vm.vcpus.values()) if (v !== this && !v.isIdle()) return INTERRUPTED;
    const clock = vm.clock;
    const next = clock.nextDeadline();
    if (next === Number.POSITIVE_INFINITY) return this.hostWait(t0, vm.options.runSliceMs);
    if (clock.mode === 'realtime') {
      const ns = clock.idle();
      return ns <= 0 ? null : this.hostWait(t0, ns / 1e6);
    }
    if (clock.mode === 'virtual' && vm.options.paceIdle) {
      const aheadMs = next / 1e6 - (performance.now() - vm.hostStartMs);
      if (aheadMs > 0) return this.hostWait(t0, aheadMs);
    }
    clock.idle();
    return null;
  }

  /**
   * Sleeps up to `ms` unless kicked, but at most `idleWaitMs` and what is left of this run() slice:
   * a wait cut short by those returns `interrupted`, so a single-threaded VMM's event loop (host
   * input, its timers) gets a turn that often while the guest idles; a wait that reached `ms` (a
   * timer's deadline) returns null, to go on and fire the timer. On a thread that may not block (a
   * browser's main thread, where `Atomics.wait` throws) it returns `interrupted` at once instead,
   * and the VMM's event loop does the waiting.
   */
  private hostWait(t0: number, ms: number): VcpuExit | null {
    const opts = this.vm.options;
    const left = opts.runSliceMs - (performance.now() - t0);
    const wait = Math.min(ms, left, opts.idleWaitMs);
    if (wait <= 0 || !this.canBlock) return INTERRUPTED;
    let woke: string;
    try {
      woke = Atomics.wait(this.kick, KICK_WORD, 0, wait);
    } catch {
      this.canBlock = false;
      return INTERRUPTED;
    }
    if (woke !== 'timed-out') {
      Atomics.store(this.kick, KICK_WORD, 0);
      return INTERRUPTED;
    }
    return wait < ms ? INTERRUPTED : null;
  }

  /** Applies a latched INIT / SIPI (KVM's kvm_apic_accept_events). */
  private acceptApicEvents(lapic: Lapic): void {
    const r = lapic.acceptEvents(this.getMpState());
    const cpu = this.cpu;
    if (r.init) {
      cpu.resetRealMode(0xf000, 0xfff0);
      cpu.halted = false;
      cpu.pendingIrq = -1;
      cpu.pendingNmi = false;
      cpu.nmiBlocked = false;
      cpu.cr2 = 0;
      cpu.cr3 = 0;
    }
    if (r.startupVector >= 0) {
      cpu.resetRealMode(r.startupVector << 8, 0);
      cpu.halted = false;
    }
    if (r.mpState === ApicMpState.HALTED) {
      cpu.halted = true;
      this.mpState = ApicMpState.RUNNABLE;
    } else {
      if (r.mpState === ApicMpState.RUNNABLE) cpu.halted = false;
      this.mpState = r.mpState;
    }
  }

  private internalError(e: unknown): VcpuExit {
    const cpu = this.cpu;
    const rip = cpu.getRip();
    let bytes: Uint8Array | undefined;
    try {
      const t = this.translate(BigInt.asUintN(64, BigInt(cpu.ripLinear())));
      if (t.valid && this.memory.checkRange(Number(t.physicalAddress), 15)) {
        bytes = this.memory.readBytes(Number(t.physicalAddress), 15);
      }
    } catch {
      // no bytes
    }
    const msg = e instanceof Error ? e.message : String(e);
    return {
      kind: 'internal-error',
      suberror: 1,
      message: `emulator error at rip 0x${rip.toString(16)}: ${msg}`,
      data: [rip],
      bytes,
    };
  }

  // ---------------------------------------------------------------- state

  /** General registers. @example vcpu.getRegs().rip */
  getRegs(): Regs {
    return this.cpu.getRegs();
  }
  /** Sets the general registers. @example vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n }) */
  setRegs(regs: Regs): void {
    this.cpu.setRegs(regs);
  }

  /** Special registers; `apic_base` and `cr8` come from the LAPIC when there is one. @example vcpu.getSregs().cr0 */
  getSregs(): Sregs {
    const s = this.cpu.getSregs();
    if (this.lapic) {
      s.apic_base = BigInt(this.lapic.apicBase);
      s.cr8 = BigInt(this.lapic.cr8);
    }
    return s;
  }
  /** Sets the special registers (a host-initiated APIC base write reaches the LAPIC). @example vcpu.setSregs(sregs) */
  setSregs(sregs: Sregs): void {
    const lapic = this.lapic;
    if (lapic) {
      if (!lapic.setApicBase(sregs.apic_base, true)) {
        throw new X86EmulatorError(
          'invalid-argument',
          'EmulatedVcpu.setSregs',
          `APIC base 0x${sregs.apic_base.toString(16)} rejected`,
        );
      }
      lapic.cr8 = Number(sregs.cr8 & 0xfn);
    }
    this.cpu.setSregs(sregs);
    if (lapic) this.cpu.msrs.apicBase = BigInt(lapic.apicBase);
  }

  /** x87/SSE state. @example vcpu.getFpu().mxcsr */
  getFpu(): Fpu {
    return this.cpu.getFpu();
  }
  /** Sets the x87/SSE state. @example vcpu.setFpu({ ...vcpu.getFpu(), fcw: 0x37f }) */
  setFpu(fpu: Fpu): void {
    this.cpu.setFpu(fpu);
  }

  /**
   * Reads MSRs. An index the vCPU does not have throws (KVM_GET_MSRS would stop there).
   * @example vcpu.getMsrs([0xc0000080])[0].data // EFER
   */
  getMsrs(indices: number[]): MsrEntry[] {
    return indices.map((index) => {
      try {
        return { index, data: this.cpu.msrs.read(index) };
      } catch (e) {
        if (e instanceof GuestFault)
          throw new X86EmulatorError(
            'unsupported',
            'EmulatedVcpu.getMsrs',
            `MSR 0x${index.toString(16)} is not supported`,
          );
        throw e;
      }
    });
  }

  /**
   * Writes MSRs (host-initiated). An index the vCPU does not have, or a value it rejects, throws.
   * @example vcpu.setMsrs([{ index: 0x10, data: 0n }]) // TSC = 0
   */
  setMsrs(entries: MsrEntry[]): void {
    for (const { index, data } of entries) {
      try {
        this.cpu.msrs.write(index, data);
      } catch (e) {
        if (e instanceof GuestFault) {
          throw new X86EmulatorError(
            'invalid-argument',
            'EmulatedVcpu.setMsrs',
            `MSR 0x${index.toString(16)} = 0x${data.toString(16)} rejected (an MSR the vCPU does not have, or a value it refuses)`,
          );
        }
        throw e;
      }
    }
  }

  /** Sets the CPUID the guest sees. @example vcpu.setCpuid(hv.supportedCpuid()) */
  setCpuid(entries: CpuidEntry[]): void {
    this.cpu.cpuid = entries.map((e) => ({ ...e }));
  }
  /** The CPUID the guest sees. @example vcpu.getCpuid().length */
  getCpuid(): CpuidEntry[] {
    return this.cpu.cpuid.map((e) => ({ ...e }));
  }

  /** The LAPIC register page (`kvm_lapic_state`). @example vcpu.getLapic()[0x20 + 3] // APIC ID */
  getLapic(): Uint8Array {
    return this.requireLapic('getLapic').getRegisterPage();
  }
  /** Loads the LAPIC register page. @example vcpu.setLapic(page) */
  setLapic(regs: Uint8Array): void {
    this.requireLapic('setLapic').setRegisterPage(regs);
  }

  /** KVM_MP_STATE_* of this vCPU. @example vcpu.getMpState() === MpState.RUNNABLE */
  getMpState(): number {
    if (this.mpState !== ApicMpState.RUNNABLE) return this.mpState;
    return this.cpu.halted ? ApicMpState.HALTED : ApicMpState.RUNNABLE;
  }
  /** Sets the run state (UNINITIALIZED parks an AP until INIT/SIPI). @example vcpu.setMpState(MpState.UNINITIALIZED) */
  setMpState(state: number): void {
    switch (state) {
      case ApicMpState.RUNNABLE:
      case ApicMpState.SIPI_RECEIVED:
        this.mpState = ApicMpState.RUNNABLE;
        this.cpu.halted = false;
        return;
      case ApicMpState.HALTED:
        this.mpState = ApicMpState.RUNNABLE;
        this.cpu.halted = true;
        return;
      case ApicMpState.UNINITIALIZED:
      case ApicMpState.INIT_RECEIVED:
        this.requireLapic('setMpState');
        this.mpState = state;
        this.cpu.halted = false;
        return;
      default:
        throw new X86EmulatorError('invalid-argument', 'EmulatedVcpu.setMpState', `unknown state ${state}`);
    }
  }

  /**
   * The queued interrupt, the STI / MOV SS shadow, NMI pending and masked, in `kvm_vcpu_events`'
   * shape (no exception is ever pending between two `run()` calls).
   * @example vcpu.getVcpuEvents().interrupt.shadow
   */
  getVcpuEvents(): VcpuEvents {
    return exportVcpuEvents(this.cpu, this.lapic?.hasNmi ?? false);
  }
  /**
   * Loads events (this backend's or KVM's); refuses a pending exception, SMM or a pending triple fault.
   * @example vcpu.setVcpuEvents(savedState.events)
   */
  setVcpuEvents(events: VcpuEvents): void {
    importVcpuEvents(this.cpu, events);
  }
  /** DR0-DR3, DR6, DR7. @example vcpu.getDebugRegs().dr7 */
  getDebugRegs(): DebugRegs {
    return exportDebugRegs(this.cpu);
  }
  /** Loads DR0-DR3, DR6, DR7 (arming the breakpoints DR7 enables). @example vcpu.setDebugRegs(savedState.debugRegs) */
  setDebugRegs(regs: DebugRegs): void {
    importDebugRegs(this.cpu, regs);
  }
  /** XCR0 (x87 | SSE at most: the CPU has no AVX). @example vcpu.getXcrs() // [{ xcr: 0, value: 1n }] */
  getXcrs(): Xcr[] {
    return [{ xcr: 0, value: this.xcr0 }];
  }
  /**
   * Sets XCR0: bit 0 (x87) set, at most bit 1 (SSE) besides.
   * @example vcpu.setXcrs([{ xcr: 0, value: 3n }])
   */
  setXcrs(xcrs: Xcr[]): void {
    for (const { xcr, value } of xcrs) {
      if (xcr !== 0 || (value & 1n) === 0n || (value & ~3n) !== 0n)
        throw new X86EmulatorError(
          'unsupported',
          'EmulatedVcpu.setXcrs',
          `XCR${xcr} = 0x${value.toString(16)} (the emulator has XCR0 with x87 and SSE only)`,
        );
      this.xcr0 = value;
    }
  }
  /** x87 and SSE state as a 576-byte XSAVE area. @example vcpu.getXsave().length // 576 */
  getXsave(): Uint8Array {
    return exportXsave(this.cpu);
  }
  /**
   * Loads an XSAVE area (this backend's or KVM's); AVX and later components must be in their initial state.
   * @example vcpu.setXsave(savedState.xsave)
   */
  setXsave(area: Uint8Array): void {
    importXsave(this.cpu, area);
  }

  /**
   * Single-stepping (a `debug` exit after each instruction) and up to four execute breakpoints
   * (linear addresses; a `debug` exit before the instruction runs).
   * @example vcpu.setGuestDebug({ enable: true, singleStep: true })
   */
  setGuestDebug(debug: GuestDebug): void {
    const bps = debug.enable ? (debug.hwBreakpoints ?? []) : [];
    if (bps.length > 4)
      throw new X86EmulatorError(
        'unsupported',
        'EmulatedVcpu.setGuestDebug',
        `${bps.length} breakpoints (at most 4)`,
      );
    this.breakpoints = bps.map((b) => Number(BigInt.asIntN(64, b)));
    this.userSingleStep = debug.enable && (debug.singleStep ?? false);
    this.cpu.singleStep = this.userSingleStep;
    this.breakpointSkip = false;
  }

  /**
   * Translates a linear address through the guest's page tables (no accessed/dirty bit updates).
   * @example vcpu.translate(0xffffffff81000000n).physicalAddress
   */
  translate(linearAddress: bigint): Translation {
    const c = this.cpu;
    return walkPageTables(this.memory, { cr0: c.cr0, cr3: c.cr3, cr4: c.cr4, efer: c.efer }, linearAddress);
  }

  /**
   * Queues an external interrupt (VMs without an irqchip): delivered once RFLAGS.IF = 1.
   * @example vcpu.interrupt(0x20)
   */
  interrupt(vector: number): void {
    if (this.irqchip)
      throw new X86EmulatorError(
        'invalid-state',
        'EmulatedVcpu.interrupt',
        'the VM has an irqchip; raise a GSI or MSI instead',
      );
    this.cpu.injectInterrupt(vector);
  }

  /** Queues an NMI. @example vcpu.nmi() */
  nmi(): void {
    this.cpu.injectNmi();
  }

  /** While on, `run()` returns `interrupted` at once. @example vcpu.setImmediateExit(true) */
  setImmediateExit(on: boolean): void {
    this.immediateExit = on;
  }

  /**
   * A description for {@link openEmulatedKicker} (or `hypervisor.openKicker`) in any thread: the
   * kick sets a shared flag that `run()` polls between slices, and wakes an idle wait.
   * @example const k = openEmulatedKicker(vcpu.kicker()); k.kick();
   */
  kicker(): EmulatedKickerDescription {
    return { kind: 'emulated-kicker', flag: this.kickSab };
  }

  /** Releases the vCPU (and its LAPIC). @example vcpu.close() */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.vm.removeVcpu(this.id);
    this.vm.detachCpu(this.cpu);
  }

  private requireLapic(what: string): Lapic {
    if (!this.lapic)
      throw new X86EmulatorError('invalid-state', `EmulatedVcpu.${what}`, 'the VM has no irqchip');
    return this.lapic;
  }

  private check(what: string): void {
    if (this.closed)
      throw new X86EmulatorError('closed', `EmulatedVcpu.${what}`, `vCPU ${this.id} is closed`);
  }
}

function isKvmClockMsr(i: number): boolean {
  return (
    i === KvmClockMsr.WALL_CLOCK_NEW ||
    i === KvmClockMsr.SYSTEM_TIME_NEW ||
    i === KvmClockMsr.WALL_CLOCK ||
    i === KvmClockMsr.SYSTEM_TIME
  );
}

function littleEndian(d: Uint8Array): number {
  let v = 0;
  for (let k = Math.min(d.length, 4) - 1; k >= 0; k--) v = v * 256 + d[k];
  return v;
}

function storeLittleEndian(d: Uint8Array, v: number): void {
  for (let k = 0; k < d.length; k++) {
    d[k] = k < 4 ? (v >>> (8 * k)) & 0xff : 0;
  }
}
