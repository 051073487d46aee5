import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { DeviceError } from '../errors.js';
import type { DeviceStateValue, StateReader } from '../state.js';
import { VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F } from './constants.js';

/** Largest queue size a split virtqueue can have. */
export const MAX_QUEUE_SIZE = 32768;
/** Largest indirect descriptor table accepted (entries), as QEMU's VIRTQUEUE_MAX_SIZE. */
export const MAX_INDIRECT_DESCRIPTORS = 1024;

/** One buffer of a descriptor chain, already checked to lie inside guest memory. */
export interface Descriptor {
  readonly addr: number;
  readonly len: number;
  /** Device-writable (VIRTQ_DESC_F_WRITE). */
  readonly writable: boolean;
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

function addrHex(hi: number, lo: number): string {
  return `0x${((BigInt(hi) << 32n) | BigInt(lo)).toString(16)}`;
}

/**
 * A popped descriptor chain: the head index (what goes back in the used ring) and its buffers, the
 * device-readable ones first, then the device-writable ones.
 *
 * @example
 * ```ts
 * const chain = queue.pop(mem);
 * if (chain) {
 *   const header = chain.reader(mem).read(16);
 *   const n = chain.writer(mem).write(reply);
 *   queue.addUsed(mem, chain.head, n);
 * }
 * ```
 */
export class DescriptorChain {
  /** Sum of the lengths of the device-readable buffers. */
  readonly readableLength: number;
  /** Sum of the lengths of the device-writable buffers. */
  readonly writableLength: number;
  constructor(
    readonly head: number,
    readonly descriptors: readonly Descriptor[],
  ) {
    let r = 0;
    let w = 0;
    for (const d of descriptors) {
      if (d.writable) w += d.len;
      else r += d.len;
    }
    this.readableLength = r;
    this.writableLength = w;
  }
  /** A reader over the device-readable buffers. */
  reader(mem: GuestMemoryAccess): ChainReader {
    return new ChainReader(
      mem,
      this.descriptors.filter((d) => !d.writable),
    );
  }
  /** A writer over the device-writable buffers. */
  writer(mem: GuestMemoryAccess): ChainWriter {
    return new ChainWriter(
      mem,
      this.descriptors.filter((d) => d.writable),
    );
  }
}

/**
 * A reusable, allocation-free descriptor chain for hot paths ({@link Queue.takeHead} and
 * {@link Queue.parseChainInto}): the buffers as parallel arrays, device-readable ones first. The
 * arrays only grow; entries past `count` are stale.
 *
 * @example
 * ```ts
 * const buf = new ChainBuffer();
 * for (let n = queue.pending(mem); n > 0; n--) {
 *   queue.parseChainInto(mem, queue.takeHead(mem), buf);
 *   // buf.addrs[i], buf.lens[i], buf.writable[i] for i < buf.count
 * }
 * queue.publishAvailEvent(mem);
 * ```
 */
export class ChainBuffer {
  /** Head descriptor index (what goes back in the used ring). */
  head = 0;
  /** Number of buffers. */
  count = 0;
  /** Sum of the lengths of the device-readable buffers. */
  readableLength = 0;
  /** Sum of the lengths of the device-writable buffers. */
  writableLength = 0;
  /** Guest address of each buffer (checked to lie in guest memory). */
  readonly addrs: number[] = [];
  /** Length of each buffer. */
  readonly lens: number[] = [];
  /** Whether each buffer is device-writable. */
  readonly writable: boolean[] = [];

  /** Empties the buffer for a new chain. */
  clear(head: number): void {
    this.head = head;
    this.count = 0;
    this.readableLength = 0;
    this.writableLength = 0;
  }

  /** Appends a buffer. */
  push(addr: number, len: number, writable: boolean): void {
    const i = this.count++;
    this.addrs[i] = addr;
    this.lens[i] = len;
    this.writable[i] = writable;
    if (writable) this.writableLength += len;
    else this.readableLength += len;
  }

