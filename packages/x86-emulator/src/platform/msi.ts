/**
 * Message-signalled interrupts: decoding the x86 MSI address/data pair into an APIC bus message.
 *
 * Address (Intel SDM 11.11.1): bits 31-20 = 0xFEE, 19-12 destination ID, 11-5 extended
 * destination ID (only with `extendedDestinationId`, KVM_FEATURE_MSI_EXT_DEST_ID), 3 redirection
 * hint, 2 destination mode (1 = logical). Data: bits 7-0 vector, 10-8 delivery mode, 14 level,
 * 15 trigger mode (1 = level).
 *
 * @module
 */
import { X86EmulatorError } from '../errors.js';
import type { ApicMessage } from './apic-bus.js';
import { DeliveryMode } from './apic-constants.js';

/** Options for {@link decodeMsi}. */
export interface MsiDecodeOptions {
  /** Take address bits 11-5 as destination ID bits 14-8 (default false). */
  extendedDestinationId?: boolean;
}

/**
 * Decodes an MSI into an {@link ApicMessage} (with the redirection hint folded in: RH=1 makes
 * fixed delivery lowest-priority, as KVM does). Throws an {@link X86EmulatorError} (`invalid-argument`) when the address is not in
 * the 0xFEExxxxx window or the delivery mode is reserved.
 *
 * @example
 * ```ts
 * const m = decodeMsi(0xfee01000n, 0x4031); // to APIC 1, vector 0x31, fixed, edge
 * m.destination; // 1
 * ```
 */
export function decodeMsi(
  address: bigint | number,
  data: number,
  options: MsiDecodeOptions = {},
): ApicMessage {
  if (typeof address === 'number' && (!Number.isSafeInteger(address) || address < 0)) {
    throw new X86EmulatorError(
      'invalid-argument',
      'decodeMsi',
      `MSI address ${address} is not a non-negative integer`,
    );
  }
  const a = typeof address === 'bigint' ? address : BigInt(address);
  if (a >> 20n !== 0xfeen) {
    throw new X86EmulatorError(
      'invalid-argument',
      'decodeMsi',
      `MSI address 0x${a.toString(16)} is outside the 0xfee00000 interrupt window`,
    );
  }
  if (!Number.isInteger(data) || data < 0 || data > 0xffff_ffff) {
    throw new X86EmulatorError('invalid-argument', 'decodeMsi', `MSI data ${data} is not a 32-bit value`);
  }
  const lo = Number(a & 0xfffffn);
  let deliveryMode = (data >>> 8) & 7;
  if (deliveryMode === 3 || deliveryMode === 6) {
    throw new X86EmulatorError(
      'invalid-argument',
      'decodeMsi',
      `MSI data 0x${data.toString(16)} has reserved delivery mode ${deliveryMode}`,
    );
  }
  let destination = (lo >>> 12) & 0xff;
  if (options.extendedDestinationId) destination |= ((lo >>> 5) & 0x7f) << 8;
  const redirectionHint = (lo & 0x8) !== 0;
  if (redirectionHint && deliveryMode === DeliveryMode.FIXED) deliveryMode = DeliveryMode.LOWEST_PRIORITY;
  return {
    destination,
    logical: (lo & 0x4) !== 0,
    deliveryMode,
    vector: data & 0xff,
    levelTriggered: (data & 0x8000) !== 0,
    assert: (data & 0x4000) !== 0 || (data & 0x8000) === 0,
    shorthand: 0,
    wideDestination: destination > 0xff,
  };
}

/**
 * Encodes an MSI address/data pair (the inverse of {@link decodeMsi} for 8-bit destinations).
 *
 * @example
 * ```ts
 * const { address, data } = encodeMsi({ destination: 1, vector: 0x31 });
 * ```
 */
export function encodeMsi(fields: {
  destination: number;
  vector: number;
  logical?: boolean;
  deliveryMode?: number;
  levelTriggered?: boolean;
}): { address: bigint; data: number } {
  if (fields.destination < 0 || fields.destination > 0xff) {
    throw new X86EmulatorError(
      'invalid-argument',
      'encodeMsi',
      `MSI destination ${fields.destination} does not fit in 8 bits`,
    );
  }
  const address = 0xfee0_0000n | (BigInt(fields.destination) << 12n) | (fields.logical ? 0x4n : 0n);
  const data =
    (fields.vector & 0xff) |
    ((fields.deliveryMode ?? DeliveryMode.FIXED) << 8) |
    (fields.levelTriggered ? 0xc000 : 0x4000);
  return { address, data };
}
