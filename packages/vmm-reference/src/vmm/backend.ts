/**
 * Loading a hypervisor backend by name, and the `auto` choice: KVM when it runs guest kernel (CPL0)
 * code at hardware speed, else the emulator. The probe times a `dec rcx; jnz` loop at CPL0 and at
 * CPL3 on a throwaway VM; nested software hypervisors such as PVM emulate CPL0 and show a ratio in
 * the thousands, real VT-x/SVM shows about 1.
 *
 * @module
 */
import type { BackendKind, Hypervisor } from '@ts-vmm/hypervisor';
import { bootRegs, bootSregs, writeGdt, writeIdentityPageTables } from '@ts-vmm/linux-loader';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { BackendChoice, ClockChoice } from '../config/types.js';
import { RAW_IMAGE_ADDR } from './address-map.js';
import { ENTRY_LAYOUT } from './boot-linux.js';
import { probeLoop } from './demo-guest.js';
import { VmmError } from './errors.js';
import { createGuestMemory } from './guest-memory.js';

type EmulatorModule = Record<string, unknown>;

/** How a backend is opened. */
export interface BackendOptions {
  /**
   * Guest time on the emulated backend (default `realtime`: the host's clock; `virtual`: counted
   * instructions, deterministic timing). KVM always runs on the host's clock and ignores it.
   */
  clock?: ClockChoice;
}

/**
 * Opens a backend in this thread.
 * @example const hv = await loadBackend('emulated', { clock: 'virtual' });
 */
