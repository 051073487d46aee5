export { CLOCK_CHOICES, parseClock } from './clock.js';
export { parseDiskSpec, parseNetSpec, parseVsockSpec } from './device-specs.js';
export { defaultMacFor, parseRunFlags, type RunFlags } from './flags.js';
export { parseConfigJson, parseConfigObject } from './json.js';
export { MAX_RAM_RANGE, MMIO_HOLE_END, MMIO_HOLE_START, type RamRange, ramLayout } from './memory-layout.js';
export { type ConfigSources, loadConfigFile, resolveConfig } from './resolve.js';
export * from './types.js';
export {
  MAX_CMDLINE_LENGTH,
  parseBackend,
  parseCid,
  parseCmdline,
  parseConsole,
  parseMac,
  parseMemoryMib,
  parsePath,
  parseTapName,
  parseUdsPath,
  parseVcpus,
} from './values.js';
