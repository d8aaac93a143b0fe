/* Engine benchmark: whole-model forward and forward + backward-to-input passes of the built-in
 * ImageNet models through the plan API, timed as bench/engine_torch.py times PyTorch.
 *
 * For each model (resnet18, resnet50, vgg16 at 224x224) and batch (1, 8), two plans in inference
 * mode: "fwd" (no gradients) and "fwd+bwd" (grad_inputs only, no parameter gradients; each
 * repetition runs forward, seeds "logits" with a one-hot of each image's top-1 class and runs
 * backward to "input", as a saliency method does). Prints the median wall-clock time of timed runs
 * after warm-up runs, and GFLOP/s: 2 x sal_plan_forward_macs for fwd; fwd+bwd counts the
 * backward-data pass as another forward's worth (2 x 2 x macs), the usual convention since each
 * conv's data gradient costs as many multiply-adds as its forward. Output lines:
 *   RESULT impl=salient model=resnet18 batch=1 pass=fwd ms=12.345 gflops=297.1
 *   INFO impl=salient model=resnet18 batch=1 ...   (kernels used, reference-kernel nodes)
 * Options: --quick (fewer repetitions), --profile (slowest nodes), --model a,b (repeatable), --batch 1,8, --threads N (2),
 * --no-winograd (direct convolutions only, sal_ctx_set_winograd; SAL_PROFILE_ALL=1 in the environment makes
 * --profile list every node), --clock wall|cpu (wall: elapsed time, the default; cpu: the process's CPU time, which other work
 * on a busy machine inflates far less — with --threads 1, where no thread spins waiting for
 * another, it compares two salient builds; PyTorch's CPU time is not comparable, as it allocates
 * and page-faults its activations every pass).
 * bench/run_engine.sh runs it beside the PyTorch script and prints one table. */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "salient/salient.h"

#define MAX_LIST 16
#define MAX_REPS 16

typedef struct bench_opts {
  bool quick;
  bool cpu_clock; /* --clock cpu: process CPU time instead of elapsed time */
  bool profile; /* per-node times of the slowest nodes */
  bool no_winograd;
  int threads;
  const char *models[MAX_LIST];
  int n_models;
  int64_t batches[MAX_LIST];
  int n_batches;
} bench_opts;

/* (warm-up, timed) repetitions; the same table as bench/engine_torch.py. */
static void reps(const bench_opts *o, const char *model, int64_t batch, int *warm, int *timed) {
  if (o->quick) {
    *warm = 1, *timed = batch == 1 ? 3 : 2;
  } else if (strcmp(model, "vgg16") == 0) {
    *warm = batch == 1 ? 2 : 1, *timed = batch == 1 ? 5 : 3;
  } else {
    *warm = batch == 1 ? 3 : 2, *timed = batch == 1 ? 10 : 5;
  }
}

/* One repetition of a pass. For fwd+bwd: forward, one-hot top-1 seed, backward. */
static sal_status run_pass(sal_plan *p, bool backward, sal_tensor *seed) {
  sal_status st = sal_plan_forward(p);
  if (st || !backward) return st;
  const sal_tensor *logits = NULL;
  st = sal_plan_value(p, "logits", &logits);
  if (st) return st;
  int64_t n = logits->shape.d[0], k = logits->shape.d[1];
  memset(seed->data, 0, (size_t)(n * k) * sizeof(float));
  for (int64_t i = 0; i < n; i++) {
    const float *row = logits->data + i * k;
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
      if (row[j] > row[best]) best = j;
    seed->data[i * k + best] = 1.0f;
  }
  return sal_plan_backward(p, "logits", seed);
}

/* Reports which kernels the plan chose: the count of nodes on reference kernels and the indices
 * of the first few, since a reference kernel in a hot path explains a slow figure. */
static void report_kernels(sal_plan *p, const sal_graph *g, const char *model, int64_t batch,
                           const char *pass) {
  int n = sal_graph_num_nodes(g), n_ref = 0;
  char first[256] = "";
  for (int i = 0; i < n; i++) {
    const char *k = sal_plan_node_kernel(p, i);
    if (k && strncmp(k, "ref", 3) == 0) {
      if (n_ref < 4) snprintf(first + strlen(first), sizeof first - strlen(first), "%s#%d", n_ref ? "," : "", i);
      n_ref++;
    }
  }
  printf("INFO impl=salient model=%s batch=%lld pass=%s nodes=%d ref_kernel_nodes=%d%s%s\n", model,
         (long long)batch, pass, n, n_ref, n_ref ? " first_ref=" : "", first);
}

