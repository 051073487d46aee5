// loadAddon's failure path: a clear KvmSysError ('addon-unavailable'), cached, and isAddonAvailable/hasKvm false.
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('loadAddon when the addon is missing', () => {
  afterEach(() => {
    delete process.env.TS_VMM_KVM_SYS_ADDON;
    vi.resetModules();
  });

  it("throws KvmSysError of kind 'addon-unavailable' naming the path tried and the fix", async () => {
    vi.resetModules();
    process.env.TS_VMM_KVM_SYS_ADDON = '/nonexistent/kvm_sys.node';
    const m = await import('./addon.js');
    const { KvmSysError } = await import('./errors.js');
    expect(m.addonPath()).toBe('/nonexistent/kvm_sys.node');
    let err: unknown;
    try {
      m.loadAddon();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KvmSysError);
    expect(err).toMatchObject({ name: 'KvmSysError', kind: 'addon-unavailable' });
    expect((err as Error).cause).toBeUndefined(); // missing: nothing was loaded
    expect((err as Error).message).toContain('/nonexistent/kvm_sys.node (TS_VMM_KVM_SYS_ADDON): missing');
    expect((err as Error).message).toContain('unset it to use the one in @ts-vmm/kvm-sys');
    expect(() => m.loadAddon()).toThrow(KvmSysError); // cached, same answer
    expect(m.isAddonAvailable()).toBe(false);
    expect(m.hasKvm()).toBe(false);
  });

  it('reports a file that is not a loadable addon', async () => {
    vi.resetModules();
    process.env.TS_VMM_KVM_SYS_ADDON = new URL(import.meta.url).pathname; // exists, not an addon
    const m = await import('./addon.js');
    expect(() => m.loadAddon()).toThrow(/addon-load\.test\.ts \(TS_VMM_KVM_SYS_ADDON\): failed to load: /);
    let err: unknown;
    try {
      m.loadAddon();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'addon-unavailable' });
    expect((err as Error).cause).toBeInstanceOf(Error); // what require() threw
  });

  it('without the override, loads the first candidate present or names each one and the rebuild step', async () => {
    vi.resetModules();
    const m = await import('./addon.js');
    const resolve = await import('./addon-resolve.js');
    if (m.isAddonAvailable()) {
      // Built here: it loaded from the first candidate present, and addonPath() says which.
      expect([
        resolve.prebuildPath(new URL('..', import.meta.url).pathname, process.platform, process.arch),
        resolve.sourceBuildPath(new URL('..', import.meta.url).pathname),
      ]).toContain(m.addonPath());
      return;
    }
    expect(() => m.loadAddon()).toThrow(/prebuilds\/linux-x64\/kvm_sys\.node \(prebuilt\)/);
    expect(() => m.loadAddon()).toThrow(/build\/Release\/kvm_sys\.node \(built from source\)/);
    expect(() => m.loadAddon()).toThrow(/npm rebuild @ts-vmm\/kvm-sys/);
  });
});
