import type { IrqLine } from '../irq.js';

/**
 * An {@link IrqLine} that only records what happened, for tests.
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
