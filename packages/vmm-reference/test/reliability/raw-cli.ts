/**
 * The `ts-vmm` process (src/cli.ts: `runProcess` with the real dependencies), except that `run`
 * boots the raw 64-bit image named by TS_VMM_RAW_IMAGE (at CPL3; at CPL0 with TS_VMM_RAW_CPL0=1)
 * instead of a Linux kernel:
 * reliability tests drive the real process around small guests with it.
 *
 *   tsx test/reliability/raw-cli.ts run --backend kvm --memory 16 [--vsock ...]
 */
import { readFileSync } from 'node:fs';
import { realDeps } from '../../src/cli/deps.js';
import { runProcess } from '../../src/cli/process.js';
import { Vmm } from '../../src/vmm/vmm.js';

const imagePath = process.env.TS_VMM_RAW_IMAGE;
if (!imagePath) throw new Error('TS_VMM_RAW_IMAGE is not set');
const image = new Uint8Array(readFileSync(imagePath));
const argv = process.argv.slice(2);
// A kernel path only so that `run` does not look for the default guest; the raw image replaces it.
if (argv[0] === 'run' && !argv.includes('--kernel')) argv.push('--kernel', imagePath);

await runProcess(argv, {
  ...realDeps(),
  runVm: async (config, io) => {
    const vmm = await Vmm.create(config, {
      raw: { image, cpl3: process.env.TS_VMM_RAW_CPL0 !== '1' },
      log: (l) => io.err(`ts-vmm: ${l}`),
    });
    return vmm.run();
  },
});
