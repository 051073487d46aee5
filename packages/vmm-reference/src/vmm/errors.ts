/**
 * The error type of the VMM module: backend selection, guest loading, vCPU setup and run failures.
 *
 * @example
 * ```ts
 * try { await Vmm.create(config); } catch (e) { if (e instanceof VmmError) console.error(e.message); }
 * ```
 */
export class VmmError extends Error {
  override readonly name = 'VmmError';
}
