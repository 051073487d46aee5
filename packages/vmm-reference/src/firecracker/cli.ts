/**
 * `ts-vmm firecracker` (and the `ts-vmm-firecracker` bin): Firecracker's process interface. The
 * API socket is up before any VM is configured; `--config-file` boots at once; the process ends
 * when the guest stops, with ts-vmm's exit code for how it stopped.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { CliIo } from '../cli/main.js';
import type { BackendChoice } from '../config/types.js';
import { parseBackend, parsePath } from '../config/values.js';
import { VmmError } from '../vmm/errors.js';
import { EXIT_CODES, type RunResult, stopResult } from '../vmm/exit-codes.js';
import {
  DEFAULT_INSTANCE_ID,
  FIRECRACKER_API_VERSION,
  FirecrackerInstance,
  MAX_PAYLOAD_BYTES,
  type StartVm,
} from './instance.js';
import { FirecrackerLogger, type LogLevel, parseLogLevel } from './logger.js';
import { ApiServer } from './server.js';
import { firecrackerStartVm } from './vm.js';

/** Firecracker's default API socket path. */
export const DEFAULT_API_SOCK = '/run/firecracker.socket';

/** The `ts-vmm firecracker --help` text. */
export const FIRECRACKER_HELP = `Usage: ts-vmm firecracker [options]   (also: ts-vmm-firecracker [options])

Firecracker's process interface and REST API (HTTP/1.1 over a Unix socket) on ts-vmm.

  --api-sock PATH         the API socket (default ${DEFAULT_API_SOCK}); an existing path is an error
  --config-file FILE      Firecracker JSON (boot-source, drives, machine-config, network-interfaces,
                          vsock, logger, metrics, entropy): configure and boot at once
  --no-api                no API socket (needs --config-file)
  --id ID                 instance id for logs and metrics (default ${DEFAULT_INSTANCE_ID})
  --boot-timer            log the guest's boot time
  --level LEVEL           log level: Error, Warning, Info (default), Debug, Trace, Off
  --log-path PATH         write the log to a file or named pipe (default: stderr)
  --show-level            show each line's level
  --show-log-origin       show each line's origin
  --metrics-path PATH     write metrics (JSON lines) to a file or named pipe
  --http-api-max-payload-size N
                          largest request body (default ${MAX_PAYLOAD_BYTES} bytes)
  --backend auto|kvm|emulated
                          ts-vmm's hypervisor backend (default auto)
  --version               print the Firecracker API version and ts-vmm's

The guest's serial console is this process's stdin and stdout. Endpoints: GET /, GET /version,
GET /vm/config, GET|PUT|PATCH /machine-config, PUT /boot-source, PUT /drives/ID,
PUT /network-interfaces/ID, PUT /vsock, PUT /entropy, PUT /logger, PUT /metrics,
PUT /actions (InstanceStart, SendCtrlAltDel, FlushMetrics). Not yet supported: snapshots,
PATCH /vm, MMDS, PATCH of drives and network interfaces; not offered: balloon, pmem, memory
hotplug, cpu-config, serial.

Exit status: as ts-vmm run (0 guest powered off, 2 guest reboot, e.g. after SendCtrlAltDel with
reboot=k, 4 panic, 64 bad options or configuration, 70 VMM error, 130 SIGINT, 143 SIGTERM).`;

/** The parsed `ts-vmm firecracker` flags. */
export interface FirecrackerFlags {
  help: boolean;
  version: boolean;
  apiSock: string;
  noApi: boolean;
  configFile: string | undefined;
  id: string;
  bootTimer: boolean;
  level: LogLevel;
  logPath: string | undefined;
  showLevel: boolean;
  showOrigin: boolean;
  metricsPath: string | undefined;
  maxPayloadBytes: number;
  backend: BackendChoice;
}

