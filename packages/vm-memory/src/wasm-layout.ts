import { GuestMemoryError } from './errors.js';
import { type RegionSpec, validateRegionSpecs } from './region.js';

/** 64 KiB: the WebAssembly page size, the unit of `WebAssembly.Memory` sizes and of `grow()`. */
export const WASM_PAGE_SIZE = 0x1_0000;

/** The most pages a wasm32 `WebAssembly.Memory` can have: 65536 pages, 4 GiB. */
export const MAX_WASM_PAGES = 0x1_0000;

/** Room left by default above the regions of wasm guest memory for its user's own state: 16 MiB. */
export const DEFAULT_WASM_GROW_ROOM = 16 << 20;

/**
 * Where the regions of a {@link GuestMemory.createWasm} memory lie inside its `WebAssembly.Memory`.
 *
 * Page 0 (wasm bytes `[0, 0x10000)`) belongs to no region, so wasm address 0 is never guest RAM.
 * The regions follow back to back in guest-address order, each starting on a 64 KiB boundary.
 */
export interface WasmLayout {
  /** The regions sorted by guest address, each with its byte offset inside the memory. */
  readonly regions: readonly { start: number; size: number; wasmOffset: number }[];
  /** Pages the memory starts with: enough to cover the last region's end. */
  readonly initialPages: number;
  /** Pages it may grow to: `initialPages` plus the grow room rounded up to whole pages. */
  readonly maximumPages: number;
  /** True when `maximumPages` is within the wasm32 limit ({@link MAX_WASM_PAGES}). */
  readonly fits: boolean;
}

/**
 * Plans the layout {@link GuestMemory.createWasm} would use for `specs` with `growRoom` spare bytes,
 * without allocating anything: check `fits` to know whether it can be created.
 * Throws {@link GuestMemoryError} for bad specs (as {@link validateRegionSpecs}) or a bad `growRoom`.
 *
 * @example
 * ```ts
 * const plan = wasmLayout([{ start: 0, size: 0x10_0000 }, { start: 0x1_0000_0000, size: 0x1000 }]);
 * plan.regions.map((r) => r.wasmOffset); // [0x1_0000, 0x11_0000]
 * plan.initialPages; // 0x12
 * plan.maximumPages; // 0x12 + 0x100 (16 MiB grow room)
 * ```
 */
export function wasmLayout(
  specs: readonly RegionSpec[],
  growRoom: number = DEFAULT_WASM_GROW_ROOM,
): WasmLayout {
  const sorted = validateRegionSpecs(specs);
  if (!Number.isSafeInteger(growRoom) || growRoom < 0) {
    throw new GuestMemoryError('backing', `growRoom ${growRoom} is not a non-negative whole number of bytes`);
  }
  let offset = WASM_PAGE_SIZE;
  const regions = sorted.map((s) => {
    const r = { start: s.start, size: s.size, wasmOffset: offset };
    offset = Math.ceil((offset + s.size) / WASM_PAGE_SIZE) * WASM_PAGE_SIZE;
    return r;
  });
  const initialPages = offset / WASM_PAGE_SIZE;
  const maximumPages = initialPages + Math.ceil(growRoom / WASM_PAGE_SIZE);
  return { regions, initialPages, maximumPages, fits: maximumPages <= MAX_WASM_PAGES };
}
