import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VmmError } from '../vmm/errors.js';
import { parseRunFlags } from './flags.js';
import { parseConfigJson, parseConfigObject } from './json.js';
import { MAX_RAM_RANGE, MMIO_HOLE_END, ramLayout } from './memory-layout.js';
import { resolveConfig } from './resolve.js';
import { DEFAULT_CMDLINE } from './types.js';
import { parseCmdline, parseMac, parseMemoryMib, parseTapName } from './values.js';

/** Runs `f`; passes when it returns or throws a 'config' VmmError naming a field, fails on any other exception. */
function onlyConfigErrors(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof VmmError && e.kind === 'config') {
      expect(typeof e.field).toBe('string'); // '' for an empty JSON key
      expect(e.message.startsWith(`${e.field}: `)).toBe(true);
      return true;
    }
    throw e;
  }
}

describe('run flags', () => {
  it('parses every flag', () => {
    const { config, configFile, help } = parseRunFlags([
      '--kernel',
      'bz',
      '--initrd=ird',
      '--cmdline',
      'console=ttyS0',
      '--append',
      'quiet',
      '--memory',
      '256',
      '--vcpus',
      '2',
      '--disk',
      'a.img,ro',
      '--disk',
      'b.img',
      '--net',
      'tap=tap0,mac=06:00:AC:10:00:09',
      '--net',
      'tap=tap1',
      '--vsock',
      'cid=3,uds=/tmp/v.sock',
      '--backend',
      'emulated',
      '--console',
      'virtio',
      '--config',
      'x.json',
    ]);
    expect(help).toBe(false);
    expect(configFile).toBe('x.json');
    expect(config).toEqual({
      kernel: 'bz',
      initrd: 'ird',
      cmdline: 'console=ttyS0',
      cmdlineAppend: 'quiet',
      memoryMib: 256,
      vcpus: 2,
      disks: [
        { path: 'a.img', readOnly: true },
        { path: 'b.img', readOnly: false },
      ],
      net: [
        { tap: 'tap0', mac: '06:00:ac:10:00:09' },
        { tap: 'tap1', mac: '06:00:ac:10:00:03' },
      ],
      vsock: { cid: 3, uds: '/tmp/v.sock' },
      backend: 'emulated',
      console: 'virtio',
    });
  });

  it.each([
    [['--memory', 'lots'], '--memory', 'lots'],
    [['--memory', '0'], '--memory', '0 MiB'],
    [['--vcpus', '300'], '--vcpus', '300'],
    [['--net', 'tap=tap0,mac=01:00:00:00:00:01'], '--net mac', 'multicast'],
    [['--net', 'mac=06:00:00:00:00:01'], '--net', 'lacks tap'],
    [['--vsock', 'cid=2,uds=/x'], '--vsock cid', '2'],
    [['--backend', 'xen'], '--backend', 'xen'],
    [['--clock', 'icount'], '--clock', 'icount'],
    [['--bogus'], '--bogus', 'unknown'],
    [['--kernel'], '--kernel', 'needs a value'],
    [['--kernel', 'a', '--kernel', 'b'], '--kernel', 'more than once'],
    [['--disk', ',ro'], '--disk path', 'empty'],
  ])('refuses %j naming %s', (argv, field, text) => {
    try {
      parseRunFlags(argv);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VmmError);
      expect(e).toMatchObject({ name: 'VmmError', kind: 'config', field });
      expect((e as VmmError).message).toContain(text);
    }
  });

  it("never throws anything but a 'config' VmmError on arbitrary argv", () => {
    const flag = fc.constantFrom(
      '--kernel',
      '--initrd',
      '--cmdline',
      '--append',
      '--memory',
      '--vcpus',
      '--disk',
      '--net',
      '--vsock',
      '--backend',
      '--console',
      '--clock',
      '--config',
      '--help',
      '--nope',
    );
    const token = fc.oneof(flag, fc.string(), fc.stringMatching(/^[a-z]+=[^,]*(,[a-z]+=[^,]*)*$/));
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), (argv) => onlyConfigErrors(() => parseRunFlags(argv))),
    );
  });
});

