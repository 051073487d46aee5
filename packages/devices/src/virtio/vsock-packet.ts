/** Size of `struct virtio_vsock_hdr`. */
export const VSOCK_HDR_SIZE = 44;
/** The host's CID. */
export const VSOCK_HOST_CID = 2;
/** Socket type: stream. */
export const VSOCK_TYPE_STREAM = 1;
/** Largest payload accepted in one packet from the guest (Linux sends at most 64 KiB). */
export const VSOCK_MAX_PAYLOAD = 64 * 1024;

/** virtio-vsock operations. */
export const VSOCK_OP = {
  INVALID: 0,
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;

/** SHUTDOWN flags. */
export const VSOCK_SHUTDOWN = { RCV: 1, SEND: 2 } as const;

/** A decoded virtio-vsock packet header. */
export interface VsockHeader {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

/**
 * Decodes a header from 44 bytes.
 * @example decodeVsockHeader(bytes).op === VSOCK_OP.REQUEST
 */
export function decodeVsockHeader(b: Uint8Array): VsockHeader {
  const v = new DataView(b.buffer, b.byteOffset, VSOCK_HDR_SIZE);
  return {
    srcCid: v.getBigUint64(0, true),
    dstCid: v.getBigUint64(8, true),
    srcPort: v.getUint32(16, true),
    dstPort: v.getUint32(20, true),
    len: v.getUint32(24, true),
    type: v.getUint16(28, true),
    op: v.getUint16(30, true),
    flags: v.getUint32(32, true),
    bufAlloc: v.getUint32(36, true),
    fwdCnt: v.getUint32(40, true),
  };
}

/**
 * Encodes a header into 44 bytes.
 * @example encodeVsockHeader({ ...h, op: VSOCK_OP.RST, len: 0 })
 */
export function encodeVsockHeader(h: VsockHeader, into = new Uint8Array(VSOCK_HDR_SIZE)): Uint8Array {
  const v = new DataView(into.buffer, into.byteOffset, VSOCK_HDR_SIZE);
  v.setBigUint64(0, BigInt.asUintN(64, h.srcCid), true);
  v.setBigUint64(8, BigInt.asUintN(64, h.dstCid), true);
  v.setUint32(16, h.srcPort >>> 0, true);
  v.setUint32(20, h.dstPort >>> 0, true);
  v.setUint32(24, h.len >>> 0, true);
  v.setUint16(28, h.type, true);
  v.setUint16(30, h.op, true);
  v.setUint32(32, h.flags >>> 0, true);
  v.setUint32(36, h.bufAlloc >>> 0, true);
  v.setUint32(40, h.fwdCnt >>> 0, true);
  return into;
}
