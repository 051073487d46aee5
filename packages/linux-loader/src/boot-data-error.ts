/** What went wrong while writing boot data (zero page, PVH start info, E820 map). */
export type BootDataErrorKind =
  | 'guest-memory' // a structure does not fit in guest memory where it was asked to go
  | 'too-many-entries' // more E820 / memory map entries than the structure holds
  | 'invalid-value' // a field value does not fit its field or makes no sense
  | 'overlap'; // two memory map entries or structures overlap

/**
 * The one error type of the boot data writers ({@link writeZeroPage}, {@link writePvhStartInfo},
 * {@link e820ForMemory}).
 *
 * @example
 * ```ts
 * try { writeZeroPage(mem, opts); } catch (e) {
 *   if (e instanceof BootDataError) console.error(e.kind, e.message);
 * }
 * ```
 */
export class BootDataError extends Error {
  override name = 'BootDataError';
  constructor(
    readonly kind: BootDataErrorKind,
    message: string,
  ) {
    super(message);
  }
}
