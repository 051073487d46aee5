/**
 * The error of the emulated backend: misuse of the Hypervisor/Vm/Vcpu interfaces (a bad vCPU id,
 * an MSR the CPU does not have, a feature this backend does not offer). The message names the value.
 *
 * @module
 */

/**
 * Raised by {@link EmulatedHypervisor}, {@link EmulatedVm} and {@link EmulatedVcpu} for bad arguments
 * and unsupported requests.
 *
 * @example
 * ```ts
 * try { vm.createVcpu(0); vm.createVcpu(0); } catch (e) { if (e instanceof EmulatedBackendError) console.error(e.message); }
 * ```
 */
export class EmulatedBackendError extends Error {
  override name = 'EmulatedBackendError';
}
