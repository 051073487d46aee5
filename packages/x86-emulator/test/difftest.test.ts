import { describe, expect, it } from 'vitest';
import { hasAssembler } from './assemble.js';
import { hasKvm, runDifftest } from './difftest/runner.js';

const kvm = hasKvm() && hasAssembler();
if (!kvm) console.log('skipped: /dev/kvm not available (or GNU as missing): differential tests against KVM');

describe.skipIf(!kvm)('differential test against KVM (CPL3, 64-bit)', () => {
  it('matches silicon on 100,000 generated instructions (fixed seed)', () => {
    const r = runDifftest({ count: 100_000, seed: 1, perCase: 60 });
    const report = r.mismatches
      .map((m) => `case ${m.index}:\n${m.asm}\n  ${m.diffs.join('\n  ')}`)
      .join('\n');
    expect(report).toBe('');
    expect(r.instructions).toBeGreaterThanOrEqual(100_000);
    expect(r.exceptions).toBeGreaterThan(0);
  }, 120_000);

  it.each(['wasm', 'js'] as const)(
    'matches silicon on short sequences through the %s block compiler (every block compiled)',
    (jit) => {
      const r = runDifftest({ count: 20_000, seed: 2, perCase: 6, jitThreshold: 0, jit });
      const report = r.mismatches
        .map((m) => `case ${m.index}:\n${m.asm}\n  ${m.diffs.join('\n  ')}`)
        .join('\n');
      expect(report).toBe('');
    },
    120_000,
  );

  it('matches silicon in 32-bit compatibility mode (legacy-only encodings such as INC r32, PUSHAD)', () => {
    const r = runDifftest({ count: 20_000, seed: 3, perCase: 10, compat: true });
    const report = r.mismatches
      .map((m) => `case ${m.index}:\n${m.asm}\n  ${m.diffs.join('\n  ')}`)
      .join('\n');
    expect(report).toBe('');
  }, 120_000);
});
