import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fileSystemConformance } from './conformance.js';
import type { FuseFileSystem } from './file-system.js';
import { MemoryFileSystem } from './memory-fs.js';
import { ERRNO, FUSE_KERNEL_MINOR_VERSION, FUSE_OP } from './protocol.js';
import { FuseServer } from './server.js';
import { Builder, Client, request } from './test-client.js';

describe('MemoryFileSystem through the FUSE server', () => {
  fileSystemConformance(() => {
    const rw = new MemoryFileSystem();
    const ro = Object.create(rw, { readOnly: { value: true } }) as FuseFileSystem;
    return { rw, ro };
  });
});

describe('FuseServer', () => {
  it('negotiates INIT: the guest minor up to ours, max_write bounded to 1 MiB', () => {
    const c = new Client(new FuseServer(new MemoryFileSystem()));
    expect(c.errno(FUSE_OP.GETATTR, 1, new Builder().zeros(16).bytes())).toBe(ERRNO.EIO); // before INIT
    let r = c.init(31);
    expect([r.view.getUint32(0, true), r.view.getUint32(4, true)]).toEqual([7, 31]);
    expect(r.view.getUint32(20, true)).toBe(1 << 20);
    r = c.init(99);
    expect(r.view.getUint32(4, true)).toBe(FUSE_KERNEL_MINOR_VERSION);
    expect(c.errno(FUSE_OP.INIT, 0, new Builder().u32(7).u32(5).zeros(56).bytes())).toBe(ERRNO.EPROTO);
    // a newer major is answered with ours, for the driver to retry
    r = c.ok(FUSE_OP.INIT, 0, new Builder().u32(8).u32(0).zeros(56).bytes());
    expect(r.view.getUint32(0, true)).toBe(7);
  });

  it('answers ENOSYS to what it does not offer (xattrs, locks, MKNOD, FALLOCATE, DAX, unknown)', () => {
    const c = new Client(new FuseServer(new MemoryFileSystem()));
    c.init();
    for (const op of [
      FUSE_OP.GETXATTR,
      FUSE_OP.SETXATTR,
      FUSE_OP.LISTXATTR,
      FUSE_OP.GETLK,
      FUSE_OP.SETLK,
      FUSE_OP.MKNOD,
      FUSE_OP.FALLOCATE,
      FUSE_OP.LSEEK,
      FUSE_OP.SETUPMAPPING,
      FUSE_OP.IOCTL,
      0,
      1000,
      0xffff_ffff,
    ])
      expect(c.errno(op, 1, new Builder().zeros(64).bytes())).toBe(ERRNO.ENOSYS);
  });

  it('refuses names that are not one component: "/", ".", "..", empty, no NUL, over 255 bytes, bad UTF-8', () => {
    const c = new Client(new FuseServer(new MemoryFileSystem()));
    c.init();
    for (const name of ['a/b', '.', '..', '', '/etc'])
      expect(c.name(FUSE_OP.LOOKUP, 1, name)).toBe(ERRNO.EINVAL);
    expect(c.name(FUSE_OP.LOOKUP, 1, 'x'.repeat(256))).toBe(ERRNO.ENAMETOOLONG);
    expect(c.errno(FUSE_OP.LOOKUP, 1, new Builder().str('abc', false).bytes())).toBe(ERRNO.EINVAL);
    expect(c.errno(FUSE_OP.LOOKUP, 1, new Builder().str(Uint8Array.of(0xff, 0xfe)).bytes())).toBe(
      ERRNO.EINVAL,
    );
    expect(c.errno(FUSE_OP.MKDIR, 1, new Builder().u32(0o755).u32(0).str('..').bytes())).toBe(ERRNO.EINVAL);
    expect(c.rename(1, 'x', 1, '..')).toBe(ERRNO.EINVAL);
    expect(c.server.stats.malformed).toBeGreaterThanOrEqual(9);
  });

  it('refuses unknown node ids and handles, and forgets nodes', () => {
    const c = new Client(new FuseServer(new MemoryFileSystem()));
    c.init();
    const f = c.create(1, 'a');
    expect(c.errno(FUSE_OP.GETATTR, 9999, new Builder().zeros(16).bytes())).toBe(ERRNO.ENOENT);
    expect(c.errno(FUSE_OP.GETATTR, 0, new Builder().zeros(16).bytes())).toBe(ERRNO.ENOENT);
    const read = (fh: number | bigint) => new Builder().u64(fh).u64(0).u32(10).zeros(20).bytes();
    expect(c.errno(FUSE_OP.READ, f.nodeid, read(f.fh + 100))).toBe(ERRNO.EBADF);
    expect(c.errno(FUSE_OP.READ, f.nodeid, read(0xffff_ffff_ffff_ffffn))).toBe(ERRNO.EBADF);
    const dfh = c.open(1, 0, FUSE_OP.OPENDIR);
    expect(c.errno(FUSE_OP.READ, f.nodeid, read(dfh))).toBe(ERRNO.EBADF); // a directory handle
    c.release(f.nodeid, f.fh);
    expect(c.errno(FUSE_OP.READ, f.nodeid, read(f.fh))).toBe(ERRNO.EBADF); // released
    expect(c.server.nodeCount).toBe(2);
    c.lookup(1, 'a'); // second reference
    expect(c.call(FUSE_OP.FORGET, f.nodeid, new Builder().u64(1).bytes())).toBeNull();
    expect(c.getattr(f.nodeid).size).toBe(0);
    c.call(FUSE_OP.BATCH_FORGET, 0, new Builder().u32(2).u32(0).u64(f.nodeid).u64(1).u64(1).u64(5).bytes());
    expect(c.server.nodeCount).toBe(1); // the root is never forgotten
    expect(c.errno(FUSE_OP.GETATTR, f.nodeid, new Builder().zeros(16).bytes())).toBe(ERRNO.ENOENT);
    expect(c.getattr(1).mode & 0o170000).toBe(0o040000);
  });

  it('bounds open handles (EMFILE) and the bytes of one READ', () => {
    const c = new Client(new FuseServer(new MemoryFileSystem(), { maxHandles: 3 }));
    c.init();
    const f = c.create(1, 'a');
    c.write(f.nodeid, f.fh, 0, new Uint8Array(3 << 20).subarray(0, 1 << 20));
    c.open(f.nodeid);
    c.open(f.nodeid);
    expect(c.errno(FUSE_OP.OPEN, f.nodeid, new Builder().u32(0).u32(0).bytes())).toBe(ERRNO.EMFILE);
    const big = new Builder().u64(f.fh).u64(0).u32(0xffff_ffff).zeros(20).bytes();
    expect(c.ok(FUSE_OP.READ, f.nodeid, big).body.length).toBe(1 << 20);
    expect(c.ok(FUSE_OP.READ, f.nodeid, big, 4096 + 16).body.length).toBe(4096); // the guest's room
    const tooBig = new Builder()
      .u64(f.fh)
      .u64(0)
      .u32((1 << 20) + 1)
      .zeros(24)
      .bytes();
    expect(c.errno(FUSE_OP.WRITE, f.nodeid, tooBig)).toBe(ERRNO.EINVAL);
  });

  it('refuses header lengths past the request, and says nothing without room for a header', () => {
    const s = new FuseServer(new MemoryFileSystem());
    const r = request(FUSE_OP.INIT, 0, new Builder().u32(7).u32(38).zeros(56).bytes());
    new DataView(r.buffer).setUint32(0, r.length + 1, true);
    const out = s.handle(r, 4096);
    expect(out && new DataView(out.buffer).getInt32(4, true)).toBe(-ERRNO.EINVAL);
    expect(s.handle(r.subarray(0, 10), 4096)).toBeNull();
    new DataView(r.buffer).setUint32(0, r.length, true);
    const small = s.handle(r, 20); // an INIT reply does not fit: ERANGE, header only
    expect(small?.length).toBe(16);
  });

  it('never throws and never answers more than the room, whatever the request (property)', () => {
    const fs = new MemoryFileSystem({ maxBytes: 1 << 20 });
    const s = new FuseServer(fs, { maxWrite: 64 << 10 });
    new Client(s).init();
    const c = new Client(s);
    c.create(1, 'f');
    c.mkdir(1, 'd');
    const opcode = fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constant(0xffff_ffff));
    const id = fc.oneof(
      fc.integer({ min: 0, max: 6 }),
      fc.constant(0xffff_ffff_ffff_ffffn),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc
        .tuple(fc.uint8Array({ maxLength: 40 }), fc.constantFrom('f', 'd', '..', '.', 'a/b', 'new', ''))
        .map(([b, n]) =>
          Uint8Array.from([...b, ...new TextEncoder().encode(n), 0, ...new TextEncoder().encode(n), 0]),
        ),
    );
    fc.assert(
      fc.property(
        opcode,
        id,
        body,
        fc.integer({ min: -8, max: 8 }),
        fc.integer({ min: 0, max: 300 }),
        (op, nodeid, b, lenDelta, room) => {
          const r = request(op, nodeid, b);
          new DataView(r.buffer).setUint32(0, Math.max(0, r.length + lenDelta), true);
          const out = s.handle(r, room);
          if (out) {
            expect(out.length).toBeLessThanOrEqual(room);
            const v = new DataView(out.buffer, out.byteOffset);
            expect(v.getUint32(0, true)).toBe(out.length);
            expect(v.getInt32(4, true)).toBeLessThanOrEqual(0);
          }
        },
      ),
      { numRuns: 3000 },
    );
    expect(s.stats.requests).toBeGreaterThan(3000);
  });
});
