/**
 * The one error class of this package.
 *
 * @module
 */

/**
 * What went wrong, for code that branches on it.
 * @example
 * ```ts
 * import { DeviceError, type DeviceErrorKind } from '@ts-vmm/devices';
 * function exitCode(e: unknown): number {
 *   const kind: DeviceErrorKind | undefined = e instanceof DeviceError ? e.kind : undefined;
 *   return kind === 'invalid-config' ? 2 : kind === 'io' || kind === 'unsupported' ? 3 : 1;
 * }
 * ```
 */
export type DeviceErrorKind =
  /**
   * The VMM configured or called a device wrongly: a bad option (size, MAC, CID, interface name,
   * CMOS index), an overlapping or empty bus range, an access size the bus does not take.
   */
  | 'invalid-config'
  /**
   * The guest broke a protocol (a malformed virtqueue: bad index, loop, buffer outside guest
   * memory). Transports turn these into DEVICE_NEEDS_RESET; they never reach the VMM as exceptions.
   */
  | 'guest-error'
  /** A host resource failed: a disk image that cannot be opened or read, a socket that cannot listen. */
  | 'io'
  /** The host lacks something the device needs (the kvm-sys native addon for a tap, for example). */
  | 'unsupported'
  /** A backend (disk image, ...) was used after `close()`. */
  | 'closed'
  /** A saved device state given to `restore()` is malformed or of another device or version. */
  | 'invalid-state';

/**
 * An error from a device model, its transport or a host-side backend. `device` names the component
 * (`'bus'`, `'serial'`, `'rtc'`, `'acpi-power'`, `'virtio-mmio'`, `'virtqueue'`, `'virtio-blk'`,
 * `'virtio-net'`, `'tap'`, `'virtio-vsock'`, `'log-limiter'`); the message starts with it and
 * names the bad value, e.g. `virtio-blk: block id "my-very-long-disk-name" is 22 bytes; at most 20`.
 *
 * @example
 * ```ts
 * import { Bus, DeviceError } from '@ts-vmm/devices';
 *
 * const bus = new Bus('pio');
 * bus.register(0x3f8, 8, { read: (_o, d) => d.fill(0), write: () => {} }, 'com1');
 * try {
 *   bus.register(0x3fc, 4, { read: (_o, d) => d.fill(0), write: () => {} }, 'other');
 * } catch (e) {
 *   if (e instanceof DeviceError && e.kind === 'invalid-config') console.log(e.device, e.detail);
 * }
 * ```
 */
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
  readonly kind: DeviceErrorKind;
  /** The device or component that raised it, e.g. `'virtio-blk'`. */
  readonly device: string;
  /** The message without the device prefix. */
  readonly detail: string;

  constructor(kind: DeviceErrorKind, device: string, detail: string, cause?: unknown) {
    super(`${device}: ${detail}`, cause === undefined ? undefined : { cause });
    this.kind = kind;
    this.device = device;
    this.detail = detail;
  }
}
