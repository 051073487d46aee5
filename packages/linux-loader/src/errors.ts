/**
 * The one error class of this package.
 *
 * @module
 */

/**
 * What went wrong, for code that branches on it. The message says which value was bad and why.
 *
 * - `'bad-image'`: a kernel image is malformed: no format recognised, a bad magic, a header field
 *   with an impossible value, or a size or offset pointing past the end of the image.
 * - `'unsupported'`: a well-formed image or payload this package does not handle (an old boot
 *   protocol, a kernel without a 64-bit entry, an ELF32 vmlinux, an xz/bzip2/lzma/lzo payload, PVH
 *   for a kernel without the PVH note).
 * - `'decompress'`: a compressed payload is corrupt or truncated, or decompresses past `maxOutput`.
 * - `'bad-cmdline'`: a kernel command line or a piece of one is refused (a NUL, a control or
 *   non-ASCII character, a `"` in a value, a bad or duplicate key, longer than its capacity).
 * - `'no-space'`: something does not fit in guest memory where it must go (a range not backed by
 *   memory, an initrd with no room left, ACPI tables past their limit, boot data overlapping the kernel).
 * - `'acpi'`: an ACPI description or AML construct is invalid (a bad name segment, a value out of range).
 * - `'mptable'`: an MP table description is invalid (vCPU count, IOAPIC ID or address, IRQ, alignment).
 * - `'invalid-argument'`: any other argument that makes no sense (an E820 map with overlapping or
 *   too many entries, an unaligned address, a non-positive size).
 * @example const isUserInput = (k: LoaderErrorKind) => k === 'bad-image' || k === 'bad-cmdline';
 */
export type LoaderErrorKind =
  | 'bad-image'
  | 'unsupported'
  | 'decompress'
  | 'bad-cmdline'
  | 'no-space'
  | 'acpi'
  | 'mptable'
  | 'invalid-argument';

/**
 * The error every function of `@ts-vmm/linux-loader` throws. A loader or writer that throws has
 * written nothing to guest memory (except {@link setupLinuxBoot}, whose earlier steps stay written
 * when a later one fails). The message names the bad value, e.g.
 * `bzImage: no "HdrS" setup header magic at 0x202 (found 0x0)`.
 *
 * @example
 * ```ts
 * import { LoaderError, loadBzImage } from '@ts-vmm/linux-loader';
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 *
 * const mem = GuestMemory.createShared([{ start: 0, size: 16 << 20 }]);
 * try {
 *   loadBzImage(new Uint8Array(4096), mem);
 * } catch (e) {
 *   if (e instanceof LoaderError && e.kind === 'bad-image') console.error(e.message);
 * }
 * ```
 */
export class LoaderError extends Error {
  override readonly name = 'LoaderError';
  readonly kind: LoaderErrorKind;

  constructor(kind: LoaderErrorKind, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.kind = kind;
  }
}
