/**
 * Helpers for configuration error messages. The error itself is `VmmError` of kind `'config'`
 * (`VmmError.config(field, detail)`, in `../vmm/errors.ts`), whose `field` names the setting.
 *
 * @module
 */
import { JsonNumberText } from './json-number.js';

/**
 * Quotes a user-supplied value for an error message (truncated, control characters escaped); a
 * JSON number as written in the file (`1e400`, which a double would turn into `Infinity`).
 */
export function quote(value: unknown): string {
  let s: string;
  try {
    if (value instanceof JsonNumberText) s = value.text;
    else s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    s = String(value);
  }
  if (s.length > 80) s = `${s.slice(0, 77)}...`;
  return JSON.stringify(s);
}
