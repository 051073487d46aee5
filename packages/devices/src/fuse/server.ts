import { DeviceError } from '../errors.js';
import type { FsAttr, FsEntry, FuseFileSystem } from './file-system.js';
import { errnoOf } from './file-system.js';
import {
  ERRNO,
  FATTR,
  FUSE_INIT_FLAG,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_MINOR_VERSION,
  FUSE_OP,
  FUSE_ROOT_ID,
  FUSE_SIZE,
  LINUX_O,
  RENAME_FLAG,
  S_IF,
} from './protocol.js';

/** Default and largest `maxWrite`: the most bytes one READ or WRITE moves (1 MiB). */
export const FUSE_MAX_WRITE = 1 << 20;
/** Largest request the server reads: a WRITE of `maxWrite` plus its headers. */
export const FUSE_MAX_REQUEST = FUSE_MAX_WRITE + 4096;

/**
 * Options for a {@link FuseServer}.
 * @example const server = new FuseServer(new MemoryFileSystem(), { maxWrite: 256 << 10, maxHandles: 256 });
 */
export interface FuseServerOptions {
  /** Most bytes per READ or WRITE (a multiple of 4096, at most 1 MiB). Default 1 MiB. */
  maxWrite?: number;
  /** Most node ids the guest may hold at once (past it, LOOKUP gets ENFILE). Default 262144. */
  maxNodes?: number;
  /** Most open files and directories at once (past it, OPEN gets EMFILE). Default 4096. */
  maxHandles?: number;
  /** Seconds the guest may cache names and attributes. Default 1. */
  cacheSeconds?: number;
}

/**
 * Counters of a {@link FuseServer}.
 * @example server.stats.errors; // requests answered with an errno
 */
export interface FuseServerStats {
  requests: number;
  /** Requests answered with an error. */
  errors: number;
  /** Requests refused as malformed (bad lengths, names, ids). */
  malformed: number;
  bytesRead: number;
  bytesWritten: number;
}

interface NodeRec {
  node: unknown;
  ino: number;
  nlookup: number;
}
interface HandleRec {
  dir: boolean;
  nodeId: number;
  value: unknown;
}

/** Thrown inside the server to answer with an errno. */
class Errno {
  constructor(
    readonly errno: number,
    readonly malformed = false,
  ) {}
}
const bad = (errno: number = ERRNO.EINVAL) => new Errno(errno, true);

const utf8 = new TextDecoder('utf-8', { fatal: true });
const MAX_SAFE_HI = 0x1f_ffff;

/** A cursor over a request body. */
class Body {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly view: DataView,
  ) {}
  need(n: number): void {
    if (this.pos + n > this.bytes.length) throw bad();
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A u64 as a number; -1 when past 2^53 (no id or offset is that large). */
  u64(): number {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    return hi > MAX_SAFE_HI ? -1 : hi * 0x1_0000_0000 + lo;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  /** NUL-terminated bytes. */
  cstring(): Uint8Array {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) throw bad();
    const s = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return s;
  }
  /** A NUL-terminated single path component. */
  name(): string {
    return checkName(this.cstring());
  }
}

/**
 * Checks a name from the guest: a single component (no `/`, not `.` or `..`, not empty), at most
 * 255 bytes, valid UTF-8. Returns it as a string.
 * @example checkName(new TextEncoder().encode('a.txt')) === 'a.txt'
 */
export function checkName(raw: Uint8Array): string {
  if (raw.length === 0) throw bad(ERRNO.EINVAL);
  if (raw.length > 255) throw bad(ERRNO.ENAMETOOLONG);
  if (raw.includes(0x2f) || raw.includes(0)) throw bad(ERRNO.EINVAL);
  if (raw[0] === 0x2e && (raw.length === 1 || (raw.length === 2 && raw[1] === 0x2e))) throw bad(ERRNO.EINVAL);
  try {
    return utf8.decode(raw);
  } catch {
    throw bad(ERRNO.EINVAL);
  }
}

