import type { SerialSink } from '../serial.js';
import { bytesToBase64, type DeviceState, StateReader } from '../state.js';
import { featureBit, VIRTIO_ID } from './constants.js';
import { readConfigBytes, type VirtioContext, type VirtioDevice } from './device.js';

/** virtio-console feature bits. */
export const VIRTIO_CONSOLE_F = { SIZE: 0, MULTIPORT: 1, EMERG_WRITE: 2 } as const;

/** Options for a {@link Console}. */
export interface ConsoleOptions {
  /** Where port 0's output goes (a Node Writable fits). Without one, output is kept for {@link Console.takeOutput}. */
  sink?: SerialSink;
  /** Host input held until the guest posts receive buffers. Default 4 KiB. */
  inputBufferSize?: number;
  /** Called when input space becomes available again after {@link Console.enqueueInput} filled it. */
  onInputSpace?: () => void;
  /** Console size reported with VIRTIO_CONSOLE_F_SIZE. */
  size?: { cols: number; rows: number };
  /** Queue size offered. Default 256. */
  queueSize?: number;
}

const MAX_UNSENT = 1 << 20;

/**
 * virtio-console with a single port (port 0; no MULTIPORT): receiveq0 carries host input to the
 * guest, transmitq0 carries guest output to the host sink. Emergency writes (EMERG_WRITE, config
 * offset 8) go to the sink too.
 *
 * Back-pressure runs both ways without unbounded buffers: while the sink is stalled the device
 * leaves transmit buffers in the queue (the guest's writes block in the guest, not in the VMM);
 * host input beyond the guest's posted buffers and `inputBufferSize` is refused
 * ({@link Console.enqueueInput} returns the count taken).
 *
 * @example
 * ```ts
 * import { Console, VirtioMmioTransport } from '@ts-vmm/devices';
 * const con = new Console({ sink: process.stdout });
 * process.stdin.on('data', (d) => con.enqueueInput(d));
 * mmio.register(0xd000_3000, 0x1000, new VirtioMmioTransport(con, { mem, irq }), 'virtio-console');
 * ```
 */
export class Console implements VirtioDevice {
  readonly deviceType = VIRTIO_ID.CONSOLE;
  readonly queueMaxSizes: readonly number[];
  readonly deviceFeatures: bigint;
  private ctx?: VirtioContext;
  private readonly config = new Uint8Array(12);
  private readonly sink?: SerialSink;
  private stalled = false;
  private input: Uint8Array[] = [];
  private inputBytes = 0;
  private readonly inputCap: number;
  private inputWasFull = false;
  private readonly onInputSpace?: () => void;
  private unsent: Uint8Array[] = [];
  private unsentBytes = 0;

  constructor(options: ConsoleOptions = {}) {
    const qs = options.queueSize ?? 256;
    this.queueMaxSizes = [qs, qs];
    this.sink = options.sink;
    this.inputCap = options.inputBufferSize ?? 4096;
    this.onInputSpace = options.onInputSpace;
    let f = featureBit(VIRTIO_CONSOLE_F.EMERG_WRITE);
    if (options.size) {
      f |= featureBit(VIRTIO_CONSOLE_F.SIZE);
      const v = new DataView(this.config.buffer);
      v.setUint16(0, options.size.cols, true);
      v.setUint16(2, options.size.rows, true);
    }
    this.deviceFeatures = f;
  }

  readConfig(offset: number, data: Uint8Array): void {
    readConfigBytes(this.config, offset, data);
  }
  writeConfig(offset: number, data: Uint8Array): void {
    if (offset === 8 && data.length >= 1) this.output(Uint8Array.of(data[0])); // emerg_wr
  }
  activate(ctx: VirtioContext): void {
    this.ctx = ctx;
    this.fillRx();
  }
  reset(): void {
    this.ctx = undefined;
  }

  /** Free room for host input: the guest's posted receive buffers are not counted, only the host buffer. */
  get inputSpace(): number {
    return Math.max(0, this.inputCap - this.inputBytes);
  }

