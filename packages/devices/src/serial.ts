import type { BusDevice } from './bus.js';
import { DeviceError } from './errors.js';
import type { IrqLine } from './irq.js';
import { bytesToBase64, type DeviceState, StateReader } from './state.js';

/** Register offsets of a 16550A, relative to its base port. */
export const UART_REG = {
  /** DLAB=0 read: receiver buffer; write: transmitter holding. DLAB=1: divisor latch low. */
  DATA: 0,
  /** DLAB=0: interrupt enable. DLAB=1: divisor latch high. */
  IER: 1,
  /** Read: interrupt identification. Write: FIFO control. */
  IIR_FCR: 2,
  LCR: 3,
  MCR: 4,
  LSR: 5,
  MSR: 6,
  SCR: 7,
} as const;

const IER_RDA = 0x01;
const IER_THRE = 0x02;
const IER_RLS = 0x04;
const IER_MS = 0x08;

const IIR_NONE = 0x01;
const IIR_MS = 0x00;
const IIR_THRE = 0x02;
const IIR_RDA = 0x04;
const IIR_RLS = 0x06;
const IIR_TIMEOUT = 0x0c;
const IIR_FIFO_BITS = 0xc0;

const LCR_DLAB = 0x80;

const MCR_DTR = 0x01;
const MCR_RTS = 0x02;
const MCR_OUT1 = 0x04;
const MCR_OUT2 = 0x08;
const MCR_LOOP = 0x10;

const LSR_DR = 0x01;
const LSR_OE = 0x02;
const LSR_BI = 0x10;
const LSR_THRE = 0x20;
const LSR_TEMT = 0x40;

const MSR_CTS = 0x10;
const MSR_DSR = 0x20;
const MSR_RI = 0x40;
const MSR_DCD = 0x80;

const FCR_ENABLE = 0x01;
const FCR_CLEAR_RX = 0x02;
const TRIGGER_LEVELS = [1, 4, 8, 14];

/** Size of the receive and transmit FIFOs (the 16550A has 16; ts-vmm models 64 like the 16750). */
export const SERIAL_FIFO_SIZE = 64;

/**
 * Where transmitted bytes go. A Node `Writable` (such as `process.stdout`) fits: `write` returning
 * false means "accepted, but stop until 'drain'".
 */
export interface SerialSink {
  write(chunk: Uint8Array): boolean;
  once?(event: 'drain', listener: () => void): unknown;
}

/** Options for a {@link Serial}. */
export interface SerialOptions {
  /** The interrupt line (COM1: IRQ 4). */
  irq?: IrqLine;
  /** Where output goes; without one, output is buffered (up to `outputBufferSize`) for {@link Serial.takeOutput}. */
  sink?: SerialSink;
  /** Bytes buffered while the sink is stalled; more are dropped and counted. Default 64 KiB. */
  outputBufferSize?: number;
  /** Host input held beyond the receive FIFO. Default 4 KiB. */
  inputBufferSize?: number;
  /** Called when input space becomes available after {@link Serial.enqueueInput} filled it. */
  onInputSpace?: () => void;
  /**
   * Characters per second at which host input reaches the receive FIFO. Default: the line's own
   * speed, from the divisor latch and LCR (115200 / divisor baud, 10 bits a character at 8N1:
   * 11520/s at divisor 1, 960/s at the reset divisor 12). After a quiet spell a FIFO's worth
   * (64 characters) arrives at once.
   */
  inputRate?: number;
  /** Monotonic clock in milliseconds that paces input. Default `performance.now()`. */
  clock?: () => number;
  /**
   * Whether the device sets its own timer (`setTimeout`) to move paced input into the FIFO and
   * raise the interrupt while the guest is not touching the port. Default true. A thread whose event
   * loop does not run while the guest does (a vCPU worker that owns the port) calls
   * {@link Serial.tick} from its run loop instead.
   */
  inputTimer?: boolean;
}

/** The 16550's reference clock divided by 16: the baud rate at divisor 1. */
const BAUD_BASE = 115200;

