/**
 * A SharedArrayBuffer slot through which a vCPU thread hands a port/MMIO exit to the thread that
 * owns the device models and waits for the answer. The vCPU side spins briefly on the answer before
 * blocking in `Atomics.wait` (a futex round trip costs ~16 us on the 2-core machine, spinning ~0.5 us);
 * the device side waits with `Atomics.waitAsync`, so its event loop keeps running.
 *
 * Layout (Int32 words): 0 request sequence (vCPU), 1 answer sequence (device side), 2 closed,
 * 3 kind, 4 size, 5 count, 6 address low, 7 address high; data bytes from offset 64.
 *
 * @module
 */

/** What a request asks for. */
export const ExitKind = { PIO_READ: 1, PIO_WRITE: 2, MMIO_READ: 3, MMIO_WRITE: 4 } as const;
export type ExitKindValue = (typeof ExitKind)[keyof typeof ExitKind];

/** `Atomics.waitAsync` (Node 16+; not in the ES2022 lib typings). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      i: number,
      v: number,
      t?: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

const REQ = 0;
const ANS = 1;
const CLOSED = 2;
const KIND = 3;
const SIZE = 4;
const COUNT = 5;
const ADDR_LO = 6;
const ADDR_HI = 7;
const DATA_OFFSET = 64;
/** Largest payload: a 4 KiB page of string I/O. */
export const EXIT_DATA_MAX = 4096;

/** One request as the device side sees it; `data` is a view into the slot (fill it for reads). */
export interface ExitRequest {
  kind: ExitKindValue;
  address: number;
  size: number;
  count: number;
  data: Uint8Array;
}

/**
 * One vCPU's slot. Create on the device side with {@link ExitChannel.create}, send `sab` to the
 * worker, rebuild there with `new ExitChannel(sab)`.
 *
 * @example
 * ```ts
 * declare const machine: Machine; // owns the device models and their buses
 * // device thread
 * const served = ExitChannel.create();
 * void served.serve((req) => machine.dispatch(req));
 * worker.postMessage({ channel: served.sab });
 * // vCPU thread, given that message
 * const ch = new ExitChannel(msg.channel);
 * ch.call(ExitKind.PIO_WRITE, 0x3f8, 1, 1, Uint8Array.of(0x41)); // an OUT of 'A' to COM1
 * ```
 */
export class ExitChannel {
  readonly sab: SharedArrayBuffer;
  private readonly words: Int32Array;
  private readonly bytes: Uint8Array;
  private seq = 0;
  /** Most spin iterations before blocking (vCPU side); 0 disables spinning. */
  spin = 4000;
  /** Most spin iterations waiting for the next request of a burst (device side); 0 disables. */
  serveSpin = 2000;
  /**
   * Adaptive budgets: a side that found its answer while spinning doubles its budget (up to the
   * maximum), one that had to block halves it, so an oversubscribed host stops burning CPU on spins
   * that never pay off.
   */
  private spinBudget = 1000;
  private serveBudget = 500;
  /** Longest the device side serves a burst before yielding to its event loop. */
  maxBurstMs = 2;

  static create(): ExitChannel {
    return new ExitChannel(new SharedArrayBuffer(DATA_OFFSET + EXIT_DATA_MAX));
  }

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.words = new Int32Array(sab, 0, DATA_OFFSET / 4);
    this.bytes = new Uint8Array(sab, DATA_OFFSET, EXIT_DATA_MAX);
    this.seq = Atomics.load(this.words, REQ);
  }

  get closed(): boolean {
    return Atomics.load(this.words, CLOSED) !== 0;
  }

  /**
   * vCPU side: posts a request and waits for the answer; for reads, copies the answer into `data`.
   * Returns false when the channel was closed (the VM is stopping).
   */
  call(kind: ExitKindValue, address: number, size: number, count: number, data: Uint8Array): boolean {
    const w = this.words;
    if (Atomics.load(w, CLOSED)) return false;
    const len = Math.min(data.length, EXIT_DATA_MAX);
    w[KIND] = kind;
    w[SIZE] = size;
    w[COUNT] = count;
    w[ADDR_LO] = (address % 0x1_0000_0000) | 0;
    w[ADDR_HI] = Math.floor(address / 0x1_0000_0000) | 0;
    const write = kind === ExitKind.PIO_WRITE || kind === ExitKind.MMIO_WRITE;
    if (write) this.bytes.set(data.subarray(0, len));
    const seq = (this.seq + 1) | 0;
    this.seq = seq;
    Atomics.store(w, REQ, seq);
    Atomics.notify(w, REQ);
    let spins = Math.min(this.spinBudget, this.spin);
    let blocked = false;
    while (Atomics.load(w, ANS) !== seq) {
      if (Atomics.load(w, CLOSED)) return false;
      if (spins > 0) spins--;
      else {
        blocked = true;
        Atomics.wait(w, ANS, Atomics.load(w, ANS), 50);
      }
    }
    this.spinBudget = blocked ? this.spinBudget >> 1 : Math.min(this.spin, this.spinBudget * 2 + 64);
    if (!write) data.set(this.bytes.subarray(0, len));
    return true;
  }

  /**
   * Device side: answers requests until {@link ExitChannel.close}. The handler runs on this thread's
   * event loop, one request at a time.
   */
  async serve(handler: (req: ExitRequest) => void): Promise<void> {
    const w = this.words;
    let seen = Atomics.load(w, REQ);
    let burstStart = performance.now();
    while (!Atomics.load(w, CLOSED)) {
      let cur = Atomics.load(w, REQ);
      if (cur === seen) {
        // Spin briefly for the next exit of a burst (a driver's register sequence, console output)
        // before paying for an event-loop wake-up; bound the burst so host I/O keeps flowing.
        for (let i = Math.min(this.serveBudget, this.serveSpin); i > 0 && cur === seen; i--)
          cur = Atomics.load(w, REQ);
        this.serveBudget =
          cur === seen ? this.serveBudget >> 1 : Math.min(this.serveSpin, this.serveBudget * 2 + 64);
        if (cur === seen || performance.now() - burstStart > this.maxBurstMs) {
          if (cur !== seen) await new Promise((r) => setImmediate(r));
          else {
            const r = waitAsync(w, REQ, seen);
            if (r.async) await r.value;
          }
          burstStart = performance.now();
          continue;
        }
      }
      seen = cur;
      const kind = w[KIND] as ExitKindValue;
      const size = w[SIZE];
      const count = w[COUNT];
      const address = (w[ADDR_HI] >>> 0) * 0x1_0000_0000 + (w[ADDR_LO] >>> 0);
      const len = Math.min(size * Math.max(count, 1), EXIT_DATA_MAX);
      try {
        handler({ kind, address, size, count, data: this.bytes.subarray(0, len) });
      } finally {
        Atomics.store(w, ANS, cur);
        Atomics.notify(w, ANS);
      }
    }
  }

  /** Stops both sides: pending and future `call`s return false, `serve` resolves. */
  close(): void {
    Atomics.store(this.words, CLOSED, 1);
    Atomics.notify(this.words, REQ);
    Atomics.notify(this.words, ANS);
  }
}
