import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    cli: 'src/cli.ts',
    'firecracker-cli': 'src/firecracker-cli.ts',
    firecracker: 'src/firecracker/index.ts',
    'vcpu-worker': 'src/vmm/vcpu-worker.ts',
  },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', firecracker: 'src/firecracker/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
  // Optional dependencies stay imports (tsup bundles them otherwise): the KVM backend loads only
  // where it is installed.
  external: ['@ts-vmm/kvm-ioctls', '@ts-vmm/kvm-sys'],
});
