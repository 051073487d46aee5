// Test-only: a tiny FUSE client that builds requests and decodes replies, for unit tests of the
// server and of file systems (not exported from the package).
import { FUSE_OP, FUSE_SIZE } from './protocol.js';
import type { FuseServer } from './server.js';

const enc = new TextEncoder();

export interface Reply {
  error: number;
  body: Uint8Array;
  view: DataView;
}

export interface Attr {
  ino: number;
  size: number;
  mode: number;
  nlink: number;
  mtimeSec: number;
}

function u64(v: DataView, o: number): number {
  return v.getUint32(o + 4, true) * 0x1_0000_0000 + v.getUint32(o, true);
}

export function parseAttr(v: DataView, o: number): Attr {
  return {
    ino: u64(v, o),
    size: u64(v, o + 8),
    mtimeSec: u64(v, o + 32),
    mode: v.getUint32(o + 60, true),
    nlink: v.getUint32(o + 64, true),
  };
}

export class Builder {
  private parts: number[] = [];
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    const b = BigInt(v);
    this.u32(Number(b & 0xffff_ffffn));
    return this.u32(Number((b >> 32n) & 0xffff_ffffn));
  }
  str(s: string | Uint8Array, nul = true): this {
    for (const c of typeof s === 'string' ? enc.encode(s) : s) this.parts.push(c);
    if (nul) this.parts.push(0);
    return this;
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function request(opcode: number, nodeid: number | bigint, body: Uint8Array, unique = 7): Uint8Array {
  const r = new Uint8Array(FUSE_SIZE.IN_HEADER + body.length);
  const v = new DataView(r.buffer);
  v.setUint32(0, r.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, BigInt(unique), true);
  v.setBigUint64(16, BigInt(nodeid), true);
  r.set(body, FUSE_SIZE.IN_HEADER);
  return r;
}

export class Client {
  constructor(readonly server: FuseServer) {}
  call(opcode: number, nodeid: number, body: Uint8Array = new Uint8Array(0), room = 2 << 20): Reply | null {
    const out = this.server.handle(request(opcode, nodeid, body), room);
    if (!out) return null;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    if (view.getUint32(0, true) !== out.length) throw new Error('reply length mismatch');
    return {
      error: -view.getInt32(4, true) || 0,
      body: out.subarray(16),
      view: new DataView(out.buffer, out.byteOffset + 16),
    };
  }
  ok(opcode: number, nodeid: number, body?: Uint8Array, room?: number): Reply {
    const r = this.call(opcode, nodeid, body, room);
    if (!r) throw new Error('no reply');
    if (r.error) throw new Error(`opcode ${opcode} failed with errno ${r.error}`);
    return r;
  }
  errno(opcode: number, nodeid: number, body?: Uint8Array): number {
    const r = this.call(opcode, nodeid, body);
    if (!r) throw new Error('no reply');
    return r.error;
  }
  init(minor = 38): Reply {
    return this.ok(
      FUSE_OP.INIT,
      0,
      new Builder()
        .u32(7)
        .u32(minor)
        .u32(1 << 20)
        .u32(0xffff_ffff)
        .zeros(48)
        .bytes(),
    );
  }
  lookup(parent: number, name: string): { nodeid: number; attr: Attr } {
    const r = this.ok(FUSE_OP.LOOKUP, parent, new Builder().str(name).bytes());
    return { nodeid: u64(r.view, 0), attr: parseAttr(r.view, 40) };
  }
  create(parent: number, name: string, mode = 0o644, flags = 2): { nodeid: number; fh: number; attr: Attr } {
    const r = this.ok(
      FUSE_OP.CREATE,
      parent,
      new Builder()
        .u32(flags | 0o100)
        .u32(0o100000 | mode)
        .u32(0)
        .u32(0)
        .str(name)
        .bytes(),
    );
    return { nodeid: u64(r.view, 0), attr: parseAttr(r.view, 40), fh: u64(r.view, 128) };
  }
  mkdir(parent: number, name: string, mode = 0o755): number {
    const r = this.ok(FUSE_OP.MKDIR, parent, new Builder().u32(mode).u32(0).str(name).bytes());
    return u64(r.view, 0);
  }
  open(nodeid: number, flags = 0, opcode: number = FUSE_OP.OPEN): number {
    return u64(this.ok(opcode, nodeid, new Builder().u32(flags).u32(0).bytes()).view, 0);
  }
  write(nodeid: number, fh: number, offset: number, data: Uint8Array): number {
    const b = new Builder().u64(fh).u64(offset).u32(data.length).u32(0).u64(0).u32(0).u32(0).str(data, false);
    return this.ok(FUSE_OP.WRITE, nodeid, b.bytes()).view.getUint32(0, true);
  }
  read(nodeid: number, fh: number, offset: number, size: number): Uint8Array {
    const b = new Builder().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0);
    return this.ok(FUSE_OP.READ, nodeid, b.bytes()).body.slice();
  }
  release(nodeid: number, fh: number, opcode: number = FUSE_OP.RELEASE): void {
    this.ok(opcode, nodeid, new Builder().u64(fh).u32(0).u32(0).u64(0).bytes());
  }
  getattr(nodeid: number): Attr {
    return parseAttr(this.ok(FUSE_OP.GETATTR, nodeid, new Builder().u32(0).u32(0).u64(0).bytes()).view, 16);
  }
  /** READDIR(PLUS) whole: names in order. */
  readdir(nodeid: number, plus = false, size = 4096): string[] {
    const fh = this.open(nodeid, 0, FUSE_OP.OPENDIR);
    const names: string[] = [];
    let offset = 0;
    for (;;) {
      const b = new Builder().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0);
      const r = this.ok(plus ? FUSE_OP.READDIRPLUS : FUSE_OP.READDIR, nodeid, b.bytes());
      if (r.body.length === 0) break;
      for (let o = 0; o < r.body.length; ) {
        const d = o + (plus ? 128 : 0);
        const namelen = r.view.getUint32(d + 16, true);
        offset = u64(r.view, d + 8);
        names.push(new TextDecoder().decode(r.body.subarray(d + 24, d + 24 + namelen)));
        o = d + ((24 + namelen + 7) & ~7);
      }
    }
    this.release(nodeid, fh, FUSE_OP.RELEASEDIR);
    return names;
  }
  name(opcode: number, parent: number, name: string): number {
    return this.errno(opcode, parent, new Builder().str(name).bytes());
  }
  rename(parent: number, name: string, newParent: number, newName: string, flags = 0): number {
    return this.errno(
      FUSE_OP.RENAME2,
      parent,
      new Builder().u64(newParent).u32(flags).u32(0).str(name).str(newName).bytes(),
    );
  }
  link(oldNode: number, newParent: number, newName: string): number {
    return this.errno(FUSE_OP.LINK, newParent, new Builder().u64(oldNode).str(newName).bytes());
  }
  symlink(parent: number, name: string, target: string): number {
    return this.errno(FUSE_OP.SYMLINK, parent, new Builder().str(name).str(target).bytes());
  }
  setattr(nodeid: number, o: { mode?: number; size?: number; mtime?: number }): Attr {
    let valid = 0;
    if (o.mode !== undefined) valid |= 1;
    if (o.size !== undefined) valid |= 8;
    if (o.mtime !== undefined) valid |= 32;
    const b = new Builder()
      .u32(valid)
      .u32(0)
      .u64(0)
      .u64(o.size ?? 0)
      .u64(0)
      .u64(0)
      .u64(o.mtime ?? 0)
      .u64(0)
      .u32(0)
      .u32(0)
      .u32(0)
      .u32(o.mode ?? 0)
      .u32(0)
      .u32(0)
      .u32(0)
      .u32(0);
    return parseAttr(this.ok(FUSE_OP.SETATTR, nodeid, b.bytes()).view, 16);
  }
}
