import * as fs from 'node:fs';
import { DeviceError } from '../errors.js';
import type {
  FsAttr,
  FsDirEntry,
  FsEntry,
  FsSetattr,
  FsStatfs,
  FuseFileSystem,
} from '../fuse/file-system.js';
import { fsError } from '../fuse/file-system.js';
import { LINUX_O, S_IF } from '../fuse/protocol.js';

/** Linux O_PATH (Node's `fs.constants` lacks it): a handle on an inode that opens nothing. */
const O_PATH = 0o10000000;
const { O_NOFOLLOW, O_DIRECTORY, O_CREAT, O_EXCL, O_TRUNC } = fs.constants;
const PROC_FD = '/proc/self/fd';

/** One inode of a {@link HostDirectoryFileSystem}: an O_PATH descriptor and where it was found. */
export class HostNode {
  /** The O_PATH descriptor, or -1 while closed (reopened from `parent` and `name` on use). */
  fd = -1;
  constructor(
    /** The directory it was found in (null: the root). */
    public parent: HostNode | null,
    /** Its name there. */
    public name: string,
    readonly ino: number,
    readonly dev: number,
    /** `S_IF*` type bits. */
    readonly type: number,
  ) {}
}

/** An open file of a {@link HostDirectoryFileSystem}. */
export interface HostFile {
  fd: number;
  readonly node: HostNode;
}

/** An open directory of a {@link HostDirectoryFileSystem}: its entries when opened. */
export interface HostDir {
  readonly node: HostNode;
  readonly entries: { name: string; type: number }[];
}

/**
 * Options for a {@link HostDirectoryFileSystem}.
 * @example const opts: HostDirectoryOptions = { readOnly: true, maxNodeDescriptors: 512 };
 */
export interface HostDirectoryOptions {
  /** Refuse every change with EROFS. Default false. */
  readOnly?: boolean;
  /**
   * Most O_PATH descriptors held for nodes; past it the least recently used are closed and
   * reopened (and checked to be the same inode) on next use. Default 1024, at least 16.
   */
  maxNodeDescriptors?: number;
  /** Most open files at once (each holds a descriptor); past it, OPEN gets EMFILE. Default 1024. */
  maxOpenFiles?: number;
  /** Most entries one OPENDIR snapshots (a larger directory is listed up to it). Default 1,000,000. */
  maxDirEntries?: number;
}

function typeOf(mode: number): number {
  return mode & S_IF.MT;
}

function direntType(d: fs.Dirent): number {
  if (d.isDirectory()) return S_IF.DIR;
  if (d.isFile()) return S_IF.REG;
  if (d.isSymbolicLink()) return S_IF.LNK;
  if (d.isFIFO()) return S_IF.FIFO;
  if (d.isSocket()) return S_IF.SOCK;
  if (d.isCharacterDevice()) return S_IF.CHR;
  if (d.isBlockDevice()) return S_IF.BLK;
  return 0;
}

function attrOf(st: fs.BigIntStats): FsAttr {
  const sec = (ns: bigint) => Number(ns / 1_000_000_000n);
  const nsec = (ns: bigint) => Number(ns % 1_000_000_000n);
  return {
    ino: Number(st.ino),
    size: Number(st.size),
    blocks: Number(st.blocks),
    atimeSec: sec(st.atimeNs),
    atimeNsec: nsec(st.atimeNs),
    mtimeSec: sec(st.mtimeNs),
    mtimeNsec: nsec(st.mtimeNs),
    ctimeSec: sec(st.ctimeNs),
    ctimeNsec: nsec(st.ctimeNs),
    mode: Number(st.mode),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    gid: Number(st.gid),
    rdev: Number(st.rdev),
    blksize: Number(st.blksize),
  };
}

