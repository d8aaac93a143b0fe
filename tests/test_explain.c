/* Tests of the saliency interface and methods (src/saliency): agreement with PyTorch autograd
 * references (tools/make_saliency_refs.py), IG completeness, determinism, batch invariance,
 * memory-budget chunking, occlusion/RISE on a model whose evidence is known, bad input, rendering. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "salient/explain.h"
#include "saliency/saliency.h"

#define FIX "tests/fixtures/saliency/"

static sal_tensor *load(const char *name) { return th_npy(FIX, name); }

static sal_method_params params(const char *method) { return th_method_params(method); }

/* Runs a method; the explanation is left in *e (cleared by the caller). */
static sal_status run(sal_graph *g, const sal_tensor *x, const int64_t *t, const sal_method_params *p,
                      sal_explanation *e) {
  return sal_explain_run(th_ctx(), g, x, t, p, e);
}

/* A (n, C, H, W) view of images [first, first + n) of x. */
static sal_tensor view(const sal_tensor *x, int64_t first, int64_t n) {
  sal_tensor v = *x;
  int64_t per = sal_tensor_numel(x) / x->shape.d[0];
  v.shape.d[0] = n;
  v.data = x->data + first * per;
  v.owns_data = false;
  return v;
}

static char layer_name[128];

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- agreement with PyTorch ---- */
static void test_reference(sal_graph *g, sal_tensor *x, const int64_t *tg) {
  /* Tolerance 1e-4 of the map's maximum: the acceptance bound. The references are float64
   * on float32 weights; salient computes in float32 (oneDNN kernels), measured errors ~1e-6. */
  const double tol = 1e-4;
  struct {
    const char *method, *file;
  } cases[] = {{"gradient", "gradient.npy"},
               {"grad_input", "grad_input.npy"},
               {"integrated_gradients", "integrated_gradients.npy"},
               {"smoothgrad", "smoothgrad.npy"},
               {"gradcam", "gradcam.npy"}};
  sal_tensor *noise = load("noise.npy");
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    sal_method_params p = params(cases[c].method);
    p.steps = 16;
    p.samples = 8;
    p.noise = noise;
    p.layer = strcmp(cases[c].method, "gradcam") == 0 ? layer_name : NULL;
    sal_explanation e;
    sal_tensor *want = load(cases[c].file);
    TH_OK(run(g, x, tg, &p, &e));
    if (e.raw && want) th_check_scaled(cases[c].method, e.raw->data, &e.raw->shape, want, tol);
    sal_explanation_clear(&e);
    sal_tensor_free(want);
  }
  /* Grad-CAM's automatic layer is the same Tanh (the last 4-D activation before pooling). */
  sal_method_params p = params("gradcam");
  sal_explanation e;
  sal_tensor *want = load("gradcam.npy");
  TH_OK(run(g, x, tg, &p, &e));
  if (e.raw && want) th_check_scaled("gradcam (layer auto)", e.raw->data, &e.raw->shape, want, tol);
  sal_explanation_clear(&e);
  sal_tensor_free(want);
  sal_tensor_free(noise);
}

