/**
 * Parses a JSON configuration file's contents into a partial configuration.
 *
 * ```json
 * { "kernel": "bzImage", "initrd": "initrd.cpio", "cmdline": "console=ttyS0", "cmdlineAppend": "quiet",
 *   "memoryMib": 512, "vcpus": 2, "disks": [{ "path": "root.img", "readOnly": true }],
 *   "net": [{ "tap": "tap0", "mac": "06:00:ac:10:00:02" }], "vsock": { "cid": 3, "uds": "/tmp/v.sock" },
 *   "console": "serial", "backend": "auto", "discovery": "acpi", "clock": "realtime" }
 * ```
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';
import { parseClock } from './clock.js';
import { quote } from './errors.js';
import { defaultMacFor } from './flags.js';
import { parseJsonKeepingNumbers } from './json-number.js';
import type { DiskConfig, NetConfig, PartialVmmConfig } from './types.js';
import {
  parseBackend,
  parseBool,
  parseCid,
  parseCmdline,
  parseConsole,
  parseDiscovery,
  parseMac,
  parseMemoryMib,
  parsePath,
  parseTapName,
  parseUdsPath,
  parseVcpus,
} from './values.js';

const KEYS = [
  'kernel',
  'initrd',
  'cmdline',
  'cmdlineAppend',
  'memoryMib',
  'vcpus',
  'disks',
  'net',
  'vsock',
  'console',
  'backend',
  'discovery',
  'clock',
] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(field: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) {
      throw VmmError.config(
        field ? `${field}.${k}` : k,
        `unknown setting (expected one of ${allowed.join(', ')})`,
      );
    }
  }
}

function list(field: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw VmmError.config(field, `${quote(v)} is not a list`);
  return v;
}

/**
 * Checks an already-parsed JSON value.
 * @example parseConfigObject({ memoryMib: 128, vcpus: 1 }) // { memoryMib: 128, vcpus: 1 }
 */
export function parseConfigObject(value: unknown): PartialVmmConfig {
  if (!isObject(value)) throw VmmError.config('config', `${quote(value)} is not a JSON object`);
  checkKeys('', value, KEYS);
  const out: PartialVmmConfig = {};
  const v = value;
  if (v.kernel !== undefined) out.kernel = parsePath(v.kernel, 'kernel');
  if (v.initrd !== undefined) out.initrd = parsePath(v.initrd, 'initrd');
  if (v.cmdline !== undefined) out.cmdline = parseCmdline(v.cmdline, 'cmdline');
  if (v.cmdlineAppend !== undefined) out.cmdlineAppend = parseCmdline(v.cmdlineAppend, 'cmdlineAppend');
  if (v.memoryMib !== undefined) out.memoryMib = parseMemoryMib(v.memoryMib, 'memoryMib');
  if (v.vcpus !== undefined) out.vcpus = parseVcpus(v.vcpus, 'vcpus');
  if (v.disks !== undefined) {
    out.disks = list('disks', v.disks).map((d, i): DiskConfig => {
      const f = `disks[${i}]`;
      if (!isObject(d)) throw VmmError.config(f, `${quote(d)} is not an object`);
      checkKeys(f, d, ['path', 'readOnly']);
      return {
        path: parsePath(d.path, `${f}.path`),
        readOnly: d.readOnly === undefined ? false : parseBool(d.readOnly, `${f}.readOnly`),
      };
    });
  }
  if (v.net !== undefined) {
    out.net = list('net', v.net).map((n, i): NetConfig => {
      const f = `net[${i}]`;
      if (!isObject(n)) throw VmmError.config(f, `${quote(n)} is not an object`);
      checkKeys(f, n, ['tap', 'mac']);
      return {
        tap: parseTapName(n.tap, `${f}.tap`),
        mac: n.mac === undefined ? defaultMacFor(i) : parseMac(n.mac, `${f}.mac`),
      };
    });
  }
  if (v.vsock !== undefined && v.vsock !== null) {
    if (!isObject(v.vsock)) throw VmmError.config('vsock', `${quote(v.vsock)} is not an object`);
    checkKeys('vsock', v.vsock, ['cid', 'uds']);
    out.vsock = { cid: parseCid(v.vsock.cid, 'vsock.cid'), uds: parseUdsPath(v.vsock.uds, 'vsock.uds') };
  }
  if (v.console !== undefined) out.console = parseConsole(v.console, 'console');
  if (v.backend !== undefined) out.backend = parseBackend(v.backend, 'backend');
  if (v.discovery !== undefined) out.discovery = parseDiscovery(v.discovery, 'discovery');
  if (v.clock !== undefined) out.clock = parseClock(v.clock, 'clock');
  return out;
}

/**
 * Parses the text of a JSON configuration file.
 * @example parseConfigJson('{"vcpus": 2}') // { vcpus: 2 }
 */
export function parseConfigJson(text: string, source = 'config file'): PartialVmmConfig {
  let value: unknown;
  try {
    value = parseJsonKeepingNumbers(text); // JSON.parse, with numbers no double holds kept as written
  } catch (e) {
    throw VmmError.config(source, `is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfigObject(value);
}
