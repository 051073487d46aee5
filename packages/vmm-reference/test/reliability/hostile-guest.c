/*
 * hostile-guest: a static program for the default guest's initramfs (hostile-guest.test.ts) that
 * drives the VMM's virtio-mmio windows through /dev/mem, with the kernel's virtio drivers kept off
 * them (module_blacklist=virtio_mmio), as a hostile driver would:
 *
 *   1. bad status sequences and feature negotiation violations (refused bits must not stick);
 *   2. queue sizes that are not a power of two or too big, rings outside RAM, in MMIO, straddling
 *      the end of RAM, above 4 GiB, misaligned (DEVICE_NEEDS_RESET at DRIVER_OK);
 *   3. descriptor chains with loops, `next` out of range, huge lengths, buffers outside RAM,
 *      readable after writable, indirect tables nested, giant, in unmapped space, misshapen, an
 *      avail index far ahead, a head out of range (DEVICE_NEEDS_RESET, or for a block device the
 *      chain back with an error status);
 *   4. block requests past the end, with sector overflows, odd lengths, writes to a read-only
 *      disk, unknown types, no status buffer (an error status or DEVICE_NEEDS_RESET);
 *   5. vsock packets with wrong CIDs, ops and types, requests to ports nobody listens on (dropped:
 *      the buffer comes back, or DEVICE_NEEDS_RESET);
 *   6. a seeded random phase: random MMIO reads and writes at random offsets and sizes, and random
 *      descriptor tables, against every device, for a given number of seconds;
 *   7. legitimate requests afterwards: a write of a known pattern to LEGIT_SECTOR of the first
 *      (writable) disk and its read-back, a read of the read-only disk, 64 random bytes from
 *      virtio-rng: the devices work again after a reset.
 *
 * Memory safety of the guest itself: the device may only ever be pointed at pages this program
 * owns (mlocked, physical addresses from /proc/self/pagemap) or at addresses outside RAM. Pages
 * come in pools by what the device may do with them: descriptor tables and indirect tables (DESC),
 * driver areas (AVAIL), device-readable buffers (RD: printable bytes, so a random block header is
 * never a write) and device-writable areas (WR: used rings, device-writable buffers). The device
 * must never write DESC, AVAIL or RD pages; the program checks that after every case and round.
 *
 * Output (the test parses it): "hostile-guest: case NAME outcome OUTCOME unexpected" lines for
 * outcomes outside what the devices' threat model promises, then a summary line
 *   hostile-guest: summary cases=N unexpected=N random_ops=N random_chains=N needs_reset=N
 *                  readonly_writes=N legit=ok|FAILED devices=N survived
 *
 * Usage: hostile-guest SEED RANDOM_SECONDS LEGIT_SECTOR
 * (HG_VERBOSE=1 in the environment also lists the cases that came back used without an error.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define LEGIT_SECTORS 8u

/* virtio-mmio registers */
enum {
  MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEV_FEAT = 0x010, DEV_FEAT_SEL = 0x014,
  DRV_FEAT = 0x020, DRV_FEAT_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034,
  QUEUE_NUM = 0x038, QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050, INT_STATUS = 0x060,
  INT_ACK = 0x064, STATUS = 0x070, Q_DESC_LO = 0x080, Q_DESC_HI = 0x084, Q_DRV_LO = 0x090,
  Q_DRV_HI = 0x094, Q_DEV_LO = 0x0a0, Q_DEV_HI = 0x0a4, CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 64, S_FAILED = 128 };
enum { F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4 };
enum { ID_NET = 1, ID_BLK = 2, ID_CONSOLE = 3, ID_RNG = 4, ID_VSOCK = 19 };
#define FEAT_INDIRECT (1u << 28)
#define FEAT_EVENT_IDX (1u << 29)

struct desc { uint64_t addr; uint32_t len; uint16_t flags; uint16_t next; } __attribute__((packed));

struct page { uint8_t *v; uint64_t pa; };
struct pool { struct page *p; unsigned n; };

struct dev {
  uint64_t base;
  volatile uint8_t *regs;
  uint32_t id;
  unsigned nq;
  uint64_t capacity; /* blk: sectors */
  int ro;            /* blk: VIRTIO_BLK_F_RO offered */
};

static struct dev devs[16];
static unsigned ndevs;
static struct pool DESC, AVAIL, RD, WR;
static uint64_t ram_top; /* first byte past the highest System RAM range below 4 GiB */
static uint64_t rng_state;
static unsigned long outcomes[6];
static unsigned long cases, unexpected, random_ops, random_chains, needs_reset, readonly_writes;
static uint32_t ro_sum[3];

static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}
static uint32_t below(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t r32(struct dev *d, uint32_t o) { return *(volatile uint32_t *)(d->regs + o); }
static void w32(struct dev *d, uint32_t o, uint32_t v) {
  __sync_synchronize();
  *(volatile uint32_t *)(d->regs + o) = v;
}

static void die(const char *m) {
  printf("hostile-guest: fatal: %s\n", m);
  fflush(stdout);
  exit(2);
}

/* ---- memory: pools of locked pages with known physical addresses ---- */

static void make_pool(struct pool *pl, unsigned n, int pagemap) {
  uint8_t *v = mmap(NULL, (size_t)n * PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED, -1, 0);
  if (v == MAP_FAILED) die("mmap pool");
  madvise(v, (size_t)n * PAGE, MADV_NOHUGEPAGE);
  if (mlock(v, (size_t)n * PAGE) != 0) die("mlock pool");
  pl->p = calloc(n, sizeof *pl->p);
  pl->n = n;
  for (unsigned i = 0; i < n; i++) {
    uint64_t e = 0;
    pl->p[i].v = v + (size_t)i * PAGE;
    pl->p[i].v[0] = 1; /* touched */
    if (pread(pagemap, &e, 8, ((uintptr_t)pl->p[i].v / PAGE) * 8) != 8) die("pagemap read");
    if (!(e >> 63) || (e & ((1ull << 55) - 1)) == 0) die("page not present or no PFN (not root?)");
    pl->p[i].pa = (e & ((1ull << 55) - 1)) * PAGE;
    memset(pl->p[i].v, 0, PAGE);
  }
}

static uint32_t sum_pool(struct pool *pl) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (unsigned i = 0; i < pl->n; i++) {
    const uint64_t *w = (const uint64_t *)pl->p[i].v;
    for (unsigned j = 0; j < PAGE / 8; j++) h = ((h << 7) | (h >> 57)) ^ (w[j] + j);
  }
  return (uint32_t)(h ^ (h >> 32));
}
static void seal(void) {
  ro_sum[0] = sum_pool(&DESC);
  ro_sum[1] = sum_pool(&AVAIL);
  ro_sum[2] = sum_pool(&RD);
}
/* The device must not have written any page it may only read. */
static void check_sealed(const char *what) {
  if (sum_pool(&DESC) != ro_sum[0] || sum_pool(&AVAIL) != ro_sum[1] || sum_pool(&RD) != ro_sum[2]) {
    readonly_writes++;
    printf("hostile-guest: case %s: a device wrote a page it may only read\n", what);
    seal();
  }
}

