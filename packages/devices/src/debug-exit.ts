import type { BusDevice } from './bus.js';
import { type DeviceState, StateReader } from './state.js';

/** Options for a {@link DebugExit}. */
export interface DebugExitOptions {
  /** Called with the exit code `(value << 1) | 1` when the guest writes `value`. */
  onExit: (code: number) => void;
}

/**
 * QEMU's `isa-debug-exit` convention (port 0xf4 by default): a guest write of `value` asks the VMM to
 * exit with code `(value << 1) | 1`, so a test guest can report success or failure. Reads return 0.
 *
 * @example
 * ```ts
 * import { DebugExit } from '@ts-vmm/devices';
 * pio.register(0xf4, 4, new DebugExit({ onExit: (code) => vmm.stop(code) }), 'debug-exit');
 * // guest: out 0xf4, al (al = 0x10) -> exit code 0x21
 * ```
 */
export class DebugExit implements BusDevice {
  /** The last exit code requested, if any. */
  exitCode: number | undefined;
  constructor(private readonly options: DebugExitOptions) {}
  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }
  write(_offset: number, data: Uint8Array): void {
    let v = 0;
    for (let i = Math.min(data.length, 4) - 1; i >= 0; i--) v = v * 256 + data[i];
    const code = ((v * 2) | 1) >>> 0;
    this.exitCode = code;
    this.options.onExit(code);
  }

  /**
   * The device's state for a snapshot: the last exit code requested.
   * @example fresh.restore(dbg.save());
   */
  save(): DeviceState {
    return { device: 'debug-exit', version: 1, exitCode: this.exitCode ?? null };
  }

  /**
   * Loads a state from {@link DebugExit.save} (an `invalid-state` DeviceError names a bad field).
   * @example fresh.restore(dbg.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('debug-exit', state, 1);
    this.exitCode = r.state.exitCode === null ? undefined : r.u32('exitCode');
  }
}
