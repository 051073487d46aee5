import { DeviceError } from './errors.js';

/**
 * Options for a {@link LogLimiter}.
 * @example const options: LogLimiterOptions = { write: (l) => console.error(l), burst: 10, perSecond: 1 };
 */
export interface LogLimiterOptions {
  /** Where the lines that pass (and the summaries) go. */
  write: (line: string) => void;
  /** Lines of one key that may go out back to back. Default 10. */
  burst?: number;
  /** Lines of one key per second once the burst is spent. Default 1. */
  perSecond?: number;
  /** Monotonic clock in milliseconds. Default `performance.now()`. */
  clock?: () => number;
  /** Most keys remembered; the least recently used is forgotten (its count reported). Default 64. */
  maxKeys?: number;
  /**
   * Whether a timer (`setTimeout`) writes a key's summary once it may write again, so a flood that
   * stops is still reported. Default true; without it, summaries go out before the key's next line
   * and on {@link LogLimiter.flush}.
   */
  timer?: boolean;
}

interface KeyState {
  tokens: number;
  at: number;
  suppressed: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Rate-limits log lines a guest can cause (a device error per DEVICE_NEEDS_RESET, say), so a guest
 * loop cannot flood the host's log: a token bucket per key (a device and an error kind) lets a
 * burst through, then `perSecond` lines, and counts the rest, which are reported as
 * `<key>: ... N more like this suppressed` before the key's next line, from a timer once the key
 * may write again, and on {@link LogLimiter.flush}. Memory is bounded by `maxKeys`.
 *
 * @example
 * ```ts
 * import { LogLimiter, VirtioMmioTransport } from '@ts-vmm/devices';
 * const limiter = new LogLimiter({ write: (l) => process.stderr.write(`${l}\n`) });
 * const t = new VirtioMmioTransport(device, {
 *   mem,
 *   onError: (e) => limiter.log(`virtio-blk0: ${(e as { kind?: string }).kind ?? 'error'}`, `virtio-blk0: ${e}`),
 * });
 * // at exit:
 * limiter.close(); // writes what is still unreported
 * ```
 */
export class LogLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly write: (line: string) => void;
  private readonly burst: number;
  private readonly perMs: number;
  private readonly clock: () => number;
  private readonly maxKeys: number;
  private readonly useTimer: boolean;
  /** Lines suppressed so far, all keys. */
  suppressed = 0;

  constructor(options: LogLimiterOptions) {
    const burst = options.burst ?? 10;
    const perSecond = options.perSecond ?? 1;
    const maxKeys = options.maxKeys ?? 64;
    if (!Number.isSafeInteger(burst) || burst < 1)
      throw new DeviceError('invalid-config', 'log-limiter', `burst ${burst} must be a positive integer`);
    if (!(Number.isFinite(perSecond) && perSecond > 0))
      throw new DeviceError(
        'invalid-config',
        'log-limiter',
        `perSecond ${perSecond} must be a positive number`,
      );
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
      throw new DeviceError('invalid-config', 'log-limiter', `maxKeys ${maxKeys} must be a positive integer`);
    this.write = options.write;
    this.burst = burst;
    this.perMs = perSecond / 1000;
    this.clock = options.clock ?? (() => performance.now());
    this.maxKeys = maxKeys;
    this.useTimer = options.timer ?? true;
  }

  /** Keys remembered now (at most `maxKeys`). */
  get keyCount(): number {
    return this.keys.size;
  }

  /**
   * Writes `line` unless `key` has used up its rate; returns whether it was written.
   * @example limiter.log('virtio-vsock: guest-error', 'virtio-vsock: device error: ...');
   */
  log(key: string, line: string): boolean {
    const st = this.state(key);
    this.refill(st);
    if (st.tokens < 1) {
      st.suppressed++;
      this.suppressed++;
      if (st.suppressed === 1) this.armTimer(key, st);
      return false;
    }
    st.tokens -= 1;
    this.report(key, st);
    this.write(line);
    return true;
  }

  /** Writes the summary of every key with suppressed lines. */
  flush(): void {
    for (const [key, st] of this.keys) this.report(key, st);
  }

  /** Flushes and stops the timers. */
  close(): void {
    for (const st of this.keys.values()) {
      if (st.timer) clearTimeout(st.timer);
      st.timer = undefined;
    }
    this.flush();
  }

  private state(key: string): KeyState {
    let st = this.keys.get(key);
    if (st) {
      this.keys.delete(key); // most recently used last
    } else {
      if (this.keys.size >= this.maxKeys) {
        const [oldKey, old] = this.keys.entries().next().value as [string, KeyState];
        if (old.timer) clearTimeout(old.timer);
        this.report(oldKey, old);
        this.keys.delete(oldKey);
      }
      st = { tokens: this.burst, at: this.clock(), suppressed: 0 };
    }
    this.keys.set(key, st);
    return st;
  }

  private refill(st: KeyState): void {
    const now = this.clock();
    if (now > st.at) st.tokens = Math.min(this.burst, st.tokens + (now - st.at) * this.perMs);
    st.at = now;
  }

  private report(key: string, st: KeyState): void {
    if (st.suppressed === 0) return;
    const n = st.suppressed;
    st.suppressed = 0;
    if (st.timer) clearTimeout(st.timer);
    st.timer = undefined;
    this.write(`${key}: ... ${n} more like this suppressed`);
  }

  private armTimer(key: string, st: KeyState): void {
    if (!this.useTimer || st.timer) return;
    const ms = Math.max(1, Math.ceil((1 - st.tokens) / this.perMs));
    st.timer = setTimeout(() => {
      st.timer = undefined;
      if (this.keys.get(key) !== st || st.suppressed === 0) return;
      this.refill(st);
      if (st.tokens < 1) {
        this.armTimer(key, st);
        return;
      }
      st.tokens -= 1;
      this.report(key, st);
    }, ms);
    (st.timer as { unref?: () => void }).unref?.(); // Node: a pending summary keeps no process alive
  }
}