/* ---- IG completeness, targets and scores ---- */
static void test_completeness(sal_graph *g, sal_tensor *x, const int64_t *tg) {
  sal_tensor *delta = load("ig_delta.npy"), *logits = load("logits.npy");
  if (!delta || !logits) return;
  sal_method_params p = params("integrated_gradients"); /* the default m = 50 */
  sal_explanation e;
  TH_OK(run(g, x, tg, &p, &e));
  for (int64_t i = 0; e.raw && i < x->shape.d[0]; i++) {
    double s = 0;
    for (int64_t q = 0; q < 256; q++) s += e.raw->data[i * 256 + q];
    double want = delta->data[i], rel = fabs(s - want) / fabs(want);
    printf("  IG completeness image %lld: sum %.6f, z(x) - z(0) %.6f, rel %.2e\n", (long long)i, s, want, rel);
    TH_CHECK(rel < 0.01, "IG completeness image %lld: sum %g vs %g", (long long)i, s, want);
    /* scores are z_c of the image */
    TH_CHECK(fabs(e.scores[i] - logits->data[i * 5 + tg[i]]) < 1e-4, "score %lld: %g vs %g", (long long)i,
             (double)e.scores[i], (double)logits->data[i * 5 + tg[i]]);
  }
  sal_explanation_clear(&e);
  /* top1 for every method: the argmax of the reference logits */
  for (int m = 0; m < sal_method_count(); m++) {
    /* masker needs a trained masking model: tests/test_masker.c */
    if (strcmp(sal_method_name(m), "masker") == 0) continue;
    p = params(sal_method_name(m));
    p.samples = 4;
    p.steps = 4;
    p.iterations = 3;
    p.fusion_iterations = 3;
    TH_OK(run(g, x, NULL, &p, &e));
    for (int64_t i = 0; e.targets && i < x->shape.d[0]; i++) {
      int64_t best = 0;
      for (int64_t k = 1; k < 5; k++)
        if (logits->data[i * 5 + k] > logits->data[i * 5 + best]) best = k;
      TH_CHECK(e.targets[i] == best, "%s top1 of image %lld: %lld, want %lld", sal_method_name(m), (long long)i,
               (long long)e.targets[i], (long long)best);
      TH_CHECK(fabs(e.scores[i] - logits->data[i * 5 + best]) < 1e-4, "%s score of image %lld", sal_method_name(m),
               (long long)i);
    }
    sal_explanation_clear(&e);
  }
  sal_tensor_free(delta);
  sal_tensor_free(logits);
}

/* ---- determinism, batch invariance, memory chunking ---- */
static void test_determinism(sal_graph *g, sal_tensor *x, const int64_t *tg) {
  const int64_t N = x->shape.d[0], HW = 256;
  for (int m = 0; m < sal_method_count(); m++) {
    const char *name = sal_method_name(m);
    if (strcmp(name, "masker") == 0) continue; /* needs a trained masking model: tests/test_masker.c */
    sal_method_params p = params(name);
    /* under the sanitisers (th_quick) fewer masks: the tiny-budget run makes one pass per item */
    p.samples = strcmp(name, "rise") == 0 ? (th_quick() ? 12 : 64) : 6;
    p.steps = 6;
    p.grid = 4;
    p.patch = 4; /* 4 x 4 windows at stride 4: 16 occluded copies per image */
    p.stride = 4;
    p.iterations = 5;
    p.fusion_iterations = 5; /* dm, hdm: one benchmark grid, two levels */
    p.levels = 2;
    p.grids[0] = 2;
    p.grids[1] = 0;
    p.seed = 7;
    sal_explanation a, b, c, one;
    TH_OK(run(g, x, tg, &p, &a));
    TH_OK(run(g, x, tg, &p, &b));
    if (!a.raw || !b.raw) {
      sal_explanation_clear(&a);
      sal_explanation_clear(&b);
      continue;
    }
    TH_CHECK(memcmp(a.raw->data, b.raw->data, (size_t)(N * HW) * sizeof(float)) == 0, "%s: same seed, different maps",
             name);
    /* a different seed changes the random methods' maps */
    if (strcmp(name, "smoothgrad") == 0 || strcmp(name, "rise") == 0) {
      p.seed = 8;
      TH_OK(run(g, x, tg, &p, &c));
      TH_CHECK(c.raw && memcmp(a.raw->data, c.raw->data, (size_t)(N * HW) * sizeof(float)) != 0,
               "%s: seeds 7 and 8 give the same map", name);
      sal_explanation_clear(&c);
      p.seed = 7;
    }
    /* batch invariance: one image at a time gives the maps of the whole batch. Plans of different
     * batch sizes may pick different oneDNN blockings, so allow float32 rounding (1e-5 of max). */
    for (int64_t i = th_quick() ? 1 : 0; i < (th_quick() ? 2 : N); i++) { /* quick: the middle image only */
      sal_tensor v = view(x, i, 1);
      TH_OK(run(g, &v, tg + i, &p, &one));
      if (!one.raw) continue;
      char label[96];
      snprintf(label, sizeof label, "%s batch invariance image %lld", name, (long long)i);
      float mx = 0;
      for (int64_t q = 0; q < HW; q++) mx = fmaxf(mx, fabsf(a.raw->data[i * HW + q]));
      th_allclose(label, one.raw->data, a.raw->data + i * HW, HW, 0, 1e-5 * mx + 1e-12);
      sal_explanation_clear(&one);
    }
    /* a tiny budget runs one item per pass and gives the same maps */
    p.max_memory = 1;
    TH_OK(run(g, x, tg, &p, &c));
    if (c.raw) {
      char label[96];
      snprintf(label, sizeof label, "%s max_memory=1", name);
      float mx = 0;
      for (int64_t q = 0; q < N * HW; q++) mx = fmaxf(mx, fabsf(a.raw->data[q]));
      th_allclose(label, c.raw->data, a.raw->data, N * HW, 0, 1e-5 * mx + 1e-12);
    }
    sal_explanation_clear(&a);
    sal_explanation_clear(&b);
    sal_explanation_clear(&c);
  }
}

