import { fixChecksum } from '../checksum.js';
import { LoaderError } from '../errors.js';
import { hex } from '../hex.js';
import { type AcpiOem, sdt } from './sdt.js';

/**
 * Size of an ACPI 2.0+ RSDP.
 * @example buildRsdp(0xe0040).length; // RSDP_SIZE (36)
 */
export const RSDP_SIZE = 36;

/**
 * Builds an ACPI 2.0+ RSDP ("RSD PTR ", revision 2) pointing at an XSDT, both checksums set.
 * @example buildRsdp(0xe0040)
 */
export function buildRsdp(xsdtAddress: number, oemId = 'TSVMM'): Uint8Array {
  const t = new Uint8Array(RSDP_SIZE);
  const v = new DataView(t.buffer);
  const sig = 'RSD PTR ';
  for (let i = 0; i < 8; i++) t[i] = sig.charCodeAt(i);
  const oem = oemId.padEnd(6, ' ');
  for (let i = 0; i < 6; i++) t[9 + i] = oem.charCodeAt(i);
  t[15] = 2; // revision: ACPI 2.0+
  v.setUint32(16, 0, true); // no RSDT
  v.setUint32(20, RSDP_SIZE, true);
  v.setBigUint64(24, BigInt(xsdtAddress), true);
  fixChecksum(t, 8, 0, 20);
  fixChecksum(t, 32, 0, RSDP_SIZE);
  return t;
}

/** Builds an XSDT listing tables by 64-bit address. @example buildXsdt([fadtAt, madtAt]) */
export function buildXsdt(entries: readonly number[], oem: AcpiOem = {}): Uint8Array {
  const body = new Uint8Array(entries.length * 8);
  const v = new DataView(body.buffer);
  entries.forEach((a, i) => {
    v.setBigUint64(i * 8, BigInt(a), true);
  });
  return sdt('XSDT', 1, body, oem);
}

/**
 * A register for the FADT (Generic Address Structure): an I/O port or an MMIO address.
 * @example const slp: AcpiRegister = { space: 'io', address: 0x3c0, bitWidth: 8 };
 */
export interface AcpiRegister {
  space: 'io' | 'memory';
  address: number;
  /** Register width in bits. Default 8. */
  bitWidth?: number;
}

function gas(v: DataView, at: number, r: AcpiRegister | undefined, what: string): void {
  if (!r) return;
  const width = r.bitWidth ?? 8;
  if (![8, 16, 32, 64].includes(width))
    throw new LoaderError('acpi', `${what} bit width ${width} must be 8, 16, 32 or 64`);
  const max = r.space === 'io' ? 0xffff : 2 ** 52;
  if (!Number.isSafeInteger(r.address) || r.address <= 0 || r.address > max) {
    throw new LoaderError('acpi', `${what} ${r.space} address ${hex(r.address)} is out of range`);
  }
  v.setUint8(at, r.space === 'io' ? 1 : 0);
  v.setUint8(at + 1, width);
  v.setUint8(at + 2, 0);
  v.setUint8(at + 3, Math.log2(width / 8) + 1); // access size: 1 byte .. 4 qword
  v.setBigUint64(at + 4, BigInt(r.address), true);
}

/**
 * FADT `Flags` bits used here.
 * @example new DataView(fadt.buffer).getUint32(112, true) & FadtFlags.HW_REDUCED_ACPI; // set by buildFadt
 */
export const FadtFlags = {
  WBINVD: 1 << 0,
  PWR_BUTTON: 1 << 4,
  SLP_BUTTON: 1 << 5,
  RESET_REG_SUP: 1 << 10,
  HW_REDUCED_ACPI: 1 << 20,
} as const;

/**
 * FADT `IAPC_BOOT_ARCH` bits.
 * @example new DataView(fadt.buffer).getUint16(109, true) & IapcBootArch.VGA_NOT_PRESENT; // set without legacy.vga
 */
export const IapcBootArch = {
  LEGACY_DEVICES: 1 << 0,
  I8042: 1 << 1,
  VGA_NOT_PRESENT: 1 << 2,
  MSI_NOT_SUPPORTED: 1 << 3,
  PCIE_ASPM_CONTROLS: 1 << 4,
  CMOS_RTC_NOT_PRESENT: 1 << 5,
} as const;

/**
 * Options for {@link buildFadt}.
 * @example buildFadt({ dsdtAddress: 0xe0030, sleepControl: { space: 'io', address: 0x3c0 }, sleepStatus: { space: 'io', address: 0x3c1 } } satisfies FadtOptions);
 */
export interface FadtOptions {
  dsdtAddress: number;
  /** The register the guest writes SLP_TYP | SLP_EN to for S5 (poweroff). */
  sleepControl: AcpiRegister;
  /** The register the guest polls for WAK_STS. */
  sleepStatus: AcpiRegister;
  /** Legacy devices present, for IAPC_BOOT_ARCH. Defaults: i8042 false, rtc true, vga false. */
  legacy?: { i8042?: boolean; rtc?: boolean; vga?: boolean };
  /** Optional reset register and value (sets RESET_REG_SUP). */
  reset?: { register: AcpiRegister; value: number };
  oem?: AcpiOem;
}

/**
 * Size of a revision-6 FADT.
 * @example buildFadt(o).length; // FADT_SIZE (276)
 */
export const FADT_SIZE = 276;

