/**
 * The error class of `@ts-vmm/hypervisor`.
 *
 * @module
 */

/** What went wrong, for callers that branch on it. */
export type HypervisorErrorKind =
  /** A saved CPU state needs features the target hypervisor does not offer. */
  | 'incompatible-cpu'
  /** A saved state is malformed or does not fit the VM it is restored into. */
  | 'invalid-state';

/**
 * An error of the backend-neutral snapshot helpers (`captureVcpuState`, `restoreVcpuState`, ...).
 * `kind` says what failed; the message names the operation and the offending part.
 * @example
 * ```ts
 * try {
 *   restoreVcpuState(hv, vcpu, saved);
 * } catch (e) {
 *   if (e instanceof HypervisorError && e.kind === 'incompatible-cpu') console.log(e.missing);
 * }
 * ```
 */
export class HypervisorError extends Error {
  override readonly name = 'HypervisorError';
  readonly kind: HypervisorErrorKind;
  /** The operation that failed, such as `restoreVcpuState`. */
  readonly operation: string;
  /** For `incompatible-cpu`: the missing features, each as `AVX2 (CPUID.7.0:EBX bit 5)`. */
  readonly missing: readonly string[];

  constructor(kind: HypervisorErrorKind, operation: string, detail: string, missing: readonly string[] = []) {
    super(`${operation}: ${detail}`);
    this.kind = kind;
    this.operation = operation;
    this.missing = missing;
  }
}