  /** A standalone {@link DescriptorChain} copy (for slow paths that want readers and writers). */
  toChain(): DescriptorChain {
    const ds: Descriptor[] = [];
    for (let i = 0; i < this.count; i++)
      ds.push({ addr: this.addrs[i], len: this.lens[i], writable: this.writable[i] });
    return new DescriptorChain(this.head, ds);
  }
}

/**
 * A position in a descriptor chain's buffers: walks them in order, a piece per descriptor.
 */
abstract class ChainCursor {
  private i = 0;
  private off = 0;
  /** Bytes not yet consumed. */
  remaining: number;
  constructor(
    protected readonly mem: GuestMemoryAccess,
    private readonly descs: readonly Descriptor[],
  ) {
    this.remaining = descs.reduce((n, d) => n + d.len, 0);
  }
  /**
   * Consumes up to `max` bytes, calling `piece(guestAddress, length, bytesBefore)` for each part
   * that lies in one descriptor; returns the count consumed.
   */
  protected walk(max: number, piece: (addr: number, n: number, done: number) => void): number {
    let done = 0;
    while (done < max && this.i < this.descs.length) {
      const d = this.descs[this.i];
      const n = Math.min(max - done, d.len - this.off);
      if (n > 0) piece(d.addr + this.off, n, done);
      done += n;
      this.off += n;
      if (this.off === d.len) {
        this.i++;
        this.off = 0;
      }
    }
    this.remaining -= done;
    return done;
  }
  /** Consumes up to `max` bytes as guest (address, length) pieces. */
  protected segments(max: number, writable: boolean): Descriptor[] {
    const out: Descriptor[] = [];
    this.walk(max, (addr, len) => out.push({ addr, len, writable }));
    return out;
  }
}

/**
 * Sequential reads across a chain's readable buffers.
 * @example const hdr = chain.reader(mem).read(16);
 */
export class ChainReader extends ChainCursor {
  /** Reads exactly `n` bytes; throws {@link DeviceError} when the chain holds fewer. */
  read(n: number): Uint8Array {
    const out = new Uint8Array(n);
    if (this.readInto(out) !== n)
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `descriptor chain too short: needed ${n} readable bytes`,
      );
    return out;
  }
  /** Reads up to `out.length` bytes; returns the count. */
  readInto(out: Uint8Array): number {
    return this.walk(out.length, (addr, n, done) => this.mem.readInto(addr, out.subarray(done, done + n)));
  }
  /** Skips `n` bytes (or as many as remain); returns the count skipped. */
  skip(n: number): number {
    return this.walk(n, () => {});
  }
  /** The remaining bytes as guest (address, length) pieces, consuming them. */
  takeSegments(max = Number.POSITIVE_INFINITY): Descriptor[] {
    return this.segments(max, false);
  }
}

/**
 * Sequential writes across a chain's writable buffers.
 * @example chain.writer(mem).write(Uint8Array.of(0)); // status byte
 */
export class ChainWriter extends ChainCursor {
  /** Bytes written so far. */
  written = 0;
  /** Writes as much of `data` as fits; returns the count written. */
  write(data: Uint8Array): number {
    const done = this.walk(data.length, (addr, n, off) =>
      this.mem.writeBytes(addr, data.subarray(off, off + n)),
    );
    this.written += done;
    return done;
  }
  /** Takes up to `max` bytes of room as guest (address, length) pieces, counting them as written. */
  takeSegments(max = Number.POSITIVE_INFINITY): Descriptor[] {
    const segs = this.segments(max, true);
    for (const d of segs) this.written += d.len;
    return segs;
  }
}

/**
 * An aligned 16-bit cell of guest memory accessed with Atomics, so that index publication is ordered
 * with respect to the guest's vCPU threads (a sequentially consistent store is a full barrier).
 */
function u16Cell(mem: GuestMemoryAccess, addr: number): Uint16Array {
  const bytes = mem.slice(addr, 2);
  return new Uint16Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, 1);
}

