import type { GuestMemoryAccess } from './access.js';
import { GuestMemoryError, hex } from './errors.js';
import { type GuestRegion, PAGE_SIZE, type RegionSpec, validateRegionSpecs } from './region.js';
import { DEFAULT_WASM_GROW_ROOM, MAX_WASM_PAGES, WASM_PAGE_SIZE, wasmLayout } from './wasm-layout.js';

/**
 * Encodes and decodes a fixed-size value to bytes. The kvm-sys struct layouts (`KvmRegs`, ...) fit
 * this shape, and so does any hand-written codec.
 *
 * @example
 * ```ts
 * const Pair: Codec<[number, number]> = {
 *   size: 8,
 *   decode: (b, o = 0) => { const v = new DataView(b.buffer, b.byteOffset); return [v.getUint32(o, true), v.getUint32(o + 4, true)]; },
 *   encode: ([a, b], into = new Uint8Array(8), o = 0) => { const v = new DataView(into.buffer, into.byteOffset); v.setUint32(o, a, true); v.setUint32(o + 4, b, true); return into; },
 * };
 * ```
 */
export interface Codec<T> {
  readonly size: number;
  decode(bytes: Uint8Array, offset?: number): T;
  encode(value: T, into?: Uint8Array, offset?: number): Uint8Array;
}

/**
 * A structured-clonable description of guest memory, to re-open it in a worker thread.
 *
 * Three forms: SharedArrayBuffer memory names each region's `sharedBuffer`; memfd memory names the
 * `fd` and `fdOffset`; memory inside one `WebAssembly.Memory` carries that memory (`wasmMemory`) and
 * each region's `wasmOffset` in it.
 */
export interface SharedGuestMemory {
  readonly regions: readonly {
    start: number;
    size: number;
    backing: GuestRegion['backing'];
    sharedBuffer?: SharedArrayBuffer;
    fd?: number;
    fdOffset: number;
    /** Byte offset of the region inside `wasmMemory` (wasm memory only). */
    wasmOffset?: number;
  }[];
  /** One byte per 4 KiB page per region (in the order of `regions`), shared by every thread that opened the memory. */
  readonly dirty?: readonly SharedArrayBuffer[];
  /** The shared `WebAssembly.Memory` holding every region (memory made by {@link GuestMemory.createWasm}). */
  readonly wasmMemory?: WebAssembly.Memory;
}

/** Options for creating guest memory. */
export interface GuestMemoryOptions {
  /** Track pages written through this API (and through {@link GuestMemory.markDirty}). */
  dirtyTracking?: boolean;
}

/** Options for {@link GuestMemory.createWasm}. */
export interface WasmGuestMemoryOptions extends GuestMemoryOptions {
  /**
   * Bytes the memory may grow by above the regions, for its user's own state (taken with
   * `wasmMemory.grow(pages)`); rounded up to whole 64 KiB pages. Default 16 MiB.
   */
  growRoom?: number;
}

interface MemfdAddon {
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, size: number): void;
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): ArrayBuffer;
  munmap(buf: ArrayBuffer): void;
  addressOf(buf: ArrayBuffer | ArrayBufferView): bigint;
  close(fd: number): void;
}

const PROT_READ_WRITE = 0x3;
const MAP_SHARED = 0x01;
const MAP_NORESERVE = 0x4000;
const MFD_CLOEXEC = 0x1;

async function loadMemfdAddon(): Promise<MemfdAddon> {
  try {
    const sys: { loadAddon(): MemfdAddon } = await import('@ts-vmm/kvm-sys' as string);
    return sys.loadAddon();
  } catch (e) {
    throw new GuestMemoryError(
      'backing',
      `memfd backing needs the @ts-vmm/kvm-sys native addon: ${(e as Error).message}. Use GuestMemory.createShared() for pure-TypeScript memory.`,
    );
  }
}

