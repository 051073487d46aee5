/**
 * The emulated VM: guest memory, the machine clock, the emulated irqchip and PIT, I/O events, the
 * dirty log, and the scheduling state its vCPUs share (they all run on one thread).
 *
 * @module
 */
import type {
  ClockData,
  Hypervisor,
  InterruptLine,
  IoEvent,
  IoEventSpec,
  IrqchipState,
  Msi,
  PitState,
  Vcpu,
  Vm,
  VmOptions,
} from '@ts-vmm/hypervisor';
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { BlockCache } from '../block-cache.js';
import type { Cpu } from '../cpu.js';
import { X86EmulatorError } from '../errors.js';
import { EmulatedIrqchip } from '../platform/irqchip.js';
import { VirtualClock } from '../platform/virtual-clock.js';
import type { EmulatedBackendOptions } from './options.js';
import { exportIrqchip, exportPit, importIrqchip, importPit } from './platform-state.js';
import { EmulatedVcpu } from './vcpu.js';

/** A registered I/O event with its handler. */
interface IoEventEntry {
  spec: IoEventSpec;
  handler: (value: bigint) => void;
  closed: boolean;
}

/**
 * A VM on the emulated backend. All its vCPUs run on the thread that created it; the VMM calls
 * each vCPU's `run()` in turn (round-robin), and `run()` returns `interrupted` regularly so that
 * happens.
 *
 * @example
 * ```ts
 * const hv = new EmulatedHypervisor();
 * const memory = GuestMemory.createShared([{ start: 0, size: 64 << 20 }]);
 * const vm = await hv.createVm({ memory });
 * vm.createIrqchip();
 * vm.createPit();
 * const vcpu = vm.createVcpu(0);
 * ```
 */
export class EmulatedVm implements Vm {
  readonly hypervisor: Hypervisor;
  /** The machine clock: every timer of the VM and every vCPU's TSC run on it. */
  readonly clock: VirtualClock;
  /** The emulated LAPICs/IOAPIC/PIC/PIT, once {@link EmulatedVm.createIrqchip} was called. */
  irqchip: EmulatedIrqchip | undefined;
  /** Options the backend was created with. */
  readonly options: Required<EmulatedBackendOptions>;
  private memoryValue: GuestMemory | undefined;
  /** @internal vCPUs by id. */
  readonly vcpus = new Map<number, EmulatedVcpu>();
  private readonly ioEvents: IoEventEntry[] = [];
  /** @internal Whether any PIO / MMIO event is registered (fast check on exits). */
  pioEventCount = 0;
  mmioEventCount = 0;
  private readonly dirtyLogging: boolean;
  /** @internal One byte per guest-physical page written since the last {@link getDirtyLog}. */
  dirtyPages: Uint8Array | undefined;
  /** @internal Host time (performance.now(), ms) at creation: idle pacing keeps guest time behind it. */
  readonly hostStartMs = performance.now();
  private closed = false;
  /** The CPUs of the vCPUs, sharing {@link EmulatedVm.blocks}. */
  private readonly cpus: Cpu[] = [];
  /** One decode cache for every vCPU: a guest write on one vCPU drops the code all of them run. */
  private blocks: BlockCache | undefined;

  constructor(hypervisor: Hypervisor, options: Required<EmulatedBackendOptions>, vmOptions: VmOptions = {}) {
    this.hypervisor = hypervisor;
    this.options = options;
    this.clock = new VirtualClock({
      mode: options.clockMode,
      tscHz: options.tscHz,
      instructionsPerNs: options.instructionsPerNs,
    });
    this.dirtyLogging = vmOptions.dirtyLog ?? false;
    if (vmOptions.memory) this.setMemory(vmOptions.memory);
  }

  /** The memory given to {@link setMemory}. */
  get memory(): GuestMemory | undefined {
    return this.memoryValue;
  }

