import { type E820Entry, E820Type } from './e820.js';
import { LoaderError } from './errors.js';
import { hex } from './hex.js';

/**
 * Default guest addresses for boot data, as Firecracker and cloud-hypervisor place them. All lie in
 * low memory below the EBDA (0x9fc00) except the ACPI tables, which go in the BIOS area. The
 * functions that write these structures take the address as a parameter and default to these;
 * {@link setupLinuxBoot} uses them as they are.
 * (The multiboot information structure shares 0x9000 with the page tables: a multiboot kernel is
 * entered in 32-bit mode without them.)
 *
 * @example
 * ```ts
 * writeZeroPage(mem, { address: BootLayout.ZERO_PAGE, e820: e820ForMemory(mem) });
 * ```
 */
export const BootLayout = {
  /** The boot GDT ({@link writeGdt}, {@link BOOT_GDT}: 7 entries, 56 bytes). */
  GDT: 0x500,
  /** An empty IDT (limit 7) that {@link bootSregs} loads; nothing needs to be written there. */
  IDT: 0x600,
  /** PVH `hvm_start_info` (followed by the module list and the memory map). */
  PVH_START_INFO: 0x6000,
  /** The zero page (`boot_params`); RSI points here at the 64-bit entry. */
  ZERO_PAGE: 0x7000,
  /** Initial stack pointer of the boot vCPU at the 64-bit entry ({@link bootRegs}). */
  BOOT_STACK: 0x8ff0,
  /**
   * The identity page tables for the 64-bit entry ({@link writeIdentityPageTables}): the PML4 here,
   * then the PDPT and four page directories, one 4 KiB page each, up to 0xf000. CR3 points here.
   */
  PML4: 0x9000,
  /** The page-directory-pointer table, the page after {@link BootLayout.PML4}. */
  PDPT: 0xa000,
  /** The first of the four page directories (one per GiB), the pages after {@link BootLayout.PDPT}. */
  PD: 0xb000,
  /** Kernel command line. */
  CMDLINE: 0x20000,
  /** Multiboot information structure. */
  MULTIBOOT_INFO: 0x9000,
  /** MP floating pointer + configuration table (start of the EBDA). */
  MPTABLE: 0x9fc00,
  /** RSDP; the other ACPI tables follow it, up to {@link BootLayout.ACPI_END}. */
  ACPI_START: 0xe0000,
  /** End (exclusive) of the BIOS area that holds ACPI tables. */
  ACPI_END: 0x100000,
} as const;

/**
 * One piece of boot data for {@link placeBootData}: a name for errors, its size, and where it
 * would go by default.
 * @example const gdt: BootDataItem = { name: 'GDT', size: 56, align: 8, preferred: BootLayout.GDT };
 */
export interface BootDataItem {
  /** What it is, for the error when it fits nowhere ("GDT", "zero page", ...). */
  name: string;
  /** Bytes (more than 0). */
  size: number;
  /** Alignment, a power of two. Default 16. */
  align?: number;
  /** The address to use when it is free (the {@link BootLayout} default). */
  preferred?: number;
  /** One past the highest address it may occupy. Default 4 GiB. */
  below?: number;
}

/**
 * A guest range that boot data must not overlap, and what occupies it (for the error message).
 * @example const k: BootDataObstacle = { start: 0x8000, end: 0xc000, what: 'the kernel' };
 */
export interface BootDataObstacle {
  start: number;
  end: number;
  what: string;
}

/**
 * Places boot data (GDT, page tables, zero page, command line, ...) in usable RAM of `e820` where
 * nothing in `avoid` is (the kernel's loaded ranges, typically) and where no earlier item went:
 * each item at its `preferred` address when that is free, else at the lowest free aligned address,
 * from 4 KiB up (page 0 keeps the real-mode IVT and BDA). Returns the addresses in item order, or
 * throws {@link LoaderError} `'no-space'` naming the item and every range in `avoid`. Kernels that
 * load low (a multiboot or ELF kernel at 0x8000) would otherwise be overwritten by the default
 * layout.
 *
 * @example
 * ```ts
 * const [gdt, pageTables] = placeBootData(e820ForMemory(mem), [
 *   { name: 'GDT', size: 56, align: 8, preferred: BootLayout.GDT },
 *   { name: 'page tables', size: IDENTITY_PAGE_TABLES_SIZE, align: 4096, preferred: BootLayout.PML4 },
 * ], [{ start: 0x8000, end: 0x10000, what: 'the kernel' }]); // pageTables: 0x10000
 * ```
 */
export function placeBootData(
  e820: readonly E820Entry[],
  items: readonly BootDataItem[],
  avoid: readonly BootDataObstacle[],
): number[] {
  const taken: BootDataObstacle[] = avoid.filter((r) => r.end > r.start);
  const ram = e820
    .filter((e) => e.type === E820Type.RAM)
    .map((e) => ({ start: e.addr, end: e.addr + e.size }))
    .sort((a, b) => a.start - b.start);
  const out: number[] = [];
  for (const item of items) {
    const align = item.align ?? 16;
    const below = Math.min(item.below ?? 2 ** 32, 2 ** 32);
    if (!Number.isSafeInteger(item.size) || item.size <= 0)
      throw new LoaderError(
        'invalid-argument',
        `boot data ${item.name}: size ${item.size} is not a positive integer`,
      );
    if (!Number.isSafeInteger(align) || align <= 0 || (align & (align - 1)) !== 0)
      throw new LoaderError(
        'invalid-argument',
        `boot data ${item.name}: alignment ${align} is not a power of two`,
      );
    const blocker = (at: number) => taken.find((r) => at < r.end && r.start < at + item.size);
    const inRam = (at: number) => ram.some((r) => at >= r.start && at + item.size <= r.end);
    let at: number | undefined;
    const p = item.preferred;
    if (p !== undefined && p % align === 0 && p + item.size <= below && inRam(p) && !blocker(p)) at = p;
    for (const r of ram) {
      if (at !== undefined) break;
      let a = alignUp(Math.max(r.start, 0x1000), align);
      while (a + item.size <= Math.min(r.end, below)) {
        const b = blocker(a);
        if (!b) {
          at = a;
          break;
        }
        a = alignUp(b.end, align);
      }
    }
    if (at === undefined) {
      const byWhat = new Map<string, string[]>();
      for (const r of avoid)
        byWhat.set(r.what, [...(byWhat.get(r.what) ?? []), `[${hex(r.start)}, ${hex(r.end)})`]);
      const around = [...byWhat].map(([what, rs]) => `${what} at ${rs.join(', ')}`).join('; ');
      throw new LoaderError(
        'no-space',
        `no room for the ${item.name} (${hex(item.size)} bytes) in RAM below ${hex(below)}${around ? ` outside ${around}` : ''}`,
      );
    }
    out.push(at);
    taken.push({ start: at, end: at + item.size, what: `the ${item.name}` });
  }
  return out;
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
