import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmmError } from '../vmm/errors.js';
import { cacheDir, cachedGuest, GUEST_FORMAT, manifestPath } from './cache.js';
import { readCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from './cpio.js';
import { initScript, RUN_PARAM, runParameter } from './init-script.js';
import { moduleDepends, readModinfo } from './modinfo.js';
import { moduleName, orderModules, parseModulesDep } from './modules-dep.js';

/** Fails unless `f` throws a VmmError of kind 'guest-build'. */
function expectGuestBuildFailure(f: () => unknown): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VmmError);
  expect(err).toMatchObject({ name: 'VmmError', kind: 'guest-build' });
}

const enc = new TextEncoder();
const hasCpio = spawnSync('sh', ['-c', 'command -v cpio']).status === 0;

describe('cpio newc writer', () => {
  const sample = [
    { name: 'bin', mode: S_IFDIR | 0o755 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: enc.encode('binary\0data') },
    { name: 'bin/sh', mode: S_IFLNK | 0o777, data: enc.encode('/bin/busybox') },
    { name: 'dev', mode: S_IFDIR | 0o755 },
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'init', mode: S_IFREG | 0o755, data: enc.encode('#!/bin/sh\necho hi\n') },
  ];

  it('round-trips through its own reader', () => {
    const bytes = writeCpio(sample);
    expect(bytes.length % 512).toBe(0);
    expect(new TextDecoder().decode(bytes.subarray(0, 6))).toBe('070701');
    const back = readCpio(bytes);
    expect(back.map((e) => e.name)).toEqual(sample.map((e) => e.name));
    expect(back[1].data).toEqual(sample[1].data);
    expect(back[4].mode).toBe(S_IFCHR | 0o600);
    expect([back[4].rdevMajor, back[4].rdevMinor]).toEqual([5, 1]);
  });

  it.skipIf(!hasCpio)('is read by cpio -t', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cpio-'));
    writeFileSync(join(dir, 'a.cpio'), writeCpio(sample));
    const r = spawnSync('cpio', ['-t', '--quiet', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(sample.map((e) => e.name));
    const x = spawnSync('sh', ['-c', `cd ${dir} && cpio -i --quiet --to-stdout init < a.cpio`], {
      encoding: 'utf8',
    });
    expect(x.stdout).toBe('#!/bin/sh\necho hi\n');
  });
  if (!hasCpio) console.log('skipped: cpio -t round trip (cpio(1) not installed)');

  it('round-trips arbitrary members', () => {
    const entry = fc.record({
      name: fc.stringMatching(/^[a-z0-9_.-]{1,20}(\/[a-z0-9_.-]{1,20}){0,3}$/),
      mode: fc.constantFrom(S_IFREG | 0o644, S_IFDIR | 0o755, S_IFLNK | 0o777),
      data: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.name, maxLength: 8 }), (entries) => {
        const back = readCpio(writeCpio(entries));
        expect(back.map((e) => [e.name, e.mode, [...(e.data ?? [])]])).toEqual(
          entries.map((e) => [e.name, e.mode, [...e.data]]),
        );
      }),
    );
  });

  it("the reader refuses malformed archives with 'guest-build' VmmErrors only", () => {
    const good = writeCpio(sample);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, b) => {
        const bad = good.slice(0, Math.max(i, 1));
        bad[Math.min(i, bad.length - 1)] = b;
        try {
          readCpio(bad);
        } catch (e) {
          expect(e).toMatchObject({ name: 'VmmError', kind: 'guest-build' });
        }
      }),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        expectGuestBuildFailure(() => readCpio(bytes));
      }),
    );
  });

  it('refuses duplicate names', () => {
    expect(() => writeCpio([sample[0], sample[0]])).toThrow(/twice/);
  });
});

describe('modules.dep ordering', () => {
  const dep = parseModulesDep(
    [
      'kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio.ko:',
      'kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko',
      'kernel/net/core/failover.ko:',
      'kernel/drivers/char/hw_random/virtio-rng.ko.xz: kernel/drivers/virtio/virtio.ko',
    ].join('\n'),
  );

  it('puts dependencies first, each module once', () => {
    const { order, missing } = orderModules(dep, ['virtio_net', 'virtio_mmio', 'virtio-rng', 'virtio_blk']);
    expect(missing).toEqual(['virtio_blk']);
    expect(order.map(moduleName)).toEqual([
      'failover',
      'net_failover',
      'virtio',
      'virtio_ring',
      'virtio_net',
      'virtio_mmio',
      'virtio_rng',
    ]);
  });

  it('every module follows its dependencies for random graphs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(19), { maxLength: 4 }), { minLength: 1, maxLength: 20 }),
        (edges) => {
          // Edges only to lower indices: a DAG.
          const text = edges
            .map(
              (ds, i) =>
                `m${i}.ko: ${[...new Set(ds.filter((d) => d < i))].map((d) => `m${d}.ko`).join(' ')}`,
            )
            .join('\n');
          const deps = parseModulesDep(text);
          const { order } = orderModules(
            deps,
            edges.map((_, i) => `m${i}`),
          );
          expect(new Set(order).size).toBe(order.length);
          const pos = new Map(order.map((m, i) => [m, i]));
          for (const [m, ds] of deps) for (const d of ds) expect(pos.get(d)!).toBeLessThan(pos.get(m)!);
        },
      ),
    );
  });

  it('reports cycles and dangling dependencies', () => {
    expect(() => orderModules(parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n'), ['a'])).toThrow(/cycle/);
    expect(() => orderModules(parseModulesDep('a.ko: c.ko\n'), ['a'])).toThrow(/no entry/);
    expectGuestBuildFailure(() => parseModulesDep('garbage line'));
  });
});

