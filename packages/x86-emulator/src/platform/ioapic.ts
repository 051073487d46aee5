/**
 * The I/O APIC (82093AA-style, version 0x20, 24 pins) at 0xfec00000: IOREGSEL/IOWIN, the EOI
 * register of version 0x20, redirection entries with edge and level triggering (remote IRR),
 * masking, and delivery over the {@link ApicBus}.
 *
 * Pin levels are logical (asserted = true) whatever the entry's polarity bit says, as in KVM.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';
import type { ApicBus } from './apic-bus.js';
import { IOAPIC_NUM_PINS, IOAPIC_VERSION } from './apic-constants.js';

/** MMIO offsets in the IOAPIC window. */
export const IoapicMmio = {
  IOREGSEL: 0x00,
  IOWIN: 0x10,
  EOI: 0x40,
} as const;

const ENTRY_MASKED = 1 << 16;
const ENTRY_REMOTE_IRR = 1 << 14;
const ENTRY_LEVEL = 1 << 15;
const ENTRY_DELIVERY_STATUS = 1 << 12;
/** Bits of the low dword the guest may write (not delivery status nor remote IRR). */
const ENTRY_LOW_WRITABLE = 0x0001_afff;

/**
 * The IOAPIC.
 *
 * @example
 * ```ts
 * const ioapic = new Ioapic(new ApicBus());
 * ioapic.mmioWrite(0x00, 4, 0x10 + 2 * 4);  // select redirection entry 4 (low)
 * ioapic.mmioWrite(0x10, 4, 0x24);          // vector 0x24, fixed, edge, unmasked
 * ioapic.setIrq(4, true);                   // delivered to APIC 0
 * ```
 */
export class Ioapic {
  /** The IOAPIC ID (bits 27-24 of register 0). */
  id = 0;
  private ioregsel = 0;
  private readonly low = new Uint32Array(IOAPIC_NUM_PINS);
  private readonly high = new Uint32Array(IOAPIC_NUM_PINS);
  /** Current input levels (bit per pin). */
  private irr = 0;

  constructor(private readonly bus: ApicBus) {
    this.reset();
  }

  /** Power-on state: every entry masked, every line low. */
  reset(): void {
    this.low.fill(ENTRY_MASKED);
    this.high.fill(0);
    this.irr = 0;
    this.ioregsel = 0;
    this.id = 0;
  }

