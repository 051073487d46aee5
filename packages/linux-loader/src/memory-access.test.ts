/**
 * The loader takes any `GuestMemoryAccess`, not only vm-memory's `GuestMemory`: a user-written
 * implementation (here one flat Uint8Array per region, recording every write) gets the same bytes.
 */
import { GuestMemory, type GuestMemoryAccess, type GuestRegionView } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { setupLinuxBoot } from './boot-setup.js';
import { writeGdt } from './boot-state/gdt.js';
import { writeIdentityPageTables } from './boot-state/page-tables.js';
import { loadBzImage } from './bzimage.js';
import { LoaderError } from './errors.js';
import { makeBzImage, makeElf, pseudoRandom, same } from './testing/index.js';

/** Guest memory of the user's own: plain arrays, a log of written ranges, no vm-memory class. */
class LoggingMemory implements GuestMemoryAccess {
  readonly regions: GuestRegionView[];
  readonly writes: { addr: number; len: number }[] = [];

  constructor(layout: readonly { start: number; size: number }[]) {
    this.regions = layout.map((r) => ({ start: r.start, size: r.size, bytes: new Uint8Array(r.size) }));
  }

  findRegion(addr: number): GuestRegionView | undefined {
    return this.regions.find((r) => addr >= r.start && addr < r.start + r.size);
  }
  checkRange(addr: number, len: number): boolean {
    if (len === 0) return true;
    let a = addr;
    while (a < addr + len) {
      const r = this.findRegion(a);
      if (!r) return false;
      a = r.start + r.size;
    }
    return true;
  }
  private at(addr: number, len: number): { r: GuestRegionView; off: number } {
    const r = this.findRegion(addr);
    if (!r || addr + len > r.start + r.size) throw new RangeError(`[${addr}, +${len}) is not in one region`);
    return { r, off: addr - r.start };
  }
  private view(addr: number, len: number): DataView {
    const { r, off } = this.at(addr, len);
    return new DataView(r.bytes.buffer, r.bytes.byteOffset + off, len);
  }
  read8(addr: number): number {
    return this.view(addr, 1).getUint8(0);
  }
  read16(addr: number): number {
    return this.view(addr, 2).getUint16(0, true);
  }
  read32(addr: number): number {
    return this.view(addr, 4).getUint32(0, true);
  }
  read64(addr: number): bigint {
    return this.view(addr, 8).getBigUint64(0, true);
  }
  write8(addr: number, v: number): void {
    this.writeBytes(addr, Uint8Array.of(v));
  }
  write16(addr: number, v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    this.writeBytes(addr, b);
  }
  write32(addr: number, v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.writeBytes(addr, b);
  }
  write64(addr: number, v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, v, true);
    this.writeBytes(addr, b);
  }
  readBytes(addr: number, len: number): Uint8Array {
    return this.slice(addr, len).slice();
  }
  readInto(addr: number, out: Uint8Array): void {
    out.set(this.slice(addr, out.length));
  }
  writeBytes(addr: number, data: Uint8Array): void {
    const { r, off } = this.at(addr, data.length);
    r.bytes.set(data, off);
    this.writes.push({ addr, len: data.length });
  }
  fill(addr: number, len: number, value = 0): void {
    const { r, off } = this.at(addr, len);
    r.bytes.fill(value, off, off + len);
    this.writes.push({ addr, len });
  }
  slice(addr: number, len: number): Uint8Array {
    const { r, off } = this.at(addr, len);
    return r.bytes.subarray(off, off + len);
  }
  readCString(addr: number, max: number): string {
    const b = this.slice(addr, max);
    const end = b.indexOf(0);
    return String.fromCharCode(...b.subarray(0, end < 0 ? b.length : end));
  }
  markDirty(): void {}
}

const layout = [
  { start: 0, size: 64 << 20 },
  { start: 64 << 20, size: 64 << 20 },
];
const acpi = {
  vcpus: 2,
  serial: [{ port: 0x3f8, irq: 4 }],
  sleepControl: { space: 'io' as const, address: 0x3c0 },
  sleepStatus: { space: 'io' as const, address: 0x3c1 },
};

function bytesOf(m: GuestMemoryAccess): Uint8Array {
  const out = new Uint8Array(128 << 20);
  out.set(m.readBytes(0, 64 << 20));
  out.set(m.readBytes(64 << 20, 64 << 20), 64 << 20);
  return out;
}

describe('a user-written GuestMemoryAccess', () => {
  it('takes a bzImage through the 64-bit protocol, byte for byte as GuestMemory does', () => {
    const image = makeBzImage(pseudoRandom(0x3000), { prefAddress: 0x1000000 });
    const mine = new LoggingMemory(layout);
    const theirs = GuestMemory.createShared(layout);
    const opts = { kernel: image, cmdline: 'console=ttyS0 panic=1', initrd: pseudoRandom(0x5000, 3), acpi };
    const a = setupLinuxBoot(mine, opts);
    const b = setupLinuxBoot(theirs, opts);
    expect(a.entry).toEqual({ kind: 'linux64', entry: 0x1000200, zeroPage: 0x7000 });
    expect(a).toEqual(b);
    writeGdt(mine);
    writeGdt(theirs);
    writeIdentityPageTables(mine);
    writeIdentityPageTables(theirs);
    expect(same(bytesOf(mine), bytesOf(theirs))).toBe(true);
    expect(mine.writes.some((w) => w.addr === 0x1000000)).toBe(true);
    expect(mine.readCString(0x20000, 64)).toBe('console=ttyS0 panic=1');
  });

  it('takes an ELF vmlinux through PVH', () => {
    const elf = makeElf([{ paddr: 0x1000000, data: pseudoRandom(0x2000), memsz: 0x4000 }], {
      entry: 0x1000000,
      pvhEntry: 0x1000040,
    });
    const mine = new LoggingMemory(layout);
    const boot = setupLinuxBoot(mine, { kernel: elf, cmdline: 'console=ttyS0', mode: 'pvh', acpi });
    expect(boot.entry).toEqual({ kind: 'pvh', entry: 0x1000040, startInfo: 0x6000 });
    expect(mine.read32(0x6000)).toBe(0x336ec578);
    expect(mine.read8(0x1000000 + 0x3fff)).toBe(0);
  });

  it('gets nothing written when the kernel does not fit', () => {
    const mine = new LoggingMemory([{ start: 0, size: 8 << 20 }]);
    expect(() => loadBzImage(makeBzImage(pseudoRandom(0x3000)), mine, { loadAddress: 0x800000 })).toThrow(
      LoaderError,
    );
    expect(mine.writes).toEqual([]);
  });
});