/** A reply under construction. */
class Out {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number = FUSE_SIZE.OUT_HEADER;
  constructor(size: number) {
    this.bytes = new Uint8Array(FUSE_SIZE.OUT_HEADER + size);
    this.view = new DataView(this.bytes.buffer);
  }
  u16(v: number): void {
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }
  u64(v: number): void {
    const n = Math.max(0, Math.floor(v));
    this.view.setUint32(this.pos, n % 0x1_0000_0000, true);
    this.view.setUint32(this.pos + 4, Math.floor(n / 0x1_0000_0000), true);
    this.pos += 8;
  }
  bytesAt(b: Uint8Array): void {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
}

/**
 * The FUSE protocol (7.13 to 7.38) on top of a {@link FuseFileSystem}: decodes one request's bytes
 * and returns the reply's. Every guest input is checked before it reaches the file system: lengths
 * against the request, names (single components, see {@link checkName}), node ids and handles
 * against the ones handed out. Malformed requests, unknown opcodes and file-system errors are
 * answered with an errno; nothing the guest sends throws out of {@link FuseServer.handle}.
 *
 * Served: INIT, DESTROY, LOOKUP, FORGET, BATCH_FORGET, GETATTR, SETATTR (mode, size, times; an
 * owner change is EPERM), READLINK, SYMLINK, MKDIR, UNLINK, RMDIR, RENAME, RENAME2 (flags 0 and
 * NOREPLACE; EXCHANGE and WHITEOUT are EINVAL), LINK, OPEN, CREATE, READ, WRITE, FLUSH, RELEASE,
 * FSYNC, OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR, STATFS, ACCESS. Everything else
 * (MKNOD, xattrs, locks, FALLOCATE, LSEEK, COPY_FILE_RANGE, DAX mappings, ...) is ENOSYS, so the
 * guest's kernel falls back or reports "not supported".
 *
 * @example
 * ```ts
 * import { FuseServer, MemoryFileSystem } from '@ts-vmm/devices';
 *
 * const server = new FuseServer(new MemoryFileSystem());
 * const request = new Uint8Array(40); // a fuse_in_header only: opcode 0 is unknown
 * new DataView(request.buffer).setUint32(0, 40, true);
 * const reply = server.handle(request, 4096); // 16 bytes: fuse_out_header with error -EIO (no INIT yet)
 * ```
 */
export class FuseServer {
  readonly stats: FuseServerStats = { requests: 0, errors: 0, malformed: 0, bytesRead: 0, bytesWritten: 0 };
  /** The minor version agreed at INIT (0 before). */
  minor = 0;
  readonly maxWrite: number;
  private readonly maxNodes: number;
  private readonly maxHandles: number;
  private readonly cacheSeconds: number;
  private readonly nodes = new Map<number, NodeRec>();
  private readonly byIno = new Map<number, number>();
  private readonly handles = new Map<number, HandleRec>();
  private nextNode = 2;
  private nextHandle = 1;
  private buf = new Uint8Array(0);

  constructor(
    private readonly fs: FuseFileSystem,
    options: FuseServerOptions = {},
  ) {
    const mw = options.maxWrite ?? FUSE_MAX_WRITE;
    if (!Number.isInteger(mw) || mw < 4096 || mw > FUSE_MAX_WRITE || mw % 4096)
      throw new DeviceError(
        'invalid-config',
        'virtio-fs',
        `maxWrite ${mw} is not a multiple of 4096 in [4096, ${FUSE_MAX_WRITE}]`,
      );
    this.maxWrite = mw;
    this.maxNodes = options.maxNodes ?? 262144;
    this.maxHandles = options.maxHandles ?? 4096;
    this.cacheSeconds = options.cacheSeconds ?? 1;
    this.resetState();
  }

  /** Node ids the guest holds (the root included). */
  get nodeCount(): number {
    return this.nodes.size;
  }
  /** Open files and directories. */
  get handleCount(): number {
    return this.handles.size;
  }

