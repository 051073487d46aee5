/**
 * One Firecracker-compatible microVM instance: the resources the API configures, the rules of
 * which call is allowed before and after `InstanceStart`, and the translation of Firecracker's
 * resources into ts-vmm's own {@link VmmConfig} (whose parsers and cross-field checks validate
 * the values). Transport-free: {@link FirecrackerInstance.handle} takes a method, a path and a
 * body and returns a status and a body; the HTTP server in `server.ts` carries them.
 *
 * @module
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { defaultMacFor } from '../config/flags.js';
import { resolveConfig } from '../config/resolve.js';
import { type BackendChoice, DEFAULT_CMDLINE, type DiskConfig, type VmmConfig } from '../config/types.js';
import {
  parseCid,
  parseCmdline,
  parseMac,
  parseMemoryMib,
  parsePath,
  parseTapName,
  parseUdsPath,
  parseVcpus,
} from '../config/values.js';
import { VmmError } from '../vmm/errors.js';
import type { RunResult } from '../vmm/exit-codes.js';
import { FirecrackerLogger, parseLogLevel } from './logger.js';
import { type ApiCounters, emptyApiCounters, MetricsWriter, type VmCounters } from './metrics.js';
import {
  type BootSource,
  type DefinitionName,
  type DefinitionTypes,
  type Drive,
  type EntropyDevice,
  type FullVmConfiguration,
  type LoggerConfig,
  type MachineConfiguration,
  type MetricsConfig,
  type NetworkInterface,
  type RateLimiter,
  type Vsock,
  validateBody,
} from './schema.js';

/** The Firecracker API level ts-vmm follows (the OpenAPI definition's version). */
export const FIRECRACKER_API_VERSION = '1.17.0';
/** Firecracker's default instance id. */
export const DEFAULT_INSTANCE_ID = 'anonymous-instance';
/** Firecracker's limit on an API request body, in bytes. */
export const MAX_PAYLOAD_BYTES = 51200;
/** Firecracker's machine defaults: 1 vCPU, 128 MiB. */
export const DEFAULT_MACHINE_CONFIG: MachineConfiguration = {
  vcpu_count: 1,
  mem_size_mib: 128,
  smt: false,
  track_dirty_pages: false,
  huge_pages: 'None',
};

/** A running VM as the instance sees it. */
export interface VmHandle {
  /** Resolves when the guest stops (poweroff, reboot, panic, a signal...). */
  readonly result: Promise<RunResult>;
  /** Presses Ctrl-Alt-Del on the guest's i8042 keyboard. */
  sendCtrlAltDel(): void;
  /** Counters since the VM started. */
  counters(): VmCounters;
}

/** Starts a VM from a resolved configuration (the real one builds a {@link Vmm}). */
export type StartVm = (config: VmmConfig, log: (line: string) => void) => Promise<VmHandle>;

/** Options of a {@link FirecrackerInstance}. */
export interface InstanceOptions {
  startVm: StartVm;
  /** Instance id (`--id`). */
  id?: string;
  /** ts-vmm's version, reported as `vmm_version`. */
  vmmVersion?: string;
  /** ts-vmm's backend for the VM (`--backend`). */
  backend?: BackendChoice;
  logger?: FirecrackerLogger;
  /** Log the guest's boot time (`--boot-timer`); without it the boot timer's line is dropped. */
  bootTimer?: boolean;
}

/** An API answer: the status and, but for 204, a JSON body. */
export interface ApiResponse {
  status: 200 | 204 | 400 | 500;
  body?: unknown;
}

/** The text of a 400 for an endpoint ts-vmm has not implemented yet. */
export function notYetSupported(what: string): string {
  return `${what} is not yet supported by ts-vmm`;
}

const NOT_AFTER_START = 'The requested operation is not supported after starting the microVM.';
const NOT_BEFORE_START = 'The requested operation is not supported before starting the microVM.';