/* ---- a model whose evidence is known ---- */
/* input (N, 1, 16, 16) -> Conv 16x16 (2 filters, no padding) -> Flatten -> logits (N, 2):
 * logit 0 = mean of the region rows 4..7, cols 8..11 of the image; logit 1 = 0. */
static sal_graph *region_model(void) {
  float w[2 * 256] = {0};
  for (int y = 4; y < 8; y++)
    for (int x = 8; x < 12; x++) w[y * 16 + x] = 1.0f / 16.0f;
  return th_linear_image_model(16, 2, w);
}

static bool in_region(int64_t q) {
  int64_t y = q / 16, x = q % 16;
  return y >= 4 && y < 8 && x >= 8 && x < 12;
}

static void test_known_evidence(void) {
  sal_graph *g = region_model();
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){2, 1, 16, 16}, &x));
  if (!g || !x) goto done;
  for (int64_t q = 0; q < 512; q++) x->data[q] = 3.0f;
  const int64_t tg[2] = {0, 0};
  const char *methods[] = {"gradient", "occlusion", "rise", "integrated_gradients", "grad_input",
                           "meaningful_perturbation"};
  for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
    sal_method_params p = params(methods[m]);
    p.samples = 400;
    p.grid = 4;
    p.patch = 3;
    p.stride = 1;
    p.mask_size = 8; /* cells of 2 x 2 pixels: the region is cells (2..3, 4..5) */
    p.iterations = 60;
    p.jitter = 0;
    p.baseline = SAL_BASELINE_ZERO; /* the blur of a constant image would delete nothing */
    sal_explanation e;
    TH_OK(run(g, x, tg, &p, &e));
    if (!e.raw) continue;
    for (int64_t i = 0; i < 2; i++) {
      const float *map = e.raw->data + i * 256;
      double in = 0, out = 0;
      int64_t arg = 0;
      float in_max = -INFINITY;
      for (int64_t q = 0; q < 256; q++) {
        if (map[q] > map[arg]) arg = q;
        if (in_region(q)) in += map[q] / 16.0, in_max = fmaxf(in_max, map[q]);
        else out += map[q] / 240.0;
      }
      /* the peak is inside the region (ties with pixels outside allowed: a saturated mask) */
      TH_CHECK(in_max >= map[arg], "%s: the map peaks at (%lld, %lld), outside the evidence region", methods[m],
               (long long)(arg / 16), (long long)(arg % 16));
      TH_CHECK(in > out + 1e-3, "%s: mean inside %g, outside %g", methods[m], in, out);
      if (strcmp(methods[m], "gradient") == 0)
        for (int64_t q = 0; q < 256; q++) /* hand-computed: dz_0/dx = 1/16 inside the region, 0 outside */
          TH_CHECK(fabsf(map[q] - (in_region(q) ? 1.0f / 16 : 0.0f)) < 1e-7, "gradient at %lld: %g", (long long)q,
                   (double)map[q]);
      if (strcmp(methods[m], "grad_input") == 0) {
        /* completeness of a linear model: Σ x·∂z/∂x = z = 3 */
        double s = 0;
        for (int64_t q = 0; q < 256; q++) s += map[q];
        TH_CHECK(fabs(s - 3.0) < 1e-5, "grad_input sum %g, want 3", s);
      }
      if (strcmp(methods[m], "meaningful_perturbation") == 0) /* the evidence is deleted completely */
        TH_CHECK(in_max > 0.99f && in > 0.9, "meaningful_perturbation: max %g, mean %g inside", (double)in_max, in);
    }
    sal_explanation_clear(&e);
  }
