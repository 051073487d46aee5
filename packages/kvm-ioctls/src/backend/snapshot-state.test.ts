import { MpState, xstateBv } from '@ts-vmm/hypervisor';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { hasKvm, openKvm } from './kvm-hypervisor.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: KVM snapshot state wrappers (/dev/kvm not available)');

async function setup() {
  const hv = await openKvm();
  const memory = await GuestMemory.createMemfd([{ start: 0, size: 1 << 20 }]);
  const vm = await hv.createVm({ memory });
  vm.createIrqchip();
  vm.createPit();
  const vcpu = vm.createVcpu(0);
  return { hv, vm, vcpu, memory };
}

describe.skipIf(!kvm)('KVM backend: snapshot state wrappers round-trip', () => {
  it('vCPU events, debug registers, XCRs, XSAVE', async () => {
    const { vm, vcpu } = await setup();
    const e = vcpu.getVcpuEvents();
    vcpu.setVcpuEvents({ ...e, nmi: { ...e.nmi, masked: 1 }, flags: e.flags | 1 });
    expect(vcpu.getVcpuEvents().nmi.masked).toBe(1);
    const d = { db: [0x1000n, 0x2000n, 0x3000n, 0x4000n], dr6: 0xffff0ff0n, dr7: 0x400n, flags: 0n };
    vcpu.setDebugRegs(d);
    expect(vcpu.getDebugRegs().db).toEqual(d.db);
    const xcrs = vcpu.getXcrs();
    expect(xcrs[0]).toMatchObject({ xcr: 0 });
    vcpu.setXcrs(xcrs);
    const area = vcpu.getXsave();
    expect(area.length).toBe(4096);
    // an emulator-sized area (x87 + SSE only) is padded and taken
    const small = area.slice(0, 576);
    small[160] = 0x5a; // XMM0 byte 0
    new DataView(small.buffer).setBigUint64(512, 3n, true);
    vcpu.setXsave(small);
    expect(vcpu.getFpu().xmm[0]).toBe(0x5a);
    expect(xstateBv(vcpu.getXsave()) & 2n).toBe(2n);
    vcpu.setMpState(MpState.RUNNABLE);
    vcpu.close();
    vm.close();
  });

  it('irqchip, PIT and clock', async () => {
    const { vm, vcpu } = await setup();
    const ic = vm.getIrqchip();
    expect(ic.ioapic.redirtbl.length).toBe(24);
    ic.picMaster.imr = 0xfd;
    ic.ioapic.redirtbl[4] = 0x1a034n;
    vm.setIrqchip(ic);
    const back = vm.getIrqchip();
    expect(back.picMaster.imr).toBe(0xfd);
    expect(back.ioapic.redirtbl[4]).toBe(0x1a034n);
    const pit = vm.getPit();
    expect(pit.channels.length).toBe(3);
    pit.channels[0] = { ...pit.channels[0], mode: 2, count: 0x2e9c, rw_mode: 3 };
    vm.setPit(pit);
    expect(vm.getPit().channels[0]).toMatchObject({ mode: 2, count: 0x2e9c, rw_mode: 3 });
    vm.setClock({ clock: 5_000_000_000n, flags: 0 });
    const c = vm.getClock().clock;
    expect(c).toBeGreaterThanOrEqual(5_000_000_000n);
    expect(c).toBeLessThan(6_000_000_000n);
    vcpu.close();
    vm.close();
  });
});
