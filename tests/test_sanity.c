/* Tests of the cascading randomisation sanity check (src/eval/sanity.c): stage names and counts on
 * simple_cnn and on a hand-built graph, stage 0 exactly 1, the caller's graph left as it was,
 * subsampled stages, reproducibility, the documented initialisation, the trained demo model's
 * gradient maps losing their similarity as layers are randomised (the paper's finding), bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/data.h"
#include "salient/eval.h"
#include "salient/synth.h"
#include "salient/train.h"

/* A random simple_cnn (width 4) of side x side images with 5 classes. */
static sal_graph *small_cnn(int64_t side) {
  sal_model_spec s = sal_model_spec_default("simple_cnn");
  s.num_classes = 5;
  s.image_size = side;
  s.width = 4;
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &s, &g));
  return g;
}

static sal_tensor *random_images(int64_t n, int64_t c, int64_t side, uint64_t seed) {
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){n, c, side, side}, &x));
  if (x) sal_rng_normal(seed, 3, 0, x->data, (size_t)sal_tensor_numel(x));
  return x;
}

/* Logits of g on x (a copy; caller frees), NULL on failure. */
static float *logits_of(sal_graph *g, const sal_tensor *x) {
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = x->shape.d[0];
  sal_plan *p = NULL;
  const sal_tensor *z = NULL;
  float *out = NULL;
  TH_OK(sal_plan_new(th_ctx(), g, &po, &p));
  if (p) TH_OK(sal_plan_set_input(p, "input", x));
  if (p) TH_OK(sal_plan_forward(p));
  if (p) TH_OK(sal_plan_value(p, "logits", &z));
  if (z) {
    out = malloc((size_t)sal_tensor_numel(z) * sizeof(float));
    if (out) memcpy(out, z->data, (size_t)sal_tensor_numel(z) * sizeof(float));
  }
  sal_plan_free(p);
  return out;
}

static void check_names(const sal_sanity_result *r, int n, const char *const *want, const int64_t *counts) {
  TH_CHECK(r->n_stages == n, "%lld stages, want %d", (long long)r->n_stages, n);
  for (int s = 0; s < n && s < r->n_stages; s++) {
    TH_CHECK(strcmp(r->stage_names[s], want[s]) == 0, "stage %d is '%s', want '%s'", s, r->stage_names[s], want[s]);
    TH_CHECK(r->n_randomized[s] == counts[s], "stage %d randomises %lld layers, want %lld", s,
             (long long)r->n_randomized[s], (long long)counts[s]);
  }
}

/* simple_cnn has 5 layers (4 conv + batch-norm blocks, fc): stages "none", then from the output
 * down. Stage 0 compares the trained map with itself: 1 exactly for all three measures. The
 * caller's graph gives bit-identical logits and parameters afterwards. */
