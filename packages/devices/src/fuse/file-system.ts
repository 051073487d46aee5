import { DeviceError } from '../errors.js';
import { ERRNO, type FsErrorCode } from './protocol.js';

/**
 * A node's attributes, as FUSE reports them (`struct fuse_attr`). Times are whole seconds plus
 * nanoseconds since the Unix epoch.
 * @example const a: FsAttr = { ino: 1, size: 0, blocks: 0, atimeSec: 0, atimeNsec: 0, mtimeSec: 0, mtimeNsec: 0, ctimeSec: 0, ctimeNsec: 0, mode: 0o40755, nlink: 2, uid: 0, gid: 0, rdev: 0, blksize: 4096 };
 */
export interface FsAttr {
  /** Inode number, unique within the file system while the node exists. */
  ino: number;
  size: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  atimeSec: number;
  atimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  /** File type and permission bits (`S_IFREG | 0o644`, ...). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

/**
 * A node found or made by a {@link FuseFileSystem}: the file system's own handle for it (the server
 * maps it to a FUSE node id) and its attributes.
 * @example const e: FsEntry<string> = { node: 'a', attr };
 */
export interface FsEntry<N> {
  node: N;
  attr: FsAttr;
}

/**
 * What a SETATTR changes: each field present is set. A time of `'now'` means the current time.
 * @example const c: FsSetattr = { size: 0, mtime: 'now' };
 */
export interface FsSetattr {
  /** Permission bits (the file type bits are ignored). */
  mode?: number;
  size?: number;
  atime?: { sec: number; nsec: number } | 'now';
  mtime?: { sec: number; nsec: number } | 'now';
}

/**
 * File-system totals for STATFS (`struct fuse_kstatfs`).
 * @example const s: FsStatfs = { blocks: 1024, bfree: 512, bavail: 512, files: 100, ffree: 50, bsize: 4096, namelen: 255, frsize: 4096 };
 */
export interface FsStatfs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/**
 * One directory entry from {@link FuseFileSystem.readdir} (not `.` or `..`: the server adds them).
 * `type` is the `S_IF*` file type bits of the entry's mode.
 * @example const d: FsDirEntry = { name: 'a.txt', ino: 12, type: 0o100000 };
 */
export interface FsDirEntry {
  name: string;
  ino: number;
  type: number;
}

/**
 * The file system a virtio-fs device serves: synchronous calls on the file system's own node, open
 * file and open directory values (`N`, `F`, `D`), which the FUSE server maps to the guest's node
 * ids and handles (it validates every id the guest sends before calling, keeps lookup counts and
 * calls {@link FuseFileSystem.forget} when the guest has forgotten a node).
 *
 * Names are single path components, already checked by the server: valid UTF-8, non-empty, at
 * most 255 bytes, no `/` or NUL, never `.` or `..`. Errors are thrown as Node's `fs` does: an
 * `Error` with a `code` naming the errno (`'ENOENT'`, `'EEXIST'`, ...; {@link fsError} makes one);
 * anything else answers the guest EIO. A read-only file system should throw EROFS from every
 * change (the server also refuses changes itself when `readOnly` is set).
 *
 * Implementations: {@link MemoryFileSystem} (portable, in memory) and `HostDirectoryFileSystem`
 * (a host directory, from `@ts-vmm/devices/node`).
 *
 * @example
 * ```ts
 * import { type FuseFileSystem, MemoryFileSystem, VirtioFs } from '@ts-vmm/devices';
 *
 * const files: FuseFileSystem = new MemoryFileSystem();
 * const device = new VirtioFs({ tag: 'data', fileSystem: files });
 * ```
 */
export interface FuseFileSystem<N = unknown, F = unknown, D = unknown> {
  /** Changes are refused (EROFS). */
  readonly readOnly: boolean;
  /** The root directory's node (node id 1); never forgotten. */
  root(): N;
  getattr(node: N): FsAttr;
  /** Looks `name` up in directory `parent`. A symlink is returned as itself, never followed. */
  lookup(parent: N, name: string): FsEntry<N>;
  /** The server no longer refers to `node` (the guest forgot it, or a duplicate of a known inode). */
  forget(node: N): void;
  setattr(node: N, changes: FsSetattr): FsAttr;
  /** A symlink's target bytes. */
  readlink(node: N): Uint8Array;
  symlink(parent: N, name: string, target: Uint8Array): FsEntry<N>;
  /** Makes a directory; `mode` holds the permission bits. */
  mkdir(parent: N, name: string, mode: number): FsEntry<N>;
  unlink(parent: N, name: string): void;
  rmdir(parent: N, name: string): void;
  /** Renames; with `noReplace` an existing `newName` is EEXIST. */
  rename(parent: N, name: string, newParent: N, newName: string, noReplace: boolean): void;
  /** Makes `newName` in `newParent` a hard link to `node`. */
  link(node: N, newParent: N, newName: string): FsEntry<N>;
  /** Opens a file; `flags` are Linux open(2) flags (access mode, O_TRUNC, O_APPEND). */
  open(node: N, flags: number): F;
  /** Creates (O_EXCL: fails if it exists) and opens a regular file; `mode` holds the permission bits. */
  create(parent: N, name: string, mode: number, flags: number): { entry: FsEntry<N>; file: F };
  /** Reads up to `into.length` bytes at `offset`; returns the count (0 at the end). */
  read(file: F, offset: number, into: Uint8Array): number;
  /** Writes `data` at `offset`; returns the count written. */
  write(file: F, offset: number, data: Uint8Array): number;
  flush(file: F): void;
  fsync(file: F, dataOnly: boolean): void;
  release(file: F): void;
  opendir(node: N): D;
  /** The entry at position `index` (0, 1, ...) of the open directory, or undefined past the end. */
  readdir(dir: D, index: number): FsDirEntry | undefined;
  releasedir(dir: D): void;
  statfs(node: N): FsStatfs;
  /** Checks access (`mask`: R_OK 4, W_OK 2, X_OK 1, F_OK 0) for the owner; throws EACCES. */
  access(node: N, mask: number): void;
}

/**
 * An error a {@link FuseFileSystem} throws to answer the guest with an errno: a {@link DeviceError}
 * (kind `'io'`, device `'virtio-fs'`) carrying `code`.
 * @example throw fsError('ENOENT', 'no such entry "a.txt"');
 */
export function fsError(code: FsErrorCode, detail?: string): DeviceError & { code: FsErrorCode } {
  return Object.assign(new DeviceError('io', 'virtio-fs', detail ? `${code}: ${detail}` : code), { code });
}

/**
 * The errno (positive) an exception from a file system stands for: its `code` when it names a
 * known errno, else EIO.
 * @example errnoOf(fsError('EEXIST')) === 17
 */
export function errnoOf(e: unknown): number {
  if (e && typeof e === 'object' && 'code' in e) {
    const code = (e as { code: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(ERRNO, code)) return ERRNO[code as FsErrorCode];
  }
  return ERRNO.EIO;
}
