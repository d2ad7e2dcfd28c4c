/*
 * A straightforward VT-d page walker in C: the baseline the model's walker is measured against
 * (bench/walk_c.ts compiles it with `cc -O2` at bench time and runs it on the tables the model
 * built). NON-KERNEL, written for this project.
 *
 * It reads the model's physical memory from a file (the table frames and their addresses), builds
 * a frame table indexed by frame number (one pointer load per entry read, no hashing), and walks:
 *
 *   - a second stage alone, 4 levels (4 entry reads per translation);
 *   - a nested walk: a 4-level first stage whose table addresses are guest physical addresses,
 *     each translated through the 4-level second stage before it is read, then the output GPA
 *     translated too (4 x (4 + 1) + 4 = 24 entry reads).
 *
 * Only what a read translation needs is checked: the R bit of second-stage entries, P and U/S of
 * first-stage entries, and PS for 2 MiB and 1 GiB leaves. Reserved bits, A/D updates, writes and
 * the interrupt range are the model's business; the bench's tables exercise none of them.
 *
 * Input file (little-endian 64-bit words unless said otherwise):
 *   "VTDBENCH" version nframes ss_root nss_root nfs_root iova_base niovas nsample
 *   nframes x { pa, 4096 bytes }
 *   niovas x uint32 r  (IOVA i = iova_base + (r[i] & 0x3fffffff); niovas a power of two)
 *
 * Usage: vtd_walker FILE RUNS MIN_MS_PER_RUN
 * Output: one JSON object: per workload ("ss", "nested") the CPU ns per walk of each run, with
 * independent IOVAs ("indep") and dependent ones ("dep": each IOVA from the previous walk's PA),
 * the PAs of the first nsample IOVAs ("sample", -1 for a fault) and the dependent chain's sum of
 * PAs over niovas steps ("chain").
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADDR_MASK 0x000ffffffffff000ULL
#define FAULT UINT64_MAX
#define SPAN_MASK 0x3fffffffu

static const uint64_t *const *frame_table; /* frame number -> 512 entries */
static uint64_t nframe_slots;
static const uint64_t zero_frame[512];

static inline uint64_t rd(uint64_t pa) {
  uint64_t pfn = pa >> 12;
  const uint64_t *f = pfn < nframe_slots ? frame_table[pfn] : zero_frame;
  return f[(pa & 0xfff) >> 3];
}

/* Second stage, 4 levels, read: the output address or FAULT. */
static inline uint64_t ss_walk(uint64_t root, uint64_t iova) {
  uint64_t table = root;
  for (int level = 4; level >= 1; level--) {
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t e = rd(table + 8 * ((iova >> shift) & 511));
    if (!(e & 1)) return FAULT;
    if (level == 1 || (level <= 3 && (e & 0x80))) {
      uint64_t size = 1ULL << shift;
      return (e & ADDR_MASK & ~(size - 1)) | (iova & (size - 1));
    }
    table = e & ADDR_MASK;
  }
  return FAULT;
}

/* First stage, 4 levels, a user read; with ss_root != 0 every table address is a GPA. */
static inline uint64_t fs_walk(uint64_t root, uint64_t ss_root, uint64_t iova) {
  uint64_t table = root;
  for (int level = 4; level >= 1; level--) {
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t at = table + 8 * ((iova >> shift) & 511);
    if (ss_root) {
      at = ss_walk(ss_root, at);
      if (at == FAULT) return FAULT;
    }
    uint64_t e = rd(at);
    if ((e & 5) != 5) return FAULT; /* P and U/S */
    if (level == 1 || (level <= 3 && (e & 0x80))) {
      uint64_t size = 1ULL << shift;
      return (e & ADDR_MASK & ~(size - 1)) | (iova & (size - 1));
    }
    table = e & ADDR_MASK;
  }
  return FAULT;
}

static uint64_t nested_walk(uint64_t fs_root, uint64_t ss_root, uint64_t iova) {
  uint64_t gpa = fs_walk(fs_root, ss_root, iova);
  return gpa == FAULT ? FAULT : ss_walk(ss_root, gpa);
}

static uint64_t g_ss_root, g_nss_root, g_nfs_root;

static uint64_t walk_ss(uint64_t iova) { return ss_walk(g_ss_root, iova); }
static uint64_t walk_nested(uint64_t iova) { return nested_walk(g_nfs_root, g_nss_root, iova); }

/* CPU time of this process, as bench/harness.ts measures the model: the machine is shared. */
static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t *iovas;
static const uint32_t *rs;
static uint64_t niovas, iova_base, nsample;
static volatile uint64_t sink;

/*
 * The passes and measure() are inlined into main(), where `walk` is a constant: each workload's
 * loop calls its walker directly and the compiler inlines it (as V8 inlines the model's walker into
 * each workload's own loop in bench/walk_c.ts), rather than calling through a pointer per walk.
 */
#define INLINE static inline __attribute__((always_inline))

/* One pass over every IOVA; the walks are independent of each other. */
INLINE void pass_indep(uint64_t (*walk)(uint64_t)) {
  uint64_t acc = 0;
  for (uint64_t i = 0; i < niovas; i++) acc += walk(iovas[i]);
  sink += acc;
}

