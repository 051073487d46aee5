/**
 * ts-vmm's own schema of Firecracker's REST API: the request and response bodies of the endpoints
 * ts-vmm serves, written from Firecracker's OpenAPI (Swagger 2.0) definition, as TypeScript types
 * and as data that {@link validateBody} checks a parsed JSON body against.
 *
 * Like Firecracker, a body may not carry fields its definition does not name (`unknown field`), a
 * required field must be present, and `null` stands for an absent optional field.
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';

/** One node of the schema: a subset of JSON Schema, as the OpenAPI definition uses it. */
export type SchemaNode =
  | { type: 'string'; enum?: readonly string[] }
  | { type: 'integer'; minimum?: number; maximum?: number }
  | { type: 'boolean' }
  | { type: 'array'; items: SchemaNode }
  | {
      type: 'object';
      properties: Readonly<Record<string, SchemaNode>>;
      required?: readonly string[];
      /** Values of fields the properties do not name (a map); absent: such fields are refused. */
      additionalProperties?: SchemaNode | true;
    }
  | { $ref: DefinitionName };

const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const uint = (maximum?: number) =>
  ({ type: 'integer', minimum: 0, ...(maximum === undefined ? {} : { maximum }) }) as const;
const ref = (name: DefinitionName) => ({ $ref: name }) as const;

/** The names of the definitions ts-vmm has. */
export type DefinitionName =
  | 'BootSource'
  | 'Drive'
  | 'EntropyDevice'
  | 'Error'
  | 'FirecrackerVersion'
  | 'FullVmConfiguration'
  | 'InstanceActionInfo'
  | 'InstanceInfo'
  | 'Logger'
  | 'MachineConfiguration'
  | 'MachineConfigurationUpdate'
  | 'Metrics'
  | 'MmdsConfig'
  | 'NetworkInterface'
  | 'RateLimiter'
  | 'TokenBucket'
  | 'Vsock';

const U64_MAX = Number.MAX_SAFE_INTEGER;

const machineConfigurationProperties = {
  cpu_template: { type: 'string', enum: ['C3', 'T2', 'T2S', 'T2CL', 'T2A', 'V1N1', 'None'] },
  smt: bool,
  mem_size_mib: uint(U64_MAX),
  track_dirty_pages: bool,
  vcpu_count: { type: 'integer', minimum: 1, maximum: 32 },
  huge_pages: { type: 'string', enum: ['None', 'Transparent', '2M'] },
} as const satisfies Record<string, SchemaNode>;

/**
 * The definitions, as firecracker.yaml gives them (the fields ts-vmm accepts; see each endpoint
 * for the values it does not support yet).
 */
export const DEFINITIONS: Readonly<Record<DefinitionName, SchemaNode>> = {
  BootSource: {
    type: 'object',
    properties: { boot_args: str, initrd_path: str, kernel_image_path: str },
    required: ['kernel_image_path'],
  },
  Drive: {
    type: 'object',
    properties: {
      drive_id: str,
      partuuid: str,
      is_root_device: bool,
      cache_type: { type: 'string', enum: ['Unsafe', 'Writeback'] },
      is_read_only: bool,
      path_on_host: str,
      rate_limiter: ref('RateLimiter'),
      io_engine: { type: 'string', enum: ['Sync', 'Async'] },
      socket: str,
    },
    required: ['drive_id', 'is_root_device'],
  },
  EntropyDevice: { type: 'object', properties: { rate_limiter: ref('RateLimiter') } },
  Error: { type: 'object', properties: { fault_message: str } },
  FirecrackerVersion: {
    type: 'object',
    properties: { firecracker_version: str },
    required: ['firecracker_version'],
  },
  FullVmConfiguration: {
    type: 'object',
    properties: {
      drives: { type: 'array', items: ref('Drive') },
      'boot-source': ref('BootSource'),
      logger: ref('Logger'),
      'machine-config': ref('MachineConfiguration'),
      metrics: ref('Metrics'),
      'mmds-config': ref('MmdsConfig'),
      'network-interfaces': { type: 'array', items: ref('NetworkInterface') },
      vsock: ref('Vsock'),
      entropy: ref('EntropyDevice'),
      // the resources ts-vmm does not offer: named so that a config file gets "not yet supported"
      // rather than "unknown field"
      balloon: { type: 'object', properties: {}, additionalProperties: true },
      'cpu-config': { type: 'object', properties: {}, additionalProperties: true },
      'memory-hotplug': { type: 'object', properties: {}, additionalProperties: true },
      pmem: { type: 'array', items: { type: 'object', properties: {}, additionalProperties: true } },
      serial: { type: 'object', properties: {}, additionalProperties: true },
    },
  },
  InstanceActionInfo: {
    type: 'object',
    properties: {
      action_type: { type: 'string', enum: ['FlushMetrics', 'InstanceStart', 'SendCtrlAltDel'] },
    },
    required: ['action_type'],
  },
  InstanceInfo: {
    type: 'object',
    properties: {
      app_name: str,
      id: str,
      state: { type: 'string', enum: ['Not started', 'Running', 'Paused'] },
      vmm_version: str,
    },
    required: ['app_name', 'id', 'state', 'vmm_version'],
  },
  Logger: {
    type: 'object',
    properties: {
      // case-insensitive in Firecracker: checked by parseLogLevel
      level: str,
      log_path: str,
      show_level: bool,
      show_log_origin: bool,
      module: str,
    },
  },
  MachineConfiguration: {
    type: 'object',
    properties: machineConfigurationProperties,
    required: ['mem_size_mib', 'vcpu_count'],
  },
  // PATCH /machine-config: the same fields, none required
  MachineConfigurationUpdate: { type: 'object', properties: machineConfigurationProperties },
  Metrics: {
    type: 'object',
    properties: {
      metrics_path: str,
      emit_id: bool,
      properties: { type: 'object', properties: {}, additionalProperties: str },
    },
    required: ['metrics_path'],
  },
  MmdsConfig: {
    type: 'object',
    properties: {
      version: { type: 'string', enum: ['V1', 'V2'] },
      network_interfaces: { type: 'array', items: str },
      ipv4_address: str,
      imds_compat: bool,
    },
    required: ['network_interfaces'],
  },
  NetworkInterface: {
    type: 'object',
    properties: {
      guest_mac: str,
      host_dev_name: str,
      iface_id: str,
      mtu: { type: 'integer', minimum: 68, maximum: 65535 },
      rx_rate_limiter: ref('RateLimiter'),
      tx_rate_limiter: ref('RateLimiter'),
    },
    required: ['host_dev_name', 'iface_id'],
  },
  RateLimiter: {
    type: 'object',
    properties: { bandwidth: ref('TokenBucket'), ops: ref('TokenBucket') },
  },
  TokenBucket: {
    type: 'object',
    properties: { one_time_burst: uint(U64_MAX), refill_time: uint(U64_MAX), size: uint(U64_MAX) },
    required: ['refill_time', 'size'],
  },
  Vsock: {
    type: 'object',
    properties: {
      guest_cid: { type: 'integer', minimum: 3, maximum: 0xffffffff },
      uds_path: str,
      vsock_id: str,
    },
    required: ['guest_cid', 'uds_path'],
  },
};

