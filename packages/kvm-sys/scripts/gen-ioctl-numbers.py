#!/usr/bin/env python3
# Regenerates src/ioctl-numbers.ts from the installed <linux/kvm.h> and <asm/kvm.h> (x86-64).
# Usage: python3 scripts/gen-ioctl-numbers.py <api.txt>  (from packages/kvm-sys; needs gcc). The KVM
# part is generated; the host constants at the end are kept verbatim from HOST below. Review the diff.
# <api.txt> is the plain-text KVM API document of a Linux source tree (Documentation/virtual/kvm/api.txt
# in kernels that still have it; later kernels have it as Documentation/virt/kvm/api.rst, whose
# ":Type:" field lines this script does not read). From it come each ioctl's kind (system, VM, vCPU:
# the section it is listed in) and the parameters and returns of its doc comment; the numbers and
# sizes come from the installed headers.
import os, sys, tempfile
PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) != 2:
    sys.exit('usage: python3 scripts/gen-ioctl-numbers.py <path to the KVM API document, api.txt>')
API_TXT = os.path.abspath(sys.argv[1])
os.chdir(tempfile.mkdtemp(prefix="kvm-sys-gen-"))
import re, subprocess, sys
hdrs = ['/usr/include/linux/kvm.h', '/usr/include/x86_64-linux-gnu/asm/kvm.h']
names = []
ioctls = {}
for h in hdrs:
    txt = open(h).read()
    txt = re.sub(r'\\\n', ' ', txt)
    for m in re.finditer(r'^#define\s+(KVM\w*)(\(?)\s*(.*)$', txt, re.M):
        n, fn, body = m.group(1), m.group(2), m.group(3)
        if fn: continue
        if re.search(r'S390|PPC|ARM|MIPS|SPAPR|RISCV|LOONG|_TRC_|^KVM_REG_|XEN|HYPERV_SYNIC|_S390', n) and not n.startswith('KVM_CAP_') and not n.startswith('KVM_EXIT_'):
            continue
        mi = re.match(r'_IO(WR|R|W)?\(KVMIO,\s*(0x[0-9a-fA-F]+|\d+)\s*(?:,\s*(.*?))?\)', body.strip())
        if mi:
            ioctls[n] = (mi.group(1) or '', int(mi.group(2), 0), (mi.group(3) or '').strip())
        if n not in names: names.append(n)
names = [n for n in names if n not in ('KVM_MAX_CPUID_ENTRIES',) or True]
def compile(ns):
    src = '#include <stdio.h>\n#include <linux/kvm.h>\nint main(void){\n'
    for n in ns:
        src += f'printf("%s %llu\\n", "{n}", (unsigned long long)({n}));\n'
    # sizes of ioctl arg types
    src += '}\n'
    open('t.c','w').write(src)
    r = subprocess.run(['gcc','-w','-o','t','t.c'], capture_output=True, text=True)
    return r
ns = names[:]
while True:
    r = compile(ns)
    if r.returncode == 0: break
    bad = set()
    for m in re.finditer(r't\.c:(\d+):\d+: error', r.stderr):
        bad.add(int(m.group(1)) - 4)
    if not bad: print(r.stderr); sys.exit(1)
    ns = [n for i, n in enumerate(ns) if i not in bad]
out = subprocess.run(['./t'], capture_output=True, text=True).stdout
vals = {}
for line in out.splitlines():
    a, b = line.split()
    vals[a] = int(b)
# sizes of ioctl types
types = sorted({t for (d,nr,t) in ioctls.values() if t})
src = '#include <stdio.h>\n#include <linux/kvm.h>\nint main(void){\n'
for t in types:
    src += f'printf("%s|%zu\\n", "{t}", sizeof({t}));\n'
src += '}\n'
open('s.c','w').write(src)
okt = types[:]
while True:
    src = '#include <stdio.h>\n#include <linux/kvm.h>\nint main(void){\n' + ''.join(f'printf("%s|%zu\\n", "{t}", sizeof({t}));\n' for t in okt) + '}\n'
    open('s.c','w').write(src)
    r = subprocess.run(['gcc','-w','-o','s','s.c'], capture_output=True, text=True)
    if r.returncode == 0: break
    bad = {int(m.group(1)) - 4 for m in re.finditer(r's\.c:(\d+):\d+: error', r.stderr)}
    okt = [t for i,t in enumerate(okt) if i not in bad]
