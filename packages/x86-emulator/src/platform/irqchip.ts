/**
 * {@link EmulatedIrqchip}: the emulated twin of KVM's in-kernel irqchip and PIT. It owns the clock,
 * the APIC bus, one LAPIC per vCPU, the IOAPIC, the PIC pair and (after {@link EmulatedIrqchip.createPit})
 * the PIT, routes GSIs and MSIs, answers the CPU's interrupt-injection questions and decodes the
 * chips' ports, MMIO windows and MSRs so that the emulated vCPU can serve those accesses without
 * leaving the backend.
 *
 * @module
 */
import type { InterruptLine } from '@ts-vmm/hypervisor';
import { X86EmulatorError } from '../errors.js';
import { ApicBus } from './apic-bus.js';
import { ApicMsr, IOAPIC_DEFAULT_BASE, IOAPIC_NUM_PINS } from './apic-constants.js';
import { Ioapic } from './ioapic.js';
import { Lapic } from './lapic.js';
import { decodeMsi } from './msi.js';
import { PicPair } from './pic.js';
import { Pit } from './pit.js';
import { VirtualClock } from './virtual-clock.js';

/** Options for {@link EmulatedIrqchip}. */
export interface EmulatedIrqchipOptions {
  /** The machine clock (default: a new `virtual`-mode {@link VirtualClock}). */
  clock?: VirtualClock;
  /** IOAPIC MMIO base (default 0xfec00000). */
  ioapicBase?: number;
  /** IOAPIC pin that the PIT's IRQ 0 drives (default 2: the usual MADT interrupt source override). */
  pitIoapicPin?: number;
  /** Decode MSI address bits 11-5 as extended destination ID bits (KVM_FEATURE_MSI_EXT_DEST_ID; default false). */
  msiExtendedDestinationId?: boolean;
}

/** Source id of {@link EmulatedIrqchip.setIrqLine} (the VMM's own lines). */
const USER_SOURCE = 0;
/** Size of the IOAPIC MMIO window. */
const IOAPIC_WINDOW = 0x1000;

/**
 * The machine's interrupt controllers and timers.
 *
 * The CPU side, per vCPU, at each instruction boundary where it may take an interrupt:
 * ```ts
 * if (irqchip.hasNmi(id)) { irqchip.takeNmi(id); deliverNmi(); }
 * else if (rflags.IF && !shadow && irqchip.pendingInterrupt(id) >= 0) deliver(irqchip.acknowledge(id));
 * ```
 * and `irqchip.clock.advanceInstructions(n)` after each batch; when every vCPU is halted with
 * nothing pending, `irqchip.clock.idle()`.
 *
 * @example
 * ```ts
 * const irqchip = new EmulatedIrqchip();
 * irqchip.addVcpu(0, () => wake(0));
 * irqchip.createPit();
 * irqchip.setIrqLine(4, true);                 // COM1
 * irqchip.signalMsi(0xfee00000n, 0x4041);      // vector 0x41 to APIC 0
 * const v = irqchip.pendingInterrupt(0);       // 0x41 (once the guest set up the LAPIC)
 * ```
 */
export class EmulatedIrqchip {
  readonly clock: VirtualClock;
  readonly bus = new ApicBus();
  readonly ioapic: Ioapic;
  readonly pic = new PicPair();
  /** IOAPIC MMIO base. */
  readonly ioapicBase: number;
  private pitValue: Pit | undefined;
  private readonly lapics = new Map<number, Lapic>();
  private readonly wakers = new Map<number, () => void>();
  private readonly pitPin: number;
  private readonly msiExtDest: boolean;
  /** Per GSI: the ids of the sources currently asserting it. */
  private readonly lineSources = new Map<number, Set<number>>();
  private nextSource = 1;
  private pitLevel = false;