/* One pass of niovas walks, each IOVA derived from the previous walk's PA. */
INLINE uint64_t pass_dep(uint64_t (*walk)(uint64_t)) {
  uint64_t iova = iovas[0], sum = 0;
  for (uint64_t i = 0; i < niovas; i++) {
    uint64_t pa = walk(iova);
    sum += pa;
    iova = iova_base + (((uint32_t)pa ^ rs[(i + 1) & (niovas - 1)]) & SPAN_MASK);
  }
  return sum;
}

INLINE void measure(const char *name, uint64_t (*walk)(uint64_t), int runs, double min_ms,
                    int last) {
  printf("\"%s\":{\"sample\":[", name);
  for (uint64_t i = 0; i < nsample; i++) {
    uint64_t pa = walk(iovas[i]);
    if (pa == FAULT) printf("%s-1", i ? "," : "");
    else printf("%s%llu", i ? "," : "", (unsigned long long)pa);
  }
  uint64_t chain = pass_dep(walk);
  printf("],\"chain\":%llu", (unsigned long long)chain);
  for (int dep = 0; dep < 2; dep++) {
    /* Calibrate: passes per run so that a run lasts at least min_ms. */
    double t0 = now_ns();
    if (dep) sink += pass_dep(walk); else pass_indep(walk);
    double one = now_ns() - t0;
    uint64_t passes = (uint64_t)(min_ms * 1e6 / (one > 1 ? one : 1)) + 1;
    printf(",\"%s\":[", dep ? "dep" : "indep");
    for (int r = 0; r < runs; r++) {
      t0 = now_ns();
      for (uint64_t p = 0; p < passes; p++) {
        if (dep) sink += pass_dep(walk); else pass_indep(walk);
      }
      double ns = (now_ns() - t0) / (double)(passes * niovas);
      printf("%s%.3f", r ? "," : "", ns);
    }
    printf("]");
  }
  printf(",\"walks_per_run\":%llu}%s", (unsigned long long)niovas, last ? "" : ",");
}

static uint64_t word(FILE *f) {
  uint64_t w;
  if (fread(&w, 8, 1, f) != 1) {
    fprintf(stderr, "vtd_walker: short input\n");
    exit(2);
  }
  return w;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: vtd_walker FILE RUNS MIN_MS_PER_RUN\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  int runs = atoi(argv[2]);
  double min_ms = atof(argv[3]);
  char magic[8];
  if (fread(magic, 8, 1, f) != 1 || memcmp(magic, "VTDBENCH", 8) != 0 || word(f) != 1) {
    fprintf(stderr, "vtd_walker: not a version 1 VTDBENCH file\n");
    return 2;
  }
  uint64_t nframes = word(f);
  g_ss_root = word(f);
  g_nss_root = word(f);
  g_nfs_root = word(f);
  iova_base = word(f);
  niovas = word(f);
  nsample = word(f);
  if (niovas == 0 || (niovas & (niovas - 1)) || nsample > niovas) {
    fprintf(stderr, "vtd_walker: niovas must be a power of two >= nsample\n");
    return 2;
  }
  uint64_t *pas = malloc(nframes * sizeof *pas);
  uint64_t *data = aligned_alloc(4096, nframes * 4096 + 4096);
  uint64_t max_pfn = 0;
  for (uint64_t i = 0; i < nframes; i++) {
    pas[i] = word(f);
    if (pas[i] & 0xfff) {
      fprintf(stderr, "vtd_walker: frame address not 4 KiB aligned\n");
      return 2;
    }
    if (fread(data + i * 512, 4096, 1, f) != 1) {
      fprintf(stderr, "vtd_walker: short frame\n");
      return 2;
    }
    if ((pas[i] >> 12) > max_pfn) max_pfn = pas[i] >> 12;
  }
  if (max_pfn >= (1ULL << 28)) {
    fprintf(stderr, "vtd_walker: frames above 1 TiB: the flat frame table would be too big\n");
    return 2;
  }
  nframe_slots = max_pfn + 1;
  const uint64_t **table = malloc(nframe_slots * sizeof *table);
  for (uint64_t p = 0; p < nframe_slots; p++) table[p] = zero_frame;
  for (uint64_t i = 0; i < nframes; i++) table[pas[i] >> 12] = data + i * 512;
  frame_table = (const uint64_t *const *)table;
  uint32_t *r = malloc(niovas * sizeof *r);
  if (fread(r, 4, niovas, f) != niovas) {
    fprintf(stderr, "vtd_walker: short IOVA list\n");
    return 2;
  }
  fclose(f);
  rs = r;
  iovas = malloc(niovas * sizeof *iovas);
  for (uint64_t i = 0; i < niovas; i++) iovas[i] = iova_base + (r[i] & SPAN_MASK);

  printf("{");
  measure("ss", walk_ss, runs, min_ms, 0);
  measure("nested", walk_nested, runs, min_ms, 1);
  printf("}\n");
  return 0;
}