/**
 * Builds a revision-6 FADT for a hardware-reduced platform: HW_REDUCED_ACPI, no fixed power/sleep
 * buttons, X_DSDT, the sleep control and status registers, and IAPC_BOOT_ARCH from the legacy devices
 * present.
 *
 * @example
 * ```ts
 * buildFadt({ dsdtAddress: 0xe0100, sleepControl: { space: 'io', address: 0x3c0 }, sleepStatus: { space: 'io', address: 0x3c1 } });
 * ```
 */
export function buildFadt(o: FadtOptions): Uint8Array {
  const body = new Uint8Array(FADT_SIZE - 36);
  const v = new DataView(body.buffer);
  const at = (off: number) => off - 36;
  const legacy = { i8042: false, rtc: true, vga: false, ...o.legacy };
  let boot = 0;
  if (legacy.i8042) boot |= IapcBootArch.I8042;
  if (!legacy.vga) boot |= IapcBootArch.VGA_NOT_PRESENT;
  if (!legacy.rtc) boot |= IapcBootArch.CMOS_RTC_NOT_PRESENT;
  v.setUint16(at(109), boot, true);
  let flags = FadtFlags.HW_REDUCED_ACPI | FadtFlags.PWR_BUTTON | FadtFlags.SLP_BUTTON;
  if (o.reset) {
    flags |= FadtFlags.RESET_REG_SUP;
    gas(v, at(116), o.reset.register, 'reset register');
    v.setUint8(at(128), o.reset.value & 0xff);
  }
  v.setUint32(at(112), flags, true);
  v.setUint8(at(131), 5); // FADT minor version: ACPI 6.5
  if (!Number.isSafeInteger(o.dsdtAddress) || o.dsdtAddress <= 0) {
    throw new LoaderError('acpi', `DSDT address ${o.dsdtAddress} is invalid`);
  }
  v.setBigUint64(at(140), BigInt(o.dsdtAddress), true); // X_DSDT
  gas(v, at(244), o.sleepControl, 'sleep control register');
  gas(v, at(256), o.sleepStatus, 'sleep status register');
  const hv = 'TSVMM'.padEnd(8, '\0');
  for (let i = 0; i < 8; i++) v.setUint8(at(268) + i, hv.charCodeAt(i));
  return sdt('FACP', 6, body, o.oem);
}

/**
 * Options for {@link buildMadt}.
 * @example buildMadt({ vcpus: 4, ioapic: { address: 0xfec00000 } } satisfies MadtOptions);
 */
export interface MadtOptions {
  vcpus: number;
  ioapic?: { id?: number; address?: number; gsiBase?: number };
  /** ISA interrupt source overrides. Default: IRQ 0 → GSI 2 (edge, active high: conforms). */
  interruptOverrides?: readonly { source: number; gsi: number; flags?: number }[];
  /** The 8259 PICs are present (MADT flag PCAT_COMPAT). Default true. */
  pcatCompat?: boolean;
  oem?: AcpiOem;
}

/**
 * Builds a MADT: one enabled Processor Local APIC per vCPU (UID = APIC ID = index), the IOAPIC
 * (default at 0xfec00000, GSI base 0, ID = vcpus), interrupt source overrides, and a Local APIC NMI
 * entry on LINT1 for all processors.
 *
 * @example buildMadt({ vcpus: 2 })
 */
export function buildMadt(o: MadtOptions): Uint8Array {
  const n = o.vcpus;
  if (!Number.isInteger(n) || n < 1 || n > 254)
    throw new LoaderError('acpi', `MADT: vcpus ${n} must be 1..254`);
  const overrides = o.interruptOverrides ?? [{ source: 0, gsi: 2 }];
  const io = { id: n, address: 0xfec00000, gsiBase: 0, ...o.ioapic };
  if (!Number.isInteger(io.id) || io.id < 0 || io.id > 255)
    throw new LoaderError('acpi', `MADT: IOAPIC ID ${io.id} must be 0..255`);
  if (!Number.isInteger(io.address) || io.address <= 0 || io.address > 0xffffffff) {
    throw new LoaderError('acpi', `MADT: IOAPIC address ${hex(io.address)} must be a 32-bit address`);
  }
  const size = 8 + n * 8 + 12 + overrides.length * 10 + 6;
  const body = new Uint8Array(size);
  const v = new DataView(body.buffer);
  v.setUint32(0, 0xfee00000, true);
  v.setUint32(4, (o.pcatCompat ?? true) ? 1 : 0, true);
  let p = 8;
  for (let i = 0; i < n; i++) {
    body.set([0, 8, i, i], p);
    v.setUint32(p + 4, 1, true); // enabled
    p += 8;
  }
  body.set([1, 12, io.id, 0], p);
  v.setUint32(p + 4, io.address, true);
  v.setUint32(p + 8, io.gsiBase, true);
  p += 12;
  for (const ov of overrides) {
    if (!Number.isInteger(ov.source) || ov.source < 0 || ov.source > 15) {
      throw new LoaderError('acpi', `MADT: override source IRQ ${ov.source} must be an ISA IRQ 0..15`);
    }
    if (!Number.isInteger(ov.gsi) || ov.gsi < 0 || ov.gsi > 0xffffffff)
      throw new LoaderError('acpi', `MADT: GSI ${ov.gsi} is invalid`);
    body.set([2, 10, 0, ov.source], p);
    v.setUint32(p + 4, ov.gsi, true);
    v.setUint16(p + 8, ov.flags ?? 0, true);
    p += 10;
  }
  body.set([4, 6, 0xff], p); // Local APIC NMI, all processors
  v.setUint16(p + 3, 0x0005, true); // active high, edge
  body[p + 5] = 1; // LINT1
  return sdt('APIC', 5, body, o.oem);
}
