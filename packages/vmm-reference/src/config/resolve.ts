/**
 * Merges configuration sources (JSON file, then flags) and applies defaults and cross-field checks.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { VmmError } from '../vmm/errors.js';
import { quote } from './errors.js';
import { parseConfigJson } from './json.js';
import { DEFAULT_CMDLINE, DEFAULT_MEMORY_MIB, type PartialVmmConfig, type VmmConfig } from './types.js';
import { MAX_CMDLINE_LENGTH } from './values.js';

/** Sources for {@link resolveConfig}: later ones override earlier ones field by field. */
export interface ConfigSources {
  /** Settings from a JSON file. */
  file?: PartialVmmConfig;
  /** Settings from flags (override the file). */
  flags?: PartialVmmConfig;
}

/**
 * Applies defaults to the merged sources and checks what single values cannot: duplicate disks or
 * taps, duplicate MACs, the combined command line length.
 *
 * @example
 * ```ts
 * const cfg = resolveConfig({ file: { vcpus: 2, memoryMib: 1024 }, flags: { memoryMib: 256 } });
 * cfg.vcpus; // 2
 * cfg.memoryMib; // 256
 * ```
 */
export function resolveConfig(sources: ConfigSources): VmmConfig {
  const m: PartialVmmConfig = { ...sources.file };
  for (const [k, v] of Object.entries(sources.flags ?? {})) {
    if (v !== undefined) (m as Record<string, unknown>)[k] = v;
  }
  // Appends accumulate: the file's then the flags'.
  const appends = [sources.file?.cmdlineAppend, sources.flags?.cmdlineAppend].filter((s): s is string => !!s);
  const cfg: VmmConfig = {
    kernel: m.kernel,
    initrd: m.initrd,
    cmdline: m.cmdline ?? DEFAULT_CMDLINE,
    cmdlineAppend: appends.join(' '),
    memoryMib: m.memoryMib ?? DEFAULT_MEMORY_MIB,
    vcpus: m.vcpus ?? 1,
    disks: m.disks ?? [],
    net: m.net ?? [],
    vsock: m.vsock,
    console: m.console ?? 'serial',
    backend: m.backend ?? 'auto',
    discovery: m.discovery ?? 'acpi',
    clock: m.clock ?? 'realtime',
  };
  const paths = new Set<string>();
  cfg.disks.forEach((d, i) => {
    if (paths.has(d.path)) throw VmmError.config(`disks[${i}].path`, `${quote(d.path)} is attached twice`);
    paths.add(d.path);
  });
  const taps = new Set<string>();
  const macs = new Set<string>();
  cfg.net.forEach((n, i) => {
    if (taps.has(n.tap)) throw VmmError.config(`net[${i}].tap`, `${quote(n.tap)} is used twice`);
    if (macs.has(n.mac)) throw VmmError.config(`net[${i}].mac`, `${quote(n.mac)} is used twice`);
    taps.add(n.tap);
    macs.add(n.mac);
  });
  const total = `${cfg.cmdline} ${cfg.cmdlineAppend}`.trim().length;
  if (total > MAX_CMDLINE_LENGTH) {
    throw VmmError.config(
      'cmdline',
      `command line and appended parameters are ${total} characters; limit ${MAX_CMDLINE_LENGTH}`,
    );
  }
  return cfg;
}

/**
 * Reads and parses a JSON configuration file.
 * @example const file = loadConfigFile('vm.json');
 */
export function loadConfigFile(path: string): PartialVmmConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw VmmError.config(
      '--config',
      `cannot read ${quote(path)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseConfigJson(text, `--config ${path}`);
}