  /** Forgets every node and closes every handle (DESTROY, device reset). */
  resetState(): void {
    for (const h of this.handles.values())
      this.quiet(() => (h.dir ? this.fs.releasedir(h.value) : this.fs.release(h.value)));
    this.handles.clear();
    for (const [id, n] of this.nodes) if (id !== FUSE_ROOT_ID) this.quiet(() => this.fs.forget(n.node));
    this.nodes.clear();
    this.byIno.clear();
    const root = this.fs.root();
    let ino = 1;
    this.quiet(() => {
      ino = this.fs.getattr(root).ino;
    });
    this.nodes.set(FUSE_ROOT_ID, { node: root, ino, nlookup: 1 });
    this.byIno.set(ino, FUSE_ROOT_ID);
    this.minor = 0;
  }

  private quiet(f: () => void): void {
    try {
      f();
    } catch {
      // a file system's failure to release is not the guest's business
    }
  }

  /**
   * Serves one request (`request`: the bytes the guest's readable buffers hold) with at most
   * `room` reply bytes (its writable buffers' length). Returns the reply, or null where FUSE gives
   * none (FORGET, BATCH_FORGET) or the request is too short to name its `unique`.
   */
  handle(request: Uint8Array, room: number): Uint8Array | null {
    this.stats.requests++;
    if (request.length < 16) {
      this.stats.malformed++;
      return null;
    }
    const view = new DataView(request.buffer, request.byteOffset, request.byteLength);
    const len = view.getUint32(0, true);
    const opcode = view.getUint32(4, true);
    const unique = request.subarray(8, 16);
    let reply: Out | null;
    try {
      if (request.length < FUSE_SIZE.IN_HEADER || len < FUSE_SIZE.IN_HEADER || len > request.length)
        throw bad();
      const extlen = view.getUint16(32, true) * 8;
      if (FUSE_SIZE.IN_HEADER + extlen > len) throw bad();
      const nodeid = (() => {
        const hi = view.getUint32(20, true);
        return hi > MAX_SAFE_HI ? -1 : hi * 0x1_0000_0000 + view.getUint32(16, true);
      })();
      const body = new Body(
        request.subarray(FUSE_SIZE.IN_HEADER, len - extlen),
        new DataView(
          request.buffer,
          request.byteOffset + FUSE_SIZE.IN_HEADER,
          len - extlen - FUSE_SIZE.IN_HEADER,
        ),
      );
      reply = this.dispatch(opcode, nodeid, body, Math.max(0, room - FUSE_SIZE.OUT_HEADER));
    } catch (e) {
      let errno: number;
      if (e instanceof Errno) {
        errno = e.errno;
        if (e.malformed) this.stats.malformed++;
      } else errno = errnoOf(e);
      this.stats.errors++;
      reply = new Out(0);
      reply.view.setInt32(4, -errno, true);
    }
    if (!reply || room < FUSE_SIZE.OUT_HEADER) return null;
    if (reply.bytes.length > room) {
      this.stats.errors++;
      reply = new Out(0);
      reply.view.setInt32(4, -ERRNO.ERANGE, true);
    }
    reply.view.setUint32(0, reply.bytes.length, true);
    reply.bytes.set(unique, 8);
    return reply.bytes;
  }

  private rec(nodeid: number): NodeRec {
    const r = this.nodes.get(nodeid);
    if (!r) throw bad(ERRNO.ENOENT);
    return r;
  }

  private handleRec(fh: number, dir: boolean): HandleRec {
    const h = this.handles.get(fh);
    if (!h || h.dir !== dir) throw bad(ERRNO.EBADF);
    return h;
  }

  private writable(): void {
    if (this.fs.readOnly) throw new Errno(ERRNO.EROFS);
  }

  /** Gives the guest a node id for `entry` (a lookup: counts one more reference). */
  private register(entry: FsEntry<unknown>): number {
    const known = this.byIno.get(entry.attr.ino);
    if (known !== undefined) {
      const r = this.nodes.get(known);
      if (r) {
        r.nlookup++;
        if (r.node !== entry.node) this.quiet(() => this.fs.forget(entry.node));
        return known;
      }
    }
    if (this.nodes.size >= this.maxNodes) {
      this.quiet(() => this.fs.forget(entry.node));
      throw new Errno(ERRNO.ENFILE);
    }
    const id = this.nextNode++;
    this.nodes.set(id, { node: entry.node, ino: entry.attr.ino, nlookup: 1 });
    this.byIno.set(entry.attr.ino, id);
    return id;
  }

