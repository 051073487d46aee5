import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmmConfig } from '../config/types.js';
import { EXIT_CODES, type RunResult, stopResult } from '../vmm/exit-codes.js';
import { parseFirecrackerFlags, runFirecrackerCli } from './cli.js';
import type { StartVm } from './instance.js';

const dir = mkdtempSync(join(tmpdir(), 'fc-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kernel = join(dir, 'vmlinux');
writeFileSync(kernel, 'x');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

/** A fake VM that stops with `result` at once, recording its configuration. */
function fakeVm(result: RunResult, started: VmmConfig[]): StartVm {
  return async (config) => {
    started.push(config);
    return {
      result: Promise.resolve(result),
      sendCtrlAltDel: () => {},
      counters: () => ({
        vcpu: { exits: 1, exit_io: 1, exit_mmio: 0 },
        block: { read_bytes: 0, write_bytes: 0, requests: 0, errors: 0 },
        net: { rx_packets_count: 0, tx_packets_count: 0, rx_dropped: 0, tx_dropped: 0 },
      }),
    };
  };
}

describe('parseFirecrackerFlags', () => {
  it("takes Firecracker's flags, both spellings, and ts-vmm's --backend", () => {
    const f = parseFirecrackerFlags([
      '--api-sock',
      '/tmp/a.sock',
      '--config-file=/tmp/vm.json',
      '--id',
      'vm-1',
      '--level',
      'debug',
      '--boot-timer',
      '--backend',
      'emulated',
      '--no-seccomp',
      '--http-api-max-payload-size',
      '1000',
    ]);
    expect(f).toMatchObject({
      apiSock: '/tmp/a.sock',
      configFile: '/tmp/vm.json',
      id: 'vm-1',
      level: 'Debug',
      bootTimer: true,
      backend: 'emulated',
      maxPayloadBytes: 1000,
    });
    expect(parseFirecrackerFlags([])).toMatchObject({
      apiSock: '/run/firecracker.socket',
      id: 'anonymous-instance',
      level: 'Info',
    });
  });

  it('refuses bad flags with a message naming them', () => {
    expect(() => parseFirecrackerFlags(['--api-sock'])).toThrow('--api-sock: needs a value');
    expect(() => parseFirecrackerFlags(['--id', 'a b'])).toThrow(/--id: "a b" is not a valid id/);
    expect(() => parseFirecrackerFlags(['--level', 'loud'])).toThrow(/--level: "loud" is not one of/);
    expect(() => parseFirecrackerFlags(['--backend', 'xen'])).toThrow(/--backend/);
    expect(() => parseFirecrackerFlags(['--no-api'])).toThrow(/--no-api: needs --config-file/);
    expect(() => parseFirecrackerFlags(['--boot-timer=1'])).toThrow('--boot-timer: takes no value');
    expect(() => parseFirecrackerFlags(['--metadata', 'm.json'])).toThrow(/MMDS is not yet supported/);
    expect(() => parseFirecrackerFlags(['--frobnicate'])).toThrow(/unknown option "--frobnicate"/);
  });
});

describe('runFirecrackerCli', () => {
  it("--config-file --no-api boots at once and exits with the VM's code; the metrics get a last line", async () => {
    const started: VmmConfig[] = [];
    const file = join(dir, 'vm.json');
    const metrics = join(dir, 'm.json');
    writeFileSync(
      file,
      JSON.stringify({
        'boot-source': { kernel_image_path: kernel },
        'machine-config': { vcpu_count: 2, mem_size_mib: 64 },
      }),
    );
    const o = io();
    const code = await runFirecrackerCli(
      ['--no-api', '--config-file', file, '--metrics-path', metrics],
      o.io,
      {
        version: '1.2.3',
        startVm: fakeVm(stopResult('reboot', 'i8042 reset'), started),
      },
    );
    expect(code).toBe(EXIT_CODES.reboot);
    expect(started[0]).toMatchObject({ kernel, vcpus: 2, memoryMib: 64 });
    expect(o.err.join('\n')).toMatch(/guest stopped \(reboot: i8042 reset\); exit code 2/);
    const line = JSON.parse(readFileSync(metrics, 'utf8').trim().split('\n').at(-1)!);
    expect(line.put_api_requests.actions_count).toBe(1);
  });

  it('a bad --config-file is a usage error; an unreadable one names the file', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        'boot-source': { kernel_image_path: kernel },
        'machine-config': { vcpu_count: 0, mem_size_mib: 64 },
      }),
    );
    const deps = { version: '1', startVm: fakeVm(stopResult('poweroff'), []) };
    await expect(runFirecrackerCli(['--no-api', '--config-file', file], io().io, deps)).rejects.toThrow(
      'machine-config.vcpu_count: 0 is below the minimum 1',
    );
    await expect(
      runFirecrackerCli(['--no-api', '--config-file', join(dir, 'none.json')], io().io, deps),
    ).rejects.toThrow(/--config-file: cannot read .*none\.json.*ENOENT/);
  });

  it('serves the API until a signal when no VM was started, then removes the socket', async () => {
    const sock = join(dir, 'sig.sock');
    const signals = new EventEmitter();
    const o = io();
    const run = runFirecrackerCli(['--api-sock', sock], o.io, {
      version: '1',
      startVm: fakeVm(stopResult('poweroff'), []),
      signals: signals as unknown as NonNullable<Parameters<typeof runFirecrackerCli>[2]['signals']>,
    });
    while (!existsSync(sock)) await new Promise((r) => setTimeout(r, 10));
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: sock, path: '/version' }, (res) => {
        let s = '';
        res.on('data', (c) => {
          s += c;
        });
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body)).toEqual({ firecracker_version: '1.17.0' });
    signals.emit('SIGTERM');
    expect(await run).toBe(EXIT_CODES.sigterm);
    expect(existsSync(sock)).toBe(false);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('--help and --version', async () => {
    const o = io();
    expect(await runFirecrackerCli(['--help'], o.io, { version: '1' })).toBe(0);
    expect(o.out[0]).toContain('--api-sock PATH');
    expect(await runFirecrackerCli(['--version'], o.io, { version: '0.1.0' })).toBe(0);
    expect(o.out[1]).toBe('Firecracker v1.17.0 (ts-vmm 0.1.0)');
  });
});
