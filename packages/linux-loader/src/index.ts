/**
 * Linux boot for ts-vmm: kernel loaders (bzImage, ELF vmlinux with PVH note, multiboot), payload
 * extraction (LZ4, gzip, zstd), the zero page, PVH start info, E820, the kernel command line, initrd
 * placement, MP tables and ACPI tables. It writes into guest memory; it never runs a guest.
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
export { AcpiError, type AcpiErrorKind } from './acpi/acpi-error.js';
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
export { BootDataError, type BootDataErrorKind } from './boot-data-error.js';
export { type BootEntry, type LinuxBoot, type LinuxBootOptions, setupLinuxBoot } from './boot-setup.js';
export { BZIMAGE_ENTRY64_OFFSET, type BzImageOptions, check64BitBootable, loadBzImage } from './bzimage.js';
export { byteSum, fixChecksum } from './checksum.js';
export { Cmdline, CmdlineError, type CmdlineErrorKind, REPEATABLE_KEYS } from './cmdline.js';
export { DecompressError, type DecompressErrorKind } from './decompress-error.js';
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
export { type GuestRange, guestRangeProblem, rangesOverlap } from './guest-range.js';
export { InitrdError, type InitrdErrorKind, type InitrdPlacement, placeInitrd } from './initrd.js';
export type {
  BzImageLoad,
  ElfLoad,
  KernelFormat,
  KernelLoad,
  KernelLoadBase,
  LoadedSegment,
  MultibootLoad,
} from './kernel-load.js';
export { BootLayout } from './layout.js';
export { detectFormat, type LoadOptions, load } from './load.js';
export { LoaderError, type LoaderErrorKind } from './loader-error.js';
export {
  decodeLz4Block,
  decompressLz4Legacy,
  LZ4_LEGACY_BLOCK_SIZE,
  LZ4_LEGACY_MAGIC,
  type Lz4Options,
} from './lz4.js';
export {
  APIC_DEFAULT_PHYS_BASE,
  buildMpTable,
  IO_APIC_DEFAULT_PHYS_BASE,
  MpTableError,
  type MpTableErrorKind,
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
  protocol,
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
