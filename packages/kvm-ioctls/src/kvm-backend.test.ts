// KVM-specific behaviour of the backend classes (KvmHypervisor, KvmVm, KvmVcpu).

import { DONE_PORT, loadGuest, MMIO_BASE } from '@ts-vmm/hypervisor/testing';
import { KVM_CAP_COALESCED_MMIO, KVM_CAP_X86_USER_SPACE_MSR } from '@ts-vmm/kvm-sys';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasKvm, type KvmHypervisor, openKvm } from './backend/kvm-hypervisor.js';
import { KvmError } from './errors.js';
import { kvmTestBackend } from './testing/index.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: /dev/kvm not available');

describe.skipIf(!kvm)('KVM backend', () => {
  let hv: KvmHypervisor;
  beforeAll(async () => {
    hv = await openKvm();
  });
  afterAll(() => hv?.close());

  it('reports capabilities and supported CPUID/MSRs', () => {
    expect(hv.kind).toBe('kvm');
    expect(hv.capabilities).toMatchObject({
      irqchip: true,
      interruptLines: true,
      ioEvents: true,
      multiThreaded: true,
    });
    expect(hv.capabilities.maxVcpus).toBeGreaterThan(0);
    expect(hv.supportedCpuid().length).toBeGreaterThan(0);
    expect(hv.supportedMsrs().length).toBeGreaterThan(0);
  });

  it('refuses SharedArrayBuffer memory, a second setMemory, and dirty logs it was not asked for', async () => {
    const shared = GuestMemory.createShared([{ start: 0, size: 0x10000 }]);
    const e = await hv.createVm({ memory: shared }).catch((x) => x);
    expect(e).toBeInstanceOf(KvmError);
    expect((e as KvmError).message).toContain('KVM needs memfd-backed memory');
    const mem = await kvmTestBackend.createMemory(0x10000);
    const vm = await hv.createVm({ memory: mem });
    expect(() => vm.setMemory(mem)).toThrow(/already set/);
    expect(() => vm.getDirtyLog()).toThrow(/dirtyLog: true/);
    expect(() => vm.createInterruptLine(3)).toThrow(/^KVM_IRQFD gsi 3 fd \d+ failed: EINVAL/); // no irqchip yet
    vm.createIrqchip();
    const line = vm.createInterruptLine(3);
    line.trigger();
    line.close();
    expect(() => line.trigger()).toThrow(/interrupt line 3 is closed/);
    vm.close();
    mem.close();
  });

  it('user-space MSR exits: the VMM answers rdmsr and sees wrmsr', async () => {
    const mem = await kvmTestBackend.createMemory();
    const vm = await hv.createVm({ memory: mem });
    vm.raw.enableCap(KVM_CAP_X86_USER_SPACE_MSR, [2n]); // KVM_MSR_EXIT_REASON_UNKNOWN
    const vcpu = vm.createVcpu(0);
    // mov ecx, 0x4b560000 ; rdmsr ; out 0x10, al ; mov eax, 0x99 ; wrmsr ; hlt
    const code = [
      0x66,
      0xb9,
      0x00,
      0x00,
      0x56,
      0x4b,
      0x0f,
      0x32,
      0xe6,
      DONE_PORT,
      0x66,
      0xb8,
      0x99,
      0,
      0,
      0,
      0x0f,
      0x30,
      0xf4,
    ];
    loadGuest(mem, vcpu, { mode: 'real', code: Uint8Array.from(code) });
    const rd = vcpu.run();
    expect(rd).toMatchObject({ kind: 'rdmsr', index: 0x4b56_0000, reason: 2 });
    if (rd.kind === 'rdmsr') rd.data = 0x77n;
    const out = vcpu.run();
    expect(out).toMatchObject({ kind: 'io-out', port: DONE_PORT });
    if (out.kind === 'io-out') expect(out.data[0]).toBe(0x77);
    expect(vcpu.run()).toMatchObject({ kind: 'wrmsr', index: 0x4b56_0000, data: 0x99n });
    expect(vcpu.run().kind).toBe('hlt');
    vcpu.close();
    vm.close();
    mem.close();
  });
});

describe.skipIf(!kvm)('coalesced MMIO', () => {
  it('buffers guest writes to a coalesced zone without exits, drained in order', async () => {
    const hv = await openKvm();
    const page = hv.raw.checkExtension(KVM_CAP_COALESCED_MMIO);
    expect(page).toBeGreaterThan(0);
    const mem = await kvmTestBackend.createMemory();
    const vm = await hv.createVm({ memory: mem });
    vm.raw.registerCoalescedMmio(BigInt(MMIO_BASE), 0x1000);
    const vcpu = vm.createVcpu(0);
    const code = [
      0xc7,
      0x05,
      0x10,
      0x00,
      0x00,
      0xd0,
      0x01,
      0,
      0,
      0,
      0xc6,
      0x05,
      0x20,
      0x00,
      0x00,
      0xd0,
      0x02,
      0xe6,
      DONE_PORT,
      0xf4,
    ];
    // mov dword [MMIO_BASE+0x10], 1 ; mov byte [MMIO_BASE+0x20], 2 ; out DONE_PORT, al ; hlt
    loadGuest(mem, vcpu, { mode: 'protected', code: Uint8Array.from(code) });
    expect(vcpu.run()).toMatchObject({ kind: 'io-out', port: DONE_PORT });
    const seen: [number, number[], boolean][] = [];
    const n = vcpu.raw.drainCoalescedMmio(page, (a, d, pio) => seen.push([a, [...d], pio]));
    expect(n).toBe(2);
    expect(seen).toEqual([
      [MMIO_BASE + 0x10, [1, 0, 0, 0], false],
      [MMIO_BASE + 0x20, [2], false],
    ]);
    expect(vcpu.raw.drainCoalescedMmio(page, () => {})).toBe(0);
    vcpu.close();
    vm.close();
    mem.close();
    hv.close();
  });
});
