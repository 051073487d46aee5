/** What went wrong while extracting a bzImage payload. */
export type DecompressErrorKind =
  | 'no-payload' // the bzImage has no payload fields (protocol < 2.08) or an empty payload
  | 'unsupported-compression' // a known or unknown compression this package does not decode
  | 'corrupt' // the compressed stream is malformed or truncated
  | 'too-large'; // the output would exceed the allowed size

/**
 * The one error type of payload extraction ({@link extractVmlinux}, {@link decompressLz4Legacy}).
 *
 * @example
 * ```ts
 * try { extractVmlinux(bzImage); } catch (e) {
 *   if (e instanceof DecompressError && e.kind === 'unsupported-compression') console.error(e.message);
 * }
 * ```
 */
export class DecompressError extends Error {
  override name = 'DecompressError';
  constructor(
    readonly kind: DecompressErrorKind,
    message: string,
  ) {
    super(message);
  }
}