/**
 * Guest physical memory: a sorted set of non-overlapping regions with typed, bounds-checked access.
 * Accesses may cross region boundaries when the regions are adjacent; an access that touches an
 * address no region backs throws a {@link GuestMemoryError} of kind `'unmapped'` and changes nothing.
 *
 * Two backings sit behind the same interface: SharedArrayBuffer (pure TypeScript, shareable with
 * workers; either one buffer per region, or every region inside one shared `WebAssembly.Memory` for
 * WebAssembly code to reach) and memfd + mmap (registered with KVM, and mappable again in a worker
 * thread).
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * const mem = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
 * mem.write32(0x1000, 0xdeadbeef);
 * mem.read32(0x1000); // 0xdeadbeef
 * mem.write64(0x2000, 0x1122334455667788n);
 * ```
 */
export class GuestMemory implements GuestMemoryAccess {
  /** The regions, sorted by start address. */
  readonly regions: readonly GuestRegion[];
  private readonly dirty: (Uint8Array | undefined)[];
  private readonly dirtyBuffers?: SharedArrayBuffer[];
  private last: GuestRegion;
  private readonly scratch = new DataView(new ArrayBuffer(8));
  private readonly unmap?: () => void;
  private readonly wasm?: WebAssembly.Memory;

  private constructor(
    regions: GuestRegion[],
    dirty?: SharedArrayBuffer[],
    unmap?: () => void,
    wasm?: WebAssembly.Memory,
  ) {
    this.regions = regions;
    this.last = regions[0];
    this.dirtyBuffers = dirty;
    this.dirty = regions.map((_, i) => (dirty ? new Uint8Array(dirty[i]) : undefined));
    this.unmap = unmap;
    this.wasm = wasm;
  }

  /**
   * Creates memory backed by one SharedArrayBuffer per region (pure TypeScript).
   * @example GuestMemory.createShared([{ start: 0, size: 0x10_0000 }, { start: 0x1_0000_0000, size: 0x10_0000 }])
   */
  static createShared(specs: readonly RegionSpec[], options: GuestMemoryOptions = {}): GuestMemory {
    const sorted = validateRegionSpecs(specs);
    const regions = sorted.map((s) => {
      const sab = new SharedArrayBuffer(s.size);
      return sharedRegion(s.start, s.size, sab);
    });
    return new GuestMemory(regions, options.dirtyTracking ? makeDirtyBuffers(regions) : undefined);
  }