/* With --profile: the nodes that took longest (forward + backward, ms per pass), as PROFILE lines. */
static void print_profile(sal_plan *p, int passes) {
  int n = 0;
  while (sal_plan_node_name(p, n)) n++;
  double tot_f = 0, tot_b = 0;
  bool shown[4096] = {0};
  for (int i = 0; i < n && i < 4096; i++) {
    double f, b;
    if (sal_plan_node_time(p, i, &f, &b) == SAL_STATUS_OK) {
      tot_f += f;
      tot_b += b;
    }
  }
  printf("PROFILE total fwd_ms=%.2f bwd_ms=%.2f per pass\n", tot_f / passes, tot_b / passes);
  /* per op type */
  const char *ops[64];
  double of[64] = {0}, ob[64] = {0};
  int nops = 0;
  for (int i = 0; i < n && i < 4096; i++) {
    double f, b;
    if (sal_plan_node_time(p, i, &f, &b)) continue;
    const char *op = sal_plan_node_op(p, i);
    int j = 0;
    while (j < nops && strcmp(ops[j], op)) j++;
    if (j == nops && nops < 64) ops[nops++] = op;
    if (j < 64) {
      of[j] += f;
      ob[j] += b;
    }
  }
  for (int j = 0; j < nops; j++)
    printf("PROFILE op %-20s fwd %8.2f ms bwd %8.2f ms\n", ops[j], of[j] / passes, ob[j] / passes);
  const int ranks = getenv("SAL_PROFILE_ALL") ? 1000 : 15;
  for (int rank = 0; rank < ranks; rank++) {
    int best = -1;
    double bt = -1;
    for (int i = 0; i < n && i < 4096; i++) {
      double f, b;
      if (shown[i] || sal_plan_node_time(p, i, &f, &b)) continue;
      if (f + b > bt) {
        bt = f + b;
        best = i;
      }
    }
    if (best < 0) break;
    shown[best] = true;
    double f, b;
    sal_plan_node_time(p, best, &f, &b);
    printf("PROFILE %-28s %-20s fwd %7.3f ms bwd %7.3f ms  %s\n", sal_plan_node_name(p, best),
           sal_plan_node_op(p, best), f / passes, b / passes, sal_plan_node_kernel(p, best));
  }
}

static int bench_model(sal_ctx *ctx, const bench_opts *o, const char *model) {
  sal_model_spec spec = sal_model_spec_default(model);
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *x = NULL, *seed = NULL;
  int rc = 1;
  double t0 = bench_now_ms();
  if (sal_model_build(ctx, &spec, &g)) goto fail;
  printf("INFO impl=salient model=%s params=%lld build_ms=%.1f threads=%d\n", model,
         (long long)sal_graph_param_count(g, true), bench_now_ms() - t0, sal_ctx_threads(ctx));
  fflush(stdout);
  for (int b = 0; b < o->n_batches; b++) {
    int64_t batch = o->batches[b];
    int64_t dims[4] = {batch, spec.in_channels, spec.image_size, spec.image_size};
    if (sal_tensor_new(ctx, 4, dims, &x) || sal_tensor_new(ctx, 2, (int64_t[]){batch, spec.num_classes}, &seed))
      goto fail;
    sal_rng_normal(sal_ctx_seed(ctx), 0xbe4c, 0, x->data, (size_t)sal_tensor_numel(x));
    for (int pass = 0; pass < 2; pass++) {
      sal_plan_opts po = sal_plan_opts_default();
      po.batch = batch;
      po.grad_inputs = pass == 1;
      po.profile = o->profile;
      const char *pname = pass ? "fwd+bwd" : "fwd";
      if (sal_plan_new(ctx, g, &po, &p) || sal_plan_set_input(p, "input", x)) goto fail;
      report_kernels(p, g, model, batch, pname);
      int warm, timed;
      reps(o, model, batch, &warm, &timed);
      double ms[MAX_REPS];
      for (int r = 0; r < warm + timed; r++) {
        double t = o->cpu_clock ? bench_cpu_ms() : bench_now_ms();
        if (run_pass(p, pass == 1, seed)) goto fail;
        if (r >= warm) ms[r - warm] = (o->cpu_clock ? bench_cpu_ms() : bench_now_ms()) - t;
      }
      qsort(ms, (size_t)timed, sizeof ms[0], bench_cmp_double);
      double med = timed % 2 ? ms[timed / 2] : 0.5 * (ms[timed / 2 - 1] + ms[timed / 2]);
      double flops = 2.0 * (double)sal_plan_forward_macs(p) * (pass ? 2.0 : 1.0);
      printf("RESULT impl=salient model=%s batch=%lld pass=%s ms=%.3f gflops=%.1f\n", model,
             (long long)batch, pname, med, flops / (med * 1e6));
      fflush(stdout);
      if (o->profile) print_profile(p, warm + timed);
      sal_plan_free(p);
      p = NULL;
    }
    sal_tensor_free(x);
    sal_tensor_free(seed);
    x = seed = NULL;
  }
  rc = 0;
fail:
  if (rc) fprintf(stderr, "bench_engine: %s: %s\n", model, sal_ctx_last_error(ctx));
  sal_plan_free(p);
  sal_tensor_free(x);
  sal_tensor_free(seed);
  sal_graph_free(g);
  return rc;
}

