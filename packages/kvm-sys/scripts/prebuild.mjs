// prepack: builds the addon and puts it at prebuilds/<platform>-<arch>/kvm_sys.node, which the
// package ships (`files`) and loadAddon() prefers, so installs work without running the install
// script (pnpm 10 skips unapproved build scripts). `--clean` (postpack) removes prebuilds/ again, so
// a checkout keeps loading its own build/Release (never commit the binary: .gitignore has it).
// Packing fails when the addon cannot be built, unless TS_VMM_PACK_WITHOUT_PREBUILD=1.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  buildFile,
  NAPI_VERSION,
  platformKey,
  prebuildDir,
  prebuildFile,
  root,
  runNodeGyp,
} from './node-gyp.mjs';

if (process.argv.includes('--clean')) {
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  process.exit(0);
}

function fail(msg) {
  if (process.env.TS_VMM_PACK_WITHOUT_PREBUILD === '1') {
    console.warn(`@ts-vmm/kvm-sys prepack: packing WITHOUT a prebuilt addon: ${msg}`);
    process.exit(0);
  }
  console.error(
    `@ts-vmm/kvm-sys prepack: cannot make the prebuilt addon: ${msg}\n` +
      '(set TS_VMM_PACK_WITHOUT_PREBUILD=1 to pack without it; installs then build from source)',
  );
  process.exit(1);
}

if (platformKey !== 'linux-x64') fail(`the prebuilt addon is linux-x64; this is ${platformKey}`);

// Incremental when a configured build exists (make rebuilds what changed, and leaves an up-to-date
// addon untouched for processes that are loading it); a full rebuild otherwise.
const makefile = join(root, 'build', 'Makefile');
const configured =
  existsSync(makefile) && statSync(makefile).mtimeMs >= statSync(join(root, 'binding.gyp')).mtimeMs;
const why = runNodeGyp(configured ? 'build' : 'rebuild');
if (why) fail(why);
if (!existsSync(buildFile)) fail(`node-gyp succeeded but ${buildFile} is missing`);

// Check it loads in a fresh Node (not in this process, whose Node may differ from the one that packs).
const check = spawnSync(
  process.execPath,
  [
    '-e',
    `const a = require(${JSON.stringify(buildFile)}); if (typeof a.ioctl !== 'function') process.exit(3);`,
  ],
  { encoding: 'utf8' },
);
if (check.status !== 0) fail(`${buildFile} does not load: ${check.stderr.trim() || `exit ${check.status}`}`);

rmSync(prebuildDir, { recursive: true, force: true });
mkdirSync(prebuildDir, { recursive: true });
// A hard link where possible: the same file as build/Release, so a process that loads one path and a
// worker that loads the other still share one copy of the addon (and its kick registry).
try {
  linkSync(buildFile, prebuildFile);
} catch {
  copyFileSync(buildFile, prebuildFile);
}

// The newest glibc symbol version it needs: hosts with an older glibc fall back to building from source.
const glibc = [
  ...readFileSync(prebuildFile)
    .toString('latin1')
    .matchAll(/GLIBC_(\d+)\.(\d+)/g),
]
  .map((m) => [Number(m[1]), Number(m[2])])
  .sort((a, b) => a[0] - b[0] || a[1] - b[1])
  .pop();
console.error(
  `@ts-vmm/kvm-sys prepack: ${relative(root, prebuildFile)} (Node-API ${NAPI_VERSION}${glibc ? `, needs glibc >= ${glibc.join('.')}` : ''})`,
);
