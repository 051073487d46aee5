/**
 * ACPI hardware-reduced power registers: the FADT's SLEEP_CONTROL_REG, SLEEP_STATUS_REG and
 * RESET_REG point at this device's three bytes, so that an ACPI guest powers off and reboots
 * through it.
 *
 * @module
 */
import type { BusDevice } from './bus.js';
import { DeviceError } from './errors.js';
import { type DeviceState, StateReader } from './state.js';

/** SLP_EN in the sleep control register (ACPI 6.x, 4.8.3.7): "enter the sleep state now". */
export const SLP_EN = 0x20;
/** SLP_TYPx field of the sleep control register (bits 2-4): the sleep type, from the DSDT's `\_Sx`. */
export const SLP_TYP_MASK = 0x1c;
/** WAK_STS in the sleep status register: the machine is awake. */
export const WAK_STS = 0x80;
/** The reset value an {@link AcpiPowerDevice} expects unless told otherwise (the FADT's RESET_VALUE). */
export const ACPI_POWER_RESET_VALUE = 0x01;
/** Bytes of an {@link AcpiPowerDevice}: +0 sleep control, +1 sleep status, +2 reset. */
export const ACPI_POWER_SIZE = 3;

/**
 * What the guest asked for.
 * @example const onEvent = (ev: PowerEvent) => console.log(ev === 'poweroff' ? 'halting' : 'rebooting');
 */
export type PowerEvent = 'poweroff' | 'reset';

/**
 * Options for an {@link AcpiPowerDevice}.
 * @example const options: AcpiPowerOptions = { onEvent: (ev) => console.log(ev), resetValue: 0x06 };
 */
export interface AcpiPowerOptions {
  /** Called for each poweroff or reset the guest requests. */
  onEvent: (event: PowerEvent) => void;
  /**
   * The value a write to the reset register (+2) must have to reset: the FADT's RESET_VALUE.
   * An integer 0..255; default {@link ACPI_POWER_RESET_VALUE}.
   */
  resetValue?: number;
}

/**
 * Three one-byte ACPI registers for a hardware-reduced machine (no PM1 blocks): +0 sleep control
 * (write; SLP_EN set means sleep, and since the machine offers only S5, power off, whatever the
 * SLP_TYP field says), +1 sleep status (reads {@link WAK_STS}: awake), +2 reset (writing the reset
 * value means reset). Every other write is ignored and only counted (`writes`): sleep control
 * without SLP_EN, another value to the reset register, anything to sleep status. The guest cannot
 * make it throw.
 *
 * @example
 * ```ts
 * import { ACPI_POWER_SIZE, AcpiPowerDevice, Bus, SLP_EN } from '@ts-vmm/devices';
 *
 * const pio = new Bus('pio');
 * const events: string[] = [];
 * pio.register(0x600, ACPI_POWER_SIZE, new AcpiPowerDevice({ onEvent: (ev) => events.push(ev) }), 'acpi-power');
 * pio.writeValue(0x600, 1, SLP_EN | (5 << 2)); // S5 (the DSDT's \_S5 says 5): 'poweroff'
 * pio.writeValue(0x602, 1, 0x01); // the FADT's reset value: 'reset'
 * events; // ['poweroff', 'reset']
 * ```
 */
export class AcpiPowerDevice implements BusDevice {
  /** Guest writes seen, for diagnostics. */
  writes = 0;
  /** The value that resets when written to +2. */
  readonly resetValue: number;
  private readonly onEvent: (event: PowerEvent) => void;

  constructor(options: AcpiPowerOptions) {
    if (typeof options?.onEvent !== 'function')
      throw new DeviceError('invalid-config', 'acpi-power', 'onEvent must be a function');
    const rv = options.resetValue ?? ACPI_POWER_RESET_VALUE;
    if (!Number.isInteger(rv) || rv < 0 || rv > 0xff)
      throw new DeviceError(
        'invalid-config',
        'acpi-power',
        `resetValue ${rv} must be an integer in [0, 255]`,
      );
    this.onEvent = options.onEvent;
    this.resetValue = rv;
  }

  read(offset: number, data: Uint8Array): void {
    data.fill(0);
    if (offset === 1) data[0] = WAK_STS;
  }

  write(offset: number, data: Uint8Array): void {
    this.writes++;
    if (offset === 0 && data[0] & SLP_EN) this.onEvent('poweroff');
    else if (offset === 2 && data[0] === this.resetValue) this.onEvent('reset');
  }

  /**
   * The device's state for a snapshot (only its write counter: the registers hold nothing).
   * @example fresh.restore(power.save());
   */
  save(): DeviceState {
    return { device: 'acpi-power', version: 1, writes: this.writes };
  }

  /**
   * Loads a state from {@link AcpiPowerDevice.save} (an `invalid-state` DeviceError names a bad field).
   * @example fresh.restore(power.save());
   */
  restore(state: DeviceState): void {
    this.writes = new StateReader('acpi-power', state, 1).int('writes', 0, Number.MAX_SAFE_INTEGER);
  }
}