sizes = dict(l.split('|') for l in subprocess.run(['./s'],capture_output=True,text=True).stdout.splitlines())
import json
json.dump({'names': ns, 'vals': vals, 'ioctls': {k: v for k, v in ioctls.items() if k in vals}, 'sizes': sizes}, open('abi.json','w'), indent=1)

import re
d = json.load(open('abi.json'))
vals, io, sizes, names = d['vals'], d['ioctls'], d['sizes'], d['names']
api = open(API_TXT).read()
doc = {}
for m in re.finditer(r'^4\.\d+ (KVM_\w+)[^\n]*\n\n((?:[A-Z][a-z]+:[^\n]*\n)+)', api, re.M):
    fields = dict(re.findall(r'^(\w+): ([^\n]*)', m.group(2), re.M))
    doc[m.group(1)] = fields
drop = re.compile(r'^KVM_(ASSIGN|DEASSIGN|SET_MEMORY_ALIAS|TRACE_|MMU_FSL|DEV_IRQ|DEV_ASSIGN|MAX_MSIX|STATS_|STATE_|DEV_VFIO|DEV_TYPE_(FSL|XICS|FLIC|XIVE)|HYPERV_CONN|ASSIGN_IRQ|DEBUG_GUEST|CREATE_DEVICE_TEST)')
def kind(n):
    t = doc.get(n, {}).get('Type', '')
    t = t.replace(' ioctl', '').replace('(with KVM_CAP_ENABLE_CAP_VM)', '').strip()
    if not t:
        if vals.get(n) is not None and (io[n][1] < 0x40): t = 'system'
    return t or 'vm/vcpu'
out = []
w = out.append
w('''// KVM ioctl request numbers and ABI constants, as unsigned 32-bit numbers.
//
// Generated from <linux/kvm.h> and <asm/kvm.h> (x86-64) and checked against them at test time by
// src/structs/layout.test.ts, which compiles a C program printing every constant exported here.
// Ioctl numbers are built with the same _IO/_IOR/_IOW/_IOWR encoding as <asm-generic/ioctl.h>;
// the third argument is sizeof() the argument type on x86-64.

/** Ioctl direction bits (asm-generic). */
export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

/**
 * Encodes an ioctl request number like the kernel's `_IOC(dir, type, nr, size)` macro.
 * The result is an unsigned 32-bit number (it may exceed 2^31).
 * @example
 * _IOC(IOC_READ | IOC_WRITE, 0xae, 0x05, 8) === 0xc008ae05; // KVM_GET_SUPPORTED_CPUID
 */
export function _IOC(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | ((size & 0x3fff) << 16) | ((type & 0xff) << 8) | (nr & 0xff)) >>> 0;
}
/** `_IO(type, nr)`: no argument. @example _IO(KVMIO, 0x80) === KVM_RUN */
export function _IO(type: number, nr: number): number {
  return _IOC(IOC_NONE, type, nr, 0);
}
/** `_IOR(type, nr, size)`: the kernel writes `size` bytes to the argument. @example _IOR(KVMIO, 0x81, 144) === KVM_GET_REGS */
export function _IOR(type: number, nr: number, size: number): number {
  return _IOC(IOC_READ, type, nr, size);
}
/** `_IOW(type, nr, size)`: the kernel reads `size` bytes from the argument. @example _IOW(KVMIO, 0x82, 144) === KVM_SET_REGS */
export function _IOW(type: number, nr: number, size: number): number {
  return _IOC(IOC_WRITE, type, nr, size);
}
/** `_IOWR(type, nr, size)`: both directions. @example _IOWR(KVMIO, 0x05, 8) === KVM_GET_SUPPORTED_CPUID */
export function _IOWR(type: number, nr: number, size: number): number {
  return _IOC(IOC_READ | IOC_WRITE, type, nr, size);
}

/** The ioctl "type" byte of all KVM ioctls. */
export const KVMIO = 0xae;
/** The only stable KVM API version; `KVM_GET_API_VERSION` must return it. */
export const KVM_API_VERSION = 12;
''')
sections = [('System ioctls (on the /dev/kvm fd)', lambda k: k.startswith('system')),
            ('VM ioctls (on a VM fd; some are also device ioctls)', lambda k: k.startswith('vm') or k.startswith('device')),
            ('vCPU ioctls (on a vCPU fd, from the thread that created it)', lambda k: k.startswith('vcpu'))]
