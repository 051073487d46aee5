/**
 * A watchdog for tests: kicks a vCPU from another thread if `run()` has not returned in time, so a
 * broken guest fails a test instead of hanging it. Also the helper that finds a package's built
 * entry for worker threads.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * `file:` URL of the built `dist/<file>` of the package named `packageName`, found by walking up
 * from `from` (a module's `import.meta.url`) to that package's root (workers import built code).
 * @example new Worker(new URL(distUrl('@ts-vmm/kvm-ioctls', import.meta.url, 'index.js')))
 */
export function distUrl(packageName: string, from: string, file = 'index.js'): string {
  let dir = dirname(fileURLToPath(from));
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === packageName) {
      const p = join(dir, 'dist', file);
      if (!existsSync(p)) throw new Error(`${p} is missing: build ${packageName} first (pnpm build)`);
      return pathToFileURL(p).href;
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the ${packageName} package root above ${from}`);
}

const WATCHDOG_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const mod = await import(workerData.moduleUrl);
  const kicker = mod[workerData.exportName](workerData.desc);
  parentPort.postMessage('armed');
  const flag = new Int32Array(workerData.flag);
  if (Atomics.wait(flag, 0, 0, workerData.ms) === 'timed-out') {
    kicker.kick();
    parentPort.postMessage('kicked');
  }
  kicker.close();
})();
`;

/**
 * Where a watchdog thread finds the function that turns a vCPU's `kicker()` description into a
 * kicker: an ES module importable from a worker thread (a built `.js`) and the name of the export.
 * @example const kvm: KickerModule = { url: distUrl('@ts-vmm/kvm-ioctls', import.meta.url), exportName: 'openKvmKicker' };
 */
export interface KickerModule {
  url: string;
  exportName: string;
}

/** A running watchdog. */
export interface Watchdog {
  /** Stops it without kicking; resolves when the thread ended. Returns whether it kicked. */
  cancel(): Promise<boolean>;
}

/**
 * Starts a thread that kicks the vCPU described by `kickerDescription` (a vCPU's `kicker()`) after
 * `ms` unless cancelled, through the backend's `kickerModule`. Resolves once the kicker is armed.
 * @example
 * ```ts
 * const kickers = { url: distUrl('@ts-vmm/kvm-ioctls', import.meta.url), exportName: 'openKvmKicker' };
 * const dog = await startWatchdog(vcpu.kicker(), 5000, kickers);
 * const exit = vcpu.run(); // 'interrupted' if the guest hung
 * await dog.cancel();
 * ```
 */
export async function startWatchdog(
  kickerDescription: unknown,
  ms: number,
  kickerModule: KickerModule,
): Promise<Watchdog> {
  const flag = new SharedArrayBuffer(4);
  let kicked = false;
  const worker = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: {
      moduleUrl: kickerModule.url,
      exportName: kickerModule.exportName,
      desc: kickerDescription,
      ms,
      flag,
    },
  });
  const done = new Promise<void>((resolve, reject) => {
    worker.once('exit', () => resolve());
    worker.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m) => {
      if (m === 'armed') resolve();
      if (m === 'kicked') kicked = true;
    });
    worker.once('error', reject);
  });
  return {
    async cancel() {
      const f = new Int32Array(flag);
      Atomics.store(f, 0, 1);
      Atomics.notify(f, 0);
      await done;
      return kicked;
    },
  };
}
