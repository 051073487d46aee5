import { describe, expect, it } from 'vitest';
import { DEFINITIONS, validateBody } from './schema.js';

describe('validateBody', () => {
  it('returns a valid body with its null optional fields dropped', () => {
    expect(
      validateBody('BootSource', { kernel_image_path: 'k', initrd_path: null, boot_args: 'console=ttyS0' }),
    ).toEqual({
      kernel_image_path: 'k',
      boot_args: 'console=ttyS0',
    });
    const full = validateBody('FullVmConfiguration', {
      'boot-source': { kernel_image_path: 'k' },
      drives: [
        {
          drive_id: 'rootfs',
          is_root_device: true,
          path_on_host: 'r',
          rate_limiter: { ops: { size: 1, refill_time: 10 } },
        },
      ],
      metrics: { metrics_path: 'm', properties: { zone: 'a' } },
    });
    expect(full.drives?.[0].rate_limiter?.ops).toEqual({ size: 1, refill_time: 10 });
  });

  it('names the JSON path of the fault', () => {
    expect(() =>
      validateBody('FullVmConfiguration', { drives: [{ drive_id: 1, is_root_device: true }] }),
    ).toThrow('drives[0].drive_id: 1 is not a string');
    expect(() =>
      validateBody('FullVmConfiguration', {
        drives: [
          { drive_id: 'a', is_root_device: true, rate_limiter: { bandwidth: { size: -1, refill_time: 1 } } },
        ],
      }),
    ).toThrow('drives[0].rate_limiter.bandwidth.size: -1 is below the minimum 0');
    expect(() => validateBody('Metrics', { metrics_path: 'm', properties: { a: 1 } })).toThrow(
      'properties.a: 1 is not a string',
    );
    expect(() => validateBody('InstanceActionInfo', {})).toThrow('action_type: missing field');
    expect(() => validateBody('InstanceActionInfo', { action_type: null })).toThrow(
      'action_type: null is not a string',
    );
    expect(() => validateBody('Vsock', { guest_cid: 3, uds_path: 'u', cid: 3 })).toThrow(
      /^cid: unknown field \(expected one of guest_cid, uds_path, vsock_id\)/,
    );
    expect(() => validateBody('MachineConfiguration', 'x')).toThrow('body: "x" is not an object');
    expect(() => validateBody('MachineConfiguration', { vcpu_count: 2 ** 60, mem_size_mib: 1 })).toThrow(
      /out of range/,
    );
    expect(() => validateBody('Logger', { show_level: 'yes' })).toThrow('show_level: "yes" is not a boolean');
  });

  it('knows every definition it refers to', () => {
    const refs = JSON.stringify(DEFINITIONS).match(/"\$ref":"(\w+)"/g) ?? [];
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) expect(Object.keys(DEFINITIONS)).toContain(r.slice(8, -1));
  });
});
