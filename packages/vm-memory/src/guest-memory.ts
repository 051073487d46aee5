import { GuestMemoryError, hex } from './errors.js';
import { type GuestRegion, PAGE_SIZE, type RegionSpec, validateRegionSpecs } from './region.js';

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

/** A structured-clonable description of guest memory, to re-open it in a worker thread. */
export interface SharedGuestMemory {
  readonly regions: readonly {
    start: number;
    size: number;
    backing: GuestRegion['backing'];
    sharedBuffer?: SharedArrayBuffer;
    fd?: number;
    fdOffset: number;
  }[];
  /** One byte per 4 KiB page per region, shared by every thread that opened the memory. */
  readonly dirty?: readonly SharedArrayBuffer[];
}

/** Options for creating guest memory. */
export interface GuestMemoryOptions {
  /** Track pages written through this API (and through {@link GuestMemory.markDirty}). */
  dirtyTracking?: boolean;
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
 * workers) and memfd + mmap (registered with KVM, and mappable again in a worker thread).
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
export class GuestMemory {
  /** The regions, sorted by start address. */
  readonly regions: readonly GuestRegion[];
  private readonly dirty: (Uint8Array | undefined)[];
  private readonly dirtyBuffers?: SharedArrayBuffer[];
  private last: GuestRegion;
  private readonly scratch = new DataView(new ArrayBuffer(8));
  private readonly unmap?: () => void;

  private constructor(regions: GuestRegion[], dirty?: SharedArrayBuffer[], unmap?: () => void) {
    this.regions = regions;
    this.last = regions[0];
    this.dirtyBuffers = dirty;
    this.dirty = regions.map((_, i) => (dirty ? new Uint8Array(dirty[i]) : undefined));
    this.unmap = unmap;
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
   * // worker
   * const mem = await GuestMemory.fromShareable(msg);
   * ```
   */
  static async fromShareable(desc: SharedGuestMemory): Promise<GuestMemory> {
    const specs = validateRegionSpecs(desc.regions);
    if (specs.length !== desc.regions.length)
      throw new GuestMemoryError('invalid-region', 'bad shared description');
    const sorted = [...desc.regions].sort((a, b) => a.start - b.start);
    if (sorted.every((r) => r.backing === 'shared-array-buffer')) {
      const regions = sorted.map((r) => {
        if (!r.sharedBuffer || r.sharedBuffer.byteLength !== r.size) {
          throw new GuestMemoryError(
            'invalid-region',
            `region at ${hex(r.start)} lacks its SharedArrayBuffer`,
            r.start,
          );
        }
        return sharedRegion(r.start, r.size, r.sharedBuffer);
      });
      return new GuestMemory(regions, desc.dirty ? [...desc.dirty] : undefined);
    }
    const addon = await loadMemfdAddon();
    return GuestMemory.mapMemfd(addon, sorted, desc.dirty ? [...desc.dirty] : null);
  }

  /** Synchronous variant of {@link GuestMemory.fromShareable} for SharedArrayBuffer-backed memory. */
  static fromShareableSync(desc: SharedGuestMemory): GuestMemory {
    validateRegionSpecs(desc.regions);
    const sorted = [...desc.regions].sort((a, b) => a.start - b.start);
    const regions = sorted.map((r) => {
      if (r.backing !== 'shared-array-buffer' || !r.sharedBuffer || r.sharedBuffer.byteLength !== r.size) {
        throw new GuestMemoryError(
          'invalid-region',
          `region at ${hex(r.start)} is not SharedArrayBuffer-backed; use fromShareable()`,
          r.start,
        );
      }
      return sharedRegion(r.start, r.size, r.sharedBuffer);
    });
    return new GuestMemory(regions, desc.dirty ? [...desc.dirty] : undefined);
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
    return {
      regions: this.regions.map((r) => ({
        start: r.start,
        size: r.size,
        backing: r.backing,
        sharedBuffer: r.sharedBuffer,
        fd: r.fd,
        fdOffset: r.fdOffset,
      })),
      dirty: this.dirtyBuffers,
    };
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

function sharedRegion(start: number, size: number, sab: SharedArrayBuffer): GuestRegion {
  return {
    start,
    size,
    bytes: new Uint8Array(sab),
    view: new DataView(sab),
    backing: 'shared-array-buffer',
    fdOffset: 0,
    sharedBuffer: sab,
  };
}

function makeDirtyBuffers(regions: readonly GuestRegion[]): SharedArrayBuffer[] {
  return regions.map((r) => new SharedArrayBuffer(r.size / PAGE_SIZE));
}

function fmt(n: number): string {
  return Number.isFinite(n) ? hex(n) : String(n);
}