  private forget(nodeid: number, n: number): void {
    if (nodeid === FUSE_ROOT_ID) return;
    const r = this.nodes.get(nodeid);
    if (!r) return;
    r.nlookup -= n < 0 ? r.nlookup : n;
    if (r.nlookup > 0) return;
    this.nodes.delete(nodeid);
    if (this.byIno.get(r.ino) === nodeid) this.byIno.delete(r.ino);
    this.quiet(() => this.fs.forget(r.node));
  }

  private attr(out: Out, a: FsAttr): void {
    out.u64(a.ino);
    out.u64(a.size);
    out.u64(a.blocks);
    out.u64(a.atimeSec);
    out.u64(a.mtimeSec);
    out.u64(a.ctimeSec);
    out.u32(a.atimeNsec);
    out.u32(a.mtimeNsec);
    out.u32(a.ctimeNsec);
    out.u32(a.mode);
    out.u32(a.nlink);
    out.u32(a.uid);
    out.u32(a.gid);
    out.u32(a.rdev);
    out.u32(a.blksize);
    out.u32(0);
  }

  private entryOut(out: Out, nodeid: number, a: FsAttr | null): void {
    out.u64(nodeid);
    out.u64(0);
    out.u64(this.cacheSeconds);
    out.u64(this.cacheSeconds);
    out.u32(0);
    out.u32(0);
    if (a) this.attr(out, a);
    else out.pos += FUSE_SIZE.ATTR;
  }

  private entryReply(entry: FsEntry<unknown>): Out {
    const id = this.register(entry);
    const out = new Out(FUSE_SIZE.ENTRY_OUT);
    this.entryOut(out, id, entry.attr);
    return out;
  }

  private attrReply(a: FsAttr): Out {
    const out = new Out(FUSE_SIZE.ATTR_OUT);
    out.u64(this.cacheSeconds);
    out.u32(0);
    out.u32(0);
    this.attr(out, a);
    return out;
  }

  private newHandle(dir: boolean, nodeId: number, value: unknown): number {
    const fh = this.nextHandle++;
    this.handles.set(fh, { dir, nodeId, value });
    return fh;
  }

  private roomForHandle(): void {
    if (this.handles.size >= this.maxHandles) throw new Errno(ERRNO.EMFILE);
  }

  private scratch(n: number): Uint8Array {
    if (this.buf.length < n) this.buf = new Uint8Array(n);
    return this.buf.subarray(0, n);
  }

