import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { backendAvailable } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const emulated = (await backendAvailable('emulated')).ok;
if (!emulated) console.log('skipped: ts-vmm process tests (emulated backend not available)');

function tsVmm(args: string[]) {
  return spawnSync(process.execPath, [tsx, cli, ...args], { encoding: 'utf8', timeout: 120_000, input: '' });
}

describe('the ts-vmm process', () => {
  it('--help and bad options', () => {
    const help = tsVmm(['run', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--kernel PATH');
    const bad = tsVmm(['run', '--vcpus', '0']);
    expect(bad.status).toBe(EXIT_CODES.usage);
    expect(bad.stderr).toContain('--vcpus: 0 vCPUs is out of range');
  });

  it.skipIf(!emulated)('demo on the emulated backend prints its greeting and exits 0', () => {
    const r = tsVmm(['demo', '--backend', 'emulated']);
    expect(r.stdout).toContain('Hello from a ts-vmm guest');
    expect(r.stderr).toContain('backend: emulated');
    expect(r.stderr).toContain('guest stopped (poweroff');
    expect(r.status).toBe(0);
  });
});