done:
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* ---- bad input ---- */
static void test_bad_input(sal_graph *g, sal_tensor *x, const int64_t *tg) {
  sal_ctx *ctx = th_ctx();
  sal_method_params p;
  TH_FAILS(sal_method_params_default(ctx, "gradcamm", &p), SAL_STATUS_NOT_FOUND, "gradient, grad_input, smoothgrad");
  p = params("gradcam");
  p.layer = "nope";
  sal_explanation e;
  const char *valid = layer_name; /* the message lists the valid layers */
  TH_FAILS(run(g, x, tg, &p, &e), SAL_STATUS_NOT_FOUND, valid);
  TH_CHECK(e.raw == NULL, "no maps after an error");
  p.layer = "logits"; /* exists, but is 2-D */
  TH_FAILS(run(g, x, tg, &p, &e), SAL_STATUS_NOT_FOUND, "not a 4-D activation");
  p = params("gradient");
  int64_t bad[3] = {0, 5, 1};
  TH_FAILS(run(g, x, bad, &p, &e), SAL_STATUS_BAD_INPUT, "target 5 of image 1 is out of range");
  bad[1] = -2;
  TH_FAILS(run(g, x, bad, &p, &e), SAL_STATUS_BAD_INPUT, "out of range");
  /* targets */
  const char *names[5] = {"cat", "dog", "fox", "owl", "eel"};
  int64_t t = 0;
  TH_OK(sal_target_parse(ctx, "top1", names, 5, &t));
  TH_CHECK(t == SAL_TARGET_TOP1, "top1 parsed as %lld", (long long)t);
  TH_OK(sal_target_parse(ctx, "fox", names, 5, &t));
  TH_CHECK(t == 2, "fox parsed as %lld", (long long)t);
  TH_OK(sal_target_parse(ctx, "4", names, 5, &t));
  TH_CHECK(t == 4, "4 parsed as %lld", (long long)t);
  TH_FAILS(sal_target_parse(ctx, "5", names, 5, &t), SAL_STATUS_BAD_INPUT, "0..4");
  TH_FAILS(sal_target_parse(ctx, "wolf", names, 5, &t), SAL_STATUS_NOT_FOUND, "cat, dog, fox, owl, eel");
  TH_FAILS(sal_target_parse(ctx, "wolf", NULL, 5, &t), SAL_STATUS_NOT_FOUND, "no class names");
  /* parameters */
  p = params("smoothgrad");
  TH_OK(sal_method_params_set(ctx, &p, "samples", "12"));
  TH_CHECK(p.samples == 12, "samples=12 gave %lld", (long long)p.samples);
  TH_FAILS(sal_method_params_set(ctx, &p, "steps", "3"), SAL_STATUS_NOT_FOUND, "seed, max_memory, samples, sigma");
  TH_FAILS(sal_method_params_set(ctx, &p, "samples", "0"), SAL_STATUS_BAD_INPUT, "1..1000000");
  TH_FAILS(sal_method_params_set(ctx, &p, "sigma", "abc"), SAL_STATUS_BAD_INPUT, "sigma='abc'");
  p = params("occlusion");
  TH_FAILS(sal_method_params_set(ctx, &p, "baseline", "grey"), SAL_STATUS_BAD_INPUT, "zero or blur");
  char buf[256];
  TH_CHECK(strstr(sal_method_params_str(&p, buf, sizeof buf), "baseline=zero blur_sigma=0 patch=0 stride=0") != NULL,
           "params string '%s'", buf);
  TH_CHECK(sal_method_param_count("rise") == 5, "rise takes %d parameters", sal_method_param_count("rise"));
  sal_param_info info;
  TH_CHECK(sal_method_param("rise", 2, &info) && strcmp(info.key, "samples") == 0 && strcmp(info.def, "4000") == 0,
           "rise parameter 2");
  /* smoothgrad noise of the wrong shape */
  p = params("smoothgrad");
  p.samples = 3;
  p.noise = x; /* (3, 3, 16, 16) fits; make it not fit with 2 samples */
  p.samples = 2;
  TH_FAILS(run(g, x, tg, &p, &e), SAL_STATUS_BAD_INPUT, "(samples, C, H, W)");
  /* images: wrong shape, NaN */
  sal_tensor *y = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){1, 3, 8, 8}, &y));
  p = params("gradient");
  if (y) TH_FAILS(run(g, y, NULL, &p, &e), SAL_STATUS_BAD_INPUT, "(1, 3, 8, 8)");
  sal_tensor_free(y);
  TH_OK(sal_tensor_clone(ctx, x, &y));
  if (y) {
    y->data[300] = NAN;
    TH_FAILS(run(g, y, NULL, &p, &e), SAL_STATUS_BAD_INPUT, "image 0 holds NaN");
  }
  sal_tensor_free(y);
  /* allocation failures anywhere clean up and report (leaks show under the sanitiser build) */
  p = params("rise");
  p.samples = 4;
  for (int64_t n = 1; n < 40; n++) {
    sal_ctx_fail_alloc_after(ctx, n);
    sal_status st = run(g, x, tg, &p, &e);
    sal_ctx_fail_alloc_after(ctx, 0);
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_OUT_OF_MEMORY, "allocation %lld failing: %s", (long long)n,
             sal_status_name(st));
    sal_explanation_clear(&e);
  }
}