/* An address outside guest RAM (any alignment the caller wants). */
static uint64_t outside(struct dev *d) {
  static const uint64_t fixed[] = {0xc0000000ull, 0xfec00000ull, 0xfee00000ull, 0x100000000ull,
                                   1ull << 40, 1ull << 52, 1ull << 63, 0xfffffffffffff000ull};
  switch (below(4)) {
  case 0: return fixed[below(sizeof fixed / sizeof fixed[0])];
  case 1: return d->base + (below(PAGE) & ~15u);
  case 2: return ram_top + ((uint64_t)below(0x10000) << 4);
  default: return ((uint64_t)(below(0xffffffffu) | 1) << 32) | (rnd() & 0xfffffff0u);
  }
}

/* ---- device helpers ---- */

static void reset(struct dev *d) { w32(d, STATUS, 0); }

/* Reset, ACK, DRIVER, the given features (VERSION_1 always, low word masked by what is offered),
 * FEATURES_OK. Returns the status read back. */
static uint32_t negotiate(struct dev *d, uint32_t want_lo) {
  reset(d);
  w32(d, STATUS, S_ACK);
  w32(d, STATUS, S_ACK | S_DRIVER);
  w32(d, DEV_FEAT_SEL, 0);
  uint32_t lo = r32(d, DEV_FEAT) & want_lo;
  w32(d, DRV_FEAT_SEL, 0);
  w32(d, DRV_FEAT, lo);
  w32(d, DRV_FEAT_SEL, 1);
  w32(d, DRV_FEAT, 1); /* VIRTIO_F_VERSION_1 */
  w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  return r32(d, STATUS);
}

static void set_queue(struct dev *d, unsigned q, uint32_t size, uint64_t desc, uint64_t avail, uint64_t used) {
  w32(d, QUEUE_SEL, q);
  w32(d, QUEUE_NUM, size);
  w32(d, Q_DESC_LO, (uint32_t)desc);
  w32(d, Q_DESC_HI, (uint32_t)(desc >> 32));
  w32(d, Q_DRV_LO, (uint32_t)avail);
  w32(d, Q_DRV_HI, (uint32_t)(avail >> 32));
  w32(d, Q_DEV_LO, (uint32_t)used);
  w32(d, Q_DEV_HI, (uint32_t)(used >> 32));
  w32(d, QUEUE_READY, 1);
}

/* The queue a hostile chain goes to: the one the device takes requests from. */
static unsigned tx_queue(struct dev *d) {
  return d->id == ID_NET || d->id == ID_CONSOLE || d->id == ID_VSOCK ? 1 : 0;
}

#define QSIZE 16u
/* Queue q's rings: desc table DESC[q], avail ring AVAIL[q], used ring WR[q]. */
static struct desc *qdesc(unsigned q) { return (struct desc *)DESC.p[q].v; }
static volatile uint16_t *qavail(unsigned q) { return (volatile uint16_t *)AVAIL.p[q].v; }
static volatile uint16_t *qused(unsigned q) { return (volatile uint16_t *)WR.p[q].v; }

/* A device with every queue set up validly (size QSIZE, empty) and DRIVER_OK. */
static uint32_t bring_up(struct dev *d, uint32_t feat_lo) {
  uint32_t s = negotiate(d, feat_lo);
  if (!(s & S_FEATURES_OK)) return s;
  for (unsigned q = 0; q < d->nq; q++) {
    memset(qdesc(q), 0, PAGE);
    memset((void *)qavail(q), 0, PAGE);
    memset((void *)qused(q), 0, PAGE);
    set_queue(d, q, QSIZE, DESC.p[q].pa, AVAIL.p[q].pa, WR.p[q].pa);
  }
  seal();
  w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  return r32(d, STATUS);
}

enum outcome { O_NONE, O_NEEDS_RESET, O_USED, O_USED_ERROR, O_REFUSED, O_ACCEPTED };
static const char *oname[] = {"no-answer", "needs-reset", "used", "used-with-error-status", "refused",
                              "accepted"};

/* Publishes `n` heads on queue q with avail idx `idx`, notifies, waits up to `ms` for the device
 * to answer: DEVICE_NEEDS_RESET, or the used index reaching `want`. `status` (if non-null) is the
 * block status byte, initialised to 0xff. */
static enum outcome submit(struct dev *d, unsigned q, const uint16_t *heads, unsigned n, uint16_t idx,
                           uint16_t want, volatile uint8_t *status, int ms) {
  volatile uint16_t *av = qavail(q);
  for (unsigned i = 0; i < n; i++) av[2 + i % QSIZE] = heads[i];
  if (status) *status = 0xff;
  __sync_synchronize();
  av[1] = idx;
  seal();
  w32(d, QUEUE_NOTIFY, q);
  double end = now() + ms / 1000.0;
  enum outcome o = O_NONE;
  for (;;) {
    if (r32(d, STATUS) & S_NEEDS_RESET) { o = O_NEEDS_RESET; break; }
    __sync_synchronize();
    if (qused(q)[1] == want) {
      o = status && *status != 0 ? O_USED_ERROR : O_USED;
      break;
    }
    if (now() > end) break;
    usleep(200);
  }
  return o;
}

