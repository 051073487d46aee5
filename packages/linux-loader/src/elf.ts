import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { LoaderError } from './errors.js';
import { guestRangeProblem } from './guest-range.js';
import { hex } from './hex.js';
import { ImageReader } from './image-reader.js';
import type { ElfLoad, LoadedSegment } from './kernel-load.js';

/**
 * ELF program header types used here.
 * @example parseElf(vmlinux).programHeaders.filter((p) => p.type === PT_LOAD);
 */
export const PT_LOAD = 1;
/**
 * ELF program header type of a note segment.
 * @example parseElf(vmlinux).programHeaders.filter((p) => p.type === PT_NOTE);
 */
export const PT_NOTE = 4;
/**
 * `EM_X86_64` and `EM_386`.
 * @example parseElf(vmlinux).machine === EM_X86_64; // true for a 64-bit vmlinux
 */
export const EM_X86_64 = 0x3e;
/**
 * `EM_386`: i386, the machine of multiboot ELF32 kernels.
 * @example loadElf(image, mem, { machines: [EM_386], classes: [32] });
 */
export const EM_386 = 0x03;
/**
 * The Xen note that gives a kernel's 32-bit PVH entry point.
 * @example findPvhEntry(vmlinux); // the value of the kernel's XEN_ELFNOTE_PHYS32_ENTRY note
 */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/**
 * One program header.
 * @example const loads: ElfProgramHeader[] = parseElf(vmlinux).programHeaders.filter((p) => p.type === PT_LOAD);
 */
