/* Training benchmark: images per second of full training steps (forward, softmax cross-entropy,
 * backward to every parameter, SGD with momentum and weight decay) of the built-in models on
 * synthetic in-memory data, timed as bench/train_torch.py times PyTorch on the same architecture.
 *
 * Per model (default simple_cnn, resnet_small and resnet18 at 64 x 64, batch 64, 10 classes): a training-mode
 * plan with parameter gradients, random images and labels drawn once, `warm` untimed steps, then
 * `timed` steps each timed alone; prints the median step time as images per second:
 *   RESULT impl=salient model=resnet_small size=64 batch=64 ms=123.4 img_s=518.6
 * Options: --model a,b  --size 64  --batch 64  --width 16 (simple_cnn, resnet_small)  --steps N (timed, 10)
 *          --threads N (2)  --quick (3 timed steps)  --profile (slowest nodes). bench/run_train.sh runs it beside PyTorch. */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "salient/salient.h"

#define MAX_STEPS 200

static int fail(sal_ctx *ctx, sal_status st, const char *what) {
  fprintf(stderr, "bench_train: %s: %s: %s\n", what, sal_status_name(st), sal_ctx_last_error(ctx));
  return 1;
}

/* The slowest nodes of the plan (forward + backward milliseconds per step), for --profile. */
static void print_profile(const sal_plan *p, const sal_graph *g, int steps) {
  int n = sal_graph_num_nodes(g);
  double total = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < n; i++) {
      double f = 0, b = 0;
      sal_plan_node_time(p, i, &f, &b);
      if (pass == 0) total += f + b;
      else if (f + b > 0.02 * total)
        printf("PROFILE %-28s %-22s fwd %8.2f ms bwd %8.2f ms  %s\n", sal_plan_node_name(p, i), sal_plan_node_op(p, i),
               f / steps, b / steps, sal_plan_node_kernel(p, i));
    }
  }
  printf("PROFILE total %.2f ms per step\n", total / steps);
}

static bool g_profile;

static int bench_model(sal_ctx *ctx, const char *arch, int64_t size, int64_t batch, int64_t width, int steps) {
  sal_model_spec spec = sal_model_spec_default(arch);
  spec.num_classes = 10;
  spec.image_size = size;
  spec.width = width;
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_optim *o = NULL;
  sal_tensor *x = NULL, *t = NULL;
  int rc = 0;
  sal_status st = sal_model_build(ctx, &spec, &g);
  const char *ins[2] = {"logits", "target"}, *outs[1] = {"loss"};
  if (!st) st = sal_graph_add_input(g, "target", 1, (int64_t[]){-1});
  if (!st) st = sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "loss", ins, 2, outs, 1, NULL, 0);
  if (!st) st = sal_graph_add_output(g, "loss");
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = batch;
  po.training = true;
  po.grad_params = true;
  po.profile = g_profile;
  if (!st) st = sal_plan_new(ctx, g, &po, &p);
  sal_optim_opts oo = sal_optim_opts_default(SAL_OPTIM_SGD);
  oo.lr = 0.01f;
  oo.momentum = 0.9f;
  oo.weight_decay = 5e-4f;
  if (!st) st = sal_optim_new(ctx, g, &oo, NULL, 0, &o);
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){batch, 3, size, size}, &x);
  if (!st) st = sal_tensor_new(ctx, 1, (int64_t[]){batch}, &t);
  if (st) {
    rc = fail(ctx, st, arch);
    goto done;
  }
  sal_rng_normal(7, 1, 0, x->data, (size_t)sal_tensor_numel(x));
  for (int64_t i = 0; i < batch; i++) t->data[i] = (float)(i % 10);
  double ms[MAX_STEPS];
  int warm = 2;
  for (int k = 0; k < warm + steps; k++) {
    double t0 = bench_now_ms();
    st = sal_plan_set_input(p, "input", x);
    if (!st) st = sal_plan_set_input(p, "target", t);
    if (!st) st = sal_plan_forward(p);
    if (!st) st = sal_plan_backward(p, "loss", NULL);
    if (!st) st = sal_optim_step(o, p, 0.01f);
    if (st) {
      rc = fail(ctx, st, arch);
      goto done;
    }
    if (k >= warm) ms[k - warm] = bench_now_ms() - t0;
  }
  qsort(ms, (size_t)steps, sizeof ms[0], bench_cmp_double);
  double med = ms[steps / 2];
  printf("RESULT impl=salient model=%s size=%lld batch=%lld ms=%.2f img_s=%.1f\n", arch, (long long)size,
         (long long)batch, med, 1e3 * (double)batch / med);
  if (g_profile) print_profile(p, g, warm + steps);
  fflush(stdout);
done:
  sal_tensor_free(x);
  sal_tensor_free(t);
  sal_optim_free(o);
  sal_plan_free(p);
  sal_graph_free(g);
  return rc;
}

int main(int argc, char **argv) {
  const char *models = "simple_cnn,resnet_small,resnet18";
  int64_t size = 64, batch = 64, width = 16;
  int steps = 10, threads = 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--quick")) {
      steps = 3;
      continue;
    }
    if (!strcmp(a, "--profile")) {
      g_profile = true;
      continue;
    }
    if (!v) {
      fprintf(stderr, "bench_train: %s needs a value (or is unknown)\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--model")) models = v;
    else if (!strcmp(a, "--size")) size = atoll(v);
    else if (!strcmp(a, "--batch")) batch = atoll(v);
    else if (!strcmp(a, "--width")) width = atoll(v);
    else if (!strcmp(a, "--steps")) steps = atoi(v);
    else if (!strcmp(a, "--threads")) threads = atoi(v);
    else {
      fprintf(stderr, "bench_train: unknown option %s\n", a);
      return 2;
    }
  }
  if (steps < 1 || steps > MAX_STEPS || batch < 1 || size < 8 || threads < 1) {
    fprintf(stderr, "bench_train: --steps 1..%d, --batch >= 1, --size >= 8, --threads >= 1\n", MAX_STEPS);
    return 2;
  }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(threads, 1, &ctx)) return 1;
  char list[256];
  snprintf(list, sizeof list, "%s", models);
  int rc = 0;
  for (char *m = strtok(list, ","); m && !rc; m = strtok(NULL, ",")) rc = bench_model(ctx, m, size, batch, width, steps);
  sal_ctx_free(ctx);
  return rc;
}