/**
 * A {@link FuseFileSystem} over a host directory, confined to it (Linux).
 *
 * Node has no `openat`/`openat2`, so every node holds an O_PATH descriptor and every name the guest
 * sends is resolved as one component beneath its parent's descriptor, through the kernel's
 * `/proc/self/fd/N/NAME` (the magic link jumps to the directory the descriptor holds, wherever it
 * is now): `open(…, O_PATH | O_NOFOLLOW)` for LOOKUP, so a symlink is returned to the guest as a
 * symlink, never followed on the host (the guest's kernel resolves it within the mount); creation,
 * unlink, rename and link never follow a final symlink either. Files are opened through their
 * node's own descriptor (`/proc/self/fd/N`), so a name swapped for a symlink between LOOKUP and
 * OPEN changes nothing: the open reaches the inode looked up. Only regular files and directories
 * open; symlinks, devices, FIFOs and sockets do not (ELOOP, ENXIO). The guest never sends a path,
 * only single components checked by the server (no `/`, `.` or `..`).
 *
 * Bounded: at most `maxNodeDescriptors` node descriptors (least recently used closed, reopened
 * from parent and name and checked to be the same inode, ESTALE otherwise), `maxOpenFiles` open
 * files (EMFILE), and the FUSE server's own bounds on the bytes per READ or WRITE.
 *
 * @example
 * ```ts
 * import { VirtioFs } from '@ts-vmm/devices';
 * import { HostDirectoryFileSystem } from '@ts-vmm/devices/node';
 *
 * const share = new VirtioFs({ tag: 'work', fileSystem: new HostDirectoryFileSystem('/tmp', { readOnly: true }) });
 * ```
 */
export class HostDirectoryFileSystem implements FuseFileSystem<HostNode, HostFile, HostDir> {
  readonly readOnly: boolean;
  readonly path: string;
  private readonly rootNode: HostNode;
  private readonly lru = new Map<HostNode, true>();
  private readonly byIno = new Map<string, HostNode>();
  private readonly maxFds: number;
  private readonly maxOpen: number;
  private readonly maxDirEntries: number;
  private openFiles = 0;
  private closed = false;

  constructor(path: string, options: HostDirectoryOptions = {}) {
    if (typeof path !== 'string' || path === '')
      throw new DeviceError('invalid-config', 'virtio-fs', `share path ${JSON.stringify(path)} is empty`);
    if (!fs.existsSync(PROC_FD))
      throw new DeviceError(
        'unsupported',
        'virtio-fs',
        `${PROC_FD} is missing: host directory sharing needs Linux's /proc`,
      );
    this.maxFds = Math.max(16, options.maxNodeDescriptors ?? 1024);
    this.maxOpen = options.maxOpenFiles ?? 1024;
    this.maxDirEntries = options.maxDirEntries ?? 1_000_000;
    this.readOnly = options.readOnly ?? false;
    this.path = path;
    let fd: number;
    try {
      fd = fs.openSync(path, O_PATH | O_DIRECTORY);
    } catch (e) {
      throw new DeviceError(
        'io',
        'virtio-fs',
        `cannot open share directory ${JSON.stringify(path)}: ${(e as Error).message}`,
        e,
      );
    }
    const st = fs.fstatSync(fd, { bigint: true });
    this.rootNode = new HostNode(null, '', Number(st.ino), Number(st.dev), S_IF.DIR);
    this.rootNode.fd = fd;
  }

  /** Node descriptors held now (the root's included). */
  get nodeDescriptors(): number {
    return this.lru.size + 1;
  }

  /** Closes every descriptor; later calls fail with EBADF. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const n of this.lru.keys()) this.closeNode(n);
    fs.closeSync(this.rootNode.fd);
  }

  private closeNode(n: HostNode): void {
    if (n.fd >= 0 && n !== this.rootNode) {
      try {
        fs.closeSync(n.fd);
      } catch {
        // already gone
      }
    }
    if (n !== this.rootNode) n.fd = -1;
    this.lru.delete(n);
  }

  private touch(n: HostNode): void {
    if (n === this.rootNode) return;
    this.lru.delete(n);
    this.lru.set(n, true);
    while (this.lru.size > this.maxFds) {
      const oldest = this.lru.keys().next().value as HostNode;
      this.closeNode(oldest);
    }
  }

  /** The node's O_PATH descriptor, reopened (and checked) if it was closed. */
  private fdOf(n: HostNode): number {
    if (this.closed) throw fsError('EBADF', 'file system closed');
    if (n.fd < 0) {
      if (!n.parent) throw fsError('ESTALE');
      const fd = fs.openSync(this.childPath(n.parent, n.name), O_PATH | O_NOFOLLOW);
      const st = fs.fstatSync(fd, { bigint: true });
      if (Number(st.ino) !== n.ino || Number(st.dev) !== n.dev) {
        fs.closeSync(fd);
        throw fsError('ESTALE', `${JSON.stringify(n.name)} was replaced on the host`);
      }
      n.fd = fd;
    }
    this.touch(n);
    return n.fd;
  }