/* Records a case: `ok` is the mask of outcomes the threat model allows. */
static void record(struct dev *d, const char *name, enum outcome o, unsigned ok) {
  char what[96];
  snprintf(what, sizeof what, "%s@%llx/%s", d->id == ID_BLK ? "blk" : d->id == ID_NET ? "net"
           : d->id == ID_CONSOLE ? "console" : d->id == ID_RNG ? "rng" : "vsock",
           (unsigned long long)d->base, name);
  cases++;
  outcomes[o]++;
  if (o == O_USED && getenv("HG_VERBOSE")) printf("hostile-guest: case %s came back used\n", what);
  if (o == O_NEEDS_RESET) needs_reset++;
  if (!(ok & (1u << o))) {
    unexpected++;
    printf("hostile-guest: case %s outcome %s unexpected\n", what, oname[o]);
  }
  check_sealed(what);
  reset(d);
}
#define OK_NR (1u << O_NEEDS_RESET)
#define OK_ERR (1u << O_USED_ERROR)
#define OK_USED (1u << O_USED)
#define OK_REFUSED (1u << O_REFUSED)

/* ---- 1. status and features ---- */

static void status_cases(struct dev *d) {
  static const struct { const char *name; uint8_t seq[4]; unsigned n; uint8_t refused; } seqs[] = {
    {"driver-without-ack", {S_DRIVER}, 1, S_DRIVER},
    {"features-ok-without-driver", {S_ACK, S_ACK | S_FEATURES_OK}, 2, S_FEATURES_OK},
    {"driver-ok-without-features-ok", {S_ACK, S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_DRIVER_OK}, 3, S_DRIVER_OK},
    {"needs-reset-from-driver", {S_ACK | S_NEEDS_RESET}, 1, S_NEEDS_RESET},
    {"all-bits-at-once", {0xff}, 1, S_DRIVER_OK | S_FEATURES_OK},
    {"clear-a-bit", {S_ACK, S_ACK | S_DRIVER, S_ACK}, 3, 0},
  };
  for (unsigned i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
    reset(d);
    for (unsigned j = 0; j < seqs[i].n; j++) w32(d, STATUS, seqs[i].seq[j]);
    uint32_t s = r32(d, STATUS);
    int good = (s & seqs[i].refused) == 0;
    if (i == 5) good = (s & S_DRIVER) != 0; /* bits cannot be taken back without a reset */
    record(d, seqs[i].name, good ? O_REFUSED : O_ACCEPTED, OK_REFUSED);
  }
  /* Feature negotiation violations: FEATURES_OK must not stick. */
  static const struct { const char *name; uint32_t lo, hi; } feats[] = {
    {"no-version-1", 0, 0},
    {"unoffered-high-bits", 0, 0xfffffffe | 1},
    {"all-bits", 0xffffffff, 0xffffffff},
    {"packed-ring", 0, 1 | (1u << 2)},
  };
  for (unsigned i = 0; i < sizeof feats / sizeof feats[0]; i++) {
    reset(d);
    w32(d, STATUS, S_ACK);
    w32(d, STATUS, S_ACK | S_DRIVER);
    w32(d, DRV_FEAT_SEL, 0);
    w32(d, DRV_FEAT, feats[i].lo);
    w32(d, DRV_FEAT_SEL, 1);
    w32(d, DRV_FEAT, feats[i].hi);
    w32(d, DEV_FEAT_SEL, 1);
    int offered = (r32(d, DEV_FEAT) & feats[i].hi) == feats[i].hi;
    w32(d, DEV_FEAT_SEL, 0);
    offered = offered && (r32(d, DEV_FEAT) & feats[i].lo) == feats[i].lo;
    w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    uint32_t s = r32(d, STATUS);
    int good = offered ? 1 : !(s & S_FEATURES_OK);
    /* Then DRIVER_OK anyway: it must not activate the device. */
    w32(d, STATUS, s | S_DRIVER_OK);
    if (!offered && (r32(d, STATUS) & S_DRIVER_OK)) good = 0;
    record(d, feats[i].name, good ? O_REFUSED : O_ACCEPTED, OK_REFUSED);
  }
  /* Features written after FEATURES_OK, out-of-range selectors: ignored, never fatal. */
  negotiate(d, 0);
  w32(d, DRV_FEAT_SEL, 7);
  w32(d, DRV_FEAT, 0xffffffff);
  w32(d, DEV_FEAT_SEL, 0xffffffff);
  (void)r32(d, DEV_FEAT);
  w32(d, QUEUE_SEL, 0xffff);
  (void)r32(d, QUEUE_NUM_MAX);
  w32(d, QUEUE_READY, 1);
  w32(d, QUEUE_NOTIFY, 0xffff);
  w32(d, QUEUE_NOTIFY, 0xffffffff);
  cases++;
  check_sealed("features-after-ok");
  reset(d);
}

/* ---- 2. queue geometry ---- */

static void geometry_cases(struct dev *d) {
  static const uint32_t sizes[] = {0, 3, 255, 257, 512, 1024, 65535, 0x10000, 0xffffffff};
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    negotiate(d, 0);
    set_queue(d, 0, sizes[i], DESC.p[0].pa, AVAIL.p[0].pa, WR.p[0].pa);
    w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    char n[40];
    snprintf(n, sizeof n, "queue-size-%u", sizes[i]);
    record(d, n, r32(d, STATUS) & S_NEEDS_RESET ? O_NEEDS_RESET : O_NONE, OK_NR);
  }
  const uint64_t bad[] = {ram_top, ram_top - 8, ram_top - 512, d->base, 0xc0000000ull,
                          0xfee00000ull, 0x100000000ull, 1ull << 52, 1ull << 63,
                          0xfffffffffffff000ull, DESC.p[0].pa + 8, DESC.p[0].pa + 1};
  for (unsigned which = 0; which < 3; which++)
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      uint64_t a[3] = {DESC.p[0].pa, AVAIL.p[0].pa, WR.p[0].pa};
      uint64_t b = bad[i];
      if (i >= 10) b = (which == 0 ? DESC : which == 1 ? AVAIL : WR).p[0].pa + (i == 10 ? 8 : 1);
      if (which > 0 && i == 10) b += 2; /* +10 / +2: misaligned for the used ring, not the avail */
      if (which == 1 && i == 10) continue; /* 2-aligned avail is legal */
      a[which] = b;
      negotiate(d, 0);
      set_queue(d, 0, 256, a[0], a[1], a[2]);
      w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
      char n[64];
      snprintf(n, sizeof n, "%s-at-%llx", which == 0 ? "desc" : which == 1 ? "avail" : "used",
               (unsigned long long)b);
      record(d, n, r32(d, STATUS) & S_NEEDS_RESET ? O_NEEDS_RESET : O_NONE, OK_NR);
    }
}

