import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Bus } from '../bus.js';
import { DeviceError } from '../errors.js';
import { UnixSocketVsockBackend } from '../node/unix-socket-vsock.js';
import { SimulatedDriver } from '../testing/driver-sim.js';
import { VIRTIO_STATUS } from './constants.js';
import { VirtioMmioTransport } from './mmio.js';
import { Vsock } from './vsock.js';
import {
  decodeVsockHeader,
  encodeVsockHeader,
  VSOCK_HDR_SIZE,
  VSOCK_OP,
  VSOCK_TYPE_STREAM,
  type VsockHeader,
} from './vsock-packet.js';

const BASE = 0xd000_0000;
const GUEST_CID = 3n;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-vsock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function until<T>(f: () => T | undefined, what: string, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let n = 0;
/** A simulated guest: a driver with posted rx buffers, and helpers to send and receive packets. */
async function setup(opts: { bufAlloc?: number } = {}) {
  const udsPath = path.join(tmp, `v${n++}.sock`);
  const backend = new UnixSocketVsockBackend({ path: udsPath });
  const vsock = new Vsock({ guestCid: GUEST_CID, backend, bufAlloc: opts.bufAlloc, timeoutMs: 1000 });
  await vsock.ready;
  cleanups.push(() => vsock.close());
  const mem = GuestMemory.createShared([{ start: 0, size: 0x40_0000 }]);
  const t = new VirtioMmioTransport(vsock, { mem });
  const bus = new Bus('mmio');
  bus.register(BASE, 0x1000, t);
  const drv = new SimulatedDriver(bus, BASE, mem, 0x1000);
  drv.init({ queueSizes: [64, 64, 64] });
  const rxBufs = new Map<number, number>();
  const postRx = (count: number, size = VSOCK_HDR_SIZE + 4096) => {
    for (let i = 0; i < count; i++) {
      const a = drv.alloc(size);
      const head = drv.submit(0, [{ addr: a, len: size, write: true }], { notify: false });
      rxBufs.set(head, a);
    }
    drv.notify(0);
  };
  postRx(16);
  const received: { h: VsockHeader; data: Uint8Array }[] = [];
  const poll = () => {
    for (const u of drv.takeUsed(0)) {
      const a = rxBufs.get(u.id)!;
      const h = decodeVsockHeader(mem.readBytes(a, VSOCK_HDR_SIZE));
      received.push({ h, data: mem.readBytes(a + VSOCK_HDR_SIZE, h.len) });
      postRx(1);
    }
  };
  const send = (h: Partial<VsockHeader> & { op: number }, data = new Uint8Array(0)) => {
    const full: VsockHeader = {
      srcCid: GUEST_CID,
      dstCid: 2n,
      srcPort: 0,
      dstPort: 0,
      len: data.length,
      type: VSOCK_TYPE_STREAM,
      flags: 0,
      bufAlloc: 64 * 1024,
      fwdCnt: 0,
      ...h,
    };
    const ha = drv.alloc(VSOCK_HDR_SIZE);
    mem.writeBytes(ha, encodeVsockHeader(full));
    const bufs = [{ addr: ha, len: VSOCK_HDR_SIZE }];
    if (data.length) {
      const da = drv.alloc(data.length);
      mem.writeBytes(da, data);
      bufs.push({ addr: da, len: data.length });
    }
    drv.submit(1, bufs);
  };
  const waitFor = (pred: (p: { h: VsockHeader; data: Uint8Array }) => boolean, what: string) =>
    until(() => {
      poll();
      const i = received.findIndex(pred);
      return i < 0 ? undefined : received.splice(i, 1)[0];
    }, what);
  return { vsock, udsPath, mem, drv, t, send, waitFor, received, poll, postRx };
}

function connectHost(p: string): Promise<net.Socket> {
  return new Promise((res, rej) => {
    const s = net.createConnection(p, () => res(s));
    s.once('error', rej);
    cleanups.push(() => s.destroy());
  });
}

function collect(s: net.Socket) {
  const st = { text: '', ended: false };
  s.on('data', (d) => {
    st.text += d.toString();
  });
  s.on('end', () => {
    st.ended = true;
  });
  return st;
}

describe('Vsock (virtio-vsock over Unix sockets)', () => {
  it('refuses a socket path in use, and leaves the other socket file alone', async () => {
    const g = await setup();
    const second = new Vsock({ guestCid: 4, backend: new UnixSocketVsockBackend({ path: g.udsPath }) });
    const err = await second.ready.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ kind: 'io', device: 'virtio-vsock' });
    expect(String(err)).toMatch(/cannot listen on/);
    await second.close();
    expect(fs.existsSync(g.udsPath)).toBe(true); // still the first device's
  });

  it('exposes the guest CID in config space and refuses reserved CIDs', async () => {
    const { t } = await setup();
    const cfg = new Uint8Array(8);
    t.read(0x100, cfg);
    expect(new DataView(cfg.buffer).getBigUint64(0, true)).toBe(3n);
    const backend = new UnixSocketVsockBackend({ path: path.join(tmp, 'x') });
    expect(() => new Vsock({ guestCid: 2, backend })).toThrow(DeviceError);
    expect(() => new Vsock({ guestCid: 2 ** 32, backend })).toThrow(/guest CID 4294967296/);
  });

  it('connects host-initiated streams: CONNECT <port> -> REQUEST, RESPONSE -> OK <hostport>, data both ways', async () => {
    const g = await setup();
    const host = await connectHost(g.udsPath);
    const got = collect(host);
    host.write('CONNECT 1234\nearly');
    const req = await g.waitFor((p) => p.h.op === VSOCK_OP.REQUEST, 'REQUEST');
    expect(req.h.dstPort).toBe(1234);
    expect(req.h.dstCid).toBe(GUEST_CID);
    expect(req.h.srcCid).toBe(2n);
    const hostPort = req.h.srcPort;
    g.send({ op: VSOCK_OP.RESPONSE, srcPort: 1234, dstPort: hostPort });
    await until(() => got.text.startsWith(`OK ${hostPort}\n`) || undefined, 'OK line');
    const early = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'early data');
    expect(new TextDecoder().decode(early.data)).toBe('early');
    host.write('hello guest');
    const rw = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'RW');
    expect(new TextDecoder().decode(rw.data)).toBe('hello guest');
    expect(rw.h.bufAlloc).toBe(256 * 1024);
    g.send({ op: VSOCK_OP.RW, srcPort: 1234, dstPort: hostPort }, new TextEncoder().encode('hello host'));
    await until(() => got.text.endsWith('hello host') || undefined, 'guest data on the host socket');
    // guest closes: SHUTDOWN both ways -> host sees EOF, device answers RST
    g.send({ op: VSOCK_OP.SHUTDOWN, srcPort: 1234, dstPort: hostPort, flags: 3 });
    await g.waitFor((p) => p.h.op === VSOCK_OP.RST, 'RST');
    await until(() => got.ended || undefined, 'host EOF');
    expect(g.vsock.connectionCount).toBe(0);
  });

  it('connects guest-initiated streams to <uds>_<port>, and RSTs when nobody listens', async () => {
    const g = await setup();
    const serverSide: net.Socket[] = [];
    const srv = net.createServer((s) => serverSide.push(s));
    await new Promise<void>((r) => srv.listen(`${g.udsPath}_5000`, r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 40000, dstPort: 5000 });
    const resp = await g.waitFor((p) => p.h.op === VSOCK_OP.RESPONSE, 'RESPONSE');
    expect(resp.h.srcPort).toBe(5000);
    expect(resp.h.dstPort).toBe(40000);
    const s = await until(() => serverSide[0], 'accepted socket');
    const got = collect(s);
    g.send({ op: VSOCK_OP.RW, srcPort: 40000, dstPort: 5000 }, new TextEncoder().encode('ping'));
    await until(() => got.text === 'ping' || undefined, 'ping');
    s.write('pong');
    const rw = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'pong');
    expect(new TextDecoder().decode(rw.data)).toBe('pong');
    // host closes: the guest gets SHUTDOWN, answers RST
    s.end();
    const sd = await g.waitFor((p) => p.h.op === VSOCK_OP.SHUTDOWN, 'SHUTDOWN');
    expect(sd.h.flags).toBe(3);
    g.send({ op: VSOCK_OP.RST, srcPort: 40000, dstPort: 5000 });
    await until(() => g.vsock.connectionCount === 0 || undefined, 'connection gone');

    g.send({ op: VSOCK_OP.REQUEST, srcPort: 40001, dstPort: 5001 });
    const rst = await g.waitFor((p) => p.h.op === VSOCK_OP.RST, 'RST for a port nobody listens on');
    expect(rst.h.dstPort).toBe(40001);
  });

  it('respects guest credit: sends at most buf_alloc, then asks for credit', async () => {
    const g = await setup();
    const srv = net.createServer((s) => s.write('x'.repeat(100)));
    await new Promise<void>((r) => srv.listen(`${g.udsPath}_6000`, r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 1, dstPort: 6000, bufAlloc: 30, fwdCnt: 0 });
    await g.waitFor((p) => p.h.op === VSOCK_OP.RESPONSE, 'RESPONSE');
    const first = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'first RW');
    expect(first.data.length).toBe(30);
    await g.waitFor((p) => p.h.op === VSOCK_OP.CREDIT_REQUEST, 'CREDIT_REQUEST');
    expect(g.received.filter((p) => p.h.op === VSOCK_OP.RW)).toHaveLength(0);
    g.send({ op: VSOCK_OP.CREDIT_UPDATE, srcPort: 1, dstPort: 6000, bufAlloc: 30, fwdCnt: 30 });
    const second = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'second RW');
    expect(second.data.length).toBe(30);
    g.send({ op: VSOCK_OP.CREDIT_UPDATE, srcPort: 1, dstPort: 6000, bufAlloc: 1000, fwdCnt: 60 });
    const third = await g.waitFor((p) => p.h.op === VSOCK_OP.RW, 'third RW');
    expect(third.data.length).toBe(40);
  });

  it('resets a guest that overruns the credit it was given', async () => {
    const g = await setup({ bufAlloc: 16 });
    const srv = net.createServer(() => {});
    await new Promise<void>((r) => srv.listen(`${g.udsPath}_7000`, r));
    cleanups.push(() => new Promise((r) => srv.close(r)));
    g.send({ op: VSOCK_OP.REQUEST, srcPort: 9, dstPort: 7000 });
    const resp = await g.waitFor((p) => p.h.op === VSOCK_OP.RESPONSE, 'RESPONSE');
    expect(resp.h.bufAlloc).toBe(16);
    g.send({ op: VSOCK_OP.RW, srcPort: 9, dstPort: 7000 }, new Uint8Array(17));
    await g.waitFor((p) => p.h.op === VSOCK_OP.RST, 'RST');
    expect(g.vsock.connectionCount).toBe(0);
  });

  it('drops packets from a wrong CID and RSTs unknown connections', async () => {
    const g = await setup();
    g.send({ op: VSOCK_OP.RW, srcCid: 99n, srcPort: 1, dstPort: 2 }, Uint8Array.of(1));
    g.send({ op: VSOCK_OP.RW, srcPort: 1, dstPort: 2 }, Uint8Array.of(1));
    const rst = await g.waitFor((p) => p.h.op === VSOCK_OP.RST, 'RST');
    expect(rst.h.srcPort).toBe(2);
    expect(g.vsock.stats.malformed).toBe(1);
  });

  it('closes the host socket when the guest refuses (RST) or never answers a REQUEST', async () => {
    const g = await setup();
    const a = await connectHost(g.udsPath);
    const aState = collect(a);
    a.on('close', () => {
      aState.ended = true;
    });
    a.write('CONNECT 80\n');
    const req = await g.waitFor((p) => p.h.op === VSOCK_OP.REQUEST, 'REQUEST');
    g.send({ op: VSOCK_OP.RST, srcPort: 80, dstPort: req.h.srcPort });
    await until(() => aState.ended || undefined, 'host socket closed after RST');
    expect(aState.text).toBe('');

    const b = await connectHost(g.udsPath);
    const bState = collect(b);
    b.on('close', () => {
      bState.ended = true;
    });
    b.write('CONNECT 81\n');
    const req2 = await g.waitFor((p) => p.h.op === VSOCK_OP.REQUEST && p.h.dstPort === 81, 'REQUEST');
    const rst = await g.waitFor((p) => p.h.op === VSOCK_OP.RST, 'RST after the timeout');
    expect(rst.h.srcPort).toBe(req2.h.srcPort);
    await until(() => bState.ended || undefined, 'host socket closed after the timeout');
    expect(g.vsock.connectionCount).toBe(0);
  });

  it('closes host connections with a bad CONNECT line', async () => {
    const g = await setup();
    const host = await connectHost(g.udsPath);
    const st = collect(host);
    host.write('HELLO\n');
    await until(() => st.ended || host.destroyed || undefined, 'close');
    expect(g.vsock.connectionCount).toBe(0);
  });

  it('survives random guest packets without exceptions (property)', async () => {
    const g = await setup();
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            op: fc.integer({ min: 0, max: 9 }),
            type: fc.constantFrom(1, 1, 2),
            srcPort: fc.integer({ min: 0, max: 3 }),
            dstPort: fc.integer({ min: 0, max: 3 }),
            len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffff_ffff })),
            data: fc.uint8Array({ maxLength: 64 }),
            flags: fc.integer({ min: 0, max: 7 }),
            truncate: fc.boolean(),
          }),
          { maxLength: 10 },
        ),
        (pkts) => {
          for (const p of pkts) {
            const hdr = encodeVsockHeader({
              srcCid: GUEST_CID,
              dstCid: 2n,
              srcPort: p.srcPort,
              dstPort: p.dstPort,
              len: p.len,
              type: p.type,
              op: p.op === VSOCK_OP.REQUEST ? VSOCK_OP.INVALID : p.op, // no real socket connects here
              flags: p.flags,
              bufAlloc: 1024,
              fwdCnt: 0,
            });
            const a = g.drv.alloc(VSOCK_HDR_SIZE + p.data.length);
            g.mem.writeBytes(a, hdr);
            g.mem.writeBytes(a + VSOCK_HDR_SIZE, p.data);
            const len = p.truncate ? 20 : VSOCK_HDR_SIZE + p.data.length;
            expect(() => g.drv.submit(1, [{ addr: a, len }])).not.toThrow();
            g.poll();
          }
          expect(g.drv.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
