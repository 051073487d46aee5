/**
 * The Firecracker control plane end to end: `ts-vmm firecracker` as a process, driven with the
 * real `curl --unix-socket` step by step as in Firecracker's getting-started guide, booting the
 * default guest on the emulated backend; then the same VM from `--config-file` with `--no-api`.
 * Every request body sent and every response body received is checked against the schema.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type DefinitionName, validateBody } from '../src/firecracker/schema.js';
import { buildDefaultGuest } from '../src/guest/builder.js';
import type { GuestManifest } from '../src/guest/cache.js';
import { INIT_READY_MARKER, runParameter } from '../src/guest/init-script.js';
import { backendAvailable } from '../src/vmm/backend.js';
import { EXIT_CODES } from '../src/vmm/exit-codes.js';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const tsx = createRequire(import.meta.url).resolve('tsx/cli');
const hasCurl = spawnSync('curl', ['--version']).status === 0;
const emulated = (await backendAvailable('emulated')).ok;
let guest: GuestManifest | undefined;
let why = !hasCurl
  ? 'curl is not installed (apt-get install curl)'
  : !emulated
    ? 'the emulated backend is not available'
    : '';
if (!why) {
  try {
    guest = await buildDefaultGuest({});
  } catch (e) {
    why = `default guest unavailable: ${(e as Error).message}`;
  }
}
if (why) console.log(`skipped: Firecracker API end-to-end tests (${why})`);

const dir = mkdtempSync(join(tmpdir(), 'fc-e2e-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** `ts-vmm firecracker ARGS` as a child process, its output collected. */
function firecracker(args: string[]) {
  const child = spawn(process.execPath, [tsx, cli, 'firecracker', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const p = { child, out: '', err: '', code: undefined as number | null | undefined };
  child.stdout.on('data', (c: Buffer) => {
    p.out += c.toString('latin1');
  });
  child.stderr.on('data', (c: Buffer) => {
    p.err += c.toString('latin1');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    ...p,
    get stdout() {
      return p.out;
    },
    get stderr() {
      return p.err;
    },
    exited,
    child,
  };
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One request with curl; the response's status and parsed body. The body sent is checked against
 * `schema`; the body received against what the endpoint answers (an Error for 4xx/5xx).
 */
function curl(sock: string, method: string, path: string, body?: unknown, schema?: DefinitionName) {
  let data: string | undefined;
  if (body !== undefined) {
    data = typeof body === 'string' ? body : JSON.stringify(body);
    if (schema) validateBody(schema, JSON.parse(data));
  }
  const args = ['-s', '-i', '--unix-socket', sock, '-X', method, `http://localhost${path}`];
  if (data !== undefined) args.push('-H', 'Content-Type: application/json', '--data', data);
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    execFile('curl', args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout) => {
      if (err) return reject(err);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(stdout);
      if (!m) return reject(new Error(`no HTTP status in ${JSON.stringify(stdout)}`));
      const status = Number(m[1]);
      const text = stdout.slice(stdout.indexOf('\r\n\r\n') + 4);
      let parsed: unknown;
      if (status === 204) expect(text).toBe('');
      else {
        parsed = JSON.parse(text);
        if (status >= 400) expect(validateBody('Error', parsed).fault_message).toBeTruthy();
        else if (path === '/') validateBody('InstanceInfo', parsed);
        else if (path === '/version') validateBody('FirecrackerVersion', parsed);
        else if (path === '/machine-config') validateBody('MachineConfiguration', parsed);
        else if (path === '/vm/config') validateBody('FullVmConfiguration', parsed);
      }
      resolve({ status, body: parsed });
    });
  });
}

const fault = (r: { body: unknown }) => (r.body as { fault_message: string }).fault_message;

describe.skipIf(!!why)('ts-vmm firecracker (curl --unix-socket, the emulated backend)', () => {
  it('the getting-started flow: configure, InstanceStart, the console works, SendCtrlAltDel ends it', async () => {
    const sock = join(dir, 'firecracker.socket');
    const logFile = join(dir, 'firecracker.log');
    const metricsFile = join(dir, 'firecracker.metrics');
    writeFileSync(logFile, '');
    const fc = firecracker(['--api-sock', sock, '--backend', 'emulated', '--id', 'e2e-vm']);
    await until('the API socket', () => existsSync(sock), 30_000);

    // the socket is up before any VM is configured; a second instance on the same path is refused
    const second = firecracker(['--api-sock', sock, '--backend', 'emulated']);
    expect(await second.exited).toBe(EXIT_CODES.usage);
    expect(second.stderr).toMatch(/--api-sock: .* already exists/);

    expect((await curl(sock, 'GET', '/')).body).toMatchObject({ id: 'e2e-vm', state: 'Not started' });
    expect((await curl(sock, 'GET', '/machine-config')).body).toMatchObject({
      vcpu_count: 1,
      mem_size_mib: 128,
    });
    const logger = { log_path: logFile, level: 'Debug', show_level: true, show_log_origin: true };
    expect((await curl(sock, 'PUT', '/logger', logger, 'Logger')).status).toBe(204);
    expect((await curl(sock, 'PUT', '/metrics', { metrics_path: metricsFile }, 'Metrics')).status).toBe(204);
    const boot = {
      kernel_image_path: guest!.kernel,
      initrd_path: guest!.initrd,
      boot_args: 'console=ttyS0 reboot=k panic=1 pci=off',
    };
    expect((await curl(sock, 'PUT', '/boot-source', boot, 'BootSource')).status).toBe(204);
    expect(
      (
        await curl(
          sock,
          'PUT',
          '/machine-config',
          { vcpu_count: 1, mem_size_mib: 256 },
          'MachineConfiguration',
        )
      ).status,
    ).toBe(204);

    // errors: each answered with a 400 that names the fault, none changes anything
    const zero = await curl(sock, 'PUT', '/machine-config', { vcpu_count: 0, mem_size_mib: 256 });
    expect([zero.status, fault(zero)]).toEqual([400, 'vcpu_count: 0 is below the minimum 1']);
    const broken = await curl(sock, 'PUT', '/machine-config', '{"vcpu_count": 2,');
    expect(broken.status).toBe(400);
    expect(fault(broken)).toMatch(/deserializing the json body/);
    const balloon = await curl(sock, 'PUT', '/balloon', { amount_mib: 1, deflate_on_oom: false });
    expect(fault(balloon)).toMatch(/balloon device is not supported by ts-vmm/);
    const snap = await curl(sock, 'PUT', '/snapshot/create', { snapshot_path: 's', mem_file_path: 'm' });
    expect(fault(snap)).toMatch(/not yet supported by ts-vmm/);
    expect(fault(await curl(sock, 'DELETE', '/boot-source'))).toBe(
      'Invalid request method and/or path: DELETE /boot-source.',
    );
    const early = await curl(sock, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' });
    expect(fault(early)).toMatch(/not supported before starting the microVM/);
    const cfg = await curl(sock, 'GET', '/vm/config');
    expect(cfg.body).toMatchObject({
      'boot-source': boot,
      'machine-config': { vcpu_count: 1, mem_size_mib: 256 },
    });

    // many clients at once, good and bad mixed: each answered, the server goes on
    const burst = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        i % 2 ? curl(sock, 'GET', '/version') : curl(sock, 'GET', `/no/such/${i}`),
      ),
    );
    expect(burst.map((r) => r.status)).toEqual(Array.from({ length: 12 }, (_, i) => (i % 2 ? 200 : 400)));

    const start = await curl(sock, 'PUT', '/actions', { action_type: 'InstanceStart' }, 'InstanceActionInfo');
    expect(start.status, JSON.stringify(start.body)).toBe(204);
    expect((await curl(sock, 'GET', '/')).body).toMatchObject({ state: 'Running' });
    const late = await curl(sock, 'PUT', '/boot-source', boot);
    expect([late.status, fault(late)]).toEqual([
      400,
      'The requested operation is not supported after starting the microVM.',
    ]);

    // the guest boots; its console is the process's stdin and stdout
    await until(
      'the guest shell',
      () => fc.stdout.includes(INIT_READY_MARKER) && fc.stdout.includes('/ # '),
      120_000,
    );
    fc.child.stdin!.write('echo console-$((6 * 7))\n');
    await until('the guest to answer on its console', () => fc.stdout.includes('console-42'), 30_000);

    expect((await curl(sock, 'PUT', '/actions', { action_type: 'FlushMetrics' })).status).toBe(204);
    const metrics = readFileSync(metricsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const last = metrics.at(-1);
    expect(last.utc_timestamp_ms).toBeGreaterThan(0);
    expect(last.vcpu.exits).toBeGreaterThan(0);
    expect(last.put_api_requests.boot_source_count).toBeGreaterThanOrEqual(1);

    // Ctrl-Alt-Del on the guest's i8042: Linux reboots, with reboot=k through the i8042 reset
    expect((await curl(sock, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' })).status).toBe(204);
    expect(await fc.exited).toBe(EXIT_CODES.reboot);
    expect(fc.stderr).toMatch(/guest stopped \(reboot/);
    expect(existsSync(sock)).toBe(false); // removed on exit
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[e2e-vm:main:DEBUG:api_server\] PUT \/machine-config: 204$/m,
    );
    expect(log).toMatch(/\[e2e-vm:main:INFO:vmm\] backend: emulated/);
  }, 200_000);

  it('the same VM from --config-file with --no-api boots at once and powers off', async () => {
    const sock = join(dir, 'unused.socket');
    const config = {
      'boot-source': {
        kernel_image_path: guest!.kernel,
        initrd_path: guest!.initrd,
        boot_args: `console=ttyS0 reboot=k panic=1 pci=off ${runParameter('echo from-config-file')}`,
      },
      'machine-config': { vcpu_count: 1, mem_size_mib: 256 },
      drives: [],
    };
    validateBody('FullVmConfiguration', config);
    const file = join(dir, 'vm_config.json');
    writeFileSync(file, JSON.stringify(config));
    const bad = join(dir, 'bad_config.json');
    writeFileSync(
      bad,
      JSON.stringify({ ...config, 'machine-config': { vcpu_count: 99, mem_size_mib: 256 } }),
    );
    const refused = firecracker(['--no-api', '--config-file', bad, '--backend', 'emulated']);
    expect(await refused.exited).toBe(EXIT_CODES.usage);
    expect(refused.stderr).toContain('machine-config.vcpu_count: 99 is above the maximum 32');
    const noApi = firecracker(['--no-api']);
    expect(await noApi.exited).toBe(EXIT_CODES.usage);

    const fc = firecracker(['--no-api', '--api-sock', sock, '--config-file', file, '--backend', 'emulated']);
    fc.child.stdin!.end();
    expect(await fc.exited).toBe(EXIT_CODES.poweroff);
    expect(fc.stdout).toContain('from-config-file');
    expect(fc.stdout).toContain('ts-vmm-init: exit 0');
    expect(existsSync(sock)).toBe(false);
  }, 200_000);
});
