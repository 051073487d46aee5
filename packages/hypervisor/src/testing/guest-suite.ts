/**
 * The shared guest test suite: every guest of this module run through the backend-neutral
 * Hypervisor/Vm/Vcpu interfaces, with one set of expectations for every backend. Backend
 * differences live in {@link TestBackend} fields, never in the tests.
 *
 * Uses vitest (`describe`/`it`/`expect`), an optional peer dependency of this package needed only
 * by {@link defineGuestSuite}. It is imported when that function is called, not with this module:
 * worker threads and benchmarks import the `testing` entry outside a vitest run, where importing
 * vitest throws.
 *
 * @module
 */
import type { GuestMemory } from '@ts-vmm/vm-memory';
import type { Hypervisor, Vcpu, VcpuExit, Vm } from '../types.js';
import { DATA_ADDRESS, type GuestProgram, loadGuest, MMIO_BASE, type TestBackend } from './guests.js';
import {
  DIRTY_PAGES,
  DONE_PORT,
  dirtyGuest,
  IOEVENT_MMIO,
  IOEVENT_PORT,
  ioEchoGuest,
  ioEventGuest,
  irqGuest,
  mmioGuest32,
  mmioGuest64,
  READY_PORT,
  STEP_RIPS,
  spinGuest,
  stepGuest,
} from './programs.js';

/**
 * Defines (in the calling vitest file, which awaits it) the shared guest tests for `backend`. When
 * the backend is not available here it prints `skipped: <name> tests: <reason>` and the tests are
 * skipped.
 *
 * @example
 * ```ts
 * // src/guests.test.ts
 * import { defineGuestSuite } from '@ts-vmm/hypervisor/testing';
 * import { kvmTestBackend } from '@ts-vmm/kvm-ioctls/testing';
 * await defineGuestSuite(kvmTestBackend);
 * ```
 */
export async function defineGuestSuite(backend: TestBackend): Promise<void> {
  const { afterAll, afterEach, beforeAll, describe, expect, it } = await import('vitest');
  const available = backend.available();
  if (!available) console.log(`skipped: ${backend.name} tests: ${backend.unavailableReason}`);

  describe(`guests on ${backend.name}`, () => {
    let hv: Hypervisor;
    const cleanup: (() => void)[] = [];

    beforeAll(async () => {
      if (available) hv = await backend.open();
    });
    afterEach(() => {
      while (cleanup.length) cleanup.pop()!();
    });
    afterAll(() => {
      (hv as { close?: () => void } | undefined)?.close?.();
    });

    async function boot(
      program: GuestProgram,
      options: { irqchip?: boolean; dirtyLog?: boolean; hypervisor?: Hypervisor } = {},
    ): Promise<{ vm: Vm; vcpu: Vcpu; mem: GuestMemory }> {
      const mem = await backend.createMemory();
      const vm = await (options.hypervisor ?? hv).createVm({ memory: mem, dirtyLog: options.dirtyLog });
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

    /** run() with a watchdog so a broken guest fails instead of hanging the suite. */
    async function runGuarded(vcpu: Vcpu, ms = 10_000): Promise<VcpuExit> {
      const dog = await backend.startWatchdog(vcpu, ms);
      const exit = vcpu.run();
      const snapshot = { ...exit } as VcpuExit;
      await dog.cancel();
      return snapshot;
    }

    describe.skipIf(!available)('', () => {
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
        // run() may return `interrupted` (a signal, a host time slice) before the handler's OUT: run again
        for (let i = 0; i < 50 && fired.kind === 'interrupted'; i++) fired = await runGuarded(vcpu);
        expect(fired).toMatchObject({ kind: 'io-out', port: DONE_PORT });
      });

      it('I/O events: guest PIO and MMIO writes signal handlers with no vCPU exit', async () => {
        const { vm, vcpu } = await boot(ioEventGuest());
        const pio: bigint[] = [];
        const mmio: bigint[] = [];
        const ev1 = vm.registerIoEvent(
          { space: 'pio', address: IOEVENT_PORT, length: 1, datamatch: 7n },
          (v) => pio.push(v),
        );
        const ev2 = vm.registerIoEvent(
          { space: 'mmio', address: IOEVENT_MMIO, length: 4, datamatch: 9n },
          (v) => mmio.push(v),
        );
        cleanup.push(
          () => ev1.close(),
          () => ev2.close(),
        );
        const exit = vcpu.run(); // the first exit is the final OUT: the six watched writes did not exit
        expect(exit).toMatchObject({ kind: 'io-out', port: DONE_PORT });
        // Handlers run inside run() on synchronous backends: then they must have fired already.
        if (!backend.ioEventsSynchronous)
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
        // After each instruction the step trap reports the next RIP. (Whether the trap of an
        // instruction completed in userspace, the OUT, is reported differs between KVM hosts.)
        expect(before).toEqual(STEP_RIPS.slice(1, 4));
        for (const rip of after) expect([STEP_RIPS[4], STEP_RIPS[4] + 1]).toContain(rip);
        vcpu.setGuestDebug({ enable: false });
      });

      it('hardware breakpoint stops at its address; stepping over it continues', async () => {
        const { vcpu } = await boot(stepGuest());
        vcpu.setGuestDebug({ enable: true, hwBreakpoints: [BigInt(STEP_RIPS[2])] });
        const hit = vcpu.run();
        expect(hit).toMatchObject({ kind: 'debug', exception: 1, pc: BigInt(STEP_RIPS[2]) });
        expect(vcpu.getRegs().rax & 0xffffn).toBe(2n); // one `inc ax` done, the second not yet
        // Step over the breakpoint with it removed, then continue without debugging.
        vcpu.setGuestDebug({ enable: true, singleStep: true });
        expect(vcpu.run()).toMatchObject({ kind: 'debug', pc: BigInt(STEP_RIPS[3]) });
        vcpu.setGuestDebug({ enable: false });
        const out = vcpu.run();
        expect(out).toMatchObject({ kind: 'io-out', port: DONE_PORT });
        if (out.kind === 'io-out') expect(out.data[0]).toBe(3);
      });

      it('another thread kicks the vCPU out of a CPL3 busy loop', async () => {
        // Only a kick may end run() here: backends that also return `interrupted` by themselves
        // give a hypervisor without that time slice.
        const kickHv = backend.openUnsliced ? await backend.openUnsliced() : hv;
        if (kickHv !== hv) cleanup.unshift(() => (kickHv as { close?: () => void }).close?.());
        const { vcpu } = await boot(spinGuest(), { hypervisor: kickHv });
        const t0 = performance.now();
        const dog = await backend.startWatchdog(vcpu, 200);
        const exit = vcpu.run();
        const kicked = await dog.cancel();
        expect(exit.kind).toBe('interrupted');
        expect(kicked).toBe(true);
        expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
        expect(vcpu.getRegs().rip).toBe(0x1000n); // still in `jmp $`
        expect(vcpu.getSregs().cs.dpl).toBe(3);

        // A kick before run(): the next run() returns at once, and only that one.
        const kicker = kickHv.openKicker!(vcpu.kicker());
        kicker.kick();
        expect(vcpu.run().kind).toBe('interrupted');
        kicker.close?.();
        const t1 = performance.now();
        const again = await runGuarded(vcpu, 100);
        expect(again.kind).toBe('interrupted');
        expect(performance.now() - t1).toBeGreaterThanOrEqual(50);
      });
    });
    if (!available) it.skip(`skipped: ${backend.unavailableReason}`, () => {});
  });
}
