/**
 * The root entry must build for the browser: no `node:` import and no Node global (Buffer, process,
 * require, __dirname, __filename) in any module it reaches, and only portable packages imported.
 * Checked on the sources (every relative import followed from src/index.ts), on the built
 * dist/index.js with its chunks, and by bundling src/index.ts with esbuild for `platform: 'browser'`
 * (the workspace's root dev dependency; skipped when it is not installed) and running the bundle in
 * a context without Node's globals.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInBrowserWorker } from '@ts-vmm/hypervisor/testing';
import { describe, expect, it } from 'vitest';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Packages the root entry may import: ours that are portable too, and the two pure-JS decoders. */
const ALLOWED = new Set(['@ts-vmm/hypervisor', '@ts-vmm/vm-memory', 'fflate', 'fzstd']);
const NODE_GLOBALS = /\b(Buffer|process|require|__dirname|__filename)\b/;

/** Source without comments and string contents, so that messages do not count. */
function code(src: string): string {
  return withoutComments(src)
    .replace(/`(?:\\[\s\S]|[^`\\])*`/g, '``')
    .replace(/'(?:\\.|[^'\\\n])*'/g, "''");
}

function withoutComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

function reachable(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    const src = withoutComments(fs.readFileSync(file, 'utf8'));
    seen.set(file, src);
    for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g)) {
      todo.push(path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts')));
    }
  }
  return seen;
}

describe('the root entry is portable', () => {
  const files = reachable(path.join(root, 'src', 'index.ts'));

  it('reaches the loader modules and none of the testing fixtures', () => {
    const names = [...files.keys()].map((f) => path.relative(root, f));
    expect(names).toContain('src/payload.ts');
    expect(names).toContain('src/boot-state/cpu.ts');
    expect(names.filter((n) => n.includes('testing') || n.endsWith('.test.ts'))).toEqual([]);
  });

  it('imports no node: module, only portable packages, and uses no Node global', () => {
    for (const [file, src] of files) {
      const rel = path.relative(root, file);
      for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^.][^']*)'/g)) {
        expect(ALLOWED.has(m[1]) ? m[1] : `${rel} imports ${m[1]}`).toBe(m[1]);
      }
      expect(src).not.toMatch(/\bimport\(/);
      const hit = NODE_GLOBALS.exec(code(src));
      expect(hit ? `${rel} uses ${hit[1]}` : undefined).toBeUndefined();
    }
  });

  it.skipIf(!fs.existsSync(path.join(root, 'dist', 'index.js')))(
    'builds to a dist/index.js with no node: import',
    () => {
      const dist = path.join(root, 'dist');
      const js = [path.join(dist, 'index.js')];
      for (const m of fs.readFileSync(js[0], 'utf8').matchAll(/from\s+"\.\/(chunk-[^"]+\.js)"/g)) {
        js.push(path.join(dist, m[1]));
      }
      for (const f of js) {
        const src = fs.readFileSync(f, 'utf8');
        expect(src).not.toMatch(/from\s+["']node:|require\(["']/);
        for (const m of src.matchAll(/from\s+"([^."][^"]*)"/g))
          expect(ALLOWED.has(m[1]) ? m[1] : `${f}: ${m[1]}`).toBe(m[1]);
      }
    },
  );

  it('bundles for platform browser and runs without Node globals', async () => {
    let esbuild: typeof import('esbuild');
    try {
      esbuild = await import('esbuild');
    } catch {
      console.log('skipped: browser bundle of the root entry (esbuild not installed)');
      return;
    }
    const result = await esbuild.build({
      stdin: {
        contents: `import * as l from './src/index.ts';
          export function main() {
            const bytes = l.buildZeroPage({ e820: [{ addr: 0, size: 0x9fc00, type: 1 }] });
            const gz = Uint8Array.of(31,139,8,0,0,0,0,0,0,3,203,207,6,0,71,221,220,121,2,0,0,0);
            return { zp: bytes.length, ok: new TextDecoder().decode(l.decompressPayload(gz)) };
          }`,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'bundle',
      write: false,
      logLevel: 'silent',
      conditions: ['browser', 'import'],
    });
    const bundle = runInBrowserWorker<{ main(): unknown }>(result.outputFiles[0].text, 'bundle');
    expect(bundle.main()).toEqual({ zp: 4096, ok: 'ok' });
  });
});