/** Endpoints ts-vmm does not offer, by path prefix: their 400 says so. */
const UNSUPPORTED: readonly [RegExp, string][] = [
  [/^\/balloon(\/|$)/, 'the balloon device is not supported by ts-vmm'],
  [/^\/pmem(\/|$)/, 'virtio-pmem devices are not supported by ts-vmm'],
  [/^\/hotplug(\/|$)/, 'memory hotplug (virtio-mem) is not supported by ts-vmm'],
  [/^\/cpu-config$/, 'custom CPU templates (cpu-config) are not supported by ts-vmm'],
  [
    /^\/serial$/,
    "serial output redirection (PUT /serial) is not supported by ts-vmm: the console is the process's stdout",
  ],
  [/^\/snapshot\/(create|load)$/, notYetSupported('snapshots (snapshot/create, snapshot/load)')],
  [/^\/mmds(\/config)?$/, notYetSupported('MMDS (the microVM metadata service)')],
];

/** Firecracker's rule for resource ids: 1 to 64 ASCII letters, digits and underscores. */
function checkId(id: string, field: string): void {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(id)) {
    throw VmmError.config(field, `${JSON.stringify(id)} is not a valid id (1 to 64 letters, digits or '_')`);
  }
}

function checkReadable(path: string, field: string, write = false): void {
  try {
    accessSync(path, fsConstants.R_OK | (write ? fsConstants.W_OK : 0));
  } catch (e) {
    throw VmmError.config(field, `cannot open ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code}`);
  }
}

function noRateLimit(r: RateLimiter | undefined, field: string): void {
  if (r && (r.bandwidth || r.ops)) throw VmmError.config(field, notYetSupported('rate limiting'));
}

/** The configured resources: what `GET /vm/config` shows and InstanceStart translates. */
interface Resources {
  bootSource: BootSource | undefined;
  machine: MachineConfiguration;
  drives: Map<string, Drive>;
  nets: Map<string, NetworkInterface>;
  vsock: Vsock | undefined;
  entropy: EntropyDevice | undefined;
  logger: LoggerConfig | undefined;
  metrics: MetricsConfig | undefined;
}

function copy(r: Resources): Resources {
  return { ...r, drives: new Map(r.drives), nets: new Map(r.nets) };
}

/**
 * Translates the resources into ts-vmm's configuration: root drive first (as Firecracker orders
 * them, `root=/dev/vda` or `root=PARTUUID=...` appended), the ts-vmm default command line when no
 * `boot_args` are given. Throws the `VmmError` of the first bad value.
 */
function toVmmConfig(r: Resources, backend: BackendChoice): VmmConfig {
  const drives = [...r.drives.values()];
  const root = drives.find((d) => d.is_root_device);
  const ordered = root ? [root, ...drives.filter((d) => d !== root)] : drives;
  const disks: DiskConfig[] = ordered.map((d) => ({
    path: parsePath(d.path_on_host, `drives.${d.drive_id}.path_on_host`),
    readOnly: d.is_read_only ?? false,
  }));
  let append = '';
  if (root) {
    const dev = root.partuuid ? `PARTUUID=${root.partuuid}` : '/dev/vda';
    append = `root=${dev} ${root.is_read_only ? 'ro' : 'rw'}`;
  }
  const net = [...r.nets.values()].map((n, i) => ({
    tap: parseTapName(n.host_dev_name, `network-interfaces.${n.iface_id}.host_dev_name`),
    mac:
      n.guest_mac === undefined
        ? defaultMacFor(i)
        : parseMac(n.guest_mac, `network-interfaces.${n.iface_id}.guest_mac`),
  }));
  const boot = r.bootSource;
  return resolveConfig({
    flags: {
      kernel: boot ? parsePath(boot.kernel_image_path, 'kernel_image_path') : undefined,
      initrd: boot?.initrd_path === undefined ? undefined : parsePath(boot.initrd_path, 'initrd_path'),
      cmdline: boot?.boot_args === undefined ? DEFAULT_CMDLINE : parseCmdline(boot.boot_args, 'boot_args'),
      cmdlineAppend: append,
      memoryMib: parseMemoryMib(r.machine.mem_size_mib, 'mem_size_mib'),
      vcpus: parseVcpus(r.machine.vcpu_count, 'vcpu_count'),
      disks,
      net,
      vsock: r.vsock
        ? { cid: parseCid(r.vsock.guest_cid, 'guest_cid'), uds: parseUdsPath(r.vsock.uds_path, 'uds_path') }
        : undefined,
      console: 'serial',
      backend,
    },
  });
}