ionames = [n for n in names if n in io and not drop.match(n)]
done = set()
for title, pred in sections:
    w(f'\n// ---- {title}\n')
    for n in ionames:
        if n in done: continue
        k = kind(n)
        if not pred(k): continue
        done.add(n)
        dr, nr, t = io[n]
        f = doc.get(n, {})
        desc = f'{k} ioctl `{n}`'
        if f.get('Parameters'): desc += f'; parameters: {f["Parameters"].strip()}'
        if f.get('Returns'): desc += f'; returns: {f["Returns"].strip()}'
        w(f'/** {desc}. */')
        if dr == '':
            w(f'export const {n} = _IO(KVMIO, 0x{nr:02x});')
        else:
            w(f'export const {n} = _IO{dr}(KVMIO, 0x{nr:02x}, {sizes[t]} /* sizeof({t}) */);')
left = [n for n in ionames if n not in done]
if left: raise SystemExit('unclassified ' + str(left))
groups = [
 ('Capabilities for KVM_CHECK_EXTENSION / KVM_ENABLE_CAP', 'KVM_CAP_'),
 ('kvm_run.exit_reason values', 'KVM_EXIT_'),
 ('kvm_run.internal.suberror values', 'KVM_INTERNAL_ERROR_'),
 ('kvm_run.system_event.type values', 'KVM_SYSTEM_EVENT_'),
 ('kvm_run.msr.reason values', 'KVM_MSR_EXIT_REASON_'),
 ('kvm_guest_debug.control flags', 'KVM_GUESTDBG_'),
 ('kvm_userspace_memory_region.flags', 'KVM_MEM_'),
 ('kvm_irqfd.flags', 'KVM_IRQFD_FLAG_'),
 ('kvm_ioeventfd.flags', 'KVM_IOEVENTFD_'),
 ('kvm_irq_routing_entry.type', 'KVM_IRQ_ROUTING_'),
 ('kvm_mp_state.mp_state values', 'KVM_MP_STATE_'),
 ('kvm_irqchip.chip_id values and interrupt controller sizes', 'KVM_IRQCHIP_|KVM_NR_IRQCHIPS|KVM_IOAPIC_NUM_PINS|KVM_NR_INTERRUPTS|KVM_APIC_REG_SIZE'),
 ('kvm_pit_config / kvm_pit_state2 flags', 'KVM_PIT_'),
 ('kvm_vcpu_events.flags and shadow bits', 'KVM_VCPUEVENT_|KVM_X86_SHADOW_'),
 ('kvm_cpuid_entry2.flags', 'KVM_CPUID_FLAG_'),
 ('kvm_clock_data.flags', 'KVM_CLOCK_'),
 ('kvm_msi.flags', 'KVM_MSI_'),
 ('KVM_CAP_X86_DISABLE_EXITS arguments', 'KVM_X86_DISABLE_'),
 ('KVM_CAP_X2APIC_API arguments', 'KVM_X2APIC_API_'),
 ('KVM_CAP_DISABLE_QUIRKS arguments', 'KVM_X86_QUIRK_'),
 ('KVM_CAP_X86_NOTIFY_VMEXIT arguments', 'KVM_X86_NOTIFY_'),
 ('KVM_CAP_X86_BUS_LOCK_EXIT arguments', 'KVM_BUS_LOCK_'),
 ('KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 / dirty ring', 'KVM_DIRTY_'),
 ('KVM_X86_SET_MSR_FILTER', 'KVM_MSR_FILTER_'),
 ('KVM_SET_PMU_EVENT_FILTER / KVM_CAP_PMU_CAPABILITY', 'KVM_PMU_'),
 ('kvm_run.kvm_valid_regs / sync regs', 'KVM_SYNC_X86_'),
 ('kvm_run.flags', 'KVM_RUN_X86_'),
 ('kvm_run.notify.flags', 'KVM_NOTIFY_'),
 ('vCPU mmap page offsets (in pages)', 'KVM_PIO_PAGE_OFFSET|KVM_COALESCED_MMIO_PAGE_OFFSET'),
 ('Hyper-V eventfd', 'KVM_HYPERV_EVENTFD_'),
 ('Device types for KVM_CREATE_DEVICE', 'KVM_DEV_TYPE_'),
 ('kvm_sregs2.flags', 'KVM_SREGS2_'),
 ('Misc limits', 'KVM_MAX_XCRS|KVM_X86_XCOMP_GUEST_SUPP|KVM_VCPU_TSC_'),
]
rest = [n for n in names if n not in io and not drop.match(n) and n not in ('KVMIO', 'KVM_API_VERSION')]
used = set()
for title, pat in groups:
    w(f'\n// ---- {title}\n')
    for n in rest:
        if n in used or not re.match(pat, n): continue
        used.add(n)
        v = vals[n]
        lit = str(v) if v < 4096 else hex(v)
        if n.startswith('KVM_CAP_'):
            w(f'/** Capability `{n}`. */')
        else:
            w(f'/** `{n}` from <linux/kvm.h>. */')
        w(f'export const {n} = {lit};')
