/**
 * Linux boot for ts-vmm: kernel loaders (bzImage, ELF vmlinux with PVH note, multiboot), payload
 * extraction (LZ4, gzip, zstd), the zero page, PVH start info, E820, the kernel command line, initrd
 * placement, MP tables, ACPI tables, and the vCPU state for entering the kernel (boot GDT, identity
 * page tables, registers). It writes into guest memory and computes register values; it never runs a
 * guest. Portable: no Node module, no Node global.
 *
 * @packageDocumentation
 */

export {
  type AcpiDescription,
  type AcpiTables,
  buildAcpiTables,
  type PlacedTable,
  writeAcpiTables,
} from './acpi/acpi.js';
export { Aml, type AmlBytes, type InterruptFlags } from './acpi/aml.js';
export { buildDsdt, type DsdtOptions, type SerialPort, type VirtioMmioDevice } from './acpi/dsdt.js';
export { type AcpiOem, SDT_HEADER_SIZE, sdt } from './acpi/sdt.js';
export {
  type AcpiRegister,
  buildFadt,
  buildMadt,
  buildRsdp,
  buildXsdt,
  FADT_SIZE,
  FadtFlags,
  type FadtOptions,
  IapcBootArch,
  type MadtOptions,
  RSDP_SIZE,
} from './acpi/tables.js';
export { type BootEntry, type LinuxBoot, type LinuxBootOptions, setupLinuxBoot } from './boot-setup.js';
export {
  bootFpu,
  bootMsrs,
  bootRegs,
  bootSregs,
  type EntryMode,
  MSR,
  wireLapicLints,
} from './boot-state/cpu.js';
export type { EntryLayout } from './boot-state/entry-layout.js';
export {
  BOOT_GDT,
  bootSegment,
  CODE32_SELECTOR,
  CODE64_SELECTOR,
  DATA_SELECTOR,
  gdtEntry,
  segmentFromEntry,
  TSS_SELECTOR,
  USER_CODE64_SELECTOR,
  USER_DATA_SELECTOR,
  writeGdt,
} from './boot-state/gdt.js';
export { IDENTITY_PAGE_TABLES_SIZE, translate, writeIdentityPageTables } from './boot-state/page-tables.js';
export { BZIMAGE_ENTRY64_OFFSET, type BzImageOptions, check64BitBootable, loadBzImage } from './bzimage.js';
export { Cmdline, REPEATABLE_KEYS } from './cmdline.js';
export {
  E820_MAX_ENTRIES_ZEROPAGE,
  type E820Entry,
  type E820Options,
  E820Type,
  EBDA_START,
  e820ForMemory,
  HIGH_MEMORY_START,
  validateE820,
} from './e820.js';
export {
  type ElfImage,
  type ElfOptions,
  type ElfProgramHeader,
  EM_386,
  EM_X86_64,
  findPvhEntry,
  loadElf,
  PT_LOAD,
  PT_NOTE,
  parseElf,
  XEN_ELFNOTE_PHYS32_ENTRY,
} from './elf.js';
export { LoaderError, type LoaderErrorKind } from './errors.js';
export type { GuestRange } from './guest-range.js';
export { type InitrdPlacement, placeInitrd } from './initrd.js';
export type {
  BzImageLoad,
  ElfLoad,
  KernelFormat,
  KernelLoad,
  KernelLoadBase,
  LoadedSegment,
  MultibootLoad,
} from './kernel-load.js';
export { type BootDataItem, type BootDataObstacle, BootLayout, placeBootData } from './layout.js';
export { detectFormat, type LoadOptions, load } from './load.js';
export {
  APIC_DEFAULT_PHYS_BASE,
  buildMpTable,
  IO_APIC_DEFAULT_PHYS_BASE,
  type MpTableOptions,
  mpTableSize,
  writeMpTable,
} from './mptable.js';
export {
  findMultibootHeader,
  loadMultiboot,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  MULTIBOOT_INFO_SIZE,
  type MultibootHeader,
  MultibootHeaderFlags,
  type MultibootModule,
  type MultibootOptions,
  multibootInfoSize,
  multibootKernelRanges,
} from './multiboot.js';
export {
  bzImagePayload,
  decompressPayload,
  detectCompression,
  type ExtractOptions,
  extractVmlinux,
  type PayloadCompression,
} from './payload.js';
export {
  HVM_MEMMAP_ENTRY_SIZE,
  HVM_MODLIST_ENTRY_SIZE,
  HVM_START_INFO_SIZE,
  type PvhModule,
  type PvhStartInfoLayout,
  type PvhStartInfoOptions,
  writePvhStartInfo,
  XEN_HVM_START_MAGIC_VALUE,
} from './pvh.js';
export {
  kernelVersionString,
  LoadFlags,
  parseSetupHeader,
  SETUP_HEADER_END,
  SETUP_HEADER_MAGIC,
  SETUP_HEADER_OFFSET,
  type SetupHeader,
  setupHeaderBytes,
  XLoadFlags,
} from './setup-header.js';
export {
  BootParamsOffset,
  buildZeroPage,
  writeZeroPage,
  ZERO_PAGE_SIZE,
  type ZeroPageOptions,
} from './zero-page.js';
