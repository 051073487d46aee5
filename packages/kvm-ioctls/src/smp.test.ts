// SMP start-up on KVM's in-kernel LAPIC: the bootstrap processor sends INIT and SIPI to vCPU 1,
// whose KVM_RUN, waiting for them, returns EAGAIN once they arrive; VcpuFd.run enters KVM_RUN again
// and the application processor runs from the SIPI vector in real mode.
import { MpState } from '@ts-vmm/hypervisor';
import { GUEST_MEMORY_SIZE, startVcpu } from '@ts-vmm/hypervisor/testing';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { describe, expect, it } from 'vitest';
import { hasKvm, openKvm } from './backend/kvm-hypervisor.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: SMP start-up test (/dev/kvm not available)');

const BSP_PORT = 0x10;
const AP_PORT = 0x11;
const SIPI_VECTOR = 0x08; // the AP starts at 0x8000 (CS 0x0800, IP 0)

/**
 * 32-bit code: software-enable the local APIC (SVR bit 8, as Linux does before it starts APs),
 * INIT then SIPI to APIC ID 1 through the ICR, report on BSP_PORT, halt.
 */
function bspCode(): Uint8Array {
  const movApic = (offset: number, value: number) => {
    const b = new Uint8Array(10);
    const v = new DataView(b.buffer);
    b[0] = 0xc7; // mov dword [disp32], imm32
    b[1] = 0x05;
    v.setUint32(2, 0xfee0_0000 + offset, true);
    v.setUint32(6, value, true);
    return [...b];
  };
  return new Uint8Array([
    ...movApic(0xf0, 0x1ff), // SVR: APIC enabled, spurious vector 0xff
    ...movApic(0x310, 1 << 24), // ICR high: destination APIC ID 1
    ...movApic(0x300, 0x0000_4500), // INIT, level assert
    ...movApic(0x300, 0x0000_4600 | SIPI_VECTOR), // Start-up IPI
    0xb0,
    0x01,
    0xe6,
    BSP_PORT, // mov al, 1; out BSP_PORT, al
    0xf4, // hlt
  ]);
}

describe.skipIf(!kvm)('SMP start-up on KVM', () => {
  it('an AP waiting for INIT/SIPI starts at the SIPI vector (KVM_RUN EAGAIN is retried)', async () => {
    const hv = await openKvm();
    const memory = await GuestMemory.createMemfd([{ start: 0, size: GUEST_MEMORY_SIZE }]);
    const vm = await hv.createVm({ memory });
    vm.createIrqchip();
    const bsp = vm.createVcpu(0);
    const ap = vm.createVcpu(1);
    try {
      // KVM_GET_MP_STATE: an AP that has not received INIT is UNINITIALIZED (in-kernel irqchip).
      expect(ap.getMpState()).toBe(MpState.UNINITIALIZED);
      memory.writeBytes(0x1000, bspCode());
      memory.writeBytes(SIPI_VECTOR << 12, new Uint8Array([0xb0, 0x02, 0xe6, AP_PORT, 0xf4]));
      startVcpu(memory, bsp, 'protected', 0x1000);

      const b = bsp.run();
      expect(b).toMatchObject({ kind: 'io-out', port: BSP_PORT });
      // Run on this thread (the one that created it): INIT and SIPI are pending, so KVM_RUN
      // accepts them, returns EAGAIN, and the second entry runs the AP's real-mode code.
      const a = ap.run();
      expect(a).toMatchObject({ kind: 'io-out', port: AP_PORT });
      if (a.kind === 'io-out') expect(a.data[0]).toBe(2);
      expect(ap.getRegs().rip).toBe(4n); // past mov al, 2; out (real mode, IP relative to CS 0x0800)
      expect(ap.getSregs().cs.base).toBe(BigInt(SIPI_VECTOR << 12));
    } finally {
      ap.close();
      bsp.close();
      vm.close();
      hv.close();
    }
  }, 60_000);
});
