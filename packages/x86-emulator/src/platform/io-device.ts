/**
 * The access contracts of the platform chips: port I/O devices and MMIO devices, with values as
 * numbers (every access to these chips is at most 4 bytes wide).
 *
 * @module
 */

/**
 * A device on x86 I/O ports ({@link PicPair}, {@link Pit}).
 *
 * @example
 * ```ts
 * const dev: PortIoDevice = new PicPair();
 * const imr = dev.handlesPort(0x21) ? dev.pioRead(0x21, 1) : 0xff; // the master's interrupt mask
 * ```
 */
export interface PortIoDevice {
  /** Whether the device decodes `port`. */
  handlesPort(port: number): boolean;
  /** IN of `size` bytes (1, 2 or 4). */
  pioRead(port: number, size: number): number;
  /** OUT of `size` bytes. */
  pioWrite(port: number, size: number, value: number): void;
}

/**
 * A device in a guest-physical MMIO window ({@link Ioapic}, {@link Lapic}); offsets are relative
 * to the window's base.
 *
 * @example
 * ```ts
 * const v = ioapic.mmioRead(0x10, 4);
 * ```
 */
export interface MmioDevice {
  mmioRead(offset: number, size: number): number;
  mmioWrite(offset: number, size: number, value: number): void;
}
