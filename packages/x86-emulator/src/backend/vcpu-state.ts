/**
 * An emulated CPU's state in KVM's shapes beyond registers and FPU, for snapshots:
 * `kvm_vcpu_events` (the queued interrupt, the STI / MOV SS interrupt shadow, NMI pending and
 * masked), `kvm_debugregs`, and the XSAVE area (x87 and SSE: the emulator has no AVX). Exceptions
 * are delivered within the instruction that raises them, so between two `run()` calls none is
 * pending or being injected; a state from KVM that has one (or SMM, or a pending triple fault) is
 * refused with an error naming it.
 *
 * @module
 */
import {
  type DebugRegs,
  fpuFromXsave,
  type VcpuEvents,
  XSAVE_HEADER_OFFSET,
  XSAVE_MIN_SIZE,
  xsaveFromFpu,
  xstateBv,
} from '@ts-vmm/hypervisor';
import type { Cpu } from '../cpu.js';
import { X86EmulatorError } from '../errors.js';

/** KVM_VCPUEVENT_VALID_* bits. */
const VALID_NMI_PENDING = 1;
const VALID_SHADOW = 4;
const VALID_SMM = 8;
const VALID_TRIPLE_FAULT = 32;
/** KVM_X86_SHADOW_INT_MOV_SS / _STI. */
const SHADOW_MOV_SS = 1;
const SHADOW_STI = 2;

/**
 * The CPU's events. `lapicNmi`: an NMI the LAPIC accepted that the CPU has not yet taken (it
 * counts as pending, as in KVM, where the LAPIC hands it over at once).
 * @example exportVcpuEvents(emulatedVcpu.cpu, false).interrupt.shadow
 */
export function exportVcpuEvents(cpu: Cpu, lapicNmi: boolean): VcpuEvents {
  const irq = cpu.pendingIrq;
  return {
    exception: { injected: 0, nr: 0, has_error_code: 0, pending: 0, error_code: 0 },
    interrupt: {
      injected: irq >= 0 ? 1 : 0,
      nr: Math.max(irq, 0),
      soft: 0,
      shadow: cpu.shadow ? (cpu.ssShadow ? SHADOW_MOV_SS : SHADOW_STI) : 0,
    },
    nmi: { injected: 0, pending: cpu.pendingNmi || lapicNmi ? 1 : 0, masked: cpu.nmiBlocked ? 1 : 0 },
    sipi_vector: 0,
    flags: VALID_NMI_PENDING | VALID_SHADOW,
    smi: { smm: 0, pending: 0, smm_inside_nmi: 0, latched_init: 0 },
    triple_fault: { pending: 0 },
    exception_has_payload: 0,
    exception_payload: 0n,
  };
}

/**
 * Loads events (from {@link exportVcpuEvents} or KVM) into the CPU: the queued interrupt, and the
 * shadow and NMI state where `flags` marks them valid. Refuses what the emulator cannot hold.
 * @example importVcpuEvents(emulatedVcpu.cpu, savedState.events);
 */
export function importVcpuEvents(cpu: Cpu, e: VcpuEvents): void {
  const op = 'EmulatedVcpu.setVcpuEvents';
  if (e.exception.injected || e.exception.pending)
    throw new X86EmulatorError(
      'unsupported',
      op,
      `an exception (vector ${e.exception.nr}) pending or being injected: the emulator delivers exceptions within the instruction raising them`,
    );
  if (e.interrupt.injected && e.interrupt.soft)
    throw new X86EmulatorError(
      'unsupported',
      op,
      `a software interrupt (INT ${e.interrupt.nr}) being injected`,
    );
  if (e.flags & VALID_SMM && (e.smi.smm || e.smi.pending))
    throw new X86EmulatorError('unsupported', op, 'System Management Mode (the emulator has no SMM)');
  if (e.flags & VALID_TRIPLE_FAULT && e.triple_fault.pending)
    throw new X86EmulatorError('unsupported', op, 'a pending triple fault');
  cpu.pendingIrq = e.interrupt.injected ? e.interrupt.nr & 0xff : -1;
  if (cpu.pendingIrq >= 0) cpu.irqPoll = true;
  if (e.flags & VALID_SHADOW) {
    cpu.shadow = e.interrupt.shadow !== 0;
    cpu.ssShadow = (e.interrupt.shadow & SHADOW_MOV_SS) !== 0;
  }
  // an NMI being injected is delivered as a pending one
  if (e.flags & VALID_NMI_PENDING || e.nmi.injected)
    cpu.pendingNmi = e.nmi.pending !== 0 || e.nmi.injected !== 0;
  cpu.nmiBlocked = e.nmi.masked !== 0;
}

