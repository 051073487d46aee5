import type { BusDevice } from './bus.js';
import type { IrqLine } from './irq.js';
import { type DeviceState, StateReader } from './state.js';

/** Status register bits. */
const SB_OUT_FULL = 0x01;
const SB_SYSTEM_FLAG = 0x04;
const SB_COMMAND = 0x08; // last write was to the command port
const SB_KBD_ENABLED = 0x10; // keyboard not inhibited

/** Controller commands (written to port 0x64). */
export const I8042_CMD = {
  READ_CTR: 0x20,
  WRITE_CTR: 0x60,
  DISABLE_AUX: 0xa7,
  ENABLE_AUX: 0xa8,
  AUX_TEST: 0xa9,
  SELF_TEST: 0xaa,
  INTERFACE_TEST: 0xab,
  DISABLE_KBD: 0xad,
  ENABLE_KBD: 0xae,
  READ_INPUT_PORT: 0xc0,
  READ_OUTPUT_PORT: 0xd0,
  WRITE_OUTPUT_PORT: 0xd1,
  WRITE_KBD_OUTPUT: 0xd2,
  WRITE_AUX_OUTPUT: 0xd3,
  WRITE_AUX: 0xd4,
  PULSE_RESET: 0xfe,
} as const;

/** Options for an {@link I8042}. */
export interface I8042Options {
  /** Called when the guest asks the controller to reset the CPU (0xFE, or output port bit 0 cleared). */
  onReset?: () => void;
  /** Keyboard interrupt line (IRQ 1), raised when a byte is placed in the output buffer for the keyboard. */
  irq?: IrqLine;
}

const OUTPUT_BUFFER_SIZE = 16;
/** Command byte: the keyboard clock is disabled. */
const CTR_KBD_DISABLED = 0x10;
/** Command byte: translate scan code set 2 to set 1. */
const CTR_TRANSLATE = 0x40;

/**
 * The part of an i8042 keyboard controller a microVM needs: enough of the status/command protocol
 * for Linux's i8042 driver to probe it quietly, and the CPU reset line (`reboot=k`). The reset
 * command 0xFE and a 0xD1 write of the output port with bit 0 clear both call `onReset`.
 *
 * The controller lives at two ports that are not adjacent (0x60 data, 0x64 status/command), so it
 * exposes two bus devices.
 *
 * @example
 * ```ts
 * import { Bus, I8042 } from '@ts-vmm/devices';
 * const kbd = new I8042({ onReset: () => vmm.stop('reboot') });
 * pio.register(0x60, 1, kbd.dataPort, 'i8042-data');
 * pio.register(0x64, 1, kbd.commandPort, 'i8042-cmd');
 * ```
 */
export class I8042 {
  private status = SB_SYSTEM_FLAG | SB_KBD_ENABLED;
  private ctr = 0x47; // kbd int, aux int, system flag, translate
  private outputPort = 0x01;
  private pendingCommand = 0;
  private readonly out: number[] = [];
  /** Whether each byte of `out` comes from the keyboard (raises IRQ 1) or the controller. */
  private readonly fromKbd: boolean[] = [];
  /** Number of reset requests seen. */
  resetCount = 0;
  private readonly onReset?: () => void;
  private readonly irq?: IrqLine;

  /** The data port (0x60). */
  readonly dataPort: BusDevice = {
    read: (_off, data) => {
      data.fill(0);
      data[0] = this.readData();
    },
    write: (_off, data) => this.writeData(data[0]),
  };

  /** The status (read) / command (write) port (0x64). */
  readonly commandPort: BusDevice = {
    read: (_off, data) => {
      data.fill(0);
      data[0] = this.status;
    },
    write: (_off, data) => this.writeCommand(data[0]),
  };

  constructor(options: I8042Options = {}) {
    this.onReset = options.onReset;
    this.irq = options.irq;
  }

  /**
   * Queues a byte for the guest. A keyboard byte raises IRQ 1 when it reaches the output buffer
   * (now, if the buffer was empty; else when the guest has read the bytes before it), one edge a
   * byte as on an 8042, so an edge-triggered guest driver reads every byte of a burst.
   */
  private push(b: number, kbd: boolean): void {
    if (this.out.length >= OUTPUT_BUFFER_SIZE) return;
    const wasEmpty = this.out.length === 0;
    this.out.push(b & 0xff);
    this.fromKbd.push(kbd);
    this.status |= SB_OUT_FULL;
    if (wasEmpty && kbd && this.ctr & 0x01) this.irq?.trigger();
  }

  private reset(): void {
    this.resetCount++;
    this.onReset?.();
  }

  /** Reads the data port. */
  readData(): number {
    const b = this.out.shift() ?? 0;
    this.fromKbd.shift();
    if (this.out.length === 0) this.status &= ~SB_OUT_FULL;
    else if (this.fromKbd[0] && this.ctr & 0x01) this.irq?.trigger();
    return b;
  }

