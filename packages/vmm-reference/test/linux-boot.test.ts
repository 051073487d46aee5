/**
 * End-to-end: the Debian cloud kernel with the default guest's initramfs. These need a backend that
 * runs guest kernel code fast: the x86-emulator backend, or a KVM that runs CPL0 code at hardware
 * speed (not PVM, where CPL0 is emulated and a boot takes many minutes). Otherwise they print why
 * they were skipped.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config/resolve.js';
import type { BackendChoice, VmmConfig } from '../src/config/types.js';
import { buildDefaultGuest } from '../src/guest/builder.js';
import type { GuestManifest } from '../src/guest/cache.js';
import { runParameter } from '../src/guest/init-script.js';
import { backendAvailable, chooseBackend } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';
import { Vmm } from '../src/vmm/vmm.js';

async function fastBackend(): Promise<{ backend?: BackendChoice; why: string }> {
  const emu = await backendAvailable('emulated');
  if (emu.ok) return { backend: 'emulated', why: 'emulated backend' };
  const kvm = await backendAvailable('kvm');
  if (kvm.ok) {
    const sel = await chooseBackend('auto');
    const fast = sel.hypervisor.kind === 'kvm' && sel.probe && sel.probe.ratio < 20;
    (sel.hypervisor as { close?: () => void }).close?.();
    if (fast) return { backend: 'kvm', why: 'KVM at hardware speed' };
    const p = sel.probe;
    return {
      why: `${emu.why}; KVM is there but ${p ? `runs CPL0 code ${Math.round(p.ratio)}x slower than CPL3 (PVM-like)` : 'its speed probe failed'}`,
    };
  }
  return { why: `${emu.why}; ${kvm.why}` };
}

const choice = await fastBackend();
let guest: GuestManifest | undefined;
let guestWhy = '';
if (choice.backend) {
  try {
    guest = await buildDefaultGuest({});
  } catch (e) {
    guestWhy = (e as Error).message;
  }
}
const skip = !choice.backend || !guest;
if (skip) {
  console.log(
    `skipped: Linux boot tests (${!choice.backend ? `no fast backend: ${choice.why}` : `default guest unavailable: ${guestWhy}`})`,
  );
}

async function boot(script: string, extra: Partial<VmmConfig> = {}) {
  let out = '';
  const config = {
    ...resolveConfig({
      flags: {
        kernel: guest!.kernel,
        initrd: guest!.initrd,
        memoryMib: GUEST_MEMORY_MIB,
        backend: choice.backend,
        cmdlineAppend: `quiet ${runParameter(script)}`,
      },
    }),
    ...extra,
  };
  const vmm = await Vmm.create(config, {
    input: null,
    handleSignals: false,
    log: () => {},
    output: {
      write: (c: Uint8Array) => {
        out += Buffer.from(c).toString('latin1');
        return true;
      },
    },
  });
  const result = await vmm.run();
  return { result, out };
}

/** Runs the `ts-vmm` CLI (from source, through tsx) with `stdin` piped in; resolves when it exits. */
function tsVmm(
  args: string[],
  stdin: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx/cli');
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [tsx, cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('latin1');
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('latin1');
    });
    const kill = setTimeout(() => p.kill('SIGKILL'), 800_000);
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(stdin);
  });
}

// The reboot and panic boots run by default (about a minute each on the emulator here);
// TS_VMM_E2E_QUICK=1 leaves them out for a faster local loop.
const all = process.env.TS_VMM_E2E_QUICK !== '1';
if (!skip && !all) console.log('skipped: Linux reboot/panic/virtio-console boots (TS_VMM_E2E_QUICK=1)');

