/**
 * `pnpm --filter @ts-vmm/x86-emulator difftest --count 10000000 [--seed N] [--per-case N] [--jit-threshold N] [--js-jit]`
 * (or DIFFTEST_COUNT / DIFFTEST_SEED in the environment).
 */
import { diffOne, hasKvm, minimize, runDifftest } from './runner.js';

function arg(name: string, env: string, dflt: number): number {
  const k = process.argv.indexOf(`--${name}`);
  if (k >= 0 && process.argv[k + 1] !== undefined) return Number(process.argv[k + 1]);
  if (process.env[env] !== undefined) return Number(process.env[env]);
  return dflt;
}

if (!hasKvm()) {
  console.log('skipped: /dev/kvm not available');
  process.exit(0);
}
const count = arg('count', 'DIFFTEST_COUNT', 100_000);
const seed = arg('seed', 'DIFFTEST_SEED', 1);
const perCase = arg('per-case', 'DIFFTEST_PER_CASE', 60);
const jitThreshold = arg('jit-threshold', 'DIFFTEST_JIT_THRESHOLD', 0);
const t0 = performance.now();
const r = runDifftest({
  count,
  seed,
  perCase,
  jitThreshold,
  compat: process.argv.includes('--compat'),
  jit: process.argv.includes('--js-jit') ? 'js' : 'wasm',
  log: (l) => process.stderr.write(`${l}\r`),
});
process.stderr.write('\n');
const shrink = process.argv.includes('--minimize');
for (const [n, m] of r.mismatches.entries()) {
  if (shrink && n >= 4) break;
  if (shrink) {
    const small = minimize(m.gen);
    console.log(`--- case ${m.index} (minimized)\n${small.asm}\n  ${diffOne(small).join('\n  ')}`);
  } else console.log(`--- case ${m.index}\n${m.asm}\n  ${m.diffs.join('\n  ')}`);
}
console.log(
  `difftest: ${r.instructions} instructions in ${r.cases} cases (${r.exceptions} ending in exceptions), ` +
    `${r.mismatches.length} mismatching cases; kvm ${r.kvmMs.toFixed(0)} ms, emulator ${r.emuMs.toFixed(0)} ms, ` +
    `total ${(performance.now() - t0).toFixed(0)} ms`,
);
process.exitCode = r.mismatches.length === 0 ? 0 : 1;
