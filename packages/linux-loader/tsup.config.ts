import { defineConfig } from 'tsup';

export default defineConfig({
  // The root entry is portable (browser or Node); `testing` holds Node-only test fixtures.
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  splitting: true,
});
