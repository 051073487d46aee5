import type { FsAttr, FsDirEntry, FsEntry, FsSetattr, FsStatfs, FuseFileSystem } from './file-system.js';
import { fsError } from './file-system.js';
import { LINUX_O, S_IF } from './protocol.js';

/** One inode of a {@link MemoryFileSystem}. */
export interface MemoryNode {
  readonly ino: number;
  mode: number;
  nlink: number;
  /** File contents (its first `size` bytes). */
  data: Uint8Array;
  size: number;
  /** Directory entries. */
  children?: Map<string, MemoryNode>;
  /** Symlink target. */
  target?: Uint8Array;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** An open file of a {@link MemoryFileSystem}. */
export interface MemoryFile {
  readonly node: MemoryNode;
  readonly write: boolean;
  readonly read: boolean;
}

/** An open directory of a {@link MemoryFileSystem}: its entries when opened. */
export interface MemoryDir {
  readonly entries: FsDirEntry[];
}

/**
 * Options for a {@link MemoryFileSystem}.
 * @example const fs = new MemoryFileSystem({ maxBytes: 16 << 20, readOnly: false });
 */
export interface MemoryFileSystemOptions {
  /** Most bytes of file contents held in all. Default 64 MiB; past it, writes get ENOSPC. */
  maxBytes?: number;
  /** Most inodes. Default 65536; past it, creation gets ENOSPC. */
  maxNodes?: number;
  /** Refuse every change with EROFS. Default false. */
  readOnly?: boolean;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/**
 * A {@link FuseFileSystem} in memory, for unit tests and the browser: directories, regular files,
 * symlinks and hard links, bounded by `maxBytes` and `maxNodes`. Everything is owned by uid 0.
 *
 * @example
 * ```ts
 * import { MemoryFileSystem } from '@ts-vmm/devices';
 *
 * const files = new MemoryFileSystem();
 * const root = files.root();
 * const { file } = files.create(root, 'hello.txt', 0o644, 2);
 * files.write(file, 0, new TextEncoder().encode('hi'));
 * files.lookup(root, 'hello.txt').attr.size; // 2
 * ```
 */
export class MemoryFileSystem implements FuseFileSystem<MemoryNode, MemoryFile, MemoryDir> {
  readonly readOnly: boolean;
  private readonly rootNode: MemoryNode;
  private nextIno = 1;
  private bytes = 0;
  private nodes = 0;
  private readonly maxBytes: number;
  private readonly maxNodes: number;
  private readonly now: () => number;

  constructor(options: MemoryFileSystemOptions = {}) {
    this.readOnly = options.readOnly ?? false;
    this.maxBytes = options.maxBytes ?? 64 << 20;
    this.maxNodes = options.maxNodes ?? 65536;
    this.now = options.now ?? Date.now;
    this.rootNode = this.newNode(S_IF.DIR | 0o755);
    this.rootNode.nlink = 2;
  }

  private newNode(mode: number): MemoryNode {
    if (this.nodes >= this.maxNodes) throw fsError('ENOSPC', `more than ${this.maxNodes} nodes`);
    this.nodes++;
    const t = this.now();
    const n: MemoryNode = {
      ino: this.nextIno++,
      mode,
      nlink: 1,
      data: new Uint8Array(0),
      size: 0,
      atimeMs: t,
      mtimeMs: t,
      ctimeMs: t,
    };
    if ((mode & S_IF.MT) === S_IF.DIR) n.children = new Map();
    return n;
  }

  private dir(node: MemoryNode): Map<string, MemoryNode> {
    if (!node.children) throw fsError('ENOTDIR');
    return node.children;
  }

  private writable(): void {
    if (this.readOnly) throw fsError('EROFS');
  }

  private add(parent: MemoryNode, name: string, node: MemoryNode): FsEntry<MemoryNode> {
    const d = this.dir(parent);
    d.set(name, node);
    if (node.children) parent.nlink++;
    parent.mtimeMs = parent.ctimeMs = this.now();
    return { node, attr: this.getattr(node) };
  }

  private drop(node: MemoryNode): void {
    node.nlink--;
    if (node.nlink <= 0 || (node.children && node.nlink <= 1)) {
      this.nodes--;
      this.bytes -= node.data.length;
      node.data = new Uint8Array(0);
    }
  }

  root(): MemoryNode {
    return this.rootNode;
  }

