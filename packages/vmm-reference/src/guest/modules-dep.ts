/**
 * Reads a kernel's `modules.dep` and orders the modules needed for a set of targets so that every
 * module comes after the modules it depends on (the order `insmod` needs).
 *
 * @module
 */
import { VmmError } from '../vmm/errors.js';

/** module path (as written in modules.dep, e.g. `kernel/drivers/virtio/virtio_mmio.ko.xz`) -> its dependencies. */
export type ModuleDeps = Map<string, string[]>;

/**
 * Parses `modules.dep` text: lines `path: dep1 dep2 ...`.
 * @example parseModulesDep('a.ko: b.ko\nb.ko:\n') // Map { 'a.ko' => ['b.ko'], 'b.ko' => [] }
 */
export function parseModulesDep(text: string): ModuleDeps {
  const deps: ModuleDeps = new Map();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new VmmError('guest-build', `modules.dep line ${i + 1}: ${JSON.stringify(line)} lacks "path:"`);
    const mod = line.slice(0, colon).trim();
    const rest = line.slice(colon + 1).trim();
    deps.set(mod, rest === '' ? [] : rest.split(/\s+/));
  });
  return deps;
}

/** The module name of a path: `kernel/x/virtio-net.ko.xz` -> `virtio_net` (dashes become underscores). */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|gz|zst))?$/, '').replace(/-/g, '_');
}

/**
 * Resolves module names (or paths) to the ordered list of module paths to load, dependencies
 * first, each once. Names not in modules.dep are reported in `missing` (built-in or absent).
 *
 * @example
 * ```ts
 * const deps = parseModulesDep('k/virtio_blk.ko: k/virtio_ring.ko k/virtio.ko\nk/virtio_ring.ko: k/virtio.ko\nk/virtio.ko:\n');
 * orderModules(deps, ['virtio_blk']).order; // ['k/virtio.ko', 'k/virtio_ring.ko', 'k/virtio_blk.ko']
 * ```
 */
export function orderModules(
  deps: ModuleDeps,
  wanted: readonly string[],
): { order: string[]; missing: string[] } {
  const byName = new Map<string, string>();
  for (const p of deps.keys()) byName.set(moduleName(p), p);
  const order: string[] = [];
  const missing: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (path: string, chain: string[]) => {
    const s = state.get(path);
    if (s === 'done') return;
    if (s === 'visiting') {
      throw new VmmError(
        'guest-build',
        `modules.dep has a dependency cycle: ${[...chain, path].map(moduleName).join(' -> ')}`,
      );
    }
    state.set(path, 'visiting');
    for (const d of deps.get(path) ?? []) {
      if (!deps.has(d))
        throw new VmmError('guest-build', `modules.dep: ${path} depends on ${d}, which has no entry`);
      visit(d, [...chain, path]);
    }
    state.set(path, 'done');
    order.push(path);
  };
  for (const w of wanted) {
    const path = deps.has(w) ? w : byName.get(w.replace(/-/g, '_'));
    if (!path) missing.push(w);
    else visit(path, []);
  }
  return { order, missing };
}
