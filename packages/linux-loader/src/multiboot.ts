import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import type { E820Entry } from './e820.js';
import { EM_386, loadElf, PT_LOAD, parseElf } from './elf.js';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import { ImageReader } from './image-reader.js';
import type { MultibootLoad } from './kernel-load.js';

/**
 * Multiboot v1 header magic (in the image).
 * @example findMultibootHeader(image)?.offset; // where MULTIBOOT_HEADER_MAGIC was found
 */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/**
 * EAX at entry (to the kernel).
 * @example const eax = BigInt(MULTIBOOT_BOOTLOADER_MAGIC); // RAX at the multiboot entry
 */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie, 4-byte aligned, in the first 8 KiB. */
export const MULTIBOOT_SEARCH = 8192;

/**
 * Multiboot header flag bits.
 * @example (findMultibootHeader(image)?.flags ?? 0) & MultibootHeaderFlags.AOUT_KLUDGE;
 */
export const MultibootHeaderFlags = {
  PAGE_ALIGN: 1 << 0,
  MEMORY_INFO: 1 << 1,
  VIDEO_MODE: 1 << 2,
  AOUT_KLUDGE: 1 << 16,
} as const;

/**
 * A parsed multiboot v1 header.
 * @example const h: MultibootHeader | undefined = findMultibootHeader(image); // h?.address?.entryAddr
 */
export interface MultibootHeader {
  /** Offset of the header in the image. */
  offset: number;
  flags: number;
  /** Address fields (flag bit 16). */
  address?: {
    headerAddr: number;
    loadAddr: number;
    loadEndAddr: number;
    bssEndAddr: number;
    entryAddr: number;
  };
}

/**
 * Finds and validates the multiboot v1 header: magic 0x1BADB002 at a 4-byte aligned offset in the
 * first 8 KiB, with `magic + flags + checksum ≡ 0 (mod 2^32)`. Returns `undefined` when there is no
 * magic; throws {@link LoaderError} when a header is present but invalid.
 *
 * @example
 * ```ts
 * findMultibootHeader(image)?.flags;
 * ```
 */