/** Which counter a request counts in (Firecracker's metric names). */
function counterFor(method: string, path: string): { group: keyof ApiCounters; key: string } | undefined {
  const seg = path.split('/')[1] ?? '';
  const names: Record<string, string> = {
    actions: 'actions',
    'boot-source': 'boot_source',
    drives: 'drive',
    logger: 'logger',
    'machine-config': 'machine_cfg',
    metrics: 'metrics',
    'network-interfaces': 'network',
    vsock: 'vsock',
    entropy: 'entropy',
  };
  if (method === 'GET') {
    const get: Record<string, string> = {
      '/': 'instance_info',
      '/machine-config': 'machine_cfg',
      '/vm/config': 'vm_config',
      '/version': 'vmm_version',
    };
    return get[path] ? { group: 'get_api_requests', key: get[path] } : undefined;
  }
  const name = names[seg];
  if (!name) return undefined;
  return { group: method === 'PATCH' ? 'patch_api_requests' : 'put_api_requests', key: name };
}

/**
 * A Firecracker-compatible microVM: configure it through {@link FirecrackerInstance.handle} (or
 * {@link FirecrackerInstance.configure} with a `--config-file` object), then `InstanceStart`.
 *
 * @example
 * ```ts
 * const inst = new FirecrackerInstance({ startVm: firecrackerStartVm() });
 * await inst.handle('PUT', '/boot-source', '{"kernel_image_path":"bzImage"}');
 * await inst.handle('PUT', '/actions', '{"action_type":"InstanceStart"}'); // { status: 204 }
 * const result = await inst.exited; // { reason: 'poweroff', exitCode: 0 }
 * ```
 */
export class FirecrackerInstance {
  /** Instance id (`--id`). */
  readonly id: string;
  readonly logger: FirecrackerLogger;
  private readonly options: InstanceOptions;
  private res: Resources = {
    bootSource: undefined,
    machine: { ...DEFAULT_MACHINE_CONFIG },
    drives: new Map(),
    nets: new Map(),
    vsock: undefined,
    entropy: undefined,
    logger: undefined,
    metrics: undefined,
  };
  private vm: VmHandle | undefined;
  private starting = false;
  private metricsWriter: MetricsWriter | undefined;
  private readonly api = emptyApiCounters();
  private queue: Promise<unknown> = Promise.resolve();
  private resolveExited!: (r: RunResult) => void;
  /** Resolves when the started VM stops. */
  readonly exited: Promise<RunResult>;

  constructor(options: InstanceOptions) {
    this.options = options;
    this.id = options.id ?? DEFAULT_INSTANCE_ID;
    this.logger = options.logger ?? new FirecrackerLogger({ instanceId: this.id });
    this.exited = new Promise((r) => {
      this.resolveExited = r;
    });
  }

  /** True from InstanceStart on (while the VM is being built, and once it runs). */
  get started(): boolean {
    return this.starting || this.vm !== undefined;
  }

  /** `Not started` until InstanceStart succeeds, then `Running`. */
  get state(): 'Not started' | 'Running' {
    return this.vm ? 'Running' : 'Not started';
  }