  /** `/proc/self/fd/N`: the node's inode itself. */
  private selfPath(n: HostNode): string {
    return `${PROC_FD}/${this.fdOf(n)}`;
  }

  /** `/proc/self/fd/N/NAME`: one component beneath a directory node. */
  private childPath(dir: HostNode, name: string): string {
    if (dir.type !== S_IF.DIR) throw fsError('ENOTDIR');
    if (name.includes('/') || name === '.' || name === '..' || name === '' || name.includes('\0'))
      throw fsError('EINVAL', `${JSON.stringify(name)} is not one path component`);
    return `${PROC_FD}/${this.fdOf(dir)}/${name}`;
  }

  private writable(): void {
    if (this.readOnly) throw fsError('EROFS');
  }

  root(): HostNode {
    return this.rootNode;
  }

  getattr(node: HostNode): FsAttr {
    return attrOf(fs.fstatSync(this.fdOf(node), { bigint: true }));
  }

  lookup(parent: HostNode, name: string): FsEntry<HostNode> {
    const fd = fs.openSync(this.childPath(parent, name), O_PATH | O_NOFOLLOW);
    let st: fs.BigIntStats;
    try {
      st = fs.fstatSync(fd, { bigint: true });
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
    const key = `${st.dev}:${st.ino}`;
    const known = this.byIno.get(key);
    if (known && known !== this.rootNode) {
      // the same inode: keep one node (and descriptor), refresh where it was last seen
      fs.closeSync(fd);
      known.parent = parent;
      known.name = name;
      return { node: known, attr: attrOf(st) };
    }
    if (known === this.rootNode) {
      fs.closeSync(fd);
      return { node: known, attr: attrOf(st) };
    }
    const node = new HostNode(parent, name, Number(st.ino), Number(st.dev), typeOf(Number(st.mode)));
    node.fd = fd;
    this.byIno.set(key, node);
    this.touch(node);
    return { node, attr: attrOf(st) };
  }

  forget(node: HostNode): void {
    if (node === this.rootNode) return;
    this.closeNode(node);
    const key = `${node.dev}:${node.ino}`;
    if (this.byIno.get(key) === node) this.byIno.delete(key);
  }

  setattr(node: HostNode, c: FsSetattr): FsAttr {
    this.writable();
    const isLink = node.type === S_IF.LNK;
    if (c.size !== undefined) {
      if (node.type !== S_IF.REG) throw fsError(node.type === S_IF.DIR ? 'EISDIR' : 'EINVAL');
      const fd = fs.openSync(this.selfPath(node), fs.constants.O_WRONLY);
      try {
        fs.ftruncateSync(fd, c.size);
      } finally {
        fs.closeSync(fd);
      }
    }
    if (c.mode !== undefined) {
      if (isLink) throw fsError('EOPNOTSUPP', 'chmod of a symlink');
      fs.chmodSync(this.selfPath(node), c.mode & 0o7777);
    }
    if (c.atime !== undefined || c.mtime !== undefined) {
      const cur = this.getattr(node);
      const t = (v: FsSetattr['atime'], sec: number, nsec: number) =>
        v === 'now' ? Date.now() / 1000 : v ? v.sec + v.nsec / 1e9 : sec + nsec / 1e9;
      const at = t(c.atime, cur.atimeSec, cur.atimeNsec);
      const mt = t(c.mtime, cur.mtimeSec, cur.mtimeNsec);
      if (isLink) {
        if (!node.parent) throw fsError('ESTALE');
        const p = this.childPath(node.parent, node.name);
        this.checkSame(p, node);
        fs.lutimesSync(p, at, mt);
      } else fs.utimesSync(this.selfPath(node), at, mt);
    }
    return this.getattr(node);
  }

  /** Checks that `path` (not followed) is still `node`'s inode. */
  private checkSame(path: string, node: HostNode): void {
    const st = fs.lstatSync(path, { bigint: true });
    if (Number(st.ino) !== node.ino || Number(st.dev) !== node.dev) throw fsError('ESTALE');
  }

  readlink(node: HostNode): Uint8Array {
    if (node.type !== S_IF.LNK || !node.parent) throw fsError('EINVAL', 'not a symlink');
    const p = this.childPath(node.parent, node.name);
    this.checkSame(p, node);
    return fs.readlinkSync(p, { encoding: 'buffer' });
  }

  symlink(parent: HostNode, name: string, target: Uint8Array): FsEntry<HostNode> {
    this.writable();
    fs.symlinkSync(Buffer.from(target), this.childPath(parent, name));
    return this.lookup(parent, name);
  }

  mkdir(parent: HostNode, name: string, mode: number): FsEntry<HostNode> {
    this.writable();
    fs.mkdirSync(this.childPath(parent, name), { mode: mode & 0o7777 });
    return this.lookup(parent, name);
  }

  unlink(parent: HostNode, name: string): void {
    this.writable();
    fs.unlinkSync(this.childPath(parent, name));
  }

  rmdir(parent: HostNode, name: string): void {
    this.writable();
    fs.rmdirSync(this.childPath(parent, name));
  }

  rename(parent: HostNode, name: string, newParent: HostNode, newName: string, noReplace: boolean): void {
    this.writable();
    const from = this.childPath(parent, name);
    const to = this.childPath(newParent, newName);
    const st = fs.lstatSync(from, { bigint: true });
    if (noReplace) {
      if (!st.isDirectory()) {
        // atomic without renameat2: link fails with EEXIST if newName exists
        fs.linkSync(from, to);
        fs.unlinkSync(from);
      } else {
        if (fs.existsSync(to) || this.lexists(to)) throw fsError('EEXIST');
        fs.renameSync(from, to);
      }
    } else fs.renameSync(from, to);
    const moved = this.byIno.get(`${st.dev}:${st.ino}`);
    if (moved) {
      moved.parent = newParent;
      moved.name = newName;
    }
  }

  private lexists(p: string): boolean {
    try {
      fs.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  }

  link(node: HostNode, newParent: HostNode, newName: string): FsEntry<HostNode> {
    this.writable();
    if (node.type === S_IF.DIR) throw fsError('EPERM', 'hard link to a directory');
    if (!node.parent) throw fsError('EPERM');
    if (node.dev !== this.rootNode.dev) throw fsError('EXDEV');
    const from = this.childPath(node.parent, node.name);
    this.checkSame(from, node);
    fs.linkSync(from, this.childPath(newParent, newName));
    return this.lookup(newParent, newName);
  }

  private openFd(node: HostNode, flags: number): number {
    if (node.type === S_IF.LNK) throw fsError('ELOOP');
    if (node.type !== S_IF.REG && node.type !== S_IF.DIR) throw fsError('ENXIO', 'only regular files open');
    if (this.openFiles >= this.maxOpen) throw fsError('EMFILE', `more than ${this.maxOpen} open files`);
    const acc = flags & LINUX_O.ACCMODE;
    if (acc !== LINUX_O.RDONLY || flags & LINUX_O.TRUNC) this.writable();
    const hostAcc =
      acc === LINUX_O.WRONLY
        ? fs.constants.O_WRONLY
        : acc === LINUX_O.RDWR
          ? fs.constants.O_RDWR
          : fs.constants.O_RDONLY;
    const fd = fs.openSync(this.selfPath(node), hostAcc | (flags & LINUX_O.TRUNC ? O_TRUNC : 0));
    this.openFiles++;
    return fd;
  }

  open(node: HostNode, flags: number): HostFile {
    return { fd: this.openFd(node, flags), node };
  }

  create(
    parent: HostNode,
    name: string,
    mode: number,
    flags: number,
  ): { entry: FsEntry<HostNode>; file: HostFile } {
    this.writable();
    if (this.openFiles >= this.maxOpen) throw fsError('EMFILE');
    const acc = flags & LINUX_O.ACCMODE;
    const hostAcc =
      acc === LINUX_O.WRONLY
        ? fs.constants.O_WRONLY
        : acc === LINUX_O.RDWR
          ? fs.constants.O_RDWR
          : fs.constants.O_RDONLY;
    const hostFlags =
      hostAcc |
      O_CREAT |
      O_NOFOLLOW |
      (flags & LINUX_O.EXCL ? O_EXCL : 0) |
      (flags & LINUX_O.TRUNC ? O_TRUNC : 0);
    const fd = fs.openSync(this.childPath(parent, name), hostFlags, mode & 0o7777);
    this.openFiles++;
    const file: HostFile = { fd, node: this.rootNode };
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      if (!st.isFile()) throw fsError('ENXIO');
      const entry = this.lookup(parent, name);
      if (entry.attr.ino !== Number(st.ino)) {
        this.forget(entry.node);
        throw fsError('ESTALE', `${JSON.stringify(name)} was replaced on the host`);
      }
      return { entry, file: Object.assign(file, { node: entry.node }) };
    } catch (e) {
      this.release(file);
      throw e;
    }
  }

  read(file: HostFile, offset: number, into: Uint8Array): number {
    return fs.readSync(this.fileFd(file), into, 0, into.length, offset);
  }

  write(file: HostFile, offset: number, data: Uint8Array): number {
    this.writable();
    return fs.writeSync(this.fileFd(file), data, 0, data.length, offset);
  }

  private fileFd(file: HostFile): number {
    if (file.fd < 0 || this.closed) throw fsError('EBADF');
    return file.fd;
  }

  flush(): void {}

  fsync(file: HostFile, dataOnly: boolean): void {
    if (dataOnly) fs.fdatasyncSync(this.fileFd(file));
    else fs.fsyncSync(this.fileFd(file));
  }

  release(file: HostFile): void {
    if (file.fd < 0) return;
    try {
      fs.closeSync(file.fd);
    } finally {
      file.fd = -1;
      this.openFiles--;
    }
  }

  opendir(node: HostNode): HostDir {
    if (node.type !== S_IF.DIR) throw fsError('ENOTDIR');
    const dir = fs.opendirSync(this.selfPath(node));
    const entries: { name: string; type: number }[] = [];
    try {
      for (let d = dir.readSync(); d && entries.length < this.maxDirEntries; d = dir.readSync())
        entries.push({ name: d.name, type: direntType(d) });
    } finally {
      dir.closeSync();
    }
    return { node, entries };
  }

  readdir(dir: HostDir, index: number): FsDirEntry | undefined {
    const e = dir.entries[index];
    if (!e) return undefined;
    try {
      const st = fs.lstatSync(this.childPath(dir.node, e.name), { bigint: true });
      return { name: e.name, ino: Number(st.ino), type: typeOf(Number(st.mode)) };
    } catch {
      return { name: e.name, ino: 0, type: e.type }; // gone since OPENDIR: listed as it was
    }
  }

  releasedir(): void {}

  statfs(node: HostNode): FsStatfs {
    const s = fs.statfsSync(this.selfPath(node));
    return {
      blocks: s.blocks,
      bfree: s.bfree,
      bavail: s.bavail,
      files: s.files,
      ffree: s.ffree,
      bsize: s.bsize,
      namelen: 255,
      frsize: s.bsize,
    };
  }

  access(node: HostNode, mask: number): void {
    if (mask & 2) this.writable();
    if (node.type === S_IF.LNK) return;
    fs.accessSync(this.selfPath(node), mask);
  }
}
