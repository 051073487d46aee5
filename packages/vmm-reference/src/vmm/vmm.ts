/**
 * The reference VMM: chooses a backend, builds guest memory, the machine's devices and the boot
 * state, runs each vCPU in its own worker thread (or inline for single-threaded backends), wires
 * the console, and tears everything down when the guest or the user ends the run.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type SerialSink, virtioMmioCmdline } from '@ts-vmm/devices';
import {
  type CpuidEntry,
  captureVcpuState,
  captureVmState,
  checkCpuCompatibility,
  type Hypervisor,
  HypervisorError,
  intersectCpuid,
  restoreVcpuState,
  restoreVmState,
  type Vcpu,
  type VcpuExit,
  type VcpuKicker,
  type VcpuState,
  type Vm,
} from '@ts-vmm/hypervisor';
import {
  bootMsrs,
  type EntryLayout,
  type EntryMode,
  writeGdt,
  writeIdentityPageTables,
} from '@ts-vmm/linux-loader';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { ramLayout } from '../config/memory-layout.js';
import type { VmmConfig } from '../config/types.js';
import { BOOT_TIMER_PARAM } from '../guest/init-script.js';
import { quiesceDevices, restoreDevices, saveDevices } from '../snapshot/devices.js';
import type { SnapshotState, StateValue } from '../snapshot/format.js';
import { changedPages, readMemoryFile, writeMemoryFile } from '../snapshot/memory-file.js';
import {
  changedDisks,
  diskRecords,
  type LoadedSnapshot,
  readSnapshotDir,
  type VmmRecord,
  writeSnapshotDir,
} from '../snapshot/snapshot-dir.js';
import { BOOT_TIMER_ADDR, RAW_IMAGE_ADDR } from './address-map.js';
import { chooseBackend, loadBackend, SLOW_CPL0_RATIO } from './backend.js';
import { ENTRY_LAYOUT, prepareLinuxBoot } from './boot-linux.js';
import { ConsoleEscape } from './console-escape.js';
import { vcpuCpuid } from './cpuid.js';
import { VmmError } from './errors.js';
import { ExitChannel } from './exit-channel.js';
import { type RunResult, type StopReason, stopResult } from './exit-codes.js';
import { createGuestMemory } from './guest-memory.js';
import { serialAcceptsInput } from './legacy-devices.js';
import { Machine } from './machine.js';
import { type GuardableStream, guardStream, streamErrorName } from './output-guard.js';
import { SharedByteRing } from './shared-byte-ring.js';
import { handleExit, type VcpuStats } from './vcpu-loop.js';
import { applyVcpuPlan, type VcpuPlan } from './vcpu-plan.js';
import { CONTROL_BYTES, Control, type WorkerMessage } from './worker-protocol.js';

/** A raw 64-bit image to run instead of a Linux kernel (the demo guest, tests). */
export interface RawPayload {
  image: Uint8Array;
  /** Load and entry address (default 1 MiB). */
  address?: number;
  /** Enter at CPL3 with IOPL 3 (user-accessible page tables): for benchmarks on KVMs that emulate CPL0. */
  cpl3?: boolean;
}

