/**
 * A writer and reader for the "newc" cpio format (070701), the format the Linux kernel unpacks as
 * an initramfs. No external `cpio` is needed.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';

/** File type bits of `mode`. */
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

/** One archive member. */
export interface CpioEntry {
  /** Path inside the archive, without a leading '/'. */
  name: string;
  /** Type and permission bits (e.g. `S_IFREG | 0o755`). */
  mode: number;
  /** File contents, or the target of a symlink. */
  data?: Uint8Array;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** Device major/minor for character/block devices. */
  rdevMajor?: number;
  rdevMinor?: number;
}

const MAGIC = '070701';
const TRAILER = 'TRAILER!!!';
const enc = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Builds a newc archive, ending with the `TRAILER!!!` entry. Directories must come before their
 * contents (the kernel creates entries in order).
 *
 * @example
 * ```ts
 * const bytes = writeCpio([
 *   { name: 'bin', mode: S_IFDIR | 0o755 },
 *   { name: 'init', mode: S_IFREG | 0o755, data: new TextEncoder().encode('#!/bin/sh\n') },
 * ]);
 * ```
 */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ino = 1;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    total += b.length;
  };
  const emit = (e: CpioEntry, inode: number) => {
    const name = e.name.replace(/^\/+/, '');
    if (name.length === 0 && e.name !== TRAILER) throw new VmmError('guest-build', 'cpio: empty member name');
    if (name.includes('\0'))
      throw new VmmError('guest-build', `cpio: member name ${JSON.stringify(name)} has a NUL`);
    const nameBytes = enc.encode(name);
    const data = e.data ?? new Uint8Array(0);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    if (data.length > 0xffffffff) throw new VmmError('guest-build', `cpio: ${name} is larger than 4 GiB`);
    const header =
      MAGIC +
      hex8(inode) +
      hex8(e.mode) +
      hex8(e.uid ?? 0) +
      hex8(e.gid ?? 0) +
      hex8(isDir ? 2 : 1) +
      hex8(e.mtime ?? 0) +
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) + // devminor
      hex8(e.rdevMajor ?? 0) +
      hex8(e.rdevMinor ?? 0) +
      hex8(nameBytes.length + 1) +
      hex8(0); // check
    push(enc.encode(header));
    push(nameBytes);
    push(new Uint8Array(1 + pad4(110 + nameBytes.length + 1)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  const names = new Set<string>();
  for (const e of entries) {
    const n = e.name.replace(/^\/+/, '');
    if (names.has(n)) throw new VmmError('guest-build', `cpio: member ${JSON.stringify(n)} appears twice`);
    names.add(n);
    emit(e, ino++);
  }
  emit({ name: TRAILER, mode: 0 }, 0);
  // Pad the archive to 512 bytes like cpio(1) does; the kernel accepts either.
  push(new Uint8Array((512 - (total % 512)) % 512));
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/**
 * Reads a newc archive (stops at `TRAILER!!!`). Throws {@link VmmError} (kind `'guest-build'`) on malformed input.
 *
 * @example
 * ```ts
 * const entries = readCpio(bytes);
 * entries.map((e) => e.name); // ['bin', 'init']
 * ```
 */
export function readCpio(bytes: Uint8Array): CpioEntry[] {
  const dec = new TextDecoder();
  const out: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + 110 > bytes.length)
      throw new VmmError('guest-build', `cpio: truncated header at offset ${off}`);
    const h = dec.decode(bytes.subarray(off, off + 110));
    if (h.slice(0, 6) !== MAGIC && h.slice(0, 6) !== '070702') {
      throw new VmmError('guest-build', `cpio: bad magic ${JSON.stringify(h.slice(0, 6))} at offset ${off}`);
    }
    const field = (i: number) => {
      const s = h.slice(6 + i * 8, 14 + i * 8);
      if (!/^[0-9a-fA-F]{8}$/.test(s))
        throw new VmmError('guest-build', `cpio: bad header field at offset ${off}`);
      return Number.parseInt(s, 16);
    };
    const mode = field(1);
    const uid = field(2);
    const gid = field(3);
    const mtime = field(5);
    const size = field(6);
    const rdevMajor = field(9);
    const rdevMinor = field(10);
    const nameSize = field(11);
    if (nameSize < 1) throw new VmmError('guest-build', `cpio: empty name at offset ${off}`);
    const nameStart = off + 110;
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    const end = dataStart + size;
    if (end > bytes.length)
      throw new VmmError('guest-build', `cpio: member at offset ${off} runs past the end`);
    const name = dec.decode(bytes.subarray(nameStart, nameStart + nameSize - 1));
    if (name === TRAILER) return out;
    out.push({ name, mode, uid, gid, mtime, rdevMajor, rdevMinor, data: bytes.slice(dataStart, end) });
    off = end + pad4(size);
  }
}
