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
