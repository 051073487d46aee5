/**
 * Documentation examples stay true to the API: every ```ts block of a README and every `@example`
 * of a doc comment is type-checked (strict) against the built packages, so `pnpm test` fails when
 * an example drifts (a renamed method, a placeholder instead of an argument, a missing import).
 * Needs the packages built (`turbo run test` builds first).
 */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkExamples } from './doc-examples/check.js';
import { collectExamples } from './doc-examples/collect.js';

const root = resolve(import.meta.dirname, '..', '..', '..');

describe('documentation examples', () => {
  it('finds the examples of every package (README blocks and @example tags)', () => {
    const all = collectExamples(root);
    const packages = new Set(all.map((e) => e.packageDir));
    expect(packages.size).toBeGreaterThanOrEqual(8);
    expect(all.filter((e) => e.where.includes('README.md')).length).toBeGreaterThan(20);
    expect(all.filter((e) => !e.where.includes('README.md')).length).toBeGreaterThan(400);
  });

  it('type-checks a deliberately wrong example as a failure', () => {
    const dir = join(root, 'packages', 'vm-memory');
    const failures = checkExamples(root, [
      {
        where: 'good',
        packageDir: dir,
        code: 'const m = GuestMemory.createShared([{ start: 0, size: 4096 }]);\nm.read8(0);',
      },
      { where: 'bad', packageDir: dir, code: 'mem.noSuchMethod(1);' },
      { where: 'placeholder', packageDir: dir, code: 'mem.write8(...);' },
    ]);
    expect(failures.map((f) => f.where)).toEqual(['bad', 'placeholder']);
  });

  it('every example type-checks', () => {
    const failures = checkExamples(root, collectExamples(root));
    const report = failures.map((f) => `${f.where}\n  ${f.messages.join('\n  ')}`).join('\n');
    expect(failures.length, `examples that do not type-check:\n${report}`).toBe(0);
  }, 300_000);
});
