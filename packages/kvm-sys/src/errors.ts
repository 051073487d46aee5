/**
 * The one error class of this package. (A failing native call throws the addon's own error, a
 * `SyscallError`: a plain `Error` carrying `errno`, `code` and `syscall`.)
 *
 * @module
 */

/** What went wrong, for code that branches on it. */
export type KvmSysErrorKind =
  /**
   * The native addon cannot be loaded: not Linux x86-64, or every candidate file is missing or fails
   * to load. The message names each path tried, why, and how to get the addon; `cause` is the first
   * load error.
   */
  | 'addon-unavailable'
  /** A struct layout definition is inconsistent (a misaligned field, a size smaller than its fields, no count field). */
  | 'layout'
  /**
   * A value does not fit its struct: a buffer too short to decode from or encode into, an array
   * longer than its field, an entry count that is not a whole number.
   */
  | 'bounds';

/**
 * An error of kvm-sys. The message names the bad value, e.g.
 * `kvm_regs: needs 144 bytes at offset 0, buffer has 16`.
 *
 * @example
 * ```ts
 * try {
 *   loadAddon();
 * } catch (e) {
 *   if (e instanceof KvmSysError && e.kind === 'addon-unavailable') console.error(e.message);
 *   else throw e;
 * }
 * ```
 */
export class KvmSysError extends Error {
  override readonly name = 'KvmSysError';
  readonly kind: KvmSysErrorKind;

  constructor(kind: KvmSysErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
  }
}
