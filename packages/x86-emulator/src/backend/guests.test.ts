// Conformance: the shared guests of @ts-vmm/kvm-ioctls/testing, run through the backend-neutral
// interfaces on the emulated backend with the same expectations as the KVM run of
// packages/kvm-ioctls/src/guests.test.ts. Differences, adapted rather than skipped:
// - memory is SharedArrayBuffer-backed (the KVM run uses memfd);
// - the watchdog thread kicks through the emulated kicker (a shared flag), not KVM's;
// - I/O event handlers run synchronously inside run() (ioeventfd handlers run later from the event
//   loop), so they have fired by the time run() returns; the test still allows either.
import { Worker } from 'node:worker_threads';
import type { Vcpu, VcpuExit, Vm } from '@ts-vmm/kvm-ioctls';
import {
  DATA_ADDRESS,
  DIRTY_PAGES,
  DONE_PORT,
  dirtyGuest,
  GUEST_MEMORY_SIZE,
  type GuestProgram,
  IOEVENT_MMIO,
  IOEVENT_PORT,
  ioEchoGuest,
  ioEventGuest,
  irqGuest,
  loadGuest,
  MMIO_BASE,
  mmioGuest32,
  mmioGuest64,
  READY_PORT,
  STEP_RIPS,
  spinGuest,
  stepGuest,
} from '@ts-vmm/kvm-ioctls/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { EmulatedHypervisor } from './hypervisor.js';

const WATCHDOG = `
const { workerData, parentPort } = require('node:worker_threads');
const kick = new Int32Array(workerData.kick);
const stop = new Int32Array(workerData.stop);
parentPort.postMessage('armed');
if (Atomics.wait(stop, 0, 0, workerData.ms) === 'timed-out') {
  Atomics.store(kick, 0, 1);
  Atomics.notify(kick, 0);
  parentPort.postMessage('kicked');
}
`;

/** Kicks `vcpu` from another thread after `ms` unless cancelled (as the KVM tests' watchdog). */
async function startWatchdog(vcpu: Vcpu, ms: number): Promise<{ cancel(): Promise<boolean> }> {
  const stop = new SharedArrayBuffer(4);
  const desc = vcpu.kicker() as { flag: SharedArrayBuffer };
  let kicked = false;
  const worker = new Worker(WATCHDOG, { eval: true, workerData: { kick: desc.flag, stop, ms } });
  const done = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m) => {
      if (m === 'armed') resolve();
      if (m === 'kicked') kicked = true;
    });
    worker.once('error', reject);
  });
  return {
    async cancel() {
      const f = new Int32Array(stop);
      Atomics.store(f, 0, 1);
      Atomics.notify(f, 0);
      await done;
      return kicked;
    },
  };
}