describe('JSON config', () => {
  it('parses a full file and flags override it', () => {
    const file = parseConfigJson(
      JSON.stringify({
        kernel: 'k',
        memoryMib: 1024,
        vcpus: 4,
        disks: [{ path: 'r.img', readOnly: true }],
        net: [{ tap: 'tap0' }],
        vsock: { cid: 5, uds: '/tmp/s' },
        cmdlineAppend: 'a=1',
      }),
    );
    const cfg = resolveConfig({ file, flags: parseRunFlags(['--memory', '64', '--append', 'b=2']).config });
    expect(cfg.memoryMib).toBe(64);
    expect(cfg.vcpus).toBe(4);
    expect(cfg.kernel).toBe('k');
    expect(cfg.cmdline).toBe(DEFAULT_CMDLINE);
    expect(cfg.cmdlineAppend).toBe('a=1 b=2');
    expect(cfg.net).toEqual([{ tap: 'tap0', mac: '06:00:ac:10:00:02' }]);
  });

  it('takes the clock from the file or --clock (default realtime) and refuses other values', () => {
    expect(resolveConfig({}).clock).toBe('realtime');
    const file = parseConfigJson(JSON.stringify({ clock: 'virtual' }));
    expect(resolveConfig({ file }).clock).toBe('virtual');
    expect(resolveConfig({ file, flags: parseRunFlags(['--clock', 'realtime']).config }).clock).toBe(
      'realtime',
    );
    expect(resolveConfig({ flags: parseRunFlags(['--clock=virtual']).config }).clock).toBe('virtual');
    expect(() => parseRunFlags(['--clock', 'hybrid'])).toThrow(
      /--clock: "hybrid" is not one of realtime, virtual/,
    );
    expect(() => parseConfigJson('{"clock": 1}')).toThrow(VmmError);
  });

  it.each([
    ['{', 'config'],
    ['[]', 'config'],
    ['{"memory": 5}', 'memory'],
    ['{"vcpus": "two"}', 'vcpus'],
    ['{"disks": [{"path": ""}]}', 'disks[0].path'],
    ['{"disks": [{"path": "a", "ro": true}]}', 'disks[0].ro'],
    ['{"net": [{"tap": "this-name-is-too-long"}]}', 'net[0].tap'],
    ['{"vsock": {"cid": 3}}', 'vsock.uds'],
    ['{"cmdline": "a\\nb"}', 'cmdline'],
  ])('refuses %s naming %s', (text, field) => {
    try {
      parseConfigJson(text, 'config');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VmmError);
      expect(e).toMatchObject({ kind: 'config', field });
    }
  });

  it("never throws anything but a 'config' VmmError on arbitrary JSON", () => {
    const keys = fc.constantFrom(
      'kernel',
      'initrd',
      'cmdline',
      'memoryMib',
      'vcpus',
      'disks',
      'net',
      'vsock',
      'backend',
      'clock',
    );
    const obj = fc.dictionary(keys, fc.jsonValue({ maxDepth: 3 }));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 3 }), obj), (v) =>
        onlyConfigErrors(() => resolveConfig({ file: parseConfigObject(v) })),
      ),
    );
    fc.assert(fc.property(fc.string(), (s) => onlyConfigErrors(() => parseConfigJson(s))));
  });

  it('refuses duplicate disks and taps', () => {
    expect(() => resolveConfig({ flags: parseRunFlags(['--disk', 'a', '--disk', 'a,ro']).config })).toThrow(
      /attached twice/,
    );
    expect(() =>
      resolveConfig({ flags: parseRunFlags(['--net', 'tap=t', '--net', 'tap=t']).config }),
    ).toThrow(/used twice/);
  });
});

describe('values', () => {
  it('accepts and canonicalises', () => {
    expect(parseMac('AA-BB-CC-DD-EE-FF'.replace('AA', 'A8'))).toBe('a8:bb:cc:dd:ee:ff');
    expect(parseMemoryMib('0x100')).toBe(256);
    expect(parseCmdline('  a   b  ')).toBe('a b');
    expect(parseTapName('tap0')).toBe('tap0');
  });

  it('memory accepts exactly the in-range integers', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10, max: 2 ** 21 }), (n) => {
        const ok = n >= 2 && n <= 1024 * 1024;
        if (ok) expect(parseMemoryMib(String(n))).toBe(n);
        else expect(() => parseMemoryMib(String(n))).toThrow(VmmError);
      }),
    );
  });

  it('command lines with control characters are refused', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 31 }), (s, c) => {
        expect(() => parseCmdline(`${s}${String.fromCharCode(c)}`)).toThrow(VmmError);
      }),
    );
  });
});

describe('memory layout', () => {
  it('splits around the MMIO hole', () => {
    expect(ramLayout(512)).toEqual([{ start: 0, size: 512 << 20 }]);
    expect(ramLayout(3072)).toEqual([
      { start: 0, size: 0x8000_0000 },
      { start: 0x8000_0000, size: 0x4000_0000 },
    ]);
    expect(ramLayout(4096)).toEqual([
      { start: 0, size: 0x8000_0000 },
      { start: 0x8000_0000, size: 0x4000_0000 },
      { start: MMIO_HOLE_END, size: 0x4000_0000 },
    ]);
  });

  it('always totals the requested size and never enters the hole', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), (mib) => {
        const r = ramLayout(mib);
        expect(r.reduce((n, x) => n + x.size, 0)).toBe(mib * 2 ** 20);
        for (const x of r) {
          expect(x.start >= MMIO_HOLE_END || x.start + x.size <= 0xc000_0000).toBe(true);
          expect(x.size).toBeLessThanOrEqual(MAX_RAM_RANGE);
        }
      }),
    );
  });
});