/** A minimal ELF64 relocatable object with a .modinfo section. */
function fakeModule(modinfo: string): Uint8Array {
  const shstr = enc.encode('\0.modinfo\0.shstrtab\0');
  const info = enc.encode(modinfo);
  const dataOff = 64;
  const strOff = dataOff + info.length;
  const shoff = (strOff + shstr.length + 7) & ~7;
  const out = new Uint8Array(shoff + 3 * 64);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setBigUint64(0x28, BigInt(shoff), true);
  dv.setUint16(0x3a, 64, true);
  dv.setUint16(0x3c, 3, true);
  dv.setUint16(0x3e, 2, true);
  out.set(info, dataOff);
  out.set(shstr, strOff);
  const sh = (i: number, name: number, off: number, size: number) => {
    dv.setUint32(shoff + i * 64, name, true);
    dv.setBigUint64(shoff + i * 64 + 24, BigInt(off), true);
    dv.setBigUint64(shoff + i * 64 + 32, BigInt(size), true);
  };
  sh(1, 1, dataOff, info.length);
  sh(2, 10, strOff, shstr.length);
  return out;
}

describe('modinfo', () => {
  it('reads depends= from .modinfo', () => {
    const ko = fakeModule('license=GPL\0depends=virtio,virtio-ring\0name=virtio_blk\0');
    expect(readModinfo(ko).get('name')).toBe('virtio_blk');
    expect(moduleDepends(ko)).toEqual(['virtio', 'virtio_ring']);
    expect(moduleDepends(fakeModule('depends=\0'))).toEqual([]);
  });

  it("refuses malformed objects with 'guest-build' VmmErrors only", () => {
    const good = fakeModule('depends=a,b\0');
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.nat(255), (i, b) => {
        const bad = good.slice();
        bad[i] = b;
        try {
          moduleDepends(bad);
        } catch (e) {
          expect(e).toMatchObject({ name: 'VmmError', kind: 'guest-build' });
        }
      }),
    );
  });
});

describe('init script and cache', () => {
  it('loads modules in the given order and runs tsvmm.run', () => {
    const s = initScript('6.1.0', ['a.ko', 'b.ko']);
    expect(s.startsWith('#!/bin/sh\n')).toBe(true);
    expect(s).toContain('for m in a.ko b.ko; do');
    expect(s).toContain(RUN_PARAM);
    expect(s).toContain('setsid cttyhack sh');
    const p = runParameter('echo hi; poweroff');
    expect(p).toMatch(/^tsvmm\.run=[A-Za-z0-9+/=]+$/);
    expect(Buffer.from(p.split('=').slice(1).join('='), 'base64').toString()).toBe('echo hi; poweroff');
  });

  it('init script is valid sh', () => {
    const dir = mkdtempSync(join(tmpdir(), 'init-'));
    writeFileSync(join(dir, 'init'), initScript('6.1.0', ['a.ko']));
    expect(spawnSync('sh', ['-n', join(dir, 'init')]).status).toBe(0);
  });

  it('a cached guest counts only when written by this builder format and its files exist', () => {
    const root = mkdtempSync(join(tmpdir(), 'cache-'));
    mkdirSync(join(root, 'guest'));
    writeFileSync(join(root, 'k'), 'k');
    writeFileSync(join(root, 'i'), 'i');
    const m = { kernel: join(root, 'k'), initrd: join(root, 'i'), modules: [], builtin: [] };
    writeFileSync(manifestPath(root), JSON.stringify({ ...m, format: GUEST_FORMAT - 1 }));
    expect(cachedGuest(root)).toBeUndefined();
    writeFileSync(manifestPath(root), JSON.stringify({ ...m, format: GUEST_FORMAT }));
    expect(cachedGuest(root)?.kernel).toBe(m.kernel);
    writeFileSync(manifestPath(root), '{ not json');
    expect(cachedGuest(root)).toBeUndefined();
  });

  it('cache dir honours TS_VMM_CACHE', () => {
    expect(cacheDir({ TS_VMM_CACHE: '/x/y' })).toBe('/x/y');
    expect(cacheDir({})).toMatch(/\.cache\/ts-vmm$/);
  });
});
