/**
 * Parsers for single configuration values. Each takes the raw value (a flag's string or a JSON value)
 * and either returns it in canonical form or throws a {@link VmmError} of kind `'config'` naming the field and value.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';
import { quote } from './errors.js';
import { JsonNumberText } from './json-number.js';
import {
  type BackendChoice,
  type ConsoleChoice,
  type DeviceDiscovery,
  MAX_MEMORY_MIB,
  MAX_VCPUS,
  MIN_MEMORY_MIB,
} from './types.js';

/** Longest kernel command line accepted (x86 COMMAND_LINE_SIZE is 2048 including the NUL). */
export const MAX_CMDLINE_LENGTH = 2047;

/**
 * An integer from a number, a JSON number kept as written ({@link JsonNumberText}) or a flag's
 * decimal/hex string; `outOfRange(shown)` words the error for whole numbers too big for a double
 * to hold exactly, with the value as the user wrote it.
 */
function intFrom(field: string, raw: unknown, what: string, outOfRange: (shown: string) => string): number {
  let n: number;
  let shown: string;
  if (raw instanceof JsonNumberText) {
    if (!raw.integral) throw VmmError.config(field, `${quote(raw)} is not ${what}`);
    if (!raw.exact || !Number.isSafeInteger(raw.value)) throw VmmError.config(field, outOfRange(raw.text));
    n = raw.value;
    shown = raw.text;
  } else if (typeof raw === 'number') {
    n = raw;
    shown = String(raw);
  } else if (typeof raw === 'string' && /^\s*(0x[0-9a-fA-F]+|[0-9]+)\s*$/.test(raw)) {
    shown = raw.trim();
    n = Number(shown);
  } else {
    throw VmmError.config(field, `${quote(raw)} is not ${what}`);
  }
  if (!Number.isInteger(n)) throw VmmError.config(field, `${quote(raw)} is not ${what}`);
  if (!Number.isSafeInteger(n)) throw VmmError.config(field, outOfRange(shown));
  return n;
}

/** A JSON number as written in the file, else the value. */
function shownAs(raw: unknown, n: number): string {
  return raw instanceof JsonNumberText ? raw.text : String(n);
}

/**
 * Guest memory in MiB: an integer in [2, 1048576].
 * @example parseMemoryMib('512') // 512
 */
export function parseMemoryMib(raw: unknown, field = '--memory'): number {
  const range = (shown: string) => `${shown} MiB is out of range (${MIN_MEMORY_MIB}..${MAX_MEMORY_MIB})`;
  const n = intFrom(field, raw, 'a whole number of MiB', range);
  if (n < MIN_MEMORY_MIB || n > MAX_MEMORY_MIB) throw VmmError.config(field, range(shownAs(raw, n)));
  return n;
}

/**
 * vCPU count: an integer in [1, 254].
 * @example parseVcpus(2) // 2
 */
export function parseVcpus(raw: unknown, field = '--vcpus'): number {
  const range = (shown: string) => `${shown} vCPUs is out of range (1..${MAX_VCPUS})`;
  const n = intFrom(field, raw, 'a whole number of vCPUs', range);
  if (n < 1 || n > MAX_VCPUS) throw VmmError.config(field, range(shownAs(raw, n)));
  return n;
}

/**
 * A host file path: a non-empty string without NUL bytes.
 * @example parsePath('./bzImage', '--kernel') // './bzImage'
 */
export function parsePath(raw: unknown, field: string): string {
  if (typeof raw !== 'string') throw VmmError.config(field, `${quote(raw)} is not a path string`);
  if (raw.length === 0) throw VmmError.config(field, 'the path is empty');
  if (raw.includes('\0')) throw VmmError.config(field, `${quote(raw)} contains a NUL byte`);
  if (raw.length > 4095) throw VmmError.config(field, `${quote(raw)} is longer than PATH_MAX`);
  return raw;
}

/**
 * A kernel command line fragment: printable ASCII (space allowed), at most 2047 characters.
 * @example parseCmdline('console=ttyS0 quiet') // 'console=ttyS0 quiet'
 */
