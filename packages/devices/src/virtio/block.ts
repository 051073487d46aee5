import type { GuestMemoryAccess } from '@ts-vmm/vm-memory';
import { DeviceError } from '../errors.js';
import { type DeviceState, StateReader } from '../state.js';
import { featureBit, VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';
import type { DiskBackend } from './disk.js';
import { ChainBuffer, type ChainReader, type Descriptor, type DescriptorChain, type Queue } from './queue.js';

/** virtio-blk feature bits. */
export const VIRTIO_BLK_F = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** virtio-blk request types. */
export const VIRTIO_BLK_T = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  DISCARD: 11,
  WRITE_ZEROES: 13,
} as const;

/** virtio-blk request status values. */
export const VIRTIO_BLK_S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** Sector size of the virtio-blk protocol. */
export const SECTOR_SIZE = 512;
/** Length of the GET_ID string. */
export const VIRTIO_BLK_ID_BYTES = 20;
const MAX_DISCARD_SECTORS = 0x3f_ffff;
const MAX_DISCARD_SEG = 32;
const MAX_WRITE_ZEROES_SECTORS = 0x8000; // 16 MiB: zeroes are written out, so keep requests short
const CONFIG_SIZE = 60;
/** Most buffers one vectored syscall takes (Linux's IOV_MAX). */
const IOV_MAX = 1024;
/** Most bytes one merged read or write covers in sync mode (a larger request is still served whole). */
const MAX_MERGE_BYTES = 8 << 20;
/**
 * The same in async mode, smaller: merging saves a thread-pool round trip per small request, but
 * separate transfers run in parallel on the pool, which wins for large ones.
 */
const MAX_ASYNC_MERGE_BYTES = 64 << 10;

/**
 * Options for a {@link Block} device.
 * @example
 * ```ts
 * import { type BlockOptions, MemoryDiskBackend } from '@ts-vmm/devices';
 * const options: BlockOptions = { backend: new MemoryDiskBackend(1 << 20), id: 'scratch', mode: 'sync' };
 * ```
 */
export interface BlockOptions {
  /**
   * Where the sectors live: a `MemoryDiskBackend`, a `FileDiskBackend` (`@ts-vmm/devices/node`)
   * or one of your own. The device owns it from then on: {@link Block.close} closes it. (If the
   * constructor throws, it is still the caller's.)
   */
  backend: DiskBackend;
  /**
   * Offer VIRTIO_BLK_F_RO; writes fail with IOERR. Default: the backend's `readOnly`; `false` with a
   * read-only backend is refused.
   */
  readOnly?: boolean;
  /** GET_ID answer (at most 20 bytes). Default: the backend's `name` (a file name), truncated. */
  id?: string;
  /**
   * `'async'` (default): requests are parsed on notification and their I/O goes through the
   * backend's asynchronous calls (a file: libuv's thread pool); completion fills the used ring and
   * interrupts. `'sync'`: requests are served to completion inside the notification through the
   * backend's synchronous calls (simple, deterministic; for tests, memory disks and fast local files).
   */
  mode?: 'sync' | 'async';
  /** Queue size offered. Default 256. */
  queueSize?: number;
  /** Offer DISCARD and WRITE_ZEROES. Default true (for writable disks). */
  discard?: boolean;
  /**
   * Merge requests, as QEMU does: when one notification drains several reads (or writes) whose
   * sector ranges follow each other, serve them with one `preadv` (`pwritev`) over all their guest
   * buffers. Default true; false serves each request on its own (same results, more syscalls).
   */
  merge?: boolean;
}

/** A parsed request: everything validated, ready to execute. */
interface BlockRequest {
  head: number;
  type: number;
  sector: number;
  /** No writable byte for a status: returned to the driver untouched. */
  bare: boolean;
  /**
   * An IN/OUT request whose data buffers each lie in one memory region: `views`/`addrs`/`lens`
   * (the first `nviews`) hold them and it may be merged with its neighbours. Otherwise `data`.
   */
  fast: boolean;
  views: Uint8Array[];
  addrs: number[];
  lens: number[];
  nviews: number;
  /** Guest buffers of the data part (readable for OUT, writable for IN), slow path only. */
  data: Descriptor[];
  dataLength: number;
  /** DISCARD / WRITE_ZEROES ranges (sectors). */
  ranges: { sector: number; count: number }[];
  statusAddr: number;
  /** Bytes written to the guest besides the status byte (GET_ID, IN). */
  written: number;
  /** A status decided while parsing (the request is not executed). */
  status?: number;
}

/** Counters of a {@link Block} device. */
export interface BlockStats {
  requests: number;
  readBytes: number;
  writtenBytes: number;
  errors: number;
  unsupported: number;
  /** Requests served within a preceding request's merged (vectored) transfer. */
  merged: number;
}