left = [n for n in rest if n not in used]
if left: print('unclassified constants (add a group):', left)
HOST = r'''

// ---- Host (non-KVM) constants for the addon's generic calls (x86-64 Linux values)

/** `open()` flags. */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECT = 0o40000;
export const O_CLOEXEC = 0o2000000;

/** `mmap()` protection bits. */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** `mmap()` flags. */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;

/** `memfd_create()` flags (the addon always adds MFD_CLOEXEC). */
export const MFD_CLOEXEC = 1;
export const MFD_ALLOW_SEALING = 2;
export const MFD_HUGETLB = 4;

/** `eventfd()` flags (the addon always adds EFD_CLOEXEC). */
export const EFD_SEMAPHORE = 1;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

/** Events for the addon's `watchFd`: readable, writable, error/hangup (reported only). */
export const WATCH_READABLE = 1;
export const WATCH_WRITABLE = 2;
export const WATCH_ERROR = 4;

/** The addon's `ioctlFast` returns this (-EINTR) when a kick signal interrupted the ioctl. */
export const EINTR_RESULT = -4;
/**
 * The addon's `ioctlFast` returns this (-EAGAIN) when the ioctl asks to be called again: KVM_RUN of
 * an application processor that was waiting for INIT/SIPI and has just received them.
 */
export const EAGAIN_RESULT = -11;

/** TUN/TAP ioctls (<linux/if_tun.h>), for opening a tap device through the generic `ioctl`. */
export const TUNSETIFF = _IOW(0x54, 202, 4 /* int */);
export const TUNGETIFF = _IOR(0x54, 210, 4 /* unsigned int */);
export const TUNSETOFFLOAD = _IOW(0x54, 208, 4 /* unsigned int */);
export const TUNSETVNETHDRSZ = _IOW(0x54, 216, 4 /* int */);
export const TUNGETVNETHDRSZ = _IOR(0x54, 215, 4 /* int */);
export const TUNGETFEATURES = _IOR(0x54, 207, 4 /* unsigned int */);

/** `struct ifreq.ifr_flags` bits for TUNSETIFF. */
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NAPI = 0x0010;
export const IFF_NAPI_FRAGS = 0x0020;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_NO_PI = 0x1000;
export const IFF_ONE_QUEUE = 0x2000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;
/** TUNSETOFFLOAD bits. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** Size of `struct ifreq` (name 16 bytes + union 24 bytes). */
export const IFREQ_SIZE = 40;
/** Maximum interface name length including the NUL (IFNAMSIZ). */
export const IFNAMSIZ = 16;
'''
open(os.path.join(PKG, 'src', 'ioctl-numbers.ts'), 'w').write(('\n'.join(out) + '\n').replace('src/kvm-constants.gen.ts', 'scripts/gen-ioctl-numbers.py') + HOST)
