import type { SetupHeader } from './setup-header.js';

/**
 * The kernel image formats the loaders understand.
 * @example const f: KernelFormat = detectFormat(image); // 'bzimage', 'elf' or 'multiboot'
 */
export type KernelFormat = 'bzimage' | 'elf' | 'multiboot';

/**
 * What every loader reports: where the kernel went and where to start it.
 * @example const k: KernelLoadBase = load(image, mem); // k.written: the guest ranges the load wrote
 */
export interface KernelLoadBase {
  format: KernelFormat;
  /** Lowest guest physical address the kernel occupies. */
  kernelLoad: number;
  /** One past the highest guest address the kernel needs (loaded bytes, bss, or `init_size`). */
  kernelEnd: number;
  /** Where to start the vCPU (see the format's result type for the CPU mode). */
  entry: number;
  /** Guest ranges this load wrote, `[start, end)`. */
  written: { start: number; end: number }[];
}

/**
 * Result of {@link loadBzImage}: the protected-mode kernel is in memory; enter it in 64-bit mode
 * at `entry` (= `kernelLoad + 0x200`) with RSI pointing at a zero page that holds `setupHeaderBytes`
 * at 0x1f1.
 * @example const k: BzImageLoad = loadBzImage(image, mem); // k.setupHeaderBytes go to the zero page
 */
export interface BzImageLoad extends KernelLoadBase {
  format: 'bzimage';
  /** The 32-bit protected-mode entry (`kernelLoad`). */
  entry32: number;
  setupHeader: SetupHeader;
  /** Image bytes 0x1f1 up to the end of the setup header, for the zero page. */
  setupHeaderBytes: Uint8Array;
}

/**
 * One PT_LOAD segment as loaded.
 * @example const segs: LoadedSegment[] = loadElf(vmlinux, mem).segments;
 */
export interface LoadedSegment {
  /** Guest physical address (p_paddr plus any load offset). */
  address: number;
  fileSize: number;
  memSize: number;
}

/**
 * Result of {@link loadElf}: the PT_LOAD segments are at their physical addresses. Enter at `entry` in
 * 64-bit mode (Linux boot protocol with a zero page), or at `pvhEntry` in 32-bit protected mode
 * with EBX pointing at an `hvm_start_info` (PVH) when `pvhBootCapable`.
 * @example const k: ElfLoad = loadElf(vmlinux, mem); // k.pvhEntry when k.pvhBootCapable
 */
export interface ElfLoad extends KernelLoadBase {
  format: 'elf';
  /** 32 or 64 (ELF class). */
  elfClass: 32 | 64;
  segments: LoadedSegment[];
  /** XEN_ELFNOTE_PHYS32_ENTRY, when the image has one. */
  pvhEntry?: number;
  pvhBootCapable: boolean;
}

/**
 * Result of {@link loadMultiboot}: enter at `entry` in 32-bit protected mode (flat segments, paging off)
 * with EAX = `eax` (0x2BADB002) and EBX = `ebx` (the multiboot information structure).
 * @example const k: MultibootLoad = loadMultiboot(image, mem, { e820: e820ForMemory(mem) }); // k.eax === 0x2badb002
 */
export interface MultibootLoad extends KernelLoadBase {
  format: 'multiboot';
  eax: number;
  ebx: number;
  /** Guest address of the multiboot information structure (same as `ebx`). */
  infoAddress: number;
}

/**
 * The result of {@link load}.
 * @example const k: KernelLoad = load(image, mem); // narrow on k.format
 */
export type KernelLoad = BzImageLoad | ElfLoad | MultibootLoad;
