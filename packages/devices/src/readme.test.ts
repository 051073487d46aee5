/**
 * The README's examples are true: every ```ts block is type-checked (strict, against the built
 * package, resolved by its own name and subpaths as a user's code resolves them) and every block
 * that declares nothing it needs from a VMM (no `declare`) is run with tsx. Needs `pnpm build`
 * first.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => path.join(pkg, '..', '..', 'node_modules', '.bin', name);
// Inside the package (so that `@ts-vmm/devices` resolves to it by name), ignored by git.
const dir = path.join(pkg, '.cache', 'readme');

function blocks(markdown: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i])) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    out.push({ line: i + 2, code: lines.slice(i + 1, j).join('\n') });
    i = j;
  }
  return out;
}

const examples = blocks(fs.readFileSync(path.join(pkg, 'README.md'), 'utf8'));
const built = ['index', 'node/index', 'testing/index'].every((e) =>
  fs.existsSync(path.join(pkg, 'dist', `${e}.d.ts`)),
);
if (!built) console.log('skipped: README examples (run pnpm build first)');

describe.skipIf(!built)('README examples', () => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const files = examples.map((b, i) => {
    const f = path.join(dir, `example-${i + 1}.ts`);
    fs.writeFileSync(f, `${b.code}\nexport {};\n`);
    return { ...b, file: f };
  });
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: path.join(pkg, '..', '..', 'tsconfig.base.json'),
      compilerOptions: { noEmit: true, rootDir: '.', noUnusedLocals: true },
      include: ['*.ts'],
    }),
  );

  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
  });

  it('type-check against the built package', () => {
    const r = spawnSync(bin('tsc'), ['-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', cwd: dir });
    const where = (out: string) =>
      out.replace(
        /example-(\d+)\.ts\((\d+),/g,
        (_, n, l) => `README.md:${files[Number(n) - 1].line + Number(l) - 1} (`,
      );
    expect(where(r.stdout + r.stderr)).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  for (const [i, b] of examples.entries()) {
    if (/^declare /m.test(b.code)) continue; // needs a VMM: type-checked only
    it(`runs the example at README.md:${b.line}`, () => {
      const r = spawnSync(bin('tsx'), [files[i].file], { encoding: 'utf8', cwd: dir, timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }, 90_000);
  }
});