/* ---- 3. chains ---- */

/* Readable / writable buffer addresses in the RD / WR pools (WR[0..3] hold the used rings). */
static uint64_t rdbuf(unsigned i) { return RD.p[i % RD.n].pa; }
static uint64_t wrbuf(unsigned i) { return WR.p[4 + i % (WR.n - 4)].pa; }
static volatile uint8_t *wrbuf_v(unsigned i) { return WR.p[4 + i % (WR.n - 4)].v; }

/* A chain case on the device's request queue: `build` fills the table and returns the head. */
static void chain_case(struct dev *d, const char *name, uint32_t feat, unsigned ok,
                       void (*build)(struct dev *, struct desc *, uint16_t *head, uint16_t *idx)) {
  if (!(bring_up(d, feat) & S_DRIVER_OK)) {
    record(d, name, O_NONE, 0);
    return;
  }
  unsigned q = tx_queue(d);
  uint16_t head = 0, idx = 1;
  build(d, qdesc(q), &head, &idx);
  record(d, name, submit(d, q, &head, 1, idx, 1, NULL, 2000), ok);
}

static void b_loop(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){rdbuf(0), 16, F_NEXT, 1};
  t[1] = (struct desc){rdbuf(1), 16, F_NEXT, 0};
}
static void b_self_loop(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[3] = (struct desc){wrbuf(0), 16, F_NEXT | F_WRITE, 3};
  *h = 3;
}
static void b_next_out(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){rdbuf(0), 16, F_NEXT, QSIZE};
}
static void b_next_far(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){rdbuf(0), 16, F_NEXT, 0xffff};
}
static void b_huge_len(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){rdbuf(0), 0xffffffffu, 0, 0};
}
static void b_huge_write(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){wrbuf(0), 0xfffffff0u, F_WRITE, 0};
}
static void b_outside(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)h; (void)idx;
  t[0] = (struct desc){outside(d), 4096, F_WRITE, 0};
}
static void b_in_mmio(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)h; (void)idx;
  t[0] = (struct desc){rdbuf(0), 16, F_NEXT, 1};
  t[1] = (struct desc){d->base, 512, F_WRITE, 0}; /* the device's own registers */
}
static void b_ram_end(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){ram_top - 512, 4096, F_WRITE, 0};
}
static void b_rd_after_wr(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){wrbuf(0), 16, F_NEXT | F_WRITE, 1};
  t[1] = (struct desc){rdbuf(0), 16, 0, 0};
}
static void b_head_out(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)t; (void)idx;
  *h = 1000;
}
static void b_idx_ahead(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h;
  t[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  *idx = 1000;
}
static void b_idx_wrap(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h;
  t[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  *idx = 0xffff;
}
/* Indirect tables live in DESC[8..]. */
static struct desc *itab(unsigned i) { return (struct desc *)DESC.p[8 + i].v; }
static uint64_t itab_pa(unsigned i) { return DESC.p[8 + i].pa; }
static void b_ind_no_feature(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  t[0] = (struct desc){itab_pa(0), 16, F_INDIRECT, 0};
}
static void b_ind_nested(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(1)[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  itab(0)[0] = (struct desc){itab_pa(1), 16, F_INDIRECT, 0};
  t[0] = (struct desc){itab_pa(0), 16, F_INDIRECT, 0};
}
static void b_ind_self(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){itab_pa(0), 16, F_INDIRECT, 0};
  t[0] = (struct desc){itab_pa(0), 16, F_INDIRECT, 0};
}
static void b_ind_giant(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){itab_pa(0), 16 * 4096, F_INDIRECT, 0};
}
static void b_ind_huge(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){itab_pa(0), 0xfffffff0u, F_INDIRECT, 0};
}
static void b_ind_unmapped(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)h; (void)idx;
  t[0] = (struct desc){outside(d) & ~15ull, 256, F_INDIRECT, 0};
}
static void b_ind_odd_len(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  t[0] = (struct desc){itab_pa(0), 17, F_INDIRECT, 0};
}
static void b_ind_zero_len(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  t[0] = (struct desc){itab_pa(0), 0, F_INDIRECT, 0};
}
static void b_ind_with_next(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){wrbuf(0), 16, F_WRITE, 0};
  t[0] = (struct desc){itab_pa(0), 16, F_INDIRECT | F_NEXT, 1};
  t[1] = (struct desc){wrbuf(1), 16, F_WRITE, 0};
}
static void b_ind_loop(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){rdbuf(0), 16, F_NEXT, 1};
  itab(0)[1] = (struct desc){rdbuf(1), 16, F_NEXT, 0};
  t[0] = (struct desc){itab_pa(0), 32, F_INDIRECT, 0};
}
static void b_ind_next_out(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)d; (void)h; (void)idx;
  itab(0)[0] = (struct desc){rdbuf(0), 16, F_NEXT, 200};
  t[0] = (struct desc){itab_pa(0), 32, F_INDIRECT, 0};
}
static void b_ind_outside_buf(struct dev *d, struct desc *t, uint16_t *h, uint16_t *idx) {
  (void)h; (void)idx;
  itab(0)[0] = (struct desc){outside(d), 64, F_WRITE, 0};
  t[0] = (struct desc){itab_pa(0), 16, F_INDIRECT, 0};
}

