/**
 * Kicking an emulated vCPU out of `run()` from another thread: a 4-byte SharedArrayBuffer flag that
 * the vCPU polls between instruction slices (at most a few milliseconds apart), and that also wakes
 * a vCPU sleeping in an idle wait (`Atomics.wait` on the same word).
 *
 * @module
 */
import type { VcpuKicker } from '@ts-vmm/hypervisor';
import { X86EmulatorError } from '../errors.js';

/** The structured-clonable description that {@link EmulatedVcpu.kicker} returns. */
export interface EmulatedKickerDescription {
  kind: 'emulated-kicker';
  /** Int32 word 0: 1 = kick requested. */
  flag: SharedArrayBuffer;
}

/** Index of the kick word in the flag buffer. */
export const KICK_WORD = 0;

/**
 * Builds a kicker from {@link EmulatedKickerDescription} (in any thread).
 *
 * @example
 * ```ts
 * const kicker = openEmulatedKicker(vcpu.kicker());
 * setTimeout(() => kicker.kick(), 100); // run() returns { kind: 'interrupted' }
 * ```
 */
export function openEmulatedKicker(description: unknown): VcpuKicker {
  const d = description as Partial<EmulatedKickerDescription> | null;
  if (
    d === null ||
    typeof d !== 'object' ||
    d.kind !== 'emulated-kicker' ||
    !(d.flag instanceof SharedArrayBuffer)
  ) {
    throw new X86EmulatorError(
      'invalid-argument',
      'openEmulatedKicker',
      `not an emulated vCPU kicker description: ${JSON.stringify(description)}`,
    );
  }
  let flag: Int32Array | undefined = new Int32Array(d.flag);
  return {
    kick() {
      if (!flag) return;
      Atomics.store(flag, KICK_WORD, 1);
      Atomics.notify(flag, KICK_WORD);
    },
    close() {
      flag = undefined;
    },
  };
}
