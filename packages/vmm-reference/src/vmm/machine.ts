/**
 * The device side of the reference machine: PIO and MMIO buses with COM1, i8042, RTC, debug-exit,
 * ACPI power, the boot timer and the virtio-mmio devices of the configuration; their interrupt
 * lines and queue-notify I/O events.
 *
 * @module
 */
import * as devices from '@ts-vmm/devices';
import {
  type BootTimer,
  Bus,
  type I8042,
  LogLimiter,
  type Serial,
  type SerialSink,
  type VirtioDevice,
  VirtioMmioTransport,
} from '@ts-vmm/devices';
import { FileDiskBackend, TapBackend, UnixSocketVsockBackend } from '@ts-vmm/devices/node';
import type { IoEvent, Vm } from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { VmmConfig } from '../config/types.js';
import { COM1_IRQ, I8042_IRQ, virtioSlot } from './address-map.js';
import { VmmError } from './errors.js';
import { ExitKind, type ExitRequest } from './exit-channel.js';
import type { StopReason } from './exit-codes.js';
import { createLegacyDevices, guestWallClock } from './legacy-devices.js';

/** The virtio-mmio queue-notify register offset. */
const QUEUE_NOTIFY = 0x50;

/** What the machine reports to the VMM. */
export interface MachineHooks {
  stop(reason: StopReason, detail?: string, code?: number): void;
  log(line: string): void;
}

/** One virtio-mmio device as wired. */
export interface WiredVirtio {
  name: string;
  base: number;
  size: number;
  irq: number;
  transport: VirtioMmioTransport;
  close?: () => void;
}

/** Options for {@link Machine.create}. */
export interface MachineOptions {
  config: VmmConfig;
  vm: Vm;
  memory: GuestMemory;
  /** Where guest console output goes. */
  consoleSink: SerialSink;
  hooks: MachineHooks;
  /** Use ioeventfd for queue notifications (when the backend supports it). */
  ioEvents: boolean;
  /**
   * Build the legacy devices (COM1, i8042, RTC, debug-exit, ACPI power, boot timer) here (default),
   * or leave them to the vCPU thread that answers its own port exits.
   */
  legacyHere?: boolean;
}

/**
 * The buses and devices of one VM.
 *
 * @example
 * ```ts
 * const m = await Machine.create({ config, vm, memory, consoleSink: process.stdout, hooks, ioEvents: true });
 * m.dispatch(request); // from a vCPU exit
 * ```
 */
export class Machine {
  readonly pio = new Bus('pio');
  readonly mmio = new Bus('mmio');
  /** COM1, when the legacy devices live on this thread. */
  serial: Serial | undefined;
  i8042: I8042 | undefined;
  bootTimer: BootTimer | undefined;
  readonly virtio: WiredVirtio[] = [];
  /** The virtio console, when the configuration asks for one. */
  virtioConsole: devices.Console | undefined;
  /**
   * True once the guest has written to the virtio console. Linux's virtio_console drops host input
   * that arrives before its console port is connected; output on the port shows that it is.
   */
  virtioConsoleSpoke = false;
  private readonly lines: { close(): void }[] = [];
  private readonly ioEvents: IoEvent[] = [];
  /** Device errors are guest-triggered: a burst, then about one line a second per device and kind. */
  private deviceLog: LogLimiter | undefined;

  private constructor() {}

  static async create(o: MachineOptions): Promise<Machine> {
    const { vm, hooks, config } = o;
    const m = new Machine();
    m.deviceLog = new LogLimiter({ write: (line) => hooks.log(line) });
    try {
      if (o.legacyHere !== false) {
        const serialIrq = vm.createInterruptLine(COM1_IRQ);
        m.lines.push(serialIrq);
        const kbdIrq = vm.createInterruptLine(I8042_IRQ);
        m.lines.push(kbdIrq);
        const legacy = createLegacyDevices({
          serialIrq,
          kbdIrq,
          sink: config.console !== 'none' ? o.consoleSink : undefined,
          hooks,
          rtcClock: guestWallClock(vm),
          pio: m.pio,
          mmio: m.mmio,
        });
        m.serial = legacy.serial;
        m.i8042 = legacy.i8042;
        m.bootTimer = legacy.bootTimer;
      }
      await m.wireVirtio(o);
    } catch (e) {
      m.close();
      throw e;
    }
    return m;
  }