static void chain_cases(struct dev *d) {
  static const struct {
    const char *name;
    void (*b)(struct dev *, struct desc *, uint16_t *, uint16_t *);
    uint32_t feat;
  } cs[] = {
    {"chain-loop", b_loop, 0}, {"chain-self-loop", b_self_loop, 0},
    {"next-out-of-range", b_next_out, 0}, {"next-0xffff", b_next_far, 0},
    {"huge-readable-length", b_huge_len, 0}, {"huge-writable-length", b_huge_write, 0},
    {"buffer-outside-ram", b_outside, 0}, {"buffer-in-mmio", b_in_mmio, 0},
    {"buffer-across-ram-end", b_ram_end, 0}, {"readable-after-writable", b_rd_after_wr, 0},
    {"head-out-of-range", b_head_out, 0}, {"avail-idx-far-ahead", b_idx_ahead, 0},
    {"avail-idx-0xffff", b_idx_wrap, 0},
    {"indirect-not-negotiated", b_ind_no_feature, 0},
    {"indirect-nested", b_ind_nested, FEAT_INDIRECT}, {"indirect-self", b_ind_self, FEAT_INDIRECT},
    {"indirect-giant", b_ind_giant, FEAT_INDIRECT}, {"indirect-huge", b_ind_huge, FEAT_INDIRECT},
    {"indirect-unmapped", b_ind_unmapped, FEAT_INDIRECT},
    {"indirect-odd-length", b_ind_odd_len, FEAT_INDIRECT},
    {"indirect-zero-length", b_ind_zero_len, FEAT_INDIRECT},
    {"indirect-with-next", b_ind_with_next, FEAT_INDIRECT},
    {"indirect-loop", b_ind_loop, FEAT_INDIRECT},
    {"indirect-next-out-of-range", b_ind_next_out, FEAT_INDIRECT},
    {"indirect-buffer-outside-ram", b_ind_outside_buf, FEAT_INDIRECT},
  };
  for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    /* Every one is a malformed chain (or ring index): DEVICE_NEEDS_RESET (a block device may
     * instead answer with an error status); never taken silently, never left unanswered. */
    chain_case(d, cs[i].name, cs[i].feat, OK_NR | OK_ERR, cs[i].b);
  }
}

/* ---- 4. block requests ---- */

struct blkhdr { uint32_t type, reserved; uint64_t sector; };

static enum outcome blk_request(struct dev *d, uint32_t type, uint64_t sector, uint32_t datalen,
                                int data_writable, int status_len, uint32_t hdr_len) {
  if (!(bring_up(d, 0) & S_DRIVER_OK)) return O_NONE;
  struct desc *t = qdesc(0);
  /* Header in WR[4]'s twin RD page 0 (device-readable). */
  struct blkhdr *h = (struct blkhdr *)RD.p[0].v;
  h->type = type; h->reserved = 0; h->sector = sector;
  unsigned n = 0;
  t[n] = (struct desc){RD.p[0].pa, hdr_len, F_NEXT, (uint16_t)(n + 1)}; n++;
  if (datalen) {
    t[n] = (struct desc){data_writable ? wrbuf(0) : rdbuf(1), datalen,
                         (uint16_t)(F_NEXT | (data_writable ? F_WRITE : 0)), (uint16_t)(n + 1)};
    n++;
  }
  volatile uint8_t *st = wrbuf_v(1);
  if (status_len) t[n] = (struct desc){wrbuf(1), (uint32_t)status_len, F_WRITE, 0};
  else t[n - 1].flags &= ~F_NEXT;
  uint16_t head = 0;
  /* The status is the last byte of the last writable buffer. */
  return submit(d, 0, &head, 1, 1, 1, status_len ? st + status_len - 1 : NULL, 3000);
}

static void blk_cases(struct dev *d) {
  uint64_t cap = d->capacity;
  struct { const char *name; uint32_t type; uint64_t sector; uint32_t len; int wr; int st; uint32_t hl; } cs[] = {
    {"read-past-end", 0, cap, 512, 1, 1, 16},
    {"read-across-end", 0, cap - 1, 1024, 1, 1, 16},
    {"write-past-end", 1, cap, 512, 0, 1, 16},
    {"write-across-end", 1, cap - 1, 1024, 0, 1, 16},
    {"write-sector-2^55", 1, 1ull << 55, 512, 0, 1, 16},
    {"write-sector-2^63", 1, 1ull << 63, 512, 0, 1, 16},
    {"write-sector-max", 1, ~0ull, 512, 0, 1, 16},
    {"read-sector-wraps", 0, ~0ull - 1, 2048, 1, 1, 16},
    {"write-odd-length", 1, 3, 511, 0, 1, 16},
    {"read-odd-length", 0, 3, 100, 1, 1, 16},
    {"unknown-type", 0x7777, 0, 512, 1, 1, 16},
    {"write-zeroes-bad-segment", 13, 0, 16, 0, 1, 16},
    {"discard-bad-segment", 11, 0, 16, 0, 1, 16},
    {"get-id-tiny-buffer", 8, 0, 0, 1, 1, 16},
  };
  for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    if (cs[i].type == 13 || cs[i].type == 11) {
      /* A segment of 16 bytes: sector cap (past the end), num_sectors 1 (or huge). */
      uint64_t *seg = (uint64_t *)RD.p[1].v;
      seg[0] = cap + 5;
      seg[1] = 0xffffffffu;
    }
    enum outcome o = blk_request(d, cs[i].type, cs[i].sector, cs[i].len, cs[i].wr, cs[i].st, cs[i].hl);
    /* GET_ID into only the status byte: the device answers (OK with nothing copied is fine). */
    unsigned ok = cs[i].type == 8 ? (OK_USED | OK_ERR | OK_NR) : (OK_ERR | OK_NR);
    record(d, cs[i].name, o, ok);
  }
  /* Malformed request shapes: no status buffer, status buffer readable, short header, only a
   * header, data written by the device into a readable buffer. */
  record(d, "no-status-buffer", blk_request(d, 0, 0, 512, 1, 0, 16), OK_NR | OK_ERR | OK_USED);
  record(d, "short-header", blk_request(d, 0, 0, 512, 1, 1, 8), OK_NR | OK_ERR);
  /* A read whose data buffer is device-readable: nothing to read into. A zero-length read (OK, the
   * readable bytes ignored, as QEMU does) or an error; never a write to the readable buffer
   * (check_sealed). */
  record(d, "read-into-readable", blk_request(d, 0, 0, 512, 0, 1, 16), OK_NR | OK_ERR | OK_USED);
  if (d->ro) record(d, "write-to-read-only", blk_request(d, 1, 0, 512, 0, 1, 16), OK_NR | OK_ERR);
}

/* ---- 5. vsock packets ---- */