  getattr(node: MemoryNode): FsAttr {
    const s = (ms: number) => Math.floor(ms / 1000);
    const ns = (ms: number) => Math.floor((ms % 1000) * 1e6);
    const size = node.target ? node.target.length : node.size;
    return {
      ino: node.ino,
      size,
      blocks: Math.ceil(size / 512),
      atimeSec: s(node.atimeMs),
      atimeNsec: ns(node.atimeMs),
      mtimeSec: s(node.mtimeMs),
      mtimeNsec: ns(node.mtimeMs),
      ctimeSec: s(node.ctimeMs),
      ctimeNsec: ns(node.ctimeMs),
      mode: node.mode,
      nlink: node.nlink,
      uid: 0,
      gid: 0,
      rdev: 0,
      blksize: 4096,
    };
  }

  lookup(parent: MemoryNode, name: string): FsEntry<MemoryNode> {
    const node = this.dir(parent).get(name);
    if (!node) throw fsError('ENOENT', `no entry ${JSON.stringify(name)}`);
    return { node, attr: this.getattr(node) };
  }

  forget(): void {}

  setattr(node: MemoryNode, c: FsSetattr): FsAttr {
    this.writable();
    const t = this.now();
    if (c.size !== undefined) {
      if (node.children) throw fsError('EISDIR');
      if (node.target) throw fsError('EINVAL');
      this.resize(node, c.size);
      node.mtimeMs = t;
    }
    if (c.mode !== undefined) node.mode = (node.mode & S_IF.MT) | (c.mode & 0o7777);
    const ms = (v: { sec: number; nsec: number } | 'now') => (v === 'now' ? t : v.sec * 1000 + v.nsec / 1e6);
    if (c.atime !== undefined) node.atimeMs = ms(c.atime);
    if (c.mtime !== undefined) node.mtimeMs = ms(c.mtime);
    node.ctimeMs = t;
    return this.getattr(node);
  }

  private resize(node: MemoryNode, size: number): void {
    if (size > node.data.length) {
      const cap = Math.max(size, Math.min(node.data.length * 2, size + (16 << 20)));
      if (this.bytes - node.data.length + cap > this.maxBytes) {
        if (this.bytes - node.data.length + size > this.maxBytes) throw fsError('ENOSPC');
        this.realloc(node, size, size);
      } else this.realloc(node, cap, size);
      return;
    }
    node.data.fill(0, size, node.size);
    node.size = size;
  }

  private realloc(node: MemoryNode, cap: number, size: number): void {
    const data = new Uint8Array(cap);
    data.set(node.data.subarray(0, node.size));
    this.bytes += cap - node.data.length;
    node.data = data;
    node.size = size;
  }

  readlink(node: MemoryNode): Uint8Array {
    if (!node.target) throw fsError('EINVAL', 'not a symlink');
    return node.target.slice();
  }

  private absent(parent: MemoryNode, name: string): void {
    if (this.dir(parent).has(name)) throw fsError('EEXIST', JSON.stringify(name));
  }

  symlink(parent: MemoryNode, name: string, target: Uint8Array): FsEntry<MemoryNode> {
    this.writable();
    this.absent(parent, name);
    const node = this.newNode(S_IF.LNK | 0o777);
    node.target = target.slice();
    return this.add(parent, name, node);
  }

  mkdir(parent: MemoryNode, name: string, mode: number): FsEntry<MemoryNode> {
    this.writable();
    this.absent(parent, name);
    const node = this.newNode(S_IF.DIR | (mode & 0o7777));
    node.nlink = 2;
    return this.add(parent, name, node);
  }

  unlink(parent: MemoryNode, name: string): void {
    this.writable();
    const node = this.lookup(parent, name).node;
    if (node.children) throw fsError('EISDIR');
    this.dir(parent).delete(name);
    this.drop(node);
    parent.mtimeMs = parent.ctimeMs = this.now();
  }

  rmdir(parent: MemoryNode, name: string): void {
    this.writable();
    const node = this.lookup(parent, name).node;
    if (!node.children) throw fsError('ENOTDIR');
    if (node.children.size) throw fsError('ENOTEMPTY');
    this.dir(parent).delete(name);
    parent.nlink--;
    this.drop(node);
    node.nlink = 0;
    parent.mtimeMs = parent.ctimeMs = this.now();
  }

