import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { VmmConfig } from '../config/types.js';
import { type RunResult, stopResult } from '../vmm/exit-codes.js';
import { type ApiResponse, FirecrackerInstance, type VmHandle } from './instance.js';
import { FirecrackerLogger } from './logger.js';
import { type DefinitionName, validateBody } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'fc-instance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const kernel = join(dir, 'vmlinux');
const initrd = join(dir, 'initrd.cpio');
const rootfs = join(dir, 'rootfs.ext4');
const data = join(dir, 'data.img');
for (const f of [kernel, initrd, rootfs, data]) writeFileSync(f, 'x');

/** A fake VM: records what it was started with; the test ends it. */
function setup(o: { failStart?: Error } = {}) {
  const started: VmmConfig[] = [];
  let end!: (r: RunResult) => void;
  let ctrlAltDel = 0;
  const lines: string[] = [];
  const inst = new FirecrackerInstance({
    id: 'test-vm',
    vmmVersion: '9.9.9',
    backend: 'emulated',
    logger: new FirecrackerLogger({
      instanceId: 'test-vm',
      level: 'Debug',
      sink: { write: (l) => lines.push(l) },
    }),
    startVm: async (config) => {
      if (o.failStart) throw o.failStart;
      started.push(config);
      const handle: VmHandle = {
        result: new Promise((r) => {
          end = r;
        }),
        sendCtrlAltDel: () => {
          ctrlAltDel++;
        },
        counters: () => ({
          vcpu: { exits: 10, exit_io: 7, exit_mmio: 3 },
          block: { read_bytes: 0, write_bytes: 0, requests: 0, errors: 0 },
          net: { rx_packets_count: 0, tx_packets_count: 0, rx_dropped: 0, tx_dropped: 0 },
        }),
      };
      return handle;
    },
  });
  const call = async (method: string, path: string, body?: unknown): Promise<ApiResponse> => {
    const r = await inst.handle(
      method,
      path,
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    );
    // every answer matches the schema: 204 without a body, 400 with an Error
    if (r.status === 204) expect(r.body).toBeUndefined();
    if (r.status === 400) {
      validateBody('Error', r.body);
      expect((r.body as { fault_message: string }).fault_message.length).toBeGreaterThan(5);
    }
    return r;
  };
  const ok = async (method: string, path: string, body?: unknown, schema?: DefinitionName) => {
    if (schema && body !== undefined) validateBody(schema, body);
    const r = await call(method, path, body);
    expect(r, JSON.stringify(r.body)).toMatchObject({ status: 204 });
  };
  const fault = async (method: string, path: string, body: unknown, pattern: RegExp) => {
    const before = JSON.stringify(inst.vmConfig());
    const r = await call(method, path, body);
    expect(r.status).toBe(400);
    expect((r.body as { fault_message: string }).fault_message).toMatch(pattern);
    expect(JSON.stringify(inst.vmConfig())).toBe(before); // a bad request changes nothing
  };
  return {
    inst,
    call,
    ok,
    fault,
    started,
    end: (r: RunResult) => end(r),
    ctrlAltDel: () => ctrlAltDel,
    lines,
  };
}