/** A readable host input (process.stdin or a test stream). */
export interface ConsoleInput {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** Options for {@link Vmm.create}. */
export interface VmmOptions {
  /**
   * Guest console output (default process.stdout). `write()` returning false means "stop until
   * 'drain'" (a Node `Writable`): the VMM then holds a bounded amount and drops the rest. An
   * 'error' event (EPIPE: the reader went away) ends the run with `output-closed` (exit code 141).
   */
  output?: {
    write(chunk: Uint8Array): boolean;
    once?(event: 'drain', l: () => void): unknown;
    on?(event: 'error', l: (e: Error) => void): unknown;
  };
  /** Host console input (default process.stdin; `null` for none). */
  input?: ConsoleInput | null;
  /** Status lines (default: stderr with a `ts-vmm:` prefix). */
  log?: (line: string) => void;
  /**
   * Stop on SIGINT/SIGTERM (default true), from the start of {@link Vmm.create} until
   * {@link Vmm.run} returns: a signal that arrives while the VM is being built ends the run as
   * soon as it starts, with teardown, instead of killing the process with the VM half made.
   */
  handleSignals?: boolean;
  /** An already opened backend (skips the `auto` probe). */
  hypervisor?: Hypervisor;
  /** Run a raw 64-bit image instead of `config.kernel`. */
  raw?: RawPayload;
  /** Run vCPUs in worker threads when the backend allows it (default true). */
  workers?: boolean;
  /**
   * Let a single vCPU's thread own the legacy devices and answer its port exits itself (default
   * true; see docs/architecture.md). False forwards every exit to the main thread.
   */
  threadLocalDevices?: boolean;
  /**
   * Enter a bzImage through PVH after unpacking its vmlinux on the host (default true); false uses
   * the bzImage 64-bit boot protocol and lets the kernel decompress itself.
   */
  preferPvh?: boolean;
  /**
   * Where Ctrl-A S on the console writes a full snapshot (while the guest keeps running); without
   * it Ctrl-A S passes through to the guest.
   */
  snapshotDir?: string;
  /**
   * Give the guest only the CPU features both backends offer (where the other one is available
   * here), so that its snapshots restore on either backend. Default false: the backend's own.
   */
  portableCpu?: boolean;
}

/** Options for {@link Vmm.snapshot}. */
export interface SnapshotOptions {
  /** The snapshot directory (created; a snapshot there is replaced). */
  dir: string;
  /**
   * `'full'` (default): every page the guest touched. `'diff'`: only the pages that changed since
   * the last snapshot this VM wrote or was restored from (its parent, which the diff names; found
   * by comparing memory with the parent's files, which must stay where they are). Restoring a
   * diff loads its chain of parents first.
   */
  kind?: 'full' | 'diff';
}

/** What {@link Vmm.snapshot} wrote. */
export interface SnapshotInfo {
  dir: string;
  /** Guest memory pages in the memory file (the others are holes). */
  pages: number;
  /** Guest memory size in bytes. */
  memoryBytes: number;
  /** Milliseconds the vCPUs were paused. */
  pausedMs: number;
}

/** What {@link Vmm.restore} may change from the snapshot's configuration. */
export interface RestoreOverrides {
  /** The backend to restore on (default: the one the snapshot was taken on). */
  backend?: VmmConfig['backend'];
  /** Vmm options (console, log, signals; `threadLocalDevices` is forced off: the legacy devices are restored on the main thread). */
  options?: VmmOptions;
}

function defaultLog(line: string): void {
  guardStream(process.stderr).writeLine(`ts-vmm: ${line}`);
}

const PANIC_MARKER = 'Kernel panic - not syncing';

/**
 * How often the main thread kicks a vCPU whose thread holds paced COM1 input (at 115200 baud,
 * about 23 characters arrive in that time).
 */
const INPUT_PUMP_MS = 2;

/**
 * One virtual machine.
 *
 * @example
 * ```ts
 * import { resolveConfig, Vmm } from '@ts-vmm/vmm-reference';
 * const vmm = await Vmm.create(resolveConfig({ flags: { kernel: 'bzImage', initrd: 'initrd.cpio' } }));
 * const result = await vmm.run(); // { reason: 'poweroff', exitCode: 0 }
 * ```
 */
export class Vmm {
  readonly config: VmmConfig;
  readonly hypervisor: Hypervisor;
  /** Why this backend was chosen. */
  readonly backendReason: string;
  /** How the guest was loaded. */
  readonly bootSummary: string;
  /** The full kernel command line (Linux guests). */
  readonly cmdline: string | undefined;
  readonly memory: GuestMemory;
  readonly machine: Machine;
  private readonly vm: Vm;
  private readonly releaseMemory: () => void;
  private readonly plans: VcpuPlan[];
  private readonly options: VmmOptions;
  private readonly log: (line: string) => void;
  private result: RunResult | undefined;
  private resolveStop!: (r: RunResult) => void;
  private readonly stopped: Promise<RunResult>;
  private panicLine: string | undefined;
  private panicDone = false;
  private tail = '';
  private running = false;
  /** The console output failed (EPIPE): guest output is dropped from then on. */
  private outputClosed = false;
  /** COM1 output bytes a vCPU thread's serial port dropped (its sink stalled too long). */
  private consoleDropped = 0;
  private tornDown = false;
  /** Removes the SIGINT/SIGTERM listeners of {@link VmmOptions.handleSignals}. */
  private detachSignals: () => void = () => {};
  /** Ends the console drain's wait for the sink to drain (the run is over). */
  private wakeDrain: (() => void) | undefined;
  private readonly control = new SharedArrayBuffer(CONTROL_BYTES);
  private readonly workers: Worker[] = [];
  private readonly kickers: VcpuKicker[] = [];
  private readonly channels: ExitChannel[] = [];
  private readonly inlineVcpus: Vcpu[] = [];
  /** Console rings when vCPU 0's thread owns the legacy devices. */
  private readonly local: { output: SharedByteRing; input: SharedByteRing } | undefined;
  private readonly consoleSink: SerialSink;
  /** Per-vCPU exit counters, filled when the run ends. */
  readonly stats: VcpuStats[] = [];
  /** The inline loop's pause: requested, and who waits for it. */
  private pauseWanted = false;
  private pausedNow = false;
  private pauseWaiters: (() => void)[] = [];
  /** The last exit of each inline vCPU (an I/O read is finished before a pause). */
  private readonly lastExit: VcpuExit['kind'][] = [];
  /** Restart of the inline loop after a pause. */
  private resumeInline: (() => void) | undefined;
  /** What each vCPU thread reported when it paused (vCPU and thread-local device states). */
  private workerPaused = new Map<number, Extract<WorkerMessage, { type: 'paused' }>>();
  private markStarted: () => void = () => {};
  /** Resolves once the vCPUs are set up and running (or the run failed to start them). */
  private readonly started = new Promise<void>((resolve) => {
    this.markStarted = resolve;
  });
  /** The last snapshot written or restored from: the parent of a diff snapshot. */
  private parentDir: string | undefined;
  /** Snapshot being written (Ctrl-A S, SIGUSR1): one at a time. */
  private snapshotting: Promise<SnapshotInfo> | undefined;

  private constructor(init: {
    config: VmmConfig;
    hypervisor: Hypervisor;
    backendReason: string;
    bootSummary: string;
    cmdline: string | undefined;
    memory: GuestMemory;
    releaseMemory: () => void;
    vm: Vm;
    machine: Machine;
    plans: VcpuPlan[];
    options: VmmOptions;
    log: (line: string) => void;
    local: { output: SharedByteRing; input: SharedByteRing } | undefined;
    consoleSink: SerialSink;
  }) {
    this.local = init.local;
    this.consoleSink = init.consoleSink;
    this.config = init.config;
    this.hypervisor = init.hypervisor;
    this.backendReason = init.backendReason;
    this.bootSummary = init.bootSummary;
    this.cmdline = init.cmdline;
    this.memory = init.memory;
    this.releaseMemory = init.releaseMemory;
    this.vm = init.vm;
    this.machine = init.machine;
    this.plans = init.plans;
    this.options = init.options;
    this.log = init.log;
    this.stopped = new Promise((r) => {
      this.resolveStop = r;
    });
  }

  /**
   * Builds the VM: backend, memory, devices, guest image and vCPU plans. Nothing runs yet.
   * @example const vmm = await Vmm.create(config, { raw: { image: demoGuest() } });
   */
  static async create(config: VmmConfig, options: VmmOptions = {}): Promise<Vmm> {
    return Vmm.build(config, options, undefined);
  }

