// The install script. Uses the prebuilt addon shipped in the package when it loads on this host;
// otherwise builds the addon from source with node-gyp. On hosts where neither works (not Linux
// x86-64, no compiler, no Node headers), installation still succeeds: the pure-TypeScript parts of
// kvm-sys keep working and `loadAddon()` throws KvmSysError ('addon-unavailable') saying why and what to do.
// Set TS_VMM_REQUIRE_ADDON=1 (CI does) to make a missing addon fail the install instead.
import { buildFile, NAPI_VERSION, prebuildFile, REBUILD_STEP, runNodeGyp, tryLoad } from './node-gyp.mjs';

const required = process.env.TS_VMM_REQUIRE_ADDON === '1';

function fail(msg) {
  console.warn(
    `@ts-vmm/kvm-sys: native addon not built: ${msg}.\n` +
      '@ts-vmm/kvm-sys: the package is installed and its pure-TypeScript parts work; loadAddon() will throw ' +
      `a KvmSysError (addon-unavailable). To get the addon, ${REBUILD_STEP}.`,
  );
  process.exit(required ? 1 : 0);
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  fail(`unsupported platform ${process.platform}/${process.arch} (needs linux/x64)`);
}

// 1. The prebuilt binary (published packages ship it; a git checkout does not).
const napi = Number(process.versions.napi ?? 0);
const prebuilt =
  napi >= NAPI_VERSION ? tryLoad(prebuildFile) : `this Node has Node-API ${napi}, needs ${NAPI_VERSION}`;
if (prebuilt === null) {
  console.log(`@ts-vmm/kvm-sys: using the prebuilt addon ${prebuildFile}`);
  process.exit(0);
}
if (prebuilt !== 'missing') {
  console.log(`@ts-vmm/kvm-sys: the prebuilt addon does not load here (${prebuilt}); building from source`);
}

// 2. Build from source.
const why = runNodeGyp('rebuild');
if (why) fail(why);
const built = tryLoad(buildFile);
if (built !== null) fail(`${buildFile} was built but does not load: ${built}`);
