// Where loadAddon looks for the addon, in temporary package roots with stand-in files: the prebuilt
// binary first when it matches the host, then the build from source, and an error naming every path
// tried and the rebuild step when none loads. The real addon is never touched here.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADDON_NAPI_VERSION,
  type AddonHost,
  addonCandidates,
  prebuildPath,
  REBUILD_STEP,
  type ResolveOptions,
  resolveAddon,
  sourceBuildPath,
  unavailableMessage,
} from './addon-resolve.js';

const host: AddonHost = { platform: 'linux', arch: 'x64', napiVersion: 9 };

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'kvm-sys-resolve-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function put(path: string, content = 'stand-in'): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

/** A loader that "loads" a stand-in file as { from: path }, and throws for files whose content is 'broken'. */
function load(path: string): unknown {
  if (readFileSync(path, 'utf8') === 'broken') throw new Error(`${path}: invalid ELF header\nsecond line`);
  return { from: path };
}

function resolve(over: Partial<ResolveOptions> = {}) {
  return resolveAddon<{ from: string }>({ roots: [root], host, load, ...over });
}

describe('addon resolution', () => {
  it('prefers the prebuilt binary for this platform/arch over the build from source', () => {
    const pre = put(prebuildPath(root, 'linux', 'x64'));
    put(sourceBuildPath(root));
    expect(pre).toBe(join(root, 'prebuilds', 'linux-x64', 'kvm_sys.node'));
    const r = resolve();
    expect(r.ok && r.addon.from).toBe(pre);
    expect(r.ok && r.candidate.kind).toBe('prebuilt');
  });

  it('falls back to build/Release when there is no prebuilt binary', () => {
    const built = put(sourceBuildPath(root));
    expect(built).toBe(join(root, 'build', 'Release', 'kvm_sys.node'));
    const r = resolve();
    expect(r.ok && r.addon.from).toBe(built);
    expect(r.attempts.map((a) => [a.candidate.kind, a.reason])).toEqual([['prebuilt', 'missing']]);
  });

  it('falls back to build/Release when the prebuilt binary does not load', () => {
    put(prebuildPath(root, 'linux', 'x64'), 'broken');
    const built = put(sourceBuildPath(root));
    const r = resolve();
    expect(r.ok && r.addon.from).toBe(built);
    expect(r.attempts[0]?.reason).toMatch(/^failed to load: .*invalid ELF header$/); // first line only
    expect(r.attempts[0]?.error).toBeInstanceOf(Error);
  });

  it('only considers the prebuilt directory of this platform/arch', () => {
    put(prebuildPath(root, 'linux', 'x64'));
    const built = put(sourceBuildPath(root));
    const r = resolve({ host: { ...host, arch: 'arm64' } });
    expect(r.ok && r.addon.from).toBe(built);
    expect(r.attempts[0]?.candidate.path).toBe(join(root, 'prebuilds', 'linux-arm64', 'kvm_sys.node'));
  });

  it('skips the prebuilt binary on a Node older than its Node-API version', () => {
    put(prebuildPath(root, 'linux', 'x64'));
    const built = put(sourceBuildPath(root));
    const r = resolve({ host: { ...host, napiVersion: ADDON_NAPI_VERSION - 1 } });
    expect(r.ok && r.addon.from).toBe(built);
    expect(r.attempts[0]?.reason).toBe(
      `skipped: built for Node-API ${ADDON_NAPI_VERSION}, this Node has Node-API ${ADDON_NAPI_VERSION - 1}`,
    );
  });

  it('tries each root in order, prebuilt then source, without duplicates', () => {
    const other = join(root, 'other');
    expect(addonCandidates([root, other, root], host)).toEqual([
      { kind: 'prebuilt', path: prebuildPath(root, 'linux', 'x64') },
      { kind: 'source', path: sourceBuildPath(root) },
      { kind: 'prebuilt', path: prebuildPath(other, 'linux', 'x64') },
      { kind: 'source', path: sourceBuildPath(other) },
    ]);
    const built = put(sourceBuildPath(other));
    const r = resolve({ roots: [root, other] });
    expect(r.ok && r.addon.from).toBe(built);
    expect(r.attempts).toHaveLength(3);
  });

  it('with an override, tries that path alone', () => {
    put(prebuildPath(root, 'linux', 'x64'));
    const custom = put(join(root, 'custom', 'kvm_sys.node'));
    const r = resolve({ override: custom });
    expect(r.ok && r.addon.from).toBe(custom);
    const missing = resolve({ override: join(root, 'nope.node') });
    expect(missing.ok).toBe(false);
    expect(missing.attempts.map((a) => a.candidate.kind)).toEqual(['override']);
  });

  it('when nothing loads, the message names every path tried, why, and the rebuild step', () => {
    put(prebuildPath(root, 'linux', 'x64'), 'broken');
    const r = resolve();
    expect(r.ok).toBe(false);
    const msg = unavailableMessage(r.attempts);
    expect(msg).toContain(`${prebuildPath(root, 'linux', 'x64')} (prebuilt): failed to load: `);
    expect(msg).toContain(`${sourceBuildPath(root)} (built from source): missing`);
    expect(msg).toContain('npm rebuild @ts-vmm/kvm-sys');
    expect(msg).toContain('pnpm rebuild @ts-vmm/kvm-sys');
    expect(msg).toContain('pnpm approve-builds');
    expect(msg).toContain('g++, make, python3');
    expect(msg).not.toMatch(/packages\/kvm-sys|scripts\/build-addon/); // nothing only this repository has
  });

  it('a failed override says to fix or unset TS_VMM_KVM_SYS_ADDON', () => {
    const r = resolve({ override: join(root, 'nope.node') });
    const msg = unavailableMessage(r.attempts);
    expect(msg).toContain(`${join(root, 'nope.node')} (TS_VMM_KVM_SYS_ADDON): missing`);
    expect(msg).toMatch(/point TS_VMM_KVM_SYS_ADDON at a loadable kvm_sys\.node, or unset it/);
  });
});

describe('constants shared with binding.gyp and the scripts', () => {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

  it('ADDON_NAPI_VERSION is binding.gyp NAPI_VERSION and the scripts agree', async () => {
    const gyp = readFileSync(join(pkg, 'binding.gyp'), 'utf8');
    expect(gyp).toContain(`"NAPI_VERSION=${ADDON_NAPI_VERSION}"`);
    const scripts = await import(join(pkg, 'scripts', 'node-gyp.mjs'));
    expect(scripts.NAPI_VERSION).toBe(ADDON_NAPI_VERSION);
    expect(scripts.REBUILD_STEP).toBe(REBUILD_STEP);
    expect(scripts.prebuildFile).toBe(prebuildPath(pkg, process.platform, process.arch));
    expect(scripts.buildFile).toBe(sourceBuildPath(pkg));
  });
});
