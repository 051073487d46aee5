/**
 * Sum of bytes modulo 256 (ACPI and MP tables are valid when this is 0 over the table).
 * @example byteSum(Uint8Array.of(1, 255)) // 0
 */
export function byteSum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let s = 0;
  for (let i = start; i < end; i++) s = (s + bytes[i]) & 0xff;
  return s;
}

/**
 * Sets `bytes[at]` so that bytes `[start, end)` sum to 0 modulo 256.
 * @example const t = Uint8Array.of(5, 0); fixChecksum(t, 1); // t[1] === 251
 */
export function fixChecksum(bytes: Uint8Array, at: number, start = 0, end = bytes.length): void {
  bytes[at] = 0;
  bytes[at] = (256 - byteSum(bytes, start, end)) & 0xff;
}