/**
 * A virtio-blk device over a {@link DiskBackend} (memory, a raw image file, or one of your own):
 * read, write, flush, get-id, discard and write-zeroes, read-only mode, sector bounds, IOERR /
 * UNSUPP statuses. Guest buffers go to the backend as views of guest memory, so a file backend
 * reads and writes straight between the file and the guest.
 *
 * **Keeping vCPUs running.** The device never does file I/O on a vCPU's exit path when the VMM
 * follows the ts-vmm design: the queue's notify address is an ioeventfd, the VMM watches it on the
 * main thread and calls `transport.notifyQueue(0)`. In `'async'` mode the device then only parses
 * the chains (microseconds) and hands the reads and writes to the backend's asynchronous calls
 * (a file: libuv's thread pool), which write straight into guest memory; completions add used
 * entries and raise one interrupt per batch. In `'sync'` mode the I/O happens inside `queueNotify`,
 * which is fine for tests, benchmarks, memory disks and images in the page cache.
 *
 * @example
 * ```ts
 * import { Block, MemoryDiskBackend, VirtioMmioTransport } from '@ts-vmm/devices';
 * const disk = new Block({ backend: new MemoryDiskBackend(64 << 20), id: 'scratch' });
 * const t = new VirtioMmioTransport(disk, { mem, irq });
 * mmio.register(0xd000_1000, 0x1000, t, 'virtio-blk0');
 * ```
 */
