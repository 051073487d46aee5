import { GuestMemory } from '@ts-vmm/vm-memory';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { VIRTQ_DESC_F } from './constants.js';
import { MAX_INDIRECT_DESCRIPTORS, Queue } from './queue.js';

const MEM = 0x10000;
const DESC = 0x1000;
const AVAIL = 0x2000;
const USED = 0x3000;

/** What `f` throws (undefined when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function setup(size = 8) {
  const mem = GuestMemory.createShared([{ start: 0, size: MEM }]);
  const q = new Queue(16);
  q.size = size;
  q.descTable = DESC;
  q.availRing = AVAIL;
  q.usedRing = USED;
  q.ready = true;
  q.validate(mem);
  const desc = (i: number, addr: number | bigint, len: number, flags: number, next = 0, table = DESC) => {
    mem.write64(table + 16 * i, BigInt(addr));
    mem.write32(table + 16 * i + 8, len);
    mem.write16(table + 16 * i + 12, flags);
    mem.write16(table + 16 * i + 14, next);
  };
  let idx = 0;
  const avail = (head: number) => {
    mem.write16(AVAIL + 4 + 2 * (idx % size), head);
    idx = (idx + 1) & 0xffff;
    mem.write16(AVAIL + 2, idx);
  };
  return { mem, q, desc, avail };
}

describe('Queue', () => {
  it('pops a chain with readable then writable buffers and returns it through the used ring', () => {
    const { mem, q, desc, avail } = setup();
    desc(0, 0x8000, 16, VIRTQ_DESC_F.NEXT, 5);
    desc(5, 0x9000, 512, VIRTQ_DESC_F.NEXT | VIRTQ_DESC_F.WRITE, 2);
    desc(2, 0xa000, 1, VIRTQ_DESC_F.WRITE);
    avail(0);
    const c = q.pop(mem)!;
    expect(c.head).toBe(0);
    expect(c.descriptors).toEqual([
      { addr: 0x8000, len: 16, writable: false },
      { addr: 0x9000, len: 512, writable: true },
      { addr: 0xa000, len: 1, writable: true },
    ]);
    expect(c.readableLength).toBe(16);
    expect(c.writableLength).toBe(513);
    expect(q.pop(mem)).toBeNull();
    q.addUsed(mem, c.head, 513);
    expect(mem.read16(USED + 2)).toBe(1);
    expect(mem.read32(USED + 4)).toBe(0);
    expect(mem.read32(USED + 8)).toBe(513);
  });

  it('reads and writes across descriptor boundaries', () => {
    const { mem, q, desc, avail } = setup();
    mem.writeBytes(0x8000, Uint8Array.of(1, 2, 3));
    mem.writeBytes(0x8100, Uint8Array.of(4, 5));
    desc(0, 0x8000, 3, VIRTQ_DESC_F.NEXT, 1);
    desc(1, 0x8100, 2, VIRTQ_DESC_F.NEXT, 2);
    desc(2, 0x9000, 2, VIRTQ_DESC_F.WRITE | VIRTQ_DESC_F.NEXT, 3);
    desc(3, 0x9100, 2, VIRTQ_DESC_F.WRITE);
    avail(0);
    const c = q.pop(mem)!;
    expect([...c.reader(mem).read(5)]).toEqual([1, 2, 3, 4, 5]);
    const w = c.writer(mem);
    expect(w.write(Uint8Array.of(9, 8, 7, 6, 5))).toBe(4);
    expect([...mem.readBytes(0x9000, 2), ...mem.readBytes(0x9100, 2)]).toEqual([9, 8, 7, 6]);
  });

  it('follows indirect tables when negotiated and refuses them otherwise', () => {
    const { mem, q, desc, avail } = setup();
    desc(0, 0x8000, 4, VIRTQ_DESC_F.NEXT, 1, 0x7000);
    desc(1, 0x8100, 8, VIRTQ_DESC_F.WRITE, 0, 0x7000);
    desc(3, 0x7000, 32, VIRTQ_DESC_F.INDIRECT);
    avail(3);
    avail(3);
    expect(() => q.pop(mem)).toThrow(/INDIRECT_DESC not negotiated/);
    q.indirect = true;
    const c = q.pop(mem)!;
    expect(c.head).toBe(3);
    expect(c.descriptors.map((d) => d.addr)).toEqual([0x8000, 0x8100]);
  });

  const bad: [string, (s: ReturnType<typeof setup>) => void, RegExp][] = [
    ['a loop', (s) => s.desc(0, 0x8000, 1, VIRTQ_DESC_F.NEXT, 0), /longer than the queue size/],
    ['an out-of-range next', (s) => s.desc(0, 0x8000, 1, VIRTQ_DESC_F.NEXT, 8), /next index 8/],
    ['a buffer past memory', (s) => s.desc(0, MEM - 4, 8, 0), /outside guest memory/],
    ['a huge length', (s) => s.desc(0, 0x8000, 0xffff_ffff, 0), /outside guest memory/],
    ['a 64-bit address', (s) => s.desc(0, 0xffff_ffff_ffff_f000n, 16, 0), /outside guest memory/],
    [
      'readable after writable',
      (s) => {
        s.desc(0, 0x8000, 1, VIRTQ_DESC_F.NEXT | VIRTQ_DESC_F.WRITE, 1);
        s.desc(1, 0x8000, 1, 0);
      },
      /readable descriptor after a device-writable/,
    ],
    [
      'nested indirect',
      (s) => {
        s.q.indirect = true;
        s.desc(0, 0x7000, 16, VIRTQ_DESC_F.INDIRECT);
        s.desc(0, 0x7000, 16, VIRTQ_DESC_F.INDIRECT, 0, 0x7000);
      },
      /nested indirect/,
    ],
    [
      'indirect with NEXT',
      (s) => {
        s.q.indirect = true;
        s.desc(0, 0x7000, 16, VIRTQ_DESC_F.INDIRECT | VIRTQ_DESC_F.NEXT, 1);
      },
      /NEXT flag/,
    ],
    [
      'an indirect loop',
      (s) => {
        s.q.indirect = true;
        s.desc(0, 0x7000, 32, VIRTQ_DESC_F.INDIRECT);
        s.desc(0, 0x8000, 1, VIRTQ_DESC_F.NEXT, 1, 0x7000);
        s.desc(1, 0x8000, 1, VIRTQ_DESC_F.NEXT, 0, 0x7000);
      },
      /indirect chain longer than its table/,
    ],
    [
      'a bad indirect length',
      (s) => {
        s.q.indirect = true;
        s.desc(0, 0x7000, 20, VIRTQ_DESC_F.INDIRECT);
      },
      /not a non-zero multiple of 16/,
    ],
    [
      'a giant indirect table',
      (s) => {
        s.q.indirect = true;
        s.desc(0, 0x0, 16 * (MAX_INDIRECT_DESCRIPTORS + 1), VIRTQ_DESC_F.INDIRECT);
      },
      /exceeds/,
    ],
  ];
  for (const [name, make, msg] of bad) {
    it(`refuses ${name} with a guest-error DeviceError`, () => {
      const s = setup();
      make(s);
      s.avail(0);
      expect(() => s.q.pop(s.mem)).toThrow(DeviceError);
      const s2 = setup();
      make(s2);
      s2.avail(0);
      const e = thrown(() => s2.q.pop(s2.mem));
      expect(e).toMatchObject({ kind: 'guest-error', device: 'virtqueue' });
      expect((e as Error).message).toMatch(msg);
    });
  }

  it('refuses an avail index more than a queue size ahead, and an out-of-range head', () => {
    const s = setup();
    s.mem.write16(AVAIL + 2, 9);
    expect(() => s.q.pop(s.mem)).toThrow(/more than the queue size/);
    const s2 = setup();
    s2.avail(12);
    expect(() => s2.q.pop(s2.mem)).toThrow(/head 12/);
  });

  it('validates ring placement and size', () => {
    const mem = GuestMemory.createShared([{ start: 0, size: 0x4000 }]);
    const q = new Queue(16);
    q.size = 6;
    expect(() => q.validate(mem)).toThrow(/power of two/);
    q.size = 16;
    q.descTable = 0x3ff8;
    expect(() => q.validate(mem)).toThrow(/descriptor table/);
    q.descTable = 0x1001;
    expect(() => q.validate(mem)).toThrow(/aligned/);
    expect(() => new Queue(3)).toThrow(/power of two/);
  });

  it('suppresses interrupts with EVENT_IDX and with NO_INTERRUPT', () => {
    const s = setup();
    s.desc(0, 0x8000, 1, VIRTQ_DESC_F.WRITE);
    s.q.eventIdx = true;
    for (let i = 0; i < 4; i++) s.avail(0);
    s.mem.write16(AVAIL + 4 + 2 * 8, 2); // used_event: interrupt when used idx passes 2
    const push = () => {
      const c = s.q.pop(s.mem)!;
      s.q.addUsed(s.mem, c.head, 1);
    };
    push();
    expect(s.q.needsNotification(s.mem)).toBe(true); // first signal
    push();
    expect(s.q.needsNotification(s.mem)).toBe(false); // used idx 2: not past used_event 2
    push();
    expect(s.q.needsNotification(s.mem)).toBe(true); // used idx 3 passes 2
    expect(s.mem.read16(USED + 4 + 8 * 8)).toBe(3); // avail_event published
    s.q.eventIdx = false;
    s.mem.write16(AVAIL, 1);
    push();
    expect(s.q.needsNotification(s.mem)).toBe(false);
    s.mem.write16(AVAIL, 0);
    expect(s.q.needsNotification(s.mem)).toBe(true);
  });

  it('never throws anything but a guest-error DeviceError, never hangs, and yields only in-memory buffers (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            addr: fc.oneof(
              fc.integer({ min: 0, max: MEM + 64 }),
              fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
            ),
            len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffff_ffff })),
            flags: fc.integer({ min: 0, max: 7 }),
            next: fc.integer({ min: 0, max: 20 }),
          }),
          { minLength: 16, maxLength: 16 },
        ),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        (descs, heads, indirect, eventIdx) => {
          const s = setup();
          s.q.indirect = indirect;
          s.q.eventIdx = eventIdx;
          // the first 8 entries are the ring table, the rest an indirect table at DESC + 128
          descs.forEach((d, i) => {
            s.desc(i, d.addr, d.len, d.flags, d.next);
          });
          for (const h of heads) s.avail(h);
          for (let n = 0; n < 20; n++) {
            try {
              const c = s.q.pop(s.mem);
              if (!c) break;
              for (const d of c.descriptors) expect(s.mem.checkRange(d.addr, d.len)).toBe(true);
              expect(c.descriptors.length).toBeLessThanOrEqual(MAX_INDIRECT_DESCRIPTORS);
              s.q.addUsed(s.mem, c.head, 0);
            } catch (e) {
              expect(e).toBeInstanceOf(DeviceError);
              expect((e as DeviceError).kind).toBe('guest-error');
              break;
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
