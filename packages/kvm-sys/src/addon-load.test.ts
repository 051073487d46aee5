// loadAddon's failure path: a clear AddonUnavailableError, cached, and isAddonAvailable/hasKvm false.
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('loadAddon when the addon is missing', () => {
  afterEach(() => {
    delete process.env.TS_VMM_KVM_SYS_ADDON;
    vi.resetModules();
  });

  it('throws AddonUnavailableError naming the path and the fix', async () => {
    vi.resetModules();
    process.env.TS_VMM_KVM_SYS_ADDON = '/nonexistent/kvm_sys.node';
    const m = await import('./addon.js');
    expect(m.addonPath()).toBe('/nonexistent/kvm_sys.node');
    let err: unknown;
    try {
      m.loadAddon();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(m.AddonUnavailableError);
    expect((err as Error).message).toMatch(
      /not built \(\/nonexistent\/kvm_sys\.node is missing\).*build-addon\.mjs/,
    );
    expect(() => m.loadAddon()).toThrow(m.AddonUnavailableError); // cached, same answer
    expect(m.isAddonAvailable()).toBe(false);
    expect(m.hasKvm()).toBe(false);
  });

  it('reports a file that is not a loadable addon', async () => {
    vi.resetModules();
    process.env.TS_VMM_KVM_SYS_ADDON = new URL(import.meta.url).pathname; // exists, not an addon
    const m = await import('./addon.js');
    expect(() => m.loadAddon()).toThrow(/failed to load .*addon-load\.test\.ts/);
  });
});