/* Splits a comma-separated list into out (strings point into s, which is modified). */
static int split(char *s, const char **out, int n, int cap) {
  for (char *tok = strtok(s, ","); tok && n < cap; tok = strtok(NULL, ",")) out[n++] = tok;
  return n;
}

static int usage(void) {
  fprintf(stderr, "usage: bench_engine [--quick] [--profile] [--model resnet18,resnet50,vgg16] [--batch 1,8] [--threads N] "
                  "[--clock wall|cpu] [--no-winograd]\n");
  return 2;
}

int main(int argc, char **argv) {
  bench_opts o = {.threads = 2};
  const char *batch_strs[MAX_LIST];
  int n_batch_strs = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--profile") == 0) {
      o.profile = true;
    } else if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc) {
      const char *c = argv[++i];
      if (strcmp(c, "cpu") && strcmp(c, "wall")) return usage();
      o.cpu_clock = strcmp(c, "cpu") == 0;
    } else if (strcmp(argv[i], "--no-winograd") == 0) {
      o.no_winograd = true;
    } else if (strcmp(argv[i], "--quick") == 0) {
      o.quick = true;
    } else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) {
      o.n_models = split(argv[++i], o.models, o.n_models, MAX_LIST);
    } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
      n_batch_strs = split(argv[++i], batch_strs, 0, MAX_LIST);
    } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      o.threads = atoi(argv[++i]);
      if (o.threads < 1) return usage();
    } else {
      fprintf(stderr, "bench_engine: unknown option '%s'\n", argv[i]);
      return usage();
    }
  }
  if (o.n_models == 0) {
    static const char *const all[] = {"resnet18", "resnet50", "vgg16"};
    for (int i = 0; i < 3; i++) o.models[o.n_models++] = all[i];
  }
  if (n_batch_strs == 0) {
    o.batches[o.n_batches++] = 1;
    o.batches[o.n_batches++] = 8;
  }
  for (int i = 0; i < n_batch_strs; i++) {
    char *end;
    long v = strtol(batch_strs[i], &end, 10);
    if (*end || v < 1 || v > 1024) {
      fprintf(stderr, "bench_engine: bad batch size '%s'\n", batch_strs[i]);
      return usage();
    }
    o.batches[o.n_batches++] = v;
  }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(o.threads, 42, &ctx)) {
    fprintf(stderr, "bench_engine: cannot create a context\n");
    return 1;
  }
  sal_ctx_set_log_level(ctx, SAL_LOG_WARN);
  sal_ctx_set_winograd(ctx, !o.no_winograd);
  int rc = 0;
  for (int m = 0; m < o.n_models; m++) rc |= bench_model(ctx, &o, o.models[m]);
  sal_ctx_free(ctx);
  return rc;
}