/** A bounded byte FIFO (ring buffer). */
class ByteRing {
  private buf: Uint8Array;
  private head = 0;
  length = 0;
  constructor(readonly capacity: number) {
    this.buf = new Uint8Array(capacity);
  }
  get free(): number {
    return this.capacity - this.length;
  }
  push(b: number): boolean {
    if (this.length === this.capacity) return false;
    this.buf[(this.head + this.length) % this.capacity] = b;
    this.length++;
    return true;
  }
  shift(): number {
    const b = this.buf[this.head];
    this.head = (this.head + 1) % this.capacity;
    this.length--;
    return b;
  }
  clear(): void {
    this.head = 0;
    this.length = 0;
  }
  drain(): Uint8Array {
    const out = this.peek();
    this.clear();
    return out;
  }
  peek(): Uint8Array {
    const out = new Uint8Array(this.length);
    for (let i = 0; i < out.length; i++) out[i] = this.buf[(this.head + i) % this.capacity];
    return out;
  }
  load(bytes: Uint8Array): void {
    this.clear();
    for (const b of bytes) this.push(b);
  }
}

/** The state format version of {@link Serial.save}. */
const SERIAL_STATE_VERSION = 1;

/**
 * A 16550A UART with 64-byte FIFOs: every register (RBR/THR, IER, IIR/FCR, LCR, MCR, LSR, MSR, SCR,
 * DLL/DLM), received-data, character-timeout, THR-empty, line-status and modem-status interrupts,
 * and loopback mode.
 *
 * Transmission is instantaneous from the guest's point of view: THR is always empty again after a
 * write, so the guest never waits on the host. Bytes go to the {@link SerialSink}; while it is
 * stalled they queue in a bounded buffer, and bytes beyond that are dropped and counted in
 * {@link Serial.droppedOutputBytes}. Input is accepted only as far as there is room
 * ({@link Serial.enqueueInput} returns the count taken), so a flood cannot grow memory.
 *
 * Input reaches the receive FIFO as a real line delivers it: at the line's speed (the divisor
 * latch, or `inputRate`), measured on `clock`, a FIFO's worth at once after a quiet spell. The
 * guest's receive interrupt handler, which reads RBR while LSR.DR is set, therefore empties the
 * FIFO and returns however much the host has buffered: a flood of input slows down to the line
 * rate instead of keeping the guest in its handler. Input that arrives while the guest does not
 * touch the port is moved in by the device's timer (or {@link Serial.tick}), with an interrupt.
 *
 * @example
 * ```ts
 * import { Bus, Serial } from '@ts-vmm/devices';
 * const com1 = new Serial({ sink: process.stdout, irq });
 * pio.register(0x3f8, 8, com1, 'com1');
 * process.stdin.on('data', (d) => { if (com1.enqueueInput(d) < d.length) process.stdin.pause(); });
 * ```
 */
export class Serial implements BusDevice {
  private ier = 0;
  private lcr = 0x03;
  private mcr = MCR_OUT2;
  private lsrErrors = 0;
  private msrDelta = 0;
  private scr = 0;
  private dll = 0x0c; // 9600 baud
  private dlm = 0;
  private fcr = 0;
  private threPending = false;
  private timeoutPending = false;
  private rx = new ByteRing(SERIAL_FIFO_SIZE);
  private readonly input: ByteRing;
  private readonly out: ByteRing;
  private stalled = false;
  private inputWasFull = false;
  private readonly inputSize: number;
  private readonly inputRate?: number;
  private readonly clock: () => number;
  private readonly inputTimer: boolean;
  /** Characters the line may deliver now (at most the FIFO's free room), as of `creditAt`. */
  private credit = SERIAL_FIFO_SIZE;
  private creditAt: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Output bytes dropped because the sink was stalled and the buffer was full. */
  droppedOutputBytes = 0;
  /** Interrupts raised so far. */
  interruptCount = 0;
  private readonly irq?: IrqLine;
  private readonly sink?: SerialSink;
  private readonly onInputSpace?: () => void;