  private async wireVirtio(o: MachineOptions): Promise<void> {
    const { config } = o;
    const add = (name: string, device: VirtioDevice, close?: () => void) => {
      const slot = virtioSlot(this.virtio.length);
      const irq = o.vm.createInterruptLine(slot.irq);
      this.lines.push(irq);
      const transport = new VirtioMmioTransport(device, {
        mem: o.memory,
        irq,
        onError: (e) => {
          const line = `${name}: device error: ${(e as Error).message ?? e}`;
          const kind = (e as { kind?: unknown }).kind;
          const key = `${name}: device error (${typeof kind === 'string' ? kind : 'error'})`;
          if (this.deviceLog) this.deviceLog.log(key, line);
          else o.hooks.log(line);
        },
      });
      this.mmio.register(slot.base, slot.size, transport, name);
      if (o.ioEvents) {
        device.queueMaxSizes.forEach((_, q) => {
          this.ioEvents.push(
            o.vm.registerIoEvent(
              { space: 'mmio', address: slot.base + QUEUE_NOTIFY, length: 4, datamatch: BigInt(q) },
              () => transport.notifyQueue(q),
            ),
          );
        });
      }
      this.virtio.push({ name, ...slot, transport, close });
    };
    config.disks.forEach((d, i) => {
      let blk: devices.Block;
      try {
        const backend = FileDiskBackend.open(d.path, { readOnly: d.readOnly });
        blk = new devices.Block({ backend, readOnly: d.readOnly, id: `disk${i}` });
      } catch (e) {
        throw new VmmError('device', `disk ${d.path}: ${(e as Error).message}`, { cause: e });
      }
      add(`virtio-blk${i}`, blk, () => blk.close());
    });
    for (const [i, n] of config.net.entries()) {
      let tap: TapBackend;
      try {
        tap = await TapBackend.open(n.tap);
      } catch (e) {
        throw new VmmError('device', `net tap ${n.tap}: ${(e as Error).message}`, { cause: e });
      }
      add(`virtio-net${i}`, new devices.Net({ backend: tap, mac: n.mac }), () => tap.close());
    }
    if (config.console === 'virtio') {
      const sink = o.consoleSink;
      this.virtioConsole = new devices.Console({
        sink: {
          write: (chunk) => {
            this.virtioConsoleSpoke = true;
            return sink.write(chunk);
          },
          once: sink.once ? (ev, l) => sink.once!(ev, l) : undefined,
        },
      });
      add('virtio-console', this.virtioConsole);
    }
    add('virtio-rng', new devices.Rng());
    if (config.vsock) {
      let v: devices.Vsock;
      try {
        const backend = new UnixSocketVsockBackend({ path: config.vsock.uds });
        v = new devices.Vsock({ guestCid: config.vsock.cid, backend });
        await v.ready;
      } catch (e) {
        throw new VmmError('device', `vsock uds ${config.vsock.uds}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      add('virtio-vsock', v, () => void v.close());
    }
  }

  /** Descriptions of the virtio devices for ACPI and the command line. */
  virtioDescriptions(): { base: number; size: number; irq: number }[] {
    return this.virtio.map(({ base, size, irq }) => ({ base, size, irq }));
  }

  /**
   * Answers one port/MMIO exit (string I/O element by element).
   * @example machine.dispatch({ kind: ExitKind.PIO_WRITE, address: 0x3f8, size: 1, count: 1, data })
   */
  dispatch(req: ExitRequest): void {
    const count = Math.max(req.count, 1);
    switch (req.kind) {
      case ExitKind.PIO_READ:
        for (let i = 0; i < count; i++)
          this.pio.read(req.address, req.data.subarray(i * req.size, (i + 1) * req.size));
        break;
      case ExitKind.PIO_WRITE:
        for (let i = 0; i < count; i++)
          this.pio.write(req.address, req.data.subarray(i * req.size, (i + 1) * req.size));
        break;
      case ExitKind.MMIO_READ:
        this.mmio.read(req.address, req.data.subarray(0, req.size));
        break;
      case ExitKind.MMIO_WRITE:
        this.mmio.write(req.address, req.data.subarray(0, req.size));
        break;
    }
  }

  /** Releases interrupt lines, I/O events and device backends; reports suppressed device errors. */
  close(): void {
    for (const e of this.ioEvents.splice(0)) e.close();
    for (const v of this.virtio) v.close?.();
    this.serial?.close(); // its input timer, before its interrupt line goes
    for (const l of this.lines.splice(0)) l.close();
    this.deviceLog?.close();
  }
}
