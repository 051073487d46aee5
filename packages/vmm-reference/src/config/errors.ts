/**
 * Helpers for configuration error messages. The error itself is `VmmError` of kind `'config'`
 * (`VmmError.config(field, detail)`, in `../vmm/errors.ts`), whose `field` names the setting.
 *
 * @module
 */

/** Quotes a user-supplied value for an error message (truncated, control characters escaped). */
export function quote(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  if (s.length > 80) s = `${s.slice(0, 77)}...`;
  return JSON.stringify(s);
}
