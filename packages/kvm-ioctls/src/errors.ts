/**
 * The one error class of this package.
 *
 * @module
 */

/** What went wrong, for code that branches on it. */
export type KvmErrorKind =
  /** A syscall or ioctl failed; `errno` and `code` say how. */
  | 'syscall'
  /** A wrapper (`Kvm`, `VmFd`, `VcpuFd`, `DeviceFd`, ...) was used after `close()`. */
  | 'closed'
  /** An argument was rejected before reaching the kernel (bad size, overlap, out of range). */
  | 'invalid-argument'
  /** KVM or the host lacks something required (no /dev/kvm, wrong API version, missing capability). */
  | 'unsupported';

/**
 * An error from a KVM operation. The message names the operation, the errno name and the
 * kernel's text, e.g. `KVM_SET_USER_MEMORY_REGION slot 1 failed: EEXIST (File exists)`.
 *
 * @example
 * ```ts
 * declare const hostAddress: bigint; // of a page-aligned 4 KiB mapping
 * const vm = kvm.createVm();
 * try {
 *   vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0n, memorySize: 4096n, userspaceAddr: hostAddress });
 * } catch (e) {
 *   if (e instanceof KvmError && e.code === 'EEXIST') console.log('slot overlaps', e.operation);
 * }
 * ```
 */
export class KvmError extends Error {
  override readonly name = 'KvmError';
  /** Linux errno (0 when the error did not come from the kernel). */
  readonly errno: number;
  /** errno name (`'EEXIST'`), or `'ECLOSED'`, `'EINVAL'`, `'ENOTSUP'` for errors raised here. */
  readonly code: string;
  /** The operation, e.g. `'KVM_SET_USER_MEMORY_REGION slot 1'`. */
  readonly operation: string;
  readonly kind: KvmErrorKind;

  constructor(
    kind: KvmErrorKind,
    operation: string,
    code: string,
    errno: number,
    detail?: string,
    cause?: unknown,
  ) {
    super(
      `${operation} failed: ${code}${detail ? ` (${detail})` : ''}`,
      cause === undefined ? undefined : { cause },
    );
    this.kind = kind;
    this.operation = operation;
    this.code = code;
    this.errno = errno;
  }

  /**
   * Wraps an error thrown by the native addon (it carries `errno`, `code`, `syscall`).
   * @example throw KvmError.fromSyscall('KVM_RUN', e)
   */
  static fromSyscall(operation: string, e: unknown): KvmError {
    if (e instanceof KvmError) return e;
    const err = e as { errno?: number; code?: string; message?: string };
    if (typeof err?.errno === 'number' && typeof err.code === 'string') {
      return new KvmError('syscall', operation, err.code, err.errno, strerror(err.errno) ?? err.message, e);
    }
    return new KvmError('syscall', operation, 'EUNKNOWN', 0, String((e as Error)?.message ?? e), e);
  }

  /**
   * The error for use of a closed wrapper.
   * @example throw KvmError.closed('VmFd', 'KVM_CREATE_VCPU 0')
   */
  static closed(what: string, operation: string): KvmError {
    return new KvmError('closed', operation, 'ECLOSED', 0, `${what} is closed`);
  }

  /**
   * The error for an argument rejected before reaching the kernel.
   * @example throw KvmError.invalid('KVM_SET_LAPIC', 'register page is 10 bytes')
   */
  static invalid(operation: string, detail: string): KvmError {
    return new KvmError('invalid-argument', operation, 'EINVAL', 22, detail);
  }
}

const STRERROR: Record<number, string> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  4: 'Interrupted system call',
  5: 'Input/output error',
  9: 'Bad file descriptor',
  11: 'Resource temporarily unavailable',
  12: 'Cannot allocate memory',
  13: 'Permission denied',
  14: 'Bad address',
  16: 'Device or resource busy',
  17: 'File exists',
  19: 'No such device',
  22: 'Invalid argument',
  24: 'Too many open files',
  25: 'Inappropriate ioctl for device',
  28: 'No space left on device',
  34: 'Numerical result out of range',
  38: 'Function not implemented',
  95: 'Operation not supported',
  7: 'Argument list too long',
  6: 'No such device or address',
};

function strerror(errno: number): string | undefined {
  return STRERROR[errno];
}
