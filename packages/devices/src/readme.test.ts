/**
 * The README's examples are true: every ```ts block is type-checked against the built package
 * (resolved by its own name and subpaths, as a user's code resolves them), and every block that
 * declares nothing it needs from a VMM (no `declare`) is run with tsx. Needs `pnpm build` first.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineReadmeExamples } from '@ts-vmm/hypervisor/testing';

await defineReadmeExamples({
  pkgDir: path.join(path.dirname(fileURLToPath(import.meta.url)), '..'),
  minExamples: 8,
  built: ['dist/index.d.ts', 'dist/node/index.d.ts', 'dist/testing/index.d.ts'],
  noUnusedLocals: true,
  typecheckOnly: (code) => (/^declare /m.test(code) ? 'needs a VMM' : undefined),
});