export class Block implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.BLOCK;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures: bigint;
  /** Disk size in 512-byte sectors. */
  readonly capacity: number;
  readonly readOnly: boolean;
  readonly mode: 'sync' | 'async';
  readonly stats: BlockStats = {
    requests: 0,
    readBytes: 0,
    writtenBytes: 0,
    errors: 0,
    unsupported: 0,
    merged: 0,
  };
  private readonly disk: DiskBackend;
  private readonly id: Uint8Array;
  private readonly config = new Uint8Array(CONFIG_SIZE);
  private readonly discard: boolean;
  private ctx?: VirtioContext;
  private generation = 0;
  private inFlight = 0;
  private notifyScheduled = false;
  private closed = false;
  private readonly merge: boolean;
  /** Reused per notification (sync mode): the chain being parsed, the requests, the iovec. */
  private readonly chain = new ChainBuffer();
  private readonly batch: BlockRequest[] = [];
  private readonly pool: BlockRequest[] = [];
  private readonly iov: Uint8Array[] = [];
  /** A one-buffer iovec, reused for single-buffer transfers (sync mode). */
  private readonly one: Uint8Array[] = [EMPTY_VIEW];
  /** {@link Block.drain} callers waiting for the in-flight count to reach 0. */
  private idleWaiters: (() => void)[] = [];

  constructor(options: BlockOptions) {
    const disk = options.backend;
    if (!disk || typeof disk.readSync !== 'function')
      throw new DeviceError('invalid-config', 'virtio-blk', 'backend is not a DiskBackend');
    if (!Number.isSafeInteger(disk.size) || disk.size < 0)
      throw new DeviceError('invalid-config', 'virtio-blk', `backend size ${disk.size} is not a byte count`);
    if (disk.readOnly && options.readOnly === false)
      throw new DeviceError(
        'invalid-config',
        'virtio-blk',
        `readOnly false for the read-only backend ${disk.name ?? ''}`.trimEnd(),
      );
    this.disk = disk;
    this.readOnly = options.readOnly ?? disk.readOnly ?? false;
    this.mode = options.mode ?? 'async';
    if (this.mode !== 'sync' && this.mode !== 'async')
      throw new DeviceError(
        'invalid-config',
        'virtio-blk',
        `mode ${String(this.mode)} is not 'sync' or 'async'`,
      );
    this.merge = options.merge ?? true;
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs];
    this.capacity = Math.floor(disk.size / SECTOR_SIZE);
    const id = new TextEncoder().encode(options.id ?? disk.name ?? '');
    if (options.id !== undefined && id.length > VIRTIO_BLK_ID_BYTES) {
      throw new DeviceError(
        'invalid-config',
        'virtio-blk',
        `block id "${options.id}" is ${id.length} bytes; at most ${VIRTIO_BLK_ID_BYTES}`,
      );
    }
    this.id = id.subarray(0, VIRTIO_BLK_ID_BYTES);
    this.discard = (options.discard ?? true) && !this.readOnly;
    let f =
      featureBit(VIRTIO_BLK_F.SEG_MAX) | featureBit(VIRTIO_BLK_F.BLK_SIZE) | featureBit(VIRTIO_BLK_F.FLUSH);
    if (this.readOnly) f |= featureBit(VIRTIO_BLK_F.RO);
    if (this.discard) f |= featureBit(VIRTIO_BLK_F.DISCARD) | featureBit(VIRTIO_BLK_F.WRITE_ZEROES);
    this.deviceFeatures = f;
    const v = new DataView(this.config.buffer);
    v.setBigUint64(0, BigInt(this.capacity), true);
    v.setUint32(12, Math.max(1, qs - 2), true); // seg_max
    v.setUint32(20, SECTOR_SIZE, true); // blk_size
    v.setUint16(34, 1, true); // num_queues
    v.setUint32(36, MAX_DISCARD_SECTORS, true);
    v.setUint32(40, MAX_DISCARD_SEG, true);
    v.setUint32(44, 1, true);
    v.setUint32(48, MAX_WRITE_ZEROES_SECTORS, true);
    v.setUint32(52, 1, true);
    v.setUint8(56, 0);
  }

  /** Requests submitted to the backend and not yet completed (async mode). */
  get pendingRequests(): number {
    return this.inFlight;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(): void {
    // The configuration space is read-only (no CONFIG_WCE).
  }

  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
  }

  reset(): void {
    this.ctx = undefined;
    this.generation++;
  }

  /** Closes the backend (the image file). Completions still in flight are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    this.disk.close();
  }

  queueNotify(_index: number): void {
    this.processQueue();
  }

  /**
   * Serves every available request (sync mode) or submits them (async mode). Each pass takes all
   * the chains the driver has published, parses them, merges contiguous reads or writes, publishes
   * `avail_event` once, and finally the used index and at most one interrupt. Throws a guest-error
   * `DeviceError` for a malformed ring (the transport sets DEVICE_NEEDS_RESET) after serving the
   * requests before the bad chain.
   */
  processQueue(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[0];
    const mem = ctx.mem;
    const batch = this.batch;
    let used = 0;
    try {
      for (;;) {
        const n = q.ready ? q.pending(mem) : 0;
        if (n === 0) break;
        let k = 0;
        try {
          for (; k < n; k++) {
            q.parseChainInto(mem, q.takeHead(mem), this.chain);
            batch[k] = this.parseChain(mem, this.chain, this.mode === 'sync' ? this.pooled(k) : newRequest());
          }
        } finally {
          q.publishAvailEvent(mem); // then `pending` is read again: no notification is lost
          used += this.executeBatch(mem, q, k);
        }
      }
    } finally {
      if (used > 0) {
        q.publishUsed(mem);
        if (q.needsNotification(mem)) ctx.signalUsed(0);
      }
    }
  }

  private pooled(k: number): BlockRequest {
    let r = this.pool[k];
    if (r === undefined) {
      r = newRequest();
      this.pool[k] = r;
    }
    return r;
  }

  /**
   * Serves (sync) or submits (async) `batch[0, n)`; returns how many used entries were written.
   * Sync mode runs all the batch's I/O first, back to back, then completes every request in order.
   */
  private executeBatch(mem: GuestMemoryAccess, q: Queue, n: number): number {
    const batch = this.batch;
    const sync = this.mode === 'sync';
    let used = 0;
    let i = 0;
    while (i < n) {
      const r = batch[i];
      if (r.bare) {
        i++;
        continue;
      }
      this.stats.requests++;
      if (r.status !== undefined) {
        i++;
        continue;
      }
      if (!r.fast) {
        if (sync) r.status = this.executeSync(mem, r);
        else this.executeAsync(mem, r, this.generation);
        i++;
        continue;
      }
      // A run of contiguous requests of the same direction: one vectored syscall.
      let j = i + 1;
      if (this.merge) {
        const max = sync ? MAX_MERGE_BYTES : MAX_ASYNC_MERGE_BYTES;
        let end = (r.sector + r.dataLength / SECTOR_SIZE) * SECTOR_SIZE;
        let bytes = r.dataLength;
        while (j < n) {
          const s = batch[j];
          if (!s.fast || s.status !== undefined || s.type !== r.type) break;
          if (s.sector * SECTOR_SIZE !== end || bytes + s.dataLength > max) break;
          end += s.dataLength;
          bytes += s.dataLength;
          j++;
        }
        this.stats.requests += j - i - 1;
        this.stats.merged += j - i - 1;
      }
      if (sync) this.runMergedSync(mem, i, j);
      else this.runMergedAsync(mem, batch.slice(i, j), this.generation);
      i = j;
    }
    // Complete, in order, every request that has a status now (sync: all of them).
    for (let k = 0; k < n; k++) {
      const r = batch[k];
      if (r.bare)
        q.putUsed(mem, r.head, 0); // nowhere to put a status: return it untouched
      else if (r.status === undefined)
        continue; // async: completes later
      else this.complete(mem, q, r, r.status);
      used++;
    }
    if (!sync) for (let k = 0; k < n; k++) batch[k] = EMPTY_REQUEST; // in flight: not ours to keep
    return used;
  }

  /**
   * Serves the fast requests `batch[i, j)`, contiguous and of one direction, with one syscall. Only
   * sets each request's `status`: completion follows for the whole batch, so that the batch's
   * syscalls run back to back.
   */
  private runMergedSync(mem: GuestMemoryAccess, i: number, j: number): void {
    const batch = this.batch;
    const isRead = batch[i].type === VIRTIO_BLK_T.IN;
    const pos = batch[i].sector * SECTOR_SIZE;
    let ok = true;
    if (j === i + 1 && batch[i].nviews === 1) {
      // One request, one buffer (random I/O): a plain pread/pwrite, no iovec to build.
      try {
        transferOne(this.disk, this.one, batch[i].views[0], pos, isRead);
      } catch {
        ok = false;
      }
    } else {
      const iov = this.iov;
      let c = 0;
      for (let k = i; k < j; k++) {
        const r = batch[k];
        for (let v = 0; v < r.nviews; v++) iov[c++] = r.views[v];
      }
      if (iov.length !== c) iov.length = c;
      try {
        transferSync(this.disk, iov, pos, isRead);
      } catch {
        ok = false;
      }
    }
    for (let k = i; k < j; k++) {
      const r = batch[k];
      let status: number = VIRTIO_BLK_S.OK;
      if (!ok) {
        // The merged transfer failed: retry each request alone, so each gets its own status.
        status = VIRTIO_BLK_S.IOERR;
        if (j - i > 1) {
          try {
            transferSync(this.disk, r.views.slice(0, r.nviews), r.sector * SECTOR_SIZE, isRead);
            status = VIRTIO_BLK_S.OK;
          } catch {
            // stays IOERR
          }
        }
      }
      if (status === VIRTIO_BLK_S.OK) this.account(mem, r, isRead);
      r.status = status;
    }
  }

  /** Submits the fast requests `reqs`, contiguous and of one direction, as one vectored transfer. */
  private runMergedAsync(mem: GuestMemoryAccess, reqs: BlockRequest[], generation: number): void {
    const isRead = reqs[0].type === VIRTIO_BLK_T.IN;
    const iov: Uint8Array[] = [];
    for (const r of reqs) for (let v = 0; v < r.nviews; v++) iov.push(r.views[v]);
    this.inFlight += reqs.length;
    const finish = (rs: BlockRequest[], status: number): void => {
      this.inFlight -= rs.length;
      const ctx = this.ctx;
      if (generation === this.generation && ctx) {
        try {
          const q = ctx.queues[0];
          for (const r of rs) {
            if (status === VIRTIO_BLK_S.OK) this.account(mem, r, isRead);
            this.complete(mem, q, r, status);
          }
          q.publishUsed(mem);
          this.scheduleNotify();
        } catch (e) {
          ctx.fail(e);
        }
      } // else: reset meanwhile, dropped
      this.settled();
    };
    transferAsync(this.disk, iov, reqs[0].sector * SECTOR_SIZE, isRead, (failed) => {
      if (!failed) finish(reqs, VIRTIO_BLK_S.OK);
      else if (reqs.length === 1) finish(reqs, VIRTIO_BLK_S.IOERR);
      else {
        // The merged transfer failed: retry each request alone, so each gets its own status.
        for (const r of reqs) {
          transferAsync(this.disk, r.views.slice(0, r.nviews), r.sector * SECTOR_SIZE, isRead, (f) =>
            finish([r], f ? VIRTIO_BLK_S.IOERR : VIRTIO_BLK_S.OK),
          );
        }
      }
    });
  }

  /** Counts a completed fast transfer and marks read buffers dirty. */
  private account(mem: GuestMemoryAccess, r: BlockRequest, isRead: boolean): void {
    if (isRead) {
      this.stats.readBytes += r.dataLength;
      for (let v = 0; v < r.nviews; v++) mem.markDirty(r.addrs[v], r.lens[v]);
    } else this.stats.writtenBytes += r.dataLength;
  }

  /** Writes the status byte and the used element (published later, with the batch). */
  private complete(mem: GuestMemoryAccess, q: Queue, req: BlockRequest, status: number): void {
    if (status === VIRTIO_BLK_S.IOERR) this.stats.errors++;
    if (status === VIRTIO_BLK_S.UNSUPP) this.stats.unsupported++;
    mem.write8(req.statusAddr, status);
    const written = status === VIRTIO_BLK_S.OK ? req.written : 0;
    q.putUsed(mem, req.head, written + 1);
  }

  /**
   * Parses a chain into `r` (reused): the common IN/OUT layout (a 16-byte header descriptor, data
   * buffers each inside one memory region, a status byte) without allocating; anything else through
   * {@link Block.parse}.
   */
  private parseChain(mem: GuestMemoryAccess, c: ChainBuffer, r: BlockRequest): BlockRequest {
    const last = c.count - 1;
    if (c.count < 2 || c.lens[0] !== 16 || c.writable[0] || !c.writable[last] || c.lens[last] === 0)
      return this.parse(mem, c.toChain()) ?? bareRequest(c.head);
    const hdr = c.addrs[0];
    const type = mem.read32(hdr);
    if (type !== VIRTIO_BLK_T.IN && type !== VIRTIO_BLK_T.OUT)
      return this.parse(mem, c.toChain()) ?? bareRequest(c.head);
    const isRead = type === VIRTIO_BLK_T.IN;
    const lo = mem.read32(hdr + 8);
    const hi = mem.read32(hdr + 12);
    r.head = c.head;
    r.type = type;
    r.sector = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
    r.bare = false;
    r.fast = true;
    r.status = undefined;
    r.nviews = 0;
    r.statusAddr = c.addrs[last] + c.lens[last] - 1;
    r.dataLength = isRead ? c.writableLength - 1 : c.readableLength - 16;
    r.written = isRead ? r.dataLength : 0;
    if (!isRead && this.readOnly) r.status = VIRTIO_BLK_S.IOERR;
    else if (r.dataLength % SECTOR_SIZE !== 0) r.status = VIRTIO_BLK_S.IOERR;
    else if (r.sector > this.capacity || r.dataLength / SECTOR_SIZE > this.capacity - r.sector)
      r.status = VIRTIO_BLK_S.IOERR;
    if (r.status !== undefined) return r;
    for (let i = 1; i <= last; i++) {
      if (c.writable[i] !== isRead) continue;
      const len = i === last ? c.lens[i] - 1 : c.lens[i];
      if (len === 0) continue;
      const addr = c.addrs[i];
      const reg = mem.findRegion(addr);
      if (reg === undefined || addr + len > reg.start + reg.size) {
        // A buffer across memory regions: the general path (bounce buffers).
        const slow = this.parse(mem, c.toChain()) ?? bareRequest(c.head);
        r.nviews = 0;
        return slow;
      }
      const k = r.nviews++;
      r.views[k] = reg.bytes.subarray(addr - reg.start, addr - reg.start + len);
      r.addrs[k] = addr;
      r.lens[k] = len;
    }
    return r;
  }

  /** Parses a chain; `undefined` when it has no writable byte for the status. */
  private parse(mem: GuestMemoryAccess, chain: DescriptorChain): BlockRequest | undefined {
    const ds = chain.descriptors;
    let lastW = -1;
    for (let i = ds.length - 1; i >= 0; i--) {
      if (ds[i].writable && ds[i].len > 0) {
        lastW = i;
        break;
      }
    }
    if (lastW < 0) return undefined;
    const last = ds[lastW];
    const req: BlockRequest = {
      ...newRequest(),
      head: chain.head,
      dataLength: 0,
      ranges: [],
      statusAddr: last.addr + last.len - 1,
      written: 0,
    };
    if (chain.readableLength < 16) {
      req.status = VIRTIO_BLK_S.IOERR;
      return req;
    }
    const first = ds[0];
    // Fast path (what Linux sends): the 16-byte header alone in the first descriptor.
    const fast = first.len === 16;
    let hi: number;
    let lo: number;
    let reader: ChainReader | undefined;
    if (fast) {
      req.type = mem.read32(first.addr);
      lo = mem.read32(first.addr + 8);
      hi = mem.read32(first.addr + 12);
    } else {
      reader = chain.reader(mem);
      const hdr = new DataView(reader.read(16).buffer);
      req.type = hdr.getUint32(0, true);
      lo = hdr.getUint32(8, true);
      hi = hdr.getUint32(12, true);
    }
    req.sector = hi >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : hi * 0x1_0000_0000 + lo;
    const room = chain.writableLength - 1; // the last writable byte is the status
    const inBounds = (s: number, n: number) => s <= this.capacity && n <= this.capacity - s;
    switch (req.type) {
      case VIRTIO_BLK_T.IN:
      case VIRTIO_BLK_T.OUT: {
        const isRead = req.type === VIRTIO_BLK_T.IN;
        if (isRead) req.data = writableData(ds, lastW);
        else if (fast) req.data = ds.filter((d, i) => i > 0 && !d.writable && d.len > 0);
        else req.data = reader!.takeSegments();
        req.dataLength = isRead ? room : chain.readableLength - 16;
        if (!isRead && this.readOnly) req.status = VIRTIO_BLK_S.IOERR;
        else if (req.dataLength % SECTOR_SIZE !== 0) req.status = VIRTIO_BLK_S.IOERR;
        else if (!inBounds(req.sector, req.dataLength / SECTOR_SIZE)) req.status = VIRTIO_BLK_S.IOERR;
        if (isRead) req.written = req.dataLength;
        break;
      }
      case VIRTIO_BLK_T.FLUSH:
        break;
      case VIRTIO_BLK_T.GET_ID: {
        const n = Math.min(room, VIRTIO_BLK_ID_BYTES);
        const out = new Uint8Array(n);
        out.set(this.id.subarray(0, n));
        chain.writer(mem).write(out);
        req.written = n;
        req.status = VIRTIO_BLK_S.OK;
        break;
      }
      case VIRTIO_BLK_T.DISCARD:
      case VIRTIO_BLK_T.WRITE_ZEROES: {
        const zeroes = req.type === VIRTIO_BLK_T.WRITE_ZEROES;
        if (!this.discard) {
          req.status = this.readOnly ? VIRTIO_BLK_S.IOERR : VIRTIO_BLK_S.UNSUPP;
          break;
        }
        const payload = chain.readableLength - 16;
        const nseg = payload / 16;
        const maxSeg = zeroes ? 1 : MAX_DISCARD_SEG;
        const maxSectors = zeroes ? MAX_WRITE_ZEROES_SECTORS : MAX_DISCARD_SECTORS;
        if (payload === 0 || payload % 16 !== 0 || nseg > maxSeg) {
          req.status = VIRTIO_BLK_S.UNSUPP;
          break;
        }
        reader ??= chain.reader(mem);
        if (fast) reader.skip(16);
        for (let i = 0; i < nseg; i++) {
          const seg = new DataView(reader.read(16).buffer);
          const s64 = seg.getBigUint64(0, true);
          const count = seg.getUint32(8, true);
          const flags = seg.getUint32(12, true);
          const s = s64 > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(s64);
          if (flags & ~1 || (!zeroes && flags !== 0) || count > maxSectors) {
            req.status = VIRTIO_BLK_S.UNSUPP;
            break;
          }
          if (!inBounds(s, count)) {
            req.status = VIRTIO_BLK_S.IOERR;
            break;
          }
          req.ranges.push({ sector: s, count });
        }
        if (!zeroes && req.status === undefined) req.status = VIRTIO_BLK_S.OK; // discard is a hint
        break;
      }
      default:
        req.status = VIRTIO_BLK_S.UNSUPP;
    }
    return req;
  }

  private executeSync(mem: GuestMemoryAccess, req: BlockRequest): number {
    try {
      switch (req.type) {
        case VIRTIO_BLK_T.IN: {
          let pos = req.sector * SECTOR_SIZE;
          for (const d of req.data) {
            const direct = directView(mem, d);
            const buf = direct ?? new Uint8Array(d.len);
            transferOne(this.disk, this.one, buf, pos, true);
            if (!direct) mem.writeBytes(d.addr, buf);
            else mem.markDirty(d.addr, d.len);
            pos += d.len;
          }
          this.stats.readBytes += req.dataLength;
          return VIRTIO_BLK_S.OK;
        }
        case VIRTIO_BLK_T.OUT: {
          let pos = req.sector * SECTOR_SIZE;
          for (const d of req.data) {
            transferOne(this.disk, this.one, guestBytes(mem, d), pos, false);
            pos += d.len;
          }
          this.stats.writtenBytes += req.dataLength;
          return VIRTIO_BLK_S.OK;
        }
        case VIRTIO_BLK_T.FLUSH:
          this.disk.flushSync();
          return VIRTIO_BLK_S.OK;
        case VIRTIO_BLK_T.WRITE_ZEROES: {
          for (const r of req.ranges)
            writeZeroes(this.disk, this.one, r.sector * SECTOR_SIZE, r.count * SECTOR_SIZE);
          return VIRTIO_BLK_S.OK;
        }
        default:
          return VIRTIO_BLK_S.UNSUPP;
      }
    } catch {
      return VIRTIO_BLK_S.IOERR;
    }
  }

  private executeAsync(mem: GuestMemoryAccess, req: BlockRequest, generation: number): void {
    this.inFlight++;
    const done = (status: number) => {
      this.inFlight--;
      const ctx = this.ctx;
      if (generation === this.generation && ctx) {
        try {
          const q = ctx.queues[0];
          this.complete(mem, q, req, status);
          q.publishUsed(mem);
          this.scheduleNotify();
        } catch (e) {
          ctx.fail(e);
        }
      } // else: reset meanwhile, dropped
      this.settled();
    };
    if (req.type === VIRTIO_BLK_T.IN || req.type === VIRTIO_BLK_T.OUT) {
      const views: Uint8Array[] = [];
      for (const d of req.data) {
        const v = directView(mem, d);
        if (!v) break;
        views.push(v);
      }
      if (views.length === req.data.length) {
        this.rwDirect(mem, req, views, done);
        return;
      }
    }
    this.runAsync(mem, req).then(done, () => done(VIRTIO_BLK_S.IOERR));
  }

  /** Reads or writes straight between the backend and guest memory with plain callbacks (the common case). */
  private rwDirect(
    mem: GuestMemoryAccess,
    req: BlockRequest,
    views: Uint8Array[],
    done: (status: number) => void,
  ): void {
    const isRead = req.type === VIRTIO_BLK_T.IN;
    transferAsync(this.disk, views, req.sector * SECTOR_SIZE, isRead, (failed) => {
      if (failed) {
        done(VIRTIO_BLK_S.IOERR);
        return;
      }
      if (isRead) {
        this.stats.readBytes += req.dataLength;
        for (const d of req.data) mem.markDirty(d.addr, d.len);
      } else this.stats.writtenBytes += req.dataLength;
      done(VIRTIO_BLK_S.OK);
    });
  }

  /** The general asynchronous path: buffers across memory regions (bounce buffers), flush, write-zeroes. */
  private async runAsync(mem: GuestMemoryAccess, req: BlockRequest): Promise<number> {
    switch (req.type) {
      case VIRTIO_BLK_T.IN: {
        let pos = req.sector * SECTOR_SIZE;
        for (const d of req.data) {
          const view = guestView(mem, d);
          await transferPromise(this.disk, [view.buf], pos, true);
          view.commit();
          mem.markDirty(d.addr, d.len);
          pos += d.len;
        }
        this.stats.readBytes += req.dataLength;
        return VIRTIO_BLK_S.OK;
      }
      case VIRTIO_BLK_T.OUT: {
        let pos = req.sector * SECTOR_SIZE;
        for (const d of req.data) {
          await transferPromise(this.disk, [guestBytes(mem, d)], pos, false);
          pos += d.len;
        }
        this.stats.writtenBytes += req.dataLength;
        return VIRTIO_BLK_S.OK;
      }
      case VIRTIO_BLK_T.FLUSH:
        await new Promise<void>((res, rej) => this.disk.flush((e) => (e ? rej(e) : res())));
        return VIRTIO_BLK_S.OK;
      case VIRTIO_BLK_T.WRITE_ZEROES: {
        const zero = new Uint8Array(Math.min(1 << 20, MAX_WRITE_ZEROES_SECTORS * SECTOR_SIZE));
        for (const r of req.ranges) {
          let pos = r.sector * SECTOR_SIZE;
          let left = r.count * SECTOR_SIZE;
          while (left > 0) {
            const n = Math.min(left, zero.length);
            await transferPromise(this.disk, [zero.subarray(0, n)], pos, false);
            pos += n;
            left -= n;
          }
        }
        return VIRTIO_BLK_S.OK;
      }
      default:
        return VIRTIO_BLK_S.UNSUPP;
    }
  }

  private scheduleNotify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      const ctx = this.ctx;
      if (!ctx) return;
      try {
        if (ctx.queues[0].needsNotification(ctx.mem)) ctx.signalUsed(0);
      } catch (e) {
        ctx.fail(e);
      }
    });
  }

  /** After a completion: wakes {@link Block.drain} callers once nothing is in flight. */
  private settled(): void {
    if (this.inFlight !== 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves when every submitted request has completed (async mode), after the completions'
   * interrupt has been raised.
   * @example disk.queueNotify(0); await disk.drain(); // every request's status is written
   */
  async drain(): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * The device's state for a snapshot (its capacity and mode: the queue is the transport's).
   * Requests must not be in flight: `await drain()` first (with the vCPUs paused), or this throws.
   * @example await blk.drain(); const saved = transport.save();
   */
  save(): DeviceState {
    if (this.inFlight !== 0)
      throw new DeviceError(
        'invalid-state',
        'virtio-blk',
        `${this.inFlight} requests are in flight: drain() before saving`,
      );
    return { device: 'virtio-blk', version: 1, capacity: this.capacity, readOnly: this.readOnly };
  }

  /**
   * Checks a state from {@link Block.save}. The disk itself is not part of it (the VMM records the
   * image's path, size and time and warns when they changed).
   * @example fresh.restore(saved);
   */
  restore(state: DeviceState): void {
    const r = new StateReader('virtio-blk', state, 1);
    r.int('capacity', 0, Number.MAX_SAFE_INTEGER);
    r.bool('readOnly');
  }
}