  /**
   * Answers one API request. Requests are served one at a time, in arrival order; a request that
   * fails leaves every resource as it was.
   * @example const { status, body } = await inst.handle('GET', '/machine-config');
   */
  handle(method: string, path: string, body?: string): Promise<ApiResponse> {
    const run = this.queue.then(() => this.serve(method, path, body));
    this.queue = run.catch(() => {});
    return run;
  }

  private async serve(method: string, rawPath: string, body: string | undefined): Promise<ApiResponse> {
    const path = rawPath.split('?')[0] || '/';
    const counter = counterFor(method, path);
    // counted on arrival (a metrics line written while the request runs includes it)
    if (counter) this.api[counter.group][`${counter.key}_count`]++;
    try {
      const out = await this.route(method, path, body);
      this.logger.debug(`${method} ${path}: ${out.status}`, 'api_server');
      return out;
    } catch (e) {
      if (counter) {
        const fails = `${counter.key}_fails`;
        if (fails in this.api[counter.group]) this.api[counter.group][fails]++;
      }
      const message = e instanceof Error ? e.message : String(e);
      const internal = !(e instanceof VmmError);
      this.logger.log(internal ? 'Error' : 'Debug', `${method} ${path}: ${message}`, 'api_server');
      return { status: internal ? 500 : 400, body: { fault_message: message } };
    }
  }

  private async route(method: string, path: string, body: string | undefined): Promise<ApiResponse> {
    const hasBody = body !== undefined && body.length > 0;
    if (method === 'GET' && hasBody) throw VmmError.config('body', 'GET request cannot have a body.');
    for (const [re, message] of UNSUPPORTED) if (re.test(path)) throw new VmmError('state', message);
    const bad = () => new VmmError('state', `Invalid request method and/or path: ${method} ${path}.`);
    const parse = <N extends DefinitionName>(name: N): DefinitionTypes[N] => {
      if (!hasBody) throw VmmError.config('body', `Empty ${method} request.`);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch (e) {
        throw VmmError.config(
          'body',
          `An error occurred when deserializing the json body of a request: ${(e as Error).message}`,
        );
      }
      return validateBody(name, json);
    };
    const [, first = '', second, ...more] = path.split('/');
    if (more.length > 0) throw bad();
    switch (first) {
      case '':
        if (method !== 'GET' || second !== undefined) throw bad();
        return { status: 200, body: this.instanceInfo() };
      case 'version':
        if (method !== 'GET' || second !== undefined) throw bad();
        return { status: 200, body: { firecracker_version: FIRECRACKER_API_VERSION } };
      case 'vm':
        if (second === 'config' && method === 'GET') return { status: 200, body: this.vmConfig() };
        if (second === undefined && method === 'PATCH') {
          throw new VmmError('state', notYetSupported('pausing and resuming the microVM (PATCH /vm)'));
        }
        throw bad();
      case 'machine-config':
        if (second !== undefined) throw bad();
        if (method === 'GET') return { status: 200, body: { ...this.res.machine } };
        if (method === 'PUT')
          return this.preBoot(() => this.setMachine(parse('MachineConfiguration'), false));
        if (method === 'PATCH') {
          return this.preBoot(() => this.setMachine(parse('MachineConfigurationUpdate'), true));
        }
        throw bad();
      case 'boot-source':
        if (method !== 'PUT' || second !== undefined) throw bad();
        return this.preBoot(() => this.setBootSource(parse('BootSource')));
      case 'drives':
      case 'network-interfaces': {
        if (second === undefined || second === '') throw bad();
        const id = decodeURIComponent(second);
        const what = first === 'drives' ? 'drives' : 'network interfaces';
        if (method === 'PATCH') {
          if (!this.vm) throw new VmmError('state', NOT_BEFORE_START);
          throw new VmmError('state', notYetSupported(`updating ${what} after boot (PATCH /${first})`));
        }
        if (method !== 'PUT') throw bad();
        if (first === 'drives') return this.preBoot(() => this.setDrive(id, parse('Drive')));
        return this.preBoot(() => this.setNet(id, parse('NetworkInterface')));
      }
      case 'vsock':
        if (method !== 'PUT' || second !== undefined) throw bad();
        return this.preBoot(() => this.setVsock(parse('Vsock')));
      case 'entropy':
        if (method !== 'PUT' || second !== undefined) throw bad();
        return this.preBoot(() => this.setEntropy(parse('EntropyDevice')));
      case 'logger':
        if (method !== 'PUT' || second !== undefined) throw bad();
        return this.preBoot(() => this.setLogger(parse('Logger')));
      case 'metrics':
        if (method !== 'PUT' || second !== undefined) throw bad();
        return this.preBoot(() => this.setMetrics(parse('Metrics')));
      case 'actions': {
        if (method !== 'PUT' || second !== undefined) throw bad();
        const { action_type } = parse('InstanceActionInfo');
        if (action_type === 'InstanceStart') {
          if (this.vm) throw new VmmError('state', NOT_AFTER_START);
          await this.start();
        } else if (action_type === 'SendCtrlAltDel') {
          if (!this.vm) throw new VmmError('state', NOT_BEFORE_START);
          this.vm.sendCtrlAltDel();
        } else {
          this.flushMetrics();
        }
        return { status: 204 };
      }
      default:
        throw bad();
    }
  }

