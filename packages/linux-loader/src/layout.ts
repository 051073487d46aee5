/**
 * Default guest addresses for boot data, as Firecracker and cloud-hypervisor place them. All lie in
 * low memory below the EBDA (0x9fc00) except the ACPI tables, which go in the BIOS area.
 *
 * @example
 * ```ts
 * writeZeroPage(mem, { address: BootLayout.ZERO_PAGE, ... });
 * ```
 */
export const BootLayout = {
  /** PVH `hvm_start_info` (followed by the module list and the memory map). */
  PVH_START_INFO: 0x6000,
  /** The zero page (`boot_params`); RSI points here at the 64-bit entry. */
  ZERO_PAGE: 0x7000,
  /** Initial stack pointer used by VMMs for the boot vCPU. */
  BOOT_STACK: 0x8ff0,
  /** Identity-map page tables a VMM builds for 64-bit entry: PML4, PDPT, PD. */
  PML4: 0x9000,
  PDPT: 0xa000,
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