export function parseCmdline(raw: unknown, field = '--cmdline'): string {
  if (typeof raw !== 'string') throw VmmError.config(field, `${quote(raw)} is not a string`);
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) {
      throw VmmError.config(
        field,
        `${quote(raw)} has a character the kernel command line cannot hold (code ${c} at offset ${i})`,
      );
    }
  }
  const s = raw.trim().replace(/ {2,}/g, ' ');
  if (s.length > MAX_CMDLINE_LENGTH) {
    throw VmmError.config(
      field,
      `command line is ${s.length} characters; the limit is ${MAX_CMDLINE_LENGTH}`,
    );
  }
  let quotes = 0;
  for (const ch of s) if (ch === '"') quotes++;
  if (quotes % 2 !== 0) throw VmmError.config(field, `${quote(raw)} has an unbalanced double quote`);
  return s;
}

/**
 * A MAC address `aa:bb:cc:dd:ee:ff` (or with dashes); must be unicast. Returned lower case with colons.
 * @example parseMac('06-00-AC-10-00-02') // '06:00:ac:10:00:02'
 */
export function parseMac(raw: unknown, field = 'mac'): string {
  if (typeof raw !== 'string' || !/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(raw)) {
    throw VmmError.config(field, `${quote(raw)} is not a MAC address (want aa:bb:cc:dd:ee:ff)`);
  }
  const mac = raw.toLowerCase().replace(/-/g, ':');
  if (Number.parseInt(mac.slice(0, 2), 16) & 1) {
    throw VmmError.config(field, `${quote(raw)} is a multicast address; a NIC needs a unicast MAC`);
  }
  return mac;
}

/**
 * A tap interface name: 1..15 characters, no '/', ':' or whitespace, not '.' or '..'.
 * @example parseTapName('tap0') // 'tap0'
 */
export function parseTapName(raw: unknown, field = 'tap'): string {
  if (typeof raw !== 'string' || raw.length === 0) {
    throw VmmError.config(field, `${quote(raw)} is not an interface name`);
  }
  if (raw.length > 15) throw VmmError.config(field, `${quote(raw)} is longer than 15 characters (IFNAMSIZ)`);
  if (raw === '.' || raw === '..' || /[/:\s\0]/.test(raw) || !/^[\x21-\x7e]+$/.test(raw)) {
    throw VmmError.config(field, `${quote(raw)} is not a valid interface name`);
  }
  return raw;
}

/**
 * A vsock context ID for the guest: 3 .. 0xfffffffe (0-2 are reserved, 0xffffffff is VMADDR_CID_ANY).
 * @example parseCid('3') // 3
 */
export function parseCid(raw: unknown, field = 'cid'): number {
  const range = (shown: string) => `${shown} is not a guest CID (3..4294967294)`;
  const n = intFrom(field, raw, 'a context ID', range);
  if (n < 3 || n > 0xfffffffe) throw VmmError.config(field, range(shownAs(raw, n)));
  return n;
}

/**
 * A Unix socket path: non-empty, at most 107 bytes (sun_path).
 * @example parseUdsPath('/tmp/vm.vsock') // '/tmp/vm.vsock'
 */
export function parseUdsPath(raw: unknown, field = 'uds'): string {
  const p = parsePath(raw, field);
  if (Buffer.byteLength(p) > 107)
    throw VmmError.config(field, `${quote(p)} is longer than 107 bytes (sun_path)`);
  return p;
}

function oneOf<T extends string>(raw: unknown, field: string, choices: readonly T[]): T {
  if (typeof raw === 'string' && (choices as readonly string[]).includes(raw)) return raw as T;
  throw VmmError.config(field, `${quote(raw)} is not one of ${choices.join(', ')}`);
}

/** @example parseBackend('kvm') // 'kvm' */
export function parseBackend(raw: unknown, field = '--backend'): BackendChoice {
  return oneOf(raw, field, ['auto', 'kvm', 'emulated'] as const);
}

/** @example parseConsole('serial') // 'serial' */
export function parseConsole(raw: unknown, field = '--console'): ConsoleChoice {
  return oneOf(raw, field, ['serial', 'virtio', 'none'] as const);
}

/** @example parseDiscovery('acpi') // 'acpi' */
export function parseDiscovery(raw: unknown, field = '--discovery'): DeviceDiscovery {
  return oneOf(raw, field, ['acpi', 'cmdline', 'both'] as const);
}

/** A boolean from JSON (true/false) or a flag value (true/false/yes/no/1/0). */
export function parseBool(raw: unknown, field: string): boolean {
  if (typeof raw === 'boolean') return raw;
  if (raw === 'true' || raw === 'yes' || raw === '1') return true;
  if (raw === 'false' || raw === 'no' || raw === '0') return false;
  throw VmmError.config(field, `${quote(raw)} is not true or false`);
}
