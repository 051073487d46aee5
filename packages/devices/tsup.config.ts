import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'node/index': 'src/node/index.ts',
    'testing/index': 'src/testing/index.ts',
  },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  // The root and testing entries run in browsers too (the node entry holds everything that needs
  // Node); the shared chunks keep one copy of each class (DeviceError, Bus) across the entries, so
  // instanceof works between them.
  target: 'es2022',
  splitting: true,
  // Workspace packages (including optional ones such as the native addon) stay separate modules.
  external: [/^@ts-vmm\//],
});
