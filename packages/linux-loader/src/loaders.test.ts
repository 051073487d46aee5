import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { loadBzImage } from './bzimage.js';
import { e820ForMemory } from './e820.js';
import { findPvhEntry, loadElf, parseElf } from './elf.js';
import { LoaderError } from './errors.js';
import { detectFormat, load } from './load.js';
import { findMultibootHeader, loadMultiboot } from './multiboot.js';
import { parseSetupHeader } from './setup-header.js';
import { concat, makeBzImage, makeElf, multibootHeader, pseudoRandom } from './testing/index.js';

const MiB = 1 << 20;
const mem = (size = 64 * MiB) => GuestMemory.createShared([{ start: 0, size }]);

function expectLoaderError(fn: () => unknown, kind: string, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoaderError);
    expect((e as LoaderError).kind).toBe(kind);
    if (re) expect((e as Error).message).toMatch(re);
    return;
  }
  throw new Error('expected a LoaderError');
}

describe('bzImage', () => {
  const kernel = pseudoRandom(0x3000, 7);

  it('parses the setup header and loads the protected-mode kernel at pref_address', () => {
    const img = makeBzImage(kernel, { initSize: 0x40000 });
    const h = parseSetupHeader(img);
    expect(h.version).toBe(0x20f);
    expect(h.setupSects).toBe(4);
    expect(h.kernelOffset).toBe(5 * 512);
    expect(h.headerEnd).toBe(0x26c);
    const m = mem();
    const k = loadBzImage(img, m);
    expect(k.kernelLoad).toBe(0x1000000);
    expect(k.entry).toBe(0x1000200);
    expect(k.entry32).toBe(0x1000000);
    expect(k.kernelEnd).toBe(0x1000000 + 0x40000);
    expect(m.readBytes(0x1000000, kernel.length)).toEqual(kernel);
    expect(k.setupHeaderBytes).toEqual(img.subarray(0x1f1, 0x26c));
    expect(detectFormat(img)).toBe('bzimage');
    expect(load(img, mem()).entry).toBe(0x1000200);
  });

  it('treats setup_sects 0 as 4', () => {
    const img = makeBzImage(kernel, { setupSects: 0 });
    expect(parseSetupHeader(img).kernelOffset).toBe(5 * 512);
  });

  it('falls back to the lowest aligned address when pref_address does not fit', () => {
    const img = makeBzImage(kernel, { initSize: 0x40000 });
    const k = loadBzImage(img, mem(8 * MiB));
    expect(k.kernelLoad).toBe(0x200000);
  });

  it('honours an explicit load address and checks its alignment', () => {
    const img = makeBzImage(kernel);
    expect(loadBzImage(img, mem(), { loadAddress: 0x400000 }).entry).toBe(0x400200);
    expectLoaderError(
      () => loadBzImage(img, mem(), { loadAddress: 0x100000 }),
      'invalid-argument',
      /kernel_alignment/,
    );
  });

  it('refuses old protocols, missing 64-bit entry, bad magic and oversize init_size', () => {
    expectLoaderError(
      () => loadBzImage(makeBzImage(kernel, { version: 0x205 }), mem()),
      'unsupported',
      /2\.05/,
    );
    const no64 = makeBzImage(kernel);
    no64[0x236] = 0;
    expectLoaderError(() => loadBzImage(no64, mem()), 'unsupported', /XLF_KERNEL_64/);
    const bad = makeBzImage(kernel);
    bad[0x202] = 0;
    expectLoaderError(() => loadBzImage(bad, mem()), 'bad-image', /HdrS/);
    const big = makeBzImage(kernel, { initSize: 128 * MiB });
    expectLoaderError(() => loadBzImage(big, mem()), 'no-space', /init_size/);
  });

  it('refuses a truncated image', () => {
    const img = makeBzImage(kernel);
    expectLoaderError(() => parseSetupHeader(img.subarray(0, 0x250)), 'bad-image');
    expectLoaderError(() => parseSetupHeader(img.subarray(0, img.length - 64)), 'bad-image', /syssize/);
  });
});

