/**
 * The device side of the reference machine: PIO and MMIO buses with COM1, i8042, RTC, debug-exit,
 * ACPI power, the boot timer and the virtio-mmio devices of the configuration; their interrupt
 * lines and queue-notify I/O events.
 *
 * @module
 */
import * as devices from '@ts-vmm/devices';
import {
  BootTimer,
  Bus,
  type BusDevice,
  DebugExit,
  I8042,
  type IrqLine,
  Rtc,
  Serial,
  type SerialSink,
  type VirtioDevice,
  VirtioMmioTransport,
} from '@ts-vmm/devices';
import type { IoEvent, Vm } from '@ts-vmm/kvm-ioctls';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { VmmConfig } from '../config/types.js';
import {
  ACPI_SLEEP_CONTROL_PORT,
  BOOT_TIMER_ADDR,
  COM1_IRQ,
  COM1_PORT,
  DEBUG_EXIT_PORT,
  I8042_COMMAND_PORT,
  I8042_DATA_PORT,
  RTC_PORT,
  virtioSlot,
} from './address-map.js';
import { VmmError } from './errors.js';
import { ExitKind, type ExitRequest } from './exit-channel.js';
import type { StopReason } from './exit-codes.js';
import { AcpiPowerDevice } from './power.js';

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
}

const nullPort: BusDevice = {
  read: (_o, d) => d.fill(0),
  write: () => {},
};

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
  readonly serial: Serial;
  readonly i8042: I8042;
  readonly bootTimer: BootTimer;
  readonly virtio: WiredVirtio[] = [];
  /** The virtio console, when the configuration asks for one. */
  virtioConsole: devices.Console | undefined;
  private readonly lines: { close(): void }[] = [];
  private readonly ioEvents: IoEvent[] = [];

  private constructor(serial: Serial, i8042: I8042, bootTimer: BootTimer) {
    this.serial = serial;
    this.i8042 = i8042;
    this.bootTimer = bootTimer;
  }

  static async create(o: MachineOptions): Promise<Machine> {
    const { vm, hooks, config } = o;
    const line = (gsi: number): IrqLine => {
      const l = vm.createInterruptLine(gsi);
      return l;
    };
    const serialIrq = line(COM1_IRQ);
    const serial = new Serial({
      irq: serialIrq,
      sink: config.console === 'serial' ? o.consoleSink : undefined,
    });
    const i8042 = new I8042({ onReset: () => hooks.stop('reboot', 'i8042 reset') });
    const bootTimer = new BootTimer({
      onBoot: (ns) =>
        hooks.log(`boot timer: guest reached user space after ${(Number(ns) / 1e6).toFixed(1)} ms`),
    });
    const m = new Machine(serial, i8042, bootTimer);
    m.lines.push(serialIrq as unknown as { close(): void });
    m.pio.register(COM1_PORT, 8, serial, 'com1');
    m.pio.register(I8042_DATA_PORT, 1, i8042.dataPort, 'i8042-data');
    m.pio.register(I8042_COMMAND_PORT, 1, i8042.commandPort, 'i8042-command');
    m.pio.register(RTC_PORT, 2, new Rtc(), 'rtc');
    m.pio.register(
      DEBUG_EXIT_PORT,
      4,
      new DebugExit({ onExit: (code) => hooks.stop('debug-exit', `debug-exit port: code ${code}`, code) }),
      'debug-exit',
    );
    m.pio.register(
      ACPI_SLEEP_CONTROL_PORT,
      3,
      new AcpiPowerDevice((ev) => hooks.stop(ev === 'poweroff' ? 'poweroff' : 'reboot', `ACPI ${ev}`)),
      'acpi-power',
    );
    m.pio.register(0x80, 1, nullPort, 'post-code');
    m.mmio.register(BOOT_TIMER_ADDR, 0x1000, bootTimer, 'boot-timer');
    try {
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
        onError: (e) => o.hooks.log(`${name}: device error: ${(e as Error).message ?? e}`),
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
        blk = new devices.Block({ path: d.path, readOnly: d.readOnly, id: `disk${i}` });
      } catch (e) {
        throw new VmmError(`disk ${d.path}: ${(e as Error).message}`);
      }
      add(`virtio-blk${i}`, blk, () => blk.close());
    });
    for (const [i, n] of config.net.entries()) {
      let tap: devices.TapBackend;
      try {
        tap = await devices.TapBackend.open(n.tap);
      } catch (e) {
        throw new VmmError(`net tap ${n.tap}: ${(e as Error).message}`);
      }
      add(`virtio-net${i}`, new devices.Net({ backend: tap, mac: n.mac }), () => tap.close());
    }
    if (config.console === 'virtio') {
      this.virtioConsole = new devices.Console({ sink: o.consoleSink });
      add('virtio-console', this.virtioConsole);
    }
    add('virtio-rng', new devices.Rng());
    if (config.vsock) {
      const Vsock = (devices as Record<string, unknown>).Vsock as
        | (new (opts: {
            guestCid: number;
            udsPath: string;
          }) => VirtioDevice & { close?(): void })
        | undefined;
      if (!Vsock) throw new VmmError('vsock: @ts-vmm/devices does not export Vsock yet');
      const v = new Vsock({ guestCid: config.vsock.cid, udsPath: config.vsock.uds });
      add('virtio-vsock', v, () => v.close?.());
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

  /** Releases interrupt lines, I/O events and device backends. */
  close(): void {
    for (const e of this.ioEvents.splice(0)) e.close();
    for (const v of this.virtio) v.close?.();
    for (const l of this.lines.splice(0)) l.close();
  }
}