  constructor(options: SerialOptions = {}) {
    const outSize = options.outputBufferSize ?? 64 * 1024;
    const inSize = options.inputBufferSize ?? 4096;
    if (!Number.isSafeInteger(outSize) || outSize < 1)
      throw new DeviceError(
        'invalid-config',
        'serial',
        `outputBufferSize ${outSize} must be a positive integer`,
      );
    if (!Number.isSafeInteger(inSize) || inSize < 0)
      throw new DeviceError(
        'invalid-config',
        'serial',
        `inputBufferSize ${inSize} must be a non-negative integer`,
      );
    const rate = options.inputRate;
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0))
      throw new DeviceError('invalid-config', 'serial', `inputRate ${rate} must be a positive number`);
    this.irq = options.irq;
    this.sink = options.sink;
    this.out = new ByteRing(outSize);
    // Room for the host's bytes that are still "on the line" when the FIFO is free.
    this.input = new ByteRing(inSize + SERIAL_FIFO_SIZE);
    this.inputSize = inSize;
    this.onInputSpace = options.onInputSpace;
    this.inputRate = rate;
    this.clock = options.clock ?? (() => performance.now());
    this.inputTimer = options.inputTimer ?? true;
    this.creditAt = this.clock();
  }

  private get fifoEnabled(): boolean {
    return (this.fcr & FCR_ENABLE) !== 0;
  }
  private get rxCapacity(): number {
    return this.fifoEnabled ? SERIAL_FIFO_SIZE : 1;
  }
  private get loopback(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  /** Free room for host input: receive FIFO plus the input buffer. */
  get inputSpace(): number {
    const room = this.rxCapacity + this.inputSize - this.rx.length - this.input.length;
    return Math.max(0, Math.min(room, this.input.free));
  }

  /** Host input accepted but not yet in the receive FIFO (on its way at the line's speed). */
  get pendingInput(): number {
    return this.input.length;
  }

  /**
   * Queues host input for the guest; returns how many bytes were accepted (the rest should be
   * retried after `onInputSpace`). In loopback mode the line is disconnected and nothing is taken.
   * @example const n = com1.enqueueInput(new TextEncoder().encode('root\n'));
   */
  enqueueInput(bytes: Uint8Array): number {
    if (this.loopback || this.closed) return 0;
    const n = Math.min(bytes.length, this.inputSpace);
    for (let i = 0; i < n; i++) this.input.push(bytes[i]);
    if (n < bytes.length || this.inputSpace === 0) this.inputWasFull = true;
    if (n > 0) this.deliver();
    return n;
  }

  /**
   * Moves the host input that has arrived by now (at the line's speed) into the receive FIFO,
   * raising the receive interrupt as the FIFO gets data. The device's own timer calls it; a VMM
   * that created the device with `inputTimer: false` calls it from its run loop.
   * @example runLoop.onIteration(() => com1.tick());
   */
  tick(): void {
    if (this.input.length > 0) this.deliver();
  }

  /**
   * Stops the input timer and drops the input not yet delivered; the device takes no more input
   * and raises no interrupt for it. Call it before closing the interrupt line.
   * @example com1.close(); irqLine.close();
   */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.input.clear();
  }

  /** Characters per millisecond the line delivers. */
  private charsPerMs(): number {
    if (this.inputRate !== undefined) return this.inputRate / 1000;
    const divisor = (this.dlm << 8) | this.dll || 1;
    const word = 5 + (this.lcr & 3);
    const stop = this.lcr & 4 ? (word === 5 ? 1.5 : 2) : 1;
    const bits = 1 + word + (this.lcr & 8 ? 1 : 0) + stop;
    return BAUD_BASE / divisor / bits / 1000;
  }

  /** Moves arrived input into the FIFO (an interrupt when the FIFO gets data); arms the timer for the rest. */
  private deliver(): void {
    if (this.loopback) return;
    const now = this.clock();
    const rate = this.charsPerMs();
    const free = this.rxCapacity - this.rx.length;
    // What the line carries at most: the room in the FIFO (a sender does not run ahead of a full
    // FIFO; past it a real UART would overrun and lose bytes, this one holds them).
    if (now > this.creditAt) this.credit = Math.min(free, this.credit + (now - this.creditAt) * rate);
    else this.credit = Math.min(free, this.credit);
    this.creditAt = now;
    const wasEmpty = this.rx.length === 0;
    // Into an empty FIFO, characters come a trigger level's worth at a time (as the 16550 raises
    // its interrupt), so a steady flood costs one interrupt per batch, not one per character.
    const need = wasEmpty ? this.batch() : 1;
    let n = Math.min(Math.floor(this.credit), this.input.length, free);
    if (n < need) n = 0;
    for (let i = 0; i < n; i++) this.rx.push(this.input.shift());
    this.credit -= n;
    if (n > 0) this.receivedData(wasEmpty);
    this.armTimer();
  }

  /** Characters that go into an empty FIFO together: the trigger level (or what is left). */
  private batch(): number {
    const level = this.fifoEnabled ? TRIGGER_LEVELS[this.fcr >> 6] : 1;
    return Math.max(1, Math.min(level, this.input.length, this.rxCapacity));
  }

  private armTimer(): void {
    if (!this.inputTimer || this.timer !== undefined || this.input.length === 0 || this.rx.length > 0) return;
    // The guest has read everything it was given: wake when the next batch has arrived.
    const ms = Math.max(1, Math.ceil((this.batch() - this.credit) / this.charsPerMs()));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.tick();
      } catch {
        // the interrupt line went away with the VM (a VMM that did not call close())
      }
    }, ms);
    (this.timer as { unref?: () => void }).unref?.(); // Node: a pending timer keeps no process alive
  }

  /** Bytes transmitted but not yet handed to the sink (or, without a sink, not yet taken). */
  get pendingOutput(): number {
    return this.out.length;
  }

  /** Takes the buffered output (for use without a sink, or to inspect what a stalled sink missed). */
  takeOutput(): Uint8Array {
    return this.out.drain();
  }

  /** Tries to hand buffered output to the sink now. */
  flush(): void {
    if (!this.sink || this.out.length === 0) return;
    const chunk = this.out.drain();
    this.writeSink(chunk);
  }

  private writeSink(chunk: Uint8Array): void {
    const sink = this.sink!;
    let ok: boolean;
    try {
      ok = sink.write(chunk);
    } catch {
      this.droppedOutputBytes += chunk.length;
      return;
    }
    if (!ok) {
      this.stalled = true;
      if (sink.once) {
        sink.once('drain', () => {
          this.stalled = false;
          this.flush();
        });
      }
    }
  }

  /**
   * Marks the sink writable again (for sinks without a 'drain' event) and flushes.
   */
  resume(): void {
    this.stalled = false;
    this.flush();
  }

  private transmit(b: number): void {
    if (this.input.length > 0) this.deliver(); // time passes for the line whenever the guest looks
    if (this.loopback) {
      if (this.rx.length < this.rxCapacity) this.rx.push(b);
      else this.lsrErrors |= LSR_OE;
      this.receivedData();
    } else if (this.sink && !this.stalled && this.out.length === 0) {
      this.writeSink(Uint8Array.of(b));
    } else if (!this.out.push(b)) {
      this.droppedOutputBytes++;
    }
    this.threPending = true;
    if (this.ier & IER_THRE) this.raise();
  }

  /** Recomputes the receive interrupt source; raises an edge for new data (not for data already seen). */
  private receivedData(raise = true): void {
    const level = this.fifoEnabled ? TRIGGER_LEVELS[this.fcr >> 6] : 1;
    this.timeoutPending = this.rx.length > 0 && this.rx.length < level;
    if (!raise) return;
    if ((this.ier & IER_RDA && this.rx.length > 0) || (this.ier & IER_RLS && this.lsrErrors)) this.raise();
  }

  private raise(): void {
    this.interruptCount++;
    this.irq?.trigger();
  }

  private iir(): number {
    const fifo = this.fifoEnabled ? IIR_FIFO_BITS : 0;
    if (this.ier & IER_RLS && this.lsrErrors & (LSR_OE | LSR_BI | 0x0c)) return IIR_RLS | fifo;
    if (this.ier & IER_RDA && this.rx.length > 0) {
      return (this.timeoutPending && this.fifoEnabled ? IIR_TIMEOUT : IIR_RDA) | fifo;
    }
    if (this.ier & IER_THRE && this.threPending) return IIR_THRE | fifo;
    if (this.ier & IER_MS && this.msrDelta) return IIR_MS | fifo;
    return IIR_NONE | fifo;
  }

  private msr(): number {
    if (this.loopback) {
      let v = 0;
      if (this.mcr & MCR_RTS) v |= MSR_CTS;
      if (this.mcr & MCR_DTR) v |= MSR_DSR;
      if (this.mcr & MCR_OUT1) v |= MSR_RI;
      if (this.mcr & MCR_OUT2) v |= MSR_DCD;
      return v | this.msrDelta;
    }
    return MSR_DCD | MSR_DSR | MSR_CTS | this.msrDelta;
  }

  /** Tells the host side there is room again, once the guest has read from a full input path. */
  private spaceFreed(): void {
    if (this.inputWasFull && this.inputSpace > 0) {
      this.inputWasFull = false;
      this.onInputSpace?.();
    }
  }

  /** Reads one register. */
  readRegister(offset: number): number {
    switch (offset) {
      case UART_REG.DATA: {
        if (this.lcr & LCR_DLAB) return this.dll;
        if (this.rx.length === 0) return 0;
        const b = this.rx.shift();
        // No refill from the host buffer here: a real UART's FIFO does not refill as it is read,
        // and refilling at once kept LSR.DR set for as long as the host had input (the guest
        // never left its interrupt handler). Input arrives at the line's speed (deliver()).
        this.receivedData(false);
        this.spaceFreed();
        if (this.rx.length === 0) this.armTimer();
        return b;
      }
      case UART_REG.IER:
        return this.lcr & LCR_DLAB ? this.dlm : this.ier;
      case UART_REG.IIR_FCR: {
        if (this.input.length > 0) this.deliver();
        const v = this.iir();
        // Reading IIR while it reports THRE clears that source.
        if ((v & 0x0f) === IIR_THRE) this.threPending = false;
        return v;
      }
      case UART_REG.LCR:
        return this.lcr;
      case UART_REG.MCR:
        return this.mcr;
      case UART_REG.LSR: {
        if (this.input.length > 0) this.deliver();
        let v = LSR_THRE | LSR_TEMT | this.lsrErrors;
        if (this.rx.length > 0) v |= LSR_DR;
        this.lsrErrors = 0;
        return v;
      }
      case UART_REG.MSR: {
        const v = this.msr();
        this.msrDelta = 0;
        return v;
      }
      case UART_REG.SCR:
        return this.scr;
      default:
        return 0xff;
    }
  }

  /** Writes one register. */
  writeRegister(offset: number, value: number): void {
    value &= 0xff;
    switch (offset) {
      case UART_REG.DATA:
        if (this.lcr & LCR_DLAB) this.dll = value;
        else this.transmit(value);
        break;
      case UART_REG.IER:
        if (this.lcr & LCR_DLAB) this.dlm = value;
        else {
          const was = this.ier;
          this.ier = value & 0x0f;
          // Enabling THRE interrupts with THR empty raises one at once (the 8250 driver probes this).
          if (this.ier & IER_THRE && !(was & IER_THRE)) {
            this.threPending = true;
            this.raise();
          } else if (this.iir() & IIR_NONE) {
            // nothing pending
          } else if (this.ier & ~was) this.raise();
        }
        break;
      case UART_REG.IIR_FCR: {
        const clear = value & FCR_CLEAR_RX || (value & FCR_ENABLE) !== (this.fcr & FCR_ENABLE);
        if (clear) {
          this.rx.clear();
          this.timeoutPending = false;
        }
        this.fcr = value & 0xc1;
        this.receivedData(false);
        if (clear) {
          this.spaceFreed();
          if (this.input.length > 0) this.deliver();
        }
        break;
      }
      case UART_REG.LCR:
        this.lcr = value;
        break;
      case UART_REG.MCR: {
        const oldMsr = this.msr() & 0xf0;
        this.mcr = value & 0x1f;
        if (this.loopback || oldMsr !== (this.msr() & 0xf0)) {
          const newMsr = this.msr() & 0xf0;
          const changed = oldMsr ^ newMsr;
          let d = 0;
          if (changed & MSR_CTS) d |= 0x01;
          if (changed & MSR_DSR) d |= 0x02;
          if (oldMsr & MSR_RI && !(newMsr & MSR_RI)) d |= 0x04; // trailing edge of RI
          if (changed & MSR_DCD) d |= 0x08;
          this.msrDelta |= d;
          if (d && this.ier & IER_MS) this.raise();
        }
        break;
      }
      case UART_REG.LSR:
      case UART_REG.MSR:
        break; // read-only (factory test writes ignored)
      case UART_REG.SCR:
        this.scr = value;
        break;
    }
  }

  /** {@link BusDevice.read}: byte-wide registers; wider accesses read consecutive registers. */
  read(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) data[i] = offset + i < 8 ? this.readRegister(offset + i) : 0xff;
  }

  /** {@link BusDevice.write}. */
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) if (offset + i < 8) this.writeRegister(offset + i, data[i]);
  }

  /**
   * The UART's state for a snapshot: every register, the receive FIFO, the host input not yet
   * delivered and the output not yet handed to the sink.
   * @example const saved = com1.save(); fresh.restore(saved);
   */
  save(): DeviceState {
    return {
      device: 'serial',
      version: SERIAL_STATE_VERSION,
      ier: this.ier,
      lcr: this.lcr,
      mcr: this.mcr,
      lsrErrors: this.lsrErrors,
      msrDelta: this.msrDelta,
      scr: this.scr,
      dll: this.dll,
      dlm: this.dlm,
      fcr: this.fcr,
      threPending: this.threPending,
      timeoutPending: this.timeoutPending,
      rx: bytesToBase64(this.rx.peek()),
      input: bytesToBase64(this.input.peek()),
      output: bytesToBase64(this.out.peek()),
    };
  }

  /**
   * Loads a state from {@link Serial.save} (checked first: an `invalid-state` DeviceError names a
   * bad field and nothing changes). Input beyond this device's input buffer is refused.
   * @example fresh.restore(com1.save());
   */
  restore(state: DeviceState): void {
    const r = new StateReader('serial', state, SERIAL_STATE_VERSION);
    const v = {
      ier: r.int('ier', 0, 0x0f),
      lcr: r.u8('lcr'),
      mcr: r.int('mcr', 0, 0x1f),
      lsrErrors: r.u8('lsrErrors'),
      msrDelta: r.int('msrDelta', 0, 0x0f),
      scr: r.u8('scr'),
      dll: r.u8('dll'),
      dlm: r.u8('dlm'),
      fcr: r.u8('fcr'),
      threPending: r.bool('threPending'),
      timeoutPending: r.bool('timeoutPending'),
      rx: r.bytes('rx', SERIAL_FIFO_SIZE),
      input: r.bytes('input', this.input.capacity),
      output: r.bytes('output', this.out.capacity),
    };
    if ((v.fcr & 0x3e) !== 0) throw r.bad('fcr', `${v.fcr} has bits the FIFO control register does not keep`);
    if (!(v.fcr & FCR_ENABLE) && v.rx.length > 1)
      throw r.bad('rx', `${v.rx.length} bytes in the receive buffer with the FIFO off; at most 1`);
    Object.assign(this, {
      ier: v.ier,
      lcr: v.lcr,
      mcr: v.mcr,
      lsrErrors: v.lsrErrors,
      msrDelta: v.msrDelta,
      scr: v.scr,
      dll: v.dll,
      dlm: v.dlm,
      fcr: v.fcr,
      threPending: v.threPending,
      timeoutPending: v.timeoutPending,
    });
    this.rx.load(v.rx);
    this.input.load(v.input);
    this.out.load(v.output);
    this.credit = SERIAL_FIFO_SIZE;
    this.creditAt = this.clock();
    this.armTimer();
    this.flush();
  }
}