  /**
   * Queues host input for the guest; returns how many bytes were accepted.
   * @example con.enqueueInput(new TextEncoder().encode('ls\n'))
   */
  enqueueInput(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.inputSpace);
    if (n > 0) {
      this.input.push(bytes.slice(0, n));
      this.inputBytes += n;
    }
    if (n < bytes.length) this.inputWasFull = true;
    this.fillRx();
    return n;
  }

  /** Output kept because there is no sink. */
  takeOutput(): Uint8Array {
    const out = new Uint8Array(this.unsentBytes);
    let o = 0;
    for (const c of this.unsent) {
      out.set(c, o);
      o += c.length;
    }
    this.unsent = [];
    this.unsentBytes = 0;
    return out;
  }

  /** Marks the sink writable again (for sinks without 'drain') and resumes transmission. */
  resume(): void {
    this.stalled = false;
    this.safely(() => this.drainTx());
  }

  queueNotify(index: number): void {
    if (index === 0) this.fillRx();
    else if (index === 1) this.drainTx();
  }

  private safely(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.ctx?.fail(e);
    }
  }

  private output(bytes: Uint8Array): void {
    if (!this.sink) {
      if (this.unsentBytes + bytes.length <= MAX_UNSENT) {
        this.unsent.push(bytes);
        this.unsentBytes += bytes.length;
      }
      return;
    }
    if (!this.sink.write(bytes)) {
      this.stalled = true;
      this.sink.once?.('drain', () => this.resume());
    }
  }

  private drainTx(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const q = ctx.queues[1];
    let used = 0;
    while (!this.stalled) {
      const chain = q.pop(ctx.mem);
      if (!chain) break;
      const r = chain.reader(ctx.mem);
      const data = r.read(Math.min(r.remaining, MAX_UNSENT));
      this.output(data);
      q.addUsed(ctx.mem, chain.head, 0);
      used++;
    }
    if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(1);
  }

  private fillRx(): void {
    const ctx = this.ctx;
    if (!ctx || this.inputBytes === 0) return;
    this.safely(() => {
      const q = ctx.queues[0];
      let used = 0;
      while (this.inputBytes > 0) {
        const chain = q.pop(ctx.mem);
        if (!chain) break;
        const w = chain.writer(ctx.mem);
        while (this.input.length > 0 && w.remaining > 0) {
          const head = this.input[0];
          const n = w.write(head);
          this.inputBytes -= n;
          if (n === head.length) this.input.shift();
          else this.input[0] = head.subarray(n);
        }
        q.addUsed(ctx.mem, chain.head, w.written);
        used++;
        if (w.written === 0) break; // a zero-length buffer: avoid spinning through the ring
      }
      if (used && q.needsNotification(ctx.mem)) ctx.signalUsed(0);
    });
    if (this.inputWasFull && this.inputSpace > 0) {
      this.inputWasFull = false;
      this.onInputSpace?.();
    }
  }

  /**
   * The device's state for a snapshot: host input not yet given to the guest and output not yet
   * taken (without a sink).
   * @example fresh.restore(con.save());
   */
  save(): DeviceState {
    const join = (chunks: Uint8Array[], n: number) => {
      const out = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) {
        out.set(c, o);
        o += c.length;
      }
      return bytesToBase64(out);
    };
    return {
      device: 'virtio-console',
      version: 1,
      input: join(this.input, this.inputBytes),
      unsent: join(this.unsent, this.unsentBytes),
    };
  }

  /**
   * Loads a state from {@link Console.save}, checked first (an `invalid-state` DeviceError names
   * the bad field).
   * @example fresh.restore(saved);
   */
  restore(state: DeviceState): void {
    const r = new StateReader('virtio-console', state, 1);
    const input = r.bytes('input', this.inputCap);
    const unsent = r.bytes('unsent', MAX_UNSENT);
    this.input = input.length ? [input] : [];
    this.inputBytes = input.length;
    this.unsent = unsent.length ? [unsent] : [];
    this.unsentBytes = unsent.length;
    if (this.sink && unsent.length) this.output(this.takeOutput());
  }
}
