import { LoaderError } from '../errors.js';
import { hex } from '../hex.js';

/**
 * Encoded AML bytes (a term, a data object, or a resource descriptor).
 * @example const hid: AmlBytes = Aml.name('_HID', Aml.string('ACPI0013'));
 */
export type AmlBytes = Uint8Array;

function cat(parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** PkgLength for `len` bytes of content following it (ACPI 6.5 §20.2.4). */
function pkgLength(len: number): number[] {
  if (len + 1 < 0x40) return [len + 1];
  let total = len + 2;
  if (total < 0x1000) return [0x40 | (total & 0xf), total >> 4];
  total = len + 3;
  if (total < 0x100000) return [0x80 | (total & 0xf), (total >> 4) & 0xff, total >> 12];
  total = len + 4;
  if (total < 0x10000000)
    return [0xc0 | (total & 0xf), (total >> 4) & 0xff, (total >> 12) & 0xff, total >> 20];
  throw new LoaderError('acpi', `AML package of ${len} bytes exceeds the 2^28 PkgLength limit`);
}

function withPkg(prefix: readonly number[], body: readonly Uint8Array[]): Uint8Array {
  const content = cat(body);
  return cat([prefix, pkgLength(content.length), content]);
}

function nameSeg(seg: string, path: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(seg)) {
    throw new LoaderError(
      'acpi',
      `AML name segment ${JSON.stringify(seg)} in ${JSON.stringify(path)} must be 1-4 of A-Z, 0-9, _ and not start with a digit`,
    );
  }
  const s = seg.padEnd(4, '_');
  return Array.from(s, (c) => c.charCodeAt(0));
}

/** Encodes a NameString: `\_SB_.COM1`, `^PARN`, `_HID` (segments padded with `_`). */
function nameString(path: string): Uint8Array {
  let p = path;
  const prefix: number[] = [];
  if (p.startsWith('\\')) {
    prefix.push(0x5c);
    p = p.slice(1);
  } else {
    while (p.startsWith('^')) {
      prefix.push(0x5e);
      p = p.slice(1);
    }
  }
  if (p === '') return Uint8Array.from([...prefix, 0x00]);
  const segs = p.split('.').map((s) => nameSeg(s, path));
  if (segs.length > 255)
    throw new LoaderError('acpi', `AML path ${JSON.stringify(path)} has too many segments`);
  if (segs.length === 1) return Uint8Array.from([...prefix, ...segs[0]]);
  if (segs.length === 2) return Uint8Array.from([...prefix, 0x2e, ...segs[0], ...segs[1]]);
  return Uint8Array.from([...prefix, 0x2f, segs.length, ...segs.flat()]);
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function checkInt(what: string, n: number, max: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    throw new LoaderError(
      'acpi',
      `${what} ${typeof n === 'number' ? hex(n) : n} must be an integer in [0, ${hex(max)}]`,
    );
  }
}

/**
 * Flags of an extended interrupt descriptor.
 * @example Aml.interrupt([9], { edge: false, activeLow: true } satisfies InterruptFlags);
 */
export interface InterruptFlags {
  /** ResourceConsumer (default) or ResourceProducer. */
  consumer?: boolean;
  /** Edge (default) or level triggered. */
  edge?: boolean;
  /** ActiveLow, default ActiveHigh. */
  activeLow?: boolean;
  shared?: boolean;
  wake?: boolean;
}

/**
 * A small AML encoder: enough of ACPI Machine Language to describe devices with resources, names,
 * packages and simple methods in a DSDT. Each function returns encoded bytes; compose them.
 *
 * @example
 * ```ts
 * const dev = Aml.device('VR00', [
 *   Aml.name('_HID', Aml.string('LNRO0005')),
 *   Aml.name('_UID', Aml.integer(0)),
 *   Aml.name('_CRS', Aml.resourceTemplate([Aml.memory32Fixed(0xd0000000, 0x1000), Aml.interrupt([5])])),
 * ]);
 * const body = Aml.scope('\\_SB_', [dev]);
 * ```
 */
