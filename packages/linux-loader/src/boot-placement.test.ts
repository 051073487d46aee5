/**
 * Boot data placed around the kernel (placeBootData), the multiboot pieces the reference VMM uses
 * (multibootKernelRanges, multibootInfoSize, boot_loader_name) and the multiboot entry state.
 */
import { zeroRegs } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { bootRegs, bootSregs } from './boot-state/cpu.js';
import { CODE32_SELECTOR, DATA_SELECTOR } from './boot-state/gdt.js';
import { e820ForMemory } from './e820.js';
import { LoaderError } from './errors.js';
import { BootLayout, placeBootData } from './layout.js';
import { loadMultiboot, multibootInfoSize, multibootKernelRanges } from './multiboot.js';
import { concat, makeElf, multibootHeader, pseudoRandom } from './testing/index.js';

const MiB = 1 << 20;
const mem = (size = 16 * MiB) => GuestMemory.createShared([{ start: 0, size }]);

describe('placeBootData', () => {
  const e820 = e820ForMemory(mem());
  const items = [
    { name: 'GDT', size: 56, align: 8, preferred: BootLayout.GDT },
    { name: 'page tables', size: 0x6000, align: 0x1000, preferred: BootLayout.PML4 },
    { name: 'zero page', size: 0x1000, align: 0x1000, preferred: BootLayout.ZERO_PAGE },
  ];

  it('keeps the default addresses when the kernel is elsewhere', () => {
    expect(placeBootData(e820, items, [{ start: MiB, end: 2 * MiB, what: 'the kernel' }])).toEqual([
      0x500, 0x9000, 0x7000,
    ]);
  });

  it('moves what the kernel covers to the lowest free aligned RAM, clear of each other and of the kernel', () => {
    const kernel = { start: 0x6800, end: 0xc000, what: 'the kernel' };
    const [gdt, pt, zp] = placeBootData(e820, items, [kernel]);
    expect(gdt).toBe(0x500);
    expect(pt).toBe(0xc000); // first 0x1000-aligned 24 KiB past the kernel (0x1000-0x6800 is too small)
    expect(zp).toBe(0x1000);
    const ranges = [
      [pt, pt + 0x6000],
      [zp, zp + 0x1000],
    ];
    for (const [s, e] of ranges) expect(s >= kernel.end || e <= kernel.start).toBe(true);
  });

  it('refuses with an error naming the item and the ranges it had to avoid when nothing fits', () => {
    // RAM is 0-0x9fc00 and 1 MiB up; the kernel covers low RAM from 4 KiB, and `below` excludes high RAM.
    const run = () =>
      placeBootData(
        e820,
        [{ name: 'boot table', size: 0x2000, align: 0x1000, below: 0x10_0000 }],
        [{ start: 0x1000, end: 0x9f000, what: 'the kernel' }],
      );
    expect(run).toThrow(LoaderError);
    expect(run).toThrow(
      'no room for the boot table (0x2000 bytes) in RAM below 0x100000 outside the kernel at [0x1000, 0x9f000)',
    );
    // The reserved EBDA/BIOS area (0x9fc00-0x100000) is never used, though it is backed.
    const [a] = placeBootData(
      e820,
      [{ name: 'x', size: 0x1000, align: 0x1000 }],
      [{ start: 0x1000, end: 0x9f000, what: 'the kernel' }],
    );
    expect(a).toBe(0x10_0000);
  });
});

describe('multiboot pieces for a VMM', () => {
  it('multibootKernelRanges gives the ELF segments and the address-field range without writing', () => {
    const elf = makeElf([{ paddr: 0x8000, data: pseudoRandom(0x400, 3), memsz: 0x3000 }], {
      entry: 0x8000,
      elf32: true,
      prefix: multibootHeader(0x3),
    });
    expect(multibootKernelRanges(elf)).toEqual([{ start: 0x8000, end: 0xb000 }]);
    // load_end_addr 0: the file to its end; bss_end_addr past it.
    const aout = concat(
      multibootHeader(0x10000, [0x8000, 0x8000, 0, 0xc000, 0x8020]),
      pseudoRandom(0x1000, 4),
    );
    expect(multibootKernelRanges(aout)).toEqual([{ start: 0x8000, end: 0xc000 }]);
    expect(() => multibootKernelRanges(pseudoRandom(64, 1))).toThrow(/no 0x1BADB002 header/);
  });

  it('writes boot_loader_name (flag bit 9) after the module list, within multibootInfoSize', () => {
    const img = concat(
      multibootHeader(0x10000, [0x200000, 0x200000, 0, 0x204000, 0x200020]),
      pseudoRandom(0x1000, 5),
    );
    const m = mem();
    const e820 = e820ForMemory(m);
    const o = {
      e820,
      infoAddress: 0x3000,
      modules: [{ start: 0x800000, end: 0x801000 }],
      bootLoaderName: 'ts-vmm',
    };
    const k = loadMultiboot(img, m, o);
    expect(k.ebx).toBe(0x3000);
    expect(m.read32(0x3000) & 0x200).toBe(0x200);
    const name = m.read32(0x3000 + 64);
    expect(new TextDecoder().decode(m.readBytes(name, 7))).toBe('ts-vmm\0');
    const size = multibootInfoSize(o);
    expect(size).toBe(0x58 + e820.length * 24 + 16 + 7);
    expect(name + 7).toBe(0x3000 + size);
    expect(k.written.at(-1)).toEqual({ start: 0x3000, end: 0x3000 + size });
  });

  it('the multiboot entry: 32-bit flat CS/DS, paging off, EAX = 0x2BADB002, EBX = info', () => {
    const current = bootSregs({ cr0: 0x60000010n, cr4: 0x20n, efer: 0x500n } as never, {
      kind: 'linux64',
      entry: 0,
      zeroPage: 0,
    });
    const s = bootSregs(current, { kind: 'multiboot', entry: 0x10000c, info: 0x9000 }, { gdt: 0x1000 });
    expect(s.cs).toMatchObject({ selector: CODE32_SELECTOR, base: 0n, limit: 0xffffffff, db: 1, l: 0 });
    expect(s.ds).toMatchObject({ selector: DATA_SELECTOR, base: 0n, limit: 0xffffffff, db: 1 });
    expect(s.ss.selector).toBe(DATA_SELECTOR);
    expect(s.cr0 & 0x8000_0001n).toBe(1n); // PE on, PG off
    expect([s.cr4, s.efer]).toEqual([0n, 0n]);
    expect(s.gdt.base).toBe(0x1000n);
    const r = bootRegs({ kind: 'multiboot', entry: 0x10000c, info: 0x9000 });
    expect(r).toEqual({ ...zeroRegs(), rip: 0x10000cn, rax: 0x2badb002n, rbx: 0x9000n });
    expect(r.rflags & 0x200n).toBe(0n); // interrupts off
  });
});
