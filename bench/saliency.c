/* Saliency benchmark: time per image of each method of src/saliency on a built-in model (ResNet-50
 * at 224x224 by default), as bench/saliency_torch.py times the same algorithms written as PyTorch
 * loops (Captum-style for the gradient methods, TorchRay-style for RISE).
 *
 * Each repetition is one sal_explain_run on --images images (plan creation included: it is part
 * of what a user waits for); after --warm repetitions, --reps timed ones; the median per image is
 * printed with the batch size the memory budget chose, which the PyTorch side then uses:
 *   RESULT impl=salient method=smoothgrad ms=123.4
 *   INFO impl=salient method=smoothgrad batch=12 params="seed=0 max_memory=... samples=50 sigma=0.15"
 * Options: --model resnet50 --size 224 --methods a,b --images 1 --reps 3 --warm 1 --threads 2
 *   --samples N (smoothgrad) --steps N (IG) --rise-samples N --iterations N (meaningful_perturbation)
 *   --ep-iterations N (extremal_perturbation; these two are not in the default list) --max-memory BYTES.
 * bench/run_saliency.sh runs both sides alternately and prints one table. */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "salient/explain.h"
#include "salient/salient.h"
#include "saliency/saliency.h"

/* The batch the method's runner uses (mirrors the extra bytes each method declares). */
static int64_t method_batch(const sal_graph *g, const sal_method_params *p, int64_t n, int64_t C, int64_t H, int64_t W) {
  const int64_t per = C * H * W * 4, hw = H * W * 4;
  const char *m = p->method;
  if (!strcmp(m, "gradient") || !strcmp(m, "grad_input")) return sal__runner_batch(g, p->max_memory, true, per, n);
  if (!strcmp(m, "smoothgrad")) return sal__runner_batch(g, p->max_memory, true, 2 * per, n * p->samples);
  if (!strcmp(m, "integrated_gradients")) return sal__runner_batch(g, p->max_memory, true, 2 * per, n * (p->steps + 1));
  if (!strcmp(m, "gradcam")) return sal__runner_batch(g, p->max_memory, true, 0, n);
  if (!strcmp(m, "meaningful_perturbation"))
    return sal__runner_batch(g, p->max_memory, true, 2 * per + 2 * hw, n);
  if (!strcmp(m, "extremal_perturbation")) {
    /* the extra bytes src/saliency/extremal_perturbation.c declares, at its default geometry */
    int64_t s = p->mask_step > 0 ? p->mask_step : sal__scaled(7, H);
    double sg = p->mask_sigma > 0 ? p->mask_sigma : (double)sal__scaled(21, H);
    int64_t pad = 1 + (int64_t)ceil(2 * sg / (double)s), rad = 1 + (int64_t)ceil(sg / (double)s);
    int64_t hin = (H + s - 1) / s, win = (W + s - 1) / s;
    int64_t nout = (s * (hin + 2 * pad - 2 * rad) - s + 1) * (s * (win + 2 * pad - 2 * rad) - s + 1);
    int64_t u = p->variant == SAL_EP_DUAL ? 2 : 1;
    int64_t npad = (hin + 2 * pad) * (win + 2 * pad);
    return sal__runner_batch(g, p->max_memory, true, (2 + p->levels) * per + (6 * nout + 3 * hin * win + npad) * 4,
                             n * p->n_areas * u);
  }
  if (!strcmp(m, "rise")) return sal__runner_batch(g, p->max_memory, false, per + hw, n * p->samples);
  /* occlusion: 1 + windows per image */
  int64_t patch = p->patch > 0 ? p->patch : sal__scaled(16, H), stride = p->stride > 0 ? p->stride : sal__scaled(8, H);
  int64_t ny = (H - patch) / stride + 1 + ((H - patch) % stride != 0), nx = (W - patch) / stride + 1 + ((W - patch) % stride != 0);
  return sal__runner_batch(g, p->max_memory, false, per, n * (1 + ny * nx));
}

