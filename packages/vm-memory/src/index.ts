/**
 * Guest physical memory for ts-vmm: {@link GuestRegion}, {@link GuestMemory} (and the consumer-side
 * {@link GuestMemoryAccess} interface it implements) over SharedArrayBuffer (one per region, or one shared
 * `WebAssembly.Memory` for all of them) or memfd backings.
 *
 * @packageDocumentation
 */
export type { GuestMemoryAccess, GuestRegionView } from './access.js';
export { GuestMemoryError, type GuestMemoryErrorKind } from './errors.js';
export {
  type Codec,
  GuestMemory,
  type GuestMemoryOptions,
  type SharedGuestMemory,
  type WasmGuestMemoryOptions,
} from './guest-memory.js';
export {
  type BackingKind,
  type GuestRegion,
  PAGE_SIZE,
  type RegionSpec,
  validateRegionSpecs,
} from './region.js';
export {
  DEFAULT_WASM_GROW_ROOM,
  MAX_WASM_PAGES,
  WASM_PAGE_SIZE,
  type WasmLayout,
  wasmLayout,
} from './wasm-layout.js';
