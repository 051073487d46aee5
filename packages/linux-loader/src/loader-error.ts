/** What went wrong while loading a kernel image. */
export type LoaderErrorKind =
  | 'unknown-format' // no loader recognises the image
  | 'truncated' // a header, segment or table points past the end of the image
  | 'bad-magic' // a magic number or signature is wrong
  | 'bad-header' // a header field has an impossible value
  | 'unsupported' // a valid image this loader does not support (old protocol, 32-bit only, ...)
  | 'guest-memory'; // the image does not fit in guest memory where it must go

/**
 * The one error type of the kernel image loaders (bzImage, ELF, Multiboot, {@link load}).
 * A loader that throws has written nothing to guest memory.
 *
 * @example
 * ```ts
 * try { loadBzImage(image, mem); } catch (e) {
 *   if (e instanceof LoaderError && e.kind === 'truncated') console.error(e.message);
 * }
 * ```
 */
export class LoaderError extends Error {
  override name = 'LoaderError';
  constructor(
    readonly kind: LoaderErrorKind,
    message: string,
  ) {
    super(message);
  }
}