  private dispatch(op: number, nodeid: number, b: Body, room: number): Out | null {
    if (op === FUSE_OP.INIT) return this.init(b);
    if (this.minor === 0) throw new Errno(ERRNO.EIO);
    const fs = this.fs;
    switch (op) {
      case FUSE_OP.DESTROY:
        this.resetState();
        return new Out(0);
      case FUSE_OP.LOOKUP: {
        const parent = this.rec(nodeid).node;
        return this.entryReply(fs.lookup(parent, b.name()));
      }
      case FUSE_OP.FORGET:
        this.forget(nodeid, b.u64());
        return null;
      case FUSE_OP.BATCH_FORGET: {
        const count = b.u32();
        b.u32();
        for (let i = 0; i < count && b.pos + 16 <= b.bytes.length; i++) {
          const id = b.u64();
          this.forget(id, b.u64());
        }
        return null;
      }
      case FUSE_OP.GETATTR: {
        const r = this.rec(nodeid);
        return this.attrReply(fs.getattr(r.node));
      }
      case FUSE_OP.SETATTR:
        return this.setattr(nodeid, b);
      case FUSE_OP.READLINK: {
        const t = fs.readlink(this.rec(nodeid).node);
        const out = new Out(t.length);
        out.bytesAt(t);
        return out;
      }
      case FUSE_OP.SYMLINK: {
        const parent = this.rec(nodeid).node;
        const name = b.name();
        const target = b.cstring();
        if (target.length === 0) throw bad(ERRNO.ENOENT);
        if (target.length >= 4096) throw bad(ERRNO.ENAMETOOLONG);
        this.writable();
        return this.entryReply(fs.symlink(parent, name, target));
      }
      case FUSE_OP.MKDIR: {
        const parent = this.rec(nodeid).node;
        const mode = b.u32();
        b.u32();
        const name = b.name();
        this.writable();
        return this.entryReply(fs.mkdir(parent, name, mode & 0o7777));
      }
      case FUSE_OP.UNLINK:
      case FUSE_OP.RMDIR: {
        const parent = this.rec(nodeid).node;
        const name = b.name();
        this.writable();
        if (op === FUSE_OP.UNLINK) fs.unlink(parent, name);
        else fs.rmdir(parent, name);
        return new Out(0);
      }
      case FUSE_OP.RENAME:
      case FUSE_OP.RENAME2: {
        const parent = this.rec(nodeid).node;
        const newdir = b.u64();
        let flags = 0;
        if (op === FUSE_OP.RENAME2) {
          flags = b.u32();
          b.u32();
        }
        const newParent = this.rec(newdir).node;
        const name = b.name();
        const newName = b.name();
        if (flags & ~RENAME_FLAG.NOREPLACE) throw bad(ERRNO.EINVAL);
        this.writable();
        fs.rename(parent, name, newParent, newName, (flags & RENAME_FLAG.NOREPLACE) !== 0);
        return new Out(0);
      }
      case FUSE_OP.LINK: {
        const newParent = this.rec(nodeid).node;
        const old = this.rec(b.u64()).node;
        const name = b.name();
        this.writable();
        return this.entryReply(fs.link(old, newParent, name));
      }
      case FUSE_OP.OPEN:
      case FUSE_OP.OPENDIR: {
        const r = this.rec(nodeid);
        const flags = b.u32();
        b.u32();
        const dir = op === FUSE_OP.OPENDIR;
        if (!dir && (flags & LINUX_O.ACCMODE) !== LINUX_O.RDONLY) this.writable();
        if (!dir && flags & LINUX_O.TRUNC) this.writable();
        this.roomForHandle();
        const value = dir ? fs.opendir(r.node) : fs.open(r.node, flags & ~(LINUX_O.CREAT | LINUX_O.EXCL));
        const out = new Out(FUSE_SIZE.OPEN_OUT);
        out.u64(this.newHandle(dir, nodeid, value));
        out.u32(0);
        out.u32(0);
        return out;
      }
      case FUSE_OP.CREATE: {
        const parent = this.rec(nodeid).node;
        const flags = b.u32();
        const mode = b.u32();
        b.u32();
        b.u32();
        const name = b.name();
        this.writable();
        this.roomForHandle();
        if (this.nodes.size >= this.maxNodes) throw new Errno(ERRNO.ENFILE);
        const { entry, file } = fs.create(parent, name, mode & 0o7777, flags);
        const id = this.register(entry);
        const out = new Out(FUSE_SIZE.ENTRY_OUT + FUSE_SIZE.OPEN_OUT);
        this.entryOut(out, id, entry.attr);
        out.u64(this.newHandle(false, id, file));
        out.u32(0);
        out.u32(0);
        return out;
      }
      case FUSE_OP.READ: {
        const h = this.handleRec(b.u64(), false);
        const offset = b.u64();
        const size = b.u32();
        if (offset < 0) throw bad(ERRNO.EINVAL);
        const n = Math.min(size, this.maxWrite, room);
        const into = this.scratch(n);
        const got = fs.read(h.value, offset, into);
        if (!Number.isInteger(got) || got < 0 || got > n) throw new Errno(ERRNO.EIO);
        const out = new Out(got);
        out.bytesAt(into.subarray(0, got));
        this.stats.bytesRead += got;
        return out;
      }
      case FUSE_OP.WRITE: {
        const h = this.handleRec(b.u64(), false);
        const offset = b.u64();
        const size = b.u32();
        b.skip(this.minor >= 9 ? 20 : 4);
        if (offset < 0 || size > this.maxWrite || offset + size > Number.MAX_SAFE_INTEGER)
          throw bad(ERRNO.EINVAL);
        b.need(size);
        this.writable();
        const wrote = fs.write(h.value, offset, b.bytes.subarray(b.pos, b.pos + size));
        if (!Number.isInteger(wrote) || wrote < 0 || wrote > size) throw new Errno(ERRNO.EIO);
        this.stats.bytesWritten += wrote;
        const out = new Out(FUSE_SIZE.WRITE_OUT);
        out.u32(wrote);
        return out;
      }
      case FUSE_OP.FLUSH:
        fs.flush(this.handleRec(b.u64(), false).value);
        return new Out(0);
      case FUSE_OP.FSYNC:
      case FUSE_OP.FSYNCDIR: {
        const h = this.handleRec(b.u64(), op === FUSE_OP.FSYNCDIR);
        const flags = b.u32();
        if (op === FUSE_OP.FSYNC) fs.fsync(h.value, (flags & 1) !== 0);
        return new Out(0);
      }
      case FUSE_OP.RELEASE:
      case FUSE_OP.RELEASEDIR: {
        const fh = b.u64();
        const h = this.handleRec(fh, op === FUSE_OP.RELEASEDIR);
        this.handles.delete(fh);
        if (h.dir) fs.releasedir(h.value);
        else fs.release(h.value);
        return new Out(0);
      }
      case FUSE_OP.READDIR:
      case FUSE_OP.READDIRPLUS:
        return this.readdir(nodeid, b, room, op === FUSE_OP.READDIRPLUS);
      case FUSE_OP.STATFS: {
        const s = fs.statfs(this.rec(nodeid).node);
        const out = new Out(FUSE_SIZE.STATFS_OUT);
        for (const v of [s.blocks, s.bfree, s.bavail, s.files, s.ffree]) out.u64(v);
        for (const v of [s.bsize, s.namelen, s.frsize]) out.u32(v);
        return out;
      }
      case FUSE_OP.ACCESS: {
        const r = this.rec(nodeid);
        const mask = b.u32();
        if (mask & ~7) throw bad(ERRNO.EINVAL);
        if (mask & 2) this.writable();
        fs.access(r.node, mask);
        return new Out(0);
      }
      default:
        throw new Errno(ERRNO.ENOSYS);
    }
  }

