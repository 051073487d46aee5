// Where the native addon is looked for, in which order, and what the user is told when none loads.
// Pure logic over paths (existence and loading are injected), so tests can drive it with temporary
// directories. Not re-exported from the package: `loadAddon()` and `addonPath()` are the public face.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** File name of the compiled addon (binding.gyp's target name). */
export const ADDON_FILE = 'kvm_sys.node';

/**
 * The Node-API version the addon is compiled against (binding.gyp's `NAPI_VERSION`). Node-API is
 * ABI-stable: one binary loads in every Node release that provides at least this version.
 */
export const ADDON_NAPI_VERSION = 8;

/** Package name, as users type it in the rebuild commands. */
export const PACKAGE_NAME = '@ts-vmm/kvm-sys';

/** What a user of the published package can do when no candidate loads. */
export const REBUILD_STEP =
  'install a C++ toolchain (g++, make, python3) and run `npm rebuild @ts-vmm/kvm-sys` ' +
  '(pnpm 10: allow and run its build with `pnpm approve-builds`, and once allowed ' +
  '`pnpm rebuild @ts-vmm/kvm-sys`; yarn 2+: `yarn rebuild @ts-vmm/kvm-sys`)';

/** One place the addon may be. */
export interface AddonCandidate {
  /**
   * `override`: `$TS_VMM_KVM_SYS_ADDON`; `prebuilt`: shipped in the package for this platform/arch;
   * `source`: built from source by the install script (`build/Release`).
   */
  kind: 'override' | 'prebuilt' | 'source';
  path: string;
}

/** The host facts that decide whether a prebuilt binary applies. */
export interface AddonHost {
  platform: string;
  arch: string;
  /** `process.versions.napi` as a number. */
  napiVersion: number;
}

/** One candidate that did not load, and why. */
export interface AddonAttempt {
  candidate: AddonCandidate;
  reason: string;
  /** The exception, when loading threw. */
  error?: unknown;
}

export interface ResolveOptions {
  /** Package roots to look in, most specific first (duplicates are ignored). */
  roots: readonly string[];
  /** `$TS_VMM_KVM_SYS_ADDON`: when set, the only candidate. */
  override?: string | undefined;
  host: AddonHost;
  /** Loads an addon file (`require`); throws when it cannot. */
  load: (path: string) => unknown;
  /** Existence check (default `fs.existsSync`). */
  exists?: (path: string) => boolean;
}

export type ResolveResult<T> =
  | { ok: true; addon: T; candidate: AddonCandidate; attempts: AddonAttempt[] }
  | { ok: false; attempts: AddonAttempt[] };

/** `<root>/prebuilds/<platform>-<arch>/kvm_sys.node`, the layout the `prepack` script writes. */
export function prebuildPath(root: string, platform: string, arch: string): string {
  return join(root, 'prebuilds', `${platform}-${arch}`, ADDON_FILE);
}

/** `<root>/build/Release/kvm_sys.node`, where node-gyp puts a build from source. */
export function sourceBuildPath(root: string): string {
  return join(root, 'build', 'Release', ADDON_FILE);
}

/**
 * The candidates in the order they are tried: the override alone when set; otherwise, for each
 * root, the prebuilt binary for this platform/arch, then the build from source.
 */
export function addonCandidates(
  roots: readonly string[],
  host: Pick<AddonHost, 'platform' | 'arch'>,
  override?: string,
): AddonCandidate[] {
  if (override) return [{ kind: 'override', path: override }];
  const out: AddonCandidate[] = [];
  for (const root of new Set(roots)) {
    out.push({ kind: 'prebuilt', path: prebuildPath(root, host.platform, host.arch) });
    out.push({ kind: 'source', path: sourceBuildPath(root) });
  }
  return out;
}

/**
 * Tries the candidates in order and returns the first that loads, with the attempts that failed
 * before it; or every attempt when none loads. A prebuilt binary is skipped when this Node's
 * Node-API version is older than {@link ADDON_NAPI_VERSION}.
 */
export function resolveAddon<T>(opts: ResolveOptions): ResolveResult<T> {
  const exists = opts.exists ?? existsSync;
  const attempts: AddonAttempt[] = [];
  for (const candidate of addonCandidates(opts.roots, opts.host, opts.override)) {
    if (!exists(candidate.path)) {
      attempts.push({ candidate, reason: 'missing' });
      continue;
    }
    if (candidate.kind === 'prebuilt' && !(opts.host.napiVersion >= ADDON_NAPI_VERSION)) {
      attempts.push({
        candidate,
        reason: `skipped: built for Node-API ${ADDON_NAPI_VERSION}, this Node has Node-API ${opts.host.napiVersion || 'unknown'}`,
      });
      continue;
    }
    try {
      return { ok: true, addon: opts.load(candidate.path) as T, candidate, attempts };
    } catch (e) {
      attempts.push({ candidate, reason: `failed to load: ${firstLine(e)}`, error: e });
    }
  }
  return { ok: false, attempts };
}

const KIND_LABEL: Record<AddonCandidate['kind'], string> = {
  override: 'TS_VMM_KVM_SYS_ADDON',
  prebuilt: 'prebuilt',
  source: 'built from source',
};

/**
 * The message of the `KvmSysError` (kind `'addon-unavailable'`) for attempts that all failed: each
 * path and why, then the fix.
 */
export function unavailableMessage(attempts: readonly AddonAttempt[]): string {
  const tried = attempts.map((a) => `  - ${a.candidate.path} (${KIND_LABEL[a.candidate.kind]}): ${a.reason}`);
  const override = attempts.find((a) => a.candidate.kind === 'override');
  const fix = override
    ? `point TS_VMM_KVM_SYS_ADDON at a loadable ${ADDON_FILE}, or unset it to use the one in ${PACKAGE_NAME}`
    : REBUILD_STEP;
  return [`${PACKAGE_NAME}: native addon not available. Paths tried:`, ...tried, `To fix: ${fix}.`].join(
    '\n',
  );
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}