function newRequest(): BlockRequest {
  return {
    head: 0,
    type: -1,
    sector: 0,
    bare: false,
    fast: false,
    views: [],
    addrs: [],
    lens: [],
    nviews: 0,
    data: [],
    dataLength: 0,
    ranges: [],
    statusAddr: 0,
    written: 0,
  };
}

function bareRequest(head: number): BlockRequest {
  const r = newRequest();
  r.head = head;
  r.bare = true;
  return r;
}

/** Placeholder left in batch slots after execution, so that no guest view stays referenced. */
const EMPTY_REQUEST: BlockRequest = newRequest();

/** An empty view, left in reused iovec slots so that no guest view stays referenced. */
const EMPTY_VIEW = new Uint8Array(0);

/** The error for a backend that reports an impossible byte count. */
function badCount(n: number, pos: number): DeviceError {
  return new DeviceError(
    'io',
    'virtio-blk',
    `backend transferred ${n} bytes at byte ${pos}, more than asked or not a count`,
  );
}

/**
 * Consumes `n` transferred bytes from `iov` starting at `seg`; returns the first unfinished
 * segment. Throws when `n` is more than `iov` holds from `seg`.
 */
function advance(iov: Uint8Array[], seg: number, n: number, pos: number): number {
  if (!(n > 0) || !Number.isSafeInteger(n)) throw badCount(n, pos);
  while (n > 0) {
    if (seg === iov.length) throw badCount(n, pos);
    const len = iov[seg].length;
    if (n >= len) {
      n -= len;
      seg++;
    } else {
      iov[seg] = iov[seg].subarray(n);
      n = 0;
    }
  }
  return seg;
}

