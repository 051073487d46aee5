import { fixChecksum } from '../checksum.js';
import { LoaderError } from '../errors.js';

/**
 * Length of the common System Description Table header.
 * @example sdt('SSDT', 2, new Uint8Array(4)).length; // SDT_HEADER_SIZE + 4
 */
export const SDT_HEADER_SIZE = 36;

/**
 * OEM fields shared by every table.
 * @example sdt('SSDT', 2, new Uint8Array(0), { oemId: 'ACME', oemTableId: 'ACMESSDT' } satisfies AcpiOem);
 */
export interface AcpiOem {
  /** 6 characters. Default "TSVMM ". */
  oemId?: string;
  /** 8 characters; default "TSVMM" + the signature's first 3 letters. */
  oemTableId?: string;
  oemRevision?: number;
}

function ascii(buf: Uint8Array, at: number, s: string, len: number, what: string): void {
  if (s.length > len || !/^[\x20-\x7e]*$/.test(s)) {
    throw new LoaderError(
      'acpi',
      `ACPI ${what} ${JSON.stringify(s)} must be at most ${len} printable ASCII characters`,
    );
  }
  const padded = s.padEnd(len, ' ');
  for (let i = 0; i < len; i++) buf[at + i] = padded.charCodeAt(i);
}

/**
 * Makes a complete table: header (signature, length, revision, OEM fields, creator "TSVM") followed by
 * `body`, with the checksum set so the whole table sums to 0.
 *
 * @example
 * ```ts
 * const dsdt = sdt('DSDT', 2, Aml.scope('\\_SB_', []));
 * ```
 */
export function sdt(signature: string, revision: number, body: Uint8Array, oem: AcpiOem = {}): Uint8Array {
  if (!/^[A-Z0-9]{4}$/.test(signature))
    throw new LoaderError('acpi', `ACPI signature ${JSON.stringify(signature)} is not 4 characters`);
  const t = new Uint8Array(SDT_HEADER_SIZE + body.length);
  const v = new DataView(t.buffer);
  ascii(t, 0, signature, 4, 'signature');
  v.setUint32(4, t.length, true);
  t[8] = revision;
  ascii(t, 10, oem.oemId ?? 'TSVMM', 6, 'OEM ID');
  ascii(t, 16, oem.oemTableId ?? `TSVMM${signature.slice(0, 3)}`, 8, 'OEM table ID');
  v.setUint32(24, oem.oemRevision ?? 1, true);
  ascii(t, 28, 'TSVM', 4, 'creator ID');
  v.setUint32(32, 1, true);
  t.set(body, SDT_HEADER_SIZE);
  fixChecksum(t, 9);
  return t;
}

/** Re-sets the checksum of a table after a field was patched. @example refreshChecksum(fadt) */
export function refreshChecksum(table: Uint8Array): void {
  fixChecksum(table, 9);
}
