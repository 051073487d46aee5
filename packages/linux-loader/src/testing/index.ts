/**
 * `@ts-vmm/linux-loader/testing`: fixtures for tests of a loader or a VMM, kept out of the root
 * entry. Synthetic kernel images (`makeBzImage`, `makeElf`, `multibootHeader`), byte helpers
 * (`concat`, `pseudoRandom`, `compressible`, `same`, `byteSum`) and two helpers that run
 * command-line tools (`have`, `lz4Legacy`), which make this entry Node-only.
 *
 * @example
 * ```ts
 * import { makeBzImage, pseudoRandom } from '@ts-vmm/linux-loader/testing';
 * import { loadBzImage } from '@ts-vmm/linux-loader';
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 *
 * const mem = GuestMemory.createShared([{ start: 0, size: 64 << 20 }]);
 * const k = loadBzImage(makeBzImage(pseudoRandom(0x1000)), mem); // k.entry === 0x1000200
 * ```
 *
 * @packageDocumentation
 */
export { byteSum } from '../checksum.js';
export { have, lz4Legacy } from './cli.js';
export {
  compressible,
  concat,
  makeBzImage,
  makeElf,
  multibootHeader,
  pseudoRandom,
  same,
  type TestSegment,
} from './images.js';