  private static async build(
    config: VmmConfig,
    options: VmmOptions,
    restoring: LoadedSnapshot | undefined,
  ): Promise<Vmm> {
    const hold = new StopHold();
    const detachSignals =
      options.handleSignals === false
        ? () => {}
        : attachSignals((reason, detail) => hold.stop(reason, detail));
    try {
      const vmm = await Vmm.assemble(config, options, hold, restoring);
      vmm.detachSignals = detachSignals;
      hold.bind(vmm);
      return vmm;
    } catch (e) {
      detachSignals();
      throw e;
    }
  }

  private static async assemble(
    config: VmmConfig,
    options: VmmOptions,
    hold: StopHold,
    restoring?: LoadedSnapshot,
  ): Promise<Vmm> {
    const log = options.log ?? defaultLog;
    let hv: Hypervisor;
    let backendReason: string;
    let emulatedCpl0 = false;
    if (options.hypervisor) {
      hv = options.hypervisor;
      backendReason = `backend: ${hv.kind} (given)`;
    } else {
      // the emulator's guest time: the host's clock unless --clock virtual asks for counted instructions
      const sel = await chooseBackend(config.backend, { clock: config.clock });
      hv = sel.hypervisor;
      backendReason = sel.reason;
      emulatedCpl0 = hv.kind === 'kvm' && !!sel.probe && sel.probe.ratio >= SLOW_CPL0_RATIO;
    }
    log(backendReason);
    if (hv.kind === 'kvm' && config.clock === 'virtual')
      log("--clock virtual applies to the emulated backend only: KVM keeps the host's time");
    if (emulatedCpl0)
      log(
        'hiding CMPXCHG16B, XSAVE and AVX from the guest: this KVM emulates CPL0 code and cannot emulate them',
      );
    if (restoring) {
      try {
        for (const v of restoring.state.vcpus) checkCpuCompatibility(hv, v);
      } catch (e) {
        if (!options.hypervisor) (hv as { close?: () => void }).close?.();
        throw new VmmError(
          'snapshot',
          `snapshot ${restoring.dir}: ${e instanceof HypervisorError ? e.message : (e as Error).message}`,
          { cause: e },
        );
      }
    }
    if (config.vcpus > hv.capabilities.maxVcpus) {
      throw new VmmError(
        'backend',
        `--vcpus ${config.vcpus}: the ${hv.kind} backend allows at most ${hv.capabilities.maxVcpus}`,
      );
    }
    const { memory, release } = await createGuestMemory(hv.kind, ramLayout(config.memoryMib));
    let vm: Vm | undefined;
    let machine: Machine | undefined;
    try {
      vm = await hv.createVm({ memory });
      if (hv.capabilities.irqchip) vm.createIrqchip();
      if (hv.capabilities.pit) vm.createPit();
      const output = options.output ?? process.stdout;
      const localLegacy =
        hv.capabilities.multiThreaded &&
        !!hv.openVm &&
        options.workers !== false &&
        options.threadLocalDevices !== false &&
        config.vcpus === 1;
      const local = localLegacy
        ? { output: SharedByteRing.create(64 * 1024), input: SharedByteRing.create(4096) }
        : undefined;
      const consoleSink = {
        write: (chunk: Uint8Array) => {
          hold.vmm?.scanConsole(chunk);
          if (hold.vmm?.outputClosed) return true; // nobody reads it any more: dropped
          try {
            return output.write(chunk);
          } catch {
            return true; // a sink that throws loses the chunk, not the run
          }
        },
        once: output.once ? (ev: 'drain', l: () => void) => output.once!(ev, l) : undefined,
      };
      machine = await Machine.create({
        config,
        vm,
        memory,
        consoleSink,
        ioEvents: hv.capabilities.ioEvents,
        legacyHere: !localLegacy,
        hooks: {
          stop: hold.stop,
          log,
        },
      });

      let entry: EntryMode | undefined;
      let layout: EntryLayout = ENTRY_LAYOUT;
      let bootSummary: string;
      let cmdline: string | undefined;
      if (restoring) {
        // memory first (the virtio transports map their rings on restore), then the clock and the
        // interrupt controllers, then the devices (which may raise interrupts into them)
        for (const m of restoring.memoryChain) readMemoryFile(memory, m.path, m.desc);
        try {
          restoreVmState(vm, restoring.state.vm);
        } catch (e) {
          throw new VmmError('snapshot', `restoring the VM's platform state: ${(e as Error).message}`, {
            cause: e,
          });
        }
        restoreDevices(machine, (restoring.state.devices.machine ?? {}) as Record<string, unknown>);
        cmdline = restoring.vmm.cmdline ?? undefined;
        bootSummary = `restored from snapshot ${restoring.dir} (taken on ${restoring.state.backend})`;
        for (const w of changedDisks(restoring.vmm.disks)) log(`warning: ${w}`);
      } else if (options.raw) {
        const at = options.raw.address ?? RAW_IMAGE_ADDR;
        memory.writeBytes(at, options.raw.image);
        writeGdt(memory, ENTRY_LAYOUT);
        writeIdentityPageTables(memory, { ...ENTRY_LAYOUT, user: options.raw.cpl3 });
        entry = { kind: 'raw64', entry: at, stack: 0x8000, cpl3: options.raw.cpl3 };
        bootSummary = `raw 64-bit image: ${options.raw.image.length} bytes at 0x${at.toString(16)}`;
      } else {
        if (!config.kernel) throw new VmmError('boot', 'no kernel given');
        const kernel = readInput(config.kernel, '--kernel');
        const initrd = config.initrd ? readInput(config.initrd, '--initrd') : undefined;
        cmdline = buildCmdline(config, machine);
        // PVM runs guest CPUID natively (the masks above may not reach the guest): keep the kernel off
        // XSAVE, whose XRSTOR PVM's CPL0 emulator cannot run.
        if (emulatedCpl0 && !/\bnoxsave\b/.test(cmdline)) cmdline += ' noxsave';
        const boot = prepareLinuxBoot(memory, {
          kernel,
          initrd,
          cmdline,
          vcpus: config.vcpus,
          virtioDevices: machine.virtioDescriptions(),
          acpiVirtio: config.discovery !== 'cmdline',
          serial: true,
          preferPvh: options.preferPvh,
        });
        entry = boot.entry;
        layout = boot.layout;
        bootSummary = boot.summary;
      }
      log(bootSummary);

      const supported = options.portableCpu ? await portableCpuid(hv, log) : hv.supportedCpuid();
      const msrs = bootMsrs(hv.supportedMsrs());
      const plans: VcpuPlan[] = [];
      for (let id = 0; id < config.vcpus; id++) {
        const saved = restoring?.state.vcpus.find((v) => v.id === id);
        if (restoring && !saved) throw new VmmError('snapshot', `snapshot state: no state for vCPU ${id}`);
        plans.push({
          id,
          cpuid: saved
            ? saved.cpuid
            : vcpuCpuid(supported, {
                vcpuId: id,
                vcpuCount: config.vcpus,
                backend: hv.kind,
                emulatedCpl0,
              }),
          msrs,
          irqchip: hv.capabilities.irqchip,
          entry: id === 0 ? entry : undefined,
          layout: id === 0 ? layout : undefined,
          restore: saved,
        });
      }
      const vmm = new Vmm({
        config,
        hypervisor: hv,
        backendReason,
        bootSummary,
        cmdline,
        memory,
        releaseMemory: release,
        local,
        consoleSink,
        vm,
        machine,
        plans,
        options,
        log,
      });
      if (restoring) vmm.parentDir = resolvePath(restoring.dir);
      hold.vmm = vmm; // console output scanned from now on; held stops go to it in create()
      return vmm;
    } catch (e) {
      machine?.close();
      vm?.close();
      release();
      if (!options.hypervisor) (hv as { close?: () => void }).close?.();
      throw e instanceof VmmError ? e : new VmmError('backend', (e as Error).message, { cause: e });
    }
  }