/**
 * Reads or writes the buffers `iov` at byte `pos` of the disk to completion: short transfers
 * continue, at most {@link IOV_MAX} buffers per call. Reading past the end of the disk gives
 * zeroes. Mutates `iov` (partly done buffers become their rest). Throws on an error or a write of
 * nothing.
 */
function transferSync(disk: DiskBackend, iov: Uint8Array[], pos: number, isRead: boolean): void {
  let seg = 0;
  for (;;) {
    while (seg < iov.length && iov[seg].length === 0) seg++;
    if (seg === iov.length) return;
    const part = seg === 0 && iov.length <= IOV_MAX ? iov : iov.slice(seg, seg + IOV_MAX);
    const n = isRead ? disk.readSync(part, pos) : disk.writeSync(part, pos);
    if (n === 0) {
      if (!isRead) throw new DeviceError('io', 'virtio-blk', `write of nothing at byte ${pos}`);
      for (let k = seg; k < iov.length; k++) iov[k].fill(0); // past the end of the disk
      return;
    }
    seg = advance(iov, seg, n, pos);
    pos += n;
  }
}

/**
 * {@link transferSync} of one buffer through the reused one-slot iovec `one` (no allocation unless
 * a transfer comes back short); zeroes past the end of the disk.
 */
function transferOne(
  disk: DiskBackend,
  one: Uint8Array[],
  v: Uint8Array,
  pos: number,
  isRead: boolean,
): void {
  let off = 0;
  while (off < v.length) {
    one[0] = off === 0 ? v : v.subarray(off);
    const n = isRead ? disk.readSync(one, pos + off) : disk.writeSync(one, pos + off);
    if (n === 0) {
      if (!isRead) throw new DeviceError('io', 'virtio-blk', `write of nothing at byte ${pos + off}`);
      v.fill(0, off); // past the end of the disk
      return;
    }
    if (!(n > 0 && n <= v.length - off) || !Number.isSafeInteger(n)) throw badCount(n, pos + off);
    off += n;
  }
}

