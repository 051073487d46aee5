import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSystemConformance } from '../fuse/conformance.js';
import { ERRNO, FUSE_OP } from '../fuse/protocol.js';
import { FuseServer } from '../fuse/server.js';
import { Builder, Client } from '../fuse/test-client.js';
import { HostDirectoryFileSystem } from './host-fs.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-hostfs-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const opened: HostDirectoryFileSystem[] = [];
afterAll(() => {
  for (const f of opened) f.close();
});

/** A fresh share inside `tmp`, next to a sentinel file outside it. */
function share(options: { readOnly?: boolean; maxNodeDescriptors?: number } = {}) {
  const base = path.join(tmp, `case${n++}`);
  const dir = path.join(base, 'share');
  fs.mkdirSync(dir, { recursive: true });
  const sentinel = path.join(base, 'sentinel');
  fs.writeFileSync(sentinel, 'SECRET');
  const hostFs = new HostDirectoryFileSystem(dir, options);
  opened.push(hostFs);
  const c = new Client(new FuseServer(hostFs));
  c.init();
  return { dir, base, sentinel, hostFs, c };
}

const dec = new TextDecoder();

describe('HostDirectoryFileSystem through the FUSE server', () => {
  fileSystemConformance(() => {
    const dir = path.join(tmp, `conf${n++}`);
    fs.mkdirSync(dir);
    const rw = new HostDirectoryFileSystem(dir);
    const ro = new HostDirectoryFileSystem(dir, { readOnly: true });
    opened.push(rw, ro);
    return { rw, ro };
  });

  it('sees host files and writes through to them', () => {
    const { dir, c } = share();
    fs.writeFileSync(path.join(dir, 'h.txt'), 'from host');
    const h = c.lookup(1, 'h.txt');
    const fh = c.open(h.nodeid, 2);
    expect(dec.decode(c.read(h.nodeid, fh, 0, 100))).toBe('from host');
    c.write(h.nodeid, fh, 0, new TextEncoder().encode('FROM'));
    c.release(h.nodeid, fh);
    expect(fs.readFileSync(path.join(dir, 'h.txt'), 'utf8')).toBe('FROM host');
  });

  it('returns symlinks pointing out (absolute and relative) as symlinks, never following them', () => {
    const { dir, sentinel, c } = share();
    fs.symlinkSync(sentinel, path.join(dir, 'abs'));
    fs.symlinkSync('../sentinel', path.join(dir, 'rel'));
    fs.symlinkSync(path.dirname(sentinel), path.join(dir, 'outdir'));
    for (const name of ['abs', 'rel', 'outdir']) {
      const s = c.lookup(1, name);
      expect(s.attr.mode & 0o170000).toBe(0o120000);
      expect(c.errno(FUSE_OP.OPEN, s.nodeid, new Builder().u32(0).u32(0).bytes())).toBe(ERRNO.ELOOP);
      expect(c.errno(FUSE_OP.OPENDIR, s.nodeid, new Builder().u32(0).u32(0).bytes())).toBe(ERRNO.ENOTDIR);
      // a lookup beneath a symlink to a directory outside does not pass through it
      expect(c.name(FUSE_OP.LOOKUP, s.nodeid, 'sentinel')).toBe(ERRNO.ENOTDIR);
      expect(c.setattr.bind(c, s.nodeid, { mode: 0o777 })).toThrow();
    }
    expect(dec.decode(c.ok(FUSE_OP.READLINK, c.lookup(1, 'rel').nodeid).body)).toBe('../sentinel');
    // CREATE over a symlink does not follow it
    const create = new Builder().u32(0o1101).u32(0o100644).u32(0).u32(0).str('abs').bytes();
    expect(c.errno(FUSE_OP.CREATE, 1, create)).toBe(ERRNO.ELOOP);
    expect(fs.readFileSync(sentinel, 'utf8')).toBe('SECRET');
    expect(fs.statSync(sentinel).mode & 0o777).not.toBe(0o777);
  });

  it('never lets ".." or a path reach the host', () => {
    const { c } = share();
    for (const name of ['..', '../sentinel', '/etc/hostname', '.'])
      expect(c.name(FUSE_OP.LOOKUP, 1, name)).toBe(ERRNO.EINVAL);
    const d = c.mkdir(1, 'd');
    expect(c.name(FUSE_OP.LOOKUP, d, '..')).toBe(ERRNO.EINVAL);
    expect(c.rename(1, 'd', 1, '../escaped')).toBe(ERRNO.EINVAL);
    expect(c.symlink(1, '../x', 'y')).toBe(ERRNO.EINVAL);
  });

  it('opens the inode looked up although the host swaps a symlink in between LOOKUP and OPEN', () => {
    const { dir, sentinel, c } = share();
    fs.writeFileSync(path.join(dir, 'f'), 'inside');
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'd', 'sentinel'), 'inside too');
    const f = c.lookup(1, 'f');
    const d = c.lookup(1, 'd');
    // the host (or a process racing the guest) replaces both with symlinks out
    fs.renameSync(path.join(dir, 'f'), path.join(dir, 'f.old'));
    fs.symlinkSync(sentinel, path.join(dir, 'f'));
    fs.renameSync(path.join(dir, 'd'), path.join(dir, 'd.old'));
    fs.symlinkSync(path.dirname(sentinel), path.join(dir, 'd'));
    const fh = c.open(f.nodeid, 0);
    expect(dec.decode(c.read(f.nodeid, fh, 0, 100))).toBe('inside');
    const inner = c.lookup(d.nodeid, 'sentinel');
    const ifh = c.open(inner.nodeid, 0);
    expect(dec.decode(c.read(inner.nodeid, ifh, 0, 100))).toBe('inside too');
    // a fresh lookup sees the symlink as a symlink
    expect(c.lookup(1, 'f').attr.mode & 0o170000).toBe(0o120000);
  });

  it('refuses hard links to what is not a looked-up node of the share', () => {
    const { dir, c } = share();
    fs.writeFileSync(path.join(dir, 'a'), 'a');
    expect(c.link(9999, 1, 'b')).toBe(ERRNO.ENOENT); // a node id never handed out
    expect(c.link(1, 1, 'rootlink')).toBe(ERRNO.EPERM); // a directory (the root)
    const a = c.lookup(1, 'a');
    expect(c.link(a.nodeid, 1, 'b')).toBe(0);
    expect(fs.statSync(path.join(dir, 'b')).ino).toBe(fs.statSync(path.join(dir, 'a')).ino);
  });

  it('holds at most maxNodeDescriptors node descriptors, reopening evicted nodes (ESTALE when replaced)', () => {
    const { dir, hostFs, c } = share({ maxNodeDescriptors: 16 });
    for (let i = 0; i < 100; i++) fs.writeFileSync(path.join(dir, `f${i}`), `${i}`);
    const ids = Array.from({ length: 100 }, (_, i) => c.lookup(1, `f${i}`).nodeid);
    expect(hostFs.nodeDescriptors).toBeLessThanOrEqual(17);
    const fh = c.open(ids[0], 0);
    expect(dec.decode(c.read(ids[0], fh, 0, 10))).toBe('0');
    fs.renameSync(path.join(dir, 'f1'), path.join(dir, 'f1.old')); // the old inode lives on
    fs.writeFileSync(path.join(dir, 'f1'), 'other');
    expect(c.errno(FUSE_OP.GETATTR, ids[1], new Builder().zeros(16).bytes())).toBe(ERRNO.ESTALE);
    expect(c.readdir(1, true).length).toBe(103);
    expect(hostFs.nodeDescriptors).toBeLessThanOrEqual(17);
  });

  it('refuses a missing share directory with a clear error', () => {
    expect(() => new HostDirectoryFileSystem(path.join(tmp, 'nope'))).toThrow(/cannot open share directory/);
  });
});
