import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Cmdline } from './cmdline.js';
import { LoaderError } from './errors.js';

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoaderError);
    return (e as LoaderError).kind;
  }
  return undefined;
}

describe('Cmdline', () => {
  it('builds key=value pairs, flags, quoted values and init arguments', () => {
    const c = new Cmdline(2048);
    c.insert('console', 'ttyS0').insert('reboot', 'k').insert('panic', 1).insertFlag('quiet');
    c.insert('dyndbg', 'file x.c +p');
    c.insertInitArgs('--verbose', 'two words');
    expect(c.toString()).toBe(
      'console=ttyS0 reboot=k panic=1 quiet dyndbg="file x.c +p" -- --verbose "two words"',
    );
    const b = c.toBytes();
    expect(b[b.length - 1]).toBe(0);
    expect(b.length).toBe(c.toString().length + 1);
    expect(c.has('quiet')).toBe(true);
    expect(c.has('root')).toBe(false);
  });

  it('enforces the capacity including the NUL', () => {
    const c = new Cmdline(8); // 7 characters + NUL
    c.insertStr('abc=123');
    expect(c.byteLength).toBe(8);
    expect(kindOf(() => c.insertFlag('x'))).toBe('bad-cmdline');
    expect(c.toString()).toBe('abc=123'); // unchanged after the refusal
    expect(Cmdline.forKernel(2047).capacity).toBe(2048);
  });

  it('refuses NUL, control and non-ASCII characters, bad keys and quotes', () => {
    const c = new Cmdline(256);
    expect(kindOf(() => c.insert('a', 'b\0c'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('a', 'tab\there'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('a', 'caf\u00e9'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('a', 'say "hi"'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('a b', 'x'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('a=b', 'x'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insert('', 'x'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insertStr('a -- b'))).toBe('bad-cmdline');
    expect(c.toString()).toBe('');
  });

  it('refuses duplicate keys except repeatable ones', () => {
    const c = new Cmdline(512);
    c.insert('root', '/dev/vda');
    expect(kindOf(() => c.insert('root', '/dev/vdb'))).toBe('bad-cmdline');
    expect(kindOf(() => c.insertFlag('root'))).toBe('bad-cmdline');
    c.insert('console', 'tty0').insert('console', 'ttyS0');
    c.addVirtioMmioDevice(0x1000, 0xd0000000, 5).addVirtioMmioDevice(0x1000, 0xd0001000, 6, 1);
    expect(c.toString()).toBe(
      'root=/dev/vda console=tty0 console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6:1',
    );
  });

  it('parses a line and round-trips it', () => {
    const line = 'console=ttyS0 quiet dyndbg="a b" -- single "x y"';
    const c = Cmdline.parse(line, 2048);
    expect(c.toString()).toBe(line);
    expect(kindOf(() => Cmdline.parse('a="open', 64))).toBe('bad-cmdline');
    expect(kindOf(() => Cmdline.parse('root=a root=b', 64))).toBe('bad-cmdline');
  });

  const printable = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  });

  it('property: any sequence of insertions either succeeds within capacity or throws LoaderError', () => {
    const op = fc.oneof(
      fc.record({
        t: fc.constant('kv' as const),
        k: fc.string({ maxLength: 8 }),
        v: fc.string({ maxLength: 12 }),
      }),
      fc.record({ t: fc.constant('flag' as const), k: fc.string({ maxLength: 8 }) }),
      fc.record({ t: fc.constant('str' as const), s: fc.string({ maxLength: 20 }) }),
      fc.record({ t: fc.constant('init' as const), s: fc.string({ maxLength: 10 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }), fc.array(op, { maxLength: 12 }), (cap, ops) => {
        const c = new Cmdline(cap);
        for (const o of ops) {
          const before = c.toString();
          try {
            if (o.t === 'kv') c.insert(o.k, o.v);
            else if (o.t === 'flag') c.insertFlag(o.k);
            else if (o.t === 'str') c.insertStr(o.s);
            else c.insertInitArgs(o.s);
          } catch (e) {
            if (!(e instanceof LoaderError)) throw e;
            expect(c.toString()).toBe(before);
          }
          const bytes = c.toBytes();
          expect(bytes.length).toBeLessThanOrEqual(cap);
          expect(bytes[bytes.length - 1]).toBe(0);
          for (let i = 0; i < bytes.length - 1; i++) {
            expect(bytes[i]).toBeGreaterThanOrEqual(0x20);
            expect(bytes[i]).toBeLessThanOrEqual(0x7e);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: parse() of arbitrary text gives a line that parses back to itself, or a LoaderError', () => {
    fc.assert(
      fc.property(fc.oneof(printable, fc.string()), (s) => {
        let c: Cmdline;
        try {
          c = Cmdline.parse(s, 4096);
        } catch (e) {
          if (e instanceof LoaderError) return;
          throw e;
        }
        expect(Cmdline.parse(c.toString(), 4096).toString()).toBe(c.toString());
      }),
      { numRuns: 500 },
    );
  });
});
