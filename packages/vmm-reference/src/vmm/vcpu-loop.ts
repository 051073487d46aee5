/**
 * The loop every vCPU runs, on whichever thread owns it: `run()`, hand port/MMIO exits to the
 * device side, turn the guest's terminal exits into a {@link StopReason}.
 *
 * @module
 */
import type { Vcpu, VcpuExit } from '@ts-vmm/hypervisor';
import { ExitKind, type ExitKindValue } from './exit-channel.js';
import type { StopReason } from './exit-codes.js';

/** How the loop reaches the rest of the VMM. */
export interface VcpuLoopHooks {
  /** Hands an I/O exit to the device models; false when the VM is stopping. */
  io(kind: ExitKindValue, address: number, size: number, count: number, data: Uint8Array): boolean;
  /** True once the VMM wants the loop to end. */
  stopping(): boolean;
  /** Waits briefly for an interrupt (HLT without an in-kernel irqchip). */
  idle(): void;
  /** The guest ended the run. */
  stop(reason: StopReason, detail?: string): void;
  /** Called before every `run()` (host input for thread-local devices). */
  poll?(): void;
  /** Called before every `run()`: a pause requested by the VMM happens here, between two runs. */
  pausePoint?(): void;
}

/** Counters a loop keeps. */
export interface VcpuStats {
  exits: number;
  io: number;
  mmio: number;
}

/**
 * Handles one exit; returns false when the loop must end.
 * @example while (handleExit(vcpu.id, vcpu.run(), hooks, stats)) {}
 */
export function handleExit(id: number, exit: VcpuExit, hooks: VcpuLoopHooks, stats: VcpuStats): boolean {
  stats.exits++;
  switch (exit.kind) {
    case 'io-in':
    case 'io-out':
      stats.io++;
      return hooks.io(
        exit.kind === 'io-in' ? ExitKind.PIO_READ : ExitKind.PIO_WRITE,
        exit.port,
        exit.size,
        exit.count,
        exit.data,
      );
    case 'mmio-read':
    case 'mmio-write':
      stats.mmio++;
      return hooks.io(
        exit.kind === 'mmio-read' ? ExitKind.MMIO_READ : ExitKind.MMIO_WRITE,
        exit.address,
        exit.size,
        1,
        exit.data,
      );
    case 'interrupted':
      return !hooks.stopping();
    case 'hlt':
      hooks.idle();
      return !hooks.stopping();
    case 'shutdown':
      hooks.stop('triple-fault', `vCPU ${id} shut down (triple fault)`);
      return false;
    case 'system-event':
      if (exit.type === 'shutdown') hooks.stop('poweroff', 'system event');
      else if (exit.type === 'reset') hooks.stop('reboot', 'system event');
      else if (exit.type === 'crash') hooks.stop('panic', 'system event: crash');
      else return true;
      return false;
    case 'rdmsr':
      exit.data = 0n;
      exit.error = true;
      return true;
    case 'wrmsr':
      exit.error = true;
      return true;
    case 'hypercall':
      exit.ret = BigInt.asUintN(64, -1000n); // -KVM_ENOSYS
      return true;
    case 'internal-error':
      hooks.stop(
        'error',
        `vCPU ${id}: internal error (suberror ${exit.suberror}): ${exit.message}${
          exit.data.length ? ` [${exit.data.map((d) => `0x${d.toString(16)}`).join(' ')}]` : ''
        }${exit.bytes?.length ? ` bytes ${Buffer.from(exit.bytes).toString('hex')}` : ''}`,
      );
      return false;
    case 'fail-entry':
      hooks.stop('error', `vCPU ${id}: VM entry failed (hardware reason 0x${exit.reason.toString(16)})`);
      return false;
    case 'unknown':
      hooks.stop('error', `vCPU ${id}: unknown exit reason ${exit.reason}`);
      return false;
    default:
      return !hooks.stopping();
  }
}

/**
 * Runs `vcpu` until the VM stops.
 * @example runVcpu(vcpu, hooks)
 */
export function runVcpu(vcpu: Vcpu, hooks: VcpuLoopHooks): VcpuStats {
  const stats: VcpuStats = { exits: 0, io: 0, mmio: 0 };
  for (;;) {
    if (hooks.stopping()) return stats;
    hooks.pausePoint?.();
    if (hooks.stopping()) return stats;
    hooks.poll?.();
    let exit: VcpuExit;
    try {
      exit = vcpu.run();
    } catch (e) {
      hooks.stop('error', `vCPU ${vcpu.id}: run failed: ${(e as Error).message}`);
      return stats;
    }
    if (!handleExit(vcpu.id, exit, hooks, stats)) return stats;
  }
}
