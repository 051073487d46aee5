/**
 * The browser machine: the emulated backend, guest RAM in one shared WebAssembly.Memory, the
 * legacy devices and the Linux boot of the reference VMM (through `./reference.js`), virtio-rng
 * and an optional memory-backed virtio-blk disk on the same virtio-mmio slots, and a run loop that
 * hands the worker's event loop a turn between slices.
 *
 * What differs from the reference VMM's `Machine` (which also opens disk files, taps and vsock
 * sockets through `@ts-vmm/devices/node`): no Node backends, and COM1's paced input is ticked from
 * the run loop (`serialInputTimer: false`) instead of a timer.
 *
 * @module
 */
import {
  Block,
  BOOT_TIMER_MMIO_BASE,
  type IrqLine,
  MemoryDiskBackend,
  Rng,
  type VirtioDevice,
  VirtioMmioTransport,
} from '@ts-vmm/devices';
import type { IoEvent, Vcpu, VcpuExit, Vm } from '@ts-vmm/hypervisor';
import { bootMsrs } from '@ts-vmm/linux-loader';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import { EmulatedHypervisor } from '@ts-vmm/x86-emulator';
import {
  applyVcpuPlan,
  BOOT_TIMER_PARAM,
  COM1_IRQ,
  createGuestMemory,
  createLegacyDevices,
  DEFAULT_CMDLINE,
  ExitKind,
  type ExitKindValue,
  guestWallClock,
  handleExit,
  I8042_IRQ,
  prepareLinuxBoot,
  ramLayout,
  type StopReason,
  serialAcceptsInput,
  type VcpuStats,
  vcpuCpuid,
  virtioSlot,
} from './reference.js';

/** The virtio-mmio queue-notify register offset. */
const QUEUE_NOTIFY = 0x50;

/** What to boot. */
export interface MachineSpec {
  kernel: Uint8Array;
  initrd?: Uint8Array;
  /** A raw disk image for virtio-blk (the guest's writes change these bytes). */
  disk?: Uint8Array;
  memoryMib: number;
  /** The base command line (default the reference VMM's `console=ttyS0 reboot=k panic=1 pci=off`). */
  cmdline?: string;
  /** Appended to the command line. */
  cmdlineAppend?: string;
}

/** Where the machine reports. */
export interface MachineHost {
  /** Guest console bytes (COM1). */
  output(bytes: Uint8Array): void;
  log(line: string): void;
  /** The run ended; called once. */
  exit(reason: StopReason, detail?: string): void;
  /** After each run slice, before the event loop's turn (flush output, report the rate). */
  afterSlice?(): void;
}

/** A booted machine; {@link BrowserMachine.start} runs it. */
export class BrowserMachine {
  /** The boot summary line of the loader. */
  readonly summary: string;
  /** The complete command line the guest got. */
  readonly cmdline: string;
  private stopped = false;
  private readonly pending: Uint8Array[] = [];
  private readonly stats: VcpuStats = { exits: 0, io: 0, mmio: 0 };
  private readonly closers: (() => void)[] = [];

  private constructor(
    private readonly host: MachineHost,
    private readonly parts: {
      vm: Vm;
      vcpu: Vcpu;
      memory: GuestMemory;
      pio: import('@ts-vmm/devices').Bus;
      mmio: import('@ts-vmm/devices').Bus;
      serial: import('@ts-vmm/devices').Serial;
    },
    summary: string,
    cmdline: string,
    closers: (() => void)[],
  ) {
    this.summary = summary;
    this.cmdline = cmdline;
    this.closers = closers;
  }

