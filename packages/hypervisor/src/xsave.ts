/**
 * The standard-format XSAVE area ({@link Vcpu.getXsave}) and its x87/SSE part as an {@link Fpu}:
 * bytes 0-511 are the FXSAVE region (FCW, FSW, abridged FTW, FOP, FIP, FDP, MXCSR, MXCSR_MASK,
 * ST0-ST7, XMM0-XMM15), bytes 512-575 the XSAVE header (XSTATE_BV, XCOMP_BV = 0), and the extended
 * components (AVX's upper YMM halves, AVX-512, ...) follow at the offsets CPUID.0xD gives.
 *
 * @module
 */
import type { Fpu } from './state.js';

/** Size of the FXSAVE region plus the XSAVE header: the smallest XSAVE area. */
export const XSAVE_MIN_SIZE = 576;
/** Byte offset of XSTATE_BV in an XSAVE area. */
export const XSAVE_HEADER_OFFSET = 512;
/** XSTATE_BV bits: x87 (bit 0) and SSE (bit 1). */
export const XSTATE_X87 = 1n;
export const XSTATE_SSE = 2n;

const FCW_INIT = 0x37f;
const MXCSR_INIT = 0x1f80;

/**
 * An XSAVE area holding `fpu`'s x87 and SSE state (XSTATE_BV = x87 | SSE, nothing else), `size`
 * bytes long (at least {@link XSAVE_MIN_SIZE}).
 * @example vcpu.setXsave(xsaveFromFpu(vcpu.getFpu()));
 */
export function xsaveFromFpu(fpu: Fpu, size = XSAVE_MIN_SIZE): Uint8Array {
  const area = new Uint8Array(Math.max(size, XSAVE_MIN_SIZE));
  const dv = new DataView(area.buffer);
  dv.setUint16(0, fpu.fcw, true);
  dv.setUint16(2, fpu.fsw, true);
  area[4] = fpu.ftwx & 0xff;
  dv.setUint16(6, fpu.last_opcode, true);
  dv.setBigUint64(8, BigInt.asUintN(64, fpu.last_ip), true);
  dv.setBigUint64(16, BigInt.asUintN(64, fpu.last_dp), true);
  dv.setUint32(24, fpu.mxcsr >>> 0, true);
  dv.setUint32(28, 0xffff, true); // MXCSR_MASK: the bits MXCSR may hold
  area.set(fpu.fpr.subarray(0, 128), 32);
  area.set(fpu.xmm.subarray(0, 256), 160);
  dv.setBigUint64(XSAVE_HEADER_OFFSET, XSTATE_X87 | XSTATE_SSE, true);
  return area;
}

/**
 * The x87 and SSE state of an XSAVE area as an {@link Fpu}. A component XSTATE_BV marks absent
 * reads as its initial state (FCW 0x37f, empty stack; XMM all zero), as XRSTOR loads it. Throws a
 * `RangeError` for an area shorter than {@link XSAVE_MIN_SIZE}.
 * @example const fpu = fpuFromXsave(vcpu.getXsave());
 */
export function fpuFromXsave(area: Uint8Array): Fpu {
  if (area.length < XSAVE_MIN_SIZE)
    throw new RangeError(`XSAVE area of ${area.length} bytes is shorter than ${XSAVE_MIN_SIZE}`);
  const dv = new DataView(area.buffer, area.byteOffset, area.byteLength);
  const bv = xstateBv(area);
  const x87 = (bv & XSTATE_X87) !== 0n;
  const sse = (bv & XSTATE_SSE) !== 0n;
  return {
    fpr: x87 ? area.slice(32, 160) : new Uint8Array(128),
    fcw: x87 ? dv.getUint16(0, true) : FCW_INIT,
    fsw: x87 ? dv.getUint16(2, true) : 0,
    ftwx: x87 ? area[4] : 0,
    last_opcode: x87 ? dv.getUint16(6, true) : 0,
    last_ip: x87 ? dv.getBigUint64(8, true) : 0n,
    last_dp: x87 ? dv.getBigUint64(16, true) : 0n,
    xmm: sse ? area.slice(160, 416) : new Uint8Array(256),
    // MXCSR is saved with SSE or AVX state; with neither it is at its initial value
    mxcsr: (bv & 6n) !== 0n ? dv.getUint32(24, true) : MXCSR_INIT,
  };
}

/**
 * XSTATE_BV of an XSAVE area (0 for an area too short to have a header).
 * @example xstateBv(vcpu.getXsave()) & 4n // AVX state present
 */
export function xstateBv(area: Uint8Array): bigint {
  if (area.length < XSAVE_MIN_SIZE) return 0n;
  return new DataView(area.buffer, area.byteOffset, area.byteLength).getBigUint64(XSAVE_HEADER_OFFSET, true);
}
