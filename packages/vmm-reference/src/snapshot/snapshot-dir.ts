/**
 * A snapshot directory: `state` (the {@link encodeSnapshotState} file) and `memory` (the sparse
 * memory file). Writing goes through temporary names renamed into place, so a snapshot that fails
 * half way leaves the previous one (or none), never a mix; reading checks everything before a
 * VM is built.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { VmmConfig } from '../config/types.js';
import { VmmError } from '../vmm/errors.js';
import { decodeSnapshotState, encodeSnapshotState, type SnapshotState, type StateValue } from './format.js';
import { checkMemoryFile } from './memory-file.js';

/** The state file's name in a snapshot directory. */
export const STATE_FILE = 'state';
/** The memory file's name in a snapshot directory. */
export const MEMORY_FILE = 'memory';

/** A disk as the snapshot saw it (disks are not copied). */
export interface DiskRecord {
  path: string;
  size: number;
  mtimeMs: number;
}

/** What the VMM itself keeps in a snapshot (`devices.vmm`). */
export interface VmmRecord {
  /** The configuration the VM was built from. */
  config: VmmConfig;
  /** The kernel command line the guest booted with. */
  cmdline: string | null;
  disks: DiskRecord[];
  /** When the snapshot was taken (ms since the epoch). */
  takenAt: number;
}

/**
 * Records each disk's path, size and modification time.
 * @example diskRecords(['/var/lib/disk.img']) // [{ path, size, mtimeMs }]
 */
export function diskRecords(paths: readonly string[]): DiskRecord[] {
  return paths.map((path) => {
    const st = statSync(path);
    return { path, size: st.size, mtimeMs: st.mtimeMs };
  });
}

/**
 * Lines describing each disk whose size or modification time differs from the record (or that is gone).
 * @example for (const w of changedDisks(record.disks)) log(w);
 */
export function changedDisks(disks: readonly DiskRecord[]): string[] {
  const out: string[] = [];
  for (const d of disks) {
    let st: { size: number; mtimeMs: number };
    try {
      st = statSync(d.path);
    } catch {
      out.push(`disk ${d.path} is gone since the snapshot`);
      continue;
    }
    if (st.size !== d.size)
      out.push(`disk ${d.path} changed size since the snapshot (${d.size} -> ${st.size} bytes)`);
    else if (st.mtimeMs !== d.mtimeMs)
      out.push(`disk ${d.path} was modified since the snapshot (the guest's cached view of it may be stale)`);
  }
  return out;
}

/**
 * Writes `state` into `dir` (creating it), after `writeMemory(tempPath)` has written the memory
 * file. Both go under temporary names first and are renamed into place.
 * @example writeSnapshotDir('/tmp/snap', state, (p) => writeMemoryFile(memory, p));
 */
export function writeSnapshotDir(
  dir: string,
  state: Omit<SnapshotState, 'memory'>,
  writeMemory: (path: string) => SnapshotState['memory'],
): SnapshotState {
  mkdirSync(dir, { recursive: true });
  const memTmp = join(dir, `.${MEMORY_FILE}.tmp`);
  const stateTmp = join(dir, `.${STATE_FILE}.tmp`);
  try {
    const memory = writeMemory(memTmp);
    const full: SnapshotState = { ...state, memory: { ...memory, file: MEMORY_FILE } };
    writeFileSync(stateTmp, encodeSnapshotState(full), { mode: 0o600 });
    renameSync(memTmp, join(dir, MEMORY_FILE));
    renameSync(stateTmp, join(dir, STATE_FILE));
    return full;
  } catch (e) {
    rmSync(memTmp, { force: true });
    rmSync(stateTmp, { force: true });
    throw e instanceof VmmError
      ? e
      : new VmmError('snapshot', `writing snapshot ${dir}: ${(e as Error).message}`, { cause: e });
  }
}

/** A snapshot read and checked: the state, the VMM's record and the memory file's path. */
export interface LoadedSnapshot {
  dir: string;
  state: SnapshotState;
  vmm: VmmRecord;
  memoryPath: string;
  /**
   * The memory files to load, oldest first: the full snapshot at the root of a chain of diff
   * snapshots, then each diff (just this one's for a full snapshot).
   */
  memoryChain: { path: string; desc: SnapshotState['memory'] }[];
}