  /**
   * Gives the VM its guest memory (SharedArrayBuffer or memfd backed; the CPU reads the regions'
   * bytes directly). Call once, before creating vCPUs.
   * @example vm.setMemory(GuestMemory.createShared([{ start: 0, size: 1 << 20 }]))
   */
  setMemory(memory: GuestMemory): void {
    this.check('setMemory');
    if (this.memoryValue)
      throw new X86EmulatorError('invalid-state', 'EmulatedVm.setMemory', 'the VM already has its memory');
    if (this.vcpus.size > 0)
      throw new X86EmulatorError('invalid-state', 'EmulatedVm.setMemory', 'call it before creating vCPUs');
    this.memoryValue = memory;
    if (this.dirtyLogging) {
      const end = memory.regions.reduce((m, r) => Math.max(m, r.start + r.size), 0);
      this.dirtyPages = new Uint8Array(Math.ceil(end / 4096));
    }
  }

  /**
   * Creates the LAPICs (one per vCPU, created with each vCPU), IOAPIC and PIC pair.
   * @example vm.createIrqchip()
   */
  createIrqchip(): void {
    this.check('createIrqchip');
    if (this.irqchip)
      throw new X86EmulatorError(
        'invalid-state',
        'EmulatedVm.createIrqchip',
        'the VM already has an irqchip',
      );
    if (this.vcpus.size > 0)
      throw new X86EmulatorError(
        'invalid-state',
        'EmulatedVm.createIrqchip',
        'call it before creating vCPUs',
      );
    this.irqchip = new EmulatedIrqchip({ clock: this.clock });
  }

  /**
   * Creates the 8254 PIT (IRQ 0; channel 2 gated through port 0x61).
   * @example vm.createPit()
   */
  createPit(): void {
    this.requireIrqchip('createPit').createPit();
  }

  /** Sets the level of GSI `gsi`. @example vm.setIrqLine(4, true) */
  setIrqLine(gsi: number, level: boolean): void {
    this.requireIrqchip('setIrqLine').setIrqLine(gsi, level);
  }

  /** Delivers an MSI. @example vm.signalMsi({ address: 0xfee00000n, data: 0x41 }) */
  signalMsi(msi: Msi): void {
    this.requireIrqchip('signalMsi').signalMsi(msi.address, msi.data);
  }

  /**
   * An interrupt source on `gsi`, delivered directly to the emulated IOAPIC/PIC (no vCPU exit).
   * @example const line = vm.createInterruptLine(5); line.trigger();
   */
  createInterruptLine(gsi: number): InterruptLine {
    return this.requireIrqchip('createInterruptLine').createInterruptLine(gsi);
  }

  /**
   * Watches guest writes to `spec.address`. The handler runs synchronously, on the vCPU's thread,
   * from inside `run()` right after the guest's write instruction completed (the write never
   * becomes an exit); `value` is the value written. Datamatch and length filter as ioeventfd does.
   *
   * @example
   * ```ts
   * vm.registerIoEvent({ space: 'mmio', address: 0xd0000050, length: 4 }, (v) => queue.notify(Number(v)));
   * ```
   */
  registerIoEvent(spec: IoEventSpec, handler: (value: bigint) => void): IoEvent {
    this.check('registerIoEvent');
    if (spec.space !== 'pio' && spec.space !== 'mmio') {
      throw new X86EmulatorError(
        'invalid-argument',
        'EmulatedVm.registerIoEvent',
        `unknown space ${String(spec.space)}`,
      );
    }
    if (
      ![0, 1, 2, 4, 8].includes(spec.length) ||
      (spec.space === 'pio' && (spec.length === 0 || spec.length === 8))
    ) {
      throw new X86EmulatorError(
        'invalid-argument',
        'EmulatedVm.registerIoEvent',
        `bad length ${spec.length} for ${spec.space}`,
      );
    }
    const e: IoEventEntry = { spec: { ...spec }, handler, closed: false };
    this.ioEvents.push(e);
    if (spec.space === 'pio') this.pioEventCount++;
    else this.mmioEventCount++;
    return {
      spec: e.spec,
      close: () => {
        if (e.closed) return;
        e.closed = true;
        const i = this.ioEvents.indexOf(e);
        if (i >= 0) this.ioEvents.splice(i, 1);
        if (spec.space === 'pio') this.pioEventCount--;
        else this.mmioEventCount--;
      },
    };
  }