export interface ElfProgramHeader {
  type: number;
  flags: number;
  offset: number;
  /** Virtual address (a bigint: kernels link near 2^64). */
  vaddr: bigint;
  paddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

/**
 * A parsed ELF header and program headers, every range checked against the image.
 * @example const elf: ElfImage = parseElf(vmlinux); // elf.elfClass === 64
 */
export interface ElfImage {
  elfClass: 32 | 64;
  machine: number;
  type: number;
  /** e_entry (a bigint: it may be a virtual address near 2^64). */
  entry: bigint;
  programHeaders: ElfProgramHeader[];
}

/**
 * Parses an ELF32 or ELF64 little-endian executable: header, program headers, and checks that each
 * PT_LOAD and PT_NOTE segment's file bytes lie inside the image. Throws {@link LoaderError}.
 *
 * @example
 * ```ts
 * const elf = parseElf(fs.readFileSync('vmlinux'));
 * elf.programHeaders.filter((p) => p.type === PT_LOAD).length;
 * ```
 */
export function parseElf(image: Uint8Array): ElfImage {
  const r = new ImageReader(image, 'ELF');
  if (image.length < 16 || r.u32(0, 'e_ident') !== 0x464c457f) {
    throw new LoaderError('bad-image', 'ELF: no \\x7fELF magic at offset 0');
  }
  const cls = r.u8(4, 'EI_CLASS');
  if (cls !== 1 && cls !== 2)
    throw new LoaderError('bad-image', `ELF: EI_CLASS ${cls} is neither 1 (32) nor 2 (64)`);
  const data = r.u8(5, 'EI_DATA');
  if (data !== 1)
    throw new LoaderError('unsupported', `ELF: EI_DATA ${data}: only little-endian images are supported`);
  const is64 = cls === 2;
  const type = r.u16(16, 'e_type');
  const machine = r.u16(18, 'e_machine');
  if (type !== 2 && type !== 3) {
    throw new LoaderError('unsupported', `ELF: e_type ${type} is not an executable (2) or shared object (3)`);
  }
  const entry = is64 ? big64(r, 24, 'e_entry') : BigInt(r.u32(24, 'e_entry'));
  const phoff = is64 ? r.u64(32, 'e_phoff') : r.u32(28, 'e_phoff');
  const phentsize = r.u16(is64 ? 54 : 42, 'e_phentsize');
  const phnum = r.u16(is64 ? 56 : 44, 'e_phnum');
  const want = is64 ? 56 : 32;
  if (phentsize !== want) {
    throw new LoaderError(
      'bad-image',
      `ELF: e_phentsize ${phentsize}, expected ${want} for ELF${is64 ? 64 : 32}`,
    );
  }
  if (phnum === 0) throw new LoaderError('bad-image', 'ELF: no program headers (e_phnum = 0)');
  r.need(phoff, phnum * phentsize, `${phnum} program headers at e_phoff ${hex(phoff)}`);
  const programHeaders: ElfProgramHeader[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const p: ElfProgramHeader = is64
      ? {
          type: r.u32(o, 'p_type'),
          flags: r.u32(o + 4, 'p_flags'),
          offset: r.u64(o + 8, 'p_offset'),
          vaddr: big64(r, o + 16, 'p_vaddr'),
          paddr: r.u64(o + 24, `program header ${i} p_paddr`),
          filesz: r.u64(o + 32, `program header ${i} p_filesz`),
          memsz: r.u64(o + 40, `program header ${i} p_memsz`),
          align: Number(big64(r, o + 48, 'p_align')),
        }
      : {
          type: r.u32(o, 'p_type'),
          offset: r.u32(o + 4, 'p_offset'),
          vaddr: BigInt(r.u32(o + 8, 'p_vaddr')),
          paddr: r.u32(o + 12, 'p_paddr'),
          filesz: r.u32(o + 16, 'p_filesz'),
          memsz: r.u32(o + 20, 'p_memsz'),
          flags: r.u32(o + 24, 'p_flags'),
          align: r.u32(o + 28, 'p_align'),
        };
    if (p.type === PT_LOAD || p.type === PT_NOTE) {
      r.need(
        p.offset,
        p.filesz,
        `program header ${i} file bytes [p_offset ${hex(p.offset)}, +${hex(p.filesz)})`,
      );
    }
    if (p.type === PT_LOAD && p.filesz > p.memsz) {
      throw new LoaderError(
        'bad-image',
        `ELF: program header ${i} has p_filesz ${hex(p.filesz)} larger than p_memsz ${hex(p.memsz)}`,
      );
    }
    programHeaders.push(p);
  }
  return { elfClass: is64 ? 64 : 32, machine, type, entry, programHeaders };
}

function big64(r: ImageReader, o: number, field: string): bigint {
  r.need(o, 8, field);
  return new DataView(r.bytes.buffer, r.bytes.byteOffset + o, 8).getBigUint64(0, true);
}

/**
 * Finds the PVH entry point (Xen note XEN_ELFNOTE_PHYS32_ENTRY, a 4- or 8-byte physical address) in
 * the image's PT_NOTE segments. Returns `undefined` when there is none; throws on a malformed note.
 *
 * @example
 * ```ts
 * const pvh = findPvhEntry(vmlinux, parseElf(vmlinux)); // e.g. 0x1000000 + offset of pvh_start_xen
 * ```
 */
export function findPvhEntry(image: Uint8Array, elf: ElfImage = parseElf(image)): number | undefined {
  const r = new ImageReader(image, 'ELF note');
  for (const p of elf.programHeaders) {
    if (p.type !== PT_NOTE) continue;
    let o = p.offset;
    const end = p.offset + p.filesz;
    while (o + 12 <= end) {
      const namesz = r.u32(o, 'n_namesz');
      const descsz = r.u32(o + 4, 'n_descsz');
      const ntype = r.u32(o + 8, 'n_type');
      const nameOff = o + 12;
      const descOff = nameOff + align4(namesz);
      const next = descOff + align4(descsz);
      if (next > end) {
        throw new LoaderError(
          'bad-image',
          `ELF: note at ${hex(o)} (namesz ${namesz}, descsz ${descsz}) runs past its PT_NOTE segment end ${hex(end)}`,
        );
      }
      const name = new TextDecoder('latin1')
        .decode(image.subarray(nameOff, nameOff + namesz))
        .replace(/\0+$/, '');
      if (name === 'Xen' && ntype === XEN_ELFNOTE_PHYS32_ENTRY) {
        if (descsz === 4) return r.u32(descOff, 'PVH entry');
        if (descsz === 8) return r.u64(descOff, 'PVH entry');
        throw new LoaderError(
          'bad-image',
          `ELF: XEN_ELFNOTE_PHYS32_ENTRY has a ${descsz}-byte value (want 4 or 8)`,
        );
      }
      o = next;
    }
  }
  return undefined;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/**
 * Options for {@link loadElf}.
 * @example loadElf(vmlinux, mem, { loadOffset: 0x200000 } satisfies ElfOptions);
 */
export interface ElfOptions {
  /** Added to every physical address (segments, entry, PVH entry). Default 0. */
  loadOffset?: number;
  /** Accepted e_machine values. Default: x86-64 only. */
  machines?: readonly number[];
  /** Accepted ELF classes. Default: 64 only. */
  classes?: readonly (32 | 64)[];
}

/**
 * Loads an ELF vmlinux: every PT_LOAD segment at its physical address (plus `loadOffset`), the bss
 * zeroed, and reports the entry and the PVH entry note. All segments are validated against the image
 * and guest memory before the first write, so a failed load writes nothing.
 *
 * @example
 * ```ts
 * const k = loadElf(vmlinux, mem);
 * if (k.pvhBootCapable) startPvh(k.pvhEntry!); else start64(k.entry);
 * ```
 */
export function loadElf(image: Uint8Array, memory: GuestMemoryAccess, options: ElfOptions = {}): ElfLoad {
  const elf = parseElf(image);
  const machines = options.machines ?? [EM_X86_64];
  const classes = options.classes ?? [64];
  if (!classes.includes(elf.elfClass)) {
    throw new LoaderError(
      'unsupported',
      `ELF: ELF${elf.elfClass} images are not accepted here (want ELF${classes.join('/')})`,
    );
  }
  if (!machines.includes(elf.machine)) {
    throw new LoaderError(
      'unsupported',
      `ELF: e_machine ${hex(elf.machine)} is not ${machines.map(hex).join(' or ')}`,
    );
  }
  const off = options.loadOffset ?? 0;
  if (!Number.isSafeInteger(off) || off < 0)
    throw new LoaderError('invalid-argument', `ELF: load offset ${off} is invalid`);
  const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0);
  if (loads.length === 0) throw new LoaderError('bad-image', 'ELF: no PT_LOAD segment with memory');
  for (const p of loads) {
    const why = guestRangeProblem(memory, p.paddr + off, p.memsz);
    if (why) {
      throw new LoaderError(
        'no-space',
        `ELF: segment at p_paddr ${hex(p.paddr)} (${hex(p.memsz)} bytes): ${why}`,
      );
    }
  }
  const pvh = findPvhEntry(image, elf);
  const entry = physicalEntry(elf, loads);
  const segments: LoadedSegment[] = [];
  for (const p of loads) {
    const a = p.paddr + off;
    memory.writeBytes(a, image.subarray(p.offset, p.offset + p.filesz));
    if (p.memsz > p.filesz) memory.fill(a + p.filesz, p.memsz - p.filesz, 0);
    segments.push({ address: a, fileSize: p.filesz, memSize: p.memsz });
  }
  const kernelLoad = Math.min(...segments.map((s) => s.address));
  const kernelEnd = Math.max(...segments.map((s) => s.address + s.memSize));
  return {
    format: 'elf',
    elfClass: elf.elfClass,
    kernelLoad,
    kernelEnd,
    entry: entry + off,
    segments,
    written: segments.map((s) => ({ start: s.address, end: s.address + s.memSize })),
    pvhEntry: pvh === undefined ? undefined : pvh + off,
    pvhBootCapable: pvh !== undefined,
  };
}

/** e_entry as a physical address: as is when inside a segment's physical range, else translated from virtual. */
function physicalEntry(elf: ElfImage, loads: ElfProgramHeader[]): number {
  const e = elf.entry;
  for (const p of loads) if (e >= BigInt(p.paddr) && e < BigInt(p.paddr + p.memsz)) return Number(e);
  for (const p of loads) {
    if (e >= p.vaddr && e < p.vaddr + BigInt(p.memsz)) return Number(e - p.vaddr) + p.paddr;
  }
  throw new LoaderError('bad-image', `ELF: e_entry ${hex(e)} lies in no PT_LOAD segment`);
}