function vmmRecord(state: SnapshotState): VmmRecord {
  const v = state.devices.vmm as Record<string, StateValue> | undefined;
  if (!v || typeof v !== 'object' || !v.config || typeof v.config !== 'object' || !Array.isArray(v.disks))
    throw new VmmError('snapshot', 'snapshot state: malformed field devices.vmm: no VM configuration');
  return v as unknown as VmmRecord;
}

/**
 * Reads and checks a snapshot directory: the state file (magic, version, checksum, fields), the
 * VMM's record, and the memory file's presence and size. Throws a `snapshot` VmmError naming the
 * problem.
 * @example const snap = readSnapshotDir('/tmp/snap');
 */
export function readSnapshotDir(dir: string): LoadedSnapshot {
  const statePath = join(dir, STATE_FILE);
  if (!existsSync(dir)) throw new VmmError('snapshot', `snapshot directory ${dir} does not exist`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(statePath);
  } catch (e) {
    throw new VmmError(
      'snapshot',
      `snapshot state file ${statePath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      { cause: e },
    );
  }
  const state = decodeSnapshotState(bytes);
  const vmm = vmmRecord(state);
  const memoryPath = join(dir, state.memory.file);
  checkMemoryFile(memoryPath, state.memory);
  const memoryChain = [{ path: memoryPath, desc: state.memory }];
  const seen = new Set([resolve(dir)]);
  for (let m = state.memory, at = dir; m.kind === 'diff'; ) {
    const parent = isAbsolute(m.parent!) ? m.parent! : join(at, m.parent!);
    if (seen.has(resolve(parent)))
      throw new VmmError('snapshot', `snapshot ${dir}: the chain of parents loops at ${parent}`);
    seen.add(resolve(parent));
    let p: SnapshotState;
    try {
      p = decodeSnapshotState(readFileSync(join(parent, STATE_FILE)));
    } catch (e) {
      throw new VmmError(
        'snapshot',
        `diff snapshot ${dir}: its parent ${parent}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { cause: e },
      );
    }
    if (p.memory.size !== state.memory.size)
      throw new VmmError('snapshot', `diff snapshot ${dir}: its parent ${parent} has another memory size`);
    const path = join(parent, p.memory.file);
    checkMemoryFile(path, p.memory);
    memoryChain.unshift({ path, desc: p.memory });
    m = p.memory;
    at = parent;
  }
  return { dir, state, vmm, memoryPath, memoryChain };
}

/**
 * A human-readable summary of a snapshot directory (`ts-vmm snapshot inspect`).
 * @example console.log(inspectSnapshot('/tmp/snap'));
 */
export function inspectSnapshot(dir: string): string {
  const { state, vmm, memoryPath } = readSnapshotDir(dir);
  const m = state.memory;
  const pages = m.pages.reduce((n, [, c]) => n + c, 0);
  const onDisk = (statSync(memoryPath) as { blocks?: number }).blocks;
  const lines = [
    `snapshot ${dir}`,
    `  taken: ${new Date(vmm.takenAt).toISOString()} on the ${state.backend} backend`,
    `  guest: ${vmm.config.kernel ?? '(raw image)'}${vmm.config.initrd ? ` + ${vmm.config.initrd}` : ''}`,
    `  cmdline: ${vmm.cmdline ?? '(none)'}`,
    `  vCPUs: ${state.vcpus.length} (${state.vcpus.map((v) => `#${v.id} rip 0x${v.regs.rip.toString(16)}`).join(', ')})`,
    `  memory: ${m.size / 0x10_0000} MiB, ${pages} pages touched (${((pages * m.pageSize) / 0x10_0000).toFixed(1)} MiB) in ${m.pages.length} runs${
      onDisk !== undefined ? `, ${((onDisk * 512) / 0x10_0000).toFixed(1)} MiB on disk` : ''
    }`,
    ...(m.kind === 'diff' ? [`  diff of: ${m.parent}`] : []),
    `  platform: ${state.vm.irqchip ? 'PIC, IOAPIC' : 'no irqchip'}${state.vm.pit ? ', PIT' : ''}, clock ${state.vm.clock.clock} ns`,
    `  devices: ${Object.keys((state.devices.machine as Record<string, unknown>) ?? {}).join(', ')}`,
  ];
  for (const d of vmm.disks)
    lines.push(`  disk: ${d.path} (${d.size} bytes, modified ${new Date(d.mtimeMs).toISOString()})`);
  return lines.join('\n');
}
