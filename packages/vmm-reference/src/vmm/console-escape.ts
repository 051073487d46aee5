/**
 * The console escape: Ctrl-A X quits, Ctrl-A S asks for a snapshot, Ctrl-A Ctrl-A sends one
 * Ctrl-A; any other Ctrl-A pair passes through unchanged (as in QEMU's `-nographic`).
 *
 * @module
 */

const CTRL_A = 0x01;

/**
 * A stateful filter over host input chunks.
 *
 * @example
 * ```ts
 * const esc = new ConsoleEscape();
 * const { forward, quit } = esc.feed(Uint8Array.of(0x01, 0x78)); // quit === true
 * ```
 */
export class ConsoleEscape {
  private pending = false;

  /** Returns the bytes for the guest and whether the user asked to quit or for a snapshot. */
  feed(chunk: Uint8Array): { forward: Uint8Array; quit: boolean; snapshot: boolean } {
    const out: number[] = [];
    let snapshot = false;
    for (const b of chunk) {
      if (this.pending) {
        this.pending = false;
        if (b === 0x78 || b === 0x58) return { forward: Uint8Array.from(out), quit: true, snapshot };
        if (b === 0x73 || b === 0x53) snapshot = true;
        else if (b === CTRL_A) out.push(CTRL_A);
        else out.push(CTRL_A, b);
      } else if (b === CTRL_A) {
        this.pending = true;
      } else {
        out.push(b);
      }
    }
    return { forward: Uint8Array.from(out), quit: false, snapshot };
  }
}
