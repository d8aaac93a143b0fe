/* Benchmark of the synthetic-data generator: images per second at 64 x 64 for each family, both
 * rendering only (in memory) and writing a whole dataset (PNGs, masks, manifests) to one or more
 * directories side by side, with the CPU time per written image (and the rate it implies when the
 * cores are not shared). Usage: bench_synth [dir-parent[,dir-parent...] (default $TMPDIR or /tmp)]
 * [images per run (default 2000)] */
#define _POSIX_C_SOURCE 200809L

#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "salient/salient.h"
#include "salient/synth.h"

#define RUNS 3
#define MAX_PARENTS 4

/* Removes one dataset directory written by this process (only once every family is done). */
static void remove_dataset(const char *dir) {
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench_synth: could not remove %s\n", dir);
}

/* Writes one dataset into dir; *rate receives images/s, *cpu CPU ms per image. */
static int write_one(sal_ctx *ctx, const sal_synth_params *p, const char *dir, double *rate, double *cpu) {
  double t0 = bench_now_ms(), c0 = bench_cpu_ms();
  sal_status st = sal_synth_generate(ctx, p, dir);
  double n = (double)p->count[SAL_SYNTH_TRAIN];
  *rate = n / (1e-3 * (bench_now_ms() - t0));
  *cpu = (bench_cpu_ms() - c0) / n;
  if (st) fprintf(stderr, "bench_synth: %s: %s\n", dir, sal_ctx_last_error(ctx));
  return st ? 1 : 0;
}

static double median(double *v) {
  qsort(v, RUNS, sizeof(double), bench_cmp_double);
  return v[RUNS / 2];
}

int main(int argc, char **argv) {
  /* Only positional arguments: anything that looks like an option (--help) gets the usage, never
   * a directory of that name. */
  char *end = NULL;
  int64_t n = argc > 2 ? strtoll(argv[2], &end, 10) : 2000;
  if (argc > 3 || (argc > 1 && argv[1][0] == '-') || (argc > 2 && (*end || n < 1))) {
    fprintf(stderr, "usage: bench_synth [dir-parent[,dir-parent...] (default $TMPDIR or /tmp)] [images per run >= 1 "
                    "(default 2000)]\n");
    return argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0 : 2;
  }
  char list[4096];
  snprintf(list, sizeof list, "%s", argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"));
  const char *parent[MAX_PARENTS];
  int np = 0;
  for (char *tok = strtok(list, ","); tok && np < MAX_PARENTS; tok = strtok(NULL, ",")) parent[np++] = tok;
  if (np == 0) {
    fprintf(stderr, "bench_synth: no output directory given\n");
    return 2;
  }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(0, 1, &ctx)) return 1;
  sal_ctx_set_log_level(ctx, SAL_LOG_QUIET);
  printf("synth: %d cores, %lld images per run, median of %d runs, 64 x 64\n", sal_ctx_threads(ctx), (long long)n, RUNS);
  int rc = 0;
  /* Every run writes a new directory, the file systems alternating, and nothing is deleted until
   * the end: on ext4 without a journal, creating files within minutes of deleting many others costs
   * a scan over the deleted inodes per file, which would charge one run for the previous run's
   * clean-up (docs/synth.md, Throughput). */
  static char dir[SAL_SYNTH_FAMILY_COUNT][MAX_PARENTS][RUNS][4096];
  int written[SAL_SYNTH_FAMILY_COUNT] = {0};
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT && !rc; f++) {
    sal_synth_params p = sal_synth_params_default((sal_synth_family)f);
    p.seed = 7;
    p.count[SAL_SYNTH_TRAIN] = n;
    p.count[SAL_SYNTH_VAL] = 0;
    p.count[SAL_SYNTH_TEST] = 0;
    const char *fam = sal_synth_family_name(p.family);
    double render[RUNS];
    double rate[MAX_PARENTS][RUNS], cpu[MAX_PARENTS][RUNS];
    for (int r = 0; r < RUNS && !rc; r++) {
      /* rendering only: the same work as a dataset minus PNG encoding and file output */
      double t0 = bench_now_ms();
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
      render[r] = (double)n / (1e-3 * (bench_now_ms() - t0));
      if (failed) {
        fprintf(stderr, "bench_synth: %s: rendering failed\n", fam);
        rc = 1;
      }
      for (int d = 0; d < np && !rc; d++) {
        snprintf(dir[f][d][r], sizeof dir[f][d][r], "%s/bench_synth_%d_%s_%d", parent[d], (int)getpid(), fam, r);
        written[f] = r * np + d + 1;
        rc = write_one(ctx, &p, dir[f][d][r], &rate[d][r], &cpu[d][r]);
      }
    }
    if (rc) break;
    printf("synth %-8s render %6.0f images/s\n", fam, median(render));
    for (int d = 0; d < np; d++) {
      double c = median(cpu[d]);
      printf("synth %-8s write under %-16s %6.0f images/s   (%.3f CPU ms per written image: %.0f images/s on %d idle "
             "cores)\n",
             fam, parent[d], median(rate[d]), c, 1e3 * sal_ctx_threads(ctx) / c, sal_ctx_threads(ctx));
    }
  }
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT; f++)
    for (int k = 0; k < written[f]; k++) remove_dataset(dir[f][k % np][k / np]);
  printf("synth: no PyTorch counterpart (torchvision has no equivalent generator)\n");
  sal_ctx_free(ctx);
  return rc;
}
