import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import type { DeviceState } from '../state.js';
import type { Queue } from './queue.js';

/**
 * What a virtio device gets from its transport when the driver sets DRIVER_OK.
 *
 * @example
 * ```ts
 * import type { VirtioContext, VirtioDevice } from '@ts-vmm/devices';
 *
 * // A device that returns every buffer it gets, unread (a sink).
 * class Sink implements VirtioDevice {
 *   readonly deviceType = 99;
 *   readonly queueMaxSizes = [16];
 *   readonly deviceFeatures = 0n;
 *   private ctx?: VirtioContext;
 *   readConfig(_offset: number, data: Uint8Array) {
 *     data.fill(0);
 *   }
 *   writeConfig() {}
 *   activate(ctx: VirtioContext) {
 *     this.ctx = ctx;
 *   }
 *   queueNotify(i: number) {
 *     const ctx = this.ctx;
 *     if (!ctx) return;
 *     const q = ctx.queues[i];
 *     for (let chain = q.pop(ctx.mem); chain; chain = q.pop(ctx.mem)) q.addUsed(ctx.mem, chain.head, 0);
 *     if (q.needsNotification(ctx.mem)) ctx.signalUsed(i);
 *   }
 *   reset() {
 *     this.ctx = undefined;
 *   }
 * }
 * ```
 */
export interface VirtioContext {
  /** Guest memory, for the device's queues and buffers. */
  readonly mem: GuestMemoryAccess;
  /** The device's queues, configured and validated by the transport. */
  readonly queues: readonly Queue[];
  /** The negotiated feature bits. */
  readonly features: bigint;
  /** Raises a used-buffer interrupt (the device has already consulted `queue.needsNotification`). */
  signalUsed(queueIndex: number): void;
  /** Raises a configuration-change interrupt (and bumps ConfigGeneration). */
  signalConfig(): void;
  /**
   * Reports a fatal device error (malformed ring, guest memory fault): the transport sets
   * DEVICE_NEEDS_RESET and stops delivering notifications until the driver resets the device.
   */
  fail(error: unknown): void;
}

/**
 * A virtio device model, independent of the transport (virtio-mmio here).
 *
 * Transports call: `readConfig`/`writeConfig` for the device-specific configuration space,
 * `activate` once the driver sets DRIVER_OK, `queueNotify` on each driver notification, and `reset`
 * when the driver writes 0 to the status register. Exceptions thrown from any of these are caught by
 * the transport and turned into DEVICE_NEEDS_RESET.
 *
 * @example
 * ```ts
 * class Null implements VirtioDevice {
 *   deviceType = 99; queueMaxSizes = [16]; deviceFeatures = 0n;
 *   readConfig(_o: number, d: Uint8Array) { d.fill(0); }
 *   writeConfig() {}
 *   activate() {}
 *   queueNotify() {}
 *   reset() {}
 * }
 * ```
 */
export interface VirtioDevice {
  /** Device ID (VIRTIO_ID). */
  readonly deviceType: number;
  /** Maximum size of each queue; the length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Device-specific feature bits offered (the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC). */
  readonly deviceFeatures: bigint;
  readConfig(offset: number, data: Uint8Array): void;
  writeConfig(offset: number, data: Uint8Array): void;
  activate(ctx: VirtioContext): void;
  queueNotify(queueIndex: number): void;
  reset(): void;
  /**
   * The device's own state for a snapshot (the transport saves the queues and registers). A device
   * without one has none beyond its configuration.
   */
  save?(): DeviceState;
  /**
   * Loads a state from `save()` into a fresh device, before the transport activates it again;
   * throws an `invalid-state` DeviceError naming a bad field.
   */
  restore?(state: DeviceState): void;
}

/**
 * Copies `data.length` bytes of `config` at `offset` into `data`, padding with zeros past the end.
 * @example
 * ```ts
 * const config = Uint8Array.of(1, 2, 3);
 * const out = new Uint8Array(4);
 * readConfigBytes(config, 1, out); // out: [2, 3, 0, 0] (a device's readConfig does this with its config bytes)
 * ```
 */
export function readConfigBytes(config: Uint8Array, offset: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) {
    const o = offset + i;
    data[i] = o >= 0 && o < config.length ? config[o] : 0;
  }
}
