/**
 * The emulated backend's {@link Hypervisor}: VMs whose vCPUs are the pure-TypeScript {@link Cpu},
 * with KVM's in-kernel chips emulated in `src/platform`.
 *
 * @module
 */
import type {
  BackendCapabilities,
  CpuidEntry,
  Hypervisor,
  VcpuKicker,
  Vm,
  VmOptions,
} from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Cpu } from '../cpu.js';
import { VirtualClock } from '../platform/virtual-clock.js';
import { openEmulatedKicker } from './kicker.js';
import { type EmulatedBackendOptions, resolveOptions } from './options.js';
import { emulatedCpuid } from './supported-cpuid.js';
import { KvmClockMsr } from './vcpu.js';
import { EmulatedVm } from './vm.js';

/**
 * The pure-TypeScript backend. A VMM written against the neutral interfaces runs on it unchanged;
 * `capabilities.multiThreaded` is false, so the VMM runs every vCPU on one thread (the emulated VM's
 * vCPUs share one clock and irqchip and are scheduled round-robin by the VMM's calls to `run()`).
 *
 * @example
 * ```ts
 * import { GuestMemory } from '@ts-vmm/vm-memory';
 * import { EmulatedHypervisor } from '@ts-vmm/x86-emulator';
 * const hv = new EmulatedHypervisor();
 * const memory = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
 * const vm = await hv.createVm({ memory });
 * memory.writeBytes(0x1000, new Uint8Array([0xe6, 0x10, 0xf4])); // out 0x10, al; hlt
 * const vcpu = vm.createVcpu(0);
 * vcpu.setRegs({ ...vcpu.getRegs(), rip: 0x1000n });
 * const sregs = vcpu.getSregs();
 * vcpu.setSregs({ ...sregs, cs: { ...sregs.cs, base: 0n, selector: 0 } });
 * vcpu.run(); // { kind: 'io-out', port: 0x10, ... }
 * ```
 */
export class EmulatedHypervisor implements Hypervisor {
  readonly kind = 'emulated' as const;
  readonly capabilities: BackendCapabilities;
  /** The options every VM of this hypervisor uses. */
  readonly options: Required<EmulatedBackendOptions>;
  private cpuidCache: CpuidEntry[] | undefined;
  private msrCache: number[] | undefined;

  constructor(options: EmulatedBackendOptions = {}) {
    this.options = resolveOptions(options);
    this.capabilities = Object.freeze({
      irqchip: true,
      pit: true,
      interruptLines: true,
      ioEvents: true,
      multiThreaded: false,
      guestDebug: true,
      dirtyLog: true,
      maxVcpus: this.options.maxVcpus,
    });
  }

  /**
   * The CPUID leaves the emulated CPU and platform implement (see `supported-cpuid.ts`).
   * @example hv.supportedCpuid().find((e) => e.function === 0x40000000)
   */
  supportedCpuid(): CpuidEntry[] {
    this.cpuidCache ??= emulatedCpuid(new VirtualClock({ tscHz: this.options.tscHz }), {
      kvmclock: this.options.kvmclock,
    });
    return this.cpuidCache.map((e) => ({ ...e }));
  }

  /**
   * MSR indices a vCPU has (and `getMsrs`/`setMsrs` accept).
   * @example hv.supportedMsrs().includes(0xc0000080) // EFER
   */
  supportedMsrs(): number[] {
    if (!this.msrCache) {
      const cpu = new Cpu(GuestMemory.createShared([{ start: 0, size: 0x1000 }]));
      const set = new Set(cpu.msrs.indices());
      set.add(0x6e0);
      if (this.options.kvmclock) for (const m of Object.values(KvmClockMsr)) set.add(m);
      this.msrCache = [...set].sort((a, b) => a - b);
    }
    return [...this.msrCache];
  }

  /**
   * A new VM (memory may come now or through `setMemory`).
   * @example const vm = await hv.createVm({ memory });
   */
  async createVm(options: VmOptions = {}): Promise<Vm> {
    return new EmulatedVm(this, this.options, options);
  }

  /**
   * A kicker for a vCPU's `kicker()` description, in any thread.
   * @example hv.openKicker(vcpu.kicker()).kick()
   */
  openKicker(description: unknown): VcpuKicker {
    return openEmulatedKicker(description);
  }
}

/**
 * Opens the emulated backend (the name the reference VMM looks for).
 * @example const hv = openEmulator({ deterministic: true });
 */
export function openEmulator(options: EmulatedBackendOptions = {}): EmulatedHypervisor {
  return new EmulatedHypervisor(options);
}
