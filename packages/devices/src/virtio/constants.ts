/** virtio device IDs (virtio 1.2 §5). */
export const VIRTIO_ID = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  RNG: 4,
  VSOCK: 19,
} as const;

/** Device status bits (virtio 1.2 §2.1). */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Reserved (transport/ring) feature bit numbers (virtio 1.2 §6). */
export const VIRTIO_F = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
} as const;

/** Turns a feature bit number into a mask. @example featureBit(VIRTIO_F.VERSION_1) === 1n << 32n */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

/** True when feature `bit` is in `features`. @example hasFeature(ctx.features, VIRTIO_F.RING_EVENT_IDX) */
export function hasFeature(features: bigint, bit: number): boolean {
  return (features & featureBit(bit)) !== 0n;
}

/** Descriptor flags (split ring). */
export const VIRTQ_DESC_F = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
/** Driver-area flag: "don't interrupt me". */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Device-area flag: "don't notify me". */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** virtio-mmio interrupt status bits. */
export const VIRTIO_MMIO_INT = { VRING: 1, CONFIG: 2 } as const;
