/**
 * A package README's examples are true: {@link defineReadmeExamples} type-checks every ```ts block
 * (strict, against the package as built, resolved by its own name and subpaths as a user's code
 * resolves them) and runs with tsx each block it is not told to leave out. Node only; uses vitest
 * (an optional peer dependency), imported when the function is called.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** What {@link defineReadmeExamples} checks in one package. */
export interface ReadmeExampleOptions {
  /** The package directory (holding README.md, dist/ and, two levels up, the workspace's node_modules/.bin). */
  pkgDir: string;
  /** At least this many ```ts blocks (a README that lost its examples fails). */
  minExamples: number;
  /** Built files that must exist (relative to the package, e.g. 'dist/index.d.ts'); else the tests skip, saying so. */
  built: string[];
  /** Type-check with noUnusedLocals too. */
  noUnusedLocals?: boolean;
  /** Why a block is only type-checked, not run (undefined: run it). */
  typecheckOnly?: (code: string) => string | undefined;
  /** The environment a block runs with, or a string saying why it cannot run here (it is then skipped, saying so). */
  env?: (code: string) => NodeJS.ProcessEnv | string;
  /** Time a block may run (ms), default 60,000. */
  timeoutMs?: number;
}

/** ```ts fenced blocks of a markdown text, with the line each block's code starts on. */
export function readmeBlocks(markdown: string): { line: number; code: string }[] {
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

/**
 * Defines (in the calling vitest file, which awaits it) the README example tests of a package:
 * that it has examples, that they type-check against the built package (errors are reported at
 * their README line), and that each runnable one exits 0 with output and nothing on stderr. The
 * examples are written to `<pkgDir>/.cache/readme` (inside the package, so its own name resolves).
 *
 * @example
 * ```ts
 * // src/readme.test.ts
 * import path from 'node:path';
 * import { fileURLToPath } from 'node:url';
 * import { defineReadmeExamples } from '@ts-vmm/hypervisor/testing';
 *
 * await defineReadmeExamples({
 *   pkgDir: path.join(path.dirname(fileURLToPath(import.meta.url)), '..'),
 *   minExamples: 5,
 *   built: ['dist/index.d.ts'],
 * });
 * ```
 */
export async function defineReadmeExamples(o: ReadmeExampleOptions): Promise<void> {
  const { describe, expect, it } = await import('vitest');
  const bin = (name: string) => path.join(o.pkgDir, '..', '..', 'node_modules', '.bin', name);
  const dir = path.join(o.pkgDir, '.cache', 'readme');
  const examples = readmeBlocks(fs.readFileSync(path.join(o.pkgDir, 'README.md'), 'utf8'));
  const built = o.built.every((f) => fs.existsSync(path.join(o.pkgDir, f)));
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
        extends: path.join(o.pkgDir, '..', '..', 'tsconfig.base.json'),
        compilerOptions: { noEmit: true, rootDir: '.', noUnusedLocals: o.noUnusedLocals ?? false },
        include: ['*.ts'],
      }),
    );

    it('has examples', () => {
      expect(examples.length).toBeGreaterThanOrEqual(o.minExamples);
    });

    it('type-check against the built package', () => {
      const r = spawnSync(bin('tsc'), ['-p', path.join(dir, 'tsconfig.json')], {
        encoding: 'utf8',
        cwd: dir,
      });
      const where = (out: string) =>
        out.replace(
          /example-(\d+)\.ts\((\d+),/g,
          (_, n, l) => `README.md:${files[Number(n) - 1].line + Number(l) - 1} (`,
        );
      expect(where(r.stdout + r.stderr)).toBe('');
      expect(r.status).toBe(0);
    }, 120_000);

    const timeout = o.timeoutMs ?? 60_000;
    for (const f of files) {
      if (o.typecheckOnly?.(f.code) !== undefined) continue;
      it(
        `runs the example at README.md:${f.line}`,
        () => {
          const env = o.env ? o.env(f.code) : process.env;
          if (typeof env === 'string') {
            console.log(`skipped: running the README example at line ${f.line} (${env})`);
            return;
          }
          const r = spawnSync(bin('tsx'), [f.file], { encoding: 'utf8', cwd: dir, env, timeout });
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          expect(r.stdout.length).toBeGreaterThan(0);
        },
        timeout + 30_000,
      );
    }
  });
}
