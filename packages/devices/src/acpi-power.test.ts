import { describe, expect, it } from 'vitest';
import {
  ACPI_POWER_RESET_VALUE,
  ACPI_POWER_SIZE,
  AcpiPowerDevice,
  type PowerEvent,
  SLP_EN,
  SLP_TYP_MASK,
  WAK_STS,
} from './acpi-power.js';
import { Bus } from './bus.js';
import { DeviceError } from './errors.js';

function setup(resetValue?: number) {
  const events: PowerEvent[] = [];
  const dev = new AcpiPowerDevice({ onEvent: (e) => events.push(e), resetValue });
  const pio = new Bus('pio');
  pio.register(0x600, ACPI_POWER_SIZE, dev, 'acpi-power');
  return { dev, pio, events };
}

describe('AcpiPowerDevice', () => {
  it('powers off on SLP_EN, whatever the sleep type', () => {
    const { pio, events } = setup();
    pio.writeValue(0x600, 1, SLP_EN | (5 << 2)); // S5, as the DSDT's \_S5 says
    pio.writeValue(0x600, 1, SLP_EN); // sleep type 0: still the only state there is
    expect(events).toEqual(['poweroff', 'poweroff']);
  });

  it('resets on the reset value at +2', () => {
    const { pio, events, dev } = setup();
    expect(dev.resetValue).toBe(ACPI_POWER_RESET_VALUE);
    pio.writeValue(0x602, 1, ACPI_POWER_RESET_VALUE);
    expect(events).toEqual(['reset']);
  });

  it('ignores (and counts) every other write', () => {
    const { pio, events, dev } = setup();
    pio.writeValue(0x600, 1, SLP_TYP_MASK); // sleep type without SLP_EN
    pio.writeValue(0x600, 1, 0);
    pio.writeValue(0x601, 1, 0xff); // sleep status: write-1-to-clear, nothing to clear
    pio.writeValue(0x602, 1, 0x02); // not the reset value
    pio.writeValue(0x602, 1, 0x00);
    expect(events).toEqual([]);
    expect(dev.writes).toBe(5);
  });

  it('reads WAK_STS from sleep status and zero elsewhere', () => {
    const { pio } = setup();
    expect(pio.readValue(0x601, 1)).toBe(WAK_STS);
    expect(pio.readValue(0x600, 1)).toBe(0);
    expect(pio.readValue(0x602, 1)).toBe(0);
  });

  it('takes another reset value and refuses bad configuration', () => {
    const { pio, events } = setup(0x06);
    pio.writeValue(0x602, 1, 0x01);
    pio.writeValue(0x602, 1, 0x06);
    expect(events).toEqual(['reset']);
    const onEvent = () => {};
    for (const resetValue of [256, -1, 1.5, Number.NaN]) {
      expect(() => new AcpiPowerDevice({ onEvent, resetValue })).toThrow(DeviceError);
      expect(() => new AcpiPowerDevice({ onEvent, resetValue })).toThrow(`resetValue ${resetValue}`);
    }
    expect(() => new AcpiPowerDevice({} as { onEvent: () => void })).toThrow(/onEvent must be a function/);
    let err: unknown;
    try {
      new AcpiPowerDevice({ onEvent, resetValue: 300 });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'invalid-config', device: 'acpi-power' });
  });
});