  /** Watches console output for a kernel panic (to tell a panic reboot from a requested one). */
  private scanConsole(chunk: Uint8Array): void {
    if (this.panicDone) return;
    let s = this.tail;
    for (const b of chunk) s += String.fromCharCode(b);
    const i = s.indexOf(PANIC_MARKER);
    if (i >= 0) {
      const end = s.indexOf('\n', i);
      this.panicLine = s.slice(i, end > 0 ? end : undefined).trim();
      if (end > 0) this.panicDone = true;
      this.tail = s.slice(i, i + 400);
      return;
    }
    this.tail = s.slice(-200);
  }

  /**
   * Ends the run (idempotent): the first reason wins.
   * @example process.on('SIGUSR2', () => vmm.stop('sigterm'));
   */
  stop(reason: StopReason, detail?: string, code?: number): void {
    if (this.result) return;
    // console bytes the vCPU thread wrote before it asked to stop may still sit in its ring (the
    // drain loop runs on a timer): take them now, so a panic line printed just before the reset
    // is seen (it was missed on a loaded host)
    if (this.local) {
      const bytes = this.local.output.read();
      if (bytes.length) this.consoleSink.write(bytes);
    }
    if ((reason === 'reboot' || reason === 'triple-fault') && this.panicLine) {
      detail = this.panicLine;
      reason = 'panic';
    }
    this.result = stopResult(reason, detail, code);
    Atomics.store(new Int32Array(this.control), Control.STOP, 1);
    Atomics.notify(new Int32Array(this.control), Control.STOP);
    for (const c of this.channels) c.close();
    for (const k of this.kickers) {
      try {
        k.kick();
      } catch {
        // the vCPU is gone already
      }
    }
    this.resolveStop(this.result);
    this.wakeDrain?.();
  }

  /**
   * Presses Ctrl-Alt-Del on the guest's i8042 keyboard (Firecracker's `SendCtrlAltDel`): a Linux
   * guest with the i8042 and atkbd drivers reboots (`reboot=k`: the run ends with `reboot`).
   * Throws a `VmmError` of kind `'state'` when the keyboard cannot take the keys: the VM is not
   * running, the guest disabled the keyboard or has not read earlier keys, or the i8042 lives on
   * a vCPU thread (a one-vCPU KVM VM made with `threadLocalDevices` left on).
   * @example vmm.sendCtrlAltDel();
   */
  sendCtrlAltDel(): void {
    if (!this.running || this.result) throw new VmmError('state', 'the VM is not running');
    const kbd = this.machine.i8042;
    if (!kbd) {
      throw new VmmError(
        'state',
        "the i8042 is on the vCPU's thread (create the Vmm with threadLocalDevices: false)",
      );
    }
    if (!kbd.sendCtrlAltDel()) {
      throw new VmmError(
        'state',
        'the guest keyboard does not take keys now (disabled, or earlier keys unread)',
      );
    }
  }

  /**
   * Runs the guest until it powers off, reboots, panics, or the user stops it; then releases
   * everything.
   * @example const { exitCode } = await vmm.run();
   */
  async run(): Promise<RunResult> {
    if (this.running) throw new VmmError('state', 'run() was already called');
    this.running = true;
    const detachConsole = this.attachConsole();
    const detachOutput = this.watchOutput();
    try {
      const multi = this.hypervisor.capabilities.multiThreaded && !!this.hypervisor.openVm;
      if (multi && this.options.workers !== false) await this.startWorkers();
      else this.startInline();
      this.markStarted();
      const result = await this.stopped;
      await this.teardown();
      return result;
    } catch (e) {
      this.stop('error', (e as Error).message);
      await this.teardown();
      return this.result!;
    } finally {
      this.detachSignals();
      detachOutput();
      detachConsole();
    }
  }

