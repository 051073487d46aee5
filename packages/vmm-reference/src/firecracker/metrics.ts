/**
 * Metrics of the Firecracker control plane: one JSON object a line, as Firecracker writes them,
 * with the counters ts-vmm has. Like Firecracker's, counters are the change since the previous
 * line (written on `FlushMetrics` and once a minute); `utc_timestamp_ms` dates each line.
 *
 * @module
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { VmmError } from '../vmm/errors.js';

/** How often metrics are written without a `FlushMetrics` (Firecracker's period). */
export const METRICS_PERIOD_MS = 60_000;

/** Live counters of a running VM (totals since it started). */
export interface VmCounters {
  vcpu: { exits: number; exit_io: number; exit_mmio: number };
  block: { read_bytes: number; write_bytes: number; requests: number; errors: number };
  net: { rx_packets_count: number; tx_packets_count: number; rx_dropped: number; tx_dropped: number };
}

/** The counters of API requests, by group (`put_api_requests.machine_cfg_count`, ...). */
export type ApiCounters = Record<
  'get_api_requests' | 'put_api_requests' | 'patch_api_requests',
  Record<string, number>
>;

/**
 * The API request counters Firecracker reports, all zero. `countRequest` keys them.
 * @example emptyApiCounters().put_api_requests.actions_count // 0
 */
export function emptyApiCounters(): ApiCounters {
  const put = [
    'actions',
    'boot_source',
    'drive',
    'logger',
    'machine_cfg',
    'metrics',
    'network',
    'vsock',
    'entropy',
  ];
  const patch = ['machine_cfg', 'drive', 'network'];
  const counters: ApiCounters = {
    get_api_requests: {
      instance_info_count: 0,
      machine_cfg_count: 0,
      vm_config_count: 0,
      vmm_version_count: 0,
    },
    put_api_requests: {},
    patch_api_requests: {},
  };
  for (const p of put) {
    counters.put_api_requests[`${p}_count`] = 0;
    counters.put_api_requests[`${p}_fails`] = 0;
  }
  for (const p of patch) {
    counters.patch_api_requests[`${p}_count`] = 0;
    counters.patch_api_requests[`${p}_fails`] = 0;
  }
  return counters;
}

type Flat = Record<string, Record<string, number>>;

function minus(now: Flat, before: Flat | undefined): Flat {
  const out: Flat = {};
  for (const [group, values] of Object.entries(now)) {
    out[group] = {};
    for (const [k, v] of Object.entries(values)) out[group][k] = v - (before?.[group]?.[k] ?? 0);
  }
  return out;
}

/** Options of a {@link MetricsWriter}. */
export interface MetricsWriterOptions {
  path: string;
  /** The instance id, written as `id` when `emitId`. */
  instanceId: string;
  emitId?: boolean;
  properties?: Record<string, string>;
  /** The counters at this moment. */
  read: () => { api: ApiCounters; vm: VmCounters | undefined };
}

/**
 * Writes metrics lines to a file or named pipe.
 *
 * @example
 * ```ts
 * const w = new MetricsWriter({ path: '/tmp/fc.metrics', instanceId: 'vm1', read: () => ({ api: emptyApiCounters(), vm: undefined }) });
 * w.flush(); // one JSON line
 * w.close();
 * ```
 */
export class MetricsWriter {
  private readonly fd: number;
  private readonly options: MetricsWriterOptions;
  private last: Flat | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: MetricsWriterOptions) {
    this.options = options;
    try {
      this.fd = openSync(options.path, 'a');
    } catch (e) {
      throw VmmError.config(
        'metrics_path',
        `cannot open ${JSON.stringify(options.path)}: ${(e as NodeJS.ErrnoException).code}`,
      );
    }
  }

  /** Writes a line every `periodMs` until {@link MetricsWriter.close}. @example w.startPeriodic() */
  startPeriodic(periodMs = METRICS_PERIOD_MS): void {
    this.timer ??= setInterval(() => this.flush(), periodMs);
    this.timer.unref?.();
  }

  /**
   * Writes one line: the counters' change since the last line. Returns the object written.
   * @example const line = w.flush(); line.utc_timestamp_ms
   */
  flush(): Record<string, unknown> {
    const { api, vm } = this.options.read();
    // a copy: the next line subtracts these values, not the live counters
    const now = structuredClone({ ...api, ...(vm ?? {}) }) as Flat;
    const line: Record<string, unknown> = {
      utc_timestamp_ms: Date.now(),
      ...(this.options.emitId ? { id: this.options.instanceId } : {}),
      ...(this.options.properties ? { properties: this.options.properties } : {}),
      ...minus(now, this.last),
    };
    this.last = now;
    try {
      writeSync(this.fd, `${JSON.stringify(line)}\n`);
    } catch (e) {
      throw new VmmError('device', `metrics ${this.options.path}: ${(e as NodeJS.ErrnoException).code}`);
    }
    return line;
  }

  /** Stops the periodic lines and closes the file. @example w.close() */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      closeSync(this.fd);
    } catch {}
  }
}