const VALUE_FLAGS = new Set([
  '--api-sock',
  '--config-file',
  '--id',
  '--level',
  '--log-path',
  '--metrics-path',
  '--http-api-max-payload-size',
  '--backend',
  // Firecracker's, accepted and ignored: ts-vmm installs no seccomp filter, and start times only
  // feed Firecracker's startup metrics
  '--seccomp-filter',
  '--start-time-us',
  '--start-time-cpu-us',
  '--parent-cpu-time-us',
  // Firecracker's, not yet supported
  '--metadata',
  '--mmds-size-limit',
  '--module',
]);

/**
 * Parses Firecracker's flags (`--flag VALUE` or `--flag=VALUE`).
 * @example parseFirecrackerFlags(['--api-sock', '/tmp/fc.sock']).apiSock // '/tmp/fc.sock'
 */
export function parseFirecrackerFlags(argv: readonly string[]): FirecrackerFlags {
  const f: FirecrackerFlags = {
    help: false,
    version: false,
    apiSock: DEFAULT_API_SOCK,
    noApi: false,
    configFile: undefined,
    id: DEFAULT_INSTANCE_ID,
    bootTimer: false,
    level: 'Info',
    logPath: undefined,
    showLevel: false,
    showOrigin: false,
    metricsPath: undefined,
    maxPayloadBytes: MAX_PAYLOAD_BYTES,
    backend: 'auto',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined;
    if (VALUE_FLAGS.has(name)) {
      value = eq > 0 && name !== arg ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw VmmError.config(name, 'needs a value');
    } else if (name !== arg) {
      throw VmmError.config(name, 'takes no value');
    }
    switch (name) {
      case '--help':
      case '-h':
        f.help = true;
        break;
      case '--version':
        f.version = true;
        break;
      case '--api-sock':
        f.apiSock = parsePath(value, name);
        break;
      case '--config-file':
        f.configFile = parsePath(value, name);
        break;
      case '--no-api':
        f.noApi = true;
        break;
      case '--id':
        if (!/^[A-Za-z0-9-]{1,64}$/.test(value!)) {
          throw VmmError.config(
            name,
            `${JSON.stringify(value)} is not a valid id (1 to 64 letters, digits or '-')`,
          );
        }
        f.id = value!;
        break;
      case '--boot-timer':
        f.bootTimer = true;
        break;
      case '--level':
        f.level = parseLogLevel(value, name);
        break;
      case '--log-path':
        f.logPath = parsePath(value, name);
        break;
      case '--show-level':
        f.showLevel = true;
        break;
      case '--show-log-origin':
        f.showOrigin = true;
        break;
      case '--metrics-path':
        f.metricsPath = parsePath(value, name);
        break;
      case '--http-api-max-payload-size': {
        const n = Number(value);
        if (!/^[0-9]+$/.test(value!) || !Number.isSafeInteger(n) || n < 1) {
          throw VmmError.config(name, `${JSON.stringify(value)} is not a positive whole number of bytes`);
        }
        f.maxPayloadBytes = n;
        break;
      }
      case '--backend':
        f.backend = parseBackend(value, name);
        break;
      case '--no-seccomp':
      case '--enable-pci':
      case '--seccomp-filter':
      case '--start-time-us':
      case '--start-time-cpu-us':
      case '--parent-cpu-time-us':
        break;
      case '--metadata':
      case '--mmds-size-limit':
        throw VmmError.config(name, 'MMDS is not yet supported by ts-vmm');
      case '--module':
        throw VmmError.config(name, 'filtering the log by module is not yet supported by ts-vmm');
      default:
        throw VmmError.config(
          name,
          `unknown option ${JSON.stringify(arg)} (ts-vmm firecracker --help lists them)`,
        );
    }
  }
  if (f.noApi && !f.configFile)
    throw VmmError.config('--no-api', 'needs --config-file (nothing could configure the VM)');
  return f;
}