static void test_simple_cnn(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = small_cnn(16);
  sal_tensor *x = random_images(3, 3, 16, 5);
  if (!g || !x) goto done;
  float *z0 = logits_of(g, x);
  const char *watch[3] = {"block1.conv.weight", "block2.bn.running_var", "fc.bias"};
  float *before[3] = {NULL, NULL, NULL};
  int64_t nw[3] = {0, 0, 0};
  for (int k = 0; k < 3; k++) {
    sal_tensor v;
    TH_OK(sal_graph_param(g, watch[k], &v));
    nw[k] = sal_tensor_numel(&v);
    before[k] = malloc((size_t)nw[k] * sizeof(float));
    if (before[k]) memcpy(before[k], v.data, (size_t)nw[k] * sizeof(float));
  }
  sal_method_params p = th_method_params("gradient");
  sal_sanity_opts o = sal_sanity_opts_default();
  o.keep_maps = true;
  sal_sanity_result r;
  TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r));
  const char *names[6] = {"none", "fc", "block4.conv", "block3.conv", "block2.conv", "block1.conv"};
  const int64_t counts[6] = {0, 1, 2, 3, 4, 5};
  check_names(&r, 6, names, counts);
  TH_CHECK(r.n_layers == 5 && r.n_images == 3, "5 layers (%lld), 3 images (%lld)", (long long)r.n_layers,
           (long long)r.n_images);
  for (int64_t i = 0; r.spearman && i < 3; i++)
    TH_CHECK(r.spearman[i] == 1.0 && r.spearman_abs[i] == 1.0 && r.ssim[i] == 1.0,
             "stage 0 image %lld: spearman %.17g, |spearman| %.17g, ssim %.17g (want 1 exactly)", (long long)i,
             r.spearman[i], r.spearman_abs[i], r.ssim[i]);
  if (r.mean_spearman)
    TH_CHECK(r.mean_spearman[0] == 1.0 && r.mean_spearman_abs[0] == 1.0 && r.mean_ssim[0] == 1.0, "stage 0 means 1");
  /* The targets are the trained model's top-1, and the kept maps are image 0's raw maps: stage
   * 0's equals a direct explanation's. */
  sal_explanation e;
  TH_OK(sal_explain_run(ctx, g, x, NULL, &p, &e));
  if (e.raw && r.maps) {
    TH_CHECK(r.maps->shape.ndim == 4 && r.maps->shape.d[0] == 6 && r.maps->shape.d[2] == 16, "maps (6, 1, 16, 16)");
    TH_CHECK(memcmp(r.maps->data, e.raw->data, 16 * 16 * sizeof(float)) == 0, "stage 0 map = the direct map");
    TH_CHECK(memcmp(r.targets, e.targets, 3 * sizeof(int64_t)) == 0, "targets = top-1 of the trained model");
    bool differ = false;
    for (int64_t q = 0; q < 16 * 16; q++) differ = differ || r.maps->data[5 * 256 + q] != e.raw->data[q];
    TH_CHECK(differ, "the last stage's map differs from the trained one");
  }
  sal_explanation_clear(&e);
  float *z1 = logits_of(g, x);
  if (z0 && z1) TH_CHECK(memcmp(z0, z1, 3 * 5 * sizeof(float)) == 0, "the caller's graph gives the same logits");
  for (int k = 0; k < 3; k++) {
    sal_tensor v;
    TH_OK(sal_graph_param(g, watch[k], &v));
    if (before[k]) TH_CHECK(memcmp(before[k], v.data, (size_t)nw[k] * sizeof(float)) == 0, "%s unchanged", watch[k]);
    free(before[k]);
  }
  free(z0);
  free(z1);

  /* Reproducible: the same seed gives the same numbers and maps; another seed other maps. */
  sal_sanity_result r2, r3;
  TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r2));
  if (r.ssim && r2.ssim) {
    TH_CHECK(memcmp(r.spearman, r2.spearman, 18 * sizeof(double)) == 0 &&
                 memcmp(r.ssim, r2.ssim, 18 * sizeof(double)) == 0 &&
                 memcmp(r.maps->data, r2.maps->data, 6 * 256 * sizeof(float)) == 0,
             "a fixed-seed run is reproducible");
  }
  o.seed = 7;
  TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r3));
  if (r.maps && r3.maps)
    TH_CHECK(memcmp(r.maps->data + 5 * 256, r3.maps->data + 5 * 256, 256 * sizeof(float)) != 0,
             "another seed randomises differently");
  sal_sanity_result_clear(&r2);
  sal_sanity_result_clear(&r3);

  /* grad_input's maps are signed: the rank correlations with and without absolute values differ
   * once layers are randomised (and are both 1 at stage 0). */
  sal_method_params pg = th_method_params("grad_input");
  sal_sanity_result_clear(&r);
  TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &pg, &o, &r));
  if (r.n_stages == 6) {
    TH_CHECK(r.mean_spearman[0] == 1.0 && r.mean_spearman_abs[0] == 1.0, "grad_input stage 0");
    bool differ = false;
    for (int64_t i = 3; i < 18; i++) differ = differ || r.spearman[i] != r.spearman_abs[i];
    TH_CHECK(differ, "grad_input: spearman and |spearman| differ at randomised stages");
  }

  /* max_stages 2 of 5 layers: the top round(5/2) = 3, then all 5; more stages than layers = one per layer. */
  o.max_stages = 2;
  o.keep_maps = false;
  sal_sanity_result_clear(&r);
  TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r));
  const char *names2[3] = {"none", "block3.conv", "block1.conv"};
  const int64_t counts2[3] = {0, 3, 5};
  check_names(&r, 3, names2, counts2);
  TH_CHECK(r.maps == NULL, "no maps unless asked");
  sal_sanity_result_clear(&r);
  o.max_stages = 9;
  /* explicit targets are kept at every stage */
  const int64_t tg[3] = {4, 0, 2};
  TH_OK(sal_sanity_cascade(ctx, g, x, tg, &p, &o, &r));
  TH_CHECK(r.n_stages == 6, "max_stages beyond the layer count: %lld stages", (long long)r.n_stages);
  if (r.targets) TH_CHECK(memcmp(r.targets, tg, sizeof tg) == 0, "the caller's targets are explained");
  sal_sanity_result_clear(&r);
