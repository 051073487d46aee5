/**
 * ts-vmm's Firecracker-compatible control plane, as a library: the instance (resources, pre- and
 * post-boot rules, translation to ts-vmm's config), the HTTP/1.1 server over a Unix socket, the
 * schema of the request and response bodies, the logger and metrics, and the process interface.
 * Also exported from the package root; `@ts-vmm/vmm-reference/firecracker` has only this.
 *
 * @packageDocumentation
 */
export {
  DEFAULT_API_SOCK,
  FIRECRACKER_HELP,
  type FirecrackerCliDeps,
  type FirecrackerFlags,
  parseFirecrackerFlags,
  runFirecrackerCli,
} from './cli.js';
export {
  type ApiResponse,
  DEFAULT_INSTANCE_ID,
  DEFAULT_MACHINE_CONFIG,
  FIRECRACKER_API_VERSION,
  FirecrackerInstance,
  type InstanceOptions,
  MAX_PAYLOAD_BYTES,
  notYetSupported,
  type StartVm,
  type VmHandle,
} from './instance.js';
export {
  FirecrackerLogger,
  LOG_LEVELS,
  type LoggerOptions,
  type LogLevel,
  type LogSink,
  parseLogLevel,
} from './logger.js';
export {
  type ApiCounters,
  emptyApiCounters,
  METRICS_PERIOD_MS,
  MetricsWriter,
  type MetricsWriterOptions,
  type VmCounters,
} from './metrics.js';
export * from './schema.js';
export { ApiServer, type ApiServerOptions } from './server.js';
export { firecrackerStartVm, vmCounters } from './vm.js';
