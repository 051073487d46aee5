/**
 * The snapshot memory file: guest RAM regions laid end to end (region order), written sparse: a
 * page of zeros is a hole, so the file takes only the disk space of the pages the guest touched.
 *
 * @module
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { VmmError } from '../vmm/errors.js';
import type { MemoryFileDescription } from './format.js';

/** The page size of memory files. */
export const SNAPSHOT_PAGE_SIZE = 4096;

/** Total guest RAM bytes (the memory file's size). */
export function guestMemoryBytes(memory: GuestMemory): number {
  return memory.regions.reduce((n, r) => n + r.size, 0);
}

/** Whether page `p` of `bytes` (a region's) holds anything but zeros. */
function touched(words: Uint32Array | undefined, bytes: Uint8Array, p: number): boolean {
  if (words) {
    const w0 = p * (SNAPSHOT_PAGE_SIZE / 4);
    for (let i = w0, end = w0 + SNAPSHOT_PAGE_SIZE / 4; i < end; i++) if (words[i] !== 0) return true;
    return false;
  }
  for (let i = p * SNAPSHOT_PAGE_SIZE, end = i + SNAPSHOT_PAGE_SIZE; i < end; i++)
    if (bytes[i] !== 0) return true;
  return false;
}

/**
 * Writes guest memory to `path` as a sparse file (only non-zero pages are written) and returns its
 * description for the state file. With `diff` only the pages it names (guest-physical page
 * addresses dirtied since the parent snapshot) are listed, each written unless it is zero (a hole
 * reads as zero, so a page cleared since the parent is still right).
 * @example const desc = writeMemoryFile(vmm.memory, '/tmp/snap/memory');
 */
export function writeMemoryFile(
  memory: GuestMemory,
  path: string,
  file = 'memory',
  diff?: { pages: ReadonlySet<number>; parent: string },
): MemoryFileDescription {
  const size = guestMemoryBytes(memory);
  const pages: [number, number][] = [];
  const fd = openSync(path, 'w', 0o600);
  try {
    ftruncateSync(fd, size);
    let base = 0; // file offset of the region
    for (const r of memory.regions) {
      const bytes = r.bytes;
      const words =
        bytes.byteOffset % 4 === 0
          ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2)
          : undefined;
      const n = Math.ceil(r.size / SNAPSHOT_PAGE_SIZE);
      let runStart = -1;
      const flush = (end: number) => {
        if (runStart < 0) return;
        const from = runStart * SNAPSHOT_PAGE_SIZE;
        const to = Math.min(end * SNAPSHOT_PAGE_SIZE, r.size);
        let off = from;
        while (off < to) off += writeSync(fd, bytes, off, to - off, base + off);
        const first = (base + from) / SNAPSHOT_PAGE_SIZE;
        const last = pages[pages.length - 1];
        if (last && last[0] + last[1] === first) last[1] += end - runStart;
        else pages.push([first, end - runStart]);
        runStart = -1;
      };
      for (let p = 0; p < n; p++) {
        if (diff && !diff.pages.has(r.start + p * SNAPSHOT_PAGE_SIZE)) {
          flush(p);
          continue;
        }
        if (diff || touched(words, bytes, p)) {
          if (runStart < 0) runStart = p;
        } else flush(p);
      }
      flush(n);
      base += r.size;
    }
  } finally {
    closeSync(fd);
  }
  return diff
    ? { file, size, pageSize: SNAPSHOT_PAGE_SIZE, pages, kind: 'diff', parent: diff.parent }
    : { file, size, pageSize: SNAPSHOT_PAGE_SIZE, pages, kind: 'full' };
}

/**
 * Checks that `path` exists and is `desc.size` bytes (before anything is built).
 * @example checkMemoryFile('/tmp/snap/memory', state.memory);
 */
export function checkMemoryFile(path: string, desc: MemoryFileDescription): void {
  let size: number;
  try {
    const fd = openSync(path, 'r');
    try {
      size = fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new VmmError(
      'snapshot',
      `snapshot memory file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  if (size !== desc.size)
    throw new VmmError(
      'snapshot',
      `snapshot memory file ${path} is ${size} bytes; the state file says ${desc.size}`,
    );
}

/**
 * Loads the pages `desc` lists from `path` into guest memory (fresh memory: the other pages are
 * zero already).
 * @example readMemoryFile(memory, '/tmp/snap/memory', state.memory);
 */
export function readMemoryFile(memory: GuestMemory, path: string, desc: MemoryFileDescription): void {
  const size = guestMemoryBytes(memory);
  if (size !== desc.size)
    throw new VmmError(
      'snapshot',
      `the snapshot holds ${desc.size} bytes of guest memory; this VM has ${size}`,
    );
  const fd = openSync(path, 'r');
  try {
    const ps = desc.pageSize;
    for (const [first, count] of desc.pages) {
      let from = first * ps;
      const to = Math.min((first + count) * ps, size);
      let base = 0;
      for (const r of memory.regions) {
        const lo = Math.max(from, base);
        const hi = Math.min(to, base + r.size);
        let off = lo;
        while (off < hi) {
          const n = readSync(fd, r.bytes, off - base, hi - off, off);
          if (n === 0) throw new VmmError('snapshot', `snapshot memory file ${path} ends at ${off}`);
          off += n;
        }
        base += r.size;
        if (base >= to) break;
      }
      from = to;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The guest-physical addresses of the pages whose contents differ from the memory image that
 * `chain` (a full memory file, then diffs, oldest first) describes: what a diff snapshot over the
 * last of them must hold. Compared page by page against the files, so nothing the guest or a
 * device wrote is missed, whoever wrote it.
 * @example const pages = changedPages(memory, snap.memoryChain);
 */
export function changedPages(
  memory: GuestMemory,
  chain: readonly { path: string; desc: MemoryFileDescription }[],
): Set<number> {
  const out = new Set<number>();
  const fds = chain.map((c) => openSync(c.path, 'r'));
  const CHUNK = 1 << 20;
  const parent = Buffer.alloc(CHUNK);
  try {
    let base = 0; // file offset of the region
    for (const r of memory.regions) {
      const mine = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
      for (let off = 0; off < r.size; off += CHUNK) {
        const len = Math.min(CHUNK, r.size - off);
        const lo = base + off;
        const hi = lo + len;
        parent.fill(0, 0, len);
        chain.forEach((c, i) => {
          const ps = c.desc.pageSize;
          for (const [first, count] of c.desc.pages) {
            const a = Math.max(first * ps, lo);
            const b = Math.min((first + count) * ps, hi);
            for (let at = a; at < b; ) {
              const n = readSync(fds[i], parent, at - lo, b - at, at);
              if (n === 0) break;
              at += n;
            }
          }
        });
        for (let p = 0; p < len; p += SNAPSHOT_PAGE_SIZE) {
          const e = Math.min(p + SNAPSHOT_PAGE_SIZE, len);
          if (mine.compare(parent, p, e, off + p, off + e) !== 0) out.add(r.start + off + p);
        }
      }
      base += r.size;
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  return out;
}