describe('ELF', () => {
  const text = pseudoRandom(0x2000, 3);
  const data = pseudoRandom(0x800, 4);
  const segments = [
    { paddr: 0x1000000, vaddr: 0xffffffff81000000n, data: text },
    { paddr: 0x1100000, vaddr: 0xffffffff81100000n, data, memsz: 0x1000 },
  ];

  it('loads PT_LOAD segments at their physical addresses, zeroes bss, finds the PVH note', () => {
    const img = makeElf(segments, { entry: 0x1000000, pvhEntry: 0x1000850 });
    const m = mem();
    m.fill(0x1100000, 0x1000, 0xee);
    const k = loadElf(img, m);
    expect(k.entry).toBe(0x1000000);
    expect(k.pvhEntry).toBe(0x1000850);
    expect(k.pvhBootCapable).toBe(true);
    expect(k.kernelLoad).toBe(0x1000000);
    expect(k.kernelEnd).toBe(0x1101000);
    expect(m.readBytes(0x1000000, text.length)).toEqual(text);
    expect(m.readBytes(0x1100000, data.length)).toEqual(data);
    expect(m.readBytes(0x1100800, 0x800).every((b) => b === 0)).toBe(true);
    expect(detectFormat(img)).toBe('elf');
  });

  it('accepts a 4-byte PVH note, translates a virtual e_entry, and reports no PVH without the note', () => {
    const img4 = makeElf(segments, { entry: 0xffffffff81000010n, pvhEntry: 0x1000123, pvhDescSize: 4 });
    const k = loadElf(img4, mem());
    expect(k.pvhEntry).toBe(0x1000123);
    expect(k.entry).toBe(0x1000010);
    const none = makeElf(segments, { entry: 0x1000000 });
    expect(findPvhEntry(none)).toBeUndefined();
    expect(loadElf(none, mem()).pvhBootCapable).toBe(false);
  });

  it('applies a load offset', () => {
    const img = makeElf(segments, { entry: 0x1000000, pvhEntry: 0x1000850 });
    const k = loadElf(img, mem(), { loadOffset: 0x200000 });
    expect(k.entry).toBe(0x1200000);
    expect(k.pvhEntry).toBe(0x1200850);
  });

  it('rejects segments outside the image or guest memory without writing anything', () => {
    const img = makeElf(segments, { entry: 0x1000000 });
    expectLoaderError(() => parseElf(img.subarray(0, img.length - 1)), 'bad-image', /program header 1/);
    const m = mem(0x1100000); // segment 1 does not fit
    expectLoaderError(() => loadElf(img, m), 'no-space', /0x1100000/);
    expect(m.readBytes(0x1000000, 16).every((b) => b === 0)).toBe(true);
    expectLoaderError(() => loadElf(makeElf(segments, { entry: 0x5000 }), mem()), 'bad-image', /e_entry/);
  });
});

describe('multiboot', () => {
  it('loads an ELF32 multiboot kernel and writes the info structure with a memory map', () => {
    const code = pseudoRandom(0x400, 9);
    const img = makeElf([{ paddr: 0x100000, data: code, memsz: 0x1000 }], {
      entry: 0x100000,
      elf32: true,
      prefix: multibootHeader(0x3),
    });
    expect(findMultibootHeader(img)?.flags).toBe(3);
    expect(detectFormat(img)).toBe('multiboot');
    const m = mem(16 * MiB);
    const e820 = e820ForMemory(m);
    const k = loadMultiboot(img, m, {
      e820,
      cmdlineAddress: 0x20000,
      modules: [{ start: 0x800000, end: 0x801000 }],
    });
    expect(k.eax).toBe(0x2badb002);
    expect(k.ebx).toBe(0x9000);
    expect(k.entry).toBe(0x100000);
    expect(m.readBytes(0x100000, code.length)).toEqual(code);
    const flags = m.read32(0x9000);
    expect(flags & 0x4f).toBe(0x4d); // mem, cmdline, mods, mmap
    expect(m.read32(0x9004)).toBe(0x9fc00 >> 10);
    expect(m.read32(0x9008)).toBe((16 * MiB - MiB) >> 10);
    expect(m.read32(0x9010)).toBe(0x20000);
    expect(m.read32(0x9014)).toBe(1);
    expect(m.read32(0x902c)).toBe(e820.length * 24);
    const mmap = m.read32(0x9030);
    expect(m.read32(mmap)).toBe(20);
    expect(m.read64(mmap + 4)).toBe(0n);
    expect(m.read64(mmap + 12)).toBe(0x9fc00n);
    expect(m.read32(mmap + 20)).toBe(1);
    const mods = m.read32(0x9018);
    expect([m.read32(mods), m.read32(mods + 4)]).toEqual([0x800000, 0x801000]);
  });

  it('loads an a.out-kludge kernel from the header address fields', () => {
    const hdr = multibootHeader(0x10000, [0x200000, 0x200000, 0, 0x204000, 0x200020]);
    const img = concat(hdr, pseudoRandom(0x1000, 5));
    const m = mem(16 * MiB);
    const k = loadMultiboot(img, m, { e820: e820ForMemory(m) });
    expect(k.entry).toBe(0x200020);
    expect(k.kernelEnd).toBe(0x204000);
    expect(m.readBytes(0x200000, img.length)).toEqual(img);
  });

  it('rejects a bad checksum', () => {
    const hdr = multibootHeader(0x3);
    hdr[8] ^= 1;
    const img = concat(new Uint8Array(64), hdr, new Uint8Array(64));
    expectLoaderError(() => findMultibootHeader(img), 'bad-image', /checksum/);
  });
});

describe('load()', () => {
  it('names the bytes of an unknown image', () => {
    expectLoaderError(() => load(Uint8Array.of(1, 2, 3, 4), mem(MiB)), 'bad-image', /01 02 03 04/);
  });
});