  constructor(options: EmulatedIrqchipOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.ioapicBase = options.ioapicBase ?? IOAPIC_DEFAULT_BASE;
    this.pitPin = options.pitIoapicPin ?? 2;
    if (!Number.isInteger(this.pitPin) || this.pitPin < 0 || this.pitPin >= IOAPIC_NUM_PINS) {
      throw new X86EmulatorError(
        'invalid-argument',
        'new EmulatedIrqchip',
        `pitIoapicPin ${this.pitPin} is out of range 0..${IOAPIC_NUM_PINS - 1}`,
      );
    }
    this.msiExtDest = options.msiExtendedDestinationId ?? false;
    this.ioapic = new Ioapic(this.bus);
    this.bus.onLevelEoi = (vector) => this.ioapic.eoi(vector);
    this.pic.onOutput = (asserted) => {
      if (!asserted) return;
      for (const [id, lapic] of this.lapics) if (lapic.acceptsPicInterrupts()) this.wakers.get(id)?.();
    };
  }

  // ---- vCPUs ------------------------------------------------------------------------------------

  /**
   * Creates the LAPIC of vCPU `id` (APIC ID = `id`; vCPU 0 is the BSP). `onEvent` is called when an
   * interrupt, NMI, INIT or SIPI arrives for it (wake it from HLT, end its batch early).
   */
  addVcpu(id: number, onEvent?: () => void): Lapic {
    if (this.lapics.has(id))
      throw new X86EmulatorError(
        'invalid-state',
        'EmulatedIrqchip.addVcpu',
        `vCPU ${id} already has a LAPIC`,
      );
    const wake = onEvent ?? (() => {});
    const lapic = new Lapic({ apicId: id, bus: this.bus, clock: this.clock, onEvent: wake });
    this.lapics.set(id, lapic);
    this.wakers.set(id, wake);
    return lapic;
  }

  /** Removes vCPU `id`'s LAPIC (its vCPU was closed). */
  removeVcpu(id: number): void {
    const lapic = this.lapic(id);
    this.bus.detach(lapic);
    this.lapics.delete(id);
    this.wakers.delete(id);
  }

  /** The LAPIC of vCPU `id`. */
  lapic(id: number): Lapic {
    const lapic = this.lapics.get(id);
    if (!lapic)
      throw new X86EmulatorError(
        'invalid-argument',
        'EmulatedIrqchip.lapic',
        `no vCPU ${id} on this irqchip`,
      );
    return lapic;
  }

  // ---- PIT --------------------------------------------------------------------------------------

  /** Creates the PIT (channel 0 on PIC IRQ 0 and IOAPIC pin {@link EmulatedIrqchipOptions.pitIoapicPin}). */
  createPit(): Pit {
    if (!this.pitValue) {
      this.pitValue = new Pit({ clock: this.clock, irq0: (level) => this.setPitLevel(level) });
    }
    return this.pitValue;
  }

  /** The PIT, if created. */
  get pit(): Pit | undefined {
    return this.pitValue;
  }

  // ---- interrupt sources ------------------------------------------------------------------------

  /**
   * Sets the level of GSI `gsi` (0-23) for the VMM's own source: GSI n drives IOAPIC pin n and,
   * for n < 16 except the cascade (2), PIC IRQ n. Lines shared with other sources are ORed.
   */
  setIrqLine(gsi: number, level: boolean): void {
    this.checkGsi(gsi, 'setIrqLine');
    this.setSourceLevel(USER_SOURCE, gsi, level);
  }

  /**
   * Delivers an MSI. Returns false (and delivers nothing) when the address/data pair is not an
   * interrupt message; the guest programmed it, so this is not an error of the VMM.
   */
  signalMsi(address: bigint | number, data: number): boolean {
    let msg: ReturnType<typeof decodeMsi>;
    try {
      msg = decodeMsi(address, data, { extendedDestinationId: this.msiExtDest });
    } catch {
      return false;
    }
    this.bus.deliver(msg);
    return true;
  }

