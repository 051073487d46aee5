/**
 * Where the default guest lives on the host: `$TS_VMM_CACHE`, else `~/.cache/ts-vmm`.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The cache root.
 * @example cacheDir({ TS_VMM_CACHE: '/tmp/c' }) // '/tmp/c'
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TS_VMM_CACHE && env.TS_VMM_CACHE !== '' ? env.TS_VMM_CACHE : join(homedir(), '.cache', 'ts-vmm');
}

/** Bumped whenever the initramfs layout or `/init` changes, so cached guests are rebuilt. */
export const GUEST_FORMAT = 2;

/** What `ts-vmm guest fetch` produced. */
export interface GuestManifest {
  /** {@link GUEST_FORMAT} of the builder that wrote it. */
  format?: number;
  /** The bzImage. */
  kernel: string;
  /** The initramfs (newc cpio). */
  initrd: string;
  kernelVersion: string;
  kernelPackage: string;
  busyboxPackage: string;
  /** Module paths in load order. */
  modules: string[];
  /** Wanted modules that are built into the kernel. */
  builtin: string[];
}

/** Path of the manifest of the default guest. */
export function manifestPath(root = cacheDir()): string {
  return join(root, 'guest', 'guest.json');
}

/**
 * The cached default guest, if it was built and its files are still there.
 * @example const g = cachedGuest(); if (g) console.log(g.kernel, g.initrd);
 */
export function cachedGuest(root = cacheDir()): GuestManifest | undefined {
  const p = manifestPath(root);
  if (!existsSync(p)) return undefined;
  try {
    const m = JSON.parse(readFileSync(p, 'utf8')) as GuestManifest;
    if (
      m.format === GUEST_FORMAT &&
      typeof m.kernel === 'string' &&
      typeof m.initrd === 'string' &&
      existsSync(m.kernel) &&
      existsSync(m.initrd)
    )
      return m;
  } catch {
    // a broken manifest means "not built"
  }
  return undefined;
}