export const Aml = {
  /** Integer constant with the shortest encoding (Zero, One, Byte/Word/DWord/QWord prefix). */
  integer(n: number | bigint): AmlBytes {
    const v = BigInt(n);
    if (v < 0n || v > 0xffffffffffffffffn) throw new LoaderError('acpi', `AML integer ${n} is out of range`);
    if (v === 0n) return Uint8Array.of(0x00);
    if (v === 1n) return Uint8Array.of(0x01);
    const bytes = (k: number) => Array.from({ length: k }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
    if (v <= 0xffn) return Uint8Array.from([0x0a, ...bytes(1)]);
    if (v <= 0xffffn) return Uint8Array.from([0x0b, ...bytes(2)]);
    if (v <= 0xffffffffn) return Uint8Array.from([0x0c, ...bytes(4)]);
    return Uint8Array.from([0x0e, ...bytes(8)]);
  },
  /** String constant (ASCII 0x01–0x7f). */
  string(s: string): AmlBytes {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 1 || c > 0x7f)
        throw new LoaderError(
          'acpi',
          `AML string ${JSON.stringify(s)} has a byte ${hex(c)} outside ASCII 0x01-0x7f`,
        );
    }
    return Uint8Array.from([0x0d, ...Array.from(s, (c) => c.charCodeAt(0)), 0x00]);
  },
  /** A compressed EISA ID such as `EisaId("PNP0501")`, as a DWord constant. */
  eisaId(id: string): AmlBytes {
    if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) {
      throw new LoaderError('acpi', `EISA ID ${JSON.stringify(id)} must be 3 letters and 4 hex digits`);
    }
    const c = (i: number) => (id.charCodeAt(i) - 0x40) & 0x1f;
    const v = (c(0) << 10) | (c(1) << 5) | c(2);
    const d = Number.parseInt(id.slice(3), 16);
    return Uint8Array.of(0x0c, v >> 8, v & 0xff, d >> 8, d & 0xff);
  },
  /** `Name(path, value)`. */
  name(path: string, value: AmlBytes): AmlBytes {
    return cat([[0x08], nameString(path), value]);
  },
  /** `Scope(path) { ... }`. */
  scope(path: string, children: readonly AmlBytes[]): AmlBytes {
    return withPkg([0x10], [nameString(path), ...children]);
  },
  /** `Device(name) { ... }`. */
  device(path: string, children: readonly AmlBytes[]): AmlBytes {
    return withPkg([0x5b, 0x82], [nameString(path), ...children]);
  },
  /** `Method(name, argCount, Serialized?) { ... }`. */
  method(path: string, argCount: number, serialized: boolean, body: readonly AmlBytes[]): AmlBytes {
    checkInt('method argument count', argCount, 7);
    return withPkg([0x14], [nameString(path), Uint8Array.of(argCount | (serialized ? 0x08 : 0)), ...body]);
  },
  /** `Return(value)`. */
  return(value: AmlBytes): AmlBytes {
    return cat([[0xa4], value]);
  },
  /** `Package() { ... }` (up to 255 elements). */
  package(elements: readonly AmlBytes[]): AmlBytes {
    if (elements.length > 255)
      throw new LoaderError('acpi', `AML package of ${elements.length} elements exceeds 255`);
    return withPkg([0x12], [Uint8Array.of(elements.length), ...elements]);
  },
  /** `Buffer() { bytes }`. */
  buffer(bytes: Uint8Array): AmlBytes {
    return withPkg([0x11], [Aml.integer(bytes.length), bytes]);
  },
  /** `ResourceTemplate() { ... }`: a buffer of descriptors closed by an End Tag. */
  resourceTemplate(descriptors: readonly AmlBytes[]): AmlBytes {
    return Aml.buffer(cat([...descriptors, [0x79, 0x00]]));
  },
  /** `Memory32Fixed(ReadWrite|ReadOnly, base, length)`. */
  memory32Fixed(base: number, length: number, writeable = true): AmlBytes {
    checkInt('Memory32Fixed base', base, 0xffffffff);
    checkInt('Memory32Fixed length', length, 0xffffffff);
    if (base + length > 2 ** 32) {
      throw new LoaderError('acpi', `Memory32Fixed range ${hex(base)}+${hex(length)} crosses 4 GiB`);
    }
    return Uint8Array.from([0x86, 0x09, 0x00, writeable ? 1 : 0, ...u32le(base), ...u32le(length)]);
  },
  /** `Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) { irqs }` (extended interrupt descriptor). */
  interrupt(irqs: readonly number[], flags: InterruptFlags = {}): AmlBytes {
    if (irqs.length < 1 || irqs.length > 255)
      throw new LoaderError('acpi', `Interrupt needs 1-255 IRQs, got ${irqs.length}`);
    for (const i of irqs) checkInt('Interrupt number', i, 0xffffffff);
    const f =
      ((flags.consumer ?? true) ? 0x01 : 0) |
      ((flags.edge ?? true) ? 0x02 : 0) |
      (flags.activeLow ? 0x04 : 0) |
      (flags.shared ? 0x08 : 0) |
      (flags.wake ? 0x10 : 0);
    const len = 2 + 4 * irqs.length;
    return Uint8Array.from([0x89, len & 0xff, len >> 8, f, irqs.length, ...irqs.flatMap(u32le)]);
  },
  /** `IO(Decode16, min, max, alignment, length)`. */
  io(min: number, max: number, alignment: number, length: number): AmlBytes {
    checkInt('IO minimum', min, 0xffff);
    checkInt('IO maximum', max, 0xffff);
    checkInt('IO alignment', alignment, 0xff);
    checkInt('IO length', length, 0xff);
    return Uint8Array.of(0x47, 0x01, min & 0xff, min >> 8, max & 0xff, max >> 8, alignment, length);
  },
  /** `IRQNoFlags() { irqs }` (ISA IRQs 0–15). */
  irqNoFlags(irqs: readonly number[]): AmlBytes {
    let mask = 0;
    for (const i of irqs) {
      checkInt('IRQNoFlags IRQ', i, 15);
      mask |= 1 << i;
    }
    return Uint8Array.of(0x22, mask & 0xff, mask >> 8);
  },
} as const;