  /** Writes the command port. */
  writeCommand(cmd: number): void {
    this.status |= SB_COMMAND;
    this.pendingCommand = 0;
    switch (cmd) {
      case I8042_CMD.READ_CTR:
        this.push(this.ctr, false);
        break;
      case I8042_CMD.WRITE_CTR:
      case I8042_CMD.WRITE_OUTPUT_PORT:
      case I8042_CMD.WRITE_KBD_OUTPUT:
      case I8042_CMD.WRITE_AUX_OUTPUT:
      case I8042_CMD.WRITE_AUX:
        this.pendingCommand = cmd;
        break;
      case I8042_CMD.DISABLE_AUX:
        this.ctr |= 0x20;
        break;
      case I8042_CMD.ENABLE_AUX:
        this.ctr &= ~0x20;
        break;
      case I8042_CMD.AUX_TEST:
      case I8042_CMD.INTERFACE_TEST:
        this.push(0x00, false);
        break;
      case I8042_CMD.SELF_TEST:
        this.push(0x55, false);
        break;
      case I8042_CMD.DISABLE_KBD:
        this.ctr |= 0x10;
        break;
      case I8042_CMD.ENABLE_KBD:
        this.ctr &= ~0x10;
        break;
      case I8042_CMD.READ_INPUT_PORT:
        this.push(0x80, false);
        break;
      case I8042_CMD.READ_OUTPUT_PORT:
        this.push(this.outputPort, false);
        break;
      case I8042_CMD.PULSE_RESET:
        this.reset();
        break;
      default:
        // 0xF0-0xFF pulse output lines: bit 0 low pulses reset.
        if (cmd >= 0xf0 && (cmd & 0x01) === 0) this.reset();
        break;
    }
  }

  /** Writes the data port: a parameter of the last command, or a byte for the keyboard. */
  writeData(b: number): void {
    this.status &= ~SB_COMMAND;
    const cmd = this.pendingCommand;
    this.pendingCommand = 0;
    if (cmd === I8042_CMD.WRITE_CTR) {
      this.ctr = b;
      return;
    }
    if (cmd === I8042_CMD.WRITE_OUTPUT_PORT) {
      this.outputPort = b;
      if ((b & 0x01) === 0) this.reset();
      return;
    }
    // 0xD2 echoes the byte as if the keyboard sent it. No mouse is attached: a byte for the aux
    // port or its output buffer (0xD4, 0xD3: Linux's AUX loopback probe) gets no answer, so the
    // guest finds no aux device instead of reading a keyboard ACK as the mouse's reply.
    if (cmd === I8042_CMD.WRITE_KBD_OUTPUT) {
      this.push(b, true);
      return;
    }
    if (cmd === I8042_CMD.WRITE_AUX_OUTPUT || cmd === I8042_CMD.WRITE_AUX) return;
    // A keyboard command: acknowledge it; answer reset with "self test passed" and identify with
    // an MF2 keyboard's ID (translated to 0xab 0x41 when the controller translates, as an 8042 does).
    this.push(0xfa, true);
    if (b === 0xff) this.push(0xaa, true);
    if (b === 0xf2) {
      this.push(0xab, true);
      this.push(this.ctr & CTR_TRANSLATE ? 0x41 : 0x83, true);
    }
  }

  /**
   * Presses Ctrl-Alt-Del on the keyboard, as Firecracker's `SendCtrlAltDel` does: the make codes
   * of Left Ctrl, Left Alt and Delete, in scan code set 1 when the controller translates (the
   * command byte's bit 6, set at reset and kept by Linux) and in set 2 otherwise, each raising
   * IRQ 1. A Linux guest (i8042 and atkbd drivers) then reboots, or signals its init. Returns
   * false, queueing nothing, when the output buffer lacks room or the guest disabled the keyboard.
   *
   * @example
   * ```ts
   * const kbd = new I8042({ irq: vm.createInterruptLine(1) });
   * kbd.sendCtrlAltDel(); // true
   * ```
   */
  sendCtrlAltDel(): boolean {
    const codes = this.ctr & CTR_TRANSLATE ? [0x1d, 0x38, 0xe0, 0x53] : [0x14, 0x11, 0xe0, 0x71];
    if (this.ctr & CTR_KBD_DISABLED || this.out.length + codes.length > OUTPUT_BUFFER_SIZE) return false;
    for (const c of codes) this.push(c, true);
    return true;
  }

  /**
   * The controller's state for a snapshot: status, command byte, output port, the command waiting
   * for its parameter and the output buffer.
   * @example fresh.restore(kbd.save());
   */
  save(): DeviceState {
    return {
      device: 'i8042',
      version: 1,
      status: this.status,
      ctr: this.ctr,
      outputPort: this.outputPort,
      pendingCommand: this.pendingCommand,
      out: [...this.out],
      fromKbd: [...this.fromKbd],
    };
  }

  /**
   * Loads a state from {@link I8042.save}, checked first (an `invalid-state` DeviceError names the
   * bad field; nothing changes).
   * @example fresh.restore(kbd.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('i8042', state, 1);
    const status = r.u8('status');
    const ctr = r.u8('ctr');
    const outputPort = r.u8('outputPort');
    const pendingCommand = r.u8('pendingCommand');
    const out = r.array('out', OUTPUT_BUFFER_SIZE).map((b, i) => r.int(`out[${i}]`, 0, 0xff, b));
    const fromKbd = r.array('fromKbd', OUTPUT_BUFFER_SIZE).map((b, i) => r.bool(`fromKbd[${i}]`, b));
    if (fromKbd.length !== out.length)
      throw r.bad('fromKbd', `${fromKbd.length} entries for the ${out.length} bytes of out`);
    this.status = status;
    this.ctr = ctr;
    this.outputPort = outputPort;
    this.pendingCommand = pendingCommand;
    this.out.splice(0, this.out.length, ...out);
    this.fromKbd.splice(0, this.fromKbd.length, ...fromKbd);
  }
}
