// Baseline for bench/run.ts: the same guest, driven from C. Loads a guest memory image and the
// vCPU's kvm_sregs/kvm_regs dumped by run.ts, runs until the guest's "done" OUT (port 0x11), and
// prints the nanoseconds per exit.
//
// usage: exit-bench <image> <sregs> <regs>
//        exit-bench --syscall <n>   (ns per KVM_CHECK_EXTENSION ioctl on /dev/kvm: the bare syscall cost)
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char* what) {
  perror(what);
  exit(1);
}

static size_t slurp(const char* path, void* buf, size_t max) {
  FILE* f = fopen(path, "rb");
  if (!f) die(path);
  size_t n = fread(buf, 1, max, f);
  fclose(f);
  return n;
}

static int syscall_bench(long n) {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long sum = 0;
  for (long i = 0; i < n; i++) sum += ioctl(kvm, KVM_CHECK_EXTENSION, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%ld %.1f\n", sum, ns / n);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--syscall") == 0) return syscall_bench(atol(argv[2]));
  if (argc != 4) {
    fprintf(stderr, "usage: %s image sregs regs\n", argv[0]);
    return 2;
  }
  const size_t mem_size = 2 << 20;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
  uint8_t* mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap");
  slurp(argv[1], mem, mem_size);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = mem_size, .userspace_addr = (uint64_t)mem};
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run* run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  struct kvm_regs regs;
  if (slurp(argv[2], &sregs, sizeof sregs) != sizeof sregs) die("short sregs");
  if (slurp(argv[3], &regs, sizeof regs) != sizeof regs) die("short regs");
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long exits = 0;
  uint64_t sink = 0;
  for (;;) {
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    exits++;
    if (run->exit_reason == KVM_EXIT_IO) {
      if (run->io.port == 0x11) break;
      sink += ((uint8_t*)run)[run->io.data_offset];
    } else if (run->exit_reason == KVM_EXIT_MMIO) {
      sink += run->mmio.data[0];
    } else {
      fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%ld %.1f %lu\n", exits, ns / exits, (unsigned long)(sink & 1));
  return 0;
}
