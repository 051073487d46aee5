/**
 * The APIC bus: carries interrupt messages (IPIs, IOAPIC redirections, MSIs) to the local APICs
 * whose destination matches, and EOIs of level-triggered vectors back to the IOAPIC.
 *
 * @module
 */
import { DeliveryMode, Shorthand } from './apic-constants.js';
import type { Lapic } from './lapic.js';

/**
 * One interrupt message on the APIC bus.
 *
 * @example
 * ```ts
 * const apicBus = new ApicBus();
 * const msg: ApicMessage = { destination: 1, logical: false, deliveryMode: DeliveryMode.FIXED,
 *   vector: 0x40, levelTriggered: false, assert: true, shorthand: Shorthand.NONE, wideDestination: false };
 * apicBus.deliver(msg); // the number of LAPICs that took it (0: no APIC 1 on this bus)
 * ```
 */
export interface ApicMessage {
  /** Destination: an APIC ID (physical) or logical mask; see {@link wideDestination}. */
  destination: number;
  /** Logical (true) or physical (false) destination mode. */
  logical: boolean;
  /** One of {@link DeliveryMode}. */
  deliveryMode: number;
  vector: number;
  /** Level (true) or edge (false) trigger mode. */
  levelTriggered: boolean;
  /** Level assert (true) or de-assert (false); only INIT looks at it. */
  assert: boolean;
  /** One of {@link Shorthand} (IPIs only; 0 otherwise). */
  shorthand: number;
  /** The destination is a 32-bit x2APIC ID (x2APIC ICR) rather than an 8-bit xAPIC one (IOAPIC, MSI, xAPIC ICR). */
  wideDestination: boolean;
}

/**
 * Connects the local APICs of one machine.
 *
 * @example
 * ```ts
 * const bus = new ApicBus();
 * bus.onLevelEoi = (vector) => ioapic.eoi(vector);
 * ```
 */
export class ApicBus {
  private readonly members: Lapic[] = [];
  /** Called when a LAPIC EOIs a level-triggered vector (the IOAPIC listens here). */
  onLevelEoi: (vector: number) => void = () => {};

  /** Adds a LAPIC (done by the Lapic constructor). */
  attach(lapic: Lapic): void {
    if (!this.members.includes(lapic)) this.members.push(lapic);
  }

  /** Removes a LAPIC (its vCPU was closed). */
  detach(lapic: Lapic): void {
    const i = this.members.indexOf(lapic);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** The attached LAPICs, in attach order. */
  get lapics(): readonly Lapic[] {
    return this.members;
  }

  /** The LAPIC with this APIC ID, if any. */
  byId(apicId: number): Lapic | undefined {
    for (const l of this.members) if (l.apicId === apicId) return l;
    return undefined;
  }

  /**
   * Delivers `msg` to the matching LAPICs (from `source` for IPIs, whose shorthand is honoured).
   * Lowest-priority messages go to the one matching LAPIC with the lowest processor priority.
   * Returns how many LAPICs received it.
   */
  deliver(msg: ApicMessage, source?: Lapic): number {
    let targets: Lapic[];
    switch (msg.shorthand) {
      case Shorthand.SELF:
        targets = source ? [source] : [];
        break;
      case Shorthand.ALL_INCLUDING_SELF:
        targets = this.members.slice();
        break;
      case Shorthand.ALL_EXCLUDING_SELF:
        targets = this.members.filter((l) => l !== source);
        break;
      default:
        targets = this.members.filter((l) =>
          l.matchesDestination(msg.destination, msg.logical, msg.wideDestination, source === undefined),
        );
    }
    if (msg.deliveryMode === DeliveryMode.LOWEST_PRIORITY && targets.length > 1) {
      let best = targets[0];
      for (const l of targets) if (l.arbitrationPriority() < best.arbitrationPriority()) best = l;
      targets = [best];
    }
    for (const l of targets) l.accept(msg.deliveryMode, msg.vector, msg.levelTriggered, msg.assert);
    return targets.length;
  }
}
