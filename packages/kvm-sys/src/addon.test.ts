// Tests of the native addon: syscalls, errors, fd watching (main thread and worker), vCPU kicks.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { addonPath, hasKvm, isAddonAvailable, isSyscallError, loadAddon, type NativeAddon } from './addon.js';
import {
  EFD_NONBLOCK,
  EFD_SEMAPHORE,
  KVM_CAP_USER_MEMORY,
  KVM_CHECK_EXTENSION,
  KVM_CREATE_IRQCHIP,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_EXIT_INTR,
  KVM_GET_API_VERSION,
  KVM_GET_MSR_INDEX_LIST,
  KVM_GET_REGS,
  KVM_GET_SREGS,
  KVM_GET_VCPU_MMAP_SIZE,
  KVM_RUN,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_TSS_ADDR,
  KVM_SET_USER_MEMORY_REGION,
  MAP_SHARED,
  O_RDONLY,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
} from './ioctl-numbers.js';
import { KvmMsrList } from './structs/cpuid-msr.js';
import { KvmRegs, KvmSregs } from './structs/regs.js';
import { KVM_RUN_OFFSETS } from './structs/run.js';
import { KvmUserspaceMemoryRegion } from './structs/vm.js';

const available = isAddonAvailable();
const kvm = hasKvm();
if (!available) console.log('skipped: native addon not available (not built or not linux/x64)');
if (!kvm) console.log('skipped: /dev/kvm not available');

