import { cpSync, mkdirSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

// Three builds: the embedding API and its worker (browser ESM, the portable packages bundled in,
// as a page loads them), the page itself (app + worker + xterm.js, minified), and the Node server
// and its CLI.
const browser: Options = {
  format: ['esm'],
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  splitting: false,
  noExternal: [/.*/],
  esbuildOptions(o) {
    o.conditions = ['browser', 'import'];
  },
};

export default defineConfig([
  {
    ...browser,
    entry: { index: 'src/index.ts', worker: 'src/worker/worker.ts' },
    dts: { entry: { index: 'src/index.ts' } },
    clean: false,
  },
  {
    ...browser,
    entry: { 'page/app': 'src/page/app.ts', 'page/worker': 'src/worker/worker.ts' },
    minify: true,
    onSuccess: async () => {
      mkdirSync('dist/page', { recursive: true });
      cpSync('src/page/index.html', 'dist/page/index.html');
    },
  },
  {
    entry: { server: 'src/server.ts', cli: 'src/cli.ts' },
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    dts: { entry: { server: 'src/server.ts' } },
  },
]);
