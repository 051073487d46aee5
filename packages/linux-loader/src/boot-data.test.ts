import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadBzImage } from './bzimage.js';
import { byteSum } from './checksum.js';
import { E820Type, e820ForMemory } from './e820.js';
import { LoaderError } from './errors.js';
import { placeInitrd } from './initrd.js';
import { buildMpTable, writeMpTable } from './mptable.js';
import { writePvhStartInfo, XEN_HVM_START_MAGIC_VALUE } from './pvh.js';
import { makeBzImage, pseudoRandom } from './testing/index.js';
import { BootParamsOffset, buildZeroPage, writeZeroPage } from './zero-page.js';

const MiB = 1 << 20;
const GiB = 1024 * MiB;

describe('E820', () => {
  it('splits low memory, the EBDA/BIOS hole, RAM below the MMIO hole and above 4 GiB', () => {
    const regions = [
      { start: 0, size: 3 * GiB },
      { start: 4 * GiB, size: GiB },
    ];
    expect(e820ForMemory(regions)).toEqual([
      { addr: 0, size: 0x9fc00, type: E820Type.RAM },
      { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: E820Type.RESERVED },
      { addr: 0x100000, size: 3 * GiB - 0x100000, type: E820Type.RAM },
      { addr: 4 * GiB, size: GiB, type: E820Type.RAM },
    ]);
  });

  it('carves out extra reserved ranges and refuses overlapping ones', () => {
    const m = e820ForMemory([{ start: 0, size: 64 * MiB }], { reserved: [{ addr: 32 * MiB, size: MiB }] });
    expect(m.map((e) => [e.addr, e.type])).toEqual([
      [0, 1],
      [0x9fc00, 2],
      [0x100000, 1],
      [32 * MiB, 2],
      [33 * MiB, 1],
    ]);
    expect(() =>
      e820ForMemory([{ start: 0, size: MiB }], { reserved: [{ addr: 0x9f000, size: 0x1000 }] }),
    ).toThrow(LoaderError);
  });
});

describe('E820 properties', () => {
  it('covers exactly the RAM given, minus the BIOS hole and reserved ranges, sorted and disjoint', () => {
    const page = 0x1000;
    const regionsArb = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 0x2000 }), fc.integer({ min: 1, max: 0x400 })), {
        minLength: 1,
        maxLength: 5,
      })
      .map((xs) => {
        // Disjoint page-aligned regions built from (gap, size) pairs, in units of 4 KiB.
        let at = 0;
        return xs.map(([gap, size]) => {
          const start = (at + gap) * page;
          at += gap + size;
          return { start, size: size * page };
        });
      });
    fc.assert(
      fc.property(regionsArb, (regions) => {
        const map = e820ForMemory(regions);
        for (let i = 1; i < map.length; i++)
          expect(map[i].addr).toBeGreaterThanOrEqual(map[i - 1].addr + map[i - 1].size);
        const isRam = (a: number) =>
          regions.some((r) => a >= r.start && a < r.start + r.size) && !(a >= 0x9fc00 && a < 0x100000);
        const inMap = (a: number, type: number) =>
          map.some((e) => e.type === type && a >= e.addr && a < e.addr + e.size);
        // Probe the edges of every region and of the hole.
        const probes = regions
          .flatMap((r) => [r.start, r.start + r.size - 1, r.start + r.size])
          .concat([0x9fbff, 0x9fc00, 0xfffff, 0x100000]);
        for (const a of probes) expect(inMap(a, 1)).toBe(isRam(a));
        const ramBytes = map.filter((e) => e.type === 1).reduce((n, e) => n + e.size, 0);
        const want = regions.reduce(
          (n, r) =>
            n + r.size - Math.max(0, Math.min(r.start + r.size, 0x100000) - Math.max(r.start, 0x9fc00)),
          0,
        );
        expect(ramBytes).toBe(want);
      }),
      { numRuns: 300 },
    );
  });
});

describe('zero page', () => {
  it('copies the setup header and sets loader, command line, initrd, E820 and RSDP fields', () => {
    const img = makeBzImage(pseudoRandom(0x2000));
    const mem = GuestMemory.createShared([{ start: 0, size: 64 * MiB }]);
    const k = loadBzImage(img, mem);
    const e820 = e820ForMemory(mem);
    const at = writeZeroPage(mem, {
      setupHeader: k.setupHeaderBytes,
      e820,
      cmdline: { address: 0x20000, size: 42 },
      initrd: { address: 0x1_2345_6000, size: 0x1_0000_1000 },
      rsdpAddress: 0xe0000,
    });
    expect(at).toBe(0x7000);
    const zp = mem.readBytes(0x7000, 4096);
    const v = new DataView(zp.buffer);
    expect(zp.subarray(0x1f1, 0x210)).toEqual(img.subarray(0x1f1, 0x210));
    expect(v.getUint32(0x202, true)).toBe(0x53726448);
    expect(zp[BootParamsOffset.TYPE_OF_LOADER]).toBe(0xff);
    expect(zp[BootParamsOffset.LOADFLAGS] & 1).toBe(1);
    expect(v.getUint32(0x228, true)).toBe(0x20000);
    expect(v.getUint32(0xc8, true)).toBe(0);
    expect(v.getUint32(0x218, true)).toBe(0x2345_6000);
    expect(v.getUint32(0xc0, true)).toBe(1);
    expect(v.getUint32(0x21c, true)).toBe(0x1000);
    expect(v.getUint32(0xc4, true)).toBe(1);
    expect(v.getBigUint64(0x70, true)).toBe(0xe0000n);
    expect(zp[0x1e8]).toBe(e820.length);
    e820.forEach((e, i) => {
      const o = 0x2d0 + 20 * i;
      expect([
        Number(v.getBigUint64(o, true)),
        Number(v.getBigUint64(o + 8, true)),
        v.getUint32(o + 16, true),
      ]).toEqual([e.addr, e.size, e.type]);
    });
  });

  it('synthesises a minimal header without a bzImage and refuses too many E820 entries', () => {
    const zp = buildZeroPage({
      e820: [{ addr: 0, size: 0x1000, type: 1 }],
      cmdline: { address: 0x1_0000_0000, size: 7 },
    });
    const v = new DataView(zp.buffer);
    expect(v.getUint16(0x1fe, true)).toBe(0xaa55);
    expect(v.getUint32(0x202, true)).toBe(0x53726448);
    expect(v.getUint32(0x228, true)).toBe(0);
    expect(v.getUint32(0xc8, true)).toBe(1);
    const many = Array.from({ length: 129 }, (_, i) => ({ addr: i * 0x1000, size: 0x1000, type: 1 }));
    expect(() => buildZeroPage({ e820: many })).toThrow(/129 entries/);
    const mem = GuestMemory.createShared([{ start: 0, size: 0x4000 }]);
    expect(() => writeZeroPage(mem, { e820: [], address: 0x3800 })).toThrow(LoaderError);
  });
});

