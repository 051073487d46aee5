import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { fixChecksum } from './checksum.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import { BootLayout } from './layout.js';

/**
 * Default local APIC and IOAPIC addresses.
 * @example new DataView(buildMpTable({ vcpus: 1 }).buffer).getUint32(16 + 36, true) === APIC_DEFAULT_PHYS_BASE; // true
 */
export const APIC_DEFAULT_PHYS_BASE = 0xfee00000;
/**
 * Default IOAPIC MMIO address.
 * @example buildMpTable({ vcpus: 1, ioapicAddress: IO_APIC_DEFAULT_PHYS_BASE });
 */
export const IO_APIC_DEFAULT_PHYS_BASE = 0xfec00000;

/**
 * Options for {@link buildMpTable}.
 * @example writeMpTable(mem, { vcpus: 2, extraIrqs: [16, 17] } satisfies MpTableOptions);
 */
export interface MpTableOptions {
  /** Number of vCPUs (APIC IDs 0..vcpus-1; vCPU 0 is the BSP). 1..254. */
  vcpus: number;
  /** IOAPIC address. Default 0xfec00000. */
  ioapicAddress?: number;
  /** IOAPIC ID. Default `vcpus` (the first ID after the CPUs'). */
  ioapicId?: number;
  /** Route ISA IRQ 0 (the PIT) to IOAPIC pin 2, like the ACPI override IRQ0→GSI2. Default true. */
  irq0ToPin2?: boolean;
  /** Extra IOAPIC pins to list as PCI/level or edge interrupts: ISA bus, identity routed (e.g. virtio IRQs). */
  extraIrqs?: readonly number[];
  /** Where the floating pointer goes (the configuration table follows it). Default 0x9fc00. */
  address?: number;
}

const PROC_ENTRY = 20;
const SMALL_ENTRY = 8;
const HEADER = 44;
const FLOATING = 16;

/**
 * Size of the MP floating pointer plus configuration table for `vcpus` CPUs and `extraIrqs` extra interrupt entries.
 * @example mpTableSize(1) // 16 + 44 + 20 + 8 * 20
 */
export function mpTableSize(vcpus: number, extraIrqs = 0): number {
  return FLOATING + HEADER + vcpus * PROC_ENTRY + SMALL_ENTRY * (1 + 1 + 16 + extraIrqs + 2);
}

/**
 * Builds an Intel MultiProcessor Specification 1.4 table for guests without ACPI: the floating pointer
 * `_MP_` and the configuration table `PCMP` with one processor entry per vCPU, bus ISA, the IOAPIC,
 * I/O interrupt assignments for ISA IRQs 0–15 (IRQ 0 on pin 2 by default, the rest identity mapped),
 * and local interrupt assignments (LINT0 ExtINT, LINT1 NMI). Both checksums are set.
 *
 * @example
 * ```ts
 * const bytes = buildMpTable({ vcpus: 2 }); // place at 0x9fc00
 * ```
 */
