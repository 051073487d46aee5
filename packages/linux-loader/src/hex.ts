/** Formats a number or bigint as `0x...` for messages. @example hex(4096) // '0x1000' */
export function hex(n: number | bigint): string {
  if (typeof n === 'number' && !Number.isFinite(n)) return String(n);
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}
