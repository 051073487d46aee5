// Shared by build-addon.mjs (install) and prebuild.mjs (prepack): where the package is, where the
// prebuilt binary goes, and how to run node-gyp.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** binding.gyp's NAPI_VERSION (src/addon-resolve.ts's ADDON_NAPI_VERSION). */
export const NAPI_VERSION = 8;
export const platformKey = `${process.platform}-${process.arch}`;
/** The layout src/addon-resolve.ts looks for. */
export const prebuildDir = join(root, 'prebuilds', platformKey);
export const prebuildFile = join(prebuildDir, 'kvm_sys.node');
export const buildFile = join(root, 'build', 'Release', 'kvm_sys.node');

export const REBUILD_STEP =
  'install a C++ toolchain (g++, make, python3) and run `npm rebuild @ts-vmm/kvm-sys` ' +
  '(pnpm 10: allow and run its build with `pnpm approve-builds`, and once allowed ' +
  '`pnpm rebuild @ts-vmm/kvm-sys`; yarn 2+: `yarn rebuild @ts-vmm/kvm-sys`)';

/** node-gyp: the package manager's (npm sets npm_config_node_gyp), our devDependency, npm's bundled copy, or PATH. */
function nodeGyp() {
  const fromEnv = process.env.npm_config_node_gyp;
  if (fromEnv && existsSync(fromEnv)) return [process.execPath, fromEnv];
  try {
    return [process.execPath, createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')];
  } catch {
    // not installed beside us
  }
  const npmBundled = join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  if (existsSync(npmBundled)) return [process.execPath, npmBundled];
  return ['node-gyp'];
}

/**
 * Runs `node-gyp <command>` in the package root. Returns null on success, else why it failed.
 * @param {string} command 'rebuild' | 'configure' | 'build'
 */
export function runNodeGyp(command) {
  const args = [command];
  // Build against local Node headers when present: no download needed (offline machines).
  if (command !== 'build') {
    const nodedir =
      process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
    if (nodedir) args.push(`--nodedir=${nodedir}`);
  }
  const [cmd, ...pre] = nodeGyp();
  // Its stdout goes to our stderr, so that `npm pack --json` (which runs prepack) prints clean JSON.
  const res = spawnSync(cmd, [...pre, ...args], { cwd: root, stdio: ['inherit', 2, 'inherit'] });
  if (res.error) return `${cmd === 'node-gyp' ? 'node-gyp not found: ' : ''}${res.error.message}`;
  if (res.status !== 0) return `node-gyp ${command} exited with ${res.status ?? res.signal}`;
  return null;
}

/**
 * Loads an addon file in this process and checks it is ours. Returns null when it loads, else why not.
 * @param {string} file
 */
export function tryLoad(file) {
  if (!existsSync(file)) return 'missing';
  try {
    const addon = createRequire(import.meta.url)(file);
    if (typeof addon?.ioctl !== 'function' || typeof addon?.kickThread !== 'function') {
      return 'loaded, but it is not the kvm-sys addon';
    }
    return null;
  } catch (e) {
    return String(e?.message ?? e).split('\n')[0];
  }
}