  /**
   * An error on the console output (EPIPE: its reader closed the pipe) ends the run. The stream's
   * one {@link OutputGuard} listens (one listener however many VMs share process.stdout).
   */
  private watchOutput(): () => void {
    const output = this.options.output ?? process.stdout;
    if (typeof output.on !== 'function') return () => {};
    const guard = guardStream(output as GuardableStream);
    const closed = (e: Error) => {
      this.outputClosed = true;
      this.stop('output-closed', `console output: ${streamErrorName(e)}`);
    };
    if (guard.closed && guard.error) {
      closed(guard.error);
      return () => {};
    }
    return guard.onClose(closed);
  }

  /** The worker script: dist/vcpu-worker.js when built, the TypeScript source through tsx otherwise. */
  private workerScript(): { script: string | URL; eval: boolean } {
    const here = import.meta.url;
    if (!here.endsWith('.ts')) return { script: new URL('./vcpu-worker.js', here), eval: false };
    const tsx = pathToFileURL(
      createRequire(here)
        .resolve('tsx/esm/api')
        .replace(/\.cjs$/, '.mjs'),
    ).href;
    const src = new URL('./vcpu-worker.ts', here).href;
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(src)}); });`;
    return { script: boot, eval: true };
  }

  private async startWorkers(): Promise<void> {
    const { script, eval: isEval } = this.workerScript();
    const shared = this.vm.shareable() as Record<string, unknown>;
    // vCPU threads need no guest memory mapping of their own: KVM runs from the VM's slots.
    const vmDesc = { ...shared, memory: undefined };
    const ready: Promise<void>[] = [];
    for (const plan of this.plans) {
      const channel = ExitChannel.create();
      this.channels.push(channel);
      const worker = new Worker(script, {
        eval: isEval,
        workerData: {
          backend: this.hypervisor.kind,
          vm: vmDesc,
          plan,
          channel: channel.sab,
          control: this.control,
          local:
            this.local && plan.id === 0
              ? {
                  output: this.local.output.sab,
                  input: this.local.input.sab,
                  serialOutput: this.config.console !== 'none',
                  gateInput: !this.options.raw,
                }
              : undefined,
        },
      });
      this.workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'ready') {
              try {
                if (this.hypervisor.openKicker) this.kickers.push(this.hypervisor.openKicker(m.kicker));
              } catch {
                // The vCPU already closed (the run ended while it was starting): nothing to kick.
              }
              resolve();
            } else if (m.type === 'log') {
              this.log(m.line);
            } else if (m.type === 'stop') {
              this.stop(m.reason, m.detail, m.code);
              resolve();
            } else if (m.type === 'paused') {
              this.workerPaused.set(m.id, m);
              if (this.workerPaused.size === this.workers.length) this.enterPause(() => undefined);
            } else if (m.type === 'exited') {
              this.stats[m.id] = m.stats;
              this.consoleDropped += m.consoleDropped ?? 0;
            }
          });
          worker.once('error', (e) => {
            this.stop('error', `vCPU ${plan.id} thread: ${e.message}`);
            reject(e);
          });
        }),
      );
      void channel
        .serve((req) => this.machine.dispatch(req))
        .catch((e: Error) => this.stop('error', e.message));
    }
    await Promise.all(ready);
    if (this.local) void this.drainConsole(this.local.output);
    const ctl = new Int32Array(this.control);
    Atomics.store(ctl, Control.START, 1);
    Atomics.notify(ctl, Control.START);
  }

  /**
   * Copies guest console output from the vCPU thread's ring to the console sink until the run
   * ends. When the sink reports backpressure (`write()` false), nothing more is taken from the
   * ring until it drains: the ring fills, the vCPU thread's COM1 holds its bounded buffer and
   * then drops and counts (as the serial model documents), and the guest runs on. So console
   * output never queues up in the VMM beyond those fixed buffers, whatever the guest writes.
   */
  private async drainConsole(ring: SharedByteRing): Promise<void> {
    while (!this.result) {
      await ring.whenReadable(100);
      if (this.result) break;
      const bytes = ring.read();
      if (bytes.length && !this.consoleSink.write(bytes)) await this.consoleWritable();
    }
  }

  /** Resolves when the console sink drains (or, for a sink without 'drain', shortly), or the run ends. */
  private consoleWritable(): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        if (this.wakeDrain === done) this.wakeDrain = undefined;
        resolve();
      };
      this.wakeDrain = done;
      if (this.consoleSink.once) this.consoleSink.once('drain', done);
      else timer = setTimeout(done, 10);
    });
  }

  /** Single-threaded backends: every vCPU runs on this thread, yielding to the event loop often. */
  private startInline(): void {
    for (const plan of this.plans) {
      const vcpu = this.vm.createVcpu(plan.id);
      this.inlineVcpus.push(vcpu);
      if (plan.restore) {
        try {
          restoreVcpuState(this.hypervisor, vcpu, plan.restore);
        } catch (e) {
          throw new VmmError('snapshot', `restoring vCPU ${plan.id}: ${(e as Error).message}`, { cause: e });
        }
      } else applyVcpuPlan(vcpu, plan);
      this.stats[plan.id] = { exits: 0, io: 0, mmio: 0 };
      this.lastExit[plan.id] = 'interrupted';
    }
    const ctl = new Int32Array(this.control);
    const hooks = (id: number) => ({
      io: (kind: 1 | 2 | 3 | 4, address: number, size: number, count: number, data: Uint8Array) => {
        this.machine.dispatch({ kind, address, size, count, data });
        return true;
      },
      stopping: () => Atomics.load(ctl, Control.STOP) !== 0,
      idle: () => {},
      stop: (reason: StopReason, detail?: string) => this.stop(reason, detail),
      id,
    });
    const step = (vcpu: Vcpu): ReturnType<Vcpu['run']> | undefined => {
      let exit: ReturnType<Vcpu['run']>;
      try {
        exit = vcpu.run();
      } catch (e) {
        this.stop('error', `vCPU ${vcpu.id}: ${(e as Error).message}`);
        return undefined;
      }
      this.lastExit[vcpu.id] = exit.kind;
      return handleExit(vcpu.id, exit, hooks(vcpu.id), this.stats[vcpu.id]) ? exit : undefined;
    };
    const slice = () => {
      if (this.result) return;
      if (this.pauseWanted) {
        this.enterPause(step);
        return;
      }
      for (const vcpu of this.inlineVcpus) {
        for (let i = 0; i < 512 && !this.result && !this.pauseWanted; i++) {
          const exit = step(vcpu);
          if (!exit || exit.kind === 'interrupted' || exit.kind === 'hlt') break;
        }
      }
      if (!this.result) setImmediate(slice);
    };
    this.resumeInline = () => setImmediate(slice);
    setImmediate(slice);
  }

  /**
   * Stops every vCPU at an instruction boundary: an I/O read the device side has answered is
   * finished first (the emulator restarts the instruction on the next `run()`; KVM completes it
   * in a `run()` with immediate exit set), so the captured state holds no half-done instruction.
   */
  private enterPause(step: (vcpu: Vcpu) => ReturnType<Vcpu['run']> | undefined): void {
    if (!this.pauseWanted) return;
    for (const vcpu of this.inlineVcpus) {
      if (this.hypervisor.kind === 'kvm') {
        vcpu.setImmediateExit(true);
        try {
          step(vcpu);
        } finally {
          vcpu.setImmediateExit(false);
        }
        continue;
      }
      for (let i = 0; i < 1000 && !this.result; i++) {
        const k = this.lastExit[vcpu.id];
        if (k !== 'io-in' && k !== 'mmio-read') break;
        if (!step(vcpu)) break;
      }
    }
    this.pausedNow = true;
    for (const w of this.pauseWaiters.splice(0)) w();
  }

  /** True while the vCPUs are paused ({@link Vmm.pause}). */
  get paused(): boolean {
    return this.pausedNow;
  }

  /**
   * Pauses the guest: resolves once every vCPU has stopped at an instruction boundary (on its own
   * thread, for vCPU worker threads) and the devices' in-flight work (disk requests) has
   * completed. Throws a `state` VmmError when the VM is not running.
   * @example await vmm.pause(); vmm.resume();
   */
  async pause(): Promise<void> {
    if (!this.running || this.result) throw new VmmError('state', 'the VM is not running');
    // a pause asked for while run() still builds the vCPU threads waits for them
    await Promise.race([this.started, this.stopped]);
    if (this.result) throw new VmmError('state', 'the VM is not running');
    if (!this.pausedNow) {
      this.pauseWanted = true;
      const done = new Promise<void>((resolve) => {
        this.pauseWaiters.push(resolve);
        void this.stopped.then(() => resolve());
      });
      if (this.workers.length > 0) {
        this.workerPaused.clear();
        const ctl = new Int32Array(this.control);
        Atomics.store(ctl, Control.PAUSE, 1);
        for (const k of this.kickers) {
          try {
            k.kick();
          } catch {
            // gone: the run is ending
          }
        }
      }
      await done;
      const ended = this.result as RunResult | undefined;
      if (ended) throw new VmmError('state', `the VM stopped while pausing (${ended.reason})`);
    }
    await quiesceDevices(this.machine);
  }

  /**
   * Lets a paused guest run on (nothing when it is not paused).
   * @example vmm.resume();
   */
  resume(): void {
    if (!this.pausedNow && !this.pauseWanted) return;
    this.pauseWanted = false;
    if (this.workers.length > 0) {
      const ctl = new Int32Array(this.control);
      Atomics.store(ctl, Control.PAUSE, 0);
      Atomics.add(ctl, Control.RESUME_SEQ, 1);
      Atomics.notify(ctl, Control.RESUME_SEQ);
      this.workerPaused.clear();
      this.pausedNow = false;
      return;
    }
    if (this.pausedNow) {
      this.pausedNow = false;
      if (!this.result) this.resumeInline?.();
    }
  }

  /**
   * Writes a snapshot of the running guest into `dir` (`state` and a sparse `memory` file), then
   * lets the guest run on as it was (paused stays paused). The disks are not copied: their path,
   * size and modification time are recorded. One snapshot at a time: a second call while one is
   * being written waits for it and returns its result.
   * @example const info = await vmm.snapshot({ dir: '/tmp/snap' }); // { pages, pausedMs, ... }
   */
  snapshot(options: SnapshotOptions): Promise<SnapshotInfo> {
    if (options.kind === 'diff') {
      const why = !this.parentDir
        ? 'there is no parent: take a full snapshot first (or restore one)'
        : resolvePath(options.dir) === this.parentDir
          ? `${options.dir} holds the parent snapshot: give another directory`
          : undefined;
      if (why) return Promise.reject(new VmmError('snapshot', `diff snapshot: ${why}`));
    }
    this.snapshotting ??= this.takeSnapshot(options.dir, options.kind === 'diff').finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  private async takeSnapshot(dir: string, diff: boolean): Promise<SnapshotInfo> {
    const wasPaused = this.pausedNow;
    const t0 = performance.now();
    await this.pause();
    try {
      const hv = this.hypervisor;
      const opts = { irqchip: hv.capabilities.irqchip, pit: hv.capabilities.pit };
      this.machine.serial?.flush();
      if (this.local) {
        const rest = this.local.output.read();
        if (rest.length) this.consoleSink.write(rest);
      }
      const devices = saveDevices(this.machine);
      for (const p of this.workerPaused.values()) Object.assign(devices, p.devices ?? {});
      const fromWorkers = [...this.workerPaused.values()].sort((a, b) => a.id - b.id).map((p) => p.state);
      const vcpus: VcpuState[] =
        this.workers.length > 0
          ? fromWorkers
          : this.inlineVcpus.map((v) =>
              captureVcpuState(hv, v, {
                ...opts,
                // as u32s (the CPUID builder's bit operations leave some negative)
                cpuid: this.plans[v.id].cpuid.map((e) => ({
                  ...e,
                  eax: e.eax >>> 0,
                  ebx: e.ebx >>> 0,
                  ecx: e.ecx >>> 0,
                  edx: e.edx >>> 0,
                })),
              }),
            );
      const vmState = captureVmState(this.vm, opts);
      const record: VmmRecord = {
        config: this.config,
        cmdline: this.cmdline ?? null,
        disks: diskRecords(this.config.disks.map((d) => d.path)),
        takenAt: Date.now(),
      };
      const state: Omit<SnapshotState, 'memory'> = {
        backend: hv.kind,
        vcpus,
        vm: vmState,
        devices: {
          machine: devices as unknown as StateValue,
          vmm: JSON.parse(JSON.stringify(record)) as StateValue,
        },
      };
      // a diff holds the pages that differ from its parent's image (compared against the parent's
      // memory files, so no write is missed, whoever made it: vCPU, device or the backend itself)
      const dirty = diff
        ? changedPages(this.memory, readSnapshotDir(this.parentDir!).memoryChain)
        : undefined;
      const written = writeSnapshotDir(dir, state, (path) =>
        writeMemoryFile(
          this.memory,
          path,
          'memory',
          diff && dirty ? { pages: dirty, parent: this.parentDir! } : undefined,
        ),
      );
      this.parentDir = resolvePath(dir);
      return {
        dir,
        pages: written.memory.pages.reduce((n, [, c]) => n + c, 0),
        memoryBytes: written.memory.size,
        pausedMs: performance.now() - t0,
      };
    } finally {
      if (!wasPaused) this.resume();
    }
  }

  /**
   * Builds a VM from the snapshot in `dir`, on the backend it was taken on or `overrides.backend`
   * (the other backend works where it offers the CPU features the guest was given); `run()` then
   * resumes the guest where it was. Everything is checked before anything is built: a missing,
   * truncated, corrupted or other-version state file, a missing memory file or one of the wrong
   * size, or missing CPU features is a `snapshot` VmmError naming the problem. Restores warn
   * (through `log`) about disks whose size or modification time changed.
   * @example const vmm = await Vmm.restore('/tmp/snap'); await vmm.run();
   */
  static async restore(dir: string, overrides: RestoreOverrides = {}): Promise<Vmm> {
    const snap = readSnapshotDir(dir);
    const saved = snap.vmm.config;
    const config: VmmConfig = {
      ...saved,
      backend: overrides.backend ?? snap.state.backend,
      vcpus: snap.state.vcpus.length,
    };
    if (config.memoryMib * 0x10_0000 !== snap.state.memory.size)
      throw new VmmError(
        'snapshot',
        `snapshot ${dir}: the memory file holds ${snap.state.memory.size} bytes, the configuration ${config.memoryMib} MiB`,
      );
    // the legacy devices on this thread: their states are restored here
    return Vmm.build(config, { ...overrides.options, threadLocalDevices: false }, snap);
  }

  private attachConsole(): () => void {
    const input = this.options.input === undefined ? (process.stdin as ConsoleInput) : this.options.input;
    if (!input || this.config.console === 'none') return () => {};
    const escapeFilter = new ConsoleEscape();
    const raw = !!input.isTTY && typeof input.setRawMode === 'function';
    if (raw) input.setRawMode!(true);
    const ctl = new Int32Array(this.control);
    let pump: ReturnType<typeof setInterval> | undefined;
    const stopPump = () => {
      if (pump) clearInterval(pump);
      pump = undefined;
    };
    const pumpInput = () => {
      pump ??= setInterval(() => {
        const seen = Atomics.load(ctl, Control.INPUT_SEEN) === Atomics.load(ctl, Control.INPUT_SEQ);
        if (this.result || (seen && Atomics.load(ctl, Control.INPUT_PENDING) === 0)) stopPump();
        else kick();
      }, INPUT_PUMP_MS);
    };
    const kick = () => {
      try {
        this.kickers[0]?.kick();
      } catch {
        // the vCPU is gone (the run is ending)
      }
    };
    let pending: Uint8Array | undefined;
    const feed = (bytes: Uint8Array): number => {
      if (this.machine.virtioConsole) {
        // Like COM1 below: a Linux guest would drop input sent before its hvc0 port is up.
        if (!this.options.raw && !this.machine.virtioConsoleSpoke) return 0;
        return this.machine.virtioConsole.enqueueInput(bytes);
      }
      const serial = this.machine.serial;
      if (serial) return !this.options.raw && !serialAcceptsInput(serial) ? 0 : serial.enqueueInput(bytes);
      if (!this.local) return bytes.length;
      const n = this.local.input.write(bytes);
      if (n > 0) {
        // The vCPU may sit in the guest's HLT: kick it so its thread moves the input into COM1,
        // and keep kicking while COM1 paces it in.
        Atomics.add(ctl, Control.INPUT_SEQ, 1);
        kick();
        pumpInput();
      }
      return n;
    };
    const onData = (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
      const { forward, quit, snapshot } = raw ? escapeFilter.feed(bytes) : { forward: bytes, quit: false };
      if (quit) {
        this.stop('user-quit', 'Ctrl-A X');
        return;
      }
      if (snapshot) this.snapshotKey();
      const n = feed(forward);
      if (n < forward.length) {
        pending = forward.subarray(n);
        input.pause();
        const retry = setInterval(() => {
          if (!pending || this.result) {
            clearInterval(retry);
            return;
          }
          const m = feed(pending);
          pending = m < pending.length ? pending.subarray(m) : undefined;
          if (!pending) {
            clearInterval(retry);
            input.resume();
          }
        }, 5);
      }
    };
    input.on('data', onData);
    input.resume();
    return () => {
      stopPump();
      input.removeListener('data', onData);
      input.pause();
      if (raw) input.setRawMode!(false);
    };
  }

  /** Ctrl-A S: a snapshot into {@link VmmOptions.snapshotDir}, reported on the log. */
  private snapshotKey(): void {
    const dir = this.options.snapshotDir;
    if (!dir) {
      this.log('Ctrl-A S: no snapshot directory (run with --snapshot-dir DIR)');
      return;
    }
    this.snapshot({ dir }).then(
      (i) =>
        this.log(`snapshot written to ${dir}: ${i.pages} pages, guest paused ${i.pausedMs.toFixed(0)} ms`),
      (e: Error) => this.log(`snapshot failed: ${e.message}`),
    );
  }

  private async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    const exited = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            void w.terminate().then(() => resolve());
          }, 3000);
          w.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    );
    for (const k of this.kickers) {
      try {
        k.kick();
      } catch {
        // gone
      }
    }
    await Promise.all(exited);
    // Each release runs even when an earlier one fails: the device backends (the vsock socket
    // file, taps, disk files) are closed on every way a run ends.
    const failures: string[] = [];
    const step = (what: string, release: () => void) => {
      try {
        release();
      } catch (e) {
        failures.push(`${what}: ${(e as Error).message}`);
      }
    };
    step('kickers', () => {
      for (const k of this.kickers.splice(0)) (k as { close?: () => void }).close?.();
    });
    step('vCPUs', () => {
      for (const v of this.inlineVcpus.splice(0)) v.close();
    });
    step('console', () => {
      this.machine.serial?.flush();
      if (this.local) {
        const rest = this.local.output.read();
        if (rest.length) this.consoleSink.write(rest);
      }
      const dropped = this.consoleDropped + (this.machine.serial?.droppedOutputBytes ?? 0);
      if (dropped > 0)
        this.log(
          `guest console: ${dropped} bytes of COM1 output dropped${this.outputClosed ? ' (the output was closed)' : ' while the output was not being read'}`,
        );
    });
    step('devices', () => this.machine.close());
    step('VM', () => this.vm.close());
    step('guest memory', () => this.releaseMemory());
    step('backend', () => {
      if (!this.options.hypervisor) (this.hypervisor as { close?: () => void }).close?.();
    });
    if (failures.length) this.log(`teardown: ${failures.join('; ')}`);
  }
}

/**
 * Stop requests that arrive before the {@link Vmm} exists (a signal while it is built, a device
 * that stops the machine during setup) are held and handed to it.
 */
class StopHold {
  vmm: Vmm | undefined;
  private early: { reason: StopReason; detail?: string; code?: number } | undefined;
  private bound = false;

  readonly stop = (reason: StopReason, detail?: string, code?: number): void => {
    if (this.bound && this.vmm) this.vmm.stop(reason, detail, code);
    else this.early ??= { reason, detail, code };
  };

  bind(vmm: Vmm): void {
    this.vmm = vmm;
    this.bound = true;
    if (this.early) vmm.stop(this.early.reason, this.early.detail, this.early.code);
  }
}

/** The runs that SIGINT/SIGTERM stop: one pair of process listeners serves every VM here. */
const signalTargets = new Set<(reason: StopReason, detail: string) => void>();
const onSigint = () => {
  for (const stop of [...signalTargets]) stop('sigint', 'SIGINT');
};
const onSigterm = () => {
  for (const stop of [...signalTargets]) stop('sigterm', 'SIGTERM');
};

/** SIGINT and SIGTERM stop the run; returns a function that removes it from their targets. */
function attachSignals(stop: (reason: StopReason, detail: string) => void): () => void {
  const target = (reason: StopReason, detail: string) => stop(reason, detail);
  if (signalTargets.size === 0) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
  signalTargets.add(target);
  return () => {
    if (!signalTargets.delete(target) || signalTargets.size > 0) return;
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onSigterm);
  };
}

function readInput(path: string, flag: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new VmmError(
      'boot',
      `${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}