const opened: number[] = [];
function track(fd: number): number {
  opened.push(fd);
  return fd;
}
afterEach(() => {
  if (!available) return;
  const a = loadAddon();
  for (const fd of opened.splice(0)) {
    try {
      a.close(fd);
    } catch {
      // already closed by the test
    }
  }
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe.skipIf(!available)('addon: files, memory, errors', () => {
  let a: NativeAddon;
  it('loads', () => {
    a = loadAddon();
    expect(typeof a.ioctl).toBe('function');
    expect(loadAddon()).toBe(a);
  });

  it('open of a missing file throws ENOENT with errno, code and syscall', () => {
    const e = thrown(() => loadAddon().open('/nonexistent/kvm-sys-test', O_RDONLY));
    expect(isSyscallError(e)).toBe(true);
    expect(e).toMatchObject({ errno: 2, code: 'ENOENT', syscall: 'open' });
    expect((e as Error).message).toMatch(
      /^open\('\/nonexistent\/kvm-sys-test', 0x0\) failed: ENOENT \(No such file or directory\)$/,
    );
  });

  it('ioctl on a closed fd throws EBADF naming the fd and request', () => {
    const addon = loadAddon();
    const fd = addon.eventfd(0, 0);
    addon.close(fd);
    const e = thrown(() => addon.ioctl(fd, 0xc008ae67, new Uint8Array(8)));
    expect(e).toMatchObject({ errno: 9, code: 'EBADF', syscall: 'ioctl' });
    expect((e as Error).message).toBe(`ioctl(fd ${fd}, 0xc008ae67) failed: EBADF (Bad file descriptor)`);
    expect(thrown(() => addon.close(fd))).toMatchObject({ code: 'EBADF', syscall: 'close' });
    expect(thrown(() => addon.ioctlFast(fd, 0xae80))).toMatchObject({ code: 'EBADF', syscall: 'ioctl' });
  });

  it('rejects bad argument types with TypeError', () => {
    const addon = loadAddon();
    expect(() => addon.ioctl(0, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => addon.ioctl(0, 0, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => addon.open(1 as unknown as string, 0)).toThrow(TypeError);
    expect(() => addon.read(0, 5 as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => addon.kickThread(1 as unknown as bigint)).toThrow(TypeError);
  });

  it('memfd + ftruncate + two shared mappings see the same bytes; munmap detaches', () => {
    const addon = loadAddon();
    const fd = track(addon.memfdCreate('kvm-sys-test', 0));
    addon.ftruncate(fd, 2 * 4096);
    const m1 = addon.mmap(fd, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const m2 = addon.mmap(fd, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    const tail = addon.mmap(fd, 4096, PROT_READ, MAP_SHARED, 4096);
    expect(m1.byteLength).toBe(8192);
    new Uint8Array(m1).set([1, 2, 3], 4096 + 10);
    expect([...new Uint8Array(m2, 4096 + 10, 3)]).toEqual([1, 2, 3]);
    expect([...new Uint8Array(tail, 10, 3)]).toEqual([1, 2, 3]);
    expect(addon.addressOf(m1)).not.toBe(addon.addressOf(m2));
    expect(addon.addressOf(new Uint8Array(m1, 100))).toBe(addon.addressOf(m1) + 100n);
    expect(addon.addressOf(new DataView(m1, 8))).toBe(addon.addressOf(m1) + 8n);
    addon.munmap(m1);
    expect(m1.byteLength).toBe(0);
    expect(new Uint8Array(m2)[4096 + 11]).toBe(2);
    expect(thrown(() => addon.munmap(m1))).toMatchObject({ code: 'EINVAL', syscall: 'munmap' });
    addon.munmap(m2);
    addon.munmap(tail);
  });

  it('munmap refuses buffers that mmap did not create', () => {
    const addon = loadAddon();
    expect(thrown(() => addon.munmap(new ArrayBuffer(4096)))).toMatchObject({
      code: 'EINVAL',
      syscall: 'munmap',
    });
    expect(thrown(() => addon.mmap(-1, 4096, PROT_READ, MAP_SHARED, 0))).toMatchObject({
      code: 'EBADF',
      syscall: 'mmap',
    });
    expect(thrown(() => addon.mmap(-1, 0, PROT_READ, MAP_SHARED, 0))).toMatchObject({ code: 'EINVAL' });
    // Node caps ArrayBuffers at 4 GiB: a larger mapping is refused cleanly (not a fatal error).
    const fd = track(addon.memfdCreate('big', 0));
    addon.ftruncate(fd, 2 ** 32 + 4096);
    const e = thrown(() => addon.mmap(fd, 2 ** 32 + 4096, PROT_READ, MAP_SHARED, 0));
    expect(e).toMatchObject({ code: 'ENOMEM', syscall: 'mmap' });
    expect((e as Error).message).toMatch(/cannot be exposed as an ArrayBuffer/);
    const top = addon.mmap(fd, 4096, PROT_READ, MAP_SHARED, 2 ** 32);
    expect(top.byteLength).toBe(4096);
    addon.munmap(top);
  });

  it('eventfd counts, reads null when empty, honours EFD_SEMAPHORE', () => {
    const addon = loadAddon();
    const efd = track(addon.eventfd(0, EFD_NONBLOCK));
    expect(addon.eventfdRead(efd)).toBeNull();
    addon.eventfdWrite(efd, 3);
    addon.eventfdWrite(efd, 4n);
    expect(addon.eventfdRead(efd)).toBe(7n);
    expect(addon.eventfdRead(efd)).toBeNull();
    const sem = track(addon.eventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE));
    expect(addon.eventfdRead(sem)).toBe(1n);
    expect(addon.eventfdRead(sem)).toBe(1n);
    expect(addon.eventfdRead(sem)).toBeNull();
  });

  it('read/write move bytes and return -1 on EAGAIN', () => {
    const addon = loadAddon();
    const efd = track(addon.eventfd(0, 0));
    addon.fcntlSetNonblock(efd, true);
    const buf = new Uint8Array(16);
    expect(addon.read(efd, buf.subarray(4, 12))).toBe(-1);
    const val = new Uint8Array(8);
    new DataView(val.buffer).setBigUint64(0, 5n, true);
    expect(addon.write(efd, val)).toBe(8);
    expect(addon.read(efd, buf.subarray(4, 12))).toBe(8);
    expect(new DataView(buf.buffer).getBigUint64(4, true)).toBe(5n);
    expect(buf[0]).toBe(0);
    expect(thrown(() => addon.write(efd, new Uint8Array(3)))).toMatchObject({
      code: 'EINVAL',
      syscall: 'write',
    });
  });
});

describe.skipIf(!available)('addon: watchFd', () => {
  it('fires on eventfd write and never after unwatch', async () => {
    const addon = loadAddon();
    const efd = track(addon.eventfd(0, EFD_NONBLOCK));
    const seen: number[] = [];
    let resolve!: () => void;
    const fired = new Promise<void>((r) => {
      resolve = r;
    });
    const h = addon.watchFd(efd, 1, (events) => {
      seen.push(events);
      addon.eventfdRead(efd);
      resolve();
    });
    expect(h.fd).toBe(efd);
    addon.eventfdWrite(efd, 1);
    await fired;
    expect(seen).toEqual([1]);
    addon.unwatchFd(h);
    addon.unwatchFd(h); // idempotent
    addon.eventfdWrite(efd, 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([1]);
    // The fd can be watched again after unwatch.
    const again = new Promise<number>((r) => {
      const h2 = addon.watchFd(efd, 1, (ev) => {
        addon.unwatchFd(h2); // unwatch from inside the callback
        r(ev);
      });
    });
    expect(await again).toBe(1);
  });

  it('reports writability and validates arguments', async () => {
    const addon = loadAddon();
    const efd = track(addon.eventfd(0, EFD_NONBLOCK));
    const ev = await new Promise<number>((r) => {
      const h = addon.watchFd(efd, 2, (e) => {
        addon.unwatchFd(h);
        r(e);
      });
    });
    expect(ev & 2).toBe(2);
    expect(() => addon.watchFd(efd, 0, () => {})).toThrow(TypeError);
    expect(() => addon.watchFd(efd, 8, () => {})).toThrow(TypeError);
    expect(() => addon.watchFd(efd, 1, 5 as unknown as () => void)).toThrow(TypeError);
    expect(() => addon.unwatchFd({ fd: efd })).toThrow(TypeError);
  });

  it('works on a worker thread event loop', async () => {
    const addon = loadAddon();
    const efd = track(addon.eventfd(0, EFD_NONBLOCK));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const a = require(workerData.path);
       const h = a.watchFd(workerData.efd, 1, (ev) => {
         const v = a.eventfdRead(workerData.efd);
         a.unwatchFd(h);
         parentPort.postMessage({ ev, v: String(v) });
       });
       parentPort.postMessage('ready');`,
      { eval: true, workerData: { path: addonPath(), efd } },
    );
    const exited = new Promise<number>((r) => worker.on('exit', r));
    const messages: unknown[] = [];
    const done = new Promise<void>((resolve, reject) => {
      worker.on('message', (m) => {
        messages.push(m);
        if (m === 'ready') addon.eventfdWrite(efd, 9);
        else resolve();
      });
      worker.on('error', reject);
    });
    await done;
    // The worker exits on its own once its watcher is gone (no leaked handle keeps its loop alive).
    const code = await exited;
    expect(messages).toEqual(['ready', { ev: 1, v: '9' }]);
    expect(code).toBe(0);
  });
});

describe.skipIf(!available)('addon: watchFd teardown', () => {
  it('a worker terminated with an active watcher shuts down cleanly (env cleanup hook)', async () => {
    const addon = loadAddon();
    for (let i = 0; i < 3; i++) {
      const efd = track(addon.eventfd(0, EFD_NONBLOCK));
      const worker = new Worker(
        `const { parentPort, workerData: w } = require('node:worker_threads');
         const a = require(w.path);
         a.watchFd(w.efd, 1, () => { a.eventfdRead(w.efd); parentPort.postMessage('event'); });
         parentPort.postMessage('ready');`,
        { eval: true, workerData: { path: addonPath(), efd } },
      );
      expect(await new Promise((r) => worker.once('message', r))).toBe('ready');
      addon.eventfdWrite(efd, 1);
      expect(await new Promise((r) => worker.once('message', r))).toBe('event');
      await worker.terminate();
      addon.eventfdWrite(efd, 1); // the dead worker's watcher must not fire or crash
    }
    await new Promise((r) => setTimeout(r, 20));
  });
});

describe.skipIf(!available)('addon: vCPU kick signal', () => {
  it('installs once and returns a realtime signal', () => {
    const addon = loadAddon();
    const sig = addon.installKickSignal();
    expect(sig).toBeGreaterThanOrEqual(34);
    expect(sig).toBeLessThanOrEqual(64);
    expect(addon.installKickSignal()).toBe(sig);
    expect(typeof addon.currentThread()).toBe('bigint');
    addon.kickThread(addon.currentThread()); // handled: the process survives
  });

  it('kicking a worker thread does not kill the process and interrupts its syscalls', async () => {
    const addon = loadAddon();
    addon.installKickSignal();
    // The worker blocks in Atomics.wait (a futex); kicks interrupt the futex, V8 resumes waiting.
    const shared = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const a = require(workerData.path);
       a.installKickSignal();
       parentPort.postMessage(a.currentThread());
       const r = Atomics.wait(workerData.shared, 0, 0, 5000);
       parentPort.postMessage(r);`,
      { eval: true, workerData: { path: addonPath(), shared } },
    );
    const exited = new Promise((r) => worker.on('exit', r));
    const thread = await new Promise<bigint>((r) => worker.once('message', r));
    expect(thread).not.toBe(addon.currentThread());
    for (let i = 0; i < 5; i++) {
      addon.kickThread(thread);
      await new Promise((r) => setTimeout(r, 5));
    }
    Atomics.store(shared, 0, 1);
    Atomics.notify(shared, 0);
    expect(await new Promise((r) => worker.once('message', r))).toBe('ok');
    await exited;
    // The worker's thread is gone: kicking it is refused instead of signalling a dead thread.
    expect(thrown(() => addon.kickThread(thread))).toMatchObject({ code: 'ESRCH', syscall: 'pthread_kill' });
    expect(thrown(() => addon.kickThread(12345n))).toMatchObject({ code: 'ESRCH' });
  });
});

describe.skipIf(!kvm)('addon with /dev/kvm', () => {
  it('KVM_GET_API_VERSION is 12 through ioctl and ioctlFast; number args work', () => {
    const addon = loadAddon();
    const fd = track(addon.open('/dev/kvm', O_RDWR));
    expect(addon.ioctl(fd, KVM_GET_API_VERSION)).toBe(12);
    expect(addon.ioctlFast(fd, KVM_GET_API_VERSION)).toBe(12);
    expect(addon.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY)).toBeGreaterThan(0);
    expect(addon.ioctl(fd, KVM_CHECK_EXTENSION, BigInt(KVM_CAP_USER_MEMORY))).toBeGreaterThan(0);
    expect(addon.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE)).toBeGreaterThanOrEqual(4096);
  });

  it('passes typed arrays as pointers to their bytes, honouring byteOffset', () => {
    const addon = loadAddon();
    const fd = track(addon.open('/dev/kvm', O_RDWR));
    const backing = new Uint8Array(64 + KvmMsrList.sizeFor(512)).fill(0xee);
    const view = backing.subarray(64);
    view.set(KvmMsrList.alloc(512));
    addon.ioctl(fd, KVM_GET_MSR_INDEX_LIST, view);
    expect(backing.subarray(0, 64).every((b) => b === 0xee)).toBe(true);
    const list = KvmMsrList.decode(view);
    expect(list.nmsrs).toBeGreaterThan(0);
    expect(list.indices).toContain(0x10); // IA32_TIME_STAMP_COUNTER
  });

  it('refuses a buffer smaller than the size the request encodes', () => {
    const addon = loadAddon();
    const fd = track(addon.open('/dev/kvm', O_RDWR));
    const vm = track(addon.ioctl(fd, KVM_CREATE_VM, 0));
    const vcpu = track(addon.ioctl(vm, KVM_CREATE_VCPU, 0));
    const backing = new Uint8Array(KvmRegs.size + 8);
    const e = thrown(() => addon.ioctl(vcpu, KVM_GET_REGS, backing.subarray(16)));
    expect(e).toMatchObject({ code: 'EINVAL', syscall: 'ioctl' });
    expect((e as Error).message).toMatch(
      /buffer of 136 bytes is smaller than the 144 bytes the request encodes/,
    );
    expect(addon.ioctl(vcpu, KVM_GET_REGS, backing.subarray(8))).toBe(0);
  });

  it('KVM errors carry errno names (EEXIST on a duplicate vCPU id)', () => {
    const addon = loadAddon();
    const fd = track(addon.open('/dev/kvm', O_RDWR));
    const vm = track(addon.ioctl(fd, KVM_CREATE_VM, 0));
    track(addon.ioctl(vm, KVM_CREATE_VCPU, 0));
    expect(thrown(() => addon.ioctl(vm, KVM_CREATE_VCPU, 0))).toMatchObject({
      code: 'EEXIST',
      errno: 17,
      syscall: 'ioctl',
    });
  });

  it('kvm_run mapping: immediate_exit makes KVM_RUN return -EINTR from ioctlFast', () => {
    const addon = loadAddon();
    const fd = track(addon.open('/dev/kvm', O_RDWR));
    const vm = track(addon.ioctl(fd, KVM_CREATE_VM, 0));
    const vcpu = track(addon.ioctl(vm, KVM_CREATE_VCPU, 0));
    const size = addon.ioctl(fd, KVM_GET_VCPU_MMAP_SIZE);
    const run = addon.mmap(vcpu, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    try {
      new Uint8Array(run)[KVM_RUN_OFFSETS.immediate_exit] = 1;
      expect(addon.ioctlFast(vcpu, 0xae80 /* KVM_RUN */)).toBe(-4);
    } finally {
      addon.munmap(run);
    }
  });
});

describe.skipIf(!kvm)('kick protocol with a vCPU halted in KVM_RUN', () => {
  it('kickThread makes a blocked KVM_RUN on a worker return -EINTR (KVM_EXIT_INTR)', async () => {
    const addon = loadAddon();
    addon.installKickSignal();
    const kvmFd = track(addon.open('/dev/kvm', O_RDWR));
    const vm = track(addon.ioctl(kvmFd, KVM_CREATE_VM, 0));
    try {
      addon.ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
    } catch {
      // not needed everywhere
    }
    addon.ioctl(vm, KVM_CREATE_IRQCHIP); // HLT then blocks in the kernel instead of exiting
    const memFd = track(addon.memfdCreate('guest', 0));
    addon.ftruncate(memFd, 0x10000);
    const mem = addon.mmap(memFd, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
    new Uint8Array(mem).set([0xf4, 0xeb, 0xfd], 0x1000); // hlt; jmp $-3
    addon.ioctl(
      vm,
      KVM_SET_USER_MEMORY_REGION,
      KvmUserspaceMemoryRegion.encode({
        slot: 0,
        flags: 0,
        guest_phys_addr: 0n,
        memory_size: 0x10000n,
        userspace_addr: addon.addressOf(mem),
      }),
    );
    // The worker creates the vCPU (vCPU ioctls belong to the creating thread) and runs it.
    const worker = new Worker(
      `const { parentPort, workerData: w } = require('node:worker_threads');
       const a = require(w.path);
       a.installKickSignal();
       const vcpu = a.ioctl(w.vm, w.KVM_CREATE_VCPU, 0);
       const sregs = new Uint8Array(w.sregsSize);
       a.ioctl(vcpu, w.KVM_GET_SREGS, sregs);
       const dv = new DataView(sregs.buffer);
       dv.setBigUint64(w.csBase, 0n, true);
       dv.setUint16(w.csSelector, 0, true);
       a.ioctl(vcpu, w.KVM_SET_SREGS, sregs);
       a.ioctl(vcpu, w.KVM_SET_REGS, new Uint8Array(w.regs));
       parentPort.postMessage({ thread: a.currentThread(), vcpu });
       let r;
       do { r = a.ioctlFast(vcpu, w.KVM_RUN); } while (r === 0); // tolerate HLT exits before the kick
       parentPort.postMessage({ r });`,
      {
        eval: true,
        workerData: {
          path: addonPath(),
          vm,
          KVM_CREATE_VCPU,
          KVM_GET_SREGS,
          KVM_SET_SREGS,
          KVM_SET_REGS,
          KVM_RUN,
          sregsSize: KvmSregs.size,
          csBase: KvmSregs.offsets['cs.base'],
          csSelector: KvmSregs.offsets['cs.selector'],
          regs: KvmRegs.encode({ rip: 0x1000n, rflags: 2n } as never),
        },
      },
    );
    const exited = new Promise((r) => worker.on('exit', r));
    const messages: Array<Record<string, unknown>> = [];
    const errors: unknown[] = [];
    worker.on('message', (m) => messages.push(m));
    worker.on('error', (e) => errors.push(e));
    const until = async (n: number) => {
      for (let i = 0; i < 500 && messages.length < n && errors.length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
    };
    await until(1);
    expect(errors).toEqual([]);
    const { thread, vcpu } = messages[0] as { thread: bigint; vcpu: number };
    track(vcpu);
    // Give the worker time to enter KVM_RUN and halt, then kick (repeat: a kick that lands before
    // KVM_RUN is lost when immediate_exit is not used, which is what this test exercises).
    for (let i = 0; i < 100 && messages.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        addon.kickThread(thread);
      } catch (e) {
        // ESRCH: the worker already returned from KVM_RUN and exited (its message is on the way).
        if (!isSyscallError(e) || e.code !== 'ESRCH') throw e;
      }
    }
    await until(2);
    expect(messages[1]).toEqual({ r: -4 });
    const size = addon.ioctl(kvmFd, KVM_GET_VCPU_MMAP_SIZE);
    const run = addon.mmap(vcpu, size, PROT_READ, MAP_SHARED, 0);
    expect(new DataView(run).getUint32(KVM_RUN_OFFSETS.exit_reason, true)).toBe(KVM_EXIT_INTR);
    addon.munmap(run);
    addon.munmap(mem);
    await exited;
  });
});