done:
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* A node named after its one output. */
static void node(sal_graph *g, const char *op, const char *const *in, int n_in, const char *out, const sal_attr *attrs,
                 int n_attrs) {
  TH_OK(sal_graph_add_node(g, op, out, in, n_in, &out, 1, attrs, n_attrs));
}

/* Grouping on a hand-built graph: Conv (with bias) → BatchNormalization is one layer "c1",
 * MatMul → Add of a parameter (an exported Linear) is "mm", Gemm is "fc"; a batch-norm of the
 * graph input itself is a layer of its own ("bn0"). */
static void test_grouping(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return;
  float w1[4 * 1 * 3 * 3];
  float w2[4 * 12 * 12 * 6], wf[3 * 6];
  sal_rng_normal(1, 1, 0, w1, 36);
  sal_rng_normal(1, 2, 0, w2, 4 * 144 * 6);
  sal_rng_normal(1, 3, 0, wf, 18);
  for (int i = 0; i < 4 * 144 * 6; i++) w2[i] *= 0.05f;
  const float ones[4] = {1, 1, 1, 1}, zeros[6] = {0};
  TH_OK(sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 1, 12, 12}));
  TH_OK(sal_graph_add_param(g, "bn0.weight", 1, (int64_t[]){1}, ones, true));
  TH_OK(sal_graph_add_param(g, "bn0.bias", 1, (int64_t[]){1}, zeros, true));
  TH_OK(sal_graph_add_param(g, "bn0.mean", 1, (int64_t[]){1}, zeros, false));
  TH_OK(sal_graph_add_param(g, "bn0.var", 1, (int64_t[]){1}, ones, false));
  TH_OK(sal_graph_add_param(g, "c1.weight", 4, (int64_t[]){4, 1, 3, 3}, w1, true));
  TH_OK(sal_graph_add_param(g, "c1.bias", 1, (int64_t[]){4}, zeros, true));
  TH_OK(sal_graph_add_param(g, "bn.weight", 1, (int64_t[]){4}, ones, true));
  TH_OK(sal_graph_add_param(g, "bn.bias", 1, (int64_t[]){4}, zeros, true));
  TH_OK(sal_graph_add_param(g, "bn.mean", 1, (int64_t[]){4}, zeros, false));
  TH_OK(sal_graph_add_param(g, "bn.var", 1, (int64_t[]){4}, ones, false));
  TH_OK(sal_graph_add_param(g, "mm.weight", 2, (int64_t[]){4 * 144, 6}, w2, true));
  TH_OK(sal_graph_add_param(g, "mm.bias", 1, (int64_t[]){6}, zeros, true));
  TH_OK(sal_graph_add_param(g, "fc.weight", 2, (int64_t[]){3, 6}, wf, true));
  TH_OK(sal_graph_add_param(g, "fc.bias", 1, (int64_t[]){3}, zeros, true));
  const int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
  const sal_attr conv_attrs[] = {sal_attr_ints("kernel_shape", 2, ks), sal_attr_ints("pads", 4, pads)};
  const sal_attr flat[] = {sal_attr_int("axis", 1)}, gemm[] = {sal_attr_int("transB", 1)};
  const char *bn0[5] = {"input", "bn0.weight", "bn0.bias", "bn0.mean", "bn0.var"};
  node(g, "BatchNormalization", bn0, 5, "x0", NULL, 0);
  node(g, "Conv", (const char *[]){"x0", "c1.weight", "c1.bias"}, 3, "c1", conv_attrs, 2);
  node(g, "BatchNormalization", (const char *[]){"c1", "bn.weight", "bn.bias", "bn.mean", "bn.var"}, 5, "bn", NULL, 0);
  node(g, "Relu", (const char *[]){"bn"}, 1, "relu", NULL, 0);
  node(g, "Flatten", (const char *[]){"relu"}, 1, "flat", flat, 1);
  node(g, "MatMul", (const char *[]){"flat", "mm.weight"}, 2, "mm", NULL, 0);
  node(g, "Add", (const char *[]){"mm.bias", "mm"}, 2, "mmb", NULL, 0);
  node(g, "Relu", (const char *[]){"mmb"}, 1, "r2", NULL, 0);
  node(g, "Gemm", (const char *[]){"r2", "fc.weight", "fc.bias"}, 3, "logits", gemm, 1);
  TH_OK(sal_graph_add_output(g, "logits"));
  sal_tensor *x = random_images(2, 1, 12, 9);
  sal_method_params p = th_method_params("gradient");
  sal_sanity_opts o = sal_sanity_opts_default();
  sal_sanity_result r;
  if (x) {
    TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r));
    const char *names[5] = {"none", "fc", "mm", "c1", "bn0"};
    const int64_t counts[5] = {0, 1, 2, 3, 4};
    check_names(&r, 5, names, counts);
    sal_sanity_result_clear(&r);
  }
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* The documented initialisation, read through gradient maps (raw maps of image 0, target class 0):
 * for logits linear in the input, the map is |∂z_0/∂x| = |row 0 of the layer's weight|. */