int main(int argc, char **argv) {
  const char *model = "resnet50", *methods = "gradient,grad_input,smoothgrad,integrated_gradients,gradcam,occlusion,rise";
  int64_t size = 224, images = 1, reps = 3, warm = 1, threads = 2, samples = 0, steps = 0, rise_samples = 0,
          iterations = 0, ep_iterations = 0;
  int64_t max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) {
      fprintf(stderr, "bench_saliency: option %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--model")) model = v;
    else if (!strcmp(a, "--methods")) methods = v;
    else if (!strcmp(a, "--size")) size = atoll(v);
    else if (!strcmp(a, "--images")) images = atoll(v);
    else if (!strcmp(a, "--reps")) reps = atoll(v);
    else if (!strcmp(a, "--warm")) warm = atoll(v);
    else if (!strcmp(a, "--threads")) threads = atoll(v);
    else if (!strcmp(a, "--samples")) samples = atoll(v);
    else if (!strcmp(a, "--steps")) steps = atoll(v);
    else if (!strcmp(a, "--rise-samples")) rise_samples = atoll(v);
    else if (!strcmp(a, "--iterations")) iterations = atoll(v);
    else if (!strcmp(a, "--ep-iterations")) ep_iterations = atoll(v);
    else if (!strcmp(a, "--max-memory")) max_memory = atoll(v);
    else {
      fprintf(stderr, "bench_saliency: unknown option %s\n", a);
      return 2;
    }
    i++;
  }
  if (size < 16 || images < 1 || reps < 1 || reps > 100 || warm < 0 || threads < 0) {
    fprintf(stderr, "bench_saliency: bad --size/--images/--reps/--warm/--threads\n");
    return 2;
  }
  sal_ctx *ctx = NULL;
  sal_graph *g = NULL;
  sal_tensor *x = NULL;
  int rc = 1;
  if (sal_ctx_new((int)threads, 1, &ctx)) return 1;
  sal_model_spec spec = sal_model_spec_default(model);
  spec.image_size = size;
  sal_status st = sal_model_build(ctx, &spec, &g);
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){images, 3, size, size}, &x);
  if (st) goto fail;
  sal_rng_normal(7, 1, 0, x->data, (size_t)sal_tensor_numel(x));
  char *list = strdup(methods), *save = NULL;
  for (char *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
    sal_method_params p;
    st = sal_method_params_default(ctx, m, &p);
    if (st) break;
    p.max_memory = max_memory;
    if (samples && !strcmp(m, "smoothgrad")) p.samples = samples;
    if (rise_samples && !strcmp(m, "rise")) p.samples = rise_samples;
    if (steps) p.steps = steps;
    if (iterations && !strcmp(m, "meaningful_perturbation")) p.iterations = iterations;
    if (ep_iterations && !strcmp(m, "extremal_perturbation")) p.iterations = ep_iterations;
    double t[100];
    for (int64_t r = 0; r < warm + reps && !st; r++) {
      sal_explanation e;
      double t0 = bench_now_ms();
      st = sal_explain_run(ctx, g, x, NULL, &p, &e);
      double dt = bench_now_ms() - t0;
      sal_explanation_clear(&e);
      if (r >= warm) t[r - warm] = dt / (double)images;
      fprintf(stderr, "  salient %s rep %lld: %.1f ms/image\n", m, (long long)r, dt / (double)images);
    }
    if (st) break;
    qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
    char pb[512];
    printf("RESULT impl=salient method=%s ms=%.3f\n", m, reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]));
    printf("INFO impl=salient method=%s batch=%lld size=%lld params=\"%s\"\n", m,
           (long long)method_batch(g, &p, images, 3, size, size), (long long)size, sal_method_params_str(&p, pb, sizeof pb));
    fflush(stdout);
  }
  free(list);
  if (st) goto fail;
  rc = 0;
fail:
  if (st) fprintf(stderr, "bench_saliency: %s: %s\n", sal_status_name(st), sal_ctx_last_error(ctx));
  sal_tensor_free(x);
  sal_graph_free(g);
  sal_ctx_free(ctx);
  return rc;
}
