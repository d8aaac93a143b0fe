/* `salient engine`: a quick check of an installation — runs the engine on a built-in model
 * (forward, and the gradient of the top-1 logit with respect to the input) and reports the kernels
 * it chose and how fast the passes ran. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

int cmd_engine(int argc, char **argv) {
  bool quiet = false;
  const char *arch = "resnet_small";
  int64_t size = 0, batch = 4, reps = 5, seed = 1;
  cli_opt opts[] = {
      {"--arch", CLI_STRING, "built-in architecture (resnet_small, simple_cnn, resnet18, resnet50, vgg16; default resnet_small)", &arch},
      {"--size", CLI_INT, "image side in pixels (default: 64 for resnet_small and simple_cnn, 224 otherwise)", &size},
      {"--batch", CLI_INT, "images per pass (default 4)", &batch},
      {"--reps", CLI_INT, "timed repetitions (default 5)", &reps},
      {"--seed", CLI_INT, "seed for weights and input (default 1)", &seed},
      {"--quiet", CLI_FLAG, "print only the summary line", &quiet},
  };
  int r = cli_parse(argc, argv, "salient engine [options]", opts, (int)(sizeof opts / sizeof opts[0]));
  if (r) return r == 1 ? 0 : 2;
  if (reps < 1 || reps > 1000) {
    fprintf(stderr, "salient engine: --reps must be in 1..1000\n");
    return 2;
  }
  sal_ctx *ctx = NULL;
  if (sal_ctx_new(0, (uint64_t)seed, &ctx)) return cli_fail(NULL, SAL_STATUS_OUT_OF_MEMORY, "engine");
  int rc = 1;
  sal_graph *g = NULL;
  sal_plan *p = NULL;
  sal_tensor *x = NULL, *seedt = NULL;
  sal_model_spec spec = sal_model_spec_default(arch);
  if (size > 0) spec.image_size = size;
  double t0 = now_ms();
  sal_status st = sal_model_build(ctx, &spec, &g);
  if (st) { rc = cli_fail(ctx, st, "building the model"); goto done; }
  double t_build = now_ms() - t0;
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = batch;
  o.grad_inputs = true;
  t0 = now_ms();
  st = sal_plan_new(ctx, g, &o, &p);
  if (st) { rc = cli_fail(ctx, st, "planning"); goto done; }
  double t_plan = now_ms() - t0;
  int64_t S = spec.image_size, C = spec.in_channels, K = spec.num_classes;
  st = sal_tensor_new(ctx, 4, (int64_t[]){batch, C, S, S}, &x);
  if (!st) st = sal_tensor_new(ctx, 2, (int64_t[]){batch, K}, &seedt);
  if (st) { rc = cli_fail(ctx, st, "allocating"); goto done; }
  sal_rng_normal((uint64_t)seed, 1, 0, x->data, (size_t)sal_tensor_numel(x));
  st = sal_plan_set_input(p, "input", x);
  const sal_tensor *logits = NULL, *grad = NULL;
  double best_f = 1e30, best_fb = 1e30;
  for (int64_t i = 0; !st && i < reps; i++) {
    t0 = now_ms();
    st = sal_plan_forward(p);
    double tf = now_ms() - t0;
    if (!st) st = sal_plan_value(p, "logits", &logits);
    if (st) break;
    /* seed: one-hot on each image's top-1 class */
    memset(seedt->data, 0, (size_t)sal_tensor_numel(seedt) * sizeof(float));
    for (int64_t b = 0; b < batch; b++) {
      int64_t top = 0;
      for (int64_t k = 1; k < K; k++)
        if (logits->data[b * K + k] > logits->data[b * K + top]) top = k;
      seedt->data[b * K + top] = 1.0f;
    }
    st = sal_plan_backward(p, "logits", seedt);
    double tfb = now_ms() - t0;
    if (tf < best_f) best_f = tf;
    if (tfb < best_fb) best_fb = tfb;
  }
  if (!st) st = sal_plan_grad(p, "input", &grad);
  if (st) { rc = cli_fail(ctx, st, "running"); goto done; }
  double gmax = 0, gsum = 0;
  for (int64_t i = 0; i < sal_tensor_numel(grad); i++) {
    gmax = fmax(gmax, fabs(grad->data[i]));
    gsum += fabs(grad->data[i]);
  }
  double gflop = 2e-9 * (double)sal_plan_forward_macs(p);
  if (!quiet) {
    printf("salient %s engine\n", sal_version());
    printf("  model     %s, %lld classes, input (%lld, %lld, %lld, %lld), %lld parameters\n", arch, (long long)K,
           (long long)batch, (long long)C, (long long)S, (long long)S, (long long)sal_graph_param_count(g, true));
    printf("  graph     %d nodes, built in %.1f ms; plan (kernels, layouts, memory) in %.1f ms\n",
           sal_graph_num_nodes(g), t_build, t_plan);
    int dnnl = 0, fused = 0;
    for (int i = 0; i < sal_graph_num_nodes(g); i++) {
      const char *kn = sal_plan_node_kernel(p, i);
      dnnl += strncmp(kn, "dnnl", 4) == 0;
      fused += strcmp(kn, "fused") == 0;
    }
    printf("  kernels   %d oneDNN, %d fused away, %d reference\n", dnnl, fused,
           sal_graph_num_nodes(g) - dnnl - fused);
    for (int64_t b = 0; b < batch && b < 4; b++) {
      int64_t top = 0;
      for (int64_t k = 1; k < K; k++)
        if (logits->data[b * K + k] > logits->data[b * K + top]) top = k;
      printf("  image %lld   top-1 class %lld (logit %.4f)\n", (long long)b, (long long)top, logits->data[b * K + top]);
    }
    printf("  gradient  d(top-1 logit)/d(input): max |g| %.3e, mean |g| %.3e\n", gmax,
           gsum / (double)sal_tensor_numel(grad));
  }
  printf("engine: %s batch %lld: forward %.2f ms (%.1f GFLOP/s), forward+backward to the input %.2f ms (best of %lld)\n",
         arch, (long long)batch, best_f, gflop / (best_f * 1e-3), best_fb, (long long)reps);
  rc = 0;
done:
  sal_tensor_free(x);
  sal_tensor_free(seedt);
  sal_plan_free(p);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