static void test_init(void) {
  sal_ctx *ctx = th_ctx();
  sal_method_params p = th_method_params("gradient");
  sal_sanity_opts o = sal_sanity_opts_default();
  o.keep_maps = true;
  o.seed = 11;
  const int64_t tg[1] = {0};
  sal_tensor *x = random_images(1, 1, 12, 4);
  sal_sanity_result r;
  /* Conv (2 filters of 12 x 12): Kaiming-normal with fan_out = 2 · 144, so w' ~ N(0, 1/144) and
   * the mean of map² over 144 values estimates 1/144 with relative sd √(2/144) = 0.12: within
   * ±50 % (4 sd); a wrong fan (fan_in = 144 gives twice the variance) falls outside. */
  float w[2 * 144];
  sal_rng_normal(3, 3, 0, w, 2 * 144);
  sal_graph *g = th_linear_image_model(12, 2, w);
  if (g && x) {
    TH_OK(sal_sanity_cascade(ctx, g, x, tg, &p, &o, &r));
    if (r.maps && r.n_stages == 2) {
      double m2 = 0, diff0 = 0;
      for (int q = 0; q < 144; q++) {
        m2 += (double)r.maps->data[144 + q] * r.maps->data[144 + q] / 144.0;
        diff0 = fmax(diff0, fabs(r.maps->data[q] - fabsf(w[q])));
      }
      printf("  conv init: mean square · 144 = %.4f (want 1)\n", m2 * 144.0);
      TH_CHECK(diff0 == 0, "stage 0 map is |w_0|: max difference %g", diff0);
      TH_CHECK(fabs(m2 * 144.0 - 1.0) < 0.5, "conv weights N(0, 1/144): mean square · 144 = %.4f", m2 * 144.0);
    } else {
      TH_CHECK(0, "conv model: 2 stages and maps");
    }
    sal_sanity_result_clear(&r);
  }
  sal_graph_free(g);

  /* Gemm (transB, 3 × 144): U(-1/12, 1/12), so |w'| <= 1/12 with mean 1/24 (relative sd of the
   * mean over 144 values 0.048: within ±20 %). */
  g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  float wf[3 * 144];
  sal_rng_normal(3, 4, 0, wf, 3 * 144);
  const float zeros[3] = {0, 0, 0};
  const sal_attr flat[] = {sal_attr_int("axis", 1)}, gemm[] = {sal_attr_int("transB", 1)};
  if (g) {
    TH_OK(sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 1, 12, 12}));
    TH_OK(sal_graph_add_param(g, "fc.weight", 2, (int64_t[]){3, 144}, wf, true));
    TH_OK(sal_graph_add_param(g, "fc.bias", 1, (int64_t[]){3}, zeros, true));
    node(g, "Flatten", (const char *[]){"input"}, 1, "flat", flat, 1);
    node(g, "Gemm", (const char *[]){"flat", "fc.weight", "fc.bias"}, 3, "logits", gemm, 1);
    TH_OK(sal_graph_add_output(g, "logits"));
    TH_OK(sal_sanity_cascade(ctx, g, x, tg, &p, &o, &r));
    if (r.maps && r.n_stages == 2) {
      double mean = 0, mx = 0;
      for (int q = 0; q < 144; q++) mean += r.maps->data[144 + q] / 144.0, mx = fmax(mx, r.maps->data[144 + q]);
      printf("  Gemm init: max · 12 = %.4f (<= 1), mean · 24 = %.4f (want 1)\n", mx * 12.0, mean * 24.0);
      TH_CHECK(mx <= 1.0 / 12.0 && fabs(mean * 24.0 - 1.0) < 0.2,
               "Gemm weights U(-1/12, 1/12): max %.4f, mean · 24 = %.4f", mx, mean * 24.0);
      TH_CHECK(strcmp(r.stage_names[1], "fc") == 0, "Gemm layer named '%s'", r.stage_names[1]);
    } else {
      TH_CHECK(0, "Gemm model: 2 stages and maps");
    }
    sal_sanity_result_clear(&r);
  }
  sal_graph_free(g);

  /* BatchNormalization of the input (scale 3, shift 2, mean 1, variance 4) → Conv: at stage 1 the
   * conv is random and the map is |w'| · 3 / √(4 + ε); at stage 2 the batch-norm is reset too
   * (scale 1, variance 1) and the map is |w'| / √(1 + ε), with the same w' (draws keyed by name):
   * the ratio is 3 √(1 + ε) / √(4 + ε) at every pixel (ε = 1e-5; float rounding: 1e-5 relative). */
  g = th_linear_image_model(12, 2, w);
  if (g) {
    const float three = 3, two = 2, one = 1, four = 4;
    TH_OK(sal_graph_add_param(g, "bn0.weight", 1, (int64_t[]){1}, &three, true));
    TH_OK(sal_graph_add_param(g, "bn0.bias", 1, (int64_t[]){1}, &two, true));
    TH_OK(sal_graph_add_param(g, "bn0.mean", 1, (int64_t[]){1}, &one, false));
    TH_OK(sal_graph_add_param(g, "bn0.var", 1, (int64_t[]){1}, &four, false));
    const char *bn0[4] = {"bn0.weight", "bn0.bias", "bn0.mean", "bn0.var"};
    TH_OK(sal_graph_insert_after(g, "input", "BatchNormalization", "bn0", bn0, 4, "x0", NULL, 0));
    TH_OK(sal_sanity_cascade(ctx, g, x, tg, &p, &o, &r));
    if (r.maps && r.n_stages == 3) {
      const double want = 3.0 * sqrt(1.0 + 1e-5) / sqrt(4.0 + 1e-5);
      double worst = 0;
      for (int q = 0; q < 144; q++)
        if (r.maps->data[288 + q] > 0)
          worst = fmax(worst, fabs(r.maps->data[144 + q] / r.maps->data[288 + q] / want - 1.0));
      printf("  batch-norm reset: ratio off by %.3g\n", worst);
      TH_CHECK(worst < 1e-5, "batch-norm reset: ratio off by %.3g (relative)", worst);
    } else {
      TH_CHECK(0, "batch-norm model: 3 stages (got %lld) and maps", (long long)r.n_stages);
    }
    sal_sanity_result_clear(&r);
  }
  sal_graph_free(g);
  sal_tensor_free(x);
}

