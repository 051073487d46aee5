/**
 * Guest physical memory for ts-vmm: {@link GuestAddress}, {@link GuestRegion}, {@link GuestMemory}
 * over SharedArrayBuffer or memfd backings.
 *
 * @packageDocumentation
 */
export { GuestAddress, GuestAddressError, MAX_GUEST_ADDRESS } from './address.js';
export { GuestMemoryError, type GuestMemoryErrorKind } from './errors.js';
export { type Codec, GuestMemory, type GuestMemoryOptions, type SharedGuestMemory } from './guest-memory.js';
export {
  type BackingKind,
  type GuestRegion,
  PAGE_SIZE,
  type RegionSpec,
  validateRegionSpecs,
} from './region.js';
