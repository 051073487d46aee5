/**
 * The messages between the page ({@link startVm}) and the VM's Web Worker.
 *
 * @module
 */

/** Page → worker: boot this. */
export interface StartMessage {
  type: 'start';
  kernel: ArrayBuffer;
  initrd?: ArrayBuffer;
  disk?: ArrayBuffer;
  memoryMib: number;
  cmdline?: string;
  cmdlineAppend?: string;
}

/** Page → worker. */
export type ToWorker = StartMessage | { type: 'input'; data: Uint8Array } | { type: 'stop' };

/** Worker → page. */
export type FromWorker =
  /** The kernel is loaded and the vCPU starts; `summary` is the loader's line. */
  | { type: 'booting'; summary: string; cmdline: string }
  /** Guest console bytes. */
  | { type: 'output'; data: Uint8Array }
  /** A line of the VMM's log (the boot timer's "guest reached user space", device errors). */
  | { type: 'log'; line: string }
  /** About once a second: instructions retired so far and the rate over the last interval. */
  | { type: 'stats'; instructions: number; instructionsPerSecond: number }
  /** The run ended. */
  | { type: 'exit'; reason: string; detail?: string }
  /** The VM could not be built or booted (a file that is not a kernel, too little memory). */
  | { type: 'error'; message: string };
