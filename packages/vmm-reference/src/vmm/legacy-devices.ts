/**
 * The legacy part of the machine, built the same way on whichever thread owns it: COM1, i8042,
 * RTC, debug-exit, ACPI power registers, the POST-code port and the boot timer.
 *
 * @module
 */
import {
  ACPI_POWER_SIZE,
  AcpiPowerDevice,
  BootTimer,
  Bus,
  type BusDevice,
  DebugExit,
  I8042,
  type IrqLine,
  Rtc,
  Serial,
  type SerialSink,
  UART_REG,
} from '@ts-vmm/devices';
import {
  ACPI_RESET_VALUE,
  ACPI_SLEEP_CONTROL_PORT,
  BOOT_TIMER_ADDR,
  COM1_PORT,
  DEBUG_EXIT_PORT,
  I8042_COMMAND_PORT,
  I8042_DATA_PORT,
  RTC_PORT,
} from './address-map.js';
import type { StopReason } from './exit-codes.js';

/**
 * Whether the guest's driver is ready for serial input: receive-data interrupts enabled (Linux's
 * 8250 driver sets IER.RDI when the tty is opened and flushes the FIFO just before). Host input
 * for a Linux guest waits for this, so piped stdin is not thrown away at the port's first open.
 * @example if (serialAcceptsInput(serial)) serial.enqueueInput(bytes);
 */
export function serialAcceptsInput(serial: Serial): boolean {
  if (serial.readRegister(UART_REG.LCR) & 0x80) return false; // DLAB: IER reads the divisor
  return (serial.readRegister(UART_REG.IER) & 0x01) !== 0;
}

/** Size of the boot timer's MMIO window. */
export const BOOT_TIMER_SIZE = 0x1000;

/** What the legacy devices report. */
export interface LegacyHooks {
  stop(reason: StopReason, detail?: string, code?: number): void;
  log(line: string): void;
}

/** The legacy devices and the buses they sit on. */
export interface LegacyDevices {
  pio: Bus;
  mmio: Bus;
  serial: Serial;
  i8042: I8042;
  bootTimer: BootTimer;
}

const postCode: BusDevice = {
  read: (_o, d) => d.fill(0),
  write: () => {},
};

/**
 * The wall clock a VM's guest should see on its CMOS RTC, in ms since the Unix epoch: the clock
 * its kvm-clock wall clock is kept on. For the emulated backend that is the machine clock's
 * (`EmulatedVm.clock.wallClockMs()`): the host's wall clock on the `realtime` clock, the start time
 * plus virtual elapsed time on the `virtual` one, so a deterministic run's RTC is deterministic
 * too. Undefined for a VM that keeps host time (KVM): the RTC then reads the host's clock.
 * @example const legacy = createLegacyDevices({ serialIrq, sink, hooks, rtcClock: guestWallClock(vm) });
 */
export function guestWallClock(vm: unknown): (() => number) | undefined {
  const clock = (vm as { clock?: { wallClockMs?: unknown } } | null)?.clock;
  if (clock === null || typeof clock !== 'object' || typeof clock.wallClockMs !== 'function')
    return undefined;
  const c = clock as { wallClockMs(): number };
  return () => c.wallClockMs();
}

/**
 * Builds the legacy devices on fresh buses (or on the given ones).
 *
 * @example
 * ```ts
 * const legacy = createLegacyDevices({ serialIrq: vm.createInterruptLine(4), sink: process.stdout, hooks });
 * legacy.pio.write(0x3f8, Uint8Array.of(0x41));
 * ```
 */
export function createLegacyDevices(o: {
  serialIrq: IrqLine;
  /** The i8042 keyboard's IRQ 1 (key presses: Ctrl-Alt-Del); without it the keyboard is silent. */
  kbdIrq?: IrqLine;
  sink: SerialSink | undefined;
  hooks: LegacyHooks;
  onInputSpace?: () => void;
  /**
   * Let COM1 set its own timer to deliver paced host input (default true). False on a vCPU thread,
   * whose event loop does not run while the guest does: it calls `serial.tick()` from its loop.
   */
  serialInputTimer?: boolean;
  /**
   * The guest's wall clock for the CMOS RTC, in ms since the Unix epoch (default the host's,
   * `Date.now`). Give {@link guestWallClock}'s answer, so that on the emulator's virtual clock
   * the RTC tells virtual time.
   */
  rtcClock?: () => number;
  pio?: Bus;
  mmio?: Bus;
}): LegacyDevices {
  const { hooks } = o;
  const pio = o.pio ?? new Bus('pio');
  const mmio = o.mmio ?? new Bus('mmio');
  const serial = new Serial({
    irq: o.serialIrq,
    sink: o.sink,
    onInputSpace: o.onInputSpace,
    inputTimer: o.serialInputTimer,
  });
  const i8042 = new I8042({ onReset: () => hooks.stop('reboot', 'i8042 reset'), irq: o.kbdIrq });
  const bootTimer = new BootTimer({
    onBoot: (ns) =>
      hooks.log(`boot timer: guest reached user space after ${(Number(ns) / 1e6).toFixed(1)} ms`),
  });
  pio.register(COM1_PORT, 8, serial, 'com1');
  pio.register(I8042_DATA_PORT, 1, i8042.dataPort, 'i8042-data');
  pio.register(I8042_COMMAND_PORT, 1, i8042.commandPort, 'i8042-command');
  pio.register(RTC_PORT, 2, new Rtc({ clock: o.rtcClock }), 'rtc');
  pio.register(
    DEBUG_EXIT_PORT,
    4,
    new DebugExit({ onExit: (code) => hooks.stop('debug-exit', `debug-exit port: code ${code}`, code) }),
    'debug-exit',
  );
  pio.register(
    ACPI_SLEEP_CONTROL_PORT,
    ACPI_POWER_SIZE,
    new AcpiPowerDevice({
      onEvent: (ev) => hooks.stop(ev === 'poweroff' ? 'poweroff' : 'reboot', `ACPI ${ev}`),
      resetValue: ACPI_RESET_VALUE, // what the FADT tells the guest to write
    }),
    'acpi-power',
  );
  pio.register(0x80, 1, postCode, 'post-code');
  mmio.register(BOOT_TIMER_ADDR, BOOT_TIMER_SIZE, bootTimer, 'boot-timer');
  return { pio, mmio, serial, i8042, bootTimer };
}