/**
 * The command line the guest gets: base, device discovery parameters, boot timer address, console
 * choice, then the appended parameters.
 */
export function buildCmdline(config: VmmConfig, machine: Pick<Machine, 'virtioDescriptions'>): string {
  const parts = [config.cmdline];
  if (config.discovery !== 'acpi') {
    for (const d of machine.virtioDescriptions()) parts.push(virtioMmioCmdline(d));
  }
  if (config.console === 'virtio' && !/\bconsole=hvc0\b/.test(config.cmdline)) parts.push('console=hvc0');
  parts.push(`${BOOT_TIMER_PARAM}=0x${BOOT_TIMER_ADDR.toString(16)}`);
  if (config.cmdlineAppend) parts.push(config.cmdlineAppend);
  return parts.join(' ').trim();
}

/** `hv`'s CPUID with each feature word and-ed with the other backend's (when it opens here). */
async function portableCpuid(hv: Hypervisor, log: (line: string) => void): Promise<CpuidEntry[]> {
  const other = hv.kind === 'kvm' ? 'emulated' : 'kvm';
  let otherHv: Hypervisor;
  try {
    otherHv = await loadBackend(other);
  } catch (e) {
    log(
      `portable CPU: the ${other} backend is not available here (${(e as Error).message}): the ${hv.kind} backend's own CPUID`,
    );
    return hv.supportedCpuid();
  }
  try {
    return intersectCpuid(hv.supportedCpuid(), otherHv.supportedCpuid());
  } finally {
    (otherHv as { close?: () => void }).close?.();
  }
}