  /** Runs a pre-boot change on a copy of the resources; they are replaced only when it succeeds. */
  private preBoot(change: () => Resources | undefined): ApiResponse {
    if (this.vm) throw new VmmError('state', NOT_AFTER_START);
    const next = change();
    if (next) {
      // the cross-field checks (the same disk twice, the command line's length) on the whole set
      toVmmConfig(next, this.options.backend ?? 'auto');
      this.res = next;
    }
    return { status: 204 };
  }

  private setMachine(mc: Partial<MachineConfiguration>, partial: boolean): Resources {
    const base = partial ? this.res.machine : DEFAULT_MACHINE_CONFIG;
    const m: MachineConfiguration = { ...base, ...mc };
    if (!partial) {
      m.smt = mc.smt ?? false;
      m.track_dirty_pages = mc.track_dirty_pages ?? false;
      m.huge_pages = mc.huge_pages ?? 'None';
      if (mc.cpu_template === undefined) delete m.cpu_template;
    }
    if (m.smt) throw VmmError.config('smt', notYetSupported('simultaneous multithreading (smt: true)'));
    if (m.cpu_template !== undefined && m.cpu_template !== 'None') {
      throw VmmError.config('cpu_template', notYetSupported(`CPU template ${m.cpu_template}`));
    }
    if (m.huge_pages === '2M') throw VmmError.config('huge_pages', notYetSupported('hugetlbfs pages (2M)'));
    parseMemoryMib(m.mem_size_mib, 'mem_size_mib');
    parseVcpus(m.vcpu_count, 'vcpu_count');
    return { ...copy(this.res), machine: m };
  }

  private setBootSource(b: BootSource): Resources {
    checkReadable(parsePath(b.kernel_image_path, 'kernel_image_path'), 'kernel_image_path');
    if (b.initrd_path !== undefined) checkReadable(parsePath(b.initrd_path, 'initrd_path'), 'initrd_path');
    if (b.boot_args !== undefined) parseCmdline(b.boot_args, 'boot_args');
    return { ...copy(this.res), bootSource: b };
  }

