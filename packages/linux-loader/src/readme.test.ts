/**
 * The README's examples are true: every ```ts block is type-checked against the built package
 * (resolved by its own name, as a user's code resolves it) and run with tsx. The examples that
 * read `process.env.KERNEL` get the kernel scripts/fetch-kernel.sh fetches; without one they are
 * only type-checked (and say so). Needs `pnpm build` first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineReadmeExamples, readmeBlocks } from '@ts-vmm/hypervisor/testing';

const pkgDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

function fetchKernel(): string | undefined {
  const r = spawnSync('bash', [path.join(pkgDir, 'scripts', 'fetch-kernel.sh')], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const p = r.stdout.trim().split('\n').pop();
  return r.status === 0 && p && fs.existsSync(p) ? p : undefined;
}

const needsKernel = (code: string) => code.includes('process.env.KERNEL');
const wanted = readmeBlocks(fs.readFileSync(path.join(pkgDir, 'README.md'), 'utf8')).some((b) =>
  needsKernel(b.code),
);
const kernel = wanted ? fetchKernel() : undefined;

await defineReadmeExamples({
  pkgDir,
  minExamples: 5,
  built: ['dist/index.d.ts'],
  timeoutMs: 120_000,
  env: (code) =>
    needsKernel(code) && !kernel
      ? 'no kernel: fetch-kernel.sh failed'
      : { ...process.env, KERNEL: kernel ?? '' },
});