/** {@link transferSync} through the backend's asynchronous calls; `done(true)` on failure, once. */
function transferAsync(
  disk: DiskBackend,
  iov: Uint8Array[],
  pos: number,
  isRead: boolean,
  done: (failed: boolean) => void,
): void {
  let seg = 0;
  let over = false;
  const end = (failed: boolean): void => {
    if (over) return;
    over = true;
    done(failed);
  };
  const cb = (err: Error | null, n: number): void => {
    if (over) return;
    if (err) {
      end(true);
      return;
    }
    if (n === 0) {
      if (!isRead) {
        end(true);
        return;
      }
      for (let k = seg; k < iov.length; k++) iov[k].fill(0); // past the end of the disk
      end(false);
      return;
    }
    try {
      seg = advance(iov, seg, n, pos);
    } catch {
      end(true);
      return;
    }
    pos += n;
    step();
  };
  const step = (): void => {
    while (seg < iov.length && iov[seg].length === 0) seg++;
    if (seg === iov.length) {
      end(false);
      return;
    }
    const part = seg === 0 && iov.length <= IOV_MAX ? iov : iov.slice(seg, seg + IOV_MAX);
    try {
      if (isRead) disk.read(part, pos, cb);
      else disk.write(part, pos, cb);
    } catch {
      end(true); // a backend that throws instead of calling back
    }
  };
  step();
}