  /**
   * Sets the level of input `pin`. Edge entries deliver on a rising edge; level entries deliver
   * while asserted, once per EOI (remote IRR).
   */
  setIrq(pin: number, level: boolean): void {
    if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_NUM_PINS) {
      throw new X86EmulatorError(
        'invalid-argument',
        'Ioapic.setIrq',
        `pin ${pin} is out of range 0..${IOAPIC_NUM_PINS - 1}`,
      );
    }
    const bit = 1 << pin;
    const old = this.irr & bit;
    if (!level) {
      this.irr &= ~bit;
      return;
    }
    this.irr |= bit;
    const entry = this.low[pin];
    if (entry & ENTRY_LEVEL) {
      if (!(entry & ENTRY_REMOTE_IRR)) this.service(pin);
    } else if (!old) {
      this.service(pin);
    }
  }

  /** A level-triggered `vector` was EOIed by a LAPIC (or through the EOI register): clears remote IRR and re-delivers a still-asserted line. */
  eoi(vector: number): void {
    for (let pin = 0; pin < IOAPIC_NUM_PINS; pin++) {
      const entry = this.low[pin];
      if ((entry & 0xff) !== vector || !(entry & ENTRY_REMOTE_IRR)) continue;
      this.low[pin] = entry & ~ENTRY_REMOTE_IRR;
      if (entry & ENTRY_LEVEL && this.irr & (1 << pin)) this.service(pin);
    }
  }

  /** The 64-bit redirection entry of `pin` as [low, high]. */
  entry(pin: number): [number, number] {
    return [this.low[pin], this.high[pin]];
  }

  /** @internal IOREGSEL, the input levels and the 24 raw redirection entries, for snapshots. */
  registers(): { ioregsel: number; irr: number; redirtbl: bigint[] } {
    const redirtbl = Array.from(this.low, (lo, i) => (BigInt(this.high[i]) << 32n) | BigInt(lo));
    return { ioregsel: this.ioregsel, irr: this.irr, redirtbl };
  }

  /** @internal Loads {@link Ioapic.registers}' values (delivers nothing; the lines' levels are taken as they are). */
  loadRegisters(r: { ioregsel: number; irr: number; redirtbl: readonly bigint[] }): void {
    this.ioregsel = r.ioregsel & 0xff;
    this.irr = r.irr >>> 0;
    for (let i = 0; i < IOAPIC_NUM_PINS; i++) {
      const e = r.redirtbl[i] ?? BigInt(ENTRY_MASKED);
      this.low[i] = Number(e & 0xffff_ffffn);
      this.high[i] = Number((e >> 32n) & 0xffff_ffffn);
    }
  }

  /** A read in the MMIO window (IOREGSEL at 0x00, IOWIN at 0x10); other offsets read 0. */
  mmioRead(offset: number, size: number): number {
    let value: number;
    const reg = offset & ~3;
    if (reg === IoapicMmio.IOREGSEL) value = this.ioregsel;
    else if (reg === IoapicMmio.IOWIN) value = this.readIndirect(this.ioregsel);
    else return 0;
    const shifted = value >>> ((offset & 3) * 8);
    return size >= 4 ? shifted >>> 0 : shifted & ((1 << (size * 8)) - 1);
  }

  /** A write in the MMIO window: IOREGSEL, IOWIN or the EOI register (0x40). */
  mmioWrite(offset: number, size: number, value: number): void {
    const reg = offset & ~3;
    if (size < 4 && reg !== IoapicMmio.IOREGSEL) return; // partial IOWIN/EOI writes: only full dwords count
    if (reg === IoapicMmio.IOREGSEL) this.ioregsel = value & 0xff;
    else if (reg === IoapicMmio.IOWIN) this.writeIndirect(this.ioregsel, value >>> 0);
    else if (reg === IoapicMmio.EOI) this.eoi(value & 0xff);
  }

  private readIndirect(index: number): number {
    switch (index) {
      case 0x00:
        return (this.id & 0xf) << 24;
      case 0x01:
        return IOAPIC_VERSION;
      case 0x02:
        return (this.id & 0xf) << 24;
      default: {
        const pin = (index - 0x10) >> 1;
        if (index < 0x10 || pin >= IOAPIC_NUM_PINS) return 0xffff_ffff;
        return index & 1 ? this.high[pin] : this.low[pin] & ~ENTRY_DELIVERY_STATUS;
      }
    }
  }

  private writeIndirect(index: number, value: number): void {
    if (index === 0x00) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    const pin = (index - 0x10) >> 1;
    if (index < 0x10 || pin >= IOAPIC_NUM_PINS) return;
    if (index & 1) {
      this.high[pin] = value & 0xff00_0000;
      return;
    }
    const old = this.low[pin];
    let entry = (value & ENTRY_LOW_WRITABLE) | (old & ENTRY_REMOTE_IRR);
    if (!(entry & ENTRY_LEVEL)) entry &= ~ENTRY_REMOTE_IRR; // switching to edge clears remote IRR
    this.low[pin] = entry >>> 0;
    // an unmasked level entry with its line asserted and no remote IRR fires now
    if (
      entry & ENTRY_LEVEL &&
      !(entry & ENTRY_MASKED) &&
      !(entry & ENTRY_REMOTE_IRR) &&
      this.irr & (1 << pin)
    ) {
      this.service(pin);
    }
  }

  private service(pin: number): void {
    const entry = this.low[pin];
    if (entry & ENTRY_MASKED) return;
    const level = (entry & ENTRY_LEVEL) !== 0;
    const delivered = this.bus.deliver({
      destination: this.high[pin] >>> 24,
      logical: (entry & 0x800) !== 0,
      deliveryMode: (entry >>> 8) & 7,
      vector: entry & 0xff,
      levelTriggered: level,
      assert: true,
      shorthand: 0,
      wideDestination: false,
    });
    if (level && delivered > 0) this.low[pin] = entry | ENTRY_REMOTE_IRR;
  }
}