  private contains(dir: MemoryNode, node: MemoryNode): boolean {
    if (dir === node) return true;
    for (const c of dir.children?.values() ?? []) if (c.children && this.contains(c, node)) return true;
    return false;
  }

  rename(parent: MemoryNode, name: string, newParent: MemoryNode, newName: string, noReplace: boolean): void {
    this.writable();
    const node = this.lookup(parent, name).node;
    const to = this.dir(newParent);
    const old = to.get(newName);
    if (old === node) return;
    if (node.children && this.contains(node, newParent)) throw fsError('EINVAL', 'a directory into itself');
    if (old) {
      if (noReplace) throw fsError('EEXIST');
      if (old.children && !node.children) throw fsError('EISDIR');
      if (!old.children && node.children) throw fsError('ENOTDIR');
      if (old.children?.size) throw fsError('ENOTEMPTY');
      if (old.children) newParent.nlink--;
      this.drop(old);
    }
    this.dir(parent).delete(name);
    if (node.children) parent.nlink--;
    this.add(newParent, newName, node);
  }

  link(node: MemoryNode, newParent: MemoryNode, newName: string): FsEntry<MemoryNode> {
    this.writable();
    if (node.children) throw fsError('EPERM', 'hard link to a directory');
    if (node.nlink <= 0) throw fsError('ENOENT');
    this.absent(newParent, newName);
    node.nlink++;
    node.ctimeMs = this.now();
    return this.add(newParent, newName, node);
  }

  open(node: MemoryNode, flags: number): MemoryFile {
    const acc = flags & LINUX_O.ACCMODE;
    const write = acc === LINUX_O.WRONLY || acc === LINUX_O.RDWR;
    if (node.children && write) throw fsError('EISDIR');
    if (write || flags & LINUX_O.TRUNC) this.writable();
    if (flags & LINUX_O.TRUNC && !node.children) this.resize(node, 0);
    return { node, write, read: acc !== LINUX_O.WRONLY };
  }

  create(
    parent: MemoryNode,
    name: string,
    mode: number,
    flags: number,
  ): { entry: FsEntry<MemoryNode>; file: MemoryFile } {
    this.writable();
    const existing = this.dir(parent).get(name);
    if (existing) {
      if (flags & LINUX_O.EXCL) throw fsError('EEXIST');
      return { entry: { node: existing, attr: this.getattr(existing) }, file: this.open(existing, flags) };
    }
    const entry = this.add(parent, name, this.newNode(S_IF.REG | (mode & 0o7777)));
    return { entry, file: this.open(entry.node, flags & ~LINUX_O.TRUNC) };
  }

  read(file: MemoryFile, offset: number, into: Uint8Array): number {
    if (!file.read) throw fsError('EBADF');
    const n = file.node;
    if (n.children) throw fsError('EISDIR');
    if (offset >= n.size) return 0;
    const k = Math.min(into.length, n.size - offset);
    into.set(n.data.subarray(offset, offset + k));
    return k;
  }

  write(file: MemoryFile, offset: number, data: Uint8Array): number {
    this.writable();
    if (!file.write) throw fsError('EBADF');
    const n = file.node;
    const end = offset + data.length;
    if (end > n.size) this.resize(n, end);
    n.data.set(data, offset);
    n.mtimeMs = n.ctimeMs = this.now();
    return data.length;
  }

  flush(): void {}
  fsync(): void {}
  release(): void {}

  opendir(node: MemoryNode): MemoryDir {
    const entries = [...this.dir(node)].map(([name, n]) => ({ name, ino: n.ino, type: n.mode & S_IF.MT }));
    return { entries };
  }

  readdir(dir: MemoryDir, index: number): FsDirEntry | undefined {
    return dir.entries[index];
  }

  releasedir(): void {}

  statfs(): FsStatfs {
    const blocks = Math.floor(this.maxBytes / 4096);
    const free = Math.max(0, blocks - Math.ceil(this.bytes / 4096));
    return {
      blocks,
      bfree: free,
      bavail: free,
      files: this.maxNodes,
      ffree: this.maxNodes - this.nodes,
      bsize: 4096,
      namelen: 255,
      frsize: 4096,
    };
  }

  access(node: MemoryNode, mask: number): void {
    if (mask & 2 && this.readOnly) throw fsError('EROFS');
    if (((node.mode >> 6) & mask) !== mask) throw fsError('EACCES');
  }
}
