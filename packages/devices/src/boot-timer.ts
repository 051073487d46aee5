import type { BusDevice } from './bus.js';
import { type DeviceState, StateReader } from './state.js';

/** The value Firecracker's guest init writes to mark boot completion. */
export const BOOT_TIMER_MAGIC = 123;
/**
 * Where the ts-vmm machine maps its boot timer (one page of MMIO at the start of the 32-bit MMIO
 * hole). Firecracker uses 0xd000_0000, which ts-vmm gives to its first virtio-mmio device; a guest
 * init writes `devmem 0xc0000000 8 123` here instead.
 */
export const BOOT_TIMER_MMIO_BASE = 0xc000_0000;

/**
 * `performance.now()` in integer nanoseconds: a monotonic clock that browsers and Node both have
 * (its resolution is a microsecond or coarser).
 * @example performanceClockNs() // 123456789000n
 */
export function performanceClockNs(): bigint {
  return BigInt(Math.round(performance.now() * 1e6));
}

/** Options for a {@link BootTimer}. */
export interface BootTimerOptions {
  /** Host time (ns, on the `clock`'s scale) the boot started. Default: construction time. */
  start?: bigint;
  /**
   * Host clock in ns. Default {@link performanceClockNs} (`performance.now()`, which browsers and
   * Node both have); inject another (`process.hrtime.bigint`, a test's fake) as needed.
   */
  clock?: () => bigint;
  /** Value that marks boot completion; `null` accepts any write. Default {@link BOOT_TIMER_MAGIC}. */
  magic?: number | null;
  /** Called once, at the first marking write, with the ns elapsed since `start`. */
  onBoot?: (elapsedNs: bigint) => void;
}

/**
 * Records when the guest reached user space: the guest's init writes the magic value (123, as
 * Firecracker's `/sbin/init` does with `devmem`) to the device, which stamps the
 * host time. Register it on the MMIO bus at {@link BOOT_TIMER_MMIO_BASE} (or on a port).
 *
 * @example
 * ```ts
 * import { BOOT_TIMER_MMIO_BASE, BootTimer } from '@ts-vmm/devices';
 * const timer = new BootTimer({ onBoot: (ns) => console.log(`guest booted in ${Number(ns) / 1e6} ms`) });
 * mmio.register(BOOT_TIMER_MMIO_BASE, 0x1000, timer, 'boot-timer');
 * ```
 */
export class BootTimer implements BusDevice {
  /** Host time (ns) of the first marking write. */
  bootedAt: bigint | undefined;
  private readonly start: bigint;
  private readonly clock: () => bigint;
  private readonly magic: number | null;

  constructor(private readonly options: BootTimerOptions = {}) {
    this.clock = options.clock ?? performanceClockNs;
    this.start = options.start ?? this.clock();
    this.magic = options.magic === undefined ? BOOT_TIMER_MAGIC : options.magic;
  }

  /** Nanoseconds from start to the marking write, or `undefined` before it. */
  get elapsedNs(): bigint | undefined {
    return this.bootedAt === undefined ? undefined : this.bootedAt - this.start;
  }

  read(_offset: number, data: Uint8Array): void {
    data.fill(0);
  }

  write(_offset: number, data: Uint8Array): void {
    if (this.bootedAt !== undefined) return;
    if (this.magic !== null && (data[0] !== this.magic || data.subarray(1).some((b) => b !== 0))) return;
    this.bootedAt = this.clock();
    this.options.onBoot?.(this.bootedAt - this.start);
  }

  /**
   * The timer's state for a snapshot: whether the guest has marked its boot, and after how long.
   * @example fresh.restore(timer.save());
   */
  save(): DeviceState {
    const e = this.elapsedNs;
    return { device: 'boot-timer', version: 1, elapsedNs: e === undefined ? null : `0x${e.toString(16)}` };
  }

  /**
   * Loads a state from {@link BootTimer.save}: a boot already marked stays marked (with its
   * elapsed time) and is not reported again.
   * @example fresh.restore(timer.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('boot-timer', state, 1);
    const e = r.state.elapsedNs;
    this.bootedAt = e === null ? undefined : this.start + r.hex('elapsedNs', 2n ** 64n - 1n);
  }
}
