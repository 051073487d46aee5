// Builds the native addon with node-gyp at install time.
// On hosts where it cannot build (not Linux x86-64, no compiler), installation still succeeds and the
// pure-TypeScript parts of ts-vmm keep working; `loadAddon()` then throws a clear error.
// Set TS_VMM_REQUIRE_ADDON=1 (CI does) to make a failed build fail the install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const required = process.env.TS_VMM_REQUIRE_ADDON === '1';

function fail(msg) {
  console.warn(`@ts-vmm/kvm-sys: native addon not built: ${msg}`);
  process.exit(required ? 1 : 0);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`unsupported platform ${process.platform}/${process.arch} (needs linux/x64)`);
}

// Find node-gyp: our own devDependency, npm's bundled copy, or PATH.
const require = createRequire(import.meta.url);
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  const npmBundled = join(
    dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  if (existsSync(npmBundled)) gyp = npmBundled;
}
const args = ['rebuild'];
// Build against local Node headers when present: no download needed (machines here are offline).
const nodedir =
  process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const cmd = gyp ? process.execPath : 'node-gyp';
const res = spawnSync(cmd, gyp ? [gyp, ...args] : args, { cwd: root, stdio: 'inherit' });
if (res.error) fail(res.error.message);
if (res.status !== 0) fail(`node-gyp exited with ${res.status}`);