  /**
   * Creates memory whose regions all lie in one shared `WebAssembly.Memory` (pure TypeScript), so
   * that WebAssembly code importing that memory reaches guest RAM directly.
   *
   * Layout: wasm page 0 (bytes `[0, 0x10000)`) is left unused, so wasm address 0 is never guest RAM;
   * the regions follow back to back in guest-address order from byte 0x10000, each starting on a
   * 64 KiB boundary (its `wasmOffset`). The memory starts with the pages that cover the last region
   * and may grow by `growRoom` bytes (default 16 MiB, rounded up to pages): its user takes room for
   * its own state with `wasmMemory.grow(pages)`, which returns the old size in pages, i.e. where the
   * new room starts. The whole memory, grow room included, must fit in wasm32's 4 GiB (65536 pages);
   * larger memory throws {@link GuestMemoryError} (`'backing'`) before allocating anything: use
   * {@link GuestMemory.createShared} for it. {@link wasmLayout} tells in advance whether it fits.
   *
   * Regions are backed by `'shared-array-buffer'`: `sharedBuffer` is the memory's buffer, `bytes` and
   * `view` are views of it at `wasmOffset`. They stay valid when the memory grows (growing a shared
   * memory never moves it; `wasmMemory.buffer` then is a new, longer SharedArrayBuffer object).
   *
   * @example
   * ```ts
   * const mem = GuestMemory.createWasm([{ start: 0, size: 0x10_0000 }], { growRoom: 1 << 20 });
   * mem.regions[0].wasmOffset; // 0x10000
   * mem.write32(0x100, 0xdeadbeef);
   * new DataView(mem.wasmMemory!.buffer).getUint32(0x10000 + 0x100, true); // 0xdeadbeef
   * const stateBase = mem.wasmMemory!.grow(1) * 0x10000; // 64 KiB of room after guest RAM
   * ```
   */
  static createWasm(specs: readonly RegionSpec[], options: WasmGuestMemoryOptions = {}): GuestMemory {
    const growRoom = options.growRoom ?? DEFAULT_WASM_GROW_ROOM;
    const plan = wasmLayout(specs, growRoom);
    if (!plan.fits) {
      const ram = plan.regions.reduce((n, r) => n + r.size, 0);
      const total = plan.maximumPages * WASM_PAGE_SIZE;
      throw new GuestMemoryError(
        'backing',
        `guest memory in a WebAssembly.Memory would need ${plan.maximumPages} pages of 64 KiB ` +
          `(${hex(total)} bytes = ${mib(total)}: ${mib(ram)} of regions, 64 KiB unused page 0, ` +
          `64 KiB alignment, ${mib(growRoom)} grow room), over the wasm32 limit of ` +
          `${MAX_WASM_PAGES} pages (4 GiB); use GuestMemory.createShared() for memory this large`,
      );
    }
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({
        initial: plan.initialPages,
        maximum: plan.maximumPages,
        shared: true,
      });
    } catch (e) {
      throw new GuestMemoryError(
        'backing',
        `cannot allocate a shared WebAssembly.Memory of ${plan.initialPages} pages (maximum ` +
          `${plan.maximumPages}): ${(e as Error).message}`,
      );
    }
    const buffer = memory.buffer as unknown as SharedArrayBuffer;
    const regions = plan.regions.map((r) => sharedRegion(r.start, r.size, buffer, r.wasmOffset));
    return new GuestMemory(
      regions,
      options.dirtyTracking ? makeDirtyBuffers(regions) : undefined,
      undefined,
      memory,
    );
  }

  /**
   * Creates memory backed by one memfd, mmap'd once per region (needs the kvm-sys addon). The regions'
   * `hostAddress` and `fd` are what a KVM backend registers with `KVM_SET_USER_MEMORY_REGION`.
   * @example const mem = await GuestMemory.createMemfd([{ start: 0, size: 256 << 20 }]);
   */
  static async createMemfd(
    specs: readonly RegionSpec[],
    options: GuestMemoryOptions & { name?: string } = {},
  ): Promise<GuestMemory> {
    const sorted = validateRegionSpecs(specs);
    const addon = await loadMemfdAddon();
    const total = sorted.reduce((n, s) => n + s.size, 0);
    let fd: number;
    try {
      fd = addon.memfdCreate(options.name ?? 'ts-vmm-guest', MFD_CLOEXEC);
      addon.ftruncate(fd, total);
    } catch (e) {
      throw new GuestMemoryError('backing', `cannot create a ${total}-byte memfd: ${(e as Error).message}`);
    }
    let off = 0;
    const layout = sorted.map((s) => {
      const r = { start: s.start, size: s.size, backing: 'memfd' as const, fd, fdOffset: off };
      off += s.size;
      return r;
    });
    try {
      return GuestMemory.mapMemfd(addon, layout, options.dirtyTracking ? undefined : null, true);
    } catch (e) {
      addon.close(fd);
      throw e;
    }
  }

  /**
   * Opens memory described by {@link GuestMemory.toShareable} (in a worker thread, typically). Both
   * sides then see the same bytes.
   * @example
   * ```ts
   * // main thread
   * worker.postMessage(mem.toShareable());
   * // worker, with the posted description as `msg`
   * const shared = await GuestMemory.fromShareable(msg);
   * ```
   */
  static async fromShareable(desc: SharedGuestMemory): Promise<GuestMemory> {
    const { regions: sorted, dirty } = sortedDescription(desc);
    if (desc.wasmMemory !== undefined || sorted.every((r) => r.backing === 'shared-array-buffer')) {
      return GuestMemory.fromShareableSync(desc);
    }
    const addon = await loadMemfdAddon();
    return GuestMemory.mapMemfd(addon, sorted, dirty ?? null);
  }

  /**
   * Synchronous variant of {@link GuestMemory.fromShareable} for SharedArrayBuffer-backed memory
   * (from {@link GuestMemory.createShared} or {@link GuestMemory.createWasm}); memfd memory needs
   * `fromShareable()`. Memory inside a `WebAssembly.Memory` opens as views of that same memory, at
   * the same offsets, and has its `wasmMemory`.
   * @example const mem = GuestMemory.fromShareableSync(workerData.memory);
   */
  static fromShareableSync(desc: SharedGuestMemory): GuestMemory {
    const { regions: sorted, dirty } = sortedDescription(desc);
    if (desc.wasmMemory !== undefined) return GuestMemory.openWasm(desc.wasmMemory, sorted, dirty);
    const regions = sorted.map((r) => {
      if (r.backing !== 'shared-array-buffer') {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} is not SharedArrayBuffer-backed; use fromShareable()`,
          r.start,
        );
      }
      if (!(r.sharedBuffer instanceof SharedArrayBuffer)) {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} lacks its SharedArrayBuffer`,
          r.start,
        );
      }
      if (r.sharedBuffer.byteLength !== r.size) {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} has size ${hex(r.size)} but its SharedArrayBuffer holds ${hex(r.sharedBuffer.byteLength)} bytes`,
          r.start,
        );
      }
      return sharedRegion(r.start, r.size, r.sharedBuffer);
    });
    return new GuestMemory(regions, dirty);
  }

  /** Opens the (sorted, validated) regions of a wasm memory description as views of `wasm`. */
  private static openWasm(
    wasm: WebAssembly.Memory,
    sorted: readonly RegionDescription[],
    dirty: SharedArrayBuffer[] | undefined,
  ): GuestMemory {
    if (!(wasm instanceof WebAssembly.Memory)) {
      throw new GuestMemoryError(
        'invalid-region',
        "the description's wasmMemory is not a WebAssembly.Memory",
      );
    }
    const buffer = wasm.buffer as unknown;
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new GuestMemoryError(
        'backing',
        "the description's WebAssembly.Memory is not shared (guest memory needs { shared: true })",
      );
    }
    let prevEnd = WASM_PAGE_SIZE;
    for (const r of [...sorted].sort((a, b) => (a.wasmOffset ?? 0) - (b.wasmOffset ?? 0))) {
      const o = r.wasmOffset;
      if (r.backing !== 'shared-array-buffer') {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} has backing '${r.backing}' but the description names a WebAssembly.Memory`,
          r.start,
        );
      }
      if (o === undefined || !Number.isSafeInteger(o) || o < WASM_PAGE_SIZE || o % WASM_PAGE_SIZE !== 0) {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} has wasmOffset ${typeof o === 'number' ? fmt(o) : String(o)}: must be a multiple of 64 KiB, at least 0x10000`,
          r.start,
        );
      }
      if (o < prevEnd) {
        throw new GuestMemoryError(
          'overlap',
          `region at ${hex(r.start)} (wasm bytes from ${hex(o)}) overlaps another region inside the WebAssembly.Memory`,
          r.start,
        );
      }
      if (o + r.size > buffer.byteLength) {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} (wasm bytes [${hex(o)}, ${hex(o + r.size)})) lies past the end of the WebAssembly.Memory (${hex(buffer.byteLength)} bytes)`,
          r.start,
        );
      }
      prevEnd = o + r.size;
    }
    const regions = sorted.map((r) => sharedRegion(r.start, r.size, buffer, r.wasmOffset));
    return new GuestMemory(regions, dirty, undefined, wasm);
  }

  private static mapMemfd(
    addon: MemfdAddon,
    layout: readonly { start: number; size: number; fd?: number; fdOffset: number }[],
    dirty: SharedArrayBuffer[] | null | undefined,
    ownsFd = false,
  ): GuestMemory {
    const mapped: ArrayBuffer[] = [];
    const regions: GuestRegion[] = [];
    try {
      for (const r of layout) {
        if (r.fd === undefined)
          throw new GuestMemoryError('invalid-region', `memfd region at ${hex(r.start)} has no fd`);
        const ab = addon.mmap(r.fd, r.size, PROT_READ_WRITE, MAP_SHARED | MAP_NORESERVE, r.fdOffset);
        mapped.push(ab);
        regions.push({
          start: r.start,
          size: r.size,
          bytes: new Uint8Array(ab),
          view: new DataView(ab),
          backing: 'memfd',
          fd: r.fd,
          fdOffset: r.fdOffset,
          hostAddress: addon.addressOf(ab),
        });
      }
    } catch (e) {
      for (const ab of mapped) addon.munmap(ab);
      if (e instanceof GuestMemoryError) throw e;
      throw new GuestMemoryError('backing', `mmap of guest memory failed: ${(e as Error).message}`);
    }
    const dirtyBufs = dirty === undefined ? makeDirtyBuffers(regions) : (dirty ?? undefined);
    const fd = layout[0]?.fd;
    return new GuestMemory(regions, dirtyBufs, () => {
      for (const ab of mapped) addon.munmap(ab);
      if (ownsFd && fd !== undefined) addon.close(fd);
    });
  }

  /** A structured-clonable description to re-open this memory elsewhere ({@link GuestMemory.fromShareable}). */
  toShareable(): SharedGuestMemory {
    const wasm = this.wasm;
    return {
      regions: this.regions.map((r) => ({
        start: r.start,
        size: r.size,
        backing: r.backing,
        // wasm memory: the receiver takes the (current) buffer from the WebAssembly.Memory itself
        sharedBuffer: wasm ? undefined : r.sharedBuffer,
        fd: r.fd,
        fdOffset: r.fdOffset,
        wasmOffset: r.wasmOffset,
      })),
      dirty: this.dirtyBuffers,
      wasmMemory: wasm,
    };
  }

  /**
   * The shared `WebAssembly.Memory` holding every region, for memory made by
   * {@link GuestMemory.createWasm} (or re-opened from it in another thread); `undefined` for other
   * backings. Region `r` lies at `r.wasmOffset` in it. Its user may `grow()` it (up to the grow room
   * it was created with) for state of its own; the regions are unaffected.
   *
   * @example
   * ```ts
   * const wm = mem.wasmMemory;
   * if (wm) {
   *   const instance = new WebAssembly.Instance(module, { env: { memory: wm } });
   *   const ram = new Uint8Array(wm.buffer, mem.regions[0].wasmOffset, mem.regions[0].size);
   * }
   * ```
   */
  get wasmMemory(): WebAssembly.Memory | undefined {
    return this.wasm;
  }

  /**
   * Unmaps memfd-backed regions (no-op for SharedArrayBuffer memory) and, for memory made by
   * {@link GuestMemory.createMemfd}, closes the memfd; memory opened with `fromShareable` leaves the
   * fd to its creator. Views obtained earlier must not be used afterwards. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unmap?.();
  }
  private closed = false;

  /** Total bytes of guest memory. */
  get totalSize(): number {
    return this.regions.reduce((n, r) => n + r.size, 0);
  }

  /** The last guest address backed by a region. */
  get lastAddress(): number {
    const r = this.regions[this.regions.length - 1];
    return r.start + r.size - 1;
  }

  /** The region holding `addr`, or `undefined`. @example mem.findRegion(0x1000)?.start */
  findRegion(addr: number): GuestRegion | undefined {
    const l = this.last;
    if (addr >= l.start && addr < l.start + l.size) return l;
    for (const r of this.regions) {
      if (addr >= r.start && addr < r.start + r.size) {
        this.last = r;
        return r;
      }
    }
    return undefined;
  }

  /** True when every byte of `[addr, addr+len)` is backed by memory. @example mem.checkRange(0, 16) */
  checkRange(addr: number, len: number): boolean {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0) return false;
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const r = this.findRegion(a);
      if (!r) return false;
      a = r.start + r.size;
    }
    return true;
  }

  private fail(addr: number, len: number): never {
    const bad = this.firstUnmapped(addr, len);
    throw new GuestMemoryError(
      'unmapped',
      `guest access of ${len} byte(s) at ${fmt(addr)} touches unmapped address ${fmt(bad)}`,
      bad,
    );
  }

  private firstUnmapped(addr: number, len: number): number {
    if (!Number.isSafeInteger(addr) || addr < 0) return addr;
    let a = addr;
    const end = addr + Math.max(len, 1);
    while (a < end) {
      const r = this.findRegion(a);
      if (!r) return a;
      a = r.start + r.size;
    }
    return a;
  }

  /** Region and offset for an access wholly inside one region, or throws/returns undefined when it crosses. */
  private locate(addr: number, len: number): GuestRegion | undefined {
    const r = this.findRegion(addr);
    if (!r) this.fail(addr, len);
    if (addr + len <= r.start + r.size) return r;
    if (!this.checkRange(addr, len)) this.fail(addr, len);
    return undefined; // crosses into an adjacent region
  }

  private markRange(addr: number, len: number): void {
    let a = addr;
    const end = addr + len;
    while (a < end) {
      const idx = this.regions.indexOf(this.findRegion(a)!);
      const r = this.regions[idx];
      const bm = this.dirty[idx];
      const stop = Math.min(end, r.start + r.size);
      if (bm) {
        for (
          let p = Math.floor((a - r.start) / PAGE_SIZE);
          p <= Math.floor((stop - 1 - r.start) / PAGE_SIZE);
          p++
        )
          bm[p] = 1;
      }
      a = stop;
    }
  }

  /** Reads a byte. @example mem.read8(0x7c00) */
  read8(addr: number): number {
    const r = this.locate(addr, 1)!;
    return r.bytes[addr - r.start];
  }
  /** Reads a little-endian u16. */
  read16(addr: number): number {
    const r = this.locate(addr, 2);
    if (r) return r.view.getUint16(addr - r.start, true);
    this.readSplit(addr, 2);
    return this.scratch.getUint16(0, true);
  }
  /** Reads a little-endian u32. */
  read32(addr: number): number {
    const r = this.locate(addr, 4);
    if (r) return r.view.getUint32(addr - r.start, true);
    this.readSplit(addr, 4);
    return this.scratch.getUint32(0, true);
  }
  /** Reads a little-endian u64 as a bigint. @example mem.read64(0x1000) === 0n */
  read64(addr: number): bigint {
    const r = this.locate(addr, 8);
    if (r) return r.view.getBigUint64(addr - r.start, true);
    this.readSplit(addr, 8);
    return this.scratch.getBigUint64(0, true);
  }
  /** Writes a byte (the low 8 bits of `value`). */
  write8(addr: number, value: number): void {
    const r = this.locate(addr, 1)!;
    r.bytes[addr - r.start] = value;
    if (this.dirtyBuffers) this.markRange(addr, 1);
  }
  /** Writes a little-endian u16. */
  write16(addr: number, value: number): void {
    const r = this.locate(addr, 2);
    if (r) r.view.setUint16(addr - r.start, value, true);
    else {
      this.scratch.setUint16(0, value, true);
      this.writeSplit(addr, 2);
    }
    if (this.dirtyBuffers) this.markRange(addr, 2);
  }
  /** Writes a little-endian u32. */
  write32(addr: number, value: number): void {
    const r = this.locate(addr, 4);
    if (r) r.view.setUint32(addr - r.start, value >>> 0, true);
    else {
      this.scratch.setUint32(0, value >>> 0, true);
      this.writeSplit(addr, 4);
    }
    if (this.dirtyBuffers) this.markRange(addr, 4);
  }
  /** Writes a little-endian u64 (bigint, truncated to 64 bits). @example mem.write64(0x1000, 1n << 63n) */
  write64(addr: number, value: bigint): void {
    const r = this.locate(addr, 8);
    if (r) r.view.setBigUint64(addr - r.start, BigInt.asUintN(64, value), true);
    else {
      this.scratch.setBigUint64(0, BigInt.asUintN(64, value), true);
      this.writeSplit(addr, 8);
    }
    if (this.dirtyBuffers) this.markRange(addr, 8);
  }

  private readSplit(addr: number, len: number): void {
    for (let i = 0; i < len; i++) this.scratch.setUint8(i, this.read8(addr + i));
  }
  private writeSplit(addr: number, len: number): void {
    for (let i = 0; i < len; i++) {
      const r = this.findRegion(addr + i)!;
      r.bytes[addr + i - r.start] = this.scratch.getUint8(i);
    }
  }

  /** Copies `len` bytes out of guest memory. @example mem.readBytes(0x1000, 16) */
  readBytes(addr: number, len: number): Uint8Array {
    const out = new Uint8Array(len);
    this.readInto(addr, out);
    return out;
  }

  /** Copies guest bytes at `addr` into `out` (all of it, or throws having copied nothing). */
  readInto(addr: number, out: Uint8Array): void {
    this.spans(addr, out.length, (r, off, n, done) => out.set(r.bytes.subarray(off, off + n), done));
  }

  /**
   * Checks `[addr, addr+len)` (throwing, with nothing touched, when any byte is unmapped), then calls
   * `fn` for each piece of the range that lies in one region: region, offset in it, length, and how
   * many bytes of the range came before.
   */
  private spans(
    addr: number,
    len: number,
    fn: (r: GuestRegion, off: number, n: number, done: number) => void,
  ): void {
    if (!this.checkRange(addr, len)) this.fail(addr, len);
    let done = 0;
    while (done < len) {
      const r = this.findRegion(addr + done)!;
      const off = addr + done - r.start;
      const n = Math.min(len - done, r.size - off);
      fn(r, off, n, done);
      done += n;
    }
  }

  /** Copies `data` into guest memory at `addr` (all of it, or throws having written nothing). */
  writeBytes(addr: number, data: Uint8Array): void {
    const len = data.length;
    this.spans(addr, len, (r, off, n, done) => r.bytes.set(data.subarray(done, done + n), off));
    if (this.dirtyBuffers && len > 0) this.markRange(addr, len);
  }

  /** Sets `len` bytes at `addr` to `value`. @example mem.fill(0x1000, 4096, 0) */
  fill(addr: number, len: number, value = 0): void {
    this.spans(addr, len, (r, off, n) => r.bytes.fill(value, off, off + n));
    if (this.dirtyBuffers && len > 0) this.markRange(addr, len);
  }

  /**
   * A zero-copy view of `[addr, addr+len)`. The range must lie in one region (throws kind
   * `'cross-region'` otherwise; use {@link GuestMemory.readBytes} for a copy). Writes through the view
   * are not dirty-tracked: call {@link GuestMemory.markDirty}.
   * @example mem.slice(0x1000, 512).set(sector)
   */
  slice(addr: number, len: number): Uint8Array {
    const r = this.findRegion(addr);
    if (!r || !Number.isSafeInteger(len) || len < 0) this.fail(addr, len);
    if (addr + len > r.start + r.size) {
      if (!this.checkRange(addr, len)) this.fail(addr, len);
      throw new GuestMemoryError(
        'cross-region',
        `range ${fmt(addr)}+${len} crosses a region boundary at ${fmt(r.start + r.size)}; no single view exists`,
        r.start + r.size,
      );
    }
    return r.bytes.subarray(addr - r.start, addr - r.start + len);
  }

  /** Reads a value through a codec (such as a kvm-sys struct layout). @example mem.readObj(addr, KvmRegs) */
  readObj<T>(addr: number, codec: Codec<T>): T {
    return codec.decode(this.readBytes(addr, codec.size), 0);
  }

  /** Writes a value through a codec. @example mem.writeObj(0x7000, BootParams, params) */
  writeObj<T>(addr: number, codec: Codec<T>, value: T): void {
    const buf = codec.encode(value, new Uint8Array(codec.size), 0);
    this.writeBytes(addr, buf.subarray(0, codec.size));
  }

  /** Reads a NUL-terminated string of at most `max` bytes (latin1). */
  readCString(addr: number, max: number): string {
    let s = '';
    for (let i = 0; i < max; i++) {
      const c = this.read8(addr + i);
      if (c === 0) break;
      s += String.fromCharCode(c);
    }
    return s;
  }

  /** True when dirty tracking is on. */
  get dirtyTracking(): boolean {
    return this.dirtyBuffers !== undefined;
  }

  /** Marks `[addr, addr+len)` dirty (for writers that go around this API, such as an emulator). */
  markDirty(addr: number, len: number): void {
    if (!this.dirtyBuffers || len <= 0) return;
    if (!this.checkRange(addr, len)) this.fail(addr, len);
    this.markRange(addr, len);
  }

  /**
   * Returns the guest addresses of pages written since the last call, and clears the log.
   * @example
   * ```ts
   * const mem = GuestMemory.createShared([{ start: 0, size: 0x4000 }], { dirtyTracking: true });
   * mem.write8(0x2001, 1);
   * mem.takeDirtyPages(); // [0x2000]
   * ```
   */
  takeDirtyPages(): number[] {
    if (!this.dirtyBuffers) {
      throw new GuestMemoryError(
        'backing',
        'dirty tracking is off: create the memory with { dirtyTracking: true }',
      );
    }
    const out: number[] = [];
    this.regions.forEach((r, i) => {
      const bm = this.dirty[i]!;
      for (let p = 0; p < bm.length; p++) {
        if (bm[p]) {
          bm[p] = 0;
          out.push(r.start + p * PAGE_SIZE);
        }
      }
    });
    return out;
  }
}

