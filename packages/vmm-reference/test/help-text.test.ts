/** `ts-vmm run --help` documents every run option and every value of the choice options. */
import { describe, expect, it } from 'vitest';
import { RUN_HELP } from '../src/cli/help.js';
import { splitSnapshotDir } from '../src/cli/snapshot-cli.js';
import { parseRunFlags, RUN_VALUE_FLAGS } from '../src/config/flags.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';

const CHOICES: Record<string, string[]> = {
  '--backend': ['auto', 'kvm', 'emulated'],
  '--console': ['serial', 'virtio', 'none'],
  '--discovery': ['acpi', 'cmdline', 'both'],
  '--clock': ['realtime', 'virtual'],
};

describe('run --help', () => {
  it('lists each option the parser takes, with the values it accepts', () => {
    const documented = [...RUN_HELP.matchAll(/^ {2}(--[a-z-]+)/gm)].map((m) => m[1]);
    expect(documented).toEqual(expect.arrayContaining([...RUN_VALUE_FLAGS]));
    for (const flag of documented) {
      // A flag the parser does not know throws; a known one needs a value (or none, for --help).
      // (--snapshot-dir is the CLI's own, taken out before the config flags are parsed.)
      const argv = splitSnapshotDir([flag, 'x']).argv;
      expect(() => parseRunFlags(argv), flag).not.toThrow(/unknown/i);
      if (argv.length === 0) expect(flag).toBe('--snapshot-dir');
    }
    for (const [flag, values] of Object.entries(CHOICES)) {
      expect(RUN_HELP).toContain(`${flag} ${values.join('|')}`);
      for (const v of values) expect(parseRunFlags([flag, v]).config).toBeDefined();
      expect(() => parseRunFlags([flag, 'bogus'])).toThrow(/bogus/);
    }
  });

  it('gives every exit status the VMM can end with', () => {
    const status = RUN_HELP.slice(RUN_HELP.indexOf('Exit status:')).replace(/\s+/g, ' ');
    for (const [reason, code] of Object.entries(EXIT_CODES))
      expect(status, reason).toMatch(new RegExp(`\\b${code} `));
    expect(status).toContain('141 stdout closed (EPIPE)');
  });

  it('says what --console virtio and --discovery cmdline give the guest', () => {
    expect(RUN_HELP).toContain('console=hvc0');
    expect(RUN_HELP).toContain('virtio_mmio.device=<size>@<addr>:<irq>');
    expect(RUN_HELP).toContain('CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES');
  });
});
