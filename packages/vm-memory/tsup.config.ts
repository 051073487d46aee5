import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  // Workspace packages (including optional ones such as the native addon) stay separate modules.
  external: [/^@ts-vmm\//],
});
