/**
 * Builders of small synthetic kernel images for tests: a bzImage, an ELF64 (or ELF32) vmlinux with a
 * PVH note, and multiboot headers, plus byte helpers. Plain TypeScript, no Node module.
 *
 * @module
 */

/**
 * A minimal bzImage: `setupSects` sectors of setup, a header for protocol `version` (default 2.15,
 * relocatable, 64-bit, `pref_address` 16 MiB), `kernel` bytes after; with `payload`, that payload at
 * `payload_offset` 0x100.
 * @example makeBzImage(pseudoRandom(0x1000), { version: 0x20c, prefAddress: 0x200000 })
 */
export function makeBzImage(
  kernel: Uint8Array,
  o: {
    version?: number;
    setupSects?: number;
    initSize?: number;
    prefAddress?: number;
    payload?: Uint8Array;
  } = {},
): Uint8Array {
  const setupSects = o.setupSects || 4;
  const kernelOffset = (setupSects + 1) * 512;
  const body = o.payload ? concat(new Uint8Array(0x100), o.payload, kernel) : kernel;
  const img = new Uint8Array(kernelOffset + body.length);
  const v = new DataView(img.buffer);
  img[0x1f1] = o.setupSects === 0 ? 0 : setupSects;
  v.setUint32(0x1f4, Math.ceil(body.length / 16), true);
  v.setUint16(0x1fa, 0xffff, true);
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a; // header ends at 0x26c
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, o.version ?? 0x20f, true);
  img[0x211] = 0x01; // LOADED_HIGH
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x200000, true);
  img[0x234] = 1;
  img[0x235] = 21;
  v.setUint16(0x236, 0x7f, true);
  v.setUint32(0x238, 2047, true);
  if (o.payload) {
    v.setUint32(0x248, 0x100, true);
    v.setUint32(0x24c, o.payload.length, true);
  }
  v.setBigUint64(0x258, BigInt(o.prefAddress ?? 0x1000000), true);
  v.setUint32(0x260, o.initSize ?? Math.max(body.length, 0x10000), true);
  img.set(body, kernelOffset);
  return img;
}

/**
 * A PT_LOAD segment for {@link makeElf}: file bytes `data` at `paddr` (`vaddr` defaults to it).
 * @example makeElf([{ paddr: 0x1000000, data: new Uint8Array(16), memsz: 0x1000 } satisfies TestSegment], { entry: 0x1000000 });
 */
export interface TestSegment {
  paddr: number;
  vaddr?: bigint;
  data: Uint8Array;
  memsz?: number;
}

/**
 * An ELF64 (x86-64) or ELF32 (i386) executable with PT_LOAD segments and an optional Xen PVH note.
 * @example makeElf([{ paddr: 0x1000000, data: pseudoRandom(0x2000) }], { entry: 0x1000000, pvhEntry: 0x1000040 })
 */