/** What `ts-vmm firecracker` needs from outside. */
export interface FirecrackerCliDeps {
  /** ts-vmm's version. */
  version: string;
  /** Default: {@link firecrackerStartVm} (the process's stdin and stdout as the console). */
  startVm?: StartVm;
  /** Signals that end a run with no VM yet (default: SIGINT and SIGTERM of this process). */
  signals?: {
    on(sig: 'SIGINT' | 'SIGTERM', l: () => void): unknown;
    removeListener(sig: 'SIGINT' | 'SIGTERM', l: () => void): unknown;
  };
}

/**
 * Runs `ts-vmm firecracker ARGS`; resolves to the exit code.
 *
 * @example
 * ```ts
 * const code = await runFirecrackerCli(['--api-sock', '/tmp/fc.sock'], io, { version: '0.1.0' });
 * ```
 */
export async function runFirecrackerCli(
  argv: readonly string[],
  io: CliIo,
  deps: FirecrackerCliDeps,
): Promise<number> {
  const f = parseFirecrackerFlags(argv);
  if (f.help) {
    io.out(FIRECRACKER_HELP);
    return 0;
  }
  if (f.version) {
    io.out(`Firecracker v${FIRECRACKER_API_VERSION} (ts-vmm ${deps.version})`);
    return 0;
  }
  const logger = new FirecrackerLogger({
    instanceId: f.id,
    level: f.level,
    showLevel: f.showLevel,
    showOrigin: f.showOrigin,
    sink: f.logPath ? { path: f.logPath } : { write: (l) => io.err(l) },
  });
  const instance = new FirecrackerInstance({
    startVm: deps.startVm ?? firecrackerStartVm(),
    id: f.id,
    vmmVersion: deps.version,
    backend: f.backend,
    logger,
    bootTimer: f.bootTimer,
  });
  let server: ApiServer | undefined;
  const signals = deps.signals ?? process;
  let onSignal: ((r: RunResult) => void) | undefined;
  const signalled = new Promise<RunResult>((resolve) => {
    onSignal = resolve;
  });
  // Once InstanceStart begins the VM owns SIGINT/SIGTERM (it stops and tears down, then exits).
  const sigint = () => {
    if (!instance.started) onSignal!(stopResult('sigint', 'SIGINT'));
  };
  const sigterm = () => {
    if (!instance.started) onSignal!(stopResult('sigterm', 'SIGTERM'));
  };
  signals.on('SIGINT', sigint);
  signals.on('SIGTERM', sigterm);
  try {
    logger.info(`Running ts-vmm ${deps.version} (Firecracker API v${FIRECRACKER_API_VERSION})`, 'main');
    if (f.metricsPath) {
      const r = await instance.handle('PUT', '/metrics', JSON.stringify({ metrics_path: f.metricsPath }));
      if (r.status !== 204)
        throw VmmError.config('--metrics-path', (r.body as { fault_message: string }).fault_message);
    }
    if (!f.noApi) {
      server = await ApiServer.listen(f.apiSock, instance, { maxPayloadBytes: f.maxPayloadBytes });
      logger.info(`API server listening on ${f.apiSock}`, 'api_server');
    }
    if (f.configFile) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(f.configFile, 'utf8'));
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        throw VmmError.config('--config-file', `cannot read ${JSON.stringify(f.configFile)}: ${why}`);
      }
      instance.configure(json);
      try {
        await instance.startInstance();
      } catch (e) {
        logger.error((e as Error).message, 'main');
        io.err(`ts-vmm firecracker: ${(e as Error).message}`);
        return EXIT_CODES.error;
      }
    }
    const result = await Promise.race([instance.exited, signalled]);
    const detail = result.detail ? `: ${result.detail}` : '';
    io.err(`ts-vmm firecracker: guest stopped (${result.reason}${detail}); exit code ${result.exitCode}`);
    return result.exitCode;
  } finally {
    signals.removeListener('SIGINT', sigint);
    signals.removeListener('SIGTERM', sigterm);
    await server?.close();
    instance.close();
  }
}
