/**
 * The `ts-vmm` command: argument dispatch for `run`, `demo` and `guest`. The VM itself is reached
 * through {@link CliDeps} so the dispatch can be tested without a hypervisor.
 *
 * @module
 */
import { parseRunFlags } from '../config/flags.js';
import { loadConfigFile, resolveConfig } from '../config/resolve.js';
import type { BackendChoice, VmmConfig } from '../config/types.js';
import { parseBackend } from '../config/values.js';
import { runFirecrackerCli } from '../firecracker/cli.js';
import type { StartVm } from '../firecracker/instance.js';
import type { GuestManifest } from '../guest/cache.js';
import { VmmError } from '../vmm/errors.js';
import { EXIT_CODES, type RunResult } from '../vmm/exit-codes.js';
import { MAIN_HELP, RUN_HELP } from './help.js';
import { restoreCommand, runVmWithSnapshots, snapshotCommand, splitSnapshotDir } from './snapshot-cli.js';

/** Where the CLI writes. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** What the CLI drives; the defaults run real VMs. */
export interface CliDeps {
  runVm(config: VmmConfig, io: CliIo): Promise<RunResult>;
  runDemo(backend: BackendChoice, io: CliIo): Promise<RunResult>;
  buildGuest(options: { force: boolean; log: (line: string) => void }): Promise<GuestManifest>;
  cachedGuest(): GuestManifest | undefined;
  version: string;
  /** Starts the VMs of `ts-vmm firecracker` (default: Vmm with the process's stdin/stdout console). */
  startFirecrackerVm?: StartVm;
  /** `run --snapshot-dir DIR` (default: a Vmm whose SIGUSR1 and Ctrl-A S write snapshots to DIR). */
  runVmWithSnapshots?(config: VmmConfig, io: CliIo, snapshotDir: string): Promise<RunResult>;
  /** `ts-vmm restore DIR` (default: Vmm.restore with the process's console). */
  restoreVm?(
    dir: string,
    backend: BackendChoice | undefined,
    io: CliIo,
    snapshotDir?: string,
  ): Promise<RunResult>;
}

/**
 * Runs the CLI; resolves to the process exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(['run', '--kernel', 'bzImage', '--memory', '256'], deps, io);
 * ```
 */
export async function runCli(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  // `pnpm start -- args` may pass the `--` through.
  if (argv[0] === '--') argv = argv.slice(1);
  const [cmd, ...rest] = argv;
  try {
    // `ts-vmm` alone (the quick start's `pnpm start`) and `ts-vmm --kernel ...` mean `ts-vmm run ...`.
    if (cmd === undefined || (cmd.startsWith('--') && !['--help', '--version'].includes(cmd))) {
      return await runCommand(argv, deps, io);
    }
    switch (cmd) {
      case '--help':
      case '-h':
      case 'help':
        io.out(MAIN_HELP);
        return 0;
      case '--version':
      case '-V':
        io.out(deps.version);
        return 0;
      case 'run':
        return await runCommand(rest, deps, io);
      case 'demo':
        return await demoCommand(rest, deps, io);
      case 'guest':
        return await guestCommand(rest, deps, io);
      case 'restore':
        return await restoreCommand(rest, io, deps.restoreVm);
      case 'snapshot':
        return await snapshotCommand(rest, io);
      case 'firecracker':
        return await runFirecrackerCli(rest, io, { version: deps.version, startVm: deps.startFirecrackerVm });
      default:
        io.err(`ts-vmm: unknown command ${JSON.stringify(cmd)}\n\n${MAIN_HELP}`);
        return EXIT_CODES.usage;
    }
  } catch (e) {
    if (e instanceof VmmError && e.kind === 'config') {
      io.err(`ts-vmm: ${e.message}`);
      return EXIT_CODES.usage;
    }
    if (e instanceof VmmError && e.kind === 'guest-build') {
      io.err(`ts-vmm: default guest: ${e.message}`);
      return EXIT_CODES.error;
    }
    io.err(`ts-vmm: ${(e as Error).message ?? String(e)}`);
    return EXIT_CODES.error;
  }
}

async function runCommand(args: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  const { argv, snapshotDir } = splitSnapshotDir(args);
  const flags = parseRunFlags(argv);
  if (flags.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const file = flags.configFile ? loadConfigFile(flags.configFile) : undefined;
  const config = resolveConfig({ file, flags: flags.config });
  if (config.kernel === undefined) {
    let guest = deps.cachedGuest();
    if (!guest) {
      io.err('ts-vmm: no --kernel given; building the default guest first (ts-vmm guest fetch)');
      guest = await deps.buildGuest({ force: false, log: (l) => io.err(l) });
    }
    config.kernel = guest.kernel;
    config.initrd ??= guest.initrd;
  }
  const result = snapshotDir
    ? await (deps.runVmWithSnapshots ?? runVmWithSnapshots)(config, io, snapshotDir)
    : await deps.runVm(config, io);
  report(result, io);
  return result.exitCode;
}

function report(result: RunResult, io: CliIo): void {
  const detail = result.detail ? `: ${result.detail}` : '';
  io.err(`ts-vmm: guest stopped (${result.reason}${detail}); exit code ${result.exitCode}`);
}

async function demoCommand(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  let backend: BackendChoice = 'auto';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      io.out(
        'Usage: ts-vmm demo [--backend auto|kvm|emulated]\n\nBoots a tiny built-in 64-bit guest that prints a greeting on COM1 and powers off.',
      );
      return 0;
    }
    if (a === '--backend') backend = parseBackend(argv[++i]);
    else if (a.startsWith('--backend=')) backend = parseBackend(a.slice(10));
    else throw VmmError.config(a.startsWith('-') ? a : 'demo', `unknown argument ${JSON.stringify(a)}`);
  }
  const result = await deps.runDemo(backend, io);
  report(result, io);
  return result.exitCode;
}

async function guestCommand(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'fetch') {
    let force = false;
    for (const a of rest) {
      if (a === '--force') force = true;
      else
        throw VmmError.config(a.startsWith('-') ? a : 'guest fetch', `unknown argument ${JSON.stringify(a)}`);
    }
    const g = await deps.buildGuest({ force, log: (l) => io.err(l) });
    io.out(`kernel ${g.kernel}`);
    io.out(`initrd ${g.initrd}`);
    return 0;
  }
  if (sub === 'path') {
    const g = deps.cachedGuest();
    if (!g) {
      io.err('ts-vmm: the default guest is not built; run: ts-vmm guest fetch');
      return EXIT_CODES.error;
    }
    io.out(`kernel ${g.kernel}`);
    io.out(`initrd ${g.initrd}`);
    return 0;
  }
  io.err(`ts-vmm: unknown guest command ${JSON.stringify(sub ?? '')}; expected fetch or path`);
  return EXIT_CODES.usage;
}
