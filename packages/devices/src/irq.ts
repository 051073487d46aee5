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
