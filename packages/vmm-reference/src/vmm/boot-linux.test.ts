/**
 * prepareLinuxBoot's choice of entry for a bzImage: its payload unpacked to the vmlinux (PVH), or
 * the 64-bit boot protocol when the payload is in a format the kernel decompresses itself and
 * the loader does not; never that fallback for a payload that fails to unpack.
 */
import { makeBzImage, pseudoRandom } from '@ts-vmm/linux-loader/testing';
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