  /**
   * An interrupt source of its own on `gsi` (the emulated `Vm.createInterruptLine`): its level is
   * ORed with the other sources of that GSI.
   *
   * @example
   * ```ts
   * const line = irqchip.createInterruptLine(5);
   * line.trigger();        // an edge
   * line.setLevel(true);   // or a level
   * ```
   */
  createInterruptLine(gsi: number): InterruptLine {
    this.checkGsi(gsi, 'createInterruptLine');
    const source = this.nextSource++;
    let closed = false;
    const set = (level: boolean) => {
      if (closed)
        throw new X86EmulatorError(
          'closed',
          'InterruptLine.setLevel',
          `the interrupt line for GSI ${gsi} is closed`,
        );
      this.setSourceLevel(source, gsi, level);
    };
    return {
      gsi,
      trigger: () => {
        set(true);
        set(false);
      },
      setLevel: set,
      close: () => {
        if (closed) return;
        this.setSourceLevel(source, gsi, false);
        closed = true;
      },
    };
  }

  // ---- CPU interrupt injection ------------------------------------------------------------------

  /**
   * The vector vCPU `id` would take now, or -1: a PIC vector when its LAPIC passes ExtINT through
   * and the PIC requests, else the LAPIC's highest deliverable vector. IF and interrupt shadows are
   * the CPU's to check.
   */
  pendingInterrupt(id: number): number {
    const lapic = this.lapic(id);
    if (this.pic.hasInterrupt && lapic.acceptsPicInterrupts()) return this.pic.peekVector();
    return lapic.pendingVector();
  }

  /** INTA for vCPU `id`: the vector to deliver, now in service (-1 when nothing is pending). */
  acknowledge(id: number): number {
    const lapic = this.lapic(id);
    if (this.pic.hasInterrupt && lapic.acceptsPicInterrupts()) return this.pic.acknowledge();
    return lapic.acknowledge();
  }

  /**
   * Whether a halted vCPU `id` should wake (KVM's `kvm_arch_vcpu_runnable` with an in-kernel
   * irqchip): an NMI, INIT or SIPI is latched, or `interruptsEnabled` (RFLAGS.IF) and an interrupt
   * is pending.
   *
   * @example
   * ```ts
   * if (cpu.halted && !irqchip.shouldWake(0, (cpu.getRegs().rflags & 0x200n) !== 0n)) irqchip.clock.idle();
   * ```
   */
  shouldWake(id: number, interruptsEnabled: boolean): boolean {
    const lapic = this.lapic(id);
    if (lapic.hasNmi || lapic.hasInitOrSipi) return true;
    return interruptsEnabled && this.pendingInterrupt(id) >= 0;
  }

  /** Whether an NMI is latched for vCPU `id`. */
  hasNmi(id: number): boolean {
    return this.lapic(id).hasNmi;
  }

  /** Takes vCPU `id`'s latched NMI; true if there was one. */
  takeNmi(id: number): boolean {
    return this.lapic(id).takeNmi();
  }

  // ---- port I/O, MMIO and MSRs ------------------------------------------------------------------

  /** Whether the irqchip (or its PIT) decodes I/O port `port`. */
  handlesPort(port: number): boolean {
    return this.pic.handlesPort(port) || (this.pitValue?.handlesPort(port) ?? false);
  }

  /** IN from an irqchip port; `undefined` when the port is not one of them. */
  pioRead(port: number, size: number): number | undefined {
    if (this.pic.handlesPort(port)) return this.pic.pioRead(port, size);
    if (this.pitValue?.handlesPort(port)) return this.pitValue.pioRead(port, size);
    return undefined;
  }

  /** OUT to an irqchip port; false when the port is not one of them. */
  pioWrite(port: number, size: number, value: number): boolean {
    if (this.pic.handlesPort(port)) this.pic.pioWrite(port, size, value);
    else if (this.pitValue?.handlesPort(port)) this.pitValue.pioWrite(port, size, value);
    else return false;
    return true;
  }