describe('PVH start info', () => {
  it('writes hvm_start_info v1, the module list and the memory map', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 16 * MiB }]);
    const e820 = e820ForMemory(mem);
    const l = writePvhStartInfo(mem, {
      memmap: e820,
      cmdlineAddress: 0x20000,
      rsdpAddress: 0xe0000,
      modules: [{ address: 0x800000, size: 0x1234 }],
    });
    expect(l.address).toBe(0x6000);
    expect(mem.read32(0x6000)).toBe(XEN_HVM_START_MAGIC_VALUE);
    expect(mem.read32(0x6004)).toBe(1);
    expect(mem.read32(0x600c)).toBe(1);
    expect(Number(mem.read64(0x6010))).toBe(l.modlistAddress);
    expect(mem.read64(0x6018)).toBe(0x20000n);
    expect(mem.read64(0x6020)).toBe(0xe0000n);
    expect(Number(mem.read64(0x6028))).toBe(l.memmapAddress);
    expect(mem.read32(0x6030)).toBe(e820.length);
    expect(mem.read64(l.modlistAddress)).toBe(0x800000n);
    expect(mem.read64(l.modlistAddress + 8)).toBe(0x1234n);
    e820.forEach((e, i) => {
      const o = l.memmapAddress + 24 * i;
      expect([Number(mem.read64(o)), Number(mem.read64(o + 8)), mem.read32(o + 16)]).toEqual([
        e.addr,
        e.size,
        e.type,
      ]);
    });
  });
});

describe('initrd placement', () => {
  const mem = GuestMemory.createShared([{ start: 0, size: 256 * MiB }]);
  it('picks the highest page-aligned address below initrd_addr_max and RAM end', () => {
    expect(placeInitrd(mem, { size: 0x1801 })).toBe(256 * MiB - 0x2000);
    expect(placeInitrd(mem, { size: 0x1000, addrMax: 64 * MiB - 1 })).toBe(64 * MiB - 0x1000);
  });
  it('steps below the kernel when they would overlap', () => {
    const at = placeInitrd(mem, { size: 8 * MiB, avoid: [{ start: 250 * MiB, end: 256 * MiB }] });
    expect(at).toBe(242 * MiB);
  });
  it('says clearly when it does not fit', () => {
    expect(() => placeInitrd(mem, { size: 300 * MiB })).toThrow(LoaderError);
    expect(() => placeInitrd(mem, { size: 300 * MiB })).toThrow(/does|fits nowhere/);
  });
});

describe('MP table', () => {
  it('has valid checksums, a processor entry per vCPU, ISA bus, IOAPIC and 16+2 interrupt entries', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: MiB }]);
    const { address } = writeMpTable(mem, { vcpus: 4 });
    const fp = mem.readBytes(address, 16);
    expect(Buffer.from(fp.subarray(0, 4)).toString()).toBe('_MP_');
    expect(byteSum(fp)).toBe(0);
    const cfg = mem.read32(address + 4);
    const len = mem.read16(cfg + 4);
    const table = mem.readBytes(cfg, len);
    expect(Buffer.from(table.subarray(0, 4)).toString()).toBe('PCMP');
    expect(byteSum(table)).toBe(0);
    const count = mem.read16(cfg + 34);
    const types: number[] = [];
    let p = cfg + 44;
    for (let i = 0; i < count; i++) {
      const t = mem.read8(p);
      types.push(t);
      p += t === 0 ? 20 : 8;
    }
    expect(p).toBe(cfg + len);
    expect(types.filter((t) => t === 0)).toHaveLength(4);
    expect(types.filter((t) => t === 1)).toHaveLength(1);
    expect(types.filter((t) => t === 2)).toHaveLength(1);
    expect(types.filter((t) => t === 3)).toHaveLength(16);
    expect(types.filter((t) => t === 4)).toHaveLength(2);
    expect(mem.read8(cfg + 44 + 3)).toBe(3); // BSP enabled
    expect(() => buildMpTable({ vcpus: 255 })).toThrow(LoaderError);
  });
});