describe('shared guests on the emulated backend', () => {
  const hv = new EmulatedHypervisor();
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    while (cleanup.length) cleanup.pop()!();
  });

  async function boot(
    program: GuestProgram,
    options: { irqchip?: boolean; dirtyLog?: boolean } = {},
  ): Promise<{ vm: Vm; vcpu: Vcpu; mem: GuestMemory }> {
    const mem = GuestMemory.createShared([{ start: 0, size: GUEST_MEMORY_SIZE }]);
    const vm = await hv.createVm({ memory: mem, dirtyLog: options.dirtyLog });
    if (options.irqchip) vm.createIrqchip();
    const vcpu = vm.createVcpu(0);
    cleanup.push(
      () => mem.close(),
      () => vm.close(),
      () => vcpu.close(),
    );
    loadGuest(mem, vcpu, program);
    return { vm, vcpu, mem };
  }

  async function runGuarded(vcpu: Vcpu, ms = 10_000): Promise<VcpuExit> {
    const dog = await startWatchdog(vcpu, ms);
    const exit = vcpu.run();
    const snapshot = { ...exit } as VcpuExit;
    await dog.cancel();
    return snapshot;
  }

  it('real mode: answers IN and sees the value come back in OUT', async () => {
    const { vcpu } = await boot(ioEchoGuest(0x10));
    const e1 = vcpu.run();
    expect(e1).toMatchObject({ kind: 'io-in', port: 0x10, size: 1, count: 1 });
    if (e1.kind !== 'io-in') return;
    e1.data[0] = 0x41;
    const e2 = vcpu.run();
    expect(e2).toMatchObject({ kind: 'io-out', port: 0x10, size: 1, count: 1 });
    if (e2.kind !== 'io-out') return;
    expect(e2.data[0]).toBe(0x42);
    expect(vcpu.run().kind).toBe('hlt');
  });

  it('protected mode: MMIO read answered by the VMM, MMIO writes of 4 and 1 bytes', async () => {
    const { vcpu } = await boot(mmioGuest32());
    const r = vcpu.run();
    expect(r).toMatchObject({ kind: 'mmio-read', address: MMIO_BASE, size: 4 });
    if (r.kind !== 'mmio-read') return;
    new DataView(r.data.buffer, r.data.byteOffset, 4).setUint32(0, 0x1234_5678, true);
    const w = vcpu.run();
    expect(w).toMatchObject({ kind: 'mmio-write', address: MMIO_BASE + 4, size: 4 });
    if (w.kind !== 'mmio-write') return;
    expect(new DataView(w.data.buffer, w.data.byteOffset, 4).getUint32(0, true)).toBe(0x1234_5679);
    const b = vcpu.run();
    expect(b).toMatchObject({ kind: 'mmio-write', address: MMIO_BASE + 8, size: 1 });
    if (b.kind !== 'mmio-write') return;
    expect([...b.data]).toEqual([0x5a]);
    expect(vcpu.run().kind).toBe('hlt');
  });

  it('long mode: 8-byte MMIO read and write, 2-byte write', async () => {
    const { vcpu } = await boot(mmioGuest64());
    const r = vcpu.run();
    expect(r).toMatchObject({ kind: 'mmio-read', address: MMIO_BASE, size: 8 });
    if (r.kind !== 'mmio-read') return;
    new DataView(r.data.buffer, r.data.byteOffset, 8).setBigUint64(0, 0x1122_3344_5566_7788n, true);
    const w = vcpu.run();
    expect(w).toMatchObject({ kind: 'mmio-write', address: MMIO_BASE + 8, size: 8 });
    if (w.kind !== 'mmio-write') return;
    expect(new DataView(w.data.buffer, w.data.byteOffset, 8).getBigUint64(0, true)).toBe(
      0x1122_3344_5566_7789n,
    );
    const h = vcpu.run();
    expect(h).toMatchObject({ kind: 'mmio-write', address: MMIO_BASE + 16, size: 2 });
    if (h.kind !== 'mmio-write') return;
    expect([...h.data]).toEqual([0x34, 0x12]);
    expect(vcpu.run().kind).toBe('hlt');
    expect((vcpu.getSregs().efer & 0x400n) !== 0n).toBe(true); // LMA: really in long mode
  });

  it('irqchip + interrupt line: the guest IDT handler runs', async () => {
    const irq = 5;
    const { vm, vcpu } = await boot(irqGuest(irq), { irqchip: true });
    const line = vm.createInterruptLine(irq);
    cleanup.push(() => line.close());
    const ready = vcpu.run();
    expect(ready).toMatchObject({ kind: 'io-out', port: READY_PORT });
    line.trigger();
    let fired = await runGuarded(vcpu);
    // run() may return `interrupted` (host time slice) before the handler's OUT: run again
    for (let i = 0; i < 50 && fired.kind === 'interrupted'; i++) fired = await runGuarded(vcpu);
    expect(fired).toMatchObject({ kind: 'io-out', port: DONE_PORT });
  });

  it('I/O events: guest PIO and MMIO writes signal handlers with no vCPU exit', async () => {
    const { vm, vcpu } = await boot(ioEventGuest());
    const pio: bigint[] = [];
    const mmio: bigint[] = [];
    const ev1 = vm.registerIoEvent({ space: 'pio', address: IOEVENT_PORT, length: 1, datamatch: 7n }, (v) =>
      pio.push(v),
    );
    const ev2 = vm.registerIoEvent({ space: 'mmio', address: IOEVENT_MMIO, length: 4, datamatch: 9n }, (v) =>
      mmio.push(v),
    );
    cleanup.push(
      () => ev1.close(),
      () => ev2.close(),
    );
    const exit = vcpu.run(); // the first exit is the final OUT: the six watched writes did not exit
    expect(exit).toMatchObject({ kind: 'io-out', port: DONE_PORT });
    for (let i = 0; i < 100 && (pio.length === 0 || mmio.length === 0); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(pio.length).toBeGreaterThan(0);
    expect(mmio.length).toBeGreaterThan(0);
    expect(new Set(pio)).toEqual(new Set([7n]));
    expect(new Set(mmio)).toEqual(new Set([9n]));
    expect(vcpu.run().kind).toBe('hlt');
  });

  it('dirty page log lists exactly the pages the guest wrote', async () => {
    const { vm, vcpu, mem } = await boot(dirtyGuest(), { dirtyLog: true });
    vm.getDirtyLog(); // clear
    expect(vcpu.run().kind).toBe('hlt');
    const dirty = vm.getDirtyLog();
    for (const p of DIRTY_PAGES) expect(dirty).toContain(p);
    expect(dirty).not.toContain(0x9000);
    expect(dirty).not.toContain(DATA_ADDRESS + 0x4000);
    expect(mem.read32(DIRTY_PAGES[0] + 0x10)).toBe(0xabcd);
    expect(vm.getDirtyLog()).toEqual([]); // the call cleared it
  });

  it('single-step reports each instruction address', async () => {
    const { vcpu } = await boot(stepGuest());
    vcpu.setGuestDebug({ enable: true, singleStep: true });
    const before: number[] = [];
    const after: number[] = [];
    let out = false;
    for (let i = 0; i < 20; i++) {
      const e = vcpu.run();
      if (e.kind === 'debug') {
        expect(e.exception).toBe(1); // #DB
        (out ? after : before).push(Number(e.pc));
      } else if (e.kind === 'io-out') {
        out = true;
        expect(e.data[0]).toBe(3);
      } else if (e.kind === 'hlt') break;
      else throw new Error(`unexpected exit ${e.kind}`);
      if (Number(vcpu.getRegs().rip) >= STEP_RIPS[4] + 1) break;
    }
    expect(out).toBe(true);
    expect(before).toEqual(STEP_RIPS.slice(1, 4));
    for (const rip of after) expect([STEP_RIPS[4], STEP_RIPS[4] + 1]).toContain(rip);
    vcpu.setGuestDebug({ enable: false });
  });

  it('another thread kicks the vCPU out of a CPL3 busy loop', async () => {
    // The emulated run() also returns `interrupted` every 20 ms of host time by itself; with a long
    // slice only the kick can end it, which is what this test checks.
    const slow = new EmulatedHypervisor({ runSliceMs: 60_000 });
    const mem = GuestMemory.createShared([{ start: 0, size: GUEST_MEMORY_SIZE }]);
    const vm = await slow.createVm({ memory: mem });
    const vcpu = vm.createVcpu(0);
    cleanup.push(
      () => mem.close(),
      () => vm.close(),
      () => vcpu.close(),
    );
    loadGuest(mem, vcpu, spinGuest());
    const t0 = performance.now();
    const dog = await startWatchdog(vcpu, 200);
    const exit = vcpu.run();
    const kicked = await dog.cancel();
    expect(exit.kind).toBe('interrupted');
    expect(kicked).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    expect(vcpu.getRegs().rip).toBe(0x1000n); // still in `jmp $`
    expect(vcpu.getSregs().cs.dpl).toBe(3);

    // A kick before run(): the next run() returns at once, and only that one.
    const kicker = slow.openKicker(vcpu.kicker());
    kicker.kick();
    expect(vcpu.run().kind).toBe('interrupted');
    kicker.close?.();
    const t1 = performance.now();
    const again = await runGuarded(vcpu, 100);
    expect(again.kind).toBe('interrupted');
    expect(performance.now() - t1).toBeGreaterThanOrEqual(50);
  });
});
