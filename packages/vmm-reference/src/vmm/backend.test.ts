import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { describe, expect, it } from 'vitest';
import { chooseBackend, loadBackend, probeCpl0Speed } from './backend.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: KVM speed probe (/dev/kvm not available)');

describe.skipIf(!kvm)('KVM speed probe (needs /dev/kvm)', () => {
  it('times CPL0 and CPL3 guest loops in long mode', async () => {
    const hv = await loadBackend('kvm');
    const p = await probeCpl0Speed(hv);
    expect(p.cpl0NsPerIteration).toBeGreaterThan(0);
    expect(p.cpl3NsPerIteration).toBeGreaterThan(0);
    expect(p.ratio).toBeCloseTo(p.cpl0NsPerIteration / Math.max(p.cpl3NsPerIteration, 0.05), 5);
    console.log(
      `KVM probe: CPL0 ${p.cpl0NsPerIteration.toFixed(2)} ns/iter, CPL3 ${p.cpl3NsPerIteration.toFixed(2)} ns/iter`,
    );
  });

  it('auto explains its choice', async () => {
    const sel = await chooseBackend('auto');
    expect(sel.reason).toMatch(/^backend: (kvm|emulated)[ ,]/);
    expect(sel.reason).toMatch(/CPL0/);
    expect(sel.probe).toBeDefined();
  });
});

describe('explicit backends', () => {
  it('the emulated backend keeps host time unless asked for the virtual clock', async () => {
    const mode = async (o?: { clock?: 'realtime' | 'virtual' }) =>
      ((await chooseBackend('emulated', o)).hypervisor as unknown as { options: { clockMode: string } })
        .options.clockMode;
    expect(await mode()).toBe('realtime');
    expect(await mode({ clock: 'realtime' })).toBe('realtime');
    expect(await mode({ clock: 'virtual' })).toBe('virtual');
    const hv = (await loadBackend('emulated', { clock: 'virtual' })) as unknown as {
      options: { clockMode: string };
    };
    expect(hv.options.clockMode).toBe('virtual');
  });

  it('kvm either opens or says why not', async () => {
    if (kvm) expect((await chooseBackend('kvm')).hypervisor.kind).toBe('kvm');
    else await expect(chooseBackend('kvm')).rejects.toThrow(/KVM backend is not available/);
  });
});
