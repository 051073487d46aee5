/**
 * prepareLinuxBoot's choice of entry for a bzImage: its payload unpacked to the vmlinux (PVH), or
 * the 64-bit boot protocol when the payload is in a format the kernel decompresses itself and
 * the loader does not; never that fallback for a payload that fails to unpack.
 */
import { concat, makeBzImage, makeElf, multibootHeader, pseudoRandom } from '@ts-vmm/linux-loader/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LinuxBootSpec, prepareLinuxBoot } from './boot-linux.js';
import { VmmError } from './errors.js';

const LZ4_MAGIC = [0x02, 0x21, 0x4c, 0x18];

function boot(payload: Uint8Array) {
  const memory = GuestMemory.createShared([{ start: 0, size: 64 << 20 }]);
  const spec: LinuxBootSpec = {
    kernel: makeBzImage(pseudoRandom(0x1000), { payload }),
    cmdline: 'console=ttyS0',
    vcpus: 1,
    virtioDevices: [],
    serial: true,
  };
  return () => prepareLinuxBoot(memory, spec);
}

function bootError(payload: Uint8Array): VmmError {
  try {
    boot(payload)();
  } catch (e) {
    return e as VmmError;
  }
  throw new Error('prepareLinuxBoot accepted the image');
}

describe('a bzImage whose payload does not unpack', () => {
  it('a corrupt LZ4 block is a boot error naming it, not a fallback to the 64-bit boot protocol', () => {
    // One block: token 0x1f (a literal, then a match) with match offset 0, which LZ4 forbids.
    const corrupt = Uint8Array.of(...LZ4_MAGIC, 8, 0, 0, 0, 0x1f, 0x41, 0, 0, 1, 2, 3, 4);
    const e = bootError(corrupt);
    expect(e).toBeInstanceOf(VmmError);
    expect(e.kind).toBe('boot');
    expect(e.message).toMatch(
      /^cannot unpack the bzImage payload \(lz4\): lz4: block at 0x8: match offset 0 reaches before the block start/,
    );
  });

  it('a truncated LZ4 payload and a corrupt gzip one are boot errors too', () => {
    expect(bootError(Uint8Array.of(...LZ4_MAGIC, 0xff, 0xff, 0, 0, 1, 2)).message).toMatch(
      /^cannot unpack the bzImage payload \(lz4\): .*claims 65535 bytes but only 2 remain/,
    );
    expect(bootError(Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff)).message).toMatch(
      /^cannot unpack the bzImage payload \(gzip\): /,
    );
  });

  it('a payload whose magic no kernel compressor writes is a boot error', () => {
    expect(bootError(Uint8Array.of(0x21, 0x01, 0xc5, 0x4f, 0xd1, 0xd0, 1, 2)).message).toMatch(
      /^cannot unpack the bzImage payload: payload compression unknown \(magic 21 01 c5 4f d1 d0\)/,
    );
  });

  it('a bzip2/xz/lzma/lzo payload (decompressed by the kernel itself) boots through the 64-bit protocol', () => {
    for (const magic of [
      [0x42, 0x5a, 0x68, 0x39],
      [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
      [0x5d, 0x00, 0x00],
      [0x89, 0x4c, 0x5a, 0x4f],
    ]) {
      const r = boot(Uint8Array.of(...magic, 1, 2, 3, 4))();
      expect(r.entry.kind).toBe('linux64');
      expect(r.summary).toMatch(
        /payload is .* \(not unpacked here; the kernel decompresses itself\), 64-bit boot protocol/,
      );
    }
  });

  it('any corrupted LZ4 stream either unpacks or is a boot error, never a fallback', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (tail) => {
        try {
          const r = boot(Uint8Array.of(...LZ4_MAGIC, ...tail))();
          expect(r.summary).toContain('bzImage unpacked to vmlinux'); // it did decode (to a loadable ELF)
        } catch (e) {
          expect(e).toBeInstanceOf(VmmError);
          expect((e as VmmError).kind).toBe('boot');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('boot data around the kernel', () => {
  const spec = (kernel: Uint8Array, initrd?: Uint8Array): LinuxBootSpec => ({
    kernel,
    initrd,
    cmdline: 'console=ttyS0',
    vcpus: 1,
    virtioDevices: [],
    serial: true,
  });
  const memory = () => GuestMemory.createShared([{ start: 0, size: 16 << 20 }]);
  const overlapsAny = (r: { start: number; end: number }, ranges: { start: number; end: number }[]) =>
    ranges.some((k) => r.start < k.end && k.start < r.end);

  it('a multiboot kernel at 0x8000: entered in 32-bit mode with its information where the kernel is not', () => {
    const code = pseudoRandom(0x800, 2);
    const image = concat(multibootHeader(0x10002, [0x8000, 0x8000, 0, 0xb000, 0x8020]), code);
    const m = memory();
    const initrd = pseudoRandom(0x1800, 6);
    const r = prepareLinuxBoot(m, spec(image, initrd));
    expect(r.entry.kind).toBe('multiboot');
    if (r.entry.kind !== 'multiboot') return;
    expect(r.entry.entry).toBe(0x8020);
    const kernel = [{ start: 0x8000, end: 0xb000 }];
    for (const d of r.bootData) expect(overlapsAny(d, kernel), d.name).toBe(false);
    expect(r.entry.info).not.toBe(0x9000); // the default place is inside the kernel
    expect(m.readBytes(0x8000 + 32, code.length)).toEqual(code); // the kernel is intact
    expect(m.read32(r.entry.info) & 0x24d).toBe(0x24d); // mem, cmdline, mods, mmap, boot loader name
    const mods = m.read32(r.entry.info + 24);
    expect(m.readBytes(m.read32(mods), initrd.length)).toEqual(initrd);
    expect(r.summary).toContain('boot data moved off the kernel: multiboot information');
  });

  it('an ELF64 kernel over the page tables and zero page keeps them off it, and the entry layout follows', () => {
    const image = makeElf([{ paddr: 0x6000, data: pseudoRandom(0x6000, 8) }], { entry: 0x6000 });
    const r = prepareLinuxBoot(memory(), spec(image));
    expect(r.entry.kind).toBe('linux64');
    const kernel = [{ start: 0x6000, end: 0xc000 }];
    for (const d of r.bootData) expect(overlapsAny(d, kernel), d.name).toBe(false);
    expect(r.layout.pageTables).toBe(r.bootData.find((d) => d.name === 'page tables')?.start);
    expect(overlapsAny({ start: r.layout.stack! - 8, end: r.layout.stack! }, kernel)).toBe(false);
  });

  it('a kernel on the ACPI tables (fixed in the BIOS area) is refused, naming both ranges', () => {
    const image = concat(
      multibootHeader(0x10000, [0xe8000, 0xe8000, 0, 0xea000, 0xe8020]),
      pseudoRandom(0x800, 1),
    );
    expect(() => prepareLinuxBoot(memory(), spec(image))).toThrow(
      "the kernel's range [0xe8000, 0xea000) overlaps the ACPI tables at [0xe0000, 0x100000), the BIOS area where the guest looks for the RSDP",
    );
    const elf = makeElf([{ paddr: 0xf0000, data: pseudoRandom(0x100, 1), memsz: 0x20000 }], {
      entry: 0xf0000,
    });
    expect(() => prepareLinuxBoot(memory(), spec(elf))).toThrow(
      /range \[0xf0000, 0x110000\) overlaps the ACPI tables at \[0xe0000, 0x100000\)/,
    );
  });

  it('a kernel that leaves no RAM for the boot data is a boot error naming the data and the kernel', () => {
    const image = makeElf(
      [
        { paddr: 0x1000, data: pseudoRandom(0x100, 1), memsz: 0x9e000 },
        { paddr: 0x100000, data: pseudoRandom(0x100, 2), memsz: (16 << 20) - 0x100000 },
      ],
      { entry: 0x1000 },
    );
    let err: unknown;
    try {
      prepareLinuxBoot(memory(), spec(image));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VmmError);
    expect((err as VmmError).kind).toBe('boot');
    expect((err as Error).message).toMatch(
      /^cannot place the boot data: no room for the page tables \(0x6000 bytes\) in RAM below 0x100000000 outside the kernel at \[0x1000, 0x9f000\), \[0x100000, 0x1000000\)$/,
    );
  });
});
