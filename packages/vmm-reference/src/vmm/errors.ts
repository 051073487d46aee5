/**
 * The one error class of this package.
 *
 * @module
 */

/** What went wrong, for code that branches on it. */
export type VmmErrorKind =
  /** A setting was rejected (a flag, a config-file field, a combination of them); `field` names it. */
  | 'config'
  /** Building the default guest failed (apt-get, dpkg-deb, a module, a cpio archive, modules.dep). */
  | 'guest-build'
  /**
   * No hypervisor backend can run the VM: the one asked for is not installed or not available here,
   * its speed probe failed, it allows fewer vCPUs than configured, or it failed to set the VM up.
   */
  | 'backend'
  /** Guest memory cannot be created. */
  | 'memory'
  /** The kernel or initrd cannot be read, loaded or placed (not a kernel, no room, a kernel on the ACPI tables). */
  | 'boot'
  /** A device cannot be attached (a disk image, a tap interface, a vsock socket). */
  | 'device'
  /** Setting up a vCPU failed (CPUID, MSRs, registers). */
  | 'vcpu'
  /** The VMM was used out of order (`run()` twice). */
  | 'state'
  /** A snapshot state file cannot be read (truncated, bad magic, unsupported version, checksum mismatch, a malformed field). */
  | 'snapshot';

/**
 * An error of the reference VMM: configuration, the default-guest builder, backend selection, guest
 * loading, devices, vCPU setup. The message names the bad value, e.g.
 * `--memory: "lots" is not a whole number of MiB` or `disk /nonexistent/disk.img: ENOENT ...`.
 *
 * @example
 * ```ts
 * try {
 *   await Vmm.create(resolveConfig({ flags: parseRunFlags(process.argv.slice(2)).config }));
 * } catch (e) {
 *   if (e instanceof VmmError && e.kind === 'config') console.error(`bad ${e.field}: ${e.message}`);
 *   else throw e;
 * }
 * ```
 */
export class VmmError extends Error {
  override readonly name = 'VmmError';
  readonly kind: VmmErrorKind;
  /**
   * For kind `'config'`: the setting at fault, as the user spells it (`--memory`, `disks[1].path`,
   * ...); the message starts with it.
   */
  readonly field?: string;

  constructor(kind: VmmErrorKind, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(
      options.field === undefined ? message : `${options.field}: ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.kind = kind;
    if (options.field !== undefined) this.field = options.field;
  }

  /**
   * The error for a rejected setting: kind `'config'`, `field` set, the message `field: detail`.
   * @example throw VmmError.config('--memory', '"lots" is not a whole number of MiB')
   */
  static config(field: string, detail: string): VmmError {
    return new VmmError('config', detail, { field });
  }
}
