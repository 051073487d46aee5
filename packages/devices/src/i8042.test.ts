import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { I8042 } from './i8042.js';
import { RecordingIrqLine } from './testing/recording-irq.js';

function setup() {
  let resets = 0;
  const irq = new RecordingIrqLine();
  const dev = new I8042({ onReset: () => resets++, irq });
  const bus = new Bus('pio');
  bus.register(0x60, 1, dev.dataPort, 'i8042-data');
  bus.register(0x64, 1, dev.commandPort, 'i8042-cmd');
  return { dev, bus, irq, resets: () => resets };
}

describe('I8042', () => {
  it('raises the reset event on command 0xFE', () => {
    const { bus, resets } = setup();
    bus.writeValue(0x64, 1, 0xfe);
    expect(resets()).toBe(1);
  });

  it('raises the reset event when 0xD1 writes an output port with bit 0 clear', () => {
    const { bus, resets, dev } = setup();
    bus.writeValue(0x64, 1, 0xd1);
    bus.writeValue(0x60, 1, 0xdf); // A20 on, reset line high: no reset
    expect(resets()).toBe(0);
    bus.writeValue(0x64, 1, 0xd0);
    expect(bus.readValue(0x60, 1)).toBe(0xdf);
    bus.writeValue(0x64, 1, 0xd1);
    bus.writeValue(0x60, 1, 0xde);
    expect(resets()).toBe(1);
    expect(dev.resetCount).toBe(1);
  });

  it('answers the probe: CTR read/write, self test, output-buffer-full status', () => {
    const { bus } = setup();
    expect(bus.readValue(0x64, 1) & 1).toBe(0);
    bus.writeValue(0x64, 1, 0x20);
    expect(bus.readValue(0x64, 1) & 1).toBe(1);
    expect(bus.readValue(0x60, 1)).toBe(0x47);
    expect(bus.readValue(0x64, 1) & 1).toBe(0);
    bus.writeValue(0x64, 1, 0x60);
    bus.writeValue(0x60, 1, 0x65);
    bus.writeValue(0x64, 1, 0x20);
    expect(bus.readValue(0x60, 1)).toBe(0x65);
    bus.writeValue(0x64, 1, 0xaa);
    expect(bus.readValue(0x60, 1)).toBe(0x55);
    expect(bus.readValue(0x64, 1) & 0x08).toBe(0x08); // last write was a command
  });

  it('acknowledges keyboard commands with an interrupt', () => {
    const { bus, irq } = setup();
    bus.writeValue(0x60, 1, 0xff);
    expect(bus.readValue(0x60, 1)).toBe(0xfa);
    expect(bus.readValue(0x60, 1)).toBe(0xaa);
    expect(irq.triggers).toBe(2);
  });

  it('identifies the keyboard as MF2 (translated ID while the controller translates)', () => {
    const { bus } = setup();
    bus.writeValue(0x60, 1, 0xf2);
    expect([0, 1, 2].map(() => bus.readValue(0x60, 1))).toEqual([0xfa, 0xab, 0x41]);
    bus.writeValue(0x64, 1, 0x60);
    bus.writeValue(0x60, 1, 0x07); // translation off
    bus.writeValue(0x60, 1, 0xf2);
    expect([0, 1, 2].map(() => bus.readValue(0x60, 1))).toEqual([0xfa, 0xab, 0x83]);
  });

  it('sends Ctrl-Alt-Del in set 1 when translating, one interrupt per byte as the guest reads', () => {
    const { dev, bus, irq } = setup();
    expect(dev.sendCtrlAltDel()).toBe(true);
    expect(irq.triggers).toBe(1);
    const bytes: number[] = [];
    while (bus.readValue(0x64, 1) & 1) bytes.push(bus.readValue(0x60, 1));
    expect(bytes).toEqual([0x1d, 0x38, 0xe0, 0x53]);
    expect(irq.triggers).toBe(4);
  });

  it('sends Ctrl-Alt-Del in set 2 without translation, and not while the keyboard is disabled', () => {
    const { dev, bus } = setup();
    bus.writeValue(0x64, 1, 0x60);
    bus.writeValue(0x60, 1, 0x07);
    expect(dev.sendCtrlAltDel()).toBe(true);
    const bytes: number[] = [];
    while (bus.readValue(0x64, 1) & 1) bytes.push(bus.readValue(0x60, 1));
    expect(bytes).toEqual([0x14, 0x11, 0xe0, 0x71]);
    bus.writeValue(0x64, 1, 0xad); // disable the keyboard
    expect(dev.sendCtrlAltDel()).toBe(false);
    expect(bus.readValue(0x64, 1) & 1).toBe(0);
  });

  it('refuses Ctrl-Alt-Del when the output buffer is full', () => {
    const { dev } = setup();
    for (let i = 0; i < 4; i++) expect(dev.sendCtrlAltDel()).toBe(true);
    expect(dev.sendCtrlAltDel()).toBe(false);
  });

  it('takes the parameter of 0xD2/0xD3/0xD4: a keyboard echo, nothing for the absent aux port', () => {
    const { bus } = setup();
    bus.writeValue(0x64, 1, 0xd3);
    bus.writeValue(0x60, 1, 0x5a); // Linux's AUX loopback probe
    expect(bus.readValue(0x64, 1) & 1).toBe(0); // no answer: no aux device
    bus.writeValue(0x64, 1, 0xd4);
    bus.writeValue(0x60, 1, 0xf2);
    expect(bus.readValue(0x64, 1) & 1).toBe(0);
    bus.writeValue(0x64, 1, 0xd2);
    bus.writeValue(0x60, 1, 0x42);
    expect(bus.readValue(0x60, 1)).toBe(0x42);
  });
});
