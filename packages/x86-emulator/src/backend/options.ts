/**
 * Options of the emulated backend ({@link EmulatedHypervisor}).
 *
 * @module
 */
import type { ClockMode } from '../platform/virtual-clock.js';

/** How the emulated backend keeps time and shares the host thread. */
export interface EmulatedBackendOptions {
  /**
   * Guest time source. `realtime`: every clock the guest reads (TSC, kvm-clock and its wall clock,
   * LAPIC timer, PIT) follows the host's clock, so guest time keeps the host's however fast the
   * emulator runs, and an idle guest sleeps on the host until its next timer; what a VMM wants
   * (the reference VMM's default). `virtual` (the default here, for tests and deterministic runs):
   * time advances with executed instructions (`instructionsPerNs`, 1 per ns) and idle time is
   * skipped, like QEMU's `-icount`: reproducible, but while the guest computes its time runs as
   * slowly as the emulator executes (12-24x slower than the host's clock on a Linux guest).
   * `hybrid`: host time while running, idle time skipped (the guest's clock runs ahead). See the
   * platform README.
   */
  clockMode?: ClockMode;
  /** TSC frequency in Hz (default 2 GHz). */
  tscHz?: number;
  /** Guest instructions per guest ns in `virtual` mode (default 1). */
  instructionsPerNs?: number;
  /**
   * Same inputs, same instruction trace: `run()` returns `interrupted` every
   * {@link EmulatedBackendOptions.deterministicSlice} instructions instead of by host time, and
   * idle waits never look at the host clock. Implies `clockMode: 'virtual'`. Default false.
   */
  deterministic?: boolean;
  /** Instructions between `interrupted` returns in deterministic mode (default 4,000,000). */
  deterministicSlice?: number;
  /** Host milliseconds after which `run()` returns `interrupted` so the VMM can serve its event loop (default 20). */
  runSliceMs?: number;
  /**
   * Longest host sleep (ms) of an idle vCPU inside `run()` before it returns `interrupted`
   * (default 4): a single-threaded VMM reads host input and runs its timers on the thread the vCPU
   * sleeps on, so this bounds their latency while the guest idles.
   */
  idleWaitMs?: number;
  /**
   * When every vCPU is halted: `true` (default) jumps guest time to the next timer deadline but
   * never ahead of the host time elapsed since the VM was created, sleeping (in short waits that
   * return `interrupted`) until then, so an idle guest does not spin the host while a boot, which
   * runs far behind host time, never waits; `false` always jumps at once.
   */
  paceIdle?: boolean;
  /**
   * `virtual` clock: a guest polling the TSC from one RDTSC in a tight loop (Linux's `udelay`/
   * `mdelay`, timeouts of polling loops) moves guest time 1 µs further per poll,
   * so busy-wait delays cost few instructions instead of one per nanosecond. Deterministic (it
   * depends only on the instruction stream). Default true.
   */
  skipBusyWaits?: boolean;
  /** Offer kvm-clock (CPUID 0x40000001 and MSRs 0x4b564d00/01, 0x11/0x12). Default true. */
  kvmclock?: boolean;
  /** Largest number of vCPUs per VM (default 64). */
  maxVcpus?: number;
  /**
   * An opcode the CPU does not implement stops `run()` with an `internal-error` exit carrying the
   * bytes, instead of raising #UD in the guest (default false: Linux uses UD2 for BUG/WARN).
   */
  reportUnimplemented?: boolean;
}

/** Extra guest ns per TSC poll of a busy-wait loop (see `skipBusyWaits`). */
export const BUSY_WAIT_SKIP_NS = 1000;
/** Two RDTSCs at the same address at most this many instructions apart are a busy-wait loop. */
export const BUSY_WAIT_WINDOW = 256;

/** The options with their defaults filled in. */
export function resolveOptions(o: EmulatedBackendOptions = {}): Required<EmulatedBackendOptions> {
  const deterministic = o.deterministic ?? false;
  return {
    clockMode: deterministic ? 'virtual' : (o.clockMode ?? 'virtual'),
    tscHz: o.tscHz ?? 2_000_000_000,
    instructionsPerNs: o.instructionsPerNs ?? 1,
    deterministic,
    deterministicSlice: o.deterministicSlice ?? 4_000_000,
    runSliceMs: o.runSliceMs ?? 20,
    idleWaitMs: o.idleWaitMs ?? 4,
    paceIdle: deterministic ? false : (o.paceIdle ?? true),
    skipBusyWaits: o.skipBusyWaits ?? true,
    kvmclock: o.kvmclock ?? true,
    maxVcpus: o.maxVcpus ?? 64,
    reportUnimplemented: o.reportUnimplemented ?? false,
  };
}