/**
 * A split virtqueue (virtio 1.x §2.7), device side.
 *
 * The driver configures it through the transport (size, three ring addresses, ready); the device
 * then {@link Queue.pop}s descriptor chains, fills them, and returns them with {@link Queue.addUsed},
 * asking {@link Queue.needsNotification} whether the driver wants an interrupt (VIRTIO_F_EVENT_IDX
 * or the NO_INTERRUPT flag).
 *
 * Every guest-supplied value is checked: the avail index may run ahead of the device by at most the
 * queue size; heads and `next` fields must be below the queue size; a chain has at most `size`
 * descriptors (an indirect table at most its own length, and at most
 * {@link MAX_INDIRECT_DESCRIPTORS}); indirect tables do not nest and may not be chained; writable
 * buffers follow readable ones; and every buffer lies in guest memory. Violations throw
 * {@link DeviceError}, which the transport turns into DEVICE_NEEDS_RESET.
 *
 * Ordering: the used element is written before the used index, and the used index is published
 * with `Atomics.store` (a full barrier on x86 and a release on weaker machines); the avail index is
 * read with `Atomics.load` before the ring entries it covers. In single-threaded JavaScript these
 * would be implied; they matter because the guest's vCPUs run on other threads.
 *
 * @example
 * ```ts
 * let chain: DescriptorChain | null;
 * while ((chain = queue.pop(mem)) !== null) {
 *   const n = chain.writer(mem).write(data);
 *   queue.addUsed(mem, chain.head, n);
 * }
 * if (queue.needsNotification(mem)) interrupt.signalUsed(0);
 * ```
 */
export class Queue {
  /** Queue size chosen by the driver (a power of two, at most `maxSize`). */
  size: number;
  /** Whether the driver set QueueReady. */
  ready = false;
  /** Guest address of the descriptor table. */
  descTable = 0;
  /** Guest address of the driver area (avail ring). */
  availRing = 0;
  /** Guest address of the device area (used ring). */
  usedRing = 0;
  /** Next avail ring slot the device will read (free-running u16). */
  nextAvail = 0;
  /** Next used ring slot the device will write (free-running u16). */
  nextUsed = 0;
  /** VIRTIO_F_RING_EVENT_IDX negotiated. */
  eventIdx = false;
  /** VIRTIO_F_RING_INDIRECT_DESC negotiated. */
  indirect = false;
  private signalledUsed: number | undefined;
  private availIdxCell?: Uint16Array;
  private usedIdxCell?: Uint16Array;
  private availEventCell?: Uint16Array;
  /** Direct views of the three ring areas when each lies in one region (the fast path). */
  private descView?: DataView;
  private descOff = 0;
  private availView?: DataView;
  private availOff = 0;
  private usedView?: DataView;
  private usedOff = 0;

  constructor(readonly maxSize: number) {
    if (
      !Number.isInteger(maxSize) ||
      maxSize < 1 ||
      maxSize > MAX_QUEUE_SIZE ||
      (maxSize & (maxSize - 1)) !== 0
    ) {
      throw new DeviceError(
        'invalid-config',
        'virtqueue',
        `queue max size ${maxSize} must be a power of two in [1, ${MAX_QUEUE_SIZE}]`,
      );
    }
    this.size = maxSize;
  }