struct vsock_hdr {
  uint64_t src_cid, dst_cid;
  uint32_t src_port, dst_port, len;
  uint16_t type, op;
  uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static void vsock_cases(struct dev *d) {
  struct { const char *name; uint64_t src, dst; uint16_t type, op; uint32_t len, port; } cs[] = {
    {"vsock-wrong-src-cid", 77, 2, 1, 1, 0, 5000},
    {"vsock-wrong-dst-cid", 3, 99, 1, 1, 0, 5000},
    {"vsock-dgram-type", 3, 2, 2, 5, 0, 5000},
    {"vsock-unknown-op", 3, 2, 1, 99, 0, 5000},
    {"vsock-request-nobody-listens", 3, 2, 1, 1, 0, 4242},
    {"vsock-rw-without-connection", 3, 2, 1, 5, 64, 4243},
    {"vsock-len-beyond-buffer", 3, 2, 1, 5, 0x7fffffff, 4244},
  };
  for (unsigned i = 0; i < sizeof cs / sizeof cs[0]; i++) {
    if (!(bring_up(d, 0) & S_DRIVER_OK)) { record(d, cs[i].name, O_NONE, 0); continue; }
    struct vsock_hdr *h = (struct vsock_hdr *)RD.p[0].v;
    memset(h, 0, sizeof *h);
    h->src_cid = cs[i].src; h->dst_cid = cs[i].dst; h->src_port = 1000 + i; h->dst_port = cs[i].port;
    h->len = cs[i].len; h->type = cs[i].type; h->op = cs[i].op; h->buf_alloc = 65536;
    struct desc *t = qdesc(1);
    t[0] = (struct desc){RD.p[0].pa, sizeof *h + 64, 0, 0};
    uint16_t head = 0;
    /* A bad packet is dropped or answered with RST; its buffer comes back used. */
    record(d, cs[i].name, submit(d, 1, &head, 1, 1, 1, NULL, 2000), OK_USED | OK_NR);
  }
}

/* ---- 6. random phase ---- */

/* Fills DESC page p with random descriptors whose addresses are all safe: RD or WR pages within
 * the page, DESC pages for indirect ones, or outside RAM (any length). */
static void random_desc_page(struct dev *d, unsigned p) {
  {
    struct desc *t = (struct desc *)DESC.p[p].v;
    for (unsigned i = 0; i < PAGE / 16; i++) {
      uint16_t flags = (uint16_t)(rnd() & 7);
      if (below(8) == 0) flags |= (uint16_t)rnd();
      uint16_t next = below(4) == 0 ? (uint16_t)rnd() : (uint16_t)below(QSIZE * 2);
      uint64_t addr;
      uint32_t off, len;
      if (below(6) == 0) {
        addr = outside(d);
        len = below(3) == 0 ? (uint32_t)rnd() : below(8192);
      } else if (flags & F_INDIRECT) {
        unsigned k = 8 + below(DESC.n - 8);
        off = below(PAGE / 16) * 16;
        addr = DESC.p[k].pa + off;
        len = below(3) == 0 ? below(PAGE - off + 1) : (below((PAGE - off) / 16) + 1) * 16;
      } else {
        struct pool *pl = flags & F_WRITE ? &WR : &RD;
        unsigned k = flags & F_WRITE ? 4 + below(WR.n - 4) : below(RD.n);
        off = below(PAGE / 16) * 16;
        addr = pl->p[k].pa + off;
        len = below(PAGE - off + 1);
        /* Readable buffers stay short: what a console chain carries goes to the VMM's stdout. */
        if (!(flags & F_WRITE) && len > 16) len = below(17);
      }
      t[i] = (struct desc){addr, len, flags, next};
    }
  }
}
/* AVAIL page p: random indices and heads (mostly in or just past the queue). */
static void random_avail_page(unsigned p) {
  volatile uint16_t *a = (volatile uint16_t *)AVAIL.p[p].v;
  for (unsigned i = 0; i < PAGE / 2; i++) a[i] = below(4) ? (uint16_t)below(QSIZE * 2) : (uint16_t)rnd();
}
/* RD page p: printable bytes, so that no block header read from it is a write (types 1, 11, 13). */
static void random_rd_page(unsigned p) {
  for (unsigned i = 0; i < PAGE; i += 8) {
    uint64_t r = rnd();
    for (unsigned k = 0; k < 8; k++) RD.p[p].v[i + k] = (uint8_t)(0x20 + ((r >> (8 * k)) & 0xff) % 0x5f);
  }
}
/* Everything at the start of the random phase (the fixed cases left block headers in RD); then, a
 * round, the rings of every queue and one more page of each pool. */
static void random_pools(struct dev *d, int all) {
  for (unsigned p = 0; p < DESC.n; p++)
    if (all || p < d->nq) random_desc_page(d, p);
  for (unsigned p = 0; p < AVAIL.n; p++)
    if (all || p < d->nq) random_avail_page(p);
  for (unsigned p = 0; p < RD.n; p++)
    if (all) random_rd_page(p);
  if (!all) {
    random_desc_page(d, below(DESC.n));
    random_avail_page(below(AVAIL.n));
    random_rd_page(below(RD.n));
  }
  seal();
}

/* A value for a random write at `off`: address registers only ever get safe addresses. */
static uint32_t random_value(uint32_t off, uint32_t size) {
  uint32_t reg = off & ~3u;
  if (reg >= Q_DESC_LO && reg <= Q_DEV_HI && reg != 0x88 && reg != 0x8c && reg != 0x98 && reg != 0x9c) {
    int high = (reg & 4) != 0;
    if (high) return below(2) ? 0 : (uint32_t)rnd();
    if (size != 4 || (off & 3)) return (uint32_t)rnd(); /* ignored by the transport (32-bit only) */
    if (below(3) == 0) return (uint32_t)(ram_top + below(0x1000000)) | (uint32_t)below(16);
    struct pool *pl = reg == Q_DESC_LO ? &DESC : reg == Q_DRV_LO ? &AVAIL : &WR;
    unsigned k = reg == Q_DESC_LO ? below(8) : reg == Q_DRV_LO ? below(AVAIL.n) : below(4);
    uint32_t o = reg == Q_DESC_LO ? 0 : reg == Q_DRV_LO ? below(8) * 2 : below(8) * 4;
    return (uint32_t)(pl->p[k].pa + o);
  }
  switch (reg) {
  case STATUS: return below(2) ? (uint32_t)rnd() & 0xff : (uint32_t)(S_ACK | S_DRIVER | S_FEATURES_OK | (below(2) ? S_DRIVER_OK : 0));
  case QUEUE_NUM: { static const uint32_t v[] = {0, 1, 2, 3, 16, 255, 256, 257, 4096, 0xffffffff}; return v[below(10)]; }
  case QUEUE_SEL: case QUEUE_NOTIFY: return below(4) ? below(4) : (uint32_t)rnd();
  case DRV_FEAT_SEL: case DEV_FEAT_SEL: return below(4) ? below(2) : (uint32_t)rnd();
  default: return (uint32_t)rnd();
  }
}

static void point_outside(struct dev *d);

/* One access: a random offset (mostly the registers), a random size. Address registers are never
 * set high/low-split into RAM this program does not own: a high write is either 0 (the low half
 * is safe) or sets a high half (outside RAM). */
static void random_access(struct dev *d) {
  static const uint32_t sizes[] = {1, 2, 4, 8};
  uint32_t size = sizes[below(4)];
  uint32_t off = below(3) ? below(0x100) : below(PAGE);
  if (below(2)) off &= ~3u;
  if (off + size > PAGE) off = PAGE - size;
  volatile uint8_t *p = d->regs + off;
  int write = below(2);
  if (!write) {
    switch (size) {
    case 1: (void)*(volatile uint8_t *)p; break;
    case 2: (void)*(volatile uint16_t *)p; break;
    case 4: (void)*(volatile uint32_t *)p; break;
    default: (void)*(volatile uint64_t *)p; break;
    }
  } else {
    /* A write to an address register that spans two registers (8 bytes, or unaligned) would mix
     * halves: send those only to non-address registers. */
    uint32_t reg = off & ~3u, last = (off + size - 1) & ~3u;
    int addr_reg = (reg >= Q_DESC_LO && reg <= Q_DEV_HI) || (last >= Q_DESC_LO && last <= Q_DEV_HI);
    if (addr_reg && (size == 8 || reg != last)) size = 4, off = reg, p = d->regs + off;
    uint32_t v = random_value(off, size);
    switch (size) {
    case 1: *(volatile uint8_t *)p = (uint8_t)v; break;
    case 2: *(volatile uint16_t *)p = (uint16_t)v; break;
    case 4: *(volatile uint32_t *)p = v; break;
    default: *(volatile uint64_t *)p = ((uint64_t)(uint32_t)rnd() << 32) | v; break;
    }
    /* A reset puts the ring addresses back to 0 (RAM this program does not own). */
    if (reg <= STATUS && last >= STATUS && r32(d, STATUS) == 0) point_outside(d);
  }
  random_ops++;
}

static void point_outside(struct dev *d) {
  for (unsigned q = 0; q < d->nq; q++) set_queue(d, q, 256, ram_top, ram_top, ram_top);
  for (unsigned q = 0; q < d->nq; q++) w32(d, QUEUE_SEL, q), w32(d, QUEUE_READY, 0);
}

static void random_round(struct dev *d, int first) {
  random_pools(d, first);
  /* After a reset the ring addresses are 0, which is RAM this program does not own: point every
   * queue outside RAM before the random writes (which only ever put safe addresses there). */
  point_outside(d);
  if (below(2)) {
    /* Random descriptor tables on valid rings: bring up every queue with a random power-of-two
     * size (at most 256: one DESC page), random avail contents, then notify. */
    negotiate(d, below(2) ? FEAT_INDIRECT | FEAT_EVENT_IDX : (uint32_t)rnd());
    for (unsigned q = 0; q < d->nq; q++) {
      uint32_t size = 1u << below(9);
      set_queue(d, q, size, DESC.p[q].pa, AVAIL.p[q].pa + below(8) * 2, WR.p[q].pa + below(8) * 4);
    }
    w32(d, STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    for (unsigned k = 0; k < 8; k++) {
      w32(d, QUEUE_NOTIFY, below(d->nq + 1));
      random_ops++;
      if (below(4) == 0) random_access(d);
    }
    random_chains++;
  }
  unsigned n = 16 + below(64);
  for (unsigned k = 0; k < n; k++) random_access(d);
  usleep(below(500));
  if (r32(d, STATUS) & S_NEEDS_RESET) needs_reset++;
  check_sealed("random-round");
  reset(d);
}

/* ---- 7. legitimate requests ---- */

static uint8_t legit_byte(unsigned i) { return (uint8_t)(i * 31u + 0x47u); }
/* The host's pattern for a disk (hostile-guest.test.ts: diskPattern). */
static uint8_t disk_byte(unsigned tag, uint64_t off) {
  return (uint8_t)((off >> 9) * 13u + (off & 511u) + tag * 101u);
}

static int legit_blk(struct dev *d, int write, uint64_t sector, unsigned sectors, uint8_t *buf) {
  if (!(bring_up(d, 0) & S_DRIVER_OK)) return 0;
  struct desc *t = qdesc(0);
  struct blkhdr *h = (struct blkhdr *)RD.p[0].v;
  h->type = write ? 1 : 0; h->reserved = 0; h->sector = sector;
  if (write) memcpy(RD.p[1].v, buf, sectors * 512);
  t[0] = (struct desc){RD.p[0].pa, 16, F_NEXT, 1};
  t[1] = (struct desc){write ? RD.p[1].pa : wrbuf(0), sectors * 512, (uint16_t)(F_NEXT | (write ? 0 : F_WRITE)), 2};
  t[2] = (struct desc){wrbuf(1), 1, F_WRITE, 0};
  uint16_t head = 0;
  enum outcome o = submit(d, 0, &head, 1, 1, 1, wrbuf_v(1), 5000);
  if (!write) memcpy(buf, (void *)wrbuf_v(0), sectors * 512);
  reset(d);
  return o == O_USED;
}

static int legit(unsigned legit_sector) {
  int ok = 1, disk = 0;
  uint8_t buf[LEGIT_SECTORS * 512];
  for (unsigned i = 0; i < ndevs; i++) {
    struct dev *d = &devs[i];
    if (d->id == ID_BLK) {
      if (!d->ro) {
        for (unsigned j = 0; j < sizeof buf; j++) buf[j] = legit_byte(j);
        if (!legit_blk(d, 1, legit_sector, LEGIT_SECTORS, buf)) { printf("hostile-guest: legit write failed\n"); ok = 0; }
        memset(buf, 0, sizeof buf);
        if (!legit_blk(d, 0, legit_sector, LEGIT_SECTORS, buf)) ok = 0;
        for (unsigned j = 0; j < sizeof buf; j++)
          if (buf[j] != legit_byte(j)) { printf("hostile-guest: legit read-back differs at %u\n", j); ok = 0; break; }
      }
      memset(buf, 0, sizeof buf);
      if (!legit_blk(d, 0, 0, 2, buf)) { printf("hostile-guest: legit read of disk %d failed\n", disk); ok = 0; }
      for (unsigned j = 0; j < 1024; j++)
        if (buf[j] != disk_byte(disk, j)) { printf("hostile-guest: disk %d sector 0 differs at %u\n", disk, j); ok = 0; break; }
      disk++;
    } else if (d->id == ID_RNG) {
      if (!(bring_up(d, 0) & S_DRIVER_OK)) { ok = 0; continue; }
      qdesc(0)[0] = (struct desc){wrbuf(0), 64, F_WRITE, 0};
      uint16_t head = 0;
      if (submit(d, 0, &head, 1, 1, 1, NULL, 3000) != O_USED || ((volatile uint32_t *)qused(0))[1] != 0 ||
          ((volatile uint32_t *)qused(0))[2] != 64) {
        printf("hostile-guest: legit rng read failed\n");
        ok = 0;
      }
      reset(d);
    }
  }
  return ok;
}

/* ---- discovery ---- */

static void discover(int mem) {
  FILE *f = fopen("/proc/iomem", "r");
  if (!f) die("/proc/iomem");
  char line[256];
  while (fgets(line, sizeof line, f)) {
    unsigned long long a, b;
    if (sscanf(line, " %llx-%llx", &a, &b) != 2) continue;
    if (strstr(line, "System RAM") && b < 0x100000000ull && b + 1 > ram_top) ram_top = b + 1;
    if (strstr(line, "System RAM") && a >= 0x100000000ull) die("RAM above 4 GiB: run with less memory");
    if (strstr(line, "LNRO0005") && ndevs < 16) devs[ndevs++].base = a;
  }
  fclose(f);
  if (!ram_top || ram_top > 0xc0000000ull) die("RAM layout");
  printf("hostile-guest: RAM ends at %llx\n", (unsigned long long)ram_top);
  for (unsigned i = 0; i < ndevs; i++) {
    struct dev *d = &devs[i];
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mem, (off_t)d->base);
    if (p == MAP_FAILED) die("mmap /dev/mem at a virtio-mmio window");
    d->regs = p;
    if (r32(d, MAGIC) != 0x74726976 || r32(d, VERSION) != 2) die("not a virtio-mmio v2 window");
    d->id = r32(d, DEVICE_ID);
    reset(d);
    for (d->nq = 0; d->nq < 4; d->nq++) {
      w32(d, QUEUE_SEL, d->nq);
      if (r32(d, QUEUE_NUM_MAX) == 0) break;
    }
    if (d->id == ID_BLK) {
      d->capacity = r32(d, CONFIG) | ((uint64_t)r32(d, CONFIG + 4) << 32);
      w32(d, DEV_FEAT_SEL, 0);
      d->ro = (r32(d, DEV_FEAT) >> 5) & 1; /* VIRTIO_BLK_F_RO */
    }
    printf("hostile-guest: device %llx id %u queues %u%s\n", (unsigned long long)d->base, d->id, d->nq,
           d->id == ID_BLK ? (d->ro ? " read-only disk" : " writable disk") : "");
  }
}

int main(int argc, char **argv) {
  if (argc != 4) die("usage: hostile-guest SEED RANDOM_SECONDS LEGIT_SECTOR");
  setvbuf(stdout, NULL, _IOLBF, 0);
  rng_state = strtoull(argv[1], NULL, 0) * 2654435761u + 1;
  double seconds = strtod(argv[2], NULL);
  unsigned legit_sector = (unsigned)strtoul(argv[3], NULL, 0);
  /* Keep the pools where they are: no THP collapse, no compaction of locked pages. */
  int f = open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY);
  if (f >= 0) { (void)!write(f, "never", 5); close(f); }
  f = open("/proc/sys/vm/compact_unevictable_allowed", O_WRONLY);
  if (f >= 0) { (void)!write(f, "0", 1); close(f); }
  int mem = open("/dev/mem", O_RDWR | O_SYNC);
  if (mem < 0) die("open /dev/mem");
  int pagemap = open("/proc/self/pagemap", O_RDONLY);
  if (pagemap < 0) die("open /proc/self/pagemap");
  make_pool(&DESC, 16, pagemap);
  make_pool(&AVAIL, 8, pagemap);
  make_pool(&RD, 8, pagemap);
  make_pool(&WR, 16, pagemap);
  discover(mem);
  if (ndevs == 0) die("no virtio-mmio devices in /proc/iomem");
  seal();