  private setDrive(id: string, d: Drive): Resources {
    checkId(id, 'drive_id');
    if (d.drive_id !== id) {
      throw VmmError.config(
        'drive_id',
        `The id from the path [${id}] does not match the id from the body [${d.drive_id}]!`,
      );
    }
    if (d.socket !== undefined) {
      throw VmmError.config('socket', 'vhost-user-block drives (socket) are not supported by ts-vmm');
    }
    if (d.path_on_host === undefined) throw VmmError.config('path_on_host', 'missing field');
    noRateLimit(d.rate_limiter, 'rate_limiter');
    checkReadable(parsePath(d.path_on_host, 'path_on_host'), 'path_on_host', !d.is_read_only);
    const next = copy(this.res);
    if (d.is_root_device) {
      for (const [other, o] of next.drives) {
        if (other !== id && o.is_root_device) {
          throw VmmError.config(
            'is_root_device',
            `A root block device already exists (drive ${JSON.stringify(other)}).`,
          );
        }
      }
    }
    if (d.io_engine === 'Async') this.logger.warn(`drive ${id}: io_engine Async runs as Sync in ts-vmm`);
    next.drives.set(id, d);
    return next;
  }

  private setNet(id: string, n: NetworkInterface): Resources {
    checkId(id, 'iface_id');
    if (n.iface_id !== id) {
      throw VmmError.config(
        'iface_id',
        `The id from the path [${id}] does not match the id from the body [${n.iface_id}]!`,
      );
    }
    if (n.mtu !== undefined)
      throw VmmError.config('mtu', notYetSupported('advertising an MTU (VIRTIO_NET_F_MTU)'));
    noRateLimit(n.rx_rate_limiter, 'rx_rate_limiter');
    noRateLimit(n.tx_rate_limiter, 'tx_rate_limiter');
    parseTapName(n.host_dev_name, 'host_dev_name');
    if (n.guest_mac !== undefined) parseMac(n.guest_mac, 'guest_mac');
    const next = copy(this.res);
    next.nets.set(id, n);
    return next;
  }

  private setVsock(v: Vsock): Resources {
    parseCid(v.guest_cid, 'guest_cid');
    parseUdsPath(v.uds_path, 'uds_path');
    return { ...copy(this.res), vsock: v };
  }

  private setEntropy(e: EntropyDevice): Resources {
    noRateLimit(e.rate_limiter, 'rate_limiter');
    return { ...copy(this.res), entropy: e };
  }

  private setLogger(l: LoggerConfig): Resources {
    if (l.module !== undefined)
      throw VmmError.config('module', notYetSupported('filtering the log by module'));
    const level = l.level === undefined ? undefined : parseLogLevel(l.level, 'level');
    if (l.log_path !== undefined) this.logger.setSink({ path: parsePath(l.log_path, 'log_path') });
    this.logger.configure({ level, showLevel: l.show_level, showOrigin: l.show_log_origin });
    return { ...copy(this.res), logger: l };
  }

  private setMetrics(m: MetricsConfig): Resources {
    if (this.metricsWriter) throw new VmmError('state', 'Reinitialization of metrics not allowed.');
    this.metricsWriter = new MetricsWriter({
      path: parsePath(m.metrics_path, 'metrics_path'),
      instanceId: this.id,
      emitId: m.emit_id,
      properties: m.properties,
      read: () => ({ api: this.api, vm: this.vm?.counters() }),
    });
    this.metricsWriter.startPeriodic();
    return { ...copy(this.res), metrics: m };
  }

  private flushMetrics(): void {
    if (!this.metricsWriter)
      throw new VmmError('state', 'the metrics system is not configured (PUT /metrics first)');
    this.metricsWriter.flush();
  }

  private async start(): Promise<void> {
    if (!this.res.bootSource)
      throw new VmmError('state', 'Cannot start microvm without kernel configuration.');
    const config = toVmmConfig(this.res, this.options.backend ?? 'auto');
    let vm: VmHandle;
    this.starting = true;
    try {
      vm = await this.options.startVm(config, (line) => {
        if (!line.startsWith('boot timer:') || this.options.bootTimer) this.logger.info(line, 'vmm');
      });
    } catch (e) {
      if (e instanceof VmmError) {
        throw new VmmError(e.kind === 'config' ? 'config' : 'state', `Start microvm error: ${e.message}`, {
          cause: e,
        });
      }
      throw e;
    } finally {
      this.starting = false;
    }
    this.vm = vm;
    this.logger.info('Successfully started microvm that was configured from one single json', 'vmm');
    void vm.result.then((r) => {
      this.logger.info(`Vmm is stopping (${r.reason}${r.detail ? `: ${r.detail}` : ''}).`, 'vmm');
      try {
        this.metricsWriter?.flush();
      } catch {}
      this.resolveExited(r);
    });
  }