  private init(b: Body): Out {
    const major = b.u32();
    const minor = b.u32();
    const maxReadahead = b.u32();
    const flags = b.u32();
    if (major < FUSE_KERNEL_VERSION) throw new Errno(ERRNO.EPROTO);
    const out = new Out(FUSE_SIZE.INIT_OUT);
    if (major > FUSE_KERNEL_VERSION) {
      // the driver retries with our major
      out.u32(FUSE_KERNEL_VERSION);
      out.u32(FUSE_KERNEL_MINOR_VERSION);
      return out;
    }
    if (minor < FUSE_MIN_MINOR_VERSION) throw new Errno(ERRNO.EPROTO);
    if (this.minor !== 0) this.resetState();
    this.minor = Math.min(minor, FUSE_KERNEL_MINOR_VERSION);
    const want =
      FUSE_INIT_FLAG.ASYNC_READ |
      FUSE_INIT_FLAG.BIG_WRITES |
      FUSE_INIT_FLAG.DO_READDIRPLUS |
      FUSE_INIT_FLAG.PARALLEL_DIROPS |
      FUSE_INIT_FLAG.MAX_PAGES;
    out.u32(FUSE_KERNEL_VERSION);
    out.u32(this.minor);
    out.u32(Math.min(maxReadahead, this.maxWrite));
    out.u32(flags & want);
    out.u16(16); // max_background
    out.u16(12); // congestion_threshold
    out.u32(this.maxWrite);
    out.u32(1); // time_gran: nanoseconds
    out.u16(this.maxWrite / 4096); // max_pages
    return out;
  }

