/**
 * The 8259A PIC pair of a PC: master at 0x20/0x21, slave at 0xa0/0xa1 cascaded on master IRQ 2,
 * and the ELCR (edge/level control) at 0x4d0/0x4d1. Follows the behaviour of KVM's and QEMU's
 * i8259 models: ICW1-4, OCW1-3, IRR/ISR/IMR, auto-EOI (with rotation), special mask mode, special
 * fully nested mode, poll mode, rotation, spurious IRQ 7/15.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';

/** The I/O ports the pair decodes. */
export const PicPorts = {
  MASTER_COMMAND: 0x20,
  MASTER_DATA: 0x21,
  SLAVE_COMMAND: 0xa0,
  SLAVE_DATA: 0xa1,
  ELCR_MASTER: 0x4d0,
  ELCR_SLAVE: 0x4d1,
} as const;

/** One 8259A (its fields are the registers `kvm_pic_state` names; see `backend/platform-state.ts`). */
export class Pic8259 {
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readIsr = false;
  poll = false;
  specialMask = false;
  initState = 0;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialFullyNested = false;
  init4 = false;
  single = false;
  elcr = 0;

  constructor(
    readonly isMaster: boolean,
    readonly elcrMask: number,
  ) {}

  /** ICW1 reset (QEMU's pic_init_reset; the ELCR survives and level lines stay requested). */
  initReset(): void {
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.isr = 0;
    this.priorityAdd = 0;
    this.irqBase = 0;
    this.readIsr = false;
    this.poll = false;
    this.specialMask = false;
    this.initState = 0;
    this.autoEoi = false;
    this.rotateOnAutoEoi = false;
    this.specialFullyNested = false;
    this.init4 = false;
    this.single = false;
  }

  setIrq(irq: number, level: boolean): void {
    const mask = 1 << irq;
    if (this.elcr & mask) {
      if (level) {
        this.irr |= mask;
        this.lastIrr |= mask;
      } else {
        this.irr &= ~mask;
        this.lastIrr &= ~mask;
      }
    } else if (level) {
      if ((this.lastIrr & mask) === 0) this.irr |= mask;
      this.lastIrr |= mask;
    } else {
      this.lastIrr &= ~mask;
    }
  }

  /** Highest-priority bit of `mask` as a priority number (0 = highest), 8 when empty. */
  priority(mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + this.priorityAdd) & 7))) === 0) p++;
    return p;
  }

  /** The IRQ this chip would raise INT for, or -1. */
  output(): number {
    const req = this.priority(this.irr & ~this.imr);
    if (req === 8) return -1;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << 2);
    const cur = this.priority(inService);
    return req < cur ? (req + this.priorityAdd) & 7 : -1;
  }

  intack(irq: number): void {
    this.isr |= 1 << irq;
    if (!(this.elcr & (1 << irq))) this.irr &= ~(1 << irq);
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
      this.isr &= ~(1 << irq);
    }
  }
}

/**
 * The master/slave 8259A pair. Its INT output goes to the BSP's LINT0 (ExtINT); the CPU side
 * takes vectors with {@link PicPair.acknowledge}.
 *
 * @example
 * ```ts
 * const pic = new PicPair();
 * // Linux's init sequence for the master
 * pic.pioWrite(0x20, 1, 0x11); pic.pioWrite(0x21, 1, 0x30); pic.pioWrite(0x21, 1, 0x04); pic.pioWrite(0x21, 1, 0x01);
 * pic.setIrq(1, true);
 * pic.acknowledge(); // 0x31
 * ```
 */
export class PicPair {
  private readonly pics = [new Pic8259(true, 0xf8), new Pic8259(false, 0xde)];
  /** Called when the INT output changes (true = an interrupt is requested). */
  onOutput: (asserted: boolean) => void = () => {};
  private outputLevel = false;

  /** Sets the level of ISA IRQ `irq` (0-15). Edge IRQs trigger on a rising edge unless ELCR says level. */
  setIrq(irq: number, level: boolean): void {
    if (!Number.isInteger(irq) || irq < 0 || irq > 15)
      throw new X86EmulatorError('invalid-argument', 'PicPair.setIrq', `IRQ ${irq} is out of range 0..15`);
    this.pics[irq >> 3].setIrq(irq & 7, level);
    this.update();
  }

  /** Whether the master's INT output is asserted. */
  get hasInterrupt(): boolean {
    return this.outputLevel; // kept current by update(), which every state change calls
  }

  /**
   * The vector {@link acknowledge} would return now, without side effects (-1 when INT is not
   * asserted).
   */
  peekVector(): number {
    const [master, slave] = this.pics;
    const irq = master.output();
    if (irq < 0) return -1;
    if (irq === 2) {
      const irq2 = slave.output();
      return slave.irqBase + (irq2 >= 0 ? irq2 : 7);
    }
    return master.irqBase + irq;
  }

  /**
   * INTA cycle: the vector of the highest-priority request, moving it to in-service. With nothing
   * requested the master answers with spurious IRQ 7 (a cascade with nothing behind it: IRQ 15).
   */
  acknowledge(): number {
    const [master, slave] = this.pics;
    let vector: number;
    const irq = master.output();
    if (irq >= 0) {
      master.intack(irq);
      if (irq === 2) {
        let irq2 = slave.output();
        if (irq2 >= 0) slave.intack(irq2);
        else irq2 = 7;
        vector = slave.irqBase + irq2;
      } else {
        vector = master.irqBase + irq;
      }
    } else {
      vector = master.irqBase + 7;
    }
    this.update();
    return vector;
  }

