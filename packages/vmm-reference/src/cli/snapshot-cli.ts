/**
 * The snapshot commands of `ts-vmm`: `run ... --snapshot-dir DIR` (SIGUSR1 and Ctrl-A S write a
 * snapshot there while the guest runs on), `restore DIR [--backend B]` and `snapshot inspect DIR`.
 *
 * @module
 */
import type { BackendChoice, VmmConfig } from '../config/types.js';
import { parseBackend } from '../config/values.js';
import { inspectSnapshot } from '../snapshot/snapshot-dir.js';
import { VmmError } from '../vmm/errors.js';
import { EXIT_CODES, type RunResult } from '../vmm/exit-codes.js';
import { Vmm, type VmmOptions } from '../vmm/vmm.js';
import type { CliIo } from './main.js';

/** The `ts-vmm restore --help` text. */
export const RESTORE_HELP = `Usage: ts-vmm restore DIR [--backend auto|kvm|emulated] [--snapshot-dir DIR2]

Resumes the VM of the snapshot in DIR (written by 'ts-vmm run --snapshot-dir DIR', Ctrl-A S or
SIGUSR1) with the console on this terminal, on the backend it was taken on or --backend (the other
backend works where it offers the CPU features the guest was given). Its disks must be where they
were; a disk whose size or modification time changed is warned about. --snapshot-dir lets SIGUSR1
and Ctrl-A S snapshot the restored VM again.`;

/** The `ts-vmm snapshot --help` text. */
export const SNAPSHOT_HELP = `Usage: ts-vmm snapshot inspect DIR

Prints what the snapshot in DIR holds: when and on which backend it was taken, the guest and its
command line, the vCPUs, the memory (size, pages touched, space on disk), devices and disks.`;

/**
 * Takes `--snapshot-dir DIR` (or `--snapshot-dir=DIR`) out of run flags.
 * @example splitSnapshotDir(['--memory', '256', '--snapshot-dir', '/tmp/s']) // { argv: ['--memory', '256'], snapshotDir: '/tmp/s' }
 */
export function splitSnapshotDir(argv: readonly string[]): { argv: string[]; snapshotDir?: string } {
  const out: string[] = [];
  let snapshotDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--snapshot-dir') {
      snapshotDir = argv[++i];
      if (!snapshotDir) throw VmmError.config('--snapshot-dir', 'needs a directory');
    } else if (a.startsWith('--snapshot-dir=')) snapshotDir = a.slice('--snapshot-dir='.length);
    else out.push(a);
  }
  return { argv: out, snapshotDir };
}

/**
 * SIGUSR1 writes a snapshot of `vmm` into `dir` while `vmm.run()` is in progress; returns the
 * function that removes the listener.
 * @example const off = snapshotOnSignal(vmm, '/tmp/s', log); await vmm.run(); off();
 */
export function snapshotOnSignal(vmm: Vmm, dir: string, log: (line: string) => void): () => void {
  const on = () => {
    vmm.snapshot({ dir }).then(
      (i) =>
        log(
          `SIGUSR1: snapshot written to ${dir}: ${i.pages} pages, guest paused ${i.pausedMs.toFixed(0)} ms`,
        ),
      (e: Error) => log(`SIGUSR1: snapshot failed: ${e.message}`),
    );
  };
  process.on('SIGUSR1', on);
  return () => process.removeListener('SIGUSR1', on);
}

/**
 * Runs `vmm` with SIGUSR1 snapshots into `snapshotDir` (when given).
 * @example await runWithSnapshots(vmm, '/tmp/s', log)
 */
export async function runWithSnapshots(
  vmm: Vmm,
  snapshotDir: string | undefined,
  log: (line: string) => void,
): Promise<RunResult> {
  const off = snapshotDir ? snapshotOnSignal(vmm, snapshotDir, log) : () => {};
  try {
    return await vmm.run();
  } finally {
    off();
  }
}

/** The default `runVm` with snapshots into `snapshotDir`. */
export async function runVmWithSnapshots(
  config: VmmConfig,
  io: CliIo,
  snapshotDir: string,
): Promise<RunResult> {
  const log = (l: string) => io.err(`ts-vmm: ${l}`);
  const options: VmmOptions = { log, snapshotDir };
  const vmm = await Vmm.create(config, options);
  log(`snapshots: SIGUSR1 (kill -USR1 ${process.pid}) or Ctrl-A S write one to ${snapshotDir}`);
  return runWithSnapshots(vmm, snapshotDir, log);
}

/** The default `restoreVm`. */
export async function restoreVm(
  dir: string,
  backend: BackendChoice | undefined,
  io: CliIo,
  snapshotDir?: string,
): Promise<RunResult> {
  const log = (l: string) => io.err(`ts-vmm: ${l}`);
  const vmm = await Vmm.restore(dir, { backend, options: { log, snapshotDir } });
  return runWithSnapshots(vmm, snapshotDir, log);
}

/** `ts-vmm restore DIR [--backend B]`: resolves to the exit code (the run's, or a usage error). */
export async function restoreCommand(
  argv: readonly string[],
  io: CliIo,
  run: (
    dir: string,
    backend: BackendChoice | undefined,
    io: CliIo,
    snapshotDir?: string,
  ) => Promise<RunResult> = restoreVm,
): Promise<number> {
  let dir: string | undefined;
  let backend: BackendChoice | undefined;
  let snapshotDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      io.out(RESTORE_HELP);
      return 0;
    }
    if (a === '--backend') backend = parseBackend(argv[++i]);
    else if (a.startsWith('--backend=')) backend = parseBackend(a.slice(10));
    else if (a === '--snapshot-dir') snapshotDir = argv[++i];
    else if (a.startsWith('--snapshot-dir=')) snapshotDir = a.slice(15);
    else if (!a.startsWith('-') && dir === undefined) dir = a;
    else throw VmmError.config(a.startsWith('-') ? a : 'restore', `unknown argument ${JSON.stringify(a)}`);
  }
  if (!dir) throw VmmError.config('restore', 'needs the snapshot directory: ts-vmm restore DIR');
  const result = await run(dir, backend, io, snapshotDir);
  io.err(
    `ts-vmm: guest stopped (${result.reason}${result.detail ? `: ${result.detail}` : ''}); exit code ${result.exitCode}`,
  );
  return result.exitCode;
}

/** `ts-vmm snapshot inspect DIR`. */
export async function snapshotCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const [sub, dir, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(SNAPSHOT_HELP);
    return 0;
  }
  if (sub !== 'inspect') {
    io.err(
      `ts-vmm: unknown snapshot command ${JSON.stringify(sub ?? '')}; expected inspect\n\n${SNAPSHOT_HELP}`,
    );
    return EXIT_CODES.usage;
  }
  if (!dir || rest.length) throw VmmError.config('snapshot inspect', 'takes one snapshot directory');
  io.out(inspectSnapshot(dir));
  return 0;
}
