/**
 * Local APIC of one vCPU: the xAPIC MMIO page, the x2APIC MSRs (0x800-0x8ff), IA32_APIC_BASE,
 * IA32_TSC_DEADLINE, interrupt acceptance and priority, IPIs, LVTs and the APIC timer (one-shot,
 * periodic, TSC-deadline) on the {@link VirtualClock}.
 *
 * The registers live in a 1 KiB page laid out as `kvm_lapic_state` (the xAPIC MMIO layout), so
 * `getLapic`/`setLapic` of the emulated vCPU copy it as KVM does.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';
import type { ApicBus } from './apic-bus.js';
import {
  ApicBaseBits,
  ApicEsrBit,
  ApicMpState,
  ApicMsr,
  DeliveryMode,
  LAPIC_DEFAULT_BASE,
  LAPIC_REGISTER_PAGE_SIZE,
  LapicReg,
  LVT_MASKED,
  TimerMode,
} from './apic-constants.js';
import { type ClockTimer, MIN_PERIODIC_TIMER_NS, type VirtualClock } from './virtual-clock.js';

/** Options for {@link Lapic}. */
export interface LapicOptions {
  /** The APIC ID (equal to the vCPU id in ts-vmm machines); 0..0xfe. */
  apicId: number;
  bus: ApicBus;
  clock: VirtualClock;
  /** Whether this is the bootstrap processor (default: `apicId === 0`). */
  bsp?: boolean;
  /**
   * Called whenever something arrives that the vCPU must look at (an interrupt became pending, an
   * NMI, INIT or SIPI): the CPU wakes from HLT or leaves its instruction batch early.
   */
  onEvent?: () => void;
}

/** What {@link Lapic.acceptEvents} tells the CPU to do with latched INIT/SIPI. */
export interface ApicEventResult {
  /** The vCPU's new run state ({@link ApicMpState}). */
  mpState: number;
  /** INIT was taken: reset the CPU's registers to their INIT state (the LAPIC already reset itself). */
  init: boolean;
  /** A SIPI was taken: start at CS.selector = vector << 8, CS.base = vector << 12, IP = 0; else -1. */
  startupVector: number;
}

const LVT_VERSION = 0x0005_0014; // version 0x14, 6 LVT entries (max LVT index 5), as KVM
const DFR_FLAT = 0xffff_ffff;
const VALID_X2APIC_READ = new Set<number>([
  LapicReg.ID,
  LapicReg.VERSION,
  LapicReg.TPR,
  LapicReg.PPR,
  LapicReg.LDR,
  LapicReg.SVR,
  LapicReg.ESR,
  LapicReg.ICR_LOW,
  LapicReg.LVT_TIMER,
  LapicReg.LVT_THERMAL,
  LapicReg.LVT_PERF,
  LapicReg.LVT_LINT0,
  LapicReg.LVT_LINT1,
  LapicReg.LVT_ERROR,
  LapicReg.TIMER_INITIAL,
  LapicReg.TIMER_CURRENT,
  LapicReg.TIMER_DIVIDE,
]);
const VALID_X2APIC_WRITE = new Set<number>([
  LapicReg.TPR,
  LapicReg.EOI,
  LapicReg.SVR,
  LapicReg.ESR,
  LapicReg.ICR_LOW,
  LapicReg.LVT_TIMER,
  LapicReg.LVT_THERMAL,
  LapicReg.LVT_PERF,
  LapicReg.LVT_LINT0,
  LapicReg.LVT_LINT1,
  LapicReg.LVT_ERROR,
  LapicReg.TIMER_INITIAL,
  LapicReg.TIMER_DIVIDE,
  LapicReg.SELF_IPI,
]);
/** Writable bits of each LVT. */
const LVT_WRITE_MASK: Record<number, number> = {
  [LapicReg.LVT_TIMER]: 0x0007_00ff,
  [LapicReg.LVT_THERMAL]: 0x0001_07ff,
  [LapicReg.LVT_PERF]: 0x0001_07ff,
  [LapicReg.LVT_LINT0]: 0x0001_a7ff,
  [LapicReg.LVT_LINT1]: 0x0001_a7ff,
  [LapicReg.LVT_ERROR]: 0x0001_00ff,
};
const LVTS = [
  LapicReg.LVT_TIMER,
  LapicReg.LVT_THERMAL,
  LapicReg.LVT_PERF,
  LapicReg.LVT_LINT0,
  LapicReg.LVT_LINT1,
  LapicReg.LVT_ERROR,
];