/** `BootSource`: the kernel, initrd and command line. */
export interface BootSource {
  kernel_image_path: string;
  initrd_path?: string;
  boot_args?: string;
}

/** `TokenBucket` of a {@link RateLimiter}. */
export interface TokenBucket {
  size: number;
  refill_time: number;
  one_time_burst?: number;
}

/** `RateLimiter`: bandwidth (bytes) and ops token buckets. */
export interface RateLimiter {
  bandwidth?: TokenBucket;
  ops?: TokenBucket;
}

/** `Drive`: a virtio-block device (or, in Firecracker, vhost-user-block with `socket`). */
export interface Drive {
  drive_id: string;
  is_root_device: boolean;
  partuuid?: string;
  cache_type?: 'Unsafe' | 'Writeback';
  is_read_only?: boolean;
  path_on_host?: string;
  rate_limiter?: RateLimiter;
  io_engine?: 'Sync' | 'Async';
  socket?: string;
}

/** `NetworkInterface`: a virtio-net device on a host tap. */
export interface NetworkInterface {
  iface_id: string;
  host_dev_name: string;
  guest_mac?: string;
  mtu?: number;
  rx_rate_limiter?: RateLimiter;
  tx_rate_limiter?: RateLimiter;
}

/** `MachineConfiguration`: vCPUs and memory. */
export interface MachineConfiguration {
  vcpu_count: number;
  mem_size_mib: number;
  smt?: boolean;
  track_dirty_pages?: boolean;
  cpu_template?: 'C3' | 'T2' | 'T2S' | 'T2CL' | 'T2A' | 'V1N1' | 'None';
  huge_pages?: 'None' | 'Transparent' | '2M';
}

/** `Vsock`: the hybrid vsock device's guest CID and host Unix socket. */
export interface Vsock {
  guest_cid: number;
  uds_path: string;
  vsock_id?: string;
}

/** `EntropyDevice`: virtio-rng. */
export interface EntropyDevice {
  rate_limiter?: RateLimiter;
}

/** `Logger`: where and how the human-readable log goes. */
export interface LoggerConfig {
  level?: string;
  log_path?: string;
  show_level?: boolean;
  show_log_origin?: boolean;
  module?: string;
}

/** `Metrics`: where the JSON metrics lines go. */
export interface MetricsConfig {
  metrics_path: string;
  emit_id?: boolean;
  properties?: Record<string, string>;
}

/** `MmdsConfig` (accepted by the schema; MMDS is not yet supported by ts-vmm). */
export interface MmdsConfig {
  network_interfaces: string[];
  version?: 'V1' | 'V2';
  ipv4_address?: string;
  imds_compat?: boolean;
}

/** `InstanceActionInfo`: the body of `PUT /actions`. */
export interface InstanceActionInfo {
  action_type: 'FlushMetrics' | 'InstanceStart' | 'SendCtrlAltDel';
}