/* The mask gradient of meaningful_perturbation goes through the adjoint of the bilinear upsampling:
 * the dot-product test <up(a), g> = <a, up^T(g)> on random a, g, for upsampling and downsampling. */
static void test_bilinear_adjoint(void) {
  const int64_t sizes[3][4] = {{3, 5, 16, 12}, {7, 7, 224, 224}, {9, 6, 4, 5}};
  for (int k = 0; k < 3; k++) {
    int64_t h = sizes[k][0], w = sizes[k][1], H = sizes[k][2], W = sizes[k][3];
    float *a = calloc((size_t)(h * w), sizeof(float)), *ga = calloc((size_t)(h * w), sizeof(float));
    float *u = calloc((size_t)(H * W), sizeof(float)), *g = calloc((size_t)(H * W), sizeof(float));
    if (!a || !ga || !u || !g) {
      TH_CHECK(0, "out of memory");
    } else {
      sal_rng_normal(1, 1, 0, a, (size_t)(h * w));
      sal_rng_normal(1, 2, 0, g, (size_t)(H * W));
      sal__bilinear(a, h, w, u, H, W);
      sal__bilinear_adjoint(g, H, W, ga, h, w);
      double l = 0, r = 0;
      for (int64_t q = 0; q < H * W; q++) l += (double)u[q] * g[q];
      for (int64_t q = 0; q < h * w; q++) r += (double)a[q] * ga[q];
      /* float32 accumulation of up to ~1e5 terms: 1e-4 relative */
      TH_CHECK(fabs(l - r) <= 1e-4 * (fabs(l) + 1), "bilinear adjoint %lldx%lld -> %lldx%lld: %g vs %g", (long long)h,
               (long long)w, (long long)H, (long long)W, l, r);
    }
    free(a);
    free(ga);
    free(u);
    free(g);
  }
}

