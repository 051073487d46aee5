/**
 * Parsers for the comma-separated device flags: `--disk PATH[,ro]`, `--net tap=NAME[,mac=MAC]`,
 * `--vsock cid=N,uds=PATH`.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';
import { quote } from './errors.js';
import type { DiskConfig, NetConfig, VsockConfig } from './types.js';
import { parseCid, parseMac, parsePath, parseTapName, parseUdsPath } from './values.js';

function keyValues(field: string, raw: string, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw VmmError.config(field, `${quote(part)} in ${quote(raw)} is not key=value`);
    const k = part.slice(0, eq);
    if (!allowed.includes(k)) {
      throw VmmError.config(
        field,
        `unknown key ${quote(k)} in ${quote(raw)} (expected ${allowed.join(', ')})`,
      );
    }
    if (out.has(k)) throw VmmError.config(field, `key ${quote(k)} given twice in ${quote(raw)}`);
    out.set(k, part.slice(eq + 1));
  }
  return out;
}

/**
 * `PATH`, `PATH,ro`, `PATH,rw`, or `path=PATH[,ro]`.
 * @example parseDiskSpec('rootfs.ext4,ro') // { path: 'rootfs.ext4', readOnly: true }
 */
export function parseDiskSpec(raw: string, field = '--disk'): DiskConfig {
  if (typeof raw !== 'string') throw VmmError.config(field, `${quote(raw)} is not a disk spec`);
  let body = raw;
  if (body.startsWith('path=')) body = body.slice(5);
  let readOnly = false;
  const m = /,(ro|rw|readonly|read-only)$/.exec(body);
  if (m) {
    readOnly = m[1] !== 'rw';
    body = body.slice(0, m.index);
  }
  return { path: parsePath(body, `${field} path`), readOnly };
}

/**
 * `tap=NAME[,mac=MAC]`; without `mac=`, the interface gets `defaultMac`.
 * @example
 * parseNetSpec('tap=tap0', defaultMacFor(0)); // { tap: 'tap0', mac: '06:00:ac:10:00:02' }
 */
export function parseNetSpec(raw: string, defaultMac: string, field = '--net'): NetConfig {
  if (typeof raw !== 'string') throw VmmError.config(field, `${quote(raw)} is not a net spec`);
  const kv = keyValues(field, raw, ['tap', 'mac']);
  if (!kv.has('tap')) throw VmmError.config(field, `${quote(raw)} lacks tap=NAME`);
  return {
    tap: parseTapName(kv.get('tap'), `${field} tap`),
    mac: kv.has('mac') ? parseMac(kv.get('mac'), `${field} mac`) : defaultMac,
  };
}

/**
 * `cid=N,uds=PATH`.
 * @example parseVsockSpec('cid=3,uds=/tmp/v.sock') // { cid: 3, uds: '/tmp/v.sock' }
 */
export function parseVsockSpec(raw: string, field = '--vsock'): VsockConfig {
  if (typeof raw !== 'string') throw VmmError.config(field, `${quote(raw)} is not a vsock spec`);
  const kv = keyValues(field, raw, ['cid', 'uds']);
  if (!kv.has('cid')) throw VmmError.config(field, `${quote(raw)} lacks cid=N`);
  if (!kv.has('uds')) throw VmmError.config(field, `${quote(raw)} lacks uds=PATH`);
  return { cid: parseCid(kv.get('cid'), `${field} cid`), uds: parseUdsPath(kv.get('uds'), `${field} uds`) };
}
