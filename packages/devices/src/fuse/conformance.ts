// Test-only: the behaviour every FuseFileSystem must show through the FUSE server (run by the
// memory file system's tests and the host directory's tests).
import { expect, it } from 'vitest';
import type { FuseFileSystem } from './file-system.js';
import { ERRNO, FUSE_OP, RENAME_FLAG } from './protocol.js';
import { FuseServer } from './server.js';
import { Builder, Client } from './test-client.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `make()`: a fresh, empty file system and a read-only view of the same files. */
export function fileSystemConformance(make: () => { rw: FuseFileSystem; ro: FuseFileSystem }): void {
  const client = (fs: FuseFileSystem = make().rw) => {
    const c = new Client(new FuseServer(fs));
    c.init();
    return c;
  };

  it('creates, writes, reads back, appends and truncates a file', () => {
    const c = client();
    const f = c.create(1, 'a.txt');
    expect(c.write(f.nodeid, f.fh, 0, enc.encode('hello'))).toBe(5);
    expect(c.write(f.nodeid, f.fh, 5, enc.encode(' world'))).toBe(6);
    expect(dec.decode(c.read(f.nodeid, f.fh, 0, 100))).toBe('hello world');
    expect(dec.decode(c.read(f.nodeid, f.fh, 6, 3))).toBe('wor');
    expect(c.read(f.nodeid, f.fh, 50, 10).length).toBe(0);
    c.release(f.nodeid, f.fh);
    expect(c.getattr(f.nodeid).size).toBe(11);
    expect(c.setattr(f.nodeid, { size: 4 }).size).toBe(4);
    const fh = c.open(f.nodeid, 0);
    expect(dec.decode(c.read(f.nodeid, fh, 0, 100))).toBe('hell');
    c.release(f.nodeid, fh);
    const again = c.lookup(1, 'a.txt');
    expect(again.nodeid).toBe(f.nodeid);
    expect(again.attr.size).toBe(4);
  });

  it('chmods and sets times', () => {
    const c = client();
    const f = c.create(1, 'm', 0o600);
    expect(f.attr.mode & 0o7777).toBe(0o600);
    expect(c.setattr(f.nodeid, { mode: 0o751 }).mode & 0o7777).toBe(0o751);
    expect(c.setattr(f.nodeid, { mtime: 1_000_000 }).mtimeSec).toBe(1_000_000);
  });

  it('makes and removes directories, lists them whole (READDIR and READDIRPLUS)', () => {
    const c = client();
    const d = c.mkdir(1, 'dir');
    for (let i = 0; i < 300; i++) c.release(0, c.create(d, `f${i}`).fh);
    const names = c.readdir(d);
    expect(names.slice(0, 2)).toEqual(['.', '..']);
    expect(new Set(names.slice(2))).toEqual(new Set(Array.from({ length: 300 }, (_, i) => `f${i}`)));
    expect(c.readdir(d, true, 1000).length).toBe(302);
    expect(c.name(FUSE_OP.RMDIR, 1, 'dir')).toBe(ERRNO.ENOTEMPTY);
    for (let i = 0; i < 300; i++) expect(c.name(FUSE_OP.UNLINK, d, `f${i}`)).toBe(0);
    expect(c.name(FUSE_OP.RMDIR, 1, 'dir')).toBe(0);
    expect(c.name(FUSE_OP.LOOKUP, 1, 'dir')).toBe(ERRNO.ENOENT);
  });

  it('renames, also over an existing file and across directories; NOREPLACE refuses; EXCHANGE is EINVAL', () => {
    const c = client();
    const a = c.create(1, 'a');
    c.write(a.nodeid, a.fh, 0, enc.encode('A'));
    c.release(a.nodeid, a.fh);
    const b = c.create(1, 'b');
    c.release(b.nodeid, b.fh);
    expect(c.rename(1, 'a', 1, 'b', RENAME_FLAG.NOREPLACE)).toBe(ERRNO.EEXIST);
    expect(c.rename(1, 'a', 1, 'b', RENAME_FLAG.EXCHANGE)).toBe(ERRNO.EINVAL);
    expect(c.rename(1, 'a', 1, 'b')).toBe(0);
    expect(c.lookup(1, 'b').attr.size).toBe(1);
    const d = c.mkdir(1, 'd');
    expect(c.rename(1, 'b', d, 'c')).toBe(0);
    expect(c.lookup(d, 'c').attr.size).toBe(1);
    expect(c.name(FUSE_OP.LOOKUP, 1, 'b')).toBe(ERRNO.ENOENT);
  });

  it('makes hard links and symlinks (a symlink is returned as itself)', () => {
    const c = client();
    const a = c.create(1, 'a');
    c.release(a.nodeid, a.fh);
    expect(c.link(a.nodeid, 1, 'b')).toBe(0);
    expect(c.lookup(1, 'b').nodeid).toBe(a.nodeid);
    expect(c.getattr(a.nodeid).nlink).toBe(2);
    expect(c.symlink(1, 's', '../../etc/passwd')).toBe(0);
    const s = c.lookup(1, 's');
    expect(s.attr.mode & 0o170000).toBe(0o120000);
    expect(dec.decode(c.ok(FUSE_OP.READLINK, s.nodeid).body)).toBe('../../etc/passwd');
  });

  it('answers STATFS and ACCESS', () => {
    const c = client();
    const r = c.ok(FUSE_OP.STATFS, 1);
    expect(r.body.length).toBe(80);
    expect(r.view.getUint32(44, true)).toBeGreaterThan(0); // namelen
    expect(c.errno(FUSE_OP.ACCESS, 1, new Builder().u32(4).u32(0).bytes())).toBe(0);
  });

  it('a read-only share answers EROFS to every change', () => {
    const { rw, ro: roFs } = make();
    const w = client(rw);
    const f = w.create(1, 'x');
    w.release(f.nodeid, f.fh);
    const c = client(roFs);
    const x = c.lookup(1, 'x');
    const ro = (n: number) => expect(n).toBe(ERRNO.EROFS);
    ro(c.errno(FUSE_OP.CREATE, 1, new Builder().u32(0o101).u32(0o100644).u32(0).u32(0).str('y').bytes()));
    ro(c.errno(FUSE_OP.MKDIR, 1, new Builder().u32(0o755).u32(0).str('y').bytes()));
    ro(c.name(FUSE_OP.UNLINK, 1, 'x'));
    ro(c.name(FUSE_OP.RMDIR, 1, 'x'));
    ro(c.rename(1, 'x', 1, 'y'));
    ro(c.link(x.nodeid, 1, 'y'));
    ro(c.symlink(1, 'y', 'x'));
    ro(c.errno(FUSE_OP.OPEN, x.nodeid, new Builder().u32(2).u32(0).bytes()));
    ro(c.errno(FUSE_OP.OPEN, x.nodeid, new Builder().u32(0o1000).u32(0).bytes()));
    ro(c.errno(FUSE_OP.ACCESS, x.nodeid, new Builder().u32(2).u32(0).bytes()));
    ro(c.errno(FUSE_OP.SETATTR, x.nodeid, new Builder().u32(8).zeros(84).bytes()));
    const fh = c.open(x.nodeid, 0);
    expect(c.read(x.nodeid, fh, 0, 10).length).toBe(0);
  });
}
