/**
 * Access to the `@ts-vmm/kvm-sys` native addon, loaded lazily so that importing this package works
 * on hosts without the addon or KVM; only opening KVM fails there.
 *
 * @module
 */
import { isAddonAvailable, loadAddon, type NativeAddon } from '@ts-vmm/kvm-sys';

export type { NativeAddon };

/**
 * The kvm-sys addon (throws kvm-sys's `KvmSysError`, kind `'addon-unavailable'`, with the reason when it
 * cannot load).
 * @example loadNativeAddon().eventfd(0, 0)
 */
export function loadNativeAddon(): NativeAddon {
  return loadAddon();
}

/**
 * True when the addon loads on this host.
 * @example const sys = isNativeAddonAvailable() ? loadNativeAddon() : undefined;
 */
export function isNativeAddonAvailable(): boolean {
  return isAddonAvailable();
}
