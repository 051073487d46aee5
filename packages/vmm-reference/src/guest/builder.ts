/**
 * Builds the default guest from Debian packages: the cloud kernel (through linux-loader's
 * `scripts/fetch-kernel.sh` when present, else the same steps here), busybox-static, and an
 * initramfs written by {@link writeCpio} holding busybox, the virtio modules in dependency order,
 * and {@link initScript} as `/init`. Everything lands in the cache ({@link cacheDir}); nothing is
 * downloaded from anywhere but the host's apt sources.
 *
 * @module
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { VmmError } from '../vmm/errors.js';
import { cacheDir, cachedGuest, GUEST_FORMAT, type GuestManifest, manifestPath } from './cache.js';
import { type CpioEntry, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from './cpio.js';
import { initScript } from './init-script.js';
import { moduleDepends } from './modinfo.js';
import { moduleName, orderModules, parseModulesDep } from './modules-dep.js';

/** The modules the default guest loads (with their dependencies). */
export const DEFAULT_GUEST_MODULES = [
  'virtio_mmio',
  'virtio_blk',
  'virtio_net',
  'virtio_console',
  'virtio_rng',
  'vmw_vsock_virtio_transport',
] as const;

/** Options for {@link buildDefaultGuest}. */
export interface GuestBuildOptions {
  /** Cache root (default {@link cacheDir}). */
  cacheRoot?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Rebuild the initramfs even when a cached guest exists. */
  force?: boolean;
  /** Modules to include instead of {@link DEFAULT_GUEST_MODULES}. */
  modules?: readonly string[];
}

