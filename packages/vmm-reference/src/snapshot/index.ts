/**
 * Snapshots: the versioned state file (`format.ts`). Pause, resume, snapshot and restore of a
 * `Vmm` build on it and on `@ts-vmm/hypervisor`'s `captureVcpuState` / `restoreVmState`.
 *
 * @module
 */

export { quiesceDevices, restoreDevices, saveDevices } from './devices.js';
export {
  crc32,
  decodeSnapshotState,
  encodeSnapshotState,
  type MemoryFileDescription,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_HEADER_SIZE,
  SNAPSHOT_MAGIC,
  type SnapshotState,
  type StateValue,
} from './format.js';
export {
  changedPages,
  checkMemoryFile,
  guestMemoryBytes,
  readMemoryFile,
  SNAPSHOT_PAGE_SIZE,
  writeMemoryFile,
} from './memory-file.js';
export {
  changedDisks,
  type DiskRecord,
  diskRecords,
  inspectSnapshot,
  type LoadedSnapshot,
  MEMORY_FILE,
  readSnapshotDir,
  STATE_FILE,
  type VmmRecord,
  writeSnapshotDir,
} from './snapshot-dir.js';
