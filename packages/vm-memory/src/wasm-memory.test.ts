import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuestMemoryError } from './errors.js';
import { GuestMemory, type SharedGuestMemory } from './guest-memory.js';
import { DEFAULT_WASM_GROW_ROOM, MAX_WASM_PAGES, WASM_PAGE_SIZE, wasmLayout } from './wasm-layout.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Low RAM split in two adjacent regions (as the VMM's 2 GiB ranges are), a hole, and high RAM. */
const specs = [
  { start: 0x1_0000_0000, size: 0x3000 }, // high, given out of order on purpose
  { start: 0, size: 0x1_1000 }, // 68 KiB: the next region's wasm offset must round up
  { start: 0x1_1000, size: 0x2000 }, // adjacent to the first
];

const raw = (mem: GuestMemory) => new Uint8Array(mem.wasmMemory!.buffer);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('GuestMemory.createWasm layout', () => {
  it('packs regions in guest-address order from 64 KiB, each on a 64 KiB boundary', () => {
    const mem = GuestMemory.createWasm(specs, { growRoom: 0 });
    expect(mem.regions.map((r) => [r.start, r.size, r.wasmOffset])).toEqual([
      [0, 0x1_1000, 0x1_0000],
      [0x1_1000, 0x2000, 0x3_0000],
      [0x1_0000_0000, 0x3000, 0x4_0000],
    ]);
    const wm = mem.wasmMemory!;
    expect(wm).toBeInstanceOf(WebAssembly.Memory);
    expect(wm.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(wm.buffer.byteLength).toBe(0x5_0000); // pages covering the last region's end
    for (const r of mem.regions) {
      expect(r.backing).toBe('shared-array-buffer');
      expect(r.sharedBuffer).toBe(wm.buffer);
      expect(r.bytes.buffer).toBe(wm.buffer);
      expect(r.bytes.byteOffset).toBe(r.wasmOffset);
      expect(r.bytes.length).toBe(r.size);
      expect(r.view.byteOffset).toBe(r.wasmOffset);
      expect(r.view.byteLength).toBe(r.size);
      expect(r.fdOffset).toBe(0);
      expect(r.fd).toBeUndefined();
    }
    expect(mem.totalSize).toBe(0x1_1000 + 0x2000 + 0x3000);
  });

  it('wasmLayout plans the same layout without allocating, and says whether it fits', () => {
    const plan = wasmLayout(specs);
    expect(plan.regions.map((r) => r.wasmOffset)).toEqual([0x1_0000, 0x3_0000, 0x4_0000]);
    expect(plan.initialPages).toBe(5);
    expect(plan.maximumPages).toBe(5 + DEFAULT_WASM_GROW_ROOM / WASM_PAGE_SIZE);
    expect(plan.fits).toBe(true);
    expect(wasmLayout(specs, 1).maximumPages).toBe(6); // grow room rounds up to a page
    expect(wasmLayout([{ start: 0, size: 4 * GiB - 64 * KiB }], 0)).toMatchObject({
      initialPages: MAX_WASM_PAGES,
      fits: true,
    });
    expect(wasmLayout([{ start: 0, size: 4 * GiB - 64 * KiB }], 1).fits).toBe(false);
    expect(() => wasmLayout(specs, -1)).toThrow(/growRoom -1 is not a non-negative whole number/);
    expect(() => wasmLayout(specs, 1.5)).toThrow(/growRoom 1.5/);
    expect(() => wasmLayout([{ start: 0x10, size: 0x1000 }])).toThrow(/0x10 is not a 4 KiB aligned/);
  });

  it('uses 16 MiB of grow room by default', () => {
    const mem = GuestMemory.createWasm([{ start: 0, size: 0x1000 }]);
    const wm = mem.wasmMemory!;
    expect(wm.buffer.byteLength).toBe(2 * WASM_PAGE_SIZE);
    expect(wm.grow(DEFAULT_WASM_GROW_ROOM / WASM_PAGE_SIZE)).toBe(2);
    expect(() => wm.grow(1)).toThrow(RangeError);
  });

  it('validates region specs as createShared does', () => {
    expect(() => GuestMemory.createWasm([])).toThrow(/at least one region/);
    expect(() => GuestMemory.createWasm([{ start: 0, size: 100 }])).toThrow(/size 100/);
    expect(() =>
      GuestMemory.createWasm([
        { start: 0, size: 0x2000 },
        { start: 0x1000, size: 0x1000 },
      ]),
    ).toThrow(/overlaps/);
    expect(() => GuestMemory.createWasm([{ start: 0, size: 0x1000 }], { growRoom: Number.NaN })).toThrow(
      /growRoom NaN/,
    );
  });
});

describe('GuestMemory.createWasm size limit', () => {
  it('allows exactly 65536 pages, grow room included', () => {
    const growRoom = (MAX_WASM_PAGES - 2) * WASM_PAGE_SIZE;
    const mem = GuestMemory.createWasm([{ start: 0, size: 0x1000 }], { growRoom });
    mem.write8(0xfff, 7);
    expect(mem.read8(0xfff)).toBe(7);
  });

  it('refuses more than 4 GiB with an error naming the size and the limit, allocating nothing', () => {
    const Memory = WebAssembly.Memory;
    const alloc = vi
      .spyOn(WebAssembly, 'Memory')
      .mockImplementation(((d: WebAssembly.MemoryDescriptor) => new Memory(d)) as never);
    const tooBig = [
      { start: 0, size: 3 * GiB },
      { start: 4 * GiB, size: 1 * GiB },
    ];
    let err: unknown;
    try {
      GuestMemory.createWasm(tooBig);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GuestMemoryError);
    expect((err as GuestMemoryError).kind).toBe('backing');
    const msg = (err as GuestMemoryError).message;
    expect(msg).toMatch(/would need 65793 pages of 64 KiB/); // 1 + 65536 + 256
    expect(msg).toContain('4096 MiB of regions');
    expect(msg).toContain('16 MiB grow room');
    expect(msg).toMatch(/wasm32 limit of 65536 pages \(4 GiB\)/);
    expect(msg).toMatch(/createShared\(\)/);
    // one page over, through the grow room alone
    expect(() =>
      GuestMemory.createWasm([{ start: 0, size: 0x1000 }], {
        growRoom: (MAX_WASM_PAGES - 1) * WASM_PAGE_SIZE,
      }),
    ).toThrow(/65537 pages/);
    expect(alloc).not.toHaveBeenCalled();
    // the spy does see allocations
    GuestMemory.createWasm([{ start: 0, size: 0x1000 }], { growRoom: 0 });
    expect(alloc).toHaveBeenCalledTimes(1);
  });

  it('turns a failed allocation into a GuestMemoryError', () => {
    vi.spyOn(WebAssembly, 'Memory').mockImplementation(() => {
      throw new RangeError('WebAssembly.Memory(): could not allocate memory');
    });
    // (the mock stands in for a refusal by the engine: out of address space, for instance)
    expect(() => GuestMemory.createWasm([{ start: 0, size: 0x1000 }])).toThrow(
      /cannot allocate a shared WebAssembly.Memory of 2 pages \(maximum 258\): .*could not allocate/,
    );
  });
});

describe('GuestMemory over a WebAssembly.Memory', () => {
  it('reads and writes every width, at the documented wasm offsets, both ways', () => {
    const mem = GuestMemory.createWasm(specs);
    const u8 = raw(mem);
    const dv = new DataView(mem.wasmMemory!.buffer);
    mem.write8(1, 0x1ff);
    expect(u8[0x1_0001]).toBe(0xff);
    mem.write16(0x2, 0xbeef);
    expect(dv.getUint16(0x1_0002, true)).toBe(0xbeef);
    mem.write32(0x1_1000 + 8, 0xdeadbeef);
    expect(dv.getUint32(0x3_0008, true)).toBe(0xdeadbeef);
    mem.write64(0x1_0000_0010, 0x1122334455667788n);
    expect(dv.getBigUint64(0x4_0010, true)).toBe(0x1122334455667788n);
    // and the other way: bytes written into the wasm memory are guest bytes
    dv.setUint32(0x4_0100, 0xcafef00d, true);
    expect(mem.read32(0x1_0000_0100)).toBe(0xcafef00d);
    u8[0x3_1fff] = 0x5a;
    expect(mem.read8(0x1_2fff)).toBe(0x5a);
    dv.setBigUint64(0x1_0010, 0xfedcba9876543210n, true);
    expect(mem.read64(0x10)).toBe(0xfedcba9876543210n);
    // page 0 and the padding between regions are no guest memory
    expect(u8.subarray(0, WASM_PAGE_SIZE).every((b) => b === 0)).toBe(true);
    expect(u8.subarray(0x2_1000, 0x3_0000).every((b) => b === 0)).toBe(true);
  });

  it('crosses adjacent region boundaries although the regions are apart in the wasm memory', () => {
    const mem = GuestMemory.createWasm(specs);
    mem.write64(0x1_0ffc, 0x0102030405060708n);
    expect(mem.read64(0x1_0ffc)).toBe(0x0102030405060708n);
    expect(mem.read32(0x1_1000)).toBe(0x01020304);
    const u8 = raw(mem);
    expect([...u8.subarray(0x2_0ffc, 0x2_1000)]).toEqual([8, 7, 6, 5]);
    expect([...u8.subarray(0x3_0000, 0x3_0004)]).toEqual([4, 3, 2, 1]);
    const data = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
    mem.writeBytes(0x1_0fe0, data);
    expect(mem.readBytes(0x1_0fe0, 64)).toEqual(data);
    mem.fill(0x1_0ff0, 0x20, 0xaa);
    expect(mem.read32(0x1_0fec)).toBe(0x100f0e0d);
    expect(mem.read32(0x1_0ff0)).toBe(0xaaaaaaaa);
    expect(mem.read32(0x1_100c)).toBe(0xaaaaaaaa);
    expect(mem.read8(0x1_1010)).toBe(0x31);
  });

  it('gives zero-copy slices into the wasm memory and refuses them across regions', () => {
    const mem = GuestMemory.createWasm(specs);
    const s = mem.slice(0x1_0000_0020, 16);
    expect(s.buffer).toBe(mem.wasmMemory!.buffer);
    expect(s.byteOffset).toBe(0x4_0020);
    s[3] = 0x42;
    expect(mem.read8(0x1_0000_0023)).toBe(0x42);
    expect(() => mem.slice(0x1_0ff8, 16)).toThrow(/crosses a region boundary at 0x11000/);
  });

  it('refuses unmapped accesses and writes nothing, not even into the wasm memory around the regions', () => {
    const mem = GuestMemory.createWasm(specs);
    const before = raw(mem).slice();
    expect(() => mem.read32(0x1_3000)).toThrow(/unmapped address 0x13000/);
    expect(() => mem.write32(0x1_2ffe, 0xffffffff)).toThrow(GuestMemoryError);
    expect(() => mem.write64(0x1_0000_2ffc, -1n)).toThrow(/unmapped address 0x100003000/);
    expect(() => mem.writeBytes(0xfffff000, new Uint8Array(8).fill(1))).toThrow(/unmapped/);
    expect(() => mem.fill(0x1_2f00, 0x200, 1)).toThrow(/unmapped address 0x13000/);
    expect(() => mem.read8(-1)).toThrow(GuestMemoryError);
    expect(() => mem.write8(Number.NaN, 1)).toThrow(GuestMemoryError);
    expect(Buffer.compare(raw(mem), before)).toBe(0);
  });

  it('never writes outside the given range, anywhere in the wasm memory (property)', () => {
    const mem = GuestMemory.createWasm(specs.slice(1), { growRoom: 0 });
    fc.assert(
      fc.property(
        fc.integer({ min: -16, max: 0x1_4000 }),
        fc.integer({ min: 0, max: 0x2000 }),
        fc.integer({ min: 1, max: 255 }),
        (addr, len, val) => {
          const u8 = raw(mem);
          u8.fill(0);
          let threw = false;
          try {
            mem.fill(addr, len, val);
          } catch (e) {
            threw = true;
            expect(e).toBeInstanceOf(GuestMemoryError);
          }
          expect(threw).toBe(!(addr >= 0 && (len === 0 || addr + len <= 0x1_3000)));
          // guest a lies at wasm a + 0x10000 below 0x11000, and at a - 0x11000 + 0x30000 above it
          const wasmOf = (a: number) => (a < 0x1_1000 ? a + 0x1_0000 : a - 0x1_1000 + 0x3_0000);
          const expected = new Uint8Array(u8.length);
          for (let a = addr; !threw && a < addr + len; a++) expected[wasmOf(a)] = val;
          for (let i = 0; i < u8.length; i++) {
            if (u8[i] !== expected[i]) throw new Error(`wasm byte ${i} is ${u8[i]}, expected ${expected[i]}`);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps working after the user grows the memory, up to the grow room', () => {
    const mem = GuestMemory.createWasm(specs, { growRoom: 3 * WASM_PAGE_SIZE });
    const wm = mem.wasmMemory!;
    const oldBuffer = wm.buffer;
    mem.write32(0x100, 0x11111111);
    expect(wm.grow(2)).toBe(5); // old size in pages: the new room starts at 5 * 64 KiB
    expect(wm.buffer).not.toBe(oldBuffer); // a new SharedArrayBuffer object...
    expect(wm.buffer.byteLength).toBe(7 * WASM_PAGE_SIZE);
    expect(oldBuffer.byteLength).toBe(5 * WASM_PAGE_SIZE); // ...the old one keeps its length
    expect(mem.read32(0x100)).toBe(0x11111111);
    mem.write32(0x1_0000_0000, 0x22222222);
    const dv = new DataView(wm.buffer);
    expect(dv.getUint32(0x4_0000, true)).toBe(0x22222222);
    dv.setUint32(0x1_0200, 0x33333333, true);
    expect(mem.read32(0x200)).toBe(0x33333333);
    // the user's new room is outside every region
    new Uint8Array(wm.buffer, 5 * WASM_PAGE_SIZE).fill(0xee);
    expect(mem.readBytes(0x1_0000_0000, 0x3000).every((b) => b !== 0xee)).toBe(true);
    expect(wm.grow(1)).toBe(7);
    expect(() => wm.grow(1)).toThrow(RangeError); // the grow room is spent
    expect(mem.read32(0x100)).toBe(0x11111111);
    // re-opened after growing: the description takes the current buffer
    const again = GuestMemory.fromShareableSync(mem.toShareable());
    expect(again.regions[0].sharedBuffer!.byteLength).toBe(8 * WASM_PAGE_SIZE);
    expect(again.read32(0x200)).toBe(0x33333333);
  });

  it('tracks dirty pages as createShared memory does', () => {
    const mem = GuestMemory.createWasm(specs, { dirtyTracking: true });
    expect(mem.dirtyTracking).toBe(true);
    mem.write8(0x2001, 1);
    mem.writeBytes(0x1_0ff0, new Uint8Array(0x20)); // across the boundary of two regions
    mem.write64(0x1_0000_1ffc, 1n);
    mem.markDirty(0x1_0000_0000, 1);
    expect(() => mem.write8(0x5_0000, 1)).toThrow(/unmapped/);
    expect(mem.takeDirtyPages()).toEqual([
      0x2000, 0x1_0000, 0x1_1000, 0x1_0000_0000, 0x1_0000_1000, 0x1_0000_2000,
    ]);
    expect(mem.takeDirtyPages()).toEqual([]);
    // a re-opened copy shares the log
    const other = GuestMemory.fromShareableSync(structuredClone(mem.toShareable()));
    other.write8(0x1_2000, 1);
    expect(mem.takeDirtyPages()).toEqual([0x1_2000]);
    expect(() => GuestMemory.createWasm(specs).takeDirtyPages()).toThrow(/dirty tracking is off/);
  });

  it('close() is a no-op that may be called twice', () => {
    const mem = GuestMemory.createWasm(specs);
    mem.close();
    mem.close();
  });

  it('has no wasmMemory or wasmOffset for other backings', () => {
    const mem = GuestMemory.createShared(specs);
    expect(mem.wasmMemory).toBeUndefined();
    expect(mem.regions.every((r) => r.wasmOffset === undefined)).toBe(true);
    const desc = mem.toShareable();
    expect(desc.wasmMemory).toBeUndefined();
    expect(desc.regions.every((r) => r.sharedBuffer?.byteLength === r.size)).toBe(true);
  });
});

describe('sharing wasm guest memory', () => {
  it('describes the WebAssembly.Memory and the offsets, and re-opens onto the same memory', async () => {
    const mem = GuestMemory.createWasm(specs, { dirtyTracking: true });
    const desc = mem.toShareable();
    expect(desc.wasmMemory).toBe(mem.wasmMemory);
    expect(desc.regions.map((r) => r.wasmOffset)).toEqual([0x1_0000, 0x3_0000, 0x4_0000]);
    const cloned = structuredClone(desc);
    for (const again of [GuestMemory.fromShareableSync(cloned), await GuestMemory.fromShareable(cloned)]) {
      expect(again.wasmMemory).toBeInstanceOf(WebAssembly.Memory);
      expect(again.regions.map((r) => [r.start, r.size, r.wasmOffset, r.bytes.byteOffset])).toEqual(
        mem.regions.map((r) => [r.start, r.size, r.wasmOffset, r.wasmOffset]),
      );
      expect(again.regions.every((r) => r.bytes.buffer === again.wasmMemory!.buffer)).toBe(true);
      mem.write32(0x1_0000_0040, 0xa5a5a5a5);
      expect(again.read32(0x1_0000_0040)).toBe(0xa5a5a5a5);
      again.write16(0x1_0fff, 0x1234);
      expect(mem.read16(0x1_0fff)).toBe(0x1234);
      expect(again.dirtyTracking).toBe(true);
    }
    // growing through one handle is visible through the other
    const again = GuestMemory.fromShareableSync(cloned);
    again.wasmMemory!.grow(1);
    expect(mem.wasmMemory!.buffer.byteLength).toBe(6 * WASM_PAGE_SIZE);
  });

  it('still opens the one-buffer-per-region description of createShared memory', async () => {
    const mem = GuestMemory.createShared([{ start: 0x1000, size: 0x2000 }]);
    const desc: SharedGuestMemory = {
      regions: [
        {
          start: 0x1000,
          size: 0x2000,
          backing: 'shared-array-buffer',
          sharedBuffer: mem.regions[0].sharedBuffer,
          fdOffset: 0,
        },
      ],
    };
    const other = await GuestMemory.fromShareable(desc);
    mem.write32(0x1800, 0xcafef00d);
    expect(other.read32(0x1800)).toBe(0xcafef00d);
    expect(other.wasmMemory).toBeUndefined();
    expect(() =>
      GuestMemory.fromShareableSync({
        regions: [{ ...desc.regions[0], sharedBuffer: new SharedArrayBuffer(0x1000) }],
      }),
    ).toThrow(/region at 0x1000 has size 0x2000 but its SharedArrayBuffer holds 0x1000 bytes/);
    expect(() =>
      GuestMemory.fromShareableSync({ regions: [{ ...desc.regions[0], sharedBuffer: undefined }] }),
    ).toThrow(/region at 0x1000 lacks its SharedArrayBuffer/);
  });

  it('refuses bad wasm descriptions by name', () => {
    const mem = GuestMemory.createWasm(specs, { growRoom: 0, dirtyTracking: true });
    const desc = mem.toShareable();
    const withRegion = (i: number, patch: object): SharedGuestMemory => ({
      ...desc,
      regions: desc.regions.map((r, j) => (i === j ? { ...r, ...patch } : r)),
    });
    const open = (d: SharedGuestMemory) => () => GuestMemory.fromShareableSync(d);
    expect(open({ ...desc, wasmMemory: {} as WebAssembly.Memory })).toThrow(
      /wasmMemory is not a WebAssembly.Memory/,
    );
    expect(open({ ...desc, wasmMemory: new WebAssembly.Memory({ initial: 5 }) })).toThrow(
      /WebAssembly.Memory is not shared/,
    );
    expect(open(withRegion(0, { wasmOffset: undefined }))).toThrow(
      /region at 0x0 has wasmOffset undefined: must be a multiple of 64 KiB/,
    );
    expect(open(withRegion(0, { wasmOffset: 0 }))).toThrow(/wasmOffset 0x0: must be .* at least 0x10000/);
    expect(open(withRegion(1, { wasmOffset: 0x3_1000 }))).toThrow(
      /region at 0x11000 has wasmOffset 0x31000: must be a multiple of 64 KiB/,
    );
    expect(open(withRegion(1, { wasmOffset: 0x2_0000 }))).toThrow(
      /overlaps another region inside the WebAssembly.Memory/,
    );
    expect(open(withRegion(2, { wasmOffset: 0x5_0000 }))).toThrow(
      /region at 0x100000000 \(wasm bytes \[0x50000, 0x53000\)\) lies past the end of the WebAssembly.Memory \(0x50000 bytes\)/,
    );
    expect(open(withRegion(2, { backing: 'memfd' }))).toThrow(
      /backing 'memfd' but the description names a WebAssembly.Memory/,
    );
    expect(open(withRegion(0, { size: 0x1001 }))).toThrow(/size 4097/);
    expect(open({ ...desc, dirty: desc.dirty!.slice(1) })).toThrow(/3 region\(s\) but 2 dirty bitmap/);
    expect(open({ ...desc, dirty: [new SharedArrayBuffer(1), ...desc.dirty!.slice(1)] })).toThrow(
      /dirty bitmap of region at 0x0 must be a SharedArrayBuffer of 17 bytes/,
    );
    expect(open({} as SharedGuestMemory)).toThrow(/needs a regions array/);
  });

  it('a worker thread opens the same WebAssembly.Memory and sees the same bytes both ways', async () => {
    const mem = GuestMemory.createWasm(specs, { growRoom: 2 * WASM_PAGE_SIZE });
    mem.write32(0x20, 41);
    mem.write32(0x1_0000_0000, 0x1234_5678);
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const w = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(${JSON.stringify(entry)}).then(({ GuestMemory }) => {
         const m = GuestMemory.fromShareableSync(workerData);
         const wm = m.wasmMemory;
         const raw = new DataView(wm.buffer);
         parentPort.postMessage({
           isMemory: wm instanceof WebAssembly.Memory,
           offsets: m.regions.map((r) => r.wasmOffset),
           sameBuffer: m.regions.every((r) => r.bytes.buffer === wm.buffer),
           read: m.read32(0x20),
           rawRead: raw.getUint32(0x40000, true),
         });
         parentPort.once('message', () => {
           m.write32(0x40, m.read32(0x20) + 1);
           raw.setUint32(0x30010, 0xfeedface, true);
           const grownFrom = wm.grow(1);
           parentPort.postMessage({ grownFrom });
         });
       }).catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));`,
      { eval: true, workerData: mem.toShareable() },
    );
    try {
      const next = () =>
        new Promise<Record<string, unknown>>((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        });
      const first = await next();
      expect(first).toEqual({
        isMemory: true,
        offsets: [0x1_0000, 0x3_0000, 0x4_0000],
        sameBuffer: true,
        read: 41,
        rawRead: 0x1234_5678,
      });
      mem.write32(0x20, 99);
      w.postMessage('go');
      expect(await next()).toEqual({ grownFrom: 5 });
      expect(mem.read32(0x40)).toBe(100);
      expect(mem.read32(0x1_1010)).toBe(0xfeedface);
      expect(mem.wasmMemory!.buffer.byteLength).toBe(6 * WASM_PAGE_SIZE);
    } finally {
      await w.terminate();
    }
  });
});
