// Runs inside a network namespace (spawned by src/node/tap.test.ts through `ip netns exec`):
// opens a tap, gives the host side an address, and drives a virtio-net device through the tap
// with a simulated guest driver: an ARP request goes out (guest -> host), the kernel's ARP reply
// comes back (host -> guest). Prints one JSON line with what it saw.
import { execFileSync } from 'node:child_process';
import { GuestMemory } from '@ts-vmm/vm-memory';
import { Bus } from '../src/bus.js';
import { TapBackend } from '../src/node/tap.js';
import { SimulatedDriver } from '../src/testing/driver-sim.js';
import { VirtioMmioTransport } from '../src/virtio/mmio.js';
import { Net, VIRTIO_NET_HDR_SIZE } from '../src/virtio/net.js';

const GUEST_MAC = [0x52, 0x54, 0x00, 0x00, 0x00, 0x02];
const GUEST_IP = [10, 77, 0, 2];
const HOST_IP = [10, 77, 0, 1];

function arpRequest(): Uint8Array {
  return Uint8Array.from([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...GUEST_MAC,
    0x08,
    0x06, // Ethernet: broadcast, ARP
    0x00,
    0x01,
    0x08,
    0x00,
    6,
    4,
    0x00,
    0x01, // Ethernet/IPv4, request
    ...GUEST_MAC,
    ...GUEST_IP,
    ...[0, 0, 0, 0, 0, 0],
    ...HOST_IP,
    ...new Array(18).fill(0), // pad to 60 bytes
  ]);
}

async function main() {
  const tap = await TapBackend.open('tsvmmtap0');
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', tap.name]);
  execFileSync('ip', ['link', 'set', tap.name, 'up']);
  const mem = GuestMemory.createShared([{ start: 0, size: 0x10_0000 }]);
  const net = new Net({ backend: tap, mac: Uint8Array.from(GUEST_MAC) });
  const t = new VirtioMmioTransport(net, { mem });
  const bus = new Bus('mmio');
  bus.register(0xd000_0000, 0x1000, t);
  const drv = new SimulatedDriver(bus, 0xd000_0000, mem, 0x1000);
  drv.init({ queueSizes: [64, 64] });
  const rx: number[] = [];
  for (let i = 0; i < 32; i++) {
    const b = drv.alloc(2048);
    rx.push(b);
    drv.submit(0, [{ addr: b, len: 2048, write: true }], { notify: false });
  }
  drv.notify(0);
  const hdr = drv.alloc(VIRTIO_NET_HDR_SIZE);
  const body = drv.alloc(60);
  mem.writeBytes(body, arpRequest());
  drv.submit(1, [
    { addr: hdr, len: VIRTIO_NET_HDR_SIZE },
    { addr: body, len: 60 },
  ]);
  const deadline = Date.now() + 5000;
  let reply: number[] | undefined;
  while (!reply && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    for (const u of drv.takeUsed(0)) {
      const f = mem.readBytes(rx[u.id] + VIRTIO_NET_HDR_SIZE, u.len - VIRTIO_NET_HDR_SIZE);
      if (f[12] === 0x08 && f[13] === 0x06 && f[21] === 2) reply = [...f.subarray(0, 42)];
    }
  }
  const out = {
    tapName: tap.name,
    txFrames: net.stats.txFrames,
    rxFrames: net.stats.rxFrames,
    reply,
    status: drv.status,
  };
  tap.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stdout.write(`${JSON.stringify({ error: String(e?.stack ?? e) })}\n`);
    process.exit(1);
  },
);