/* The shipped demo model (simple_cnn trained on shapes, 98.3 % test accuracy) on the first test
 * images: gradient maps of the trained model are compared with those of ever more randomised
 * copies. Adebayo et al. (Fig. 2 and 4) find the gradient's similarity falls as the cascade
 * proceeds; here the top layer alone (fc) already changes the maps, and with every layer
 * randomised the rank correlation is far below the first stage's. */
static void test_demo_model(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  char *json = NULL;
  sal_checkpoint_info info;
  memset(&info, 0, sizeof info);
  TH_OK(sal_checkpoint_open(ctx, "tests/fixtures/demo/shapes.safetensors", &g, &json));
  if (json) TH_OK(sal_checkpoint_info_parse(ctx, json, &info));
  sal_free(json);
  if (!g) return;
  const int64_t N = th_quick() ? 2 : 4, S = info.pp.crop_w ? info.pp.crop_w : 64;
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){N, 3, S, S}, &x));
  sal_synth_params sp = sal_synth_params_default(SAL_SYNTH_SHAPES);
  info.pp.channels = 3;
  for (int64_t i = 0; x && i < N; i++) {
    sal_synth_sample smp;
    memset(&smp, 0, sizeof smp);
    TH_OK(sal_synth_render(ctx, &sp, SAL_SYNTH_TEST, i, &smp));
    const int64_t per = 3 * S * S;
    if (smp.image) TH_OK(sal_preprocess_image(ctx, &info.pp, smp.image, NULL, x->data + i * per, per, NULL));
    sal_synth_sample_free(&smp);
  }
  sal_method_params p = th_method_params("gradient");
  sal_sanity_opts o = sal_sanity_opts_default();
  sal_sanity_result r;
  memset(&r, 0, sizeof r);
  if (x) TH_OK(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r));
  for (int64_t s = 0; s < r.n_stages; s++)
    printf("  stage %lld %-12s spearman %.4f  |spearman| %.4f  ssim %.4f\n", (long long)s, r.stage_names[s],
           r.mean_spearman[s], r.mean_spearman_abs[s], r.mean_ssim[s]);
  if (r.n_stages == 6) {
    const int64_t L = 5;
    TH_CHECK(r.mean_spearman[1] < 1.0 && r.mean_ssim[1] < 1.0, "randomising fc changes the maps");
    TH_CHECK(r.mean_spearman[L] < r.mean_spearman[1] - 0.2, "spearman falls: %.4f at stage 1, %.4f with all layers",
             r.mean_spearman[1], r.mean_spearman[L]);
    TH_CHECK(r.mean_ssim[L] < r.mean_ssim[1], "ssim falls: %.4f at stage 1, %.4f with all layers", r.mean_ssim[1],
             r.mean_ssim[L]);
  } else {
    TH_CHECK(0, "the demo model has 6 stages, got %lld", (long long)r.n_stages);
  }
  sal_sanity_result_clear(&r);
  sal_checkpoint_info_free(&info);
  sal_tensor_free(x);
  sal_graph_free(g);
}

