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
 * // A backend's interrupt line (@ts-vmm/hypervisor's Vm.createInterruptLine) already has this shape;
 * const irq4: IrqLine = vm.createInterruptLine(4);
 * // so does any { trigger, setLevel } pair, e.g. one that logs:
 * const logged: IrqLine = { trigger: () => console.log('edge'), setLevel: (l) => console.log('level', l) };
 * const com1 = new Serial({ irq: irq4 });
 * const com2 = new Serial({ irq: logged });
 * ```
 */
export interface IrqLine {
  trigger(): void;
  setLevel(level: boolean): void;
}
