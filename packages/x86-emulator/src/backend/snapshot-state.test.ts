import { MpState, xstateBv } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { X86EmulatorError } from '../errors.js';
import { EmulatedHypervisor } from './hypervisor.js';
import type { EmulatedVcpu } from './vcpu.js';
import type { EmulatedVm } from './vm.js';

async function setup() {
  const hv = new EmulatedHypervisor({ deterministic: true });
  const memory = GuestMemory.createShared([{ start: 0, size: 1 << 20 }]);
  const vm = (await hv.createVm({ memory })) as EmulatedVm;
  vm.createIrqchip();
  vm.createPit();
  const vcpu = vm.createVcpu(0) as EmulatedVcpu;
  return { hv, vm, vcpu, memory };
}

describe('emulated backend: snapshot state methods', () => {
  it('vCPU events: queued interrupt, STI shadow, NMI pending and masked round-trip', async () => {
    const { vcpu } = await setup();
    const e = vcpu.getVcpuEvents();
    expect(e.interrupt.injected).toBe(0);
    expect(e.nmi.pending).toBe(0);
    vcpu.setVcpuEvents({
      ...e,
      interrupt: { injected: 1, nr: 0x31, soft: 0, shadow: 2 },
      nmi: { injected: 0, pending: 1, masked: 1 },
    });
    expect(vcpu.cpu.pendingIrq).toBe(0x31);
    expect(vcpu.cpu.shadow).toBe(true);
    expect(vcpu.cpu.ssShadow).toBe(false);
    const back = vcpu.getVcpuEvents();
    expect(back.interrupt).toEqual({ injected: 1, nr: 0x31, soft: 0, shadow: 2 });
    expect(back.nmi).toEqual({ injected: 0, pending: 1, masked: 1 });
    // the queued interrupt is the one sregs' interrupt_bitmap shows, as on KVM
    expect(vcpu.getSregs().interrupt_bitmap[0]).toBe(1n << 0x31n);
  });

  it('vCPU events: refuses a pending exception, naming it', async () => {
    const { vcpu } = await setup();
    const e = vcpu.getVcpuEvents();
    expect(() =>
      vcpu.setVcpuEvents({
        ...e,
        exception: { injected: 1, nr: 14, has_error_code: 1, pending: 0, error_code: 2 },
      }),
    ).toThrow(/exception \(vector 14\)/);
  });

  it('debug registers round-trip with their fixed bits and arm DR7 breakpoints', async () => {
    const { vcpu } = await setup();
    vcpu.setDebugRegs({ db: [0x1000n, 0x2000n, 0n, 0x4000n], dr6: 0xffff0ff1n, dr7: 0x401n, flags: 0n });
    const d = vcpu.getDebugRegs();
    expect(d.db).toEqual([0x1000n, 0x2000n, 0n, 0x4000n]);
    expect(d.dr6).toBe(0xffff0ff1n);
    expect(d.dr7).toBe(0x401n);
    expect(vcpu.cpu.dbgArmed & 1).toBe(1);
    expect(() => vcpu.setDebugRegs({ ...d, dr7: 1n << 40n })).toThrow(X86EmulatorError);
  });

  it('XSAVE carries x87 and SSE state and loads into a fresh vCPU; AVX state is refused', async () => {
    const a = await setup();
    const fpu = a.vcpu.getFpu();
    const xmm = new Uint8Array(256).map((_, i) => i);
    a.vcpu.setFpu({ ...fpu, xmm, mxcsr: 0x1fa0, fcw: 0x27f });
    const area = a.vcpu.getXsave();
    expect(area.length).toBe(576);
    expect(xstateBv(area)).toBe(3n);
    const b = await setup();
    b.vcpu.setXsave(area);
    const got = b.vcpu.getFpu();
    expect([...got.xmm]).toEqual([...xmm]);
    expect(got.mxcsr).toBe(0x1fa0);
    expect(got.fcw).toBe(0x27f);
    const avx = new Uint8Array(4096);
    avx.set(area);
    new DataView(avx.buffer).setBigUint64(512, 7n, true);
    avx[576] = 1; // YMM_Hi128 of YMM0
    expect(() => b.vcpu.setXsave(avx)).toThrow(/AVX/);
    avx[576] = 0; // AVX marked present but in its initial state: accepted
    b.vcpu.setXsave(avx);
  });

  it('XCR0: x87 and SSE only', async () => {
    const { vcpu } = await setup();
    expect(vcpu.getXcrs()).toEqual([{ xcr: 0, value: 1n }]);
    vcpu.setXcrs([{ xcr: 0, value: 3n }]);
    expect(vcpu.getXcrs()).toEqual([{ xcr: 0, value: 3n }]);
    expect(() => vcpu.setXcrs([{ xcr: 0, value: 7n }])).toThrow(/XCR0 = 0x7/);
  });

  it('irqchip: PIC and IOAPIC state programmed by port and MMIO writes moves to a fresh VM', async () => {
    const a = await setup();
    const ic = a.vm.irqchip!;
    // ICW1-4 for the master: base 0x20, then mask everything but IRQ 1
    for (const [port, v] of [
      [0x20, 0x11],
      [0x21, 0x20],
      [0x21, 0x04],
      [0x21, 0x01],
      [0x21, 0xfd],
    ] as const)
      ic.pioWrite(port, 1, v);
    ic.mmioWrite(0, ic.ioapicBase, 4, 0x10 + 2 * 4);
    ic.mmioWrite(0, ic.ioapicBase + 0x10, 4, 0x1a034); // vector 0x34, level, active low, masked
    const s = a.vm.getIrqchip();
    expect(s.picMaster.irq_base).toBe(0x20);
    expect(s.picMaster.imr).toBe(0xfd);
    expect(s.ioapic.redirtbl[4]).toBe(0x1a034n);
    const b = await setup();
    b.vm.setIrqchip(s);
    expect(b.vm.getIrqchip()).toEqual(s);
    expect(b.vm.irqchip!.pic.chipState(0)).toMatchObject({ imr: 0xfd, irqBase: 0x20 });
    expect(() => b.vm.setIrqchip({ ...s, ioapic: { ...s.ioapic, base_address: 0x1000n } })).toThrow(
      /IOAPIC at 0x1000/,
    );
  });

  it('PIT: a programmed channel moves to a fresh VM and keeps firing IRQ 0 there', async () => {
    const a = await setup();
    const pit = a.vm.irqchip!.pit!;
    pit.pioWrite(0x43, 1, 0x34); // channel 0, lobyte/hibyte, mode 2
    pit.pioWrite(0x40, 1, 0x9c);
    pit.pioWrite(0x40, 1, 0x2e);
    const s = a.vm.getPit();
    expect(s.channels[0]).toMatchObject({ count: 0x2e9c, mode: 2, rw_mode: 3 });
    expect(s.channels[1].mode).toBe(0xff); // never programmed
    const b = await setup();
    b.vm.setPit(s);
    expect(b.vm.irqchip!.pit!.channelState(0)).toMatchObject({ mode: 2, count: 0x2e9c });
    expect(b.vm.clock.nextDeadline()).toBeLessThan(Number.POSITIVE_INFINITY);
    const again = b.vm.getPit();
    expect({ ...again.channels[0], count_load_time: 0n }).toEqual({ ...s.channels[0], count_load_time: 0n });
  });

  it('clock: set forwards and backwards; the TSC follows', async () => {
    const { vm, vcpu } = await setup();
    vm.setClock({ clock: 5_000_000_000n, flags: 0 });
    expect(vm.getClock().clock).toBe(5_000_000_000n);
    const tsc = vcpu.getMsrs([0x10])[0].data;
    vm.setClock({ clock: 1_000_000_000n, flags: 0 });
    expect(vm.getClock().clock).toBe(1_000_000_000n);
    expect(vcpu.getMsrs([0x10])[0].data).toBeLessThan(tsc);
  });

  it('MP state HALTED and the LAPIC page round-trip', async () => {
    const { vcpu } = await setup();
    vcpu.setMpState(MpState.HALTED);
    expect(vcpu.getMpState()).toBe(MpState.HALTED);
    const page = vcpu.getLapic();
    const b = await setup();
    b.vcpu.setLapic(page);
    expect(b.vcpu.getLapic()).toEqual(page);
  });
});
