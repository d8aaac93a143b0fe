/* Benchmark of the synthetic-data generator: images per second at 64 x 64 for each family, both
 * rendering only (in memory) and writing a whole dataset (PNGs, masks, manifests) to a directory,
 * with the CPU time per written image (and the rate it implies when the cores are not shared).
 * Usage: bench_synth [dir-parent (default $TMPDIR or /tmp)] [images per run (default 2000)] */
#define _POSIX_C_SOURCE 200809L

#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "salient/salient.h"
#include "salient/synth.h"

#define RUNS 3

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): on a shared machine, wall-clock rates fall with
 * other jobs' load, CPU time per image much less. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Removes the dataset directory written by one run (a fresh directory named by this process). */
static void remove_dataset(const char *dir) {
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_synth: could not remove %s\n", dir);
}

int main(int argc, char **argv) {
  /* Only positional arguments: anything that looks like an option (--help) gets the usage, never
   * a directory of that name. */
  char *end = NULL;
  int64_t n = argc > 2 ? strtoll(argv[2], &end, 10) : 2000;
  if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (argc > 2 && (*end || n < 1))) {
    fprintf(stderr, "usage: bench_synth [dir-parent (default $TMPDIR or /tmp)] [images per run >= 1 (default 2000)]\n");
    return argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0 : 2;
  }
  const char *parent = argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(0, 1, &ctx)) return 1;
  sal_ctx_set_log_level(ctx, SAL_LOG_QUIET);
  printf("synth: %d cores, %lld images per run, median of %d runs, 64 x 64, output under %s\n", sal_ctx_threads(ctx),
         (long long)n, RUNS, parent);
  int rc = 0;
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT && !rc; f++) {
    sal_synth_params p = sal_synth_params_default((sal_synth_family)f);
    p.seed = 7;
    p.count[SAL_SYNTH_TRAIN] = n;
    p.count[SAL_SYNTH_VAL] = 0;
    p.count[SAL_SYNTH_TEST] = 0;
    double render[RUNS], write[RUNS], cpu[RUNS];
    for (int r = 0; r < RUNS && !rc; r++) {
      /* rendering only: the same work as a dataset minus PNG encoding and file output */
      double t0 = now_s();
      int failed = 0;
      #pragma omp parallel for schedule(dynamic, 8) reduction(+ : failed)
      for (int64_t i = 0; i < n; i++) {
        sal_ctx *c = NULL;
        sal_synth_sample s;
        if (sal_ctx_new(1, 1, &c)) {
          failed++;
          continue;
        }
        if (sal_synth_render(c, &p, SAL_SYNTH_TRAIN, i, &s)) failed++;
        sal_synth_sample_free(&s);
        sal_ctx_free(c);
      }
      render[r] = (double)n / (now_s() - t0);
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/bench_synth_%d_%s_%d", parent, (int)getpid(), sal_synth_family_name(p.family), r);
      t0 = now_s();
      double c0 = cpu_s();
      sal_status st = sal_synth_generate(ctx, &p, dir);
      write[r] = (double)n / (now_s() - t0);
      cpu[r] = 1e3 * (cpu_s() - c0) / (double)n;
      remove_dataset(dir);
      if (st || failed) {
        fprintf(stderr, "bench_synth: %s: %s\n", sal_synth_family_name(p.family), sal_ctx_last_error(ctx));
        rc = 1;
      }
    }
    if (rc) break;
    qsort(render, RUNS, sizeof(double), bench_cmp_double);
    qsort(write, RUNS, sizeof(double), bench_cmp_double);
    qsort(cpu, RUNS, sizeof(double), bench_cmp_double);
    printf("synth %-8s render %6.0f images/s   write dataset %6.0f images/s   (%.3f CPU ms per written image: "
           "%.0f images/s on %d idle cores)\n",
           sal_synth_family_name(p.family), render[RUNS / 2], write[RUNS / 2], cpu[RUNS / 2],
           1e3 * sal_ctx_threads(ctx) / cpu[RUNS / 2], sal_ctx_threads(ctx));
  }
  printf("synth: no PyTorch counterpart (torchvision has no equivalent generator)\n");
  sal_ctx_free(ctx);
  return rc;
}
