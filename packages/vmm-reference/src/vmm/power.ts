/**
 * ACPI hardware-reduced power registers (the FADT's SLEEP_CONTROL_REG, SLEEP_STATUS_REG and
 * RESET_REG point here): writing SLP_EN to sleep control powers the VM off; writing the reset value
 * to the reset register reboots it.
 *
 * @module
 */
import type { BusDevice } from '@ts-vmm/devices';
import { ACPI_RESET_VALUE } from './address-map.js';

/** SLP_EN in the sleep control register (ACPI 6.x, 4.8.3.7). */
export const SLP_EN = 0x20;
/** SLP_TYPx field of the sleep control register. */
export const SLP_TYP_MASK = 0x1c;

/** What the guest asked for. */
export type PowerEvent = 'poweroff' | 'reset';

/**
 * Three one-byte registers: +0 sleep control (write), +1 sleep status (read: WAK_STS), +2 reset.
 *
 * @example
 * ```ts
 * pio.register(0x600, 3, new AcpiPowerDevice((ev) => vmm.stop(ev === 'poweroff' ? 'poweroff' : 'reboot')), 'acpi-power');
 * // guest: mov al, 0x34; out 0x600, al   -> 'poweroff'
 * ```
 */
export class AcpiPowerDevice implements BusDevice {
  /** Guest writes seen, for diagnostics. */
  writes = 0;
  constructor(private readonly onEvent: (event: PowerEvent) => void) {}

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === 1) data[0] = 0x80; // WAK_STS: we are awake
  }

  write(offset: number, data: Uint8Array): void {
    this.writes++;
    if (offset === 0 && data[0] & SLP_EN) this.onEvent('poweroff');
    else if (offset === 2 && data[0] === ACPI_RESET_VALUE) this.onEvent('reset');
  }
}