/** A region of `size` bytes at byte `offset` of `sab` (`wasmOffset`: the same offset, for wasm memory). */
function sharedRegion(start: number, size: number, sab: SharedArrayBuffer, wasmOffset?: number): GuestRegion {
  const offset = wasmOffset ?? 0;
  const region: GuestRegion = {
    start,
    size,
    bytes: new Uint8Array(sab, offset, size),
    view: new DataView(sab, offset, size),
    backing: 'shared-array-buffer',
    fdOffset: 0,
    sharedBuffer: sab,
  };
  return wasmOffset === undefined ? region : { ...region, wasmOffset };
}

type RegionDescription = SharedGuestMemory['regions'][number];

/**
 * Checks a shared description's regions (as {@link validateRegionSpecs}) and dirty buffers (one
 * SharedArrayBuffer of one byte per page for each region), and sorts both by guest address.
 */
function sortedDescription(desc: SharedGuestMemory): {
  regions: RegionDescription[];
  dirty: SharedArrayBuffer[] | undefined;
} {
  if (desc === null || typeof desc !== 'object' || !Array.isArray(desc.regions)) {
    throw new GuestMemoryError('invalid-region', 'a shared guest memory description needs a regions array');
  }
  validateRegionSpecs(desc.regions);
  const order = desc.regions.map((_, i) => i).sort((a, b) => desc.regions[a].start - desc.regions[b].start);
  const regions = order.map((i) => desc.regions[i]);
  if (desc.dirty === undefined) return { regions, dirty: undefined };
  if (!Array.isArray(desc.dirty) || desc.dirty.length !== desc.regions.length) {
    throw new GuestMemoryError(
      'invalid-region',
      `the description has ${desc.regions.length} region(s) but ${Array.isArray(desc.dirty) ? desc.dirty.length : 'no array of'} dirty bitmap(s)`,
    );
  }
  const dirty = order.map((i) => {
    const d = desc.dirty![i];
    const r = desc.regions[i];
    if (!(d instanceof SharedArrayBuffer) || d.byteLength !== r.size / PAGE_SIZE) {
      throw new GuestMemoryError(
        'invalid-region',
        `the dirty bitmap of region at ${hex(r.start)} must be a SharedArrayBuffer of ${r.size / PAGE_SIZE} bytes (one per page)`,
        r.start,
      );
    }
    return d;
  });
  return { regions, dirty };
}

function makeDirtyBuffers(regions: readonly GuestRegion[]): SharedArrayBuffer[] {
  return regions.map((r) => new SharedArrayBuffer(r.size / PAGE_SIZE));
}

function mib(n: number): string {
  return `${+(n / 0x10_0000).toFixed(2)} MiB`;
}

function fmt(n: number): string {
  return Number.isFinite(n) ? hex(n) : String(n);
}
