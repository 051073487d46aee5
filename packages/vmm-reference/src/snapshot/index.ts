/**
 * Snapshots: the versioned state file (`format.ts`). Pause, resume, snapshot and restore of a
 * `Vmm` build on it and on `@ts-vmm/hypervisor`'s `captureVcpuState` / `restoreVmState`.
 *
 * @module
 */
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