export function buildMpTable(o: MpTableOptions): Uint8Array {
  const base = o.address ?? BootLayout.MPTABLE;
  const n = o.vcpus;
  if (!Number.isInteger(n) || n < 1 || n > 254)
    throw new LoaderError('mptable', `MP table: vcpus ${n} must be 1..254`);
  const ioapicId = o.ioapicId ?? n;
  if (!Number.isInteger(ioapicId) || ioapicId < 0 || ioapicId > 255 || ioapicId < n) {
    throw new LoaderError(
      'mptable',
      `MP table: IOAPIC ID ${ioapicId} must be 0..255 and not a CPU's APIC ID`,
    );
  }
  const ioapicAddr = o.ioapicAddress ?? IO_APIC_DEFAULT_PHYS_BASE;
  if (!Number.isInteger(ioapicAddr) || ioapicAddr < 0 || ioapicAddr > 0xffffffff) {
    throw new LoaderError('mptable', `MP table: IOAPIC address ${hex(ioapicAddr)} must be a 32-bit address`);
  }
  const extra = [...(o.extraIrqs ?? [])].filter((i) => i >= 16);
  for (const irq of extra) {
    if (!Number.isInteger(irq) || irq > 23)
      throw new LoaderError('mptable', `MP table: IRQ ${irq} is not an IOAPIC pin (16..23)`);
  }
  if (
    !Number.isSafeInteger(base) ||
    base < 0 ||
    base % 16 !== 0 ||
    base + mpTableSize(n, extra.length) > 2 ** 32
  ) {
    throw new LoaderError('mptable', `MP table address ${hex(base)} must be 16-byte aligned and below 4 GiB`);
  }
  const size = mpTableSize(n, extra.length);
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  const ascii = (at: number, s: string) => {
    for (let i = 0; i < s.length; i++) buf[at + i] = s.charCodeAt(i);
  };
  // Floating pointer.
  ascii(0, '_MP_');
  v.setUint32(4, base + FLOATING, true);
  buf[8] = 1; // length in 16-byte units
  buf[9] = 4; // spec revision 1.4
  // buf[11..15]: feature bytes 0 = configuration table present, no IMCR.
  fixChecksum(buf, 10, 0, FLOATING);
  // Configuration table header.
  const t = FLOATING;
  ascii(t, 'PCMP');
  v.setUint16(t + 4, size - FLOATING, true);
  buf[t + 6] = 4;
  ascii(t + 8, 'TS-VMM  ');
  ascii(t + 16, 'MICROVM     ');
  let entries = 0;
  v.setUint32(t + 36, APIC_DEFAULT_PHYS_BASE, true);
  let p = t + HEADER;
  for (let cpu = 0; cpu < n; cpu++) {
    buf[p] = 0; // processor
    buf[p + 1] = cpu; // local APIC ID
    buf[p + 2] = 0x14; // local APIC version
    buf[p + 3] = 0x01 | (cpu === 0 ? 0x02 : 0); // enabled, BSP
    v.setUint32(p + 4, 0x600, true); // family 6
    v.setUint32(p + 8, 0x201, true); // FPU, APIC
    p += PROC_ENTRY;
    entries++;
  }
  buf[p] = 1; // bus
  buf[p + 1] = 0;
  ascii(p + 2, 'ISA   ');
  p += SMALL_ENTRY;
  entries++;
  buf[p] = 2; // IOAPIC
  buf[p + 1] = ioapicId;
  buf[p + 2] = 0x11;
  buf[p + 3] = 1; // enabled
  v.setUint32(p + 4, ioapicAddr, true);
  p += SMALL_ENTRY;
  entries++;
  const irq0ToPin2 = o.irq0ToPin2 ?? true;
  const ioint = (irq: number, pin: number, type: number) => {
    buf[p] = 3; // I/O interrupt
    buf[p + 1] = type; // 0 INT, 3 ExtINT
    v.setUint16(p + 2, 0, true); // conforms to bus
    buf[p + 4] = 0; // source bus: ISA
    buf[p + 5] = irq;
    buf[p + 6] = ioapicId;
    buf[p + 7] = pin;
    p += SMALL_ENTRY;
    entries++;
  };
  for (let irq = 0; irq < 16; irq++) {
    if (!irq0ToPin2) ioint(irq, irq, 0);
    else if (irq === 0) {
      ioint(0, 0, 3); // pin 0: the cascaded 8259 (ExtINT)
      ioint(0, 2, 0); // the PIT on pin 2, as SeaBIOS and QEMU wire it
    } else if (irq !== 2) ioint(irq, irq, 0);
  }
  for (const irq of extra) ioint(irq, irq, 0);
  const lint = (type: number, pin: number) => {
    buf[p] = 4; // local interrupt
    buf[p + 1] = type;
    v.setUint16(p + 2, 0, true);
    buf[p + 4] = 0;
    buf[p + 5] = 0;
    buf[p + 6] = 0xff; // all local APICs
    buf[p + 7] = pin;
    p += SMALL_ENTRY;
    entries++;
  };
  lint(3, 0); // ExtINT on LINT0
  lint(1, 1); // NMI on LINT1
  v.setUint16(t + 34, entries, true);
  fixChecksum(buf, t + 7, t, size);
  return buf;
}

/**
 * Builds the MP table ({@link buildMpTable}) and writes it (default at 0x9fc00, the EBDA, where the
 * kernel scans). Returns the floating pointer's address and the end of the table.
 *
 * @example
 * ```ts
 * writeMpTable(mem, { vcpus: 4 }); // { address: 0x9fc00, end: ... }
 * ```
 */
export function writeMpTable(memory: GuestMemoryAccess, o: MpTableOptions): { address: number; end: number } {
  const at = o.address ?? BootLayout.MPTABLE;
  const bytes = buildMpTable({ ...o, address: at });
  const why = guestRangeProblem(memory, at, bytes.length);
  if (why) throw new LoaderError('no-space', `MP table: ${why}`);
  memory.writeBytes(at, bytes);
  return { address: at, end: at + bytes.length };
}
