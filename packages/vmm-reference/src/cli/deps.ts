/**
 * The real {@link CliDeps}: VMs through {@link Vmm}, the default guest through the builder.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../config/resolve.js';
import type { BackendChoice } from '../config/types.js';
import { buildDefaultGuest } from '../guest/builder.js';
import { cachedGuest } from '../guest/cache.js';
import { demoGuest } from '../vmm/demo-guest.js';
import { Vmm } from '../vmm/vmm.js';
import type { CliDeps, CliIo } from './main.js';

function packageVersion(): string {
  try {
    const pj = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    if (pj.version) return pj.version;
  } catch {
    // from src/: one more level up
  }
  try {
    const pj = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pj.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Dependencies that run real VMs. */
export function realDeps(): CliDeps {
  return {
    runVm: async (config, io: CliIo) => {
      const vmm = await Vmm.create(config, { log: (l) => io.err(`ts-vmm: ${l}`) });
      return vmm.run();
    },
    runDemo: async (backend: BackendChoice, io: CliIo) => {
      const config = resolveConfig({ flags: { backend, memoryMib: 16, console: 'serial' } });
      const vmm = await Vmm.create(config, {
        raw: { image: demoGuest() },
        input: null,
        log: (l) => io.err(`ts-vmm: ${l}`),
      });
      return vmm.run();
    },
    buildGuest: (o) => buildDefaultGuest({ force: o.force, log: o.log }),
    cachedGuest: () => cachedGuest(),
    version: packageVersion(),
  };
}
