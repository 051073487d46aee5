/**
 * Messages and shared control words between the VMM and its vCPU workers.
 *
 * @module
 */
import type { StopReason } from './exit-codes.js';
import type { VcpuStats } from './vcpu-loop.js';

/** Int32 indices of the control SharedArrayBuffer (one per VM). */
export const Control = { START: 0, STOP: 1 } as const;
/** Size of the control SharedArrayBuffer. */
export const CONTROL_BYTES = 64;

/** A message from a vCPU worker. */
export type WorkerMessage =
  | { type: 'ready'; id: number; kicker: unknown }
  | { type: 'stop'; id: number; reason: StopReason; detail?: string }
  | { type: 'exited'; id: number; stats: VcpuStats };