  /** Whether `port` is one of the pair's ports. */
  handlesPort(port: number): boolean {
    return (
      port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1 || port === 0x4d0 || port === 0x4d1
    );
  }

  /** IN from one of the ports (byte-wide; wider reads get the byte in the low 8 bits). */
  pioRead(port: number, _size = 1): number {
    if (port === PicPorts.ELCR_MASTER || port === PicPorts.ELCR_SLAVE) return this.pics[port & 1].elcr;
    const s = this.pics[port >= 0xa0 ? 1 : 0];
    if (s.poll) return this.pollRead(s);
    if ((port & 1) === 0) return s.readIsr ? s.isr : s.irr;
    return s.imr;
  }

  /** OUT to one of the ports (the low byte of `value`). */
  pioWrite(port: number, _size: number, value: number): void {
    const val = value & 0xff;
    if (port === PicPorts.ELCR_MASTER || port === PicPorts.ELCR_SLAVE) {
      const s = this.pics[port & 1];
      s.elcr = val & s.elcrMask;
      this.update();
      return;
    }
    const s = this.pics[port >= 0xa0 ? 1 : 0];
    if ((port & 1) === 0) this.writeCommand(s, val);
    else this.writeData(s, val);
  }

  /** IRR, ISR, IMR and vector base of the master (0) or slave (1), for tests and state dumps. */
  chipState(chip: 0 | 1): { irr: number; isr: number; imr: number; irqBase: number; elcr: number } {
    const s = this.pics[chip];
    return { irr: s.irr, isr: s.isr, imr: s.imr, irqBase: s.irqBase, elcr: s.elcr };
  }

  /** @internal The master (0) or slave (1) itself, for snapshots; call {@link PicPair.refresh} after changing it. */
  chip(chip: 0 | 1): Pic8259 {
    return this.pics[chip];
  }

  /** @internal Recomputes the cascade and the INT output after {@link PicPair.chip}'s registers were loaded. */
  refresh(): void {
    this.update();
  }

  private writeCommand(s: Pic8259, val: number): void {
    if (val & 0x10) {
      // ICW1
      s.initReset();
      s.init4 = (val & 1) !== 0;
      s.single = (val & 2) !== 0;
      s.initState = 1;
      this.update();
      return;
    }
    if (val & 0x08) {
      // OCW3
      if (val & 0x04) s.poll = true;
      if (val & 0x02) s.readIsr = (val & 1) !== 0;
      if (val & 0x40) s.specialMask = ((val >> 5) & 1) !== 0;
      this.update();
      return;
    }
    // OCW2
    const cmd = val >> 5;
    switch (cmd) {
      case 0:
      case 4:
        s.rotateOnAutoEoi = cmd === 4;
        break;
      case 1: // non-specific EOI
      case 5: {
        // rotate on non-specific EOI
        const p = s.priority(s.isr);
        if (p !== 8) {
          const irq = (p + s.priorityAdd) & 7;
          if (cmd === 5) s.priorityAdd = (irq + 1) & 7;
          s.isr &= ~(1 << irq);
        }
        break;
      }
      case 3: // specific EOI
        s.isr &= ~(1 << (val & 7));
        break;
      case 6: // set priority
        s.priorityAdd = ((val & 7) + 1) & 7;
        break;
      case 7: // rotate on specific EOI
        s.isr &= ~(1 << (val & 7));
        s.priorityAdd = ((val & 7) + 1) & 7;
        break;
      default:
        break; // 2: no operation
    }
    this.update();
  }

  private writeData(s: Pic8259, val: number): void {
    switch (s.initState) {
      case 0: // OCW1
        s.imr = val;
        break;
      case 1: // ICW2
        s.irqBase = val & 0xf8;
        s.initState = s.single ? (s.init4 ? 3 : 0) : 2;
        break;
      case 2: // ICW3 (cascade wiring: fixed on a PC)
        s.initState = s.init4 ? 3 : 0;
        break;
      case 3: // ICW4
        s.specialFullyNested = ((val >> 4) & 1) !== 0;
        s.autoEoi = ((val >> 1) & 1) !== 0;
        s.initState = 0;
        break;
    }
    this.update();
  }

  /** Poll command read: acts as INTA on this chip and returns 0x80 | IRQ, or 0 when none is pending. */
  private pollRead(s: Pic8259): number {
    s.poll = false;
    const irq = s.output();
    if (irq < 0) {
      this.update();
      return 0;
    }
    if (!s.isMaster) {
      const master = this.pics[0];
      master.isr &= ~(1 << 2);
      master.irr &= ~(1 << 2);
    }
    s.intack(irq);
    this.update();
    return 0x80 | irq;
  }

  /**
   * Propagates the slave's INT to master IR2 (as a level: a request the slave withdraws, or one the
   * slave's own in-service state now blocks, disappears from the master too) and the master's INT
   * to the output.
   */
  private update(): void {
    const [master, slave] = this.pics;
    if (slave.output() >= 0) master.irr |= 1 << 2;
    else master.irr &= ~(1 << 2);
    const out = master.output() >= 0;
    if (out !== this.outputLevel) {
      this.outputLevel = out;
      this.onOutput(out);
    }
  }
}