describe('FirecrackerInstance', () => {
  it('answers GET /, /version and /machine-config with the schema and the Firecracker defaults', async () => {
    const { call } = setup();
    const info = await call('GET', '/');
    expect(info.status).toBe(200);
    expect(validateBody('InstanceInfo', info.body)).toEqual({
      app_name: 'ts-vmm',
      id: 'test-vm',
      state: 'Not started',
      vmm_version: '9.9.9',
    });
    const v = await call('GET', '/version');
    expect(validateBody('FirecrackerVersion', v.body).firecracker_version).toMatch(/^\d+\.\d+\.\d+$/);
    const mc = await call('GET', '/machine-config');
    expect(validateBody('MachineConfiguration', mc.body)).toMatchObject({ vcpu_count: 1, mem_size_mib: 128 });
  });

  it('translates the getting-started configuration into ts-vmm config at InstanceStart', async () => {
    const { ok, call, started, inst } = setup();
    await ok(
      'PUT',
      '/boot-source',
      { kernel_image_path: kernel, initrd_path: initrd, boot_args: 'console=ttyS0 reboot=k panic=1' },
      'BootSource',
    );
    await ok('PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 256 }, 'MachineConfiguration');
    await ok('PATCH', '/machine-config', { mem_size_mib: 300 }, 'MachineConfigurationUpdate');
    await ok(
      'PUT',
      '/drives/data',
      { drive_id: 'data', path_on_host: data, is_root_device: false, is_read_only: true },
      'Drive',
    );
    await ok(
      'PUT',
      '/drives/rootfs',
      { drive_id: 'rootfs', path_on_host: rootfs, is_root_device: true, is_read_only: false },
      'Drive',
    );
    await ok(
      'PUT',
      '/network-interfaces/net1',
      { iface_id: 'net1', guest_mac: '06:00:AC:10:00:02', host_dev_name: 'tap0' },
      'NetworkInterface',
    );
    await ok('PUT', '/vsock', { guest_cid: 3, uds_path: join(dir, 'v.sock') }, 'Vsock');
    await ok('PUT', '/entropy', {}, 'EntropyDevice');
    const cfg = await call('GET', '/vm/config');
    const full = validateBody('FullVmConfiguration', cfg.body);
    expect(full['machine-config']).toMatchObject({ vcpu_count: 2, mem_size_mib: 300 });
    expect(full.drives?.map((d) => d.drive_id)).toEqual(['data', 'rootfs']);
    await ok('PUT', '/actions', { action_type: 'InstanceStart' }, 'InstanceActionInfo');
    expect(started).toHaveLength(1);
    const c = started[0];
    expect(c).toMatchObject({
      kernel,
      initrd,
      vcpus: 2,
      memoryMib: 300,
      backend: 'emulated',
      console: 'serial',
    });
    expect(c.cmdline).toBe('console=ttyS0 reboot=k panic=1');
    // the root drive comes first, as /dev/vda, as Firecracker orders them
    expect(c.disks).toEqual([
      { path: rootfs, readOnly: false },
      { path: data, readOnly: true },
    ]);
    expect(c.cmdlineAppend).toBe('root=/dev/vda rw');
    expect(c.net).toEqual([{ tap: 'tap0', mac: '06:00:ac:10:00:02' }]);
    expect(c.vsock).toEqual({ cid: 3, uds: join(dir, 'v.sock') });
    expect(inst.state).toBe('Running');
    expect((await call('GET', '/')).body).toMatchObject({ state: 'Running' });
  });

  it('enforces the pre- and post-boot rules', async () => {
    const { ok, fault, ctrlAltDel, end, inst } = setup();
    await fault('PUT', '/actions', { action_type: 'InstanceStart' }, /without kernel configuration/);
    await fault('PUT', '/actions', { action_type: 'SendCtrlAltDel' }, /not supported before starting/);
    await fault('PATCH', '/drives/rootfs', { drive_id: 'rootfs' }, /not supported before starting/);
    await ok('PUT', '/boot-source', { kernel_image_path: kernel });
    await ok('PUT', '/actions', { action_type: 'InstanceStart' });
    for (const [m, p, b] of [
      ['PUT', '/boot-source', { kernel_image_path: kernel }],
      ['PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 }],
      ['PATCH', '/machine-config', { vcpu_count: 1 }],
      ['PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: rootfs, is_root_device: true }],
      ['PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: 'tap0' }],
      ['PUT', '/vsock', { guest_cid: 3, uds_path: '/tmp/x.sock' }],
      ['PUT', '/entropy', {}],
      ['PUT', '/logger', { level: 'Info' }],
      ['PUT', '/metrics', { metrics_path: join(dir, 'm') }],
      ['PUT', '/actions', { action_type: 'InstanceStart' }],
    ] as const) {
      await fault(m, p, b, /not supported after starting the microVM/);
    }
    await fault('PATCH', '/drives/rootfs', { drive_id: 'rootfs' }, /not yet supported by ts-vmm/);
    await ok('PUT', '/actions', { action_type: 'SendCtrlAltDel' });
    expect(ctrlAltDel()).toBe(1);
    end(stopResult('reboot', 'i8042 reset'));
    await expect(inst.exited).resolves.toMatchObject({ reason: 'reboot' });
  });

  it('refuses bad values with a message naming the field, and changes nothing', async () => {
    const { ok, fault } = setup();
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 0, mem_size_mib: 128 },
      /^vcpu_count: 0 is below the minimum 1/,
    );
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 33, mem_size_mib: 128 },
      /vcpu_count: 33 is above the maximum 32/,
    );
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 1.5, mem_size_mib: 128 },
      /vcpu_count: 1.5 is not an integer/,
    );
    await fault('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 1 }, /mem_size_mib/);
    await fault('PUT', '/machine-config', { vcpu_count: 1 }, /mem_size_mib: missing field/);
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 1, mem_size_mib: 128, smt: true },
      /smt: .*not yet supported by ts-vmm/,
    );
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 1, mem_size_mib: 128, cpu_template: 'T2' },
      /cpu_template: .*T2/,
    );
    await fault(
      'PUT',
      '/machine-config',
      { vcpu_count: 1, mem_size_mib: 128, cpu_template: 'X9' },
      /cpu_template: "X9" is not one of/,
    );
    await fault('PATCH', '/machine-config', { vcpus: 2 }, /vcpus: unknown field/);
    await fault(
      'PUT',
      '/boot-source',
      { kernel_image_path: join(dir, 'missing') },
      /kernel_image_path: cannot open .*ENOENT/,
    );
    await fault('PUT', '/boot-source', { initrd_path: initrd }, /kernel_image_path: missing field/);
    await fault(
      'PUT',
      '/boot-source',
      { kernel_image_path: kernel, boot_args: 'x'.repeat(3000) },
      /boot_args/,
    );
    await fault(
      'PUT',
      '/drives/rootfs',
      { drive_id: 'other', path_on_host: rootfs, is_root_device: true },
      /does not match the id from the body/,
    );
    await fault(
      'PUT',
      '/drives/bad-id',
      { drive_id: 'bad-id', path_on_host: rootfs, is_root_device: true },
      /drive_id: "bad-id" is not a valid id/,
    );
    await fault(
      'PUT',
      '/drives/r',
      { drive_id: 'r', path_on_host: join(dir, 'nope'), is_root_device: false },
      /path_on_host: cannot open/,
    );
    await fault(
      'PUT',
      '/drives/r',
      { drive_id: 'r', is_root_device: false, socket: '/tmp/vhost' },
      /vhost-user-block .*not supported by ts-vmm/,
    );
    await fault('PUT', '/drives/r', { drive_id: 'r', path_on_host: rootfs }, /is_root_device: missing field/);
    await fault(
      'PUT',
      '/drives/r',
      {
        drive_id: 'r',
        path_on_host: rootfs,
        is_root_device: false,
        rate_limiter: { bandwidth: { size: 1, refill_time: 1 } },
      },
      /rate limiting is not yet supported/,
    );
    await ok('PUT', '/drives/r1', {
      drive_id: 'r1',
      path_on_host: rootfs,
      is_root_device: true,
      rate_limiter: null,
    });
    await fault(
      'PUT',
      '/drives/r2',
      { drive_id: 'r2', path_on_host: data, is_root_device: true },
      /root block device already exists/,
    );
    // the same file twice: ts-vmm's own cross-field check
    await fault(
      'PUT',
      '/drives/r3',
      { drive_id: 'r3', path_on_host: rootfs, is_root_device: false },
      /attached twice/,
    );
    await fault(
      'PUT',
      '/network-interfaces/n',
      { iface_id: 'n', host_dev_name: 'tap0', guest_mac: 'zz' },
      /guest_mac/,
    );
    await fault(
      'PUT',
      '/network-interfaces/n',
      { iface_id: 'n', host_dev_name: 'tap0', mtu: 1500 },
      /mtu: .*not yet supported/,
    );
    await fault(
      'PUT',
      '/network-interfaces/n',
      { iface_id: 'n', host_dev_name: 'tap0', mtu: 10 },
      /mtu: 10 is below the minimum 68/,
    );
    await fault(
      'PUT',
      '/vsock',
      { guest_cid: 2, uds_path: '/tmp/v.sock' },
      /guest_cid: 2 is below the minimum 3/,
    );
    await fault('PUT', '/logger', { level: 'Loud' }, /level: "Loud" is not one of/);
    await fault('PUT', '/metrics', {}, /metrics_path: missing field/);
    await fault('PUT', '/actions', { action_type: 'Reboot' }, /action_type: "Reboot" is not one of/);
    await fault('PUT', '/actions', { action_type: 'FlushMetrics' }, /metrics system is not configured/);
  });

  it('refuses malformed bodies, bodies on GET, unknown paths and methods', async () => {
    const { fault, call } = setup();
    await fault('PUT', '/machine-config', '{"vcpu_count": 1,', /deserializing the json body/);
    await fault('PUT', '/machine-config', '[1, 2]', /body: an array is not an object/);
    await fault('PUT', '/machine-config', undefined, /Empty PUT request/);
    await fault('GET', '/machine-config', '{}', /GET request cannot have a body/);
    await fault('GET', '/nope', undefined, /Invalid request method and\/or path: GET \/nope\./);
    await fault('DELETE', '/machine-config', undefined, /Invalid request method and\/or path: DELETE/);
    await fault('POST', '/actions', { action_type: 'InstanceStart' }, /Invalid request method/);
    await fault('PUT', '/drives', { drive_id: 'x' }, /Invalid request method/);
    await fault('PUT', '/drives/a/b', { drive_id: 'x' }, /Invalid request method/);
    expect((await call('GET', '/machine-config?x=1')).status).toBe(200);
  });

  it('says which endpoints ts-vmm does not offer, or not yet', async () => {
    const { fault } = setup();
    await fault(
      'PUT',
      '/balloon',
      { amount_mib: 1, deflate_on_oom: true },
      /balloon .*not supported by ts-vmm/,
    );
    await fault('GET', '/balloon/statistics', undefined, /balloon .*not supported by ts-vmm/);
    await fault('PUT', '/pmem/p0', { id: 'p0', path_on_host: '/x' }, /pmem .*not supported by ts-vmm/);
    await fault('PUT', '/hotplug/memory', {}, /hotplug .*not supported by ts-vmm/);
    await fault('PUT', '/cpu-config', {}, /cpu-config.*not supported by ts-vmm/);
    await fault('PUT', '/serial', {}, /serial .*not supported by ts-vmm/);
    await fault(
      'PUT',
      '/snapshot/create',
      { snapshot_path: 's', mem_file_path: 'm' },
      /snapshots .*not yet supported by ts-vmm/,
    );
    await fault('PUT', '/snapshot/load', { snapshot_path: 's' }, /not yet supported by ts-vmm/);
    await fault('PATCH', '/vm', { state: 'Paused' }, /PATCH \/vm.*not yet supported by ts-vmm/);
    await fault('GET', '/mmds', undefined, /MMDS .*not yet supported by ts-vmm/);
    await fault('PUT', '/mmds/config', { network_interfaces: [] }, /MMDS .*not yet supported by ts-vmm/);
  });

  it('a failed InstanceStart reports the VMM error and leaves the instance configurable', async () => {
    const { VmmError } = await import('../vmm/errors.js');
    const { ok, call, inst } = setup({ failStart: new VmmError('device', 'net tap tap9: ENOENT') });
    await ok('PUT', '/boot-source', { kernel_image_path: kernel });
    const r = await call('PUT', '/actions', { action_type: 'InstanceStart' });
    expect(r).toEqual({ status: 400, body: { fault_message: 'Start microvm error: net tap tap9: ENOENT' } });
    expect(inst.state).toBe('Not started');
    await ok('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 });
  });

  it('writes metrics lines on FlushMetrics: API request counts and vCPU exits since the last line', async () => {
    const { ok, call, end } = setup();
    const path = join(dir, 'metrics.json');
    await ok('PUT', '/metrics', { metrics_path: path }, 'Metrics');
    await call('PUT', '/metrics', { metrics_path: path }).then((r) => expect(r.status).toBe(400));
    await call('GET', '/machine-config');
    await call('PUT', '/machine-config', { vcpu_count: 0, mem_size_mib: 1 });
    await ok('PUT', '/actions', { action_type: 'FlushMetrics' });
    await ok('PUT', '/boot-source', { kernel_image_path: kernel });
    await ok('PUT', '/actions', { action_type: 'InstanceStart' });
    await ok('PUT', '/actions', { action_type: 'FlushMetrics' });
    const { readFileSync } = await import('node:fs');
    const lines = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0].get_api_requests.machine_cfg_count).toBe(1);
    expect(lines[0].put_api_requests).toMatchObject({
      machine_cfg_count: 1,
      machine_cfg_fails: 1,
      metrics_count: 2,
      metrics_fails: 1,
    });
    expect(lines[0].vcpu).toBeUndefined();
    // the second line counts what happened since the first
    expect(lines[1].get_api_requests.machine_cfg_count).toBe(0);
    expect(lines[1].put_api_requests).toMatchObject({
      boot_source_count: 1,
      actions_count: 2,
      machine_cfg_fails: 0,
    });
    expect(lines[1].vcpu).toEqual({ exits: 10, exit_io: 7, exit_mmio: 3 });
    expect(lines[1].utc_timestamp_ms).toBeGreaterThanOrEqual(lines[0].utc_timestamp_ms);
    end(stopResult('poweroff'));
  });

  it('configures everything from a --config-file object, or nothing when one resource is bad', async () => {
    const { inst, started } = setup();
    const good = {
      'boot-source': { kernel_image_path: kernel, boot_args: 'console=ttyS0' },
      'machine-config': { vcpu_count: 1, mem_size_mib: 64 },
      drives: [
        {
          drive_id: 'rootfs',
          path_on_host: rootfs,
          is_root_device: true,
          is_read_only: true,
          partuuid: '1234-01',
        },
      ],
    };
    validateBody('FullVmConfiguration', good);
    expect(() =>
      inst.configure({ ...good, drives: [{ ...good.drives[0], path_on_host: '/nonexistent' }] }),
    ).toThrow(/path_on_host/);
    expect(inst.vmConfig()['boot-source']).toBeUndefined();
    expect(() => inst.configure({ ...good, balloon: { amount_mib: 1, deflate_on_oom: true } })).toThrow(
      /balloon.*not supported/,
    );
    expect(() => inst.configure({ ...good, 'mmds-config': { network_interfaces: [] } })).toThrow(
      /MMDS is not yet supported/,
    );
    expect(() => inst.configure({ 'machine-config': good['machine-config'] })).toThrow(/boot-source/);
    expect(() => inst.configure({ ...good, extra: 1 })).toThrow(/extra: unknown field/);
    inst.configure(good);
    await inst.startInstance();
    expect(started[0]).toMatchObject({
      memoryMib: 64,
      cmdline: 'console=ttyS0',
      cmdlineAppend: 'root=PARTUUID=1234-01 ro',
    });
  });

  it("logs in Firecracker's line format, at the configured level", async () => {
    const { ok, lines } = setup();
    await ok('PUT', '/logger', { level: 'Debug', show_level: true, show_log_origin: true }, 'Logger');
    await ok('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 });
    expect(lines.at(-1)).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9} \[test-vm:main:DEBUG:api_server\] PUT \/machine-config: 204$/,
    );
    await ok('PUT', '/logger', { level: 'Warning', show_level: false });
    const n = lines.length;
    await ok('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 64 });
    expect(lines.length).toBe(n);
  });
});