/** Runs a host tool; undefined (with the reason in `why`) when it is missing or fails. */
function tool(cmd: string, args: string[], why: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    why.push(`${cmd}: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

const VSOCK_PORT = 1234;
const GUEST_MEMORY_MIB = 256;
const GUEST_VCPUS = 2;

/**
 * The host end of the guest's vsock connection (Firecracker's hybrid vsock: a guest connect to
 * CID 2 port P reaches the Unix socket `<uds>_<P>`): records the guest's line, answers with its own.
 */
function vsockHost(path: string, reply: string): Promise<{ server: Server; received: () => string }> {
  let received = '';
  const server = createServer((sock) => {
    sock.on('data', (d) => {
      received += d.toString('latin1');
      if (received.includes('\n')) sock.end(reply);
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve({ server, received: () => received }));
  });
}

describe.skipIf(skip)('Debian cloud kernel + default guest', () => {
  it('boots with 2 vCPUs, loads the virtio modules, sees its memory, reads a read-only disk that refuses writes, writes an ext4 disk, talks over vsock both ways, pings the host over a tap and powers off (exit 0)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'disk-'));
    // vda: raw, read-only, with a magic string.
    const disk = join(dir, 'disk.img');
    const img = Buffer.alloc(1 << 20);
    img.write('TS-VMM-DISK-MAGIC', 0);
    writeFileSync(disk, img);
    // vdb: ext4 made on the host with `mkfs.ext4 -d`, holding a file and (when gcc is here) the
    // static vsock client for the guest.
    const why: string[] = [];
    const content = join(dir, 'content');
    mkdirSync(content);
    writeFileSync(join(content, 'from-host.txt'), 'HOST-FILE-CONTENT\n');
    const client = join(content, 'vsock-client');
    const source = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'vsock-echo-client.c');
    const haveClient = tool('gcc', ['-static', '-Os', '-o', client, source], why) !== undefined;
    const ext4 = join(dir, 'data.ext4');
    const haveExt4 = tool('mkfs.ext4', ['-q', '-F', '-d', content, ext4, '8M'], why) !== undefined;
    // A tap on the host side (needs CAP_NET_ADMIN; skipped otherwise): the guest pings its address.
    const tapName = `tsvmm${process.pid % 100000}`;
    const subnet = `198.18.${(process.pid >> 6) & 255}.${(process.pid & 63) * 4}`.split('.').map(Number);
    const hostIp = [...subnet.slice(0, 3), subnet[3]! + 1].join('.');
    const guestIp = [...subnet.slice(0, 3), subnet[3]! + 2].join('.');
    const tapMade = tool('ip', ['tuntap', 'add', 'dev', tapName, 'mode', 'tap'], why) !== undefined;
    const haveTap =
      tapMade &&
      tool('ip', ['addr', 'add', `${hostIp}/30`, 'dev', tapName], why) !== undefined &&
      tool('ip', ['link', 'set', tapName, 'up'], why) !== undefined;
    if (why.length > 0) console.log(`skipped parts of the Linux boot test: ${why.join('; ')}`);
    const nonce = `n${process.pid}`;
    const uds = join(dir, 'vm.vsock');
    const host = await vsockHost(`${uds}_${VSOCK_PORT}`, `host-to-guest ${nonce}\n`);

    const script = [
      'echo TSVMM-OK; ls /sys/bus/virtio/devices; head -c 17 /dev/vda; echo; grep -c virtio /proc/modules',
      'echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"',
      'grep MemTotal /proc/meminfo',
      'if dd if=/dev/zero of=/dev/vda bs=512 count=1 conv=fsync 2>/dev/null; then echo RO-WRITE-ACCEPTED; else echo RO-WRITE-REFUSED; fi',
      'mkdir -p /mnt && mount -t ext4 /dev/vdb /mnt && echo EXT4-MOUNTED',
      'cat /mnt/from-host.txt',
      'echo GUEST-WROTE-THIS > /mnt/from-guest.txt',
      `[ -x /mnt/vsock-client ] && /mnt/vsock-client ${VSOCK_PORT} ${nonce} && echo VSOCK-CLIENT-DONE`,
      haveTap
        ? `ifconfig eth0 ${guestIp} netmask 255.255.255.252 up && ping -c 2 -W 10 ${hostIp} && echo PING-OK`
        : 'true',
      'umount /mnt && echo EXT4-UNMOUNTED',
    ].join('\n');
    let run: Awaited<ReturnType<typeof boot>>;
    try {
      run = await boot(script, {
        vcpus: GUEST_VCPUS,
        disks: [{ path: disk, readOnly: true }, ...(haveExt4 ? [{ path: ext4, readOnly: false }] : [])],
        net: haveTap ? [{ tap: tapName, mac: '06:00:ac:10:00:02' }] : [],
        vsock: { cid: 3, uds },
      });
    } finally {
      host.server.close();
      if (tapMade) tool('ip', ['link', 'del', tapName], why);
    }
    const { result, out } = run;
    expect(out).toContain('ts-vmm-init: ready');
    expect(out).toContain('TSVMM-OK');
    expect(out).toMatch(/virtio0\s+virtio1/);
    expect(out).toContain('TS-VMM-DISK-MAGIC');
    // The vCPU count and memory the VMM was configured with.
    expect(out).toContain(`CPUS=${GUEST_VCPUS}`);
    const memKib = Number(/MemTotal:\s+(\d+) kB/.exec(out)?.[1]);
    expect(memKib).toBeLessThanOrEqual(GUEST_MEMORY_MIB * 1024);
    expect(memKib).toBeGreaterThan(GUEST_MEMORY_MIB * 1024 * 0.8);
    // The read-only disk refused the write, and its host file is unchanged.
    expect(out).toContain('RO-WRITE-REFUSED');
    expect(readFileSync(disk).subarray(0, 17).toString('latin1')).toBe('TS-VMM-DISK-MAGIC');
    if (haveExt4) {
      expect(out).toContain('EXT4-MOUNTED');
      expect(out).toContain('HOST-FILE-CONTENT');
      expect(out).toContain('EXT4-UNMOUNTED');
      const back = tool('debugfs', ['-R', 'cat /from-guest.txt', ext4], why);
      if (back !== undefined) expect(back).toContain('GUEST-WROTE-THIS');
      else console.log(`skipped: reading the guest's file back (${why.at(-1)})`);
    }
    if (haveExt4 && haveClient) {
      expect(host.received()).toBe(`guest-to-host ${nonce}\n`);
      expect(out).toContain(`host-to-guest ${nonce}`);
      expect(out).toContain('VSOCK-CLIENT-DONE');
    }
    if (haveTap) expect(out).toContain('PING-OK');
    expect(out).toContain('ts-vmm-init: exit 0');
    expect(result).toMatchObject({ reason: 'poweroff', exitCode: 0 });
  }, 900_000);

  it.skipIf(!all)(
    '--console virtio: the CLI puts the shell on hvc0, runs a command piped in on stdin, and exits 0 on poweroff',
    async () => {
      // No tsvmm.run=: /init starts its interactive shell on the console, which is hvc0 here. The
      // input is piped in at once; the VMM holds it until the guest's virtio console port is up.
      const r = await tsVmm(
        [
          'run',
          ...['--kernel', guest!.kernel, '--initrd', guest!.initrd, '--memory', String(GUEST_MEMORY_MIB)],
          ...['--backend', choice.backend!, '--console', 'virtio', '--append', 'quiet'],
        ],
        'tty; cat /sys/class/tty/console/active; echo "VIRTIO-CONSOLE-$((6 * 7))"; poweroff -f\n',
      );
      expect(r.stdout).toContain('ts-vmm-init: ready');
      expect(r.stdout).toMatch(/^\/dev\/hvc0\r?$/m);
      expect(r.stdout).toMatch(/^ttyS0 hvc0\r?$/m);
      expect(r.stdout).toContain('VIRTIO-CONSOLE-42');
      expect(r.stderr).toContain('guest stopped (poweroff');
      expect(r.code).toBe(0);
    },
    900_000,
  );

  it.skipIf(!all)(
    'reboot -f ends with the reboot exit code',
    async () => {
      const { result } = await boot('reboot -f');
      expect(result).toMatchObject({ reason: 'reboot', exitCode: EXIT_CODES.reboot });
    },
    900_000,
  );

  it.skipIf(!all)(
    'a kernel panic ends with the panic exit code',
    async () => {
      const { result } = await boot('echo c > /proc/sysrq-trigger');
      expect(result).toMatchObject({ reason: 'panic', exitCode: EXIT_CODES.panic });
    },
    900_000,
  );
});