  for (unsigned i = 0; i < ndevs; i++) {
    struct dev *d = &devs[i];
    status_cases(d);
    geometry_cases(d);
    chain_cases(d);
    if (d->id == ID_BLK) blk_cases(d);
    if (d->id == ID_VSOCK) vsock_cases(d);
  }
  printf("hostile-guest: fixed cases done: %lu cases, %lu unexpected; %lu refused, %lu needs-reset, %lu "
         "error-status, %lu used\n",
         cases, unexpected, outcomes[O_REFUSED], outcomes[O_NEEDS_RESET], outcomes[O_USED_ERROR], outcomes[O_USED]);

  double end = now() + seconds;
  unsigned long rounds = 0;
  while (now() < end) {
    random_round(&devs[below(ndevs)], rounds == 0);
    rounds++;
  }
  printf("hostile-guest: random phase: %lu rounds, %lu MMIO operations\n", rounds, random_ops);
  for (unsigned i = 0; i < ndevs; i++) reset(&devs[i]);
  int ok = legit(legit_sector);
  printf("hostile-guest: summary cases=%lu unexpected=%lu random_ops=%lu random_chains=%lu needs_reset=%lu "
         "readonly_writes=%lu legit=%s devices=%u survived\n",
         cases, unexpected, random_ops, random_chains, needs_reset, readonly_writes, ok ? "ok" : "FAILED", ndevs);
  return 0;
}