/** {@link transferAsync} as a promise that rejects on failure. */
function transferPromise(disk: DiskBackend, iov: Uint8Array[], pos: number, isRead: boolean): Promise<void> {
  return new Promise((resolve, reject) =>
    transferAsync(disk, iov, pos, isRead, (failed) =>
      failed ? reject(new DeviceError('io', 'virtio-blk', `transfer at byte ${pos} failed`)) : resolve(),
    ),
  );
}

/** The writable descriptors up to `lastW`, without the final status byte. */
function writableData(ds: readonly Descriptor[], lastW: number): Descriptor[] {
  const out: Descriptor[] = [];
  for (let i = 0; i < lastW; i++) if (ds[i].writable && ds[i].len > 0) out.push(ds[i]);
  const last = ds[lastW];
  if (last.len > 1) out.push({ addr: last.addr, len: last.len - 1, writable: true });
  return out;
}

/** A zero-copy view of a guest buffer, or undefined when it spans regions. */
function directView(mem: GuestMemoryAccess, d: Descriptor): Uint8Array | undefined {
  const r = mem.findRegion(d.addr);
  if (!r || d.addr + d.len > r.start + r.size) return undefined;
  return r.bytes.subarray(d.addr - r.start, d.addr - r.start + d.len);
}

/** A writable host view of a guest buffer: zero-copy inside one region, a bounce buffer across regions. */
function guestView(mem: GuestMemoryAccess, d: Descriptor): { buf: Uint8Array; commit(): void } {
  try {
    return { buf: mem.slice(d.addr, d.len), commit() {} };
  } catch {
    const buf = new Uint8Array(d.len);
    return { buf, commit: () => mem.writeBytes(d.addr, buf) };
  }
}

function guestBytes(mem: GuestMemoryAccess, d: Descriptor): Uint8Array {
  try {
    return mem.slice(d.addr, d.len);
  } catch {
    return mem.readBytes(d.addr, d.len);
  }
}

/** Writes `len` zero bytes at byte `pos` of the disk, at most 1 MiB per call. */
function writeZeroes(disk: DiskBackend, one: Uint8Array[], pos: number, len: number): void {
  const zero = new Uint8Array(Math.min(len, 1 << 20));
  while (len > 0) {
    const n = Math.min(len, zero.length);
    transferOne(disk, one, zero.subarray(0, n), pos, false);
    pos += n;
    len -= n;
  }
}
