/**
 * Messages and shared control words between the VMM and its vCPU workers.
 *
 * @module
 */
import type { DeviceState } from '@ts-vmm/devices';
import type { VcpuState } from '@ts-vmm/hypervisor';
import type { StopReason } from './exit-codes.js';
import type { VcpuStats } from './vcpu-loop.js';

/**
 * Int32 indices of the control SharedArrayBuffer (one per VM). For a vCPU thread that owns COM1:
 * INPUT_SEQ counts the main thread's writes to the input ring, INPUT_SEEN is the count the vCPU
 * thread last looked at, INPUT_PENDING what it holds that still needs time to reach the guest
 * (COM1 paces input at the line's speed): while either says so, the main thread kicks the vCPU
 * now and then, since a guest waiting in HLT makes no exit that would deliver it.
 */
export const Control = {
  START: 0,
  STOP: 1,
  INPUT_SEQ: 2,
  INPUT_SEEN: 3,
  INPUT_PENDING: 4,
  PAUSE: 5,
  RESUME_SEQ: 6,
} as const;
/** Size of the control SharedArrayBuffer. */
export const CONTROL_BYTES = 64;

/** Shared buffers of a vCPU thread that owns the legacy devices. */
export interface LocalDevicesSpec {
  /** Guest console output (vCPU thread -> main). */
  output: SharedArrayBuffer;
  /** Host console input (main -> vCPU thread). */
  input: SharedArrayBuffer;
  /** Send COM1 output to `output` (the console is the serial port). */
  serialOutput: boolean;
  /** Hold host input until the guest enables COM1's receive interrupt (Linux guests). */
  gateInput: boolean;
}

/** A message from a vCPU worker. */
export type WorkerMessage =
  | { type: 'ready'; id: number; kicker: unknown }
  | { type: 'stop'; id: number; reason: StopReason; detail?: string; code?: number }
  | { type: 'exited'; id: number; stats: VcpuStats; consoleDropped?: number }
  | { type: 'log'; id: number; line: string }
  /**
   * The vCPU stopped at an instruction boundary for a pause (Control.PAUSE set): its state, and the
   * states of the legacy devices this thread owns; it waits until PAUSE is cleared.
   */
  | { type: 'paused'; id: number; state: VcpuState; devices?: Record<string, DeviceState> };
