import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { LoaderError } from '../errors.js';
import { guestRangeProblem } from '../guest-range.js';
import { hex } from '../hex.js';
import { BootLayout } from '../layout.js';
import { buildDsdt, type SerialPort, type VirtioMmioDevice } from './dsdt.js';
import type { AcpiOem } from './sdt.js';
import { type AcpiRegister, buildFadt, buildMadt, buildRsdp, buildXsdt, RSDP_SIZE } from './tables.js';

/**
 * A plain description of the machine, from which the ACPI tables are made.
 * @example const d: AcpiDescription = { vcpus: 1, sleepControl: { space: 'io', address: 0x3c0 }, sleepStatus: { space: 'io', address: 0x3c1 } };
 */
export interface AcpiDescription {
  /** Number of vCPUs (1..254). */
  vcpus: number;
  /** IOAPIC. Default ID `vcpus`, address 0xfec00000, GSI base 0. */
  ioapic?: { id?: number; address?: number; gsiBase?: number };
  virtioDevices?: readonly VirtioMmioDevice[];
  serial?: readonly SerialPort[];
  /** The sleep control register the VMM implements for poweroff (the guest writes SLP_TYP<<2 | SLP_EN). */
  sleepControl: AcpiRegister;
  /** The sleep status register (WAK_STS, bit 7). */
  sleepStatus: AcpiRegister;
  /** SLP_TYP for S5. Default 5: the guest writes (5 << 2) | (1 << 5) = 0x34. */
  s5SleepType?: number;
  /**
   * Legacy devices present (FADT IAPC_BOOT_ARCH; an i8042 is also described in the DSDT, IRQ 1, and
   * an RTC, ports 0x70-0x71).
   */
  legacy?: { i8042?: boolean; rtc?: boolean; vga?: boolean };
  /** 8259 PICs present (MADT PCAT_COMPAT). Default true. */
  pcatCompat?: boolean;
  /** ISA interrupt source overrides. Default IRQ 0 → GSI 2. */
  interruptOverrides?: readonly { source: number; gsi: number; flags?: number }[];
  /** FADT reset register. */
  reset?: { register: AcpiRegister; value: number };
  oem?: AcpiOem;
}

/**
 * One table placed in guest memory.
 * @example buildAcpiTables(d).tables.map((t: PlacedTable) => t.signature); // ['RSDP', 'DSDT', 'FACP', 'APIC', 'XSDT']
 */
export interface PlacedTable {
  signature: string;
  address: number;
  bytes: Uint8Array;
}

/**
 * The tables and where they go.
 * @example const t: AcpiTables = writeAcpiTables(mem, d); // t.rsdpAddress === 0xe0000
 */
export interface AcpiTables {
  /** Put this in the zero page's `acpi_rsdp_addr` or the PVH start info's `rsdp_paddr`. */
  rsdpAddress: number;
  /** RSDP first, then DSDT, FACP, APIC, XSDT. */
  tables: PlacedTable[];
  /** One past the last byte. */
  end: number;
}

const ALIGN = 16;
const up = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * Builds the ACPI tables for a description and lays them out from `address` (default 0xE0000, the
 * BIOS area where the kernel also scans for the RSDP): RSDP (v2), DSDT, FADT (rev 6, hardware-reduced),
 * MADT, XSDT, each 16-byte aligned, all checksums set. Throws {@link LoaderError}, also when the tables
 * would pass `limit` (default 0x100000).
 *
 * @example
 * ```ts
 * const acpi = buildAcpiTables({ vcpus: 2, serial: [{ port: 0x3f8, irq: 4 }],
 *   virtioDevices: [{ base: 0xd0000000, size: 0x1000, irq: 5 }],
 *   sleepControl: { space: 'io', address: 0x3c0 }, sleepStatus: { space: 'io', address: 0x3c1 } });
 * acpi.rsdpAddress; // 0xe0000
 * ```
 */
export function buildAcpiTables(
  d: AcpiDescription,
  address: number = BootLayout.ACPI_START,
  limit: number = BootLayout.ACPI_END,
): AcpiTables {
  if (!Number.isSafeInteger(address) || address < 0 || address % 16 !== 0) {
    throw new LoaderError('acpi', `ACPI tables address ${hex(address)} must be 16-byte aligned`);
  }
  const dsdt = buildDsdt({
    virtioDevices: d.virtioDevices,
    serial: d.serial,
    keyboard: d.legacy?.i8042 ? { irq: 1 } : undefined,
    rtc: d.legacy?.rtc,
    s5SleepType: d.s5SleepType,
    oem: d.oem,
  });
  const dsdtAt = up(address + RSDP_SIZE);
  const fadtAt = up(dsdtAt + dsdt.length);
  const fadt = buildFadt({
    dsdtAddress: dsdtAt,
    sleepControl: d.sleepControl,
    sleepStatus: d.sleepStatus,
    legacy: d.legacy,
    reset: d.reset,
    oem: d.oem,
  });
  const madtAt = up(fadtAt + fadt.length);
  const madt = buildMadt({
    vcpus: d.vcpus,
    ioapic: d.ioapic,
    interruptOverrides: d.interruptOverrides,
    pcatCompat: d.pcatCompat,
    oem: d.oem,
  });
  const xsdtAt = up(madtAt + madt.length);
  const xsdt = buildXsdt([fadtAt, madtAt], d.oem);
  const end = xsdtAt + xsdt.length;
  if (end > limit) {
    throw new LoaderError(
      'no-space',
      `ACPI tables [${hex(address)}, ${hex(end)}) pass the limit ${hex(limit)}`,
    );
  }
  const rsdp = buildRsdp(xsdtAt, d.oem?.oemId);
  return {
    rsdpAddress: address,
    tables: [
      { signature: 'RSDP', address, bytes: rsdp },
      { signature: 'DSDT', address: dsdtAt, bytes: dsdt },
      { signature: 'FACP', address: fadtAt, bytes: fadt },
      { signature: 'APIC', address: madtAt, bytes: madt },
      { signature: 'XSDT', address: xsdtAt, bytes: xsdt },
    ],
    end,
  };
}

/**
 * Builds the ACPI tables ({@link buildAcpiTables}) and writes them into guest memory (checked first;
 * nothing is written on error).
 *
 * @example
 * ```ts
 * const { rsdpAddress } = writeAcpiTables(mem, description);
 * writeZeroPage(mem, { e820: e820ForMemory(mem), rsdpAddress });
 * ```
 */
export function writeAcpiTables(
  memory: GuestMemoryAccess,
  d: AcpiDescription,
  address: number = BootLayout.ACPI_START,
  limit: number = BootLayout.ACPI_END,
): AcpiTables {
  const t = buildAcpiTables(d, address, limit);
  const why = guestRangeProblem(memory, address, t.end - address);
  if (why) throw new LoaderError('no-space', `ACPI tables: ${why}`);
  for (const x of t.tables) memory.writeBytes(x.address, x.bytes);
  return t;
}
