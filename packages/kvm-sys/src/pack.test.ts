// What the published package holds, and that it works without its install script (pnpm 10 skips
// unapproved build scripts). `npm pack` runs in a copy of the package in a temporary directory, with
// its scripts: prepack builds the prebuilt addon there, postpack removes it again; then the tarball is
// unpacked and its dist/ loads the prebuilt addon. The real package directory is only listed (a
// prebuilt binary appearing there would change which file the other test files load).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { files: string[] };
const PREBUILT = 'prebuilds/linux-x64/kvm_sys.node';

const built = existsSync(join(pkg, 'dist', 'index.js'));
const toolchain =
  process.platform === 'linux' &&
  process.arch === 'x64' &&
  ['g++', 'make', 'python3'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);
if (!built) console.log('skipped: pack tests need the package built (pnpm build)');
if (!toolchain) console.log('skipped: prebuilt-addon pack test needs linux/x64 with g++, make and python3');

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/** `npm pack --json` in `cwd`; scripts' output goes to stderr, so stdout is the JSON. */
function npmPack(cwd: string, args: string[]): PackResult {
  const out = execFileSync('npm', ['pack', '--json', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 240_000,
    env: { ...process.env, TS_VMM_PACK_WITHOUT_PREBUILD: '' },
  });
  return (JSON.parse(out) as PackResult[])[0]!;
}

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe.skipIf(!built)('npm pack', () => {
  it('lists README.md, CHANGELOG.md, dist, the native sources and scripts, and no build output', () => {
    const { files } = npmPack(pkg, ['--dry-run', '--ignore-scripts']);
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'dist/index.js',
        'dist/index.d.ts',
        'binding.gyp',
        'src/native/addon.cc',
        'scripts/build-addon.mjs',
        'scripts/node-gyp.mjs',
      ]),
    );
    if (existsSync(join(pkg, 'CHANGELOG.md'))) expect(paths).toContain('CHANGELOG.md');
    expect(
      paths.filter((p) => p.startsWith('build/') || (p.endsWith('.ts') && !p.endsWith('.d.ts'))),
    ).toEqual([]);
    // Without prepack (--ignore-scripts) a checkout has no prebuilt binary, unless one is left over.
    expect(paths.includes(PREBUILT)).toBe(existsSync(join(pkg, PREBUILT)));
  });

  it.skipIf(!toolchain)(
    'prepack builds the prebuilt addon into the tarball; the unpacked package loads it with no install script',
    () => {
      const tmp = mkdtempSync(join(tmpdir(), 'kvm-sys-pack-'));
      temps.push(tmp);
      const copy = join(tmp, 'kvm-sys');
      mkdirSync(copy);
      for (const f of [
        'package.json',
        '.gitignore',
        '.npmignore',
        'README.md',
        'CHANGELOG.md',
        ...manifest.files,
      ]) {
        if (existsSync(join(pkg, f))) cpSync(join(pkg, f), join(copy, f), { recursive: true });
      }
      rmSync(join(copy, 'prebuilds'), { recursive: true, force: true });
      symlinkSync(join(pkg, 'node_modules'), join(copy, 'node_modules')); // node-gyp, node-addon-api
      mkdirSync(join(tmp, 'out'));

      const { filename, files } = npmPack(copy, ['--pack-destination', join(tmp, 'out')]);
      const paths = files.map((f) => f.path);
      expect(paths).toContain(PREBUILT);
      expect(paths).toContain('README.md');
      if (existsSync(join(pkg, 'CHANGELOG.md'))) expect(paths).toContain('CHANGELOG.md');
      expect(paths.filter((p) => p.startsWith('build/'))).toEqual([]);
      expect(existsSync(join(copy, 'prebuilds')), 'postpack removed prebuilds/').toBe(false);

      // Unpacked as a package manager would, without running its install script.
      const unpacked = join(tmp, 'unpacked');
      mkdirSync(unpacked);
      execFileSync('tar', ['-xzf', join(tmp, 'out', filename), '-C', unpacked]);
      const root = join(unpacked, 'package');
      expect(existsSync(join(root, 'build'))).toBe(false);
      const env = { ...process.env, TS_VMM_KVM_SYS_ADDON: '' };
      const loaded = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)});
           const a = m.loadAddon();
           const fd = a.eventfd(0, 0); a.eventfdWrite(fd, 5); const n = a.eventfdRead(fd); a.close(fd);
           console.log(JSON.stringify({ path: m.addonPath(), n: String(n) }));`,
        ],
        { encoding: 'utf8', env, cwd: tmp },
      );
      expect(JSON.parse(loaded)).toEqual({ path: join(root, PREBUILT), n: '5' });

      // The install script sees the prebuilt binary load and builds nothing.
      const install = spawnSync(process.execPath, [join(root, 'scripts', 'build-addon.mjs')], {
        encoding: 'utf8',
        env: { ...env, TS_VMM_REQUIRE_ADDON: '1' },
      });
      expect(install.status).toBe(0);
      expect(install.stdout).toContain(`using the prebuilt addon ${join(root, PREBUILT)}`);
      expect(existsSync(join(root, 'build'))).toBe(false);

      // Without the prebuilt binary and with a failing build, the install still succeeds, saying what
      // to do; TS_VMM_REQUIRE_ADDON=1 makes it fail. loadAddon() then names the paths and the step.
      rmSync(join(root, 'prebuilds'), { recursive: true });
      const failingGyp = join(tmp, 'failing-node-gyp.js');
      writeFileSync(failingGyp, 'process.exit(7);\n');
      const failing = { ...env, npm_config_node_gyp: failingGyp, TS_VMM_REQUIRE_ADDON: '' };
      const soft = spawnSync(process.execPath, [join(root, 'scripts', 'build-addon.mjs')], {
        encoding: 'utf8',
        env: failing,
      });
      expect(soft.status).toBe(0);
      expect(soft.stderr).toContain('native addon not built: node-gyp rebuild exited with 7');
      expect(soft.stderr).toContain('npm rebuild @ts-vmm/kvm-sys');
      const hard = spawnSync(process.execPath, [join(root, 'scripts', 'build-addon.mjs')], {
        encoding: 'utf8',
        env: { ...failing, TS_VMM_REQUIRE_ADDON: '1' },
      });
      expect(hard.status).toBe(1);
      const unavailable = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)});
           try { m.loadAddon(); } catch (e) { console.log(e.name + '\\n' + e.message); }`,
        ],
        { encoding: 'utf8', env, cwd: tmp },
      );
      expect(unavailable.stdout).toContain('KvmSysError');
      expect(unavailable.stdout).toContain(`${join(root, PREBUILT)} (prebuilt): missing`);
      expect(unavailable.stdout).toContain(
        `${join(root, 'build', 'Release', 'kvm_sys.node')} (built from source): missing`,
      );
      expect(unavailable.stdout).toContain('pnpm approve-builds');
    },
    240_000,
  );
});
