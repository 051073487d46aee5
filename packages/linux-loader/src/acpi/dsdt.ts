import { LoaderError } from '../errors.js';
import { hex } from '../hex.js';
import { Aml, type AmlBytes } from './aml.js';
import { type AcpiOem, sdt } from './sdt.js';

/**
 * A virtio-mmio device window and its interrupt (GSI).
 * @example const dev: VirtioMmioDevice = { base: 0xd000_0000, size: 0x1000, irq: 5 };
 */
export interface VirtioMmioDevice {
  base: number;
  size: number;
  irq: number;
  /** Interrupt trigger mode. Default `'edge'` (irqfd-style, as Firecracker describes virtio-mmio). */
  trigger?: 'edge' | 'level';
}

/**
 * A 16550 serial port.
 * @example const com1: SerialPort = { port: 0x3f8, irq: 4 };
 */
export interface SerialPort {
  /** I/O port base, e.g. 0x3f8. */
  port: number;
  /** ISA IRQ, e.g. 4. */
  irq: number;
}

/**
 * Options for {@link buildDsdt}.
 * @example buildDsdt({ serial: [{ port: 0x3f8, irq: 4 }], s5SleepType: 5 } satisfies DsdtOptions);
 */
export interface DsdtOptions {
  virtioDevices?: readonly VirtioMmioDevice[];
  serial?: readonly SerialPort[];
  /**
   * An i8042 keyboard controller (`PNP0303` at ports 0x60 and 0x64 with this ISA IRQ, 1 on a PC):
   * Linux's i8042 driver finds it through ACPI PNP, which also maps the IRQ on machines without
   * 8259 PICs (where the driver's direct probe cannot request IRQ 1).
   */
  keyboard?: { irq: number };
  /**
   * A CMOS real-time clock (`RTC_`, `PNP0B00` at ports 0x70-0x71, without an IRQ: no alarm or
   * periodic interrupts are offered). Linux's rtc_cmos finds it through ACPI PNP; without it, on a
   * hardware-reduced platform (no legacy IRQs), its direct probe cannot request IRQ 8 and fails, and
   * the kernel never sets its clock from the RTC (`rtc_hctosys`).
   */
  rtc?: boolean;
  /** SLP_TYP value for S5 (what the guest writes into the sleep control register). Default 5. */
  s5SleepType?: number;
  /** Extra AML terms to place in `\_SB_`. */
  extra?: readonly AmlBytes[];
  oem?: AcpiOem;
}

/**
 * Builds a DSDT describing the microVM's devices: in `\_SB_`, one `COMn` device (PNP0501, IO and
 * IRQ) per serial port, the i8042 keyboard (`PS2K`, PNP0303) and the CMOS RTC (`RTC_`, PNP0B00) when asked for, and one `VRxx` device (`_HID "LNRO0005"`, `_UID`, `_CCA`, `_CRS` with
 * Memory32Fixed and an extended Interrupt) per virtio-mmio device; at the root, `_S5` for poweroff.
 *
 * @example
 * ```ts
 * buildDsdt({ serial: [{ port: 0x3f8, irq: 4 }], virtioDevices: [{ base: 0xd0000000, size: 0x1000, irq: 5 }] });
 * ```
 */
export function buildDsdt(o: DsdtOptions): Uint8Array {
  const devices: AmlBytes[] = [];
  (o.serial ?? []).forEach((s, i) => {
    if (i >= 9) throw new LoaderError('acpi', 'DSDT: at most 9 serial ports');
    if (!Number.isInteger(s.port) || s.port < 0 || s.port > 0xfff8)
      throw new LoaderError('acpi', `DSDT: serial port ${hex(s.port)} is invalid`);
    devices.push(
      Aml.device(`COM${i + 1}`, [
        Aml.name('_HID', Aml.eisaId('PNP0501')),
        Aml.name('_UID', Aml.integer(i + 1)),
        Aml.name('_CRS', Aml.resourceTemplate([Aml.io(s.port, s.port, 1, 8), Aml.irqNoFlags([s.irq])])),
      ]),
    );
  });
  if (o.keyboard) {
    devices.push(
      Aml.device('PS2K', [
        Aml.name('_HID', Aml.eisaId('PNP0303')),
        Aml.name(
          '_CRS',
          Aml.resourceTemplate([
            Aml.io(0x60, 0x60, 1, 1),
            Aml.io(0x64, 0x64, 1, 1),
            Aml.irqNoFlags([o.keyboard.irq]),
          ]),
        ),
      ]),
    );
  }
  if (o.rtc) {
    devices.push(
      Aml.device('RTC_', [
        Aml.name('_HID', Aml.eisaId('PNP0B00')),
        Aml.name('_CRS', Aml.resourceTemplate([Aml.io(0x70, 0x70, 1, 2)])),
      ]),
    );
  }
  const virtio = o.virtioDevices ?? [];
  if (virtio.length > 256)
    throw new LoaderError('acpi', `DSDT: ${virtio.length} virtio devices, at most 256 (VR00..VRFF)`);
  virtio.forEach((d, i) => {
    if (!Number.isSafeInteger(d.base) || d.base + d.size > 2 ** 32) {
      throw new LoaderError(
        'acpi',
        `DSDT: virtio-mmio device ${i} at ${hex(d.base)} must lie below 4 GiB (Memory32Fixed)`,
      );
    }
    const name = `VR${i.toString(16).toUpperCase().padStart(2, '0')}`;
    devices.push(
      Aml.device(name, [
        Aml.name('_HID', Aml.string('LNRO0005')),
        Aml.name('_UID', Aml.integer(i)),
        Aml.name('_CCA', Aml.integer(1)),
        Aml.name(
          '_CRS',
          Aml.resourceTemplate([
            Aml.memory32Fixed(d.base, d.size),
            Aml.interrupt([d.irq], { edge: d.trigger !== 'level' }),
          ]),
        ),
      ]),
    );
  });
  const typ = o.s5SleepType ?? 5;
  if (!Number.isInteger(typ) || typ < 0 || typ > 7)
    throw new LoaderError('acpi', `DSDT: S5 sleep type ${typ} must be 0..7`);
  const body = [
    Aml.scope('\\_SB_', [...devices, ...(o.extra ?? [])]),
    Aml.name('\\_S5_', Aml.package([Aml.integer(typ), Aml.integer(0), Aml.integer(0), Aml.integer(0)])),
  ];
  const len = body.reduce((n, b) => n + b.length, 0);
  const all = new Uint8Array(len);
  let p = 0;
  for (const b of body) {
    all.set(b, p);
    p += b.length;
  }
  return sdt('DSDT', 2, all, o.oem);
}