const KERNEL_META = 'linux-image-cloud-amd64';
const BUSYBOX = 'busybox-static';
/** Applets linked when `busybox --list-full` cannot run on the host. */
const FALLBACK_APPLETS = [
  'bin/sh',
  'bin/ash',
  'bin/mount',
  'bin/umount',
  'bin/mkdir',
  'bin/mknod',
  'bin/cat',
  'bin/echo',
  'bin/ls',
  'bin/sed',
  'bin/grep',
  'bin/sleep',
  'bin/sync',
  'bin/dmesg',
  'bin/base64',
  'bin/uname',
  'bin/ps',
  'bin/dd',
  'sbin/insmod',
  'sbin/modprobe',
  'sbin/lsmod',
  'sbin/poweroff',
  'sbin/reboot',
  'sbin/halt',
  'sbin/devmem',
  'sbin/ifconfig',
  'sbin/ip',
  'usr/bin/setsid',
  'bin/cttyhack',
  'usr/bin/head',
  'usr/bin/tail',
  'usr/bin/wc',
  'usr/bin/id',
  'usr/bin/hexdump',
  'usr/bin/xxd',
];

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new VmmError('guest-build', `${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function aptUpdate(log: (l: string) => void): void {
  if (!isRoot())
    throw new VmmError('guest-build', 'apt-get update is needed but this is not root; run it as root first');
  log('guest: running apt-get update');
  const r = run('apt-get', ['update', '-qq']);
  if (r.status !== 0) throw new VmmError('guest-build', `apt-get update failed: ${r.stderr.trim()}`);
}

/** Resolves `linux-image-cloud-amd64` to the versioned package it depends on. */
function resolveKernelPackage(log: (l: string) => void): string {
  const look = () => {
    const r = run('apt-cache', ['depends', KERNEL_META]);
    return /Depends: (linux-image-\S+)/.exec(r.stdout ?? '')?.[1];
  };
  let pkg = look();
  if (!pkg) {
    aptUpdate(log);
    pkg = look();
  }
  if (!pkg)
    throw new VmmError('guest-build', `apt cannot resolve ${KERNEL_META} to a versioned linux-image package`);
  return pkg;
}

/** `apt-get download` + `dpkg-deb -x` of one package into `<dir>/root`; cached. */
function fetchDeb(pkg: string, dir: string, log: (l: string) => void): string {
  const root = join(dir, 'root');
  if (existsSync(join(dir, '.extracted'))) return root;
  mkdirSync(dir, { recursive: true });
  let deb = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) {
    log(`guest: downloading ${pkg} (apt-get download)`);
    let r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
    if (r.status !== 0) {
      aptUpdate(log);
      r = run('apt-get', ['download', '-q', pkg], { cwd: dir });
      if (r.status !== 0)
        throw new VmmError('guest-build', `apt-get download ${pkg} failed: ${r.stderr.trim()}`);
    }
    deb = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new VmmError('guest-build', `apt-get download ${pkg} left no .deb in ${dir}`);
  }
  log(`guest: extracting ${deb} (dpkg-deb -x)`);
  rmSync(`${root}.tmp`, { recursive: true, force: true });
  const r = run('dpkg-deb', ['-x', join(dir, deb), `${root}.tmp`]);
  if (r.status !== 0) throw new VmmError('guest-build', `dpkg-deb -x ${deb} failed: ${r.stderr.trim()}`);
  rmSync(root, { recursive: true, force: true });
  renameSync(`${root}.tmp`, root);
  writeFileSync(join(dir, '.extracted'), deb);
  return root;
}

/** The package root of vmm-reference (works from src/ and dist/). */
function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const pj = join(d, 'package.json');
    if (existsSync(pj) && readFileSync(pj, 'utf8').includes('"@ts-vmm/vmm-reference"')) return d;
    d = dirname(d);
  }
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

/** linux-loader's fetch script, if that package ships one. */
export function findFetchKernelScript(): string | undefined {
  const p = join(packageRoot(), 'node_modules', '@ts-vmm', 'linux-loader', 'scripts', 'fetch-kernel.sh');
  return existsSync(p) ? p : undefined;
}

/** Fetches the cloud kernel; returns the vmlinuz path. */
export function fetchKernel(root: string, log: (l: string) => void): string {
  const script = findFetchKernelScript();
  if (script) {
    log(`guest: fetching the kernel with ${script}`);
    const r = spawnSync('bash', [script], {
      env: { ...process.env, TS_VMM_CACHE: root },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const line of (r.stderr ?? '').split('\n')) if (line.trim()) log(`guest: ${line.trim()}`);
    const path = (r.stdout ?? '').trim().split('\n').pop() ?? '';
    if (r.status === 0 && path && existsSync(path)) return path;
    log(`guest: fetch-kernel.sh failed (status ${r.status}); fetching it here`);
  }
  const pkg = resolveKernelPackage(log);
  const kroot = fetchDeb(pkg, join(root, 'kernel', pkg), log);
  const vmlinuz = readdirSync(join(kroot, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new VmmError('guest-build', `${pkg} has no boot/vmlinuz-*`);
  return join(kroot, 'boot', vmlinuz);
}

function walk(dir: string, rel: string, out: Map<string, string>): void {
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) walk(dir, r, out);
    else if (/\.ko(\.(xz|gz|zst))?$/.test(e.name)) out.set(moduleName(e.name), r);
  }
}

/**
 * The `modules.dep` text for a module tree: the shipped one if present, else one built from the
 * `.modinfo` of the wanted modules and their dependencies.
 */
export function modulesDepFor(modDir: string, wanted: readonly string[]): string {
  const shipped = join(modDir, 'modules.dep');
  if (existsSync(shipped)) return readFileSync(shipped, 'utf8');
  const byName = new Map<string, string>();
  walk(modDir, '', byName);
  const lines: string[] = [];
  const seen = new Set<string>();
  const queue = wanted.map((w) => w.replace(/-/g, '_'));
  while (queue.length) {
    const name = queue.shift()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const path = byName.get(name);
    if (!path) continue;
    const deps = moduleDepends(readModule(join(modDir, path)), path);
    for (const d of deps)
      if (!byName.has(d))
        throw new VmmError('guest-build', `${path} depends on ${d}, which is not in ${modDir}`);
    lines.push(`${path}: ${deps.map((d) => byName.get(d)).join(' ')}`.trimEnd());
    queue.push(...deps);
  }
  return `${lines.join('\n')}\n`;
}

/** A module's bytes, decompressed (busybox insmod hands the image to init_module, which wants plain ELF). */
function readModule(path: string): Uint8Array {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.gz')) return gunzipSync(readFileSync(path));
  const tool = path.endsWith('.xz') ? 'xz' : 'zstd';
  try {
    return execFileSync(tool, ['-dc', path], { maxBuffer: 256 << 20 });
  } catch (e) {
    throw new VmmError('guest-build', `cannot decompress ${path} with ${tool}: ${(e as Error).message}`);
  }
}

function busyboxApplets(busybox: string): string[] {
  const r = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim())
    return r.stdout
      .trim()
      .split('\n')
      .filter((l) => /^[\w/.-]+$/.test(l));
  return FALLBACK_APPLETS;
}

/**
 * Assembles the initramfs members.
 *
 * @example
 * ```ts
 * const entries = initramfsEntries({ busybox: bb, applets: ['bin/sh'], kernelVersion: v, modDir, modules: order });
 * writeFileSync('initrd.cpio', writeCpio(entries));
 * ```
 */
export function initramfsEntries(opts: {
  busybox: Uint8Array;
  applets: readonly string[];
  kernelVersion: string;
  modDir: string;
  modules: readonly string[];
  modulesDep?: string;
}): CpioEntry[] {
  const enc = new TextEncoder();
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const dir = (d: string) => {
    if (!d || d === '.' || dirs.has(d)) return;
    dir(dirname(d) === '.' ? '' : dirname(d));
    dirs.add(d);
    entries.push({ name: d, mode: S_IFDIR | 0o755 });
  };
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'dev', 'proc', 'sys', 'tmp', 'run', 'etc', 'root'])
    dir(d);
  entries.push({ name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 });
  entries.push({ name: 'dev/null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 });
  entries.push({ name: 'bin/busybox', mode: S_IFREG | 0o755, data: opts.busybox });
  for (const a of opts.applets) {
    const name = a.replace(/^\/+/, '');
    if (name === 'bin/busybox' || name === 'init' || name === 'linuxrc') continue;
    dir(dirname(name));
    entries.push({ name, mode: S_IFLNK | 0o777, data: enc.encode('/bin/busybox') });
  }
  const base = `lib/modules/${opts.kernelVersion}`;
  for (const m of opts.modules) {
    const plain = m.replace(/\.(xz|gz|zst)$/, '');
    dir(dirname(`${base}/${plain}`));
    entries.push({ name: `${base}/${plain}`, mode: S_IFREG | 0o644, data: readModule(join(opts.modDir, m)) });
  }
  if (opts.modulesDep !== undefined) {
    dir(base);
    entries.push({ name: `${base}/modules.dep`, mode: S_IFREG | 0o644, data: enc.encode(opts.modulesDep) });
  }
  const loadOrder = opts.modules.map((m) => m.replace(/\.(xz|gz|zst)$/, ''));
  entries.push({
    name: 'init',
    mode: S_IFREG | 0o755,
    data: enc.encode(initScript(opts.kernelVersion, loadOrder)),
  });
  return entries;
}

/**
 * Builds (or returns the cached) default guest.
 *
 * @example
 * ```ts
 * const guest = await buildDefaultGuest({ log: console.log });
 * // ts-vmm run --kernel guest.kernel --initrd guest.initrd
 * ```
 */
export async function buildDefaultGuest(options: GuestBuildOptions = {}): Promise<GuestManifest> {
  const root = options.cacheRoot ?? cacheDir();
  const log = options.log ?? (() => {});
  const mpath = manifestPath(root);
  if (!options.force) {
    const cached = cachedGuest(root);
    if (cached) {
      log(`guest: cached in ${dirname(mpath)}`);
      return cached;
    }
  }
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb']) {
    if (run('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new VmmError('guest-build', `${tool} not found: the default guest is built from Debian packages`);
    }
  }
  mkdirSync(root, { recursive: true });
  const vmlinuz = fetchKernel(root, log);
  const kernelVersion = basename(vmlinuz).replace(/^vmlinuz-/, '');
  const kroot = dirname(dirname(vmlinuz));
  const kernelPackage = basename(dirname(kroot));
  const bbRoot = fetchDeb(BUSYBOX, join(root, 'busybox'), log);
  const busyboxPath = join(bbRoot, 'bin', 'busybox');
  if (!existsSync(busyboxPath)) throw new VmmError('guest-build', `${BUSYBOX} has no bin/busybox`);
  const modDir = join(kroot, 'lib', 'modules', kernelVersion);
  if (!existsSync(modDir)) throw new VmmError('guest-build', `the kernel package has no ${modDir}`);
  const wanted = options.modules ?? DEFAULT_GUEST_MODULES;
  log(`guest: ordering ${wanted.length} modules and their dependencies`);
  const depText = modulesDepFor(modDir, wanted);
  const { order, missing } = orderModules(parseModulesDep(depText), wanted);
  const builtinText = existsSync(join(modDir, 'modules.builtin'))
    ? readFileSync(join(modDir, 'modules.builtin'), 'utf8')
    : '';
  const builtinNames = new Set(builtinText.split('\n').filter(Boolean).map(moduleName));
  const builtin = missing.filter((m) => builtinNames.has(m.replace(/-/g, '_')));
  const absent = missing.filter((m) => !builtinNames.has(m.replace(/-/g, '_')));
  if (absent.length)
    throw new VmmError(
      'guest-build',
      `the kernel has neither modules nor built-ins for: ${absent.join(', ')}`,
    );
  log(`guest: modules in load order: ${order.map(moduleName).join(' ')}`);
  const entries = initramfsEntries({
    busybox: readFileSync(busyboxPath),
    applets: busyboxApplets(busyboxPath),
    kernelVersion,
    modDir,
    modules: order,
    modulesDep: depText,
  });
  const cpio = writeCpio(entries);
  const gdir = join(root, 'guest');
  mkdirSync(gdir, { recursive: true });
  const initrd = join(gdir, `initramfs-${kernelVersion}.cpio`);
  writeFileSync(`${initrd}.tmp`, cpio);
  renameSync(`${initrd}.tmp`, initrd);
  log(`guest: wrote ${initrd} (${(statSync(initrd).size / 1024).toFixed(0)} KiB, ${entries.length} members)`);
  const manifest: GuestManifest = {
    format: GUEST_FORMAT,
    kernel: vmlinuz,
    initrd,
    kernelVersion,
    kernelPackage,
    busyboxPackage: BUSYBOX,
    modules: order,
    builtin,
  };
  writeFileSync(mpath, `${JSON.stringify(manifest, null, 2)}\n`);
  log(`guest: ready: kernel ${vmlinuz}`);
  return manifest;
}