const u64 = (v: number): bigint => BigInt.asUintN(64, BigInt(Math.trunc(v)));

/**
 * DR0-DR3, DR6 and DR7 with their fixed bits set (DR6 0xffff0ff0, DR7 0x400), as MOV from them reads.
 * @example exportDebugRegs(emulatedVcpu.cpu).dr7
 */
export function exportDebugRegs(cpu: Cpu): DebugRegs {
  const d = cpu.dr;
  return {
    db: [u64(d[0]), u64(d[1]), u64(d[2]), u64(d[3])],
    dr6: u64(d[6]) | 0xffff0ff0n,
    dr7: u64(d[7]) | 0x400n,
    flags: 0n,
  };
}

/**
 * Loads the debug registers and arms the breakpoints DR7 enables. Refuses DR6/DR7 with bits 63:32 set.
 * @example importDebugRegs(emulatedVcpu.cpu, savedState.debugRegs);
 */
export function importDebugRegs(cpu: Cpu, r: DebugRegs): void {
  const op = 'EmulatedVcpu.setDebugRegs';
  if (r.db.length !== 4)
    throw new X86EmulatorError(
      'invalid-argument',
      op,
      `${r.db.length} breakpoint addresses, expected 4 (DR0-DR3)`,
    );
  if (r.dr6 >> 32n !== 0n || r.dr7 >> 32n !== 0n)
    throw new X86EmulatorError('invalid-argument', op, 'DR6/DR7 bits 63:32 are reserved');
  for (let n = 0; n < 4; n++) cpu.dr[n] = Number(BigInt.asUintN(64, r.db[n]));
  cpu.dr[6] = Number(r.dr6);
  cpu.dr[7] = Number(r.dr7);
  cpu.setDebugControl();
}

/**
 * The CPU's x87 and SSE state as a 576-byte XSAVE area (XSTATE_BV = x87 | SSE).
 * @example exportXsave(emulatedVcpu.cpu).length // 576
 */
export function exportXsave(cpu: Cpu): Uint8Array {
  return xsaveFromFpu(cpu.getFpu(), XSAVE_MIN_SIZE);
}

/**
 * Loads the x87 and SSE state of an XSAVE area (the emulator's or KVM's). Refuses the compacted
 * format, and components beyond SSE (AVX and later) unless they hold only zeros (their initial state).
 * @example importXsave(emulatedVcpu.cpu, savedState.xsave);
 */
export function importXsave(cpu: Cpu, area: Uint8Array): void {
  const op = 'EmulatedVcpu.setXsave';
  if (area.length < XSAVE_MIN_SIZE)
    throw new X86EmulatorError(
      'invalid-argument',
      op,
      `XSAVE area of ${area.length} bytes is shorter than ${XSAVE_MIN_SIZE}`,
    );
  const dv = new DataView(area.buffer, area.byteOffset, area.byteLength);
  if (dv.getBigUint64(XSAVE_HEADER_OFFSET + 8, true) >> 63n)
    throw new X86EmulatorError('unsupported', op, 'a compacted XSAVE area (XCOMP_BV bit 63)');
  const extra = xstateBv(area) & ~3n;
  if (extra !== 0n && area.subarray(XSAVE_MIN_SIZE).some((x) => x !== 0))
    throw new X86EmulatorError(
      'unsupported',
      op,
      `XSAVE components 0x${extra.toString(16)} (XSTATE_BV) hold state the emulator has no registers for (AVX and later)`,
    );
  cpu.setFpu(fpuFromXsave(area));
}
