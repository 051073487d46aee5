import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { Block } from '../virtio/block.js';
import { FileDiskBackend } from './file-disk.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ts-vmm-file-disk-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function image(name: string, bytes: number): string {
  const p = path.join(tmp, name);
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = i & 0xff;
  fs.writeFileSync(p, data);
  return p;
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('FileDiskBackend', () => {
  it('takes an explicit size, refusing one beyond the file and non-files without one', () => {
    const file = image('a.img', 8 * 512);
    const small = FileDiskBackend.open(file, { sizeBytes: 4 * 512 });
    expect(small.size).toBe(4 * 512);
    expect(new Block({ backend: small }).capacity).toBe(4);
    small.close();
    expect(thrown(() => FileDiskBackend.open(file, { sizeBytes: 9 * 512 }))).toMatchObject({
      kind: 'invalid-config',
      device: 'virtio-blk',
    });
    expect(() => FileDiskBackend.open(file, { sizeBytes: 9 * 512 })).toThrow(/sizeBytes 4608/);
    expect(() => FileDiskBackend.open('/dev/null')).toThrow(/not a regular file/);
    const missing = thrown(() => FileDiskBackend.open(path.join(tmp, 'missing.img')));
    expect(missing).toBeInstanceOf(DeviceError);
    expect(missing).toMatchObject({ kind: 'io' });
    expect(String(missing)).toMatch(/cannot open disk image .*missing\.img/);
    expect((missing as Error).cause).toBeDefined();
  });

  it('reads and writes vectored at an offset, short at the end of the file', () => {
    const file = image('b.img', 1024);
    const d = FileDiskBackend.open(file);
    expect(d.name).toBe('b.img');
    expect(d.readOnly).toBe(false);
    const a = new Uint8Array(3);
    const b = new Uint8Array(5);
    expect(d.readSync([a, b], 10)).toBe(8);
    expect([...a, ...b]).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(d.readSync([new Uint8Array(16)], 1020)).toBe(4);
    expect(d.readSync([new Uint8Array(16)], 1024)).toBe(0);
    expect(d.writeSync([Uint8Array.of(0xaa), Uint8Array.of(0xbb)], 0)).toBe(2);
    d.flushSync();
    expect([...fs.readFileSync(file).subarray(0, 3)]).toEqual([0xaa, 0xbb, 2]);
    d.close();
    d.close(); // once
  });

  it('completes asynchronous reads, writes and flushes through callbacks', async () => {
    const file = image('c.img', 1024);
    const d = FileDiskBackend.open(file);
    const a = new Uint8Array(4);
    const b = new Uint8Array(4);
    const n = await new Promise<number>((res, rej) => d.read([a, b], 100, (e, k) => (e ? rej(e) : res(k))));
    expect(n).toBe(8);
    expect(a[0]).toBe(100);
    expect(b[3]).toBe(107);
    await new Promise<void>((res, rej) => d.write([Uint8Array.of(9)], 1, (e) => (e ? rej(e) : res())));
    await new Promise<void>((res, rej) => d.flush((e) => (e ? rej(e) : res())));
    expect(fs.readFileSync(file)[1]).toBe(9);
    d.close();
  });

  it('refuses use after close (the fd number may be another file by then)', async () => {
    const d = FileDiskBackend.open(image('d.img', 512), { readOnly: true });
    expect(d.readOnly).toBe(true);
    d.close();
    expect(thrown(() => d.readSync([new Uint8Array(1)], 0))).toMatchObject({ kind: 'closed' });
    const err = await new Promise<Error | null>((res) => d.read([new Uint8Array(1)], 0, (e) => res(e)));
    expect(err).toMatchObject({ kind: 'closed', device: 'virtio-blk' });
  });
});