  /** @internal Runs the handlers matching a guest write; true if one matched (the write is consumed). */
  dispatchIoEvent(space: 'pio' | 'mmio', address: number, data: Uint8Array): boolean {
    let value = 0n;
    for (let k = data.length - 1; k >= 0; k--) value = (value << 8n) | BigInt(data[k]);
    let hit = false;
    for (const e of this.ioEvents) {
      const s = e.spec;
      if (s.space !== space || s.address !== address) continue;
      if (s.length !== 0 && s.length !== data.length) continue;
      if (s.datamatch !== undefined && s.datamatch !== value) continue;
      hit = true;
      e.handler(value);
    }
    return hit;
  }

  /**
   * Pages written since the last call (by the guest, or by the host through the memory's own
   * dirty tracking), as guest-physical page addresses, ascending. Needs `createVm({ dirtyLog: true })`.
   * @example const pages = vm.getDirtyLog();
   */
  getDirtyLog(): number[] {
    const d = this.dirtyPages;
    if (!d)
      throw new X86EmulatorError(
        'invalid-state',
        'EmulatedVm.getDirtyLog',
        'create the VM with { dirtyLog: true } and memory',
      );
    const set = new Set<number>();
    for (let p = 0; p < d.length; p++) {
      if (d[p]) {
        d[p] = 0;
        set.add(p * 4096);
      }
    }
    const mem = this.memoryValue;
    if (mem?.dirtyTracking) for (const p of mem.takeDirtyPages()) set.add(p);
    // the next guest write to each page must be seen again: drop the vCPUs' write translations
    for (const v of this.vcpus.values()) v.cpu.flushTlb(true);
    return [...set].sort((a, b) => a - b);
  }

  /**
   * The PIC pair and IOAPIC in `kvm_irqchip`'s shapes (see `platform-state.ts` for the mapping).
   * @example vm.getIrqchip().ioapic.redirtbl[4]
   */
  getIrqchip(): IrqchipState {
    return exportIrqchip(this.requireIrqchip('getIrqchip'));
  }

  /** Loads the PIC pair and IOAPIC state (this backend's or KVM's). @example vm.setIrqchip(vm.getIrqchip()) */
  setIrqchip(state: IrqchipState): void {
    importIrqchip(this.requireIrqchip('setIrqchip'), state);
  }

  /** The PIT in `kvm_pit_state2`'s shape. @example vm.getPit().channels[0].count */
  getPit(): PitState {
    return exportPit(this.requirePit('getPit'));
  }

  /** Loads a PIT state; every programmed counter restarts from its count now. @example vm.setPit(savedState.pit) */
  setPit(state: PitState): void {
    importPit(this.requirePit('setPit'), state, this.clock.now());
  }

  /** The machine clock's time in ns (kvm-clock time). @example vm.getClock().clock */
  getClock(): ClockData {
    return { clock: BigInt(Math.floor(this.clock.now())), flags: 0 };
  }

  /**
   * Sets the machine clock to `clock` ns (forwards or backwards, firing nothing): every timer and
   * TSC of the VM counts from there. Restore it before the LAPIC, PIT and TSC states.
   * @example vm.setClock({ clock: 5_000_000_000n, flags: 0 })
   */
  setClock(data: ClockData): void {
    this.check('setClock');
    this.clock.setTime(Number(data.clock));
  }