/** `InstanceInfo`: the body of `GET /`. */
export interface InstanceInfo {
  app_name: string;
  id: string;
  state: 'Not started' | 'Running' | 'Paused';
  vmm_version: string;
}

/** `FirecrackerVersion`: the body of `GET /version`. */
export interface FirecrackerVersion {
  firecracker_version: string;
}

/** `Error`: the body of every 4xx/5xx answer. */
export interface FaultBody {
  fault_message: string;
}

/** `FullVmConfiguration`: `GET /vm/config`, and the `--config-file` JSON. */
export interface FullVmConfiguration {
  'boot-source'?: BootSource;
  drives?: Drive[];
  'machine-config'?: MachineConfiguration;
  'network-interfaces'?: NetworkInterface[];
  vsock?: Vsock;
  entropy?: EntropyDevice;
  logger?: LoggerConfig;
  metrics?: MetricsConfig;
  'mmds-config'?: MmdsConfig;
  balloon?: Record<string, unknown>;
  'cpu-config'?: Record<string, unknown>;
  'memory-hotplug'?: Record<string, unknown>;
  pmem?: Record<string, unknown>[];
  serial?: Record<string, unknown>;
}

/** The TypeScript type of each definition. */
export interface DefinitionTypes {
  BootSource: BootSource;
  Drive: Drive;
  EntropyDevice: EntropyDevice;
  Error: Partial<FaultBody>;
  FirecrackerVersion: FirecrackerVersion;
  FullVmConfiguration: FullVmConfiguration;
  InstanceActionInfo: InstanceActionInfo;
  InstanceInfo: InstanceInfo;
  Logger: LoggerConfig;
  MachineConfiguration: MachineConfiguration;
  MachineConfigurationUpdate: Partial<MachineConfiguration>;
  Metrics: MetricsConfig;
  MmdsConfig: MmdsConfig;
  NetworkInterface: NetworkInterface;
  RateLimiter: RateLimiter;
  TokenBucket: TokenBucket;
  Vsock: Vsock;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Checks `value` against `node`; returns it without the `null` optional fields. */
function check(node: SchemaNode, value: unknown, at: string): unknown {
  if ('$ref' in node) return check(DEFINITIONS[node.$ref], value, at);
  const field = at || 'body';
  switch (node.type) {
    case 'string':
      if (typeof value !== 'string') throw VmmError.config(field, `${describe(value)} is not a string`);
      if (node.enum && !node.enum.includes(value)) {
        throw VmmError.config(field, `${describe(value)} is not one of ${node.enum.join(', ')}`);
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw VmmError.config(field, `${describe(value)} is not a boolean`);
      return value;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw VmmError.config(field, `${describe(value)} is not an integer`);
      }
      if (!Number.isSafeInteger(value)) throw VmmError.config(field, `${describe(value)} is out of range`);
      if (node.minimum !== undefined && value < node.minimum) {
        throw VmmError.config(field, `${value} is below the minimum ${node.minimum}`);
      }
      if (node.maximum !== undefined && value > node.maximum) {
        throw VmmError.config(field, `${value} is above the maximum ${node.maximum}`);
      }
      return value;
    case 'array':
      if (!Array.isArray(value)) throw VmmError.config(field, `${describe(value)} is not an array`);
      return value.map((v, i) => check(node.items, v, `${field}[${i}]`));
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw VmmError.config(field, `${describe(value)} is not an object`);
      }
      const out: Record<string, unknown> = {};
      const prefix = at ? `${at}.` : '';
      for (const [k, v] of Object.entries(value)) {
        const prop = Object.hasOwn(node.properties, k) ? node.properties[k] : undefined;
        if (prop === undefined && node.additionalProperties === undefined) {
          const known = Object.keys(node.properties);
          throw VmmError.config(
            `${prefix}${k}`,
            `unknown field${known.length ? ` (expected one of ${known.join(', ')})` : ''}`,
          );
        }
        if (v === null && !node.required?.includes(k)) continue; // serde: null is None
        if (prop) out[k] = check(prop, v, `${prefix}${k}`);
        else if (node.additionalProperties === true) out[k] = v;
        else out[k] = check(node.additionalProperties!, v, `${prefix}${k}`);
      }
      for (const r of node.required ?? []) {
        if (!(r in out)) throw VmmError.config(`${prefix}${r}`, 'missing field');
      }
      return out;
    }
  }
}

/**
 * Checks a parsed JSON body against a definition: returns it typed (`null` optional fields
 * dropped), or throws a {@link VmmError} of kind `'config'` whose `field` is the JSON path of the
 * fault (`vcpu_count: 0 is below the minimum 1`).
 *
 * @example
 * ```ts
 * const mc = validateBody('MachineConfiguration', JSON.parse('{"vcpu_count":2,"mem_size_mib":256}'));
 * mc.vcpu_count; // 2
 * ```
 */
export function validateBody<N extends DefinitionName>(name: N, value: unknown, at = ''): DefinitionTypes[N] {
  return check(DEFINITIONS[name], value, at) as DefinitionTypes[N];
}
