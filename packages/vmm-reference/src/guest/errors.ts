/**
 * The error the default-guest builder throws (cpio, modules.dep, apt-get/dpkg-deb failures).
 *
 * @example
 * ```ts
 * try { await buildDefaultGuest(); } catch (e) { if (e instanceof GuestBuildError) console.error(e.message); }
 * ```
 */
export class GuestBuildError extends Error {
  override readonly name = 'GuestBuildError';
}