  /**
   * Creates vCPU `id` (its LAPIC too when the VM has an irqchip). vCPU 0 is the BSP; others start
   * runnable unless the VMM parks them with `setMpState(UNINITIALIZED)` to wait for INIT/SIPI.
   * @example const vcpu = vm.createVcpu(0);
   */
  createVcpu(id: number): Vcpu {
    this.check('createVcpu');
    const max = this.hypervisor.capabilities.maxVcpus;
    if (!Number.isInteger(id) || id < 0 || id >= max) {
      throw new X86EmulatorError(
        'invalid-argument',
        'EmulatedVm.createVcpu',
        `id ${id} is not in 0..${max - 1}`,
      );
    }
    if (this.vcpus.has(id))
      throw new X86EmulatorError('invalid-state', 'EmulatedVm.createVcpu', `vCPU ${id} already exists`);
    if (!this.memoryValue)
      throw new X86EmulatorError('invalid-state', 'EmulatedVm.createVcpu', 'give the VM its memory first');
    const v = new EmulatedVcpu(this, id, this.memoryValue);
    this.vcpus.set(id, v);
    return v;
  }

  /**
   * @internal Gives a new vCPU's CPU the VM's shared decode cache. The first CPU's cache becomes the
   * shared one, wrapped so that a page turning into code loses its write translations on every
   * vCPU (not only the decoding one), and so that first writes to pages reach the dirty log.
   */
  attachCpu(cpu: Cpu): void {
    if (this.blocks) {
      cpu.shareDecodeCache(this.cpus[0]);
      this.cpus.push(cpu);
      return;
    }
    const bc = cpu.blocks;
    const cpus = this.cpus;
    const insert = bc.insert.bind(bc);
    bc.insert = (c, b) => {
      let fresh = 0;
      for (const p of b.pages) if (bc.codePage[p / 4096] === 0) fresh++;
      insert(c, b);
      if (fresh > 0 && cpus.length > 1) {
        for (const o of cpus) if (o !== c) for (const p of b.pages) o.tlb.dropWritesTo(p);
      }
    };
    const dirty = this.dirtyPages;
    if (dirty) {
      const notify = bc.notifyWrite.bind(bc);
      bc.notifyWrite = (c, pa) => {
        const p = Math.floor(pa / 4096);
        if (p < dirty.length) dirty[p] = 1;
        notify(c, pa);
      };
    }
    this.blocks = bc;
    cpus.push(cpu);
  }

  /** @internal Called by a closing vCPU. */
  detachCpu(cpu: Cpu): void {
    const i = this.cpus.indexOf(cpu);
    if (i >= 0) this.cpus.splice(i, 1);
  }

  /** @internal Called by a closing vCPU. */
  removeVcpu(id: number): void {
    this.vcpus.delete(id);
    this.irqchip?.removeVcpu(id);
  }

  /**
   * The emulated backend is single-threaded: the VM cannot be opened in another thread. Returns a
   * description saying so (for logs); `hypervisor.openVm` does not exist.
   * @example vm.shareable() // { kind: 'emulated', threads: 'single' }
   */
  shareable(): unknown {
    return {
      kind: 'emulated',
      threads: 'single',
      reason: 'the emulated backend runs all vCPUs of a VM on the thread that created it',
      memory: this.memoryValue?.toShareable(),
    };
  }

  /** Releases the VM (close its vCPUs first). @example vm.close() */
  close(): void {
    if (this.closed) return;
    for (const v of [...this.vcpus.values()]) v.close();
    this.closed = true;
  }

  /** Number of vCPUs sharing the clock (the clock advances by each one's instructions / this). */
  get vcpuCount(): number {
    return Math.max(this.vcpus.size, 1);
  }

  private requireIrqchip(what: string): EmulatedIrqchip {
    this.check(what);
    if (!this.irqchip)
      throw new X86EmulatorError(
        'invalid-state',
        `EmulatedVm.${what}`,
        'create the irqchip first (createIrqchip)',
      );
    return this.irqchip;
  }

  private requirePit(what: string) {
    const pit = this.requireIrqchip(what).pit;
    if (!pit)
      throw new X86EmulatorError('invalid-state', `EmulatedVm.${what}`, 'create the PIT first (createPit)');
    return pit;
  }

  private check(what: string): void {
    if (this.closed) throw new X86EmulatorError('closed', `EmulatedVm.${what}`, 'the VM is closed');
  }
}