export function makeElf(
  segments: TestSegment[],
  o: { entry: bigint | number; pvhEntry?: number; pvhDescSize?: 4 | 8; elf32?: boolean; prefix?: Uint8Array },
): Uint8Array {
  const is64 = !o.elf32;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  const note = o.pvhEntry === undefined ? undefined : pvhNote(o.pvhEntry, o.pvhDescSize ?? 8);
  const phnum = segments.length + (note ? 1 : 0);
  let off = ehsize + phnum * phentsize;
  const prefixAt = off;
  off += o.prefix?.length ?? 0;
  const noteAt = off;
  off += note?.length ?? 0;
  const segOffsets = segments.map((s) => {
    const at = off;
    off += s.data.length;
    return at;
  });
  const img = new Uint8Array(off);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, 1, 1], 0);
  v.setUint16(16, 2, true);
  v.setUint16(18, is64 ? 0x3e : 0x03, true);
  v.setUint32(20, 1, true);
  if (is64) {
    v.setBigUint64(24, BigInt(o.entry), true);
    v.setBigUint64(32, BigInt(ehsize), true);
    v.setUint16(52, ehsize, true);
    v.setUint16(54, phentsize, true);
    v.setUint16(56, phnum, true);
  } else {
    v.setUint32(24, Number(o.entry), true);
    v.setUint32(28, ehsize, true);
    v.setUint16(40, ehsize, true);
    v.setUint16(42, phentsize, true);
    v.setUint16(44, phnum, true);
  }
  const ph = (
    i: number,
    type: number,
    offset: number,
    vaddr: bigint,
    paddr: number,
    filesz: number,
    memsz: number,
  ) => {
    const p = ehsize + i * phentsize;
    v.setUint32(p, type, true);
    if (is64) {
      v.setUint32(p + 4, 7, true);
      v.setBigUint64(p + 8, BigInt(offset), true);
      v.setBigUint64(p + 16, vaddr, true);
      v.setBigUint64(p + 24, BigInt(paddr), true);
      v.setBigUint64(p + 32, BigInt(filesz), true);
      v.setBigUint64(p + 40, BigInt(memsz), true);
      v.setBigUint64(p + 48, 0x1000n, true);
    } else {
      v.setUint32(p + 4, offset, true);
      v.setUint32(p + 8, Number(vaddr), true);
      v.setUint32(p + 12, paddr, true);
      v.setUint32(p + 16, filesz, true);
      v.setUint32(p + 20, memsz, true);
      v.setUint32(p + 24, 7, true);
      v.setUint32(p + 28, 0x1000, true);
    }
  };
  segments.forEach((s, i) => {
    ph(i, 1, segOffsets[i], s.vaddr ?? BigInt(s.paddr), s.paddr, s.data.length, s.memsz ?? s.data.length);
    img.set(s.data, segOffsets[i]);
  });
  if (note) {
    ph(segments.length, 4, noteAt, 0n, 0, note.length, note.length);
    img.set(note, noteAt);
  }
  if (o.prefix) img.set(o.prefix, prefixAt);
  return img;
}

function pvhNote(entry: number, descSize: 4 | 8): Uint8Array {
  // An unrelated note first, then XEN_ELFNOTE_PHYS32_ENTRY.
  const n = new Uint8Array(12 + 4 + 8 + 12 + 4 + descSize);
  const v = new DataView(n.buffer);
  v.setUint32(0, 4, true);
  v.setUint32(4, 6, true);
  v.setUint32(8, 6, true);
  n.set([0x58, 0x65, 0x6e, 0], 12);
  n.set([0x6c, 0x69, 0x6e, 0x75, 0x78, 0], 16);
  const o = 24;
  v.setUint32(o, 4, true);
  v.setUint32(o + 4, descSize, true);
  v.setUint32(o + 8, 18, true);
  n.set([0x58, 0x65, 0x6e, 0], o + 12);
  if (descSize === 4) v.setUint32(o + 16, entry, true);
  else v.setBigUint64(o + 16, BigInt(entry), true);
  return n;
}

/**
 * The 12-byte multiboot header (magic, flags, checksum) plus address fields when flag 16 is set.
 * @example concat(multibootHeader(0x10003, [0x100000, 0x100000, 0, 0, 0x100020]), code)
 */
export function multibootHeader(flags: number, address?: number[]): Uint8Array {
  const h = new Uint8Array(address ? 32 : 12);
  const v = new DataView(h.buffer);
  v.setUint32(0, 0x1badb002, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, (-(0x1badb002 + flags) >>> 0) >>> 0, true);
  address?.forEach((a, i) => {
    v.setUint32(12 + i * 4, a, true);
  });
  return h;
}

/** Concatenates byte arrays. @example concat(Uint8Array.of(1), Uint8Array.of(2, 3)) // [1, 2, 3] */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift). @example pseudoRandom(16, 7).length // 16 */
export function pseudoRandom(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Byte equality without vitest's per-index diffing (which exhausts the heap on megabytes).
 * @example same(Uint8Array.of(1, 2), Uint8Array.of(1, 2)) // true
 */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Text-like data that compresses well, with long runs and overlapping matches. @example lz4Legacy(compressible(1 << 20)) */
export function compressible(n: number): Uint8Array {
  const words = ['kernel ', 'virtio ', 'aaaaaaaaaaaaaaaaaaaa', '\0\0\0\0\0\0\0\0', 'ts-vmm '];
  const out = new Uint8Array(n);
  const r = pseudoRandom(n, 11);
  let i = 0;
  while (i < n) {
    const w = words[r[i] % words.length];
    for (let j = 0; j < w.length && i < n; j++) out[i++] = w.charCodeAt(j);
  }
  return out;
}