static void test_bad_input(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = small_cnn(16);
  sal_tensor *x = random_images(2, 3, 16, 1), *wrong = random_images(2, 3, 20, 1);
  sal_method_params p = th_method_params("gradient");
  sal_sanity_opts o = sal_sanity_opts_default();
  sal_sanity_result r;
  if (g && x && wrong) {
    sal_method_params bad = p;
    bad.method = "nope";
    TH_FAILS(sal_sanity_cascade(ctx, g, x, NULL, &bad, &o, &r), SAL_STATUS_NOT_FOUND, "nope");
    TH_CHECK(r.n_stages == 0 && r.stage_names == NULL, "a failed call leaves a cleared result");
    o.max_stages = -1;
    TH_FAILS(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r), SAL_STATUS_BAD_INPUT, "max_stages is -1");
    o.max_stages = 0;
    TH_FAILS(sal_sanity_cascade(ctx, g, wrong, NULL, &p, &o, &r), SAL_STATUS_BAD_INPUT, "do not fit the model's input");
    TH_FAILS(sal_sanity_cascade(ctx, g, x, NULL, &p, NULL, &r), SAL_STATUS_BAD_INPUT, "no model, images");
    const int64_t tg[2] = {0, 9};
    TH_FAILS(sal_sanity_cascade(ctx, g, x, tg, &p, &o, &r), SAL_STATUS_BAD_INPUT, "sanity: explain: target 9");
  }
  sal_graph_free(g);
  /* maps smaller than SSIM's window: a linear model of 8 x 8 images */
  float w[3 * 64];
  sal_rng_normal(2, 2, 0, w, 3 * 64);
  g = th_linear_image_model(8, 3, w);
  sal_tensor *tiny = random_images(1, 1, 8, 1);
  if (g && tiny) TH_FAILS(sal_sanity_cascade(ctx, g, tiny, NULL, &p, &o, &r), SAL_STATUS_BAD_INPUT, "at least 11 x 11");
  sal_graph_free(g);
  /* a model without parameters: input → Flatten → logits */
  g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (g) {
    const sal_attr flat[] = {sal_attr_int("axis", 1)};
    TH_OK(sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 3, 16, 16}));
    TH_OK(sal_graph_add_node(g, "Flatten", "f", (const char *[]){"input"}, 1, (const char *[]){"logits"}, 1, flat, 1));
    TH_OK(sal_graph_add_output(g, "logits"));
    TH_FAILS(sal_sanity_cascade(ctx, g, x, NULL, &p, &o, &r), SAL_STATUS_BAD_INPUT, "no parameterised layers");
  }
  sal_graph_free(g);
  sal_tensor_free(tiny);
  sal_tensor_free(x);
  sal_tensor_free(wrong);
}

int main(void) {
  test_simple_cnn();
  test_grouping();
  test_init();
  test_demo_model();
  test_bad_input();
  return th_finish("test_sanity");
}