  private setattr(nodeid: number, b: Body): Out {
    const r = this.rec(nodeid);
    const valid = b.u32();
    b.u32();
    b.u64(); // fh
    const size = b.u64();
    b.u64(); // lock_owner
    const atime = b.u64();
    const mtime = b.u64();
    b.u64(); // ctime
    const atimensec = b.u32();
    const mtimensec = b.u32();
    b.u32();
    const mode = b.u32();
    b.u32();
    const uid = b.u32();
    const gid = b.u32();
    this.writable();
    const cur = this.fs.getattr(r.node);
    if ((valid & FATTR.UID && uid !== cur.uid) || (valid & FATTR.GID && gid !== cur.gid))
      throw new Errno(ERRNO.EPERM);
    const changes: Parameters<FuseFileSystem['setattr']>[1] = {};
    if (valid & FATTR.MODE) changes.mode = mode & 0o7777;
    if (valid & FATTR.SIZE) {
      if (size < 0) throw bad(ERRNO.EFBIG);
      if ((cur.mode & S_IF.MT) === S_IF.DIR) throw new Errno(ERRNO.EISDIR);
      changes.size = size;
    }
    const time = (sec: number, nsec: number) => {
      if (sec < 0 || nsec > 999_999_999) throw bad(ERRNO.EINVAL);
      return { sec, nsec };
    };
    if (valid & FATTR.ATIME_NOW) changes.atime = 'now';
    else if (valid & FATTR.ATIME) changes.atime = time(atime, atimensec);
    if (valid & FATTR.MTIME_NOW) changes.mtime = 'now';
    else if (valid & FATTR.MTIME) changes.mtime = time(mtime, mtimensec);
    return this.attrReply(this.fs.setattr(r.node, changes));
  }

  private readdir(nodeid: number, b: Body, room: number, plus: boolean): Out {
    const h = this.handleRec(b.u64(), true);
    const offset = b.u64();
    const size = Math.min(b.u32(), room, this.maxWrite);
    if (offset < 0) throw bad(ERRNO.EINVAL);
    const dirRec = this.rec(h.nodeId);
    void nodeid;
    const parts: Uint8Array[] = [];
    let used = 0;
    const enc = new TextEncoder();
    for (let index = offset; ; index++) {
      let name: Uint8Array;
      let ino: number;
      let type: number;
      if (index === 0 || index === 1) {
        name = index === 0 ? Uint8Array.of(0x2e) : Uint8Array.of(0x2e, 0x2e);
        ino = dirRec.ino;
        type = S_IF.DIR;
      } else {
        const e = this.fs.readdir(h.value, index - 2);
        if (!e) break;
        name = enc.encode(e.name);
        ino = e.ino;
        type = e.type;
      }
      const direntLen = (FUSE_SIZE.DIRENT + name.length + 7) & ~7;
      const len = direntLen + (plus ? FUSE_SIZE.ENTRY_OUT : 0);
      if (used + len > size) break;
      const out = new Out(len - FUSE_SIZE.OUT_HEADER);
      out.pos = 0;
      if (plus) {
        if (index < 2) this.entryOut(out, 0, null);
        else {
          let entry: FsEntry<unknown>;
          try {
            entry = this.fs.lookup(dirRec.node, new TextDecoder().decode(name));
          } catch {
            continue; // gone since OPENDIR
          }
          const id = this.register(entry);
          this.entryOut(out, id, entry.attr);
          ino = entry.attr.ino;
        }
      }
      out.u64(ino);
      out.u64(index + 1);
      out.u32(name.length);
      out.u32((type & S_IF.MT) >>> 12);
      out.bytesAt(name);
      parts.push(out.bytes.subarray(0, len));
      used += len;
    }
    const out = new Out(used);
    for (const p of parts) out.bytesAt(p);
    return out;
  }
}
