/**
 * kvm-clock (pvclock) records derived from the {@link VirtualClock}: with them a guest reads time
 * from the TSC without calibrating anything. The CPU/MSR side writes the encoded records into
 * guest memory at the addresses the guest gives in MSR_KVM_SYSTEM_TIME_NEW (0x4b564d01, per vCPU)
 * and MSR_KVM_WALL_CLOCK_NEW (0x4b564d00); see the Linux kernel's `Documentation/virt/kvm/x86/msr.rst`.
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';
import type { VirtualClock } from './virtual-clock.js';

/** kvm-clock MSRs. */
export const PvclockMsr = {
  WALL_CLOCK_NEW: 0x4b56_4d00,
  SYSTEM_TIME_NEW: 0x4b56_4d01,
} as const;

/** `flags` bit: the TSC is stable across vCPUs (it is: every vCPU reads the same clock). */
export const PVCLOCK_TSC_STABLE_BIT = 1;
/** Size of `struct pvclock_vcpu_time_info`. */
export const PVCLOCK_TIME_INFO_SIZE = 32;
/** Size of `struct pvclock_wall_clock`. */
export const PVCLOCK_WALL_CLOCK_SIZE = 12;

/** Fields of `struct pvclock_vcpu_time_info`. */
export interface PvclockTimeInfo {
  /** Even when the record is stable (the writer makes it odd while updating). */
  version: number;
  tscTimestamp: bigint;
  systemTime: bigint;
  tscToSystemMul: number;
  tscShift: number;
  flags: number;
}

/**
 * The scale that turns TSC ticks into ns, as KVM's `kvm_get_time_scale(NSEC_PER_SEC, tscHz)`:
 * `ns = ((delta << shift) or (delta >> -shift)) * mul >> 32`.
 *
 * @example pvclockScale(2_000_000_000) // { mul: 0x80000000, shift: 0 }
 */
export function pvclockScale(tscHz: number): { mul: number; shift: number } {
  if (!Number.isSafeInteger(tscHz) || tscHz <= 0)
    throw new X86EmulatorError(
      'invalid-argument',
      'pvclockScale',
      `TSC frequency ${tscHz} is not a positive integer`,
    );
  const HIGH = 0xffff_ffff_0000_0000n;
  let shift = 0;
  let tps64 = BigInt(tscHz);
  let scaled64 = 1_000_000_000n;
  while (tps64 > scaled64 * 2n || tps64 & HIGH) {
    tps64 >>= 1n;
    shift--;
  }
  let tps32 = tps64 & 0xffff_ffffn;
  while (tps32 <= scaled64 || scaled64 & HIGH) {
    if (scaled64 & HIGH || tps32 & 0x8000_0000n) scaled64 >>= 1n;
    else tps32 <<= 1n;
    shift++;
  }
  return { mul: Number((scaled64 << 32n) / tps32), shift };
}

/**
 * The guest's view of time from a pvclock record at TSC value `tsc` (the guest's
 * `pvclock_clocksource_read`), for tests and for checking a record.
 */
export function pvclockRead(info: PvclockTimeInfo, tsc: bigint): bigint {
  let delta = tsc - info.tscTimestamp;
  if (info.tscShift < 0) delta >>= BigInt(-info.tscShift);
  else delta <<= BigInt(info.tscShift);
  return info.systemTime + ((delta * BigInt(info.tscToSystemMul)) >> 32n);
}

/**
 * A record for the current moment: guest ns since the machine started (`clock.now()`) at the guest
 * TSC `clock.tsc() + tscOffset`. Reuse it for as long as the clock's TSC rate holds (always).
 *
 * @example
 * ```ts
 * const info = pvclockTimeInfo(clock, cpu.tscOffset, 2);
 * guestMemory.writeBytes(address, encodePvclockTimeInfo(info));
 * ```
 */
export function pvclockTimeInfo(clock: VirtualClock, tscOffset: number, version: number): PvclockTimeInfo {
  const { mul, shift } = pvclockScale(clock.tscHz);
  const now = clock.now();
  return {
    version: version >>> 0,
    tscTimestamp: BigInt(clock.tscAt(now) + tscOffset),
    systemTime: BigInt(Math.floor(now)),
    tscToSystemMul: mul,
    tscShift: shift,
    flags: PVCLOCK_TSC_STABLE_BIT,
  };
}

/** Encodes `struct pvclock_vcpu_time_info` (32 bytes, little-endian). */
export function encodePvclockTimeInfo(info: PvclockTimeInfo): Uint8Array {
  const bytes = new Uint8Array(PVCLOCK_TIME_INFO_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, info.version >>> 0, true);
  v.setBigUint64(8, BigInt.asUintN(64, info.tscTimestamp), true);
  v.setBigUint64(16, BigInt.asUintN(64, info.systemTime), true);
  v.setUint32(24, info.tscToSystemMul >>> 0, true);
  v.setInt8(28, info.tscShift);
  v.setUint8(29, info.flags);
  return bytes;
}

/**
 * Encodes `struct pvclock_wall_clock` (12 bytes): the wall-clock time (ns since the Unix epoch, a
 * bigint because it exceeds 2^53) at which guest time 0 (machine start) happened.
 *
 * @example encodePvclockWallClock(2, BigInt(Date.now()) * 1_000_000n - BigInt(Math.floor(clock.now())))
 */
export function encodePvclockWallClock(version: number, bootEpochNs: bigint): Uint8Array {
  if (bootEpochNs < 0n || bootEpochNs >= (1n << 32n) * 1_000_000_000n) {
    throw new X86EmulatorError(
      'invalid-argument',
      'encodePvclockWallClock',
      `boot time ${bootEpochNs} ns is outside the 32-bit seconds range`,
    );
  }
  const bytes = new Uint8Array(PVCLOCK_WALL_CLOCK_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, version >>> 0, true);
  v.setUint32(4, Number(bootEpochNs / 1_000_000_000n), true);
  v.setUint32(8, Number(bootEpochNs % 1_000_000_000n), true);
  return bytes;
}