export async function loadBackend(kind: BackendKind, options: BackendOptions = {}): Promise<Hypervisor> {
  if (kind === 'kvm') {
    let m: typeof import('@ts-vmm/kvm-ioctls');
    try {
      m = await import('@ts-vmm/kvm-ioctls');
    } catch (e) {
      throw new VmmError(
        'backend',
        `the KVM backend is not installed: @ts-vmm/kvm-ioctls, an optional dependency, could not be loaded (${(e as Error).message.split('\n')[0]}); it needs Linux and the @ts-vmm/kvm-sys native addon`,
      );
    }
    try {
      return await m.openKvm();
    } catch (e) {
      throw new VmmError('backend', `the KVM backend is not available: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  return openEmulator(options);
}

/**
 * The x86-emulator's Hypervisor, found by the names that package may export, with its clock mode
 * (`EmulatedBackendOptions.clockMode`) set from `options.clock`.
 */
async function openEmulator(options: BackendOptions): Promise<Hypervisor> {
  let m: EmulatorModule;
  try {
    m = (await import('@ts-vmm/x86-emulator' as string)) as EmulatorModule;
  } catch (e) {
    throw new VmmError('backend', `the emulated backend is not available: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const emulatorOptions = { clockMode: options.clock ?? 'realtime' };
  for (const name of ['openEmulator', 'openEmulatedHypervisor', 'createEmulatedHypervisor']) {
    const f = m[name];
    if (typeof f === 'function')
      return (await (f as (o: unknown) => Promise<Hypervisor> | Hypervisor)(emulatorOptions)) as Hypervisor;
  }
  for (const name of ['EmulatedHypervisor', 'EmulatorHypervisor']) {
    const C = m[name];
    if (typeof C === 'function') return new (C as new (o: unknown) => Hypervisor)(emulatorOptions);
  }
  throw new VmmError(
    'backend',
    'the emulated backend is not available yet: @ts-vmm/x86-emulator does not export an EmulatedHypervisor',
  );
}

/** Whether a backend can be opened here (and why not). */
export async function backendAvailable(kind: BackendKind): Promise<{ ok: boolean; why: string }> {
  try {
    const hv = await loadBackend(kind);
    (hv as { close?: () => void }).close?.();
    return { ok: true, why: `${kind} backend opened` };
  } catch (e) {
    return { ok: false, why: (e as Error).message };
  }
}

/** What the CPL0/CPL3 probe measured. */
export interface SpeedProbe {
  /** Nanoseconds per loop iteration at CPL0 (guest kernel mode). */
  cpl0NsPerIteration: number;
  /** Nanoseconds per loop iteration at CPL3 (guest user mode). */
  cpl3NsPerIteration: number;
  /** cpl0 / cpl3: about 1 on hardware virtualization. */
  ratio: number;
}

/** CPL0 code this many times slower than CPL3 code means "not hardware speed". */
export const SLOW_CPL0_RATIO = 20;

function timeRun(
  vcpu: import('@ts-vmm/hypervisor').Vcpu,
  cpl3: boolean,
  memory: GuestMemory,
  n: number,
): number {
  memory.writeBytes(RAW_IMAGE_ADDR, probeLoop(n));
  vcpu.setSregs(
    bootSregs(vcpu.getSregs(), { kind: 'raw64', entry: RAW_IMAGE_ADDR, stack: 0x8000, cpl3 }, ENTRY_LAYOUT),
  );
  vcpu.setRegs(bootRegs({ kind: 'raw64', entry: RAW_IMAGE_ADDR, stack: 0x8000, cpl3 }));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) {
    const exit = vcpu.run();
    if (exit.kind === 'io-out' && exit.port === 0x80) return Number(process.hrtime.bigint() - t0);
    if (exit.kind !== 'interrupted') {
      throw new VmmError(
        'backend',
        `speed probe (${cpl3 ? 'CPL3' : 'CPL0'}) stopped with a ${exit.kind} exit`,
      );
    }
  }
  throw new VmmError('backend', 'speed probe did not finish');
}

/**
 * Times CPL0 against CPL3 guest code on a small throwaway KVM VM.
 * @example const p = await probeCpl0Speed(await loadBackend('kvm')); p.ratio > SLOW_CPL0_RATIO
 */
export async function probeCpl0Speed(hv: Hypervisor): Promise<SpeedProbe> {
  const { memory, release } = await createGuestMemory('kvm', [{ start: 0, size: 2 << 20 }]);
  const vm = await hv.createVm({ memory });
  try {
    writeGdt(memory, ENTRY_LAYOUT);
    writeIdentityPageTables(memory, { ...ENTRY_LAYOUT, user: true });
    const vcpu = vm.createVcpu(0);
    try {
      const cpuid = hv.supportedCpuid();
      vcpu.setCpuid(cpuid);
      // Best of three of each: the host may be busy, and the fastest run is the least disturbed.
      const best = (cpl3: boolean, n: number) =>
        Math.min(
          timeRun(vcpu, cpl3, memory, n),
          timeRun(vcpu, cpl3, memory, n),
          timeRun(vcpu, cpl3, memory, n),
        );
      const base = best(false, 1);
      const n0 = 20_000;
      const n3 = 2_000_000;
      const t0 = best(false, n0);
      const t3 = best(true, n3);
      const cpl0 = Math.max(t0 - base, 1) / n0;
      const cpl3 = Math.max(t3 - base, 1) / n3;
      return { cpl0NsPerIteration: cpl0, cpl3NsPerIteration: cpl3, ratio: cpl0 / Math.max(cpl3, 0.05) };
    } finally {
      vcpu.close();
    }
  } finally {
    vm.close();
    release();
  }
}

/** The outcome of {@link chooseBackend}. */
export interface BackendSelection {
  hypervisor: Hypervisor;
  /** One line saying which backend and why. */
  reason: string;
  probe?: SpeedProbe;
}

/**
 * Resolves `auto|kvm|emulated` to an open backend (`options` reach the emulated backend).
 *
 * @example
 * ```ts
 * const { hypervisor, reason } = await chooseBackend('auto', { clock: 'realtime' });
 * console.error(reason); // "backend: emulated (KVM runs CPL0 code 4000x slower than CPL3: ...)"
 * ```
 */
export async function chooseBackend(
  choice: BackendChoice,
  options: BackendOptions = {},
): Promise<BackendSelection> {
  if (choice === 'kvm') {
    const hypervisor = await loadBackend('kvm');
    let probe: SpeedProbe | undefined;
    try {
      probe = await probeCpl0Speed(hypervisor);
    } catch {
      // The probe only tunes workarounds; a VM may still run.
    }
    const slow =
      probe && probe.ratio >= SLOW_CPL0_RATIO
        ? `; CPL0 code is emulated, ${Math.round(probe.ratio)}x slower than CPL3`
        : '';
    return { hypervisor, probe, reason: `backend: kvm (asked for${slow})` };
  }
  if (choice === 'emulated') {
    return { hypervisor: await loadBackend('emulated', options), reason: 'backend: emulated (asked for)' };
  }
  let kvm: Hypervisor | undefined;
  let kvmWhy = '';
  try {
    kvm = await loadBackend('kvm');
  } catch (e) {
    kvmWhy = (e as Error).message;
  }
  let probe: SpeedProbe | undefined;
  if (kvm) {
    try {
      probe = await probeCpl0Speed(kvm);
      if (probe.ratio < SLOW_CPL0_RATIO) {
        return {
          hypervisor: kvm,
          probe,
          reason: `backend: kvm (CPL0 code runs at hardware speed: ${fmt(probe.cpl0NsPerIteration)} vs ${fmt(probe.cpl3NsPerIteration)} ns/iteration at CPL3)`,
        };
      }
      kvmWhy = `KVM runs CPL0 code ${Math.round(probe.ratio)}x slower than CPL3 (${fmt(probe.cpl0NsPerIteration)} vs ${fmt(probe.cpl3NsPerIteration)} ns/iteration): a software nested hypervisor such as PVM`;
    } catch (e) {
      kvmWhy = `the KVM speed probe failed: ${(e as Error).message}`;
    }
  }
  try {
    const emu = await loadBackend('emulated', options);
    (kvm as { close?: () => void } | undefined)?.close?.();
    return { hypervisor: emu, probe, reason: `backend: emulated (${kvmWhy})` };
  } catch (e) {
    if (kvm) {
      return {
        hypervisor: kvm,
        probe,
        reason: `backend: kvm, although ${kvmWhy}, because ${(e as Error).message}`,
      };
    }
    throw new VmmError('backend', `no backend can run here: ${kvmWhy}; ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function fmt(ns: number): string {
  return ns < 10 ? ns.toFixed(2) : ns.toFixed(0);
}