  /** Back to the state after device reset. */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = 0;
    this.availRing = 0;
    this.usedRing = 0;
    this.nextAvail = 0;
    this.nextUsed = 0;
    this.eventIdx = false;
    this.indirect = false;
    this.signalledUsed = undefined;
    this.availIdxCell = this.usedIdxCell = this.availEventCell = undefined;
    this.descView = this.availView = this.usedView = undefined;
  }

  /**
   * Checks the driver's configuration against guest memory (sizes, alignment, ranges) and prepares
   * the queue for use. Throws {@link DeviceError} naming the bad value.
   */
  validate(mem: GuestMemoryAccess): void {
    const s = this.size;
    if (s < 1 || s > this.maxSize || (s & (s - 1)) !== 0)
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `queue size ${s} must be a power of two in [1, ${this.maxSize}]`,
      );
    const parts: [string, number, number, number][] = [
      ['descriptor table', this.descTable, 16 * s, 16],
      ['driver area', this.availRing, 6 + 2 * s, 2],
      ['device area', this.usedRing, 6 + 8 * s, 4],
    ];
    for (const [name, addr, len, align] of parts) {
      if (addr % align !== 0)
        throw new DeviceError(
          'guest-error',
          'virtqueue',
          `${name} address ${hex(addr)} is not ${align}-byte aligned`,
        );
      if (!mem.checkRange(addr, len))
        throw new DeviceError(
          'guest-error',
          'virtqueue',
          `${name} [${hex(addr)}, +${len}) is not inside guest memory`,
        );
    }
    const view = (addr: number, len: number): [DataView | undefined, number] => {
      const r = mem.findRegion(addr);
      if (!r || addr + len > r.start + r.size) return [undefined, 0];
      return [new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength), addr - r.start];
    };
    [this.descView, this.descOff] = view(this.descTable, 16 * s);
    [this.availView, this.availOff] = view(this.availRing, 6 + 2 * s);
    [this.usedView, this.usedOff] = view(this.usedRing, 6 + 8 * s);
    try {
      this.availIdxCell = u16Cell(mem, this.availRing + 2);
      this.usedIdxCell = u16Cell(mem, this.usedRing + 2);
      this.availEventCell = u16Cell(mem, this.usedRing + 4 + 8 * s);
    } catch (e) {
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `queue rings cannot be mapped: ${(e as Error).message}`,
      );
    }
  }

  private availIdx(mem: GuestMemoryAccess): number {
    return this.availIdxCell ? Atomics.load(this.availIdxCell, 0) : mem.read16(this.availRing + 2);
  }

  /** Number of chains the driver has made available and the device has not popped. */
  pending(mem: GuestMemoryAccess): number {
    const n = (this.availIdx(mem) - this.nextAvail) & 0xffff;
    if (n > this.size)
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `avail index ${this.availIdx(mem)} is ${n} ahead of the device, more than the queue size ${this.size}`,
      );
    return n;
  }

  /**
   * Takes the next available descriptor chain, or returns null when there is none.
   * Throws {@link DeviceError} for a malformed ring or chain.
   */
  pop(mem: GuestMemoryAccess): DescriptorChain | null {
    if (!this.ready) return null;
    if (this.pending(mem) === 0) return null;
    const head = this.takeHead(mem);
    this.publishAvailEvent(mem);
    this.parseChainInto(mem, head, this.scratch);
    return this.scratch.toChain();
  }

  /**
   * Takes the next avail ring entry's head index without parsing it and without publishing
   * `avail_event`: the batch form of {@link Queue.pop}. The caller must have seen
   * {@link Queue.pending} above zero, and calls {@link Queue.publishAvailEvent} after the batch
   * (then checks `pending` again, so that no notification is lost).
   */
  takeHead(mem: GuestMemoryAccess): number {
    const slot = 4 + 2 * (this.nextAvail & (this.size - 1));
    const head = this.availView
      ? this.availView.getUint16(this.availOff + slot, true)
      : mem.read16(this.availRing + slot);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    return head;
  }

  /** With VIRTIO_F_EVENT_IDX, asks the driver to notify once it moves past what was taken. */
  publishAvailEvent(mem: GuestMemoryAccess): void {
    if (!this.eventIdx) return;
    if (this.availEventCell) Atomics.store(this.availEventCell, 0, this.nextAvail);
    else mem.write16(this.usedRing + 4 + 8 * this.size, this.nextAvail);
  }

  /** Puts the last popped chain back (the device could not use it yet). */
  undoPop(): void {
    this.nextAvail = (this.nextAvail - 1) & 0xffff;
    if (this.eventIdx && this.availEventCell) Atomics.store(this.availEventCell, 0, this.nextAvail);
  }

  /** Reads descriptor `i` of `table` into `this.d` (no allocation). `addr` is -1 past 2^53. */
  private readDesc(mem: GuestMemoryAccess, table: number, i: number): void {
    const d = this.d;
    let lo: number;
    let hi: number;
    const v = table === this.descTable ? this.descView : undefined;
    if (v) {
      const o = this.descOff + 16 * i;
      lo = v.getUint32(o, true);
      hi = v.getUint32(o + 4, true);
      d.len = v.getUint32(o + 8, true);
      d.flags = v.getUint16(o + 12, true);
      d.next = v.getUint16(o + 14, true);
    } else {
      const base = table + 16 * i;
      lo = mem.read32(base);
      hi = mem.read32(base + 4);
      d.len = mem.read32(base + 8);
      d.flags = mem.read16(base + 12);
      d.next = mem.read16(base + 14);
    }
    d.addr = hi >= 0x20_0000 ? -1 : hi * 0x1_0000_0000 + lo;
    d.hi = hi;
    d.lo = lo;
  }
  private readonly d = { addr: 0, hi: 0, lo: 0, len: 0, flags: 0, next: 0 };
  private readonly scratch = new ChainBuffer();

  /** Checks the descriptor in `this.d` and appends it to `out`. */
  private pushDesc(mem: GuestMemoryAccess, out: ChainBuffer): void {
    const d = this.d;
    if (d.addr < 0 || !mem.checkRange(d.addr, d.len)) {
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `descriptor buffer [${addrHex(d.hi, d.lo)}, +${d.len}) is outside guest memory`,
      );
    }
    const writable = (d.flags & VIRTQ_DESC_F.WRITE) !== 0;
    if (!writable && out.count > 0 && out.writable[out.count - 1])
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        'device-readable descriptor after a device-writable one',
      );
    out.push(d.addr, d.len, writable);
  }

  /**
   * Parses the chain starting at descriptor `head` into `out` (reused, no allocation), with every
   * check {@link Queue.pop} makes. Throws {@link DeviceError} for a malformed chain.
   */
  parseChainInto(mem: GuestMemoryAccess, head: number, out: ChainBuffer): void {
    if (head >= this.size)
      throw new DeviceError(
        'guest-error',
        'virtqueue',
        `descriptor head ${head} is out of range for queue size ${this.size}`,
      );
    out.clear(head);
    const d = this.d;
    let i = head;
    let count = 0;
    for (;;) {
      if (++count > this.size)
        throw new DeviceError(
          'guest-error',
          'virtqueue',
          `descriptor chain from head ${head} is longer than the queue size ${this.size} (a loop?)`,
        );
      this.readDesc(mem, this.descTable, i);
      if (d.flags & VIRTQ_DESC_F.INDIRECT) {
        if (!this.indirect)
          throw new DeviceError(
            'guest-error',
            'virtqueue',
            'indirect descriptor used but VIRTIO_F_RING_INDIRECT_DESC not negotiated',
          );
        if (d.flags & VIRTQ_DESC_F.NEXT)
          throw new DeviceError('guest-error', 'virtqueue', 'indirect descriptor with the NEXT flag set');
        if (d.len === 0 || d.len % 16 !== 0)
          throw new DeviceError(
            'guest-error',
            'virtqueue',
            `indirect table length ${d.len} is not a non-zero multiple of 16`,
          );
        const n = d.len / 16;
        if (n > MAX_INDIRECT_DESCRIPTORS)
          throw new DeviceError(
            'guest-error',
            'virtqueue',
            `indirect table of ${n} descriptors exceeds ${MAX_INDIRECT_DESCRIPTORS}`,
          );
        if (d.addr < 0 || !mem.checkRange(d.addr, d.len))
          throw new DeviceError(
            'guest-error',
            'virtqueue',
            `indirect table [${addrHex(d.hi, d.lo)}, +${d.len}) is outside guest memory`,
          );
        const table = d.addr;
        let j = 0;
        let icount = 0;
        for (;;) {
          if (++icount > n)
            throw new DeviceError(
              'guest-error',
              'virtqueue',
              `indirect chain longer than its table (${n}): a loop?`,
            );
          this.readDesc(mem, table, j);
          if (d.flags & VIRTQ_DESC_F.INDIRECT)
            throw new DeviceError('guest-error', 'virtqueue', 'nested indirect descriptor table');
          this.pushDesc(mem, out);
          if (!(d.flags & VIRTQ_DESC_F.NEXT)) break;
          if (d.next >= n)
            throw new DeviceError(
              'guest-error',
              'virtqueue',
              `indirect next index ${d.next} is out of range for table of ${n}`,
            );
          j = d.next;
        }
        break;
      }
      this.pushDesc(mem, out);
      if (!(d.flags & VIRTQ_DESC_F.NEXT)) break;
      if (d.next >= this.size)
        throw new DeviceError(
          'guest-error',
          'virtqueue',
          `next index ${d.next} is out of range for queue size ${this.size}`,
        );
      i = d.next;
    }
  }

  /**
   * Returns a chain to the driver: writes the used element, then publishes the new used index.
   * `len` is the number of bytes the device wrote into the chain.
   */
  addUsed(mem: GuestMemoryAccess, head: number, len: number): void {
    this.putUsed(mem, head, len);
    this.publishUsed(mem);
  }

  /**
   * Writes a used element without publishing it: the batch form of {@link Queue.addUsed}. Call
   * {@link Queue.publishUsed} once after the batch (the elements are written before the index).
   */
  putUsed(mem: GuestMemoryAccess, head: number, len: number): void {
    const off = 4 + 8 * (this.nextUsed & (this.size - 1));
    const v = this.usedView;
    if (v) {
      v.setUint32(this.usedOff + off, head, true);
      v.setUint32(this.usedOff + off + 4, len >>> 0, true);
      mem.markDirty(this.usedRing + off, 8);
    } else {
      mem.write32(this.usedRing + off, head);
      mem.write32(this.usedRing + off + 4, len >>> 0);
    }
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
  }

  /** Publishes the used index after {@link Queue.putUsed} calls (a full barrier, as addUsed). */
  publishUsed(mem: GuestMemoryAccess): void {
    if (this.usedIdxCell) {
      Atomics.store(this.usedIdxCell, 0, this.nextUsed);
      mem.markDirty(this.usedRing + 2, 2);
    } else mem.write16(this.usedRing + 2, this.nextUsed);
  }

  /**
   * Whether the driver wants an interrupt for the used entries added since the last time this
   * returned true (VIRTIO_F_EVENT_IDX's `used_event`, or the NO_INTERRUPT flag).
   */
  needsNotification(mem: GuestMemoryAccess): boolean {
    if (!this.eventIdx) {
      return (mem.read16(this.availRing) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
    }
    const usedEvent = mem.read16(this.availRing + 4 + 2 * this.size);
    const now = this.nextUsed;
    const old = this.signalledUsed;
    this.signalledUsed = now;
    if (old === undefined) return true;
    return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
  }

  /**
   * The queue's state for a snapshot: size, ready, the three ring addresses, the device's avail
   * and used indices and the event-index state (the last used index signalled).
   * @example const q = transport.queues[0].save();
   */
  save(): { [key: string]: DeviceStateValue } {
    return {
      size: this.size,
      ready: this.ready,
      descTable: this.descTable,
      availRing: this.availRing,
      usedRing: this.usedRing,
      nextAvail: this.nextAvail,
      nextUsed: this.nextUsed,
      eventIdx: this.eventIdx,
      indirect: this.indirect,
      signalledUsed: this.signalledUsed ?? null,
    };
  }

  /**
   * Checks a state from {@link Queue.save} (through `r`, naming `field` in errors) and returns a
   * function that loads it: the caller checks everything before it changes anything. The rings
   * are mapped again by {@link Queue.validate} when the device is activated.
   * @example const load = queue.checkState(reader, 'queues[0]', saved); load();
   */
  checkState(r: StateReader, field: string, value: unknown): () => void {
    const o = r.object(field, value);
    const addr = (k: string) => r.int(`${field}.${k}`, 0, Number.MAX_SAFE_INTEGER, o[k]);
    const size = r.int(`${field}.size`, 1, this.maxSize, o.size);
    if ((size & (size - 1)) !== 0) throw r.bad(`${field}.size`, `${size} is not a power of two`);
    const v = {
      size,
      ready: r.bool(`${field}.ready`, o.ready),
      descTable: addr('descTable'),
      availRing: addr('availRing'),
      usedRing: addr('usedRing'),
      nextAvail: r.int(`${field}.nextAvail`, 0, 0xffff, o.nextAvail),
      nextUsed: r.int(`${field}.nextUsed`, 0, 0xffff, o.nextUsed),
      eventIdx: r.bool(`${field}.eventIdx`, o.eventIdx),
      indirect: r.bool(`${field}.indirect`, o.indirect),
      signalledUsed:
        o.signalledUsed === null ? undefined : r.int(`${field}.signalledUsed`, 0, 0xffff, o.signalledUsed),
    };
    return () => {
      this.reset();
      this.size = v.size;
      this.ready = v.ready;
      this.descTable = v.descTable;
      this.availRing = v.availRing;
      this.usedRing = v.usedRing;
      this.nextAvail = v.nextAvail;
      this.nextUsed = v.nextUsed;
      this.eventIdx = v.eventIdx;
      this.indirect = v.indirect;
      this.signalledUsed = v.signalledUsed;
    };
  }
}
