/**
 * An interrupt line as device models see it. The VMM adapts its backend's interrupt object (KVM
 * irqfd / `KVM_IRQ_LINE`, or the emulator's IOAPIC pin) to this shape; device models never see the
 * hypervisor.
 *
 * - `trigger()` delivers one edge (an irqfd write, or a raise-then-lower pulse).
 * - `setLevel(level)` drives a level-triggered line.
 *
 * @example
 * ```ts
 * import { type IrqLine, Serial } from '@ts-vmm/devices';
 * const irq4: IrqLine = { trigger: () => vm.irqLine(4, true), setLevel: (l) => vm.irqLine(4, l) };
 * const com1 = new Serial({ irq: irq4 });
 * ```
 */
export interface IrqLine {
  trigger(): void;
  setLevel(level: boolean): void;
}

/**
 * An {@link IrqLine} that only records what happened: for tests and for devices wired to nothing.
 *
 * @example
 * ```ts
 * const irq = new RecordingIrqLine();
 * irq.trigger();
 * irq.triggers; // 1
 * ```
 */
export class RecordingIrqLine implements IrqLine {
  /** Number of `trigger()` calls so far. */
  triggers = 0;
  /** Current level set through `setLevel`. */
  level = false;
  /** Number of rising edges seen through `setLevel`. */
  raised = 0;
  trigger(): void {
    this.triggers++;
  }
  setLevel(level: boolean): void {
    if (level && !this.level) this.raised++;
    this.level = level;
  }
}
