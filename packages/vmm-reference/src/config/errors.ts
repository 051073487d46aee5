/**
 * The error every configuration check throws: it names the setting (`field`) and the bad value.
 *
 * @example
 * ```ts
 * try { parseMemoryMib('lots'); } catch (e) { if (e instanceof ConfigError) console.error(e.field, e.message); }
 * ```
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The setting at fault, as the user spells it (`--memory`, `disks[1].path`, ...). */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

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