function highestBit(regs: Uint32Array, base: number): number {
  const first = base >> 2;
  for (let i = 7; i >= 0; i--) {
    const w = regs[first + i * 4];
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

/**
 * One vCPU's local APIC.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * const bus = new ApicBus();
 * const lapic = new Lapic({ apicId: 0, bus, clock });
 * lapic.mmioWrite(0xf0, 4, 0x1ff);              // SVR: software enable, spurious vector 0xff
 * lapic.accept(DeliveryMode.FIXED, 0x40, false, true);
 * lapic.pendingVector();                          // 0x40
 * lapic.acknowledge();                            // 0x40, now in service
 * lapic.mmioWrite(0xb0, 4, 0);                    // EOI
 * ```
 */
export class Lapic {
  /** The x2APIC ID (fixed; the xAPIC ID register may be rewritten by the guest in xAPIC mode). */
  readonly initialApicId: number;
  /**
   * Guest TSC = `clock.tsc()` + tscOffset (a number, like the CPU's own offset); the CPU keeps it in
   * step with guest writes of IA32_TSC so that TSC-deadline values mean the same TSC as RDTSC.
   */
  tscOffset = 0;
  private readonly page = new Uint8Array(LAPIC_REGISTER_PAGE_SIZE);
  private readonly regs = new Uint32Array(this.page.buffer);
  private apicBaseValue: number;
  private readonly bus: ApicBus;
  private readonly clock: VirtualClock;
  private readonly onEvent: () => void;
  private readonly timer: ClockTimer;
  private timerPeriodStart = 0;
  private timerRunning = false;
  private tscDeadlineValue = 0n;
  private esrPending = 0;
  private cachedVector = -1;
  private dirty = true;
  private nmiPending = false;
  private initPending = false;
  private sipiPending = false;
  private sipiVector = 0;

  constructor(options: LapicOptions) {
    const { apicId } = options;
    if (!Number.isInteger(apicId) || apicId < 0 || apicId > 0xfe) {
      throw new X86EmulatorError('invalid-argument', 'new Lapic', `APIC ID ${apicId} is out of range 0..254`);
    }
    this.initialApicId = apicId;
    this.bus = options.bus;
    this.clock = options.clock;
    this.onEvent = options.onEvent ?? (() => {});
    this.timer = this.clock.createTimer((d) => this.onTimer(d));
    this.apicBaseValue =
      LAPIC_DEFAULT_BASE +
      ApicBaseBits.GLOBAL_ENABLE +
      ((options.bsp ?? apicId === 0) ? ApicBaseBits.BSP : 0);
    this.reset(false);
    this.bus.attach(this);
  }

  // ---- state ------------------------------------------------------------------------------------

  /**
   * Resets the registers: power-on (`init = false`, also resets IA32_APIC_BASE) or INIT (keeps the
   * APIC base, mode and ID).
   */
  reset(init: boolean): void {
    if (!init) {
      this.apicBaseValue =
        LAPIC_DEFAULT_BASE + ApicBaseBits.GLOBAL_ENABLE + (this.apicBaseValue & ApicBaseBits.BSP);
    }
    this.timer.disarm();
    this.timerRunning = false;
    this.tscDeadlineValue = 0n;
    this.regs.fill(0);
    this.setReg(LapicReg.ID, this.isX2apic ? this.initialApicId : this.initialApicId << 24);
    this.setReg(LapicReg.VERSION, LVT_VERSION);
    this.setReg(LapicReg.DFR, DFR_FLAT);
    this.setReg(LapicReg.SVR, 0xff);
    if (this.isX2apic) this.setReg(LapicReg.LDR, this.x2apicLdr());
    for (const lvt of LVTS) this.setReg(lvt, LVT_MASKED);
    // As KVM: the BSP starts with LINT0 in ExtINT mode, unmasked (virtual wire), so the PIC works.
    if (this.isBsp) this.setReg(LapicReg.LVT_LINT0, DeliveryMode.EXTINT << 8);
    this.esrPending = 0;
    this.nmiPending = false;
    this.initPending = false;
    this.sipiPending = false;
    this.dirty = true;
  }

  /** The current APIC ID (x2APIC ID in x2APIC mode, else the ID register's top byte). */
  get apicId(): number {
    return this.isX2apic ? this.initialApicId : this.reg(LapicReg.ID) >>> 24;
  }

  /** IA32_APIC_BASE. */
  get apicBase(): number {
    return this.apicBaseValue;
  }

  /** Physical address of the xAPIC MMIO page. */
  get mmioBase(): number {
    return this.apicBaseValue - (this.apicBaseValue % 0x1000);
  }

  /** Whether the xAPIC MMIO page is decoded (globally enabled and not in x2APIC mode). */
  get mmioEnabled(): boolean {
    return this.hwEnabled && !this.isX2apic;
  }

  /** Whether IA32_APIC_BASE has the BSP flag. */
  get isBsp(): boolean {
    return (this.apicBaseValue & ApicBaseBits.BSP) !== 0;
  }

  /** Globally enabled in IA32_APIC_BASE. */
  get hwEnabled(): boolean {
    return (this.apicBaseValue & ApicBaseBits.GLOBAL_ENABLE) !== 0;
  }

  /** Software enabled in the SVR. */
  get swEnabled(): boolean {
    return (this.reg(LapicReg.SVR) & 0x100) !== 0;
  }

  /** In x2APIC mode. */
  get isX2apic(): boolean {
    return (this.apicBaseValue & ApicBaseBits.X2APIC_ENABLE) !== 0;
  }

  /**
   * Writes IA32_APIC_BASE. Returns false (the CPU raises #GP) for reserved bits or an invalid mode
   * transition (x2APIC to xAPIC, disabled to x2APIC, x2APIC bit without the enable bit).
   * `hostInitiated` (the VMM's `setSregs`/`setMsrs`, as KVM) allows any transition except x2APIC
   * without enable.
   *
   * @example lapic.setApicBase(0xfee00d00n); // enable x2APIC (BSP)
   */
  setApicBase(value: number | bigint, hostInitiated = false): boolean {
    const v = typeof value === 'bigint' ? Number(value) : value;
    if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 52 || (v % 0x1000) & ~0xd00) return false;
    const newEn = (v & ApicBaseBits.GLOBAL_ENABLE) !== 0;
    const newX2 = (v & ApicBaseBits.X2APIC_ENABLE) !== 0;
    const oldEn = this.hwEnabled;
    const oldX2 = this.isX2apic;
    if (newX2 && !newEn) return false;
    if (!hostInitiated && oldX2 && newEn && !newX2) return false;
    if (!hostInitiated && !oldEn && newX2) return false;
    this.apicBaseValue = v;
    if (newEn && !oldEn && !newX2) this.setReg(LapicReg.ID, this.initialApicId << 24); // as KVM on re-enable
    if (newX2 && !oldX2) {
      this.setReg(LapicReg.ID, this.initialApicId);
      this.setReg(LapicReg.LDR, this.x2apicLdr());
    } else if (!newX2 && oldX2) {
      this.setReg(LapicReg.ID, this.initialApicId << 24);
      this.setReg(LapicReg.LDR, 0);
    }
    if (!newEn) {
      this.timer.disarm();
      this.timerRunning = false;
    }
    this.dirty = true;
    return true;
  }

  /** TPR as CR8 (TPR bits 7:4). */
  get cr8(): number {
    return this.reg(LapicReg.TPR) >>> 4;
  }

  set cr8(value: number) {
    this.setReg(LapicReg.TPR, (value & 0xf) << 4);
    this.dirty = true;
  }

  /** The processor priority register (max of TPR and the in-service class). */
  ppr(): number {
    const tpr = this.reg(LapicReg.TPR) & 0xff;
    const isrv = highestBit(this.regs, LapicReg.ISR);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (tpr & 0xf0) >= isrClass ? tpr : isrClass;
  }

  /** Priority for lowest-priority arbitration (PPR; 0x100 when the LAPIC cannot accept). */
  arbitrationPriority(): number {
    return this.hwEnabled && this.swEnabled ? this.ppr() : 0x100;
  }

  // ---- interrupt acceptance (bus side) ----------------------------------------------------------

  /**
   * Accepts a message from the APIC bus (or an LVT): fixed/lowest-priority vectors go to the IRR
   * (and TMR when level-triggered); NMI, INIT and SIPI are latched for the CPU.
   */
  accept(deliveryMode: number, vector: number, levelTriggered: boolean, assert: boolean): void {
    if (!this.hwEnabled) return;
    switch (deliveryMode) {
      case DeliveryMode.FIXED:
      case DeliveryMode.LOWEST_PRIORITY:
        if (!this.swEnabled) return;
        if (vector < 16) {
          this.raiseError(ApicEsrBit.RECEIVE_ILLEGAL_VECTOR);
          return;
        }
        this.setIrr(vector, levelTriggered);
        return;
      case DeliveryMode.NMI:
        this.nmiPending = true;
        this.onEvent();
        return;
      case DeliveryMode.INIT:
        if (levelTriggered && !assert) return; // INIT level de-assert: no effect on modern CPUs
        this.initPending = true;
        this.sipiPending = false;
        this.onEvent();
        return;
      case DeliveryMode.STARTUP:
        this.sipiVector = vector & 0xff;
        this.sipiPending = true;
        this.onEvent();
        return;
      default:
        // SMI and ExtINT messages: not modelled (ExtINT reaches the CPU through LINT0 and the PIC).
        return;
    }
  }

  /**
   * Whether this LAPIC passes the PIC's INTR through (hardware-disabled, or LINT0 unmasked in
   * ExtINT mode), as KVM's `kvm_apic_accept_pic_intr`.
   */
  acceptsPicInterrupts(): boolean {
    if (!this.hwEnabled) return true;
    const lvt0 = this.reg(LapicReg.LVT_LINT0);
    return (lvt0 & LVT_MASKED) === 0 && ((lvt0 >>> 8) & 7) === DeliveryMode.EXTINT;
  }

  /**
   * Raises a local interrupt source through its LVT (LINT0, LINT1, thermal, perf, error, timer).
   * ExtINT LVTs do nothing here: the irqchip asks the PIC directly.
   * @example lapic.raiseLvt(LapicReg.LVT_LINT1); // NMI button, with LINT1 in NMI mode
   */
  raiseLvt(lvtOffset: number): void {
    if (!(lvtOffset in LVT_WRITE_MASK))
      throw new X86EmulatorError(
        'invalid-argument',
        'Lapic.raiseLvt',
        `0x${lvtOffset.toString(16)} is not an LVT register`,
      );
    const lvt = this.reg(lvtOffset);
    if (lvt & LVT_MASKED || !this.hwEnabled) return;
    const mode = lvtOffset === LapicReg.LVT_TIMER || lvtOffset === LapicReg.LVT_ERROR ? 0 : (lvt >>> 8) & 7;
    const level =
      (lvtOffset === LapicReg.LVT_LINT0 || lvtOffset === LapicReg.LVT_LINT1) && (lvt & 0x8000) !== 0;
    if (mode === DeliveryMode.EXTINT) return;
    this.accept(mode, lvt & 0xff, level, true);
  }

  // ---- CPU side ---------------------------------------------------------------------------------

  /**
   * The vector the CPU should take next (highest IRR vector whose class is above the PPR), or -1.
   * Whether the CPU can take it (IF, interrupt shadow) is the CPU's business.
   */
  pendingVector(): number {
    if (!this.dirty) return this.cachedVector;
    this.dirty = false;
    let v = -1;
    if (this.hwEnabled) {
      const irrv = highestBit(this.regs, LapicReg.IRR);
      if (irrv >= 0 && (irrv & 0xf0) > (this.ppr() & 0xf0)) v = irrv;
    }
    this.cachedVector = v;
    return v;
  }

  /** INTA: moves the pending vector from IRR to ISR and returns it (-1 if none is deliverable). */
  acknowledge(): number {
    const v = this.pendingVector();
    if (v < 0) return -1;
    this.clearBit(LapicReg.IRR, v);
    this.setBit(LapicReg.ISR, v);
    this.dirty = true;
    return v;
  }

  /** End of interrupt for the highest in-service vector; level-triggered ones are broadcast to the IOAPIC. */
  eoi(): void {
    const v = highestBit(this.regs, LapicReg.ISR);
    if (v < 0) return;
    this.clearBit(LapicReg.ISR, v);
    this.dirty = true;
    if (this.testBit(LapicReg.TMR, v)) this.bus.onLevelEoi(v);
    if (this.pendingVector() >= 0) this.onEvent();
  }

  /** Whether an NMI is latched. */
  get hasNmi(): boolean {
    return this.nmiPending;
  }

  /** Takes the latched NMI (returns whether there was one). */
  takeNmi(): boolean {
    const had = this.nmiPending;
    this.nmiPending = false;
    return had;
  }

  /** Whether INIT or SIPI is latched (call {@link acceptEvents}). */
  get hasInitOrSipi(): boolean {
    return this.initPending || this.sipiPending;
  }

  /**
   * Applies latched INIT/SIPI to the vCPU's run state, as KVM's `kvm_apic_accept_events`: INIT
   * resets this LAPIC and puts an AP in INIT_RECEIVED (the BSP stays RUNNABLE at the reset vector);
   * a SIPI is honoured only in INIT_RECEIVED.
   *
   * @example
   * ```ts
   * let mpState: number = ApicMpState.RUNNABLE;
   * const r = lapic.acceptEvents(mpState);
   * if (r.init) cpu.resetRealMode(0xf000, 0xfff0); // INIT: the reset vector
   * if (r.startupVector >= 0) cpu.resetRealMode(r.startupVector << 8, 0); // SIPI: CS = vector << 8, IP = 0
   * mpState = r.mpState;
   * ```
   */
  acceptEvents(mpState: number): ApicEventResult {
    let init = false;
    let startupVector = -1;
    // a SIPI that arrived after the INIT is taken too, once the INIT is done (as KVM)
    const sipi = this.sipiPending;
    const sipiVector = this.sipiVector;
    if (this.initPending) {
      this.initPending = false;
      init = true;
      this.reset(true);
      mpState = this.isBsp ? ApicMpState.RUNNABLE : ApicMpState.INIT_RECEIVED;
    }
    if (sipi) {
      this.sipiPending = false;
      if (mpState === ApicMpState.INIT_RECEIVED) {
        startupVector = sipiVector;
        mpState = ApicMpState.RUNNABLE;
      }
    }
    return { mpState, init, startupVector };
  }

  // ---- MMIO and MSR access ----------------------------------------------------------------------

  /** A read from the xAPIC page (`offset` within the 4 KiB window; 1, 2 or 4 bytes within one register). */
  mmioRead(offset: number, size: number): number {
    const within = offset & 0xf;
    if (!this.mmioEnabled || within + size > 4 || offset >= 0x400) return 0;
    const value = this.readRegister(offset & 0x3f0);
    const shifted = value >>> (within * 8);
    return size === 4 ? shifted >>> 0 : shifted & ((1 << (size * 8)) - 1);
  }

  /** A write to the xAPIC page; only aligned 4-byte writes have an effect, as on hardware. */
  mmioWrite(offset: number, size: number, value: number): void {
    if (!this.mmioEnabled || size !== 4 || offset & 0xf || offset >= 0x400) return;
    if (offset === LapicReg.SELF_IPI) return; // x2APIC only
    this.writeRegister(offset, value >>> 0);
  }

  /**
   * RDMSR for IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range. `undefined` means #GP
   * (not an APIC MSR, x2APIC mode off, or a write-only/reserved register).
   */
  readMsr(index: number): bigint | undefined {
    if (index === ApicMsr.APIC_BASE) return BigInt(this.apicBaseValue);
    if (index === ApicMsr.TSC_DEADLINE)
      return this.timerMode() === TimerMode.TSC_DEADLINE ? this.tscDeadlineValue : 0n;
    if (index < ApicMsr.X2APIC_FIRST || index > ApicMsr.X2APIC_LAST || !this.isX2apic) return undefined;
    const reg = (index - ApicMsr.X2APIC_FIRST) << 4;
    if (reg === LapicReg.ICR_LOW) {
      return (BigInt(this.reg(LapicReg.ICR_HIGH)) << 32n) | BigInt(this.reg(LapicReg.ICR_LOW));
    }
    const isVectorReg = reg >= LapicReg.ISR && reg < LapicReg.ESR;
    if (!isVectorReg && !VALID_X2APIC_READ.has(reg)) return undefined;
    return BigInt(this.readRegister(reg));
  }

  /** WRMSR for the same MSRs as {@link readMsr}; false means #GP. */
  writeMsr(index: number, value: bigint): boolean {
    if (index === ApicMsr.APIC_BASE) return this.setApicBase(value);
    if (index === ApicMsr.TSC_DEADLINE) {
      this.setTscDeadline(value);
      return true;
    }
    if (index < ApicMsr.X2APIC_FIRST || index > ApicMsr.X2APIC_LAST || !this.isX2apic) return false;
    const reg = (index - ApicMsr.X2APIC_FIRST) << 4;
    if (!VALID_X2APIC_WRITE.has(reg)) return false;
    const low = Number(value & 0xffff_ffffn);
    const high = Number((value >> 32n) & 0xffff_ffffn);
    if (reg === LapicReg.ICR_LOW) {
      this.setReg(LapicReg.ICR_HIGH, high);
      this.writeRegister(LapicReg.ICR_LOW, low);
      return true;
    }
    if (high !== 0) return false;
    if ((reg === LapicReg.EOI || reg === LapicReg.ESR) && low !== 0) return false;
    if (reg === LapicReg.SELF_IPI) {
      this.accept(DeliveryMode.FIXED, low & 0xff, false, true);
      return true;
    }
    this.writeRegister(reg, low);
    return true;
  }

  /** IA32_TSC_DEADLINE write: arms the timer for that guest TSC value (0 disarms). Ignored outside TSC-deadline mode. */
  setTscDeadline(value: bigint): void {
    if (!this.hwEnabled || this.timerMode() !== TimerMode.TSC_DEADLINE) return;
    this.tscDeadlineValue = value;
    if (value === 0n) {
      this.timer.disarm();
      return;
    }
    const clockTsc = Number(value) - this.tscOffset;
    this.timer.arm(clockTsc <= 0 ? this.clock.now() : this.clock.nsAtTsc(clockTsc));
  }

  // ---- kvm_lapic_state --------------------------------------------------------------------------

  /**
   * The 1 KiB register page in `kvm_lapic_state` layout (a copy, with PPR and the timer's current
   * count filled in). In x2APIC mode the ID register holds the full x2APIC ID (KVM's x2APIC API).
   */
  getRegisterPage(): Uint8Array {
    this.setReg(LapicReg.PPR, this.ppr());
    this.setReg(LapicReg.TIMER_CURRENT, this.currentCount());
    const copy = this.page.slice();
    this.setReg(LapicReg.TIMER_CURRENT, 0);
    return copy;
  }

  /** Loads a register page from {@link getRegisterPage} (or KVM's `KVM_GET_LAPIC`); restarts the timer from its current count. */
  setRegisterPage(page: Uint8Array): void {
    if (page.length < LAPIC_REGISTER_PAGE_SIZE) {
      throw new X86EmulatorError(
        'invalid-argument',
        'Lapic.setRegisterPage',
        `LAPIC register page of ${page.length} bytes is shorter than ${LAPIC_REGISTER_PAGE_SIZE}`,
      );
    }
    this.timer.disarm();
    this.timerRunning = false;
    this.page.set(page.subarray(0, LAPIC_REGISTER_PAGE_SIZE));
    if (this.isX2apic) {
      this.setReg(LapicReg.ID, this.initialApicId);
      this.setReg(LapicReg.LDR, this.x2apicLdr());
    }
    this.setReg(LapicReg.VERSION, LVT_VERSION);
    const current = this.reg(LapicReg.TIMER_CURRENT);
    this.setReg(LapicReg.TIMER_CURRENT, 0);
    this.esrPending = 0;
    this.dirty = true;
    const mode = this.timerMode();
    if (mode !== TimerMode.TSC_DEADLINE && this.reg(LapicReg.TIMER_INITIAL) !== 0 && current !== 0) {
      this.startCountdown(current);
    }
    if (this.pendingVector() >= 0) this.onEvent();
  }

  // ---- registers --------------------------------------------------------------------------------

  /** Register read with the side-effect-free semantics shared by MMIO and MSR access. */
  private readRegister(reg: number): number {
    switch (reg) {
      case LapicReg.PPR:
        return this.ppr();
      case LapicReg.TIMER_CURRENT:
        return this.currentCount();
      case LapicReg.EOI:
      case LapicReg.SELF_IPI:
        return 0;
      case LapicReg.ICR_LOW:
        return this.reg(reg) & ~0x1000;
      default:
        return this.reg(reg);
    }
  }

  private writeRegister(reg: number, value: number): void {
    switch (reg) {
      case LapicReg.ID:
        if (!this.isX2apic) this.setReg(reg, value & 0xff00_0000);
        return;
      case LapicReg.TPR:
        this.setReg(reg, value & 0xff);
        this.dirty = true;
        return;
      case LapicReg.EOI:
        this.eoi();
        return;
      case LapicReg.LDR:
        if (!this.isX2apic) this.setReg(reg, value & 0xff00_0000);
        return;
      case LapicReg.DFR:
        if (!this.isX2apic) this.setReg(reg, value | 0x0fff_ffff);
        return;
      case LapicReg.SVR: {
        this.setReg(reg, value & 0x3ff); // vector, APIC enable, focus processor checking
        if ((value & 0x100) === 0) for (const lvt of LVTS) this.setReg(lvt, this.reg(lvt) | LVT_MASKED);
        this.dirty = true;
        return;
      }
      case LapicReg.ESR:
        this.setReg(reg, this.esrPending);
        this.esrPending = 0;
        return;
      case LapicReg.ICR_LOW:
        this.setReg(reg, value & 0x000c_cfff);
        this.sendIpi();
        return;
      case LapicReg.ICR_HIGH:
        if (!this.isX2apic) this.setReg(reg, value & 0xff00_0000);
        return;
      case LapicReg.LVT_TIMER: {
        const oldMode = this.timerMode();
        let v = value & LVT_WRITE_MASK[reg];
        if (((v >>> 17) & 3) === 3) v &= ~0x4_0000; // reserved mode 3
        if (!this.swEnabled) v |= LVT_MASKED;
        this.setReg(reg, v);
        // entering or leaving TSC-deadline mode stops the timer (one-shot <-> periodic keeps counting)
        if ((this.timerMode() === TimerMode.TSC_DEADLINE) !== (oldMode === TimerMode.TSC_DEADLINE)) {
          this.timer.disarm();
          this.timerRunning = false;
          this.tscDeadlineValue = 0n;
          this.setReg(LapicReg.TIMER_INITIAL, 0);
        }
        return;
      }
      case LapicReg.LVT_THERMAL:
      case LapicReg.LVT_PERF:
      case LapicReg.LVT_LINT0:
      case LapicReg.LVT_LINT1:
      case LapicReg.LVT_ERROR: {
        let v = (value & LVT_WRITE_MASK[reg]) | (this.reg(reg) & 0x4000);
        if (!this.swEnabled) v |= LVT_MASKED;
        this.setReg(reg, v);
        return;
      }
      case LapicReg.TIMER_INITIAL:
        if (this.timerMode() === TimerMode.TSC_DEADLINE) return;
        this.setReg(reg, value);
        this.startCountdown(value);
        return;
      case LapicReg.TIMER_DIVIDE: {
        const current = this.currentCount();
        this.setReg(reg, value & 0xb);
        if (this.timerRunning) this.startCountdown(current);
        return;
      }
      default:
        return; // read-only or reserved: ignored
    }
  }

  private sendIpi(): void {
    const low = this.reg(LapicReg.ICR_LOW);
    const high = this.reg(LapicReg.ICR_HIGH);
    const deliveryMode = (low >>> 8) & 7;
    const vector = low & 0xff;
    if (
      (deliveryMode === DeliveryMode.FIXED || deliveryMode === DeliveryMode.LOWEST_PRIORITY) &&
      vector < 16
    ) {
      this.raiseError(ApicEsrBit.SEND_ILLEGAL_VECTOR);
      return;
    }
    this.bus.deliver(
      {
        destination: this.isX2apic ? high : high >>> 24,
        logical: (low & 0x800) !== 0,
        deliveryMode,
        vector,
        assert: (low & 0x4000) !== 0,
        levelTriggered: (low & 0x8000) !== 0,
        shorthand: (low >>> 18) & 3,
        wideDestination: this.isX2apic,
      },
      this,
    );
  }

  /**
   * Whether a message for `destination` reaches this LAPIC. `wide`: a 32-bit x2APIC destination;
   * otherwise 8 bits (0xff is a broadcast, also to x2APIC-mode LAPICs when it comes from the
   * IOAPIC or an MSI, `fromDevice`).
   */
  matchesDestination(destination: number, logical: boolean, wide: boolean, fromDevice: boolean): boolean {
    let dest = destination >>> 0;
    if (this.isX2apic) {
      if (!wide && dest === 0xff && fromDevice) return true;
      if (dest === 0xffff_ffff) return true;
      if (!logical) return dest === this.initialApicId;
      const ldr = this.reg(LapicReg.LDR);
      return ldr >>> 16 === dest >>> 16 && (ldr & dest & 0xffff) !== 0;
    }
    if (wide) {
      if (dest === 0xffff_ffff) return true;
      dest &= 0xff;
    }
    if (dest === 0xff) return true;
    if (!logical) return dest === this.apicId;
    const ldr = this.reg(LapicReg.LDR) >>> 24;
    if (this.reg(LapicReg.DFR) >>> 28 === 0xf) return (ldr & dest) !== 0;
    return ldr >>> 4 === dest >>> 4 && (ldr & dest & 0xf) !== 0;
  }

  // ---- timer ------------------------------------------------------------------------------------

  private timerMode(): number {
    return (this.reg(LapicReg.LVT_TIMER) >>> 17) & 3;
  }

  /** Guest ns per timer count: the divide configuration over the APIC bus clock. */
  private tickNs(): number {
    const d = this.reg(LapicReg.TIMER_DIVIDE);
    const code = (d & 3) | ((d & 8) >>> 1);
    const divisor = code === 7 ? 1 : 2 << code;
    return (divisor * 1e9) / this.clock.apicBusHz;
  }

  /** Starts counting down from `firstCount` (then from the initial count, if periodic). */
  private startCountdown(firstCount: number): void {
    const initial = this.reg(LapicReg.TIMER_INITIAL);
    if (initial === 0 || firstCount === 0) {
      this.timer.disarm();
      this.timerRunning = false;
      return;
    }
    const tick = this.tickNs();
    const now = this.clock.now();
    this.timerPeriodStart = now - (initial - firstCount) * tick;
    this.timerRunning = true;
    this.timer.arm(now + firstCount * tick);
  }

  private currentCount(): number {
    if (!this.timerRunning || this.timerMode() === TimerMode.TSC_DEADLINE) return 0;
    const initial = this.reg(LapicReg.TIMER_INITIAL);
    const elapsed = Math.floor((this.clock.now() - this.timerPeriodStart) / this.tickNs());
    if (elapsed < initial) return initial - elapsed;
    if (this.timerMode() === TimerMode.PERIODIC) return initial - (elapsed % initial);
    return 0;
  }

  private onTimer(deadline: number): void {
    const mode = this.timerMode();
    if (mode === TimerMode.TSC_DEADLINE) {
      this.tscDeadlineValue = 0n;
    } else if (mode === TimerMode.PERIODIC && this.timerRunning) {
      const period = this.reg(LapicReg.TIMER_INITIAL) * this.tickNs();
      const now = this.clock.now();
      // fire on a period boundary at least MIN_PERIODIC_TIMER_NS later
      let next = deadline + Math.max(1, Math.ceil(MIN_PERIODIC_TIMER_NS / period)) * period;
      if (next <= now) next += Math.ceil((now - next + 1) / period) * period; // coalesce missed periods
      // the count restarts at every boundary; readouts count from the one just reached
      this.timerPeriodStart = deadline + Math.floor((now - deadline) / period) * period;
      this.timer.arm(next);
    } else {
      this.timerRunning = false;
    }
    this.raiseLvt(LapicReg.LVT_TIMER);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private raiseError(bits: number): void {
    this.esrPending |= bits;
    const lvt = this.reg(LapicReg.LVT_ERROR);
    if ((lvt & LVT_MASKED) === 0 && (lvt & 0xff) >= 16) this.setIrr(lvt & 0xff, false);
  }

  private setIrr(vector: number, levelTriggered: boolean): void {
    this.setBit(LapicReg.IRR, vector);
    if (levelTriggered) this.setBit(LapicReg.TMR, vector);
    else this.clearBit(LapicReg.TMR, vector);
    this.dirty = true;
    this.onEvent();
  }

  private x2apicLdr(): number {
    const id = this.initialApicId;
    return (((id >>> 4) << 16) | (1 << (id & 0xf))) >>> 0;
  }

  private reg(offset: number): number {
    return this.regs[offset >> 2];
  }

  private setReg(offset: number, value: number): void {
    this.regs[offset >> 2] = value;
  }

  private setBit(base: number, vector: number): void {
    this.regs[(base >> 2) + (vector >> 5) * 4] |= 1 << (vector & 31);
  }

  private clearBit(base: number, vector: number): void {
    this.regs[(base >> 2) + (vector >> 5) * 4] &= ~(1 << (vector & 31));
  }

  private testBit(base: number, vector: number): boolean {
    return (this.regs[(base >> 2) + (vector >> 5) * 4] & (1 << (vector & 31))) !== 0;
  }
}