  /**
   * Builds the VM and loads the kernel; throws a `VmmError` of kind `'boot'` for a file that is
   * not a kernel (the loader's message names what it found).
   */
  static async create(spec: MachineSpec, host: MachineHost): Promise<BrowserMachine> {
    const closers: (() => void)[] = [];
    const close = () => {
      for (const c of closers.splice(0).reverse()) {
        try {
          c();
        } catch {
          // released as far as it goes
        }
      }
    };
    let machine: BrowserMachine | undefined;
    const stop = (reason: StopReason, detail?: string) => machine?.finish(reason, detail);
    try {
      const hv = new EmulatedHypervisor({ clockMode: 'realtime' });
      const { memory, release } = await createGuestMemory('emulated', ramLayout(spec.memoryMib));
      closers.push(release);
      const vm = await hv.createVm({ memory });
      closers.push(() => vm.close());
      vm.createIrqchip();
      vm.createPit();
      const line = (gsi: number): IrqLine => {
        const l = vm.createInterruptLine(gsi);
        closers.push(() => l.close());
        return l;
      };
      const legacy = createLegacyDevices({
        serialIrq: line(COM1_IRQ),
        kbdIrq: line(I8042_IRQ),
        sink: {
          write: (bytes) => {
            host.output(bytes.slice());
            return true;
          },
        },
        hooks: { stop, log: (l) => host.log(l) },
        serialInputTimer: false,
        rtcClock: guestWallClock(vm),
      });
      closers.push(() => legacy.serial.close());

      const virtio: { base: number; size: number; irq: number }[] = [];
      const add = (name: string, device: VirtioDevice) => {
        const slot = virtioSlot(virtio.length);
        const transport = new VirtioMmioTransport(device, {
          mem: memory,
          irq: line(slot.irq),
          onError: (e) => host.log(`${name}: device error: ${(e as Error).message ?? e}`),
        });
        legacy.mmio.register(slot.base, slot.size, transport, name);
        device.queueMaxSizes.forEach((_, q) => {
          const ev: IoEvent = vm.registerIoEvent(
            { space: 'mmio', address: slot.base + QUEUE_NOTIFY, length: 4, datamatch: BigInt(q) },
            () => transport.notifyQueue(q),
          );
          closers.push(() => ev.close());
        });
        virtio.push(slot);
      };
      if (spec.disk) {
        const blk = new Block({ backend: new MemoryDiskBackend(spec.disk), id: 'disk0', mode: 'sync' });
        closers.push(() => blk.close());
        add('virtio-blk0', blk);
      }
      add('virtio-rng', new Rng());

      const cmdline = [
        spec.cmdline ?? DEFAULT_CMDLINE,
        `${BOOT_TIMER_PARAM}=0x${BOOT_TIMER_MMIO_BASE.toString(16)}`,
        spec.cmdlineAppend ?? '',
      ]
        .join(' ')
        .trim();
      const boot = prepareLinuxBoot(memory, {
        kernel: spec.kernel,
        initrd: spec.initrd,
        cmdline,
        vcpus: 1,
        virtioDevices: virtio,
        serial: true,
      });
      const vcpu = vm.createVcpu(0);
      closers.push(() => vcpu.close());
      applyVcpuPlan(vcpu, {
        id: 0,
        cpuid: vcpuCpuid(hv.supportedCpuid(), { vcpuId: 0, vcpuCount: 1, backend: hv.kind }),
        msrs: bootMsrs(hv.supportedMsrs()),
        irqchip: true,
        entry: boot.entry,
        layout: boot.layout,
      });
      machine = new BrowserMachine(
        host,
        { vm, vcpu, memory, pio: legacy.pio, mmio: legacy.mmio, serial: legacy.serial },
        boot.summary,
        cmdline,
        closers,
      );
      return machine;
    } catch (e) {
      close();
      throw e;
    }
  }

  /** Guest instructions retired so far. */
  get instructions(): number {
    return (this.parts.vcpu as unknown as { cpu?: { icount?: number } }).cpu?.icount ?? 0;
  }

  /** Queues keyboard bytes for COM1; they go in as the guest's driver takes them. */
  input(bytes: Uint8Array): void {
    if (bytes.length) this.pending.push(bytes);
  }

  /** Ends the run (the first reason wins). */
  stop(reason: StopReason = 'user-quit', detail = 'stopped by the page'): void {
    this.finish(reason, detail);
  }

  /**
   * Runs the guest: slices of `run()` until the vCPU halts or `sliceMs` pass, then one turn of the
   * worker's event loop (messages: input, stop), and again until the guest powers off or stops.
   */
  start(sliceMs = 20): void {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => this.slice(sliceMs, channel.port2);
    channel.port2.postMessage(null);
    this.closers.push(() => channel.port1.close());
  }

  private slice(sliceMs: number, wake: MessagePort): void {
    if (this.stopped) return;
    const { vcpu, serial } = this.parts;
    const t0 = performance.now();
    this.feed();
    const hooks = {
      io: (kind: ExitKindValue, address: number, size: number, count: number, data: Uint8Array) => {
        this.dispatch(kind, address, size, count, data);
        return !this.stopped;
      },
      stopping: () => this.stopped,
      idle: () => {},
      stop: (reason: StopReason, detail?: string) => this.finish(reason, detail),
    };
    for (;;) {
      let exit: VcpuExit;
      try {
        exit = vcpu.run();
      } catch (e) {
        this.finish('error', `vCPU 0: ${(e as Error).message}`);
        return;
      }
      if (exit.kind === 'internal-error') {
        this.finish('error', `vCPU 0: internal error (suberror ${exit.suberror}): ${exit.message}`);
        return;
      }
      if (!handleExit(0, exit, hooks, this.stats)) break;
      serial.tick();
      if (exit.kind === 'interrupted' || exit.kind === 'hlt' || performance.now() - t0 >= sliceMs) break;
    }
    if (this.stopped) return;
    this.host.afterSlice?.();
    wake.postMessage(null);
  }

  private feed(): void {
    const serial = this.parts.serial;
    serial.tick();
    while (this.pending.length && serialAcceptsInput(serial)) {
      const head = this.pending[0];
      const n = serial.enqueueInput(head);
      if (n >= head.length) this.pending.shift();
      else {
        this.pending[0] = head.subarray(n);
        break;
      }
    }
  }

  private dispatch(
    kind: ExitKindValue,
    address: number,
    size: number,
    count: number,
    data: Uint8Array,
  ): void {
    const { pio, mmio } = this.parts;
    const n = Math.max(count, 1);
    if (kind === ExitKind.PIO_READ)
      for (let i = 0; i < n; i++) pio.read(address, data.subarray(i * size, (i + 1) * size));
    else if (kind === ExitKind.PIO_WRITE)
      for (let i = 0; i < n; i++) pio.write(address, data.subarray(i * size, (i + 1) * size));
    else if (kind === ExitKind.MMIO_READ) mmio.read(address, data.subarray(0, size));
    else mmio.write(address, data.subarray(0, size));
  }

  private finish(reason: StopReason, detail?: string): void {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.parts.serial.flush();
    } catch {
      // nothing more to show
    }
    for (const c of this.closers.splice(0).reverse()) {
      try {
        c();
      } catch {
        // released as far as it goes
      }
    }
    this.host.exit(reason, detail);
  }
}
