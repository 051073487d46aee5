import { describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { MemoryDiskBackend } from './disk.js';

describe('MemoryDiskBackend', () => {
  it('serves an existing array in place, short at the end', () => {
    const bytes = Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff);
    const d = new MemoryDiskBackend(bytes, { name: 'img' });
    expect(d.size).toBe(1024);
    expect(d.name).toBe('img');
    const a = new Uint8Array(2);
    const b = new Uint8Array(3);
    expect(d.readSync([a, b], 5)).toBe(5);
    expect([...a, ...b]).toEqual([5, 6, 7, 8, 9]);
    expect(d.readSync([new Uint8Array(8), new Uint8Array(8)], 1020)).toBe(4);
    expect(d.readSync([new Uint8Array(8)], 2000)).toBe(0);
    expect(d.writeSync([Uint8Array.of(1, 2), Uint8Array.of(3)], 1022)).toBe(2);
    expect([...bytes.subarray(1020)]).toEqual([252, 253, 1, 2]);
    d.flushSync();
    expect(d.flushes).toBe(1);
  });

  it('creates a zeroed disk of a size; refuses bad sizes, writes when read-only, and use after close', () => {
    const d = new MemoryDiskBackend(4096, { readOnly: true });
    expect(d.bytes.length).toBe(4096);
    expect(d.name).toBe('memdisk');
    expect(() => d.writeSync([Uint8Array.of(1)], 0)).toThrow(/read-only/);
    expect(() => new MemoryDiskBackend(-1)).toThrow(DeviceError);
    expect(() => new MemoryDiskBackend(1.5)).toThrow(/memory disk size 1.5/);
    d.close();
    expect(() => d.readSync([new Uint8Array(1)], 0)).toThrow(/closed/);
  });

  it('completes asynchronous calls in a microtask, never before returning', async () => {
    const d = new MemoryDiskBackend(Uint8Array.of(7, 8, 9));
    const buf = new Uint8Array(2);
    let called = false;
    const p = new Promise<number>((res) =>
      d.read([buf], 1, (e, n) => {
        called = true;
        res(e ? -1 : n);
      }),
    );
    expect(called).toBe(false);
    expect(await p).toBe(2);
    expect([...buf]).toEqual([8, 9]);
    const ro = new MemoryDiskBackend(8, { readOnly: true });
    const err = await new Promise<Error | null>((res) => ro.write([Uint8Array.of(1)], 0, (e) => res(e)));
    expect(err).toBeInstanceOf(DeviceError);
    await new Promise<void>((res, rej) => ro.flush((e) => (e ? rej(e) : res())));
  });
});
