import { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import { hasKvm } from '@ts-vmm/kvm-ioctls';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import type { VmmConfig } from '../src/config/types.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { DEMO_GREETING, demoGuest } from '../src/vmm/demo-guest.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';
import { type ConsoleInput, Vmm } from '../src/vmm/vmm.js';
import {
  debugExitGuest,
  echoGuest,
  printThenReset,
  resetGuest,
  spinGuest,
  tripleFaultGuest,
} from './guests.js';

const kvm = hasKvm();
if (!kvm) console.log('skipped: VMM end-to-end tests with small guests on KVM (/dev/kvm not available)');
const emulated = (await backendAvailable('emulated')).ok;
if (!emulated)
  console.log('skipped: VMM end-to-end tests with small guests on the emulated backend (not available)');

const backends: { name: 'kvm' | 'emulated'; ok: boolean }[] = [
  { name: 'kvm', ok: kvm },
  { name: 'emulated', ok: emulated },
];

class FakeInput extends EventEmitter implements ConsoleInput {
  paused = true;
  isTTY?: boolean;
  setRawMode?: (m: boolean) => unknown;
  pause() {
    this.paused = true;
    return this;
  }
  resume() {
    this.paused = false;
    return this;
  }
}

for (const { name: backend, ok } of backends) {
  function config(extra: Partial<VmmConfig> = {}): VmmConfig {
    return { ...resolveConfig({ flags: { backend, memoryMib: 16 } }), ...extra };
  }

  async function runRaw(
    image: Uint8Array,
    extra: Partial<VmmConfig> = {},
    input: ConsoleInput | null = null,
    threadLocalDevices = true,
  ) {
    let out = '';
    const logs: string[] = [];
    const vmm = await Vmm.create(config(extra), {
      threadLocalDevices,
      raw: { image },
      input,
      output: {
        write: (c: Uint8Array) => {
          out += Buffer.from(c).toString('latin1');
          return true;
        },
      },
      log: (l) => logs.push(l),
      handleSignals: false,
    });
    const result = await vmm.run();
    return { result, out: () => out, logs, vmm };
  }

  describe.skipIf(!ok)(`Vmm with small guests on the ${backend} backend`, () => {
    it('demo guest prints on COM1 and powers off with exit code 0', async () => {
      const { result, out, logs } = await runRaw(demoGuest());
      expect(result).toMatchObject({ reason: 'poweroff', exitCode: EXIT_CODES.poweroff });
      expect(out()).toContain(DEMO_GREETING);
      expect(logs[0]).toMatch(new RegExp(`^backend: ${backend}`));
    });

    it('inline mode (the single-threaded path of backends without worker support) runs the same guest', async () => {
      let out = '';
      const vmm = await Vmm.create(config(), {
        raw: { image: demoGuest() },
        input: null,
        workers: false,
        log: () => {},
        handleSignals: false,
        output: {
          write: (c: Uint8Array) => {
            out += Buffer.from(c).toString('latin1');
            return true;
          },
        },
      });
      const result = await vmm.run();
      expect(result.reason).toBe('poweroff');
      expect(out).toContain(DEMO_GREETING);
      expect(vmm.stats[0].io).toBeGreaterThan(DEMO_GREETING.length);
    });

    it('two vCPUs: the AP waits for SIPI, the BSP powers off', async () => {
      const { result, vmm } = await runRaw(demoGuest(), { vcpus: 2 });
      expect(result.reason).toBe('poweroff');
      expect(vmm.stats).toHaveLength(2);
      expect(vmm.stats[0].io).toBeGreaterThan(DEMO_GREETING.length);
    });

    it('debug-exit port gives (value << 1) | 1', async () => {
      const { result } = await runRaw(debugExitGuest(0x10));
      expect(result).toMatchObject({ reason: 'debug-exit', exitCode: 0x21 });
    });

    it('i8042 reset ends with the reboot exit code', async () => {
      const { result } = await runRaw(resetGuest);
      expect(result).toMatchObject({ reason: 'reboot', exitCode: EXIT_CODES.reboot });
    });

    it('a kernel panic line before the reset turns the reboot into a panic', async () => {
      const { result } = await runRaw(
        printThenReset('Kernel panic - not syncing: VFS: Unable to mount root fs\r\n'),
      );
      expect(result.reason).toBe('panic');
      expect(result.exitCode).toBe(EXIT_CODES.panic);
      expect(result.detail).toContain('VFS: Unable to mount root fs');
    });

    it('a triple fault ends the run with its own exit code', async () => {
      const { result } = await runRaw(tripleFaultGuest);
      expect(['triple-fault', 'error']).toContain(result.reason);
      if (result.reason === 'triple-fault') expect(result.exitCode).toBe(EXIT_CODES['triple-fault']);
      else expect(result.exitCode).toBe(EXIT_CODES.error);
    });

    it('host input reaches the guest through COM1 (piped stdin)', async () => {
      const input = new FakeInput();
      const pending = runRaw(echoGuest, {}, input);
      setTimeout(() => input.emit('data', Buffer.from('A')), 200);
      const { result, out } = await pending;
      expect(result.reason).toBe('poweroff');
      expect(out()).toBe('B');
      expect(input.paused).toBe(true);
    });

    it('leaves no file descriptors or threads behind', async () => {
      const fds = () => readdirSync('/proc/self/fd').length;
      await runRaw(demoGuest()); // warm-up: lazily opened handles (addon, /dev/kvm probe caches)
      const tasks = () => readdirSync('/proc/self/task').length;
      const before = fds();
      const threadsBefore = tasks();
      for (let i = 0; i < 3; i++)
        expect((await runRaw(demoGuest(), { vcpus: 2 })).result.reason).toBe('poweroff');
      expect(fds()).toBeLessThanOrEqual(before);
      // Worker threads are joined; allow a moment for the OS to reap them.
      await new Promise((r) => setTimeout(r, 200));
      expect(tasks()).toBeLessThanOrEqual(threadsBefore);
    });

    it('SIGINT stops the run with exit code 130', async () => {
      const vmm = await Vmm.create(config(), { raw: { image: spinGuest }, input: null, log: () => {} });
      const run = vmm.run();
      setTimeout(() => process.emit('SIGINT'), 300);
      expect(await run).toMatchObject({ reason: 'sigint', exitCode: EXIT_CODES.sigint });
      expect(process.listenerCount('SIGINT')).toBe(0);
    });

    it('a terminal goes to raw mode and back; Ctrl-A X quits', async () => {
      const input = new FakeInput();
      const modes: boolean[] = [];
      input.isTTY = true;
      input.setRawMode = (m: boolean) => modes.push(m);
      const vmm = await Vmm.create(config(), {
        raw: { image: spinGuest },
        input,
        log: () => {},
        handleSignals: false,
      });
      const run = vmm.run();
      setTimeout(() => input.emit('data', Buffer.from([0x01, 0x78])), 300);
      expect(await run).toMatchObject({ reason: 'user-quit', exitCode: EXIT_CODES['user-quit'] });
      expect(modes).toEqual([true, false]);
      expect(input.listenerCount('data')).toBe(0);
    });

    it.skipIf(backend !== 'kvm')(
      'with every exit forwarded to the main thread: output, input, panic detection',
      async () => {
        const demo = await runRaw(demoGuest(), {}, null, false);
        expect(demo.result.reason).toBe('poweroff');
        expect(demo.out()).toContain(DEMO_GREETING);
        const input = new FakeInput();
        const pending = runRaw(echoGuest, {}, input, false);
        setTimeout(() => input.emit('data', Buffer.from('x')), 200);
        const echo = await pending;
        expect(echo.out()).toBe('y');
        const panic = await runRaw(printThenReset('Kernel panic - not syncing: test\r\n'), {}, null, false);
        expect(panic.result.reason).toBe('panic');
      },
    );

    it('stop() from the host ends a spinning guest and releases its threads', async () => {
      const vmm = await Vmm.create(config(), {
        raw: { image: spinGuest },
        input: null,
        log: () => {},
        handleSignals: false,
      });
      const run = vmm.run();
      setTimeout(() => vmm.stop('sigterm', 'test'), 300);
      const result = await run;
      expect(result).toMatchObject({ reason: 'sigterm', exitCode: EXIT_CODES.sigterm });
    });
  });
}
