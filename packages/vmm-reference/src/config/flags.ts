/**
 * Parses the `ts-vmm run` flags into a partial configuration (no defaults applied).
 *
 * @module
 */

import { VmmError } from '../vmm/errors.js';
import { parseClock } from './clock.js';
import { parseDiskSpec, parseNetSpec, parseVsockSpec } from './device-specs.js';
import { quote } from './errors.js';
import { DEFAULT_MAC, type NetConfig, type PartialVmmConfig } from './types.js';
import {
  parseBackend,
  parseCmdline,
  parseConsole,
  parseDiscovery,
  parseMemoryMib,
  parsePath,
  parseVcpus,
} from './values.js';

/** What `parseRunFlags` found: the settings, the `--config` file if any, and whether help was asked. */
export interface RunFlags {
  config: PartialVmmConfig;
  configFile: string | undefined;
  help: boolean;
}

/** The `run` options that take a value (every run option but `--help`). */
export const RUN_VALUE_FLAGS: ReadonlySet<string> = new Set([
  '--kernel',
  '--initrd',
  '--cmdline',
  '--append',
  '--memory',
  '--vcpus',
  '--disk',
  '--net',
  '--vsock',
  '--backend',
  '--console',
  '--discovery',
  '--clock',
  '--config',
]);

/** Derives the MAC of the n-th interface from the default (last octet + n). */
export function defaultMacFor(index: number): string {
  const last = (0x02 + index) & 0xff;
  return `${DEFAULT_MAC.slice(0, 15)}${last.toString(16).padStart(2, '0')}`;
}

/**
 * Parses `run` flags. Accepts `--flag value` and `--flag=value`; `--disk` and `--net` repeat.
 *
 * @example
 * ```ts
 * const { config } = parseRunFlags(['--kernel', 'bzImage', '--memory=256', '--disk', 'root.img,ro']);
 * config.disks; // [{ path: 'root.img', readOnly: true }]
 * ```
 */
export function parseRunFlags(argv: readonly string[]): RunFlags {
  const config: PartialVmmConfig = {};
  let configFile: string | undefined;
  let help = false;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (typeof arg !== 'string') throw VmmError.config('arguments', `${quote(arg)} is not a string`);
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    let name = arg;
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 2) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    if (!RUN_VALUE_FLAGS.has(name)) {
      throw VmmError.config(name.startsWith('-') ? name : 'arguments', `unknown argument ${quote(arg)}`);
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw VmmError.config(name, 'needs a value');
      value = argv[++i];
    }
    const repeatable = name === '--disk' || name === '--net' || name === '--append';
    if (!repeatable && seen.has(name)) throw VmmError.config(name, 'given more than once');
    seen.add(name);
    switch (name) {
      case '--kernel':
        config.kernel = parsePath(value, name);
        break;
      case '--initrd':
        config.initrd = parsePath(value, name);
        break;
      case '--cmdline':
        config.cmdline = parseCmdline(value, name);
        break;
      case '--append': {
        const add = parseCmdline(value, name);
        config.cmdlineAppend = config.cmdlineAppend ? `${config.cmdlineAppend} ${add}` : add;
        break;
      }
      case '--memory':
        config.memoryMib = parseMemoryMib(value, name);
        break;
      case '--vcpus':
        config.vcpus = parseVcpus(value, name);
        break;
      case '--disk':
        config.disks = [...(config.disks ?? []), parseDiskSpec(value, name)];
        break;
      case '--net': {
        const list: NetConfig[] = config.net ?? [];
        list.push(parseNetSpec(value, defaultMacFor(list.length), name));
        config.net = list;
        break;
      }
      case '--vsock':
        config.vsock = parseVsockSpec(value, name);
        break;
      case '--backend':
        config.backend = parseBackend(value, name);
        break;
      case '--console':
        config.console = parseConsole(value, name);
        break;
      case '--discovery':
        config.discovery = parseDiscovery(value, name);
        break;
      case '--clock':
        config.clock = parseClock(value, name);
        break;
      case '--config':
        configFile = parsePath(value, name);
        break;
    }
  }
  return { config, configFile, help };
}