export function findMultibootHeader(image: Uint8Array): MultibootHeader | undefined {
  const r = new ImageReader(image, 'multiboot');
  const limit = Math.min(MULTIBOOT_SEARCH, image.length) - 12;
  for (let o = 0; o <= limit; o += 4) {
    if (r.u32(o, 'magic') !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = r.u32(o + 4, 'flags');
    const checksum = r.u32(o + 8, 'checksum');
    if ((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0 !== 0) {
      throw new LoaderError(
        'bad-image',
        `multiboot: header at ${hex(o)} has checksum ${hex(checksum)}; magic+flags+checksum must be 0 mod 2^32`,
      );
    }
    const unknownRequired = flags & 0xfff8; // bits 0-15 are mandatory; 0-2 are known
    if (unknownRequired) {
      throw new LoaderError(
        'unsupported',
        `multiboot: header requires unknown features ${hex(unknownRequired)}`,
      );
    }
    const h: MultibootHeader = { offset: o, flags };
    if (flags & MultibootHeaderFlags.AOUT_KLUDGE) {
      h.address = {
        headerAddr: r.u32(o + 12, 'header_addr'),
        loadAddr: r.u32(o + 16, 'load_addr'),
        loadEndAddr: r.u32(o + 20, 'load_end_addr'),
        bssEndAddr: r.u32(o + 24, 'bss_end_addr'),
        entryAddr: r.u32(o + 28, 'entry_addr'),
      };
    }
    return h;
  }
  return undefined;
}

/**
 * A boot module (such as an initrd) already placed in guest memory.
 * @example const initrdModule: MultibootModule = { start: 0x4000000, end: 0x4100000 };
 */
export interface MultibootModule {
  start: number;
  end: number;
  /** Guest address of the module's command line (NUL-terminated), 0 for none. */
  cmdline?: number;
}

/**
 * Options for {@link loadMultiboot}.
 * @example loadMultiboot(image, mem, { e820: e820ForMemory(mem), cmdlineAddress: 0x20000 } satisfies MultibootOptions);
 */
export interface MultibootOptions {
  /** Memory map for the info structure (its first RAM entries also give mem_lower / mem_upper). */
  e820: readonly E820Entry[];
  /** Guest address of the NUL-terminated command line, already written. */
  cmdlineAddress?: number;
  /** Where to write the info structure, the memory map and the module list. Default 0x9000. */
  infoAddress?: number;
  /** Modules already placed in guest memory. */
  modules?: readonly MultibootModule[];
  /** `boot_loader_name` (flag bit 9), written NUL-terminated after the module list. */
  bootLoaderName?: string;
}

/**
 * The bytes {@link loadMultiboot} writes at `infoAddress` for these options: the info structure,
 * the memory map, the module list and the boot loader name.
 * @example multibootInfoSize({ e820: e820ForMemory(mem) }); // 0x58 + 24 per E820 entry
 */
export function multibootInfoSize(
  options: Pick<MultibootOptions, 'e820' | 'modules' | 'bootLoaderName'>,
): number {
  const name =
    options.bootLoaderName === undefined ? 0 : new TextEncoder().encode(options.bootLoaderName).length + 1;
  return MULTIBOOT_INFO_SIZE + options.e820.length * 24 + (options.modules?.length ?? 0) * 16 + name;
}

/**
 * The guest ranges a multiboot kernel will occupy, `[start, end)` (its ELF32 PT_LOAD segments, or
 * `load_addr` to `bss_end_addr` of the address fields), found without writing anything: choose
 * where boot data goes around them before {@link loadMultiboot}. Throws {@link LoaderError} when
 * the image has no valid multiboot header.
 * @example multibootKernelRanges(image); // [{ start: 0x100000, end: 0x103000 }]
 */
export function multibootKernelRanges(image: Uint8Array): { start: number; end: number }[] {
  const h = findMultibootHeader(image);
  if (!h) throw new LoaderError('bad-image', 'multiboot: no 0x1BADB002 header in the first 8 KiB');
  return plannedRanges(image, h);
}

function plannedRanges(image: Uint8Array, h: MultibootHeader): { start: number; end: number }[] {
  if (h.address) {
    const a = h.address;
    const fileStart = h.offset - (a.headerAddr - a.loadAddr);
    const loadEnd = a.loadEndAddr === 0 ? a.loadAddr + (image.length - fileStart) : a.loadEndAddr;
    return [{ start: a.loadAddr, end: Math.max(a.bssEndAddr, loadEnd, a.loadAddr + 1) }];
  }
  return parseElf(image)
    .programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0)
    .map((p) => ({ start: p.paddr, end: p.paddr + p.memsz }));
}

/**
 * Size of the multiboot info structure this loader writes (up to `boot_loader_name`).
 * @example loadMultiboot(image, mem, o).ebx + MULTIBOOT_INFO_SIZE; // where the memory map starts
 */
export const MULTIBOOT_INFO_SIZE = 0x58;

/**
 * Loads a multiboot v1 kernel (ELF32, or any image with the address fields of flag bit 16) and writes
 * the multiboot information structure (memory sizes, memory map, command line, modules). Validates all
 * ranges before writing anything.
 *
 * @example
 * ```ts
 * const k = loadMultiboot(image, mem, { e820: e820ForMemory(mem), cmdlineAddress: 0x20000 });
 * // enter k.entry in 32-bit protected mode with EAX = k.eax, EBX = k.ebx
 * ```
 */
export function loadMultiboot(
  image: Uint8Array,
  memory: GuestMemoryAccess,
  options: MultibootOptions,
): MultibootLoad {
  const h = findMultibootHeader(image);
  if (!h) throw new LoaderError('bad-image', 'multiboot: no 0x1BADB002 header in the first 8 KiB');
  const info = options.infoAddress ?? 0x9000;
  const modules = options.modules ?? [];
  const e820 = options.e820;
  const mmapAddr = info + MULTIBOOT_INFO_SIZE;
  const mmapLen = e820.length * 24;
  const modsAddr = mmapAddr + mmapLen;
  const nameBytes =
    options.bootLoaderName === undefined
      ? undefined
      : new TextEncoder().encode(`${options.bootLoaderName}\0`);
  const nameAddr = modsAddr + modules.length * 16;
  const infoEnd = nameAddr + (nameBytes?.length ?? 0);
  if (infoEnd > 2 ** 32)
    throw new LoaderError('no-space', `multiboot: info structure at ${hex(info)} must lie below 4 GiB`);
  const infoWhy = guestRangeProblem(memory, info, infoEnd - info);
  if (infoWhy) throw new LoaderError('no-space', `multiboot: info structure: ${infoWhy}`);

  // Where the kernel will go, checked against the info structure before anything is written.
  const planned = plannedRanges(image, h);
  const infoRange = { start: info, end: infoEnd };
  for (const w of planned) {
    if (w.start < infoRange.end && infoRange.start < w.end) {
      throw new LoaderError(
        'no-space',
        `multiboot: info structure [${hex(info)}, ${hex(infoEnd)}) overlaps the kernel at [${hex(w.start)}, ${hex(w.end)})`,
      );
    }
  }
  const load = h.address
    ? loadAout(image, memory, h)
    : loadElf(image, memory, { machines: [EM_386], classes: [32] });

  // mem_lower: RAM from 0 (KiB, < 640); mem_upper: RAM from 1 MiB up to the first hole (KiB).
  const ram = e820.filter((e) => e.type === 1);
  const low = ram.find((e) => e.addr === 0);
  const high = ram.find((e) => e.addr <= 0x100000 && e.addr + e.size > 0x100000);
  const memLower = low ? Math.min(low.size, 0xa0000) >>> 10 : 0;
  const memUpper = high ? Math.min(high.addr + high.size - 0x100000, 2 ** 32 - 0x100000) >>> 10 : 0;
  let flags = 0x1 | 0x40; // mem_*, mmap
  const buf = new Uint8Array(infoEnd - info);
  const v = new DataView(buf.buffer);
  v.setUint32(4, memLower, true);
  v.setUint32(8, memUpper, true);
  if (options.cmdlineAddress !== undefined) {
    flags |= 0x4;
    v.setUint32(16, options.cmdlineAddress, true);
  }
  if (modules.length > 0) {
    flags |= 0x8;
    v.setUint32(20, modules.length, true);
    v.setUint32(24, modsAddr, true);
  }
  if (nameBytes) {
    flags |= 0x200;
    v.setUint32(64, nameAddr, true);
    buf.set(nameBytes, nameAddr - info);
  }
  v.setUint32(44, mmapLen, true);
  v.setUint32(48, mmapAddr, true);
  v.setUint32(0, flags, true);
  e820.forEach((e, i) => {
    const o = MULTIBOOT_INFO_SIZE + i * 24;
    v.setUint32(o, 20, true);
    v.setBigUint64(o + 4, BigInt(e.addr), true);
    v.setBigUint64(o + 12, BigInt(e.size), true);
    v.setUint32(o + 20, e.type, true);
  });
  modules.forEach((m, i) => {
    const o = modsAddr - info + i * 16;
    v.setUint32(o, m.start, true);
    v.setUint32(o + 4, m.end, true);
    v.setUint32(o + 8, m.cmdline ?? 0, true);
  });
  memory.writeBytes(info, buf);
  return {
    format: 'multiboot',
    kernelLoad: load.kernelLoad,
    kernelEnd: load.kernelEnd,
    entry: load.entry,
    written: [...load.written, infoRange],
    eax: MULTIBOOT_BOOTLOADER_MAGIC,
    ebx: info,
    infoAddress: info,
  };
}

function loadAout(image: Uint8Array, memory: GuestMemoryAccess, h: MultibootHeader) {
  const a = h.address!;
  const r = new ImageReader(image, 'multiboot');
  if (a.headerAddr < a.loadAddr || a.headerAddr - a.loadAddr > h.offset) {
    throw new LoaderError(
      'bad-image',
      `multiboot: header_addr ${hex(a.headerAddr)} and load_addr ${hex(a.loadAddr)} do not match the header's file offset ${hex(h.offset)}`,
    );
  }
  const fileStart = h.offset - (a.headerAddr - a.loadAddr);
  const loadEnd = a.loadEndAddr === 0 ? a.loadAddr + (image.length - fileStart) : a.loadEndAddr;
  if (loadEnd < a.loadAddr)
    throw new LoaderError('bad-image', `multiboot: load_end_addr ${hex(loadEnd)} is below load_addr`);
  const fileLen = loadEnd - a.loadAddr;
  r.need(fileStart, fileLen, `kernel bytes [load_addr ${hex(a.loadAddr)}, load_end_addr ${hex(loadEnd)})`);
  const end = a.bssEndAddr === 0 ? loadEnd : a.bssEndAddr;
  if (end < loadEnd)
    throw new LoaderError(
      'bad-image',
      `multiboot: bss_end_addr ${hex(end)} is below load_end_addr ${hex(loadEnd)}`,
    );
  if (a.entryAddr < a.loadAddr || a.entryAddr >= end) {
    throw new LoaderError(
      'bad-image',
      `multiboot: entry_addr ${hex(a.entryAddr)} lies outside the loaded image`,
    );
  }
  const why = guestRangeProblem(memory, a.loadAddr, end - a.loadAddr);
  if (why) throw new LoaderError('no-space', `multiboot: kernel: ${why}`);
  memory.writeBytes(a.loadAddr, image.subarray(fileStart, fileStart + fileLen));
  if (end > loadEnd) memory.fill(loadEnd, end - loadEnd, 0);
  return {
    kernelLoad: a.loadAddr,
    kernelEnd: end,
    entry: a.entryAddr,
    written: [{ start: a.loadAddr, end }],
  };
}