  /** Whether guest-physical `address`, accessed by vCPU `id`, falls in its LAPIC page or the IOAPIC window. */
  handlesMmio(id: number, address: number): boolean {
    const lapic = this.lapic(id);
    if (lapic.mmioEnabled && address >= lapic.mmioBase && address < lapic.mmioBase + 0x1000) return true;
    return address >= this.ioapicBase && address < this.ioapicBase + IOAPIC_WINDOW;
  }

  /** An MMIO read by vCPU `id`; `undefined` when the address is not the irqchip's. */
  mmioRead(id: number, address: number, size: number): number | undefined {
    const lapic = this.lapic(id);
    if (lapic.mmioEnabled && address >= lapic.mmioBase && address < lapic.mmioBase + 0x1000) {
      return lapic.mmioRead(address - lapic.mmioBase, size);
    }
    if (address >= this.ioapicBase && address < this.ioapicBase + IOAPIC_WINDOW) {
      return this.ioapic.mmioRead(address - this.ioapicBase, size);
    }
    return undefined;
  }

  /** An MMIO write by vCPU `id`; false when the address is not the irqchip's. */
  mmioWrite(id: number, address: number, size: number, value: number): boolean {
    const lapic = this.lapic(id);
    if (lapic.mmioEnabled && address >= lapic.mmioBase && address < lapic.mmioBase + 0x1000) {
      lapic.mmioWrite(address - lapic.mmioBase, size, value);
      return true;
    }
    if (address >= this.ioapicBase && address < this.ioapicBase + IOAPIC_WINDOW) {
      this.ioapic.mmioWrite(address - this.ioapicBase, size, value);
      return true;
    }
    return false;
  }

  /** Whether MSR `index` belongs to the LAPIC (IA32_APIC_BASE, IA32_TSC_DEADLINE, 0x800-0x8ff). */
  handlesMsr(index: number): boolean {
    return (
      index === ApicMsr.APIC_BASE ||
      index === ApicMsr.TSC_DEADLINE ||
      (index >= ApicMsr.X2APIC_FIRST && index <= ApicMsr.X2APIC_LAST)
    );
  }

  /** RDMSR of a LAPIC MSR by vCPU `id`; `undefined` means #GP. */
  readMsr(id: number, index: number): bigint | undefined {
    return this.lapic(id).readMsr(index);
  }

  /** WRMSR of a LAPIC MSR by vCPU `id`; false means #GP. */
  writeMsr(id: number, index: number, value: bigint): boolean {
    return this.lapic(id).writeMsr(index, value);
  }

  // ---- internals --------------------------------------------------------------------------------

  private checkGsi(gsi: number, what: string): void {
    if (!Number.isInteger(gsi) || gsi < 0 || gsi >= IOAPIC_NUM_PINS) {
      throw new X86EmulatorError(
        'invalid-argument',
        `EmulatedIrqchip.${what}`,
        `GSI ${gsi} is out of range 0..${IOAPIC_NUM_PINS - 1}`,
      );
    }
  }

  private setSourceLevel(source: number, gsi: number, level: boolean): void {
    let sources = this.lineSources.get(gsi);
    if (!sources) {
      sources = new Set();
      this.lineSources.set(gsi, sources);
    }
    if (level) sources.add(source);
    else sources.delete(source);
    if (gsi < 16 && gsi !== 2) this.pic.setIrq(gsi, sources.size > 0 || (gsi === 0 && this.pitLevel));
    this.ioapic.setIrq(gsi, sources.size > 0 || (gsi === this.pitPin && this.pitLevel));
  }

  /** The PIT's OUT0 drives ISA IRQ 0: PIC IRQ 0 and the overridden IOAPIC pin. */
  private setPitLevel(level: boolean): void {
    this.pitLevel = level;
    this.pic.setIrq(0, level || (this.lineSources.get(0)?.size ?? 0) > 0);
    this.ioapic.setIrq(this.pitPin, level || (this.lineSources.get(this.pitPin)?.size ?? 0) > 0);
  }
}
