import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DeviceError } from '../errors.js';
import { TapBackend } from './tap.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '../..');

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun is missing';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command is missing';
  }
  const probe = `tsvmm-probe-${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
  } catch {
    return 'cannot create network namespaces here (needs CAP_SYS_ADMIN)';
  }
  try {
    execFileSync(process.execPath, ['-e', "import('@ts-vmm/kvm-sys').then((m) => m.loadAddon())"], {
      cwd: pkg,
      stdio: 'ignore',
    });
  } catch {
    return 'the @ts-vmm/kvm-sys native addon is not available';
  }
  return undefined;
}

const reason = skipReason();
if (reason) console.log(`skipped: tap test (${reason})`);

describe('TapBackend', () => {
  it('refuses over-long interface names', async () => {
    await expect(TapBackend.open('x'.repeat(16))).rejects.toThrow(DeviceError);
  });

  it.skipIf(reason !== undefined)(
    'moves frames both ways between a virtio-net device and a tap in a network namespace',
    () => {
      const ns = `tsvmm-test-${process.pid}`;
      execFileSync('ip', ['netns', 'add', ns]);
      try {
        const child = spawnSync(
          'ip',
          ['netns', 'exec', ns, process.execPath, '--import', 'tsx', path.join(pkg, 'test/tap-child.ts')],
          { cwd: pkg, encoding: 'utf8', timeout: 30_000 },
        );
        const line = child.stdout.trim().split('\n').pop() ?? '';
        let result: any;
        try {
          result = JSON.parse(line);
        } catch {
          throw new Error(
            `tap child printed no result (status ${child.status}): ${child.stdout}\n${child.stderr}`,
          );
        }
        expect(result.error).toBeUndefined();
        expect(result.tapName).toBe('tsvmmtap0');
        expect(result.txFrames).toBe(1);
        expect(result.rxFrames).toBeGreaterThanOrEqual(1);
        const reply: number[] = result.reply;
        expect(reply).toBeDefined();
        expect(reply.slice(0, 6)).toEqual([0x52, 0x54, 0x00, 0x00, 0x00, 0x02]); // to the guest MAC
        expect(reply.slice(28, 32)).toEqual([10, 77, 0, 1]); // sender: the host side
        expect(reply.slice(38, 42)).toEqual([10, 77, 0, 2]); // target: the guest
      } finally {
        execFileSync('ip', ['netns', 'del', ns]);
      }
    },
  );
});