/* ---- rendering ---- */
static void test_render(void) {
  sal_ctx *ctx = th_ctx();
  uint8_t c[3];
  sal_colormap_rgb(SAL_COLORMAP_JET, 0.0f, c);
  TH_CHECK(c[0] == 0 && c[1] == 0 && c[2] == 128, "jet(0) = %d %d %d", c[0], c[1], c[2]);
  sal_colormap_rgb(SAL_COLORMAP_JET, 0.5f, c);
  TH_CHECK(c[0] == 128 && c[1] == 255 && c[2] == 128, "jet(0.5) = %d %d %d", c[0], c[1], c[2]);
  sal_colormap_rgb(SAL_COLORMAP_VIRIDIS, 0.0f, c);
  TH_CHECK(c[0] == 68 && c[1] == 1 && c[2] == 84, "viridis(0) = %d %d %d", c[0], c[1], c[2]);
  sal_colormap_rgb(SAL_COLORMAP_INFERNO, 1.0f, c);
  TH_CHECK(c[0] == 252 && c[1] == 255 && c[2] == 164, "inferno(1) = %d %d %d", c[0], c[1], c[2]);
  sal_colormap_rgb(SAL_COLORMAP_GRAY, NAN, c);
  TH_CHECK(c[0] == 0, "gray(NaN) = %d", c[0]);
  sal_colormap cm;
  TH_FAILS(sal_colormap_parse(ctx, "hot", &cm), SAL_STATUS_NOT_FOUND, "jet, viridis, inferno, gray");
  TH_OK(sal_colormap_parse(ctx, "inferno", &cm));
  float map[4] = {0, 1, 0.5f, 0.25f}, norm[4];
  float cst[3] = {2, 2, 2};
  sal_map_normalize(cst, 3, cst);
  TH_CHECK(cst[0] == 0 && cst[2] == 0, "constant map normalises to 0");
  float m2[3] = {-1, 1, 0};
  sal_map_normalize(m2, 3, norm);
  TH_CHECK(norm[0] == 0 && norm[1] == 1 && norm[2] == 0.5f, "normalise (-1, 1, 0)");
  sal_image *bg = NULL, *ov = NULL, *pan = NULL;
  float px[3 * 4] = {0};
  const float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.25f, 0.25f, 0.25f};
  TH_OK(sal_denormalize_image(ctx, px, 3, 2, 2, mean, sd, &bg)); /* x = 0 -> 0.5 -> 128 */
  if (bg) TH_CHECK(((uint8_t *)bg->pixels)[0] == 128, "denormalised pixel %d", ((uint8_t *)bg->pixels)[0]);
  TH_OK(sal_overlay(ctx, map, 2, 2, bg, SAL_COLORMAP_GRAY, 0.5f, &ov));
  /* pixel 1: 0.5 · 128 + 0.5 · 255 = 191.5 -> 192 */
  if (ov) TH_CHECK(((uint8_t *)ov->pixels)[3] == 192, "overlay pixel %d", ((uint8_t *)ov->pixels)[3]);
  TH_FAILS(sal_overlay(ctx, map, 2, 2, bg, SAL_COLORMAP_GRAY, 1.5f, &pan), SAL_STATUS_BAD_INPUT, "alpha");
  const sal_image *both[2] = {bg, ov};
  if (bg && ov) {
    TH_OK(sal_panel(ctx, both, 2, 3, &pan));
    if (pan) TH_CHECK(pan->width == 7 && pan->height == 2, "panel %lld x %lld", (long long)pan->width,
                      (long long)pan->height);
  }
  sal_image_free(bg);
  sal_image_free(ov);
  sal_image_free(pan);
}

int main(void) {
  sal_ctx *ctx = th_ctx();
  FILE *f = fopen(FIX "layer.txt", "r");
  TH_CHECK(f != NULL, "cannot open " FIX "layer.txt");
  if (f) {
    if (!fgets(layer_name, sizeof layer_name, f)) layer_name[0] = '\0';
    layer_name[strcspn(layer_name, "\n")] = '\0';
    fclose(f);
  }
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(ctx, FIX "model.onnx", NULL, &g));
  sal_tensor *x = load("input.npy"), *tt = load("target.npy");
  int64_t tg[3] = {0, 0, 0};
  for (int i = 0; tt && i < 3; i++) tg[i] = (int64_t)tt->data[i];
  double t0 = now_s();
  if (g && x && tt) {
    test_reference(g, x, tg);
    printf("reference %.2fs\n", now_s() - t0);
    test_completeness(g, x, tg);
    printf("completeness %.2fs\n", now_s() - t0);
    test_determinism(g, x, tg);
    printf("determinism %.2fs\n", now_s() - t0);
    test_bad_input(g, x, tg);
    printf("bad input %.2fs\n", now_s() - t0);
  }
  test_known_evidence();
  printf("known %.2fs\n", now_s() - t0);
  test_bilinear_adjoint();
  test_render();
  sal_tensor_free(x);
  sal_tensor_free(tt);
  sal_graph_free(g);
  return th_finish("test_explain");
}