  /**
   * Applies a `--config-file` object (all of its resources, or none when one is bad).
   * @example inst.configure(JSON.parse(readFileSync('vm.json', 'utf8')))
   */
  configure(json: unknown): void {
    const full = validateBody('FullVmConfiguration', json);
    for (const k of ['balloon', 'cpu-config', 'memory-hotplug', 'pmem', 'serial'] as const) {
      if (full[k] !== undefined) {
        const [, message] = UNSUPPORTED.find(([re]) =>
          re.test(`/${k === 'memory-hotplug' ? 'hotplug' : k}`),
        )!;
        throw VmmError.config(k, message);
      }
    }
    if (full['mmds-config'] !== undefined) throw VmmError.config('mmds-config', notYetSupported('MMDS'));
    if (!full['boot-source'])
      throw VmmError.config('boot-source', 'missing field (the configuration must name the kernel)');
    const saved = copy(this.res);
    try {
      const apply = (f: () => Resources | undefined) => {
        const next = f();
        if (next) this.res = next;
      };
      if (full.logger) apply(() => this.setLogger(full.logger!));
      if (full.metrics) apply(() => this.setMetrics(full.metrics!));
      apply(() => this.setBootSource(full['boot-source']!));
      if (full['machine-config']) apply(() => this.setMachine(full['machine-config']!, false));
      for (const d of full.drives ?? []) apply(() => this.setDrive(d.drive_id, d));
      for (const n of full['network-interfaces'] ?? []) apply(() => this.setNet(n.iface_id, n));
      if (full.vsock) apply(() => this.setVsock(full.vsock!));
      if (full.entropy) apply(() => this.setEntropy(full.entropy!));
      toVmmConfig(this.res, this.options.backend ?? 'auto');
    } catch (e) {
      this.res = saved;
      throw e;
    }
  }

  /**
   * Boots the configured VM (what `PUT /actions InstanceStart` does).
   * @example await inst.startInstance();
   */
  async startInstance(): Promise<void> {
    const r = await this.handle('PUT', '/actions', '{"action_type":"InstanceStart"}');
    if (r.status !== 204) throw new VmmError('backend', (r.body as { fault_message: string }).fault_message);
  }

  /** The `InstanceInfo` of `GET /`. @example inst.instanceInfo().state // 'Not started' */
  instanceInfo(): DefinitionTypes['InstanceInfo'] {
    return {
      app_name: 'ts-vmm',
      id: this.id,
      state: this.state,
      vmm_version: this.options.vmmVersion ?? 'unknown',
    };
  }

  /** The `FullVmConfiguration` of `GET /vm/config`. @example inst.vmConfig()['machine-config'] */
  vmConfig(): FullVmConfiguration {
    const r = this.res;
    const out: FullVmConfiguration = {
      'machine-config': { ...r.machine },
      drives: [...r.drives.values()],
      'network-interfaces': [...r.nets.values()],
    };
    if (r.bootSource) out['boot-source'] = r.bootSource;
    if (r.vsock) out.vsock = r.vsock;
    if (r.entropy) out.entropy = r.entropy;
    if (r.logger) out.logger = r.logger;
    if (r.metrics) out.metrics = r.metrics;
    return out;
  }

  /** Stops the periodic metrics and closes the log and metrics files. @example inst.close() */
  close(): void {
    this.metricsWriter?.close();
    this.logger.close();
  }
}
