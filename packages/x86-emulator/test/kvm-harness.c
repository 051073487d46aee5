/*
 * KVM side of the differential tester and of the conformance programs. Reads from stdin:
 *   u32 magic 'XDT1', u32 base_len, base_len bytes (the low image: page tables, GDT, IDT, stubs, TSS)
 *   then cases: u32 code_len (0 ends), u32 mode (0: 64-bit CPL3, 1: 32-bit compatibility mode CPL3,
 *   2: 64-bit CPL0), code bytes, 4096 data bytes, 18 u64 (16 GPRs in kvm_regs order rax rbx rcx rdx
 *   rsi rdi rsp rbp r8..r15, rip, rflags), 256 xmm bytes, u32 mxcsr, 128 x87 bytes (ST0-7 in 16-byte
 *   FXSAVE slots, the MMX registers' home), u16 fsw, u16 abridged ftw.
 * Writes per case: u32 kind (0 done, 1 exception, 2 other), u32 microseconds in KVM_RUN, u64 mmio address,
 *   18 u64 regs, 6 u64 frame (err, rip, cs, rflags, rsp, ss), 4096 data bytes, 256 xmm bytes, u32 mxcsr,
 *   u32 pad, 128 x87 bytes, u16 fsw, u16 abridged ftw, u32 pad.
 * `--irqchip` gives the VM KVM's in-kernel irqchip (a LAPIC at 0xfee00000); `--no-x2apic` hides
 * x2APIC (CPUID.1:ECX bit 21) from the guest.
 * The guest runs natively on PVM/KVM; an MMIO write ends each case.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t expired;
static void on_alarm(int sig) { (void)sig; expired = 1; }
#include <unistd.h>

#define RAM_SIZE 0x1000000
#define CODE 0x100000
#define DATA 0x200000
#define MMIO_BASE 0x30000000ULL
#define TSS 0x7000

static void die(const char *m) {
  fprintf(stderr, "kvm-harness: %s: %s\n", m, strerror(errno));
  exit(2);
}
static void rd(void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, (char *)p + got, n - got);
    if (r <= 0) die("short read");
    got += (size_t)r;
  }
}
static void wr(const void *p, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t r = write(1, (const char *)p + put, n - put);
    if (r <= 0) die("short write");
    put += (size_t)r;
  }
}

static struct kvm_segment seg(uint16_t sel, uint8_t type, uint8_t dpl, uint8_t l, uint8_t db) {
  struct kvm_segment s = {0};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = sel;
  s.type = type;
  s.present = 1;
  s.dpl = dpl;
  s.db = db;
  s.s = 1;
  s.l = l;
  s.g = 1;
  return s;
}

int main(int argc, char **argv) {
  int irqchip = 0, no_x2apic = 0;
  for (int k = 1; k < argc; k++) {
    if (strcmp(argv[k], "--irqchip") == 0) irqchip = 1;
    else if (strcmp(argv[k], "--no-x2apic") == 0) no_x2apic = 1;
  }
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("open /dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (ram == MAP_FAILED) die("mmap");
  struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  if (irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap run");
  {
    int n = 128;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    for (unsigned k = 0; k < cpuid->nent; k++)
      if (no_x2apic && cpuid->entries[k].function == 1) cpuid->entries[k].ecx &= ~(1u << 21);
    if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0) die("KVM_SET_CPUID2");
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  uint32_t magic, base_len;
  rd(&magic, 4);
  if (magic != 0x31544458) die("bad magic");
  rd(&base_len, 4);
  rd(ram, base_len);

  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  struct kvm_segment ds = seg(0x1b, 3, 3, 0, 1);
  sregs.cs = seg(0x23, 11, 3, 1, 0);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
  memset(&sregs.tr, 0, sizeof sregs.tr);
  sregs.tr.base = TSS;
  sregs.tr.limit = 0x67;
  sregs.tr.selector = 0x28;
  sregs.tr.type = 11;
  sregs.tr.present = 1;
  memset(&sregs.ldt, 0, sizeof sregs.ldt);
  sregs.ldt.type = 2;
  sregs.ldt.unusable = 1;
  sregs.gdt.base = 0x5000;
  sregs.gdt.limit = 0x3f;
  sregs.idt.base = 0x6000;
  sregs.idt.limit = 0xfff;
  sregs.cr0 = 0x80050033;
  sregs.cr3 = 0x1000;
  sregs.cr4 = 0x6a0;
  sregs.efer = 0xd01;

  static uint8_t code[65536];
  for (;;) {
    uint32_t code_len;
    rd(&code_len, 4);
    if (code_len == 0) break;
    if (code_len > sizeof code) die("code too long");
    uint32_t mode;
    rd(&mode, 4);
    if (mode == 2) {
      struct kvm_segment kds = seg(0x10, 3, 0, 0, 1);
      sregs.cs = seg(0x08, 11, 0, 1, 0);
      sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = kds;
    } else {
      sregs.cs = mode == 1 ? seg(0x3b, 11, 3, 0, 1) : seg(0x23, 11, 3, 1, 0);
      sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
    }
    rd(code, code_len);
    memcpy(ram + CODE, code, code_len);
    rd(ram + DATA, 4096);
    uint64_t r[18];
    rd(r, sizeof r);
    /* XSAVE area: legacy region has the FXSAVE layout (FCW at 0, MXCSR at 24, XMM at 160) */
    static struct kvm_xsave xs;
    if (ioctl(vcpu, KVM_GET_XSAVE, &xs) < 0) die("KVM_GET_XSAVE");
    uint8_t *xb = (uint8_t *)xs.region;
    rd(xb + 160, 256);
    rd(xb + 24, 4);
    rd(xb + 32, 128);
    rd(xb + 2, 2); /* FSW */
    uint16_t ftw;
    rd(&ftw, 2);
    xb[0] = 0x7f; xb[1] = 0x03; /* FCW */
    xb[4] = ftw & 0xff; /* abridged FTW */
    memset(xb + 6, 0, 18); /* FOP, FIP, FDP */
    xb[512] |= 3; /* XSTATE_BV: x87 | SSE */
    if (ioctl(vcpu, KVM_SET_XSAVE, &xs) < 0) die("KVM_SET_XSAVE");
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {0};
    regs.rax = r[0]; regs.rbx = r[1]; regs.rcx = r[2]; regs.rdx = r[3];
    regs.rsi = r[4]; regs.rdi = r[5]; regs.rsp = r[6]; regs.rbp = r[7];
    regs.r8 = r[8]; regs.r9 = r[9]; regs.r10 = r[10]; regs.r11 = r[11];
    regs.r12 = r[12]; regs.r13 = r[13]; regs.r14 = r[14]; regs.r15 = r[15];
    regs.rip = r[16]; regs.rflags = r[17];
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    uint32_t kind = 2;
    uint64_t addr = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expired = 0;
    struct itimerval it = {{0, 0}, {2, 0}};
    setitimer(ITIMER_REAL, &it, NULL);
    for (int tries = 0; tries < 64; tries++) {
      if (ioctl(vcpu, KVM_RUN, 0) < 0) {
        if (errno == EINTR && !expired) continue;
        if (errno == EINTR) { addr = 0xdead; break; }
        die("KVM_RUN");
      }
      if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write) {
        addr = run->mmio.phys_addr;
        kind = addr == MMIO_BASE + 0x100 ? 0 : (addr >= MMIO_BASE && addr < MMIO_BASE + 256) ? 1 : 2;
        break;
      }
      addr = run->exit_reason;
      kind = 2;
      if (run->exit_reason != KVM_EXIT_INTR) break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t usec = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000ull + (uint64_t)((t1.tv_nsec - t0.tv_nsec) / 1000);
    if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
    uint64_t out[18] = {regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rsi, regs.rdi, regs.rsp, regs.rbp,
                        regs.r8, regs.r9, regs.r10, regs.r11, regs.r12, regs.r13, regs.r14, regs.r15,
                        regs.rip, regs.rflags};
    uint64_t frame[6] = {0};
    if (kind == 1 && regs.rsp >= 0x1000 && regs.rsp + 48 <= RAM_SIZE) memcpy(frame, ram + regs.rsp, 48);
    if (ioctl(vcpu, KVM_GET_XSAVE, &xs) < 0) die("KVM_GET_XSAVE");
    uint32_t hdr[2] = {kind, (uint32_t)(usec > 0xffffffffu ? 0xffffffffu : usec)};
    wr(hdr, 8);
    wr(&addr, 8);
    wr(out, sizeof out);
    wr(frame, sizeof frame);
    wr(ram + DATA, 4096);
    wr(xb + 160, 256);
    uint32_t mx[2];
    memcpy(&mx[0], xb + 24, 4);
    mx[1] = 0;
    wr(mx, 8);
    wr(xb + 32, 128);
    uint16_t fx[4] = {(uint16_t)(xb[2] | (xb[3] << 8)), xb[4], 0, 0};
    wr(fx, 8);
  }
  return 0;
}
