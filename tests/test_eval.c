/* Tests of src/eval: Spearman and SSIM against hand-computed values and numpy references
 * (tools/make_reliable_refs.py), the class-keeping PGD attack and attack_sensitivity on a tiny
 * model (tests/fixtures/rel_refs/model.onnx). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/eval.h"

#define FIX "tests/fixtures/"

static sal_tensor *load(const char *rel) { return th_npy(FIX, rel); }

static void test_spearman(void) {
  sal_ctx *ctx = th_ctx();
  double r = 0;
  /* by hand: ranks of b are 1, 2, 3.5, 5, 3.5; deviations from 3 give Σ da·db = 8, Σ da² = 10,
   * Σ db² = 9.5, r = 8 / √95 */
  const float a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 6, 7, 8, 7};
  TH_OK(sal_spearman(ctx, a, b, 5, &r));
  TH_CHECK(fabs(r - 8.0 / sqrt(95.0)) < 1e-12, "spearman with a tie: %.15g, want %.15g", r, 8.0 / sqrt(95.0));
  const float c[5] = {10, 3, 2, 1, -4}; /* decreasing: -1 */
  TH_OK(sal_spearman(ctx, a, c, 5, &r));
  TH_CHECK(r == -1.0, "reversed order: %g", r);
  const float d[5] = {0.1f, 0.2f, 0.3f, 40, 50}; /* monotone but not linear: 1 */
  TH_OK(sal_spearman(ctx, a, d, 5, &r));
  TH_CHECK(r == 1.0, "monotone: %g", r);
  const float k[5] = {2, 2, 2, 2, 2};
  TH_OK(sal_spearman(ctx, a, k, 5, &r));
  TH_CHECK(isnan(r), "a constant input gives NaN, got %g", r);
  TH_FAILS(sal_spearman(ctx, a, b, 1, &r), SAL_STATUS_BAD_INPUT, "at least 2");
  const float bad[5] = {1, 2, NAN, 4, 5};
  TH_FAILS(sal_spearman(ctx, a, bad, 5, &r), SAL_STATUS_BAD_INPUT, "value 2 is not finite");
}

static void test_ssim(void) {
  sal_ctx *ctx = th_ctx();
  float *a = calloc(13 * 17, sizeof(float)), *b = calloc(13 * 17, sizeof(float));
  if (!a || !b) {
    TH_CHECK(0, "out of memory");
    free(a);
    free(b);
    return;
  }
  double s = 0;
  /* constant images α, β: variances and covariance vanish, SSIM = (2αβ + C1) / (α² + β² + C1) */
  for (int i = 0; i < 13 * 17; i++) a[i] = 0.5f, b[i] = 0.25f;
  TH_OK(sal_ssim(ctx, a, b, 13, 17, 1.0, &s));
  double want = (2 * 0.5 * 0.25 + 1e-4) / (0.25 + 0.0625 + 1e-4);
  TH_CHECK(fabs(s - want) < 1e-12, "constant images: %.15g, want %.15g", s, want);
  /* data range 2: C1 = 4e-4 */
  TH_OK(sal_ssim(ctx, a, b, 13, 17, 2.0, &s));
  want = (2 * 0.5 * 0.25 + 4e-4) / (0.25 + 0.0625 + 4e-4);
  TH_CHECK(fabs(s - want) < 1e-12, "data range 2: %.15g, want %.15g", s, want);
  sal_rng_uniform(1, 1, 0, a, 13 * 17);
  TH_OK(sal_ssim(ctx, a, a, 13, 17, 1.0, &s));
  TH_CHECK(fabs(s - 1.0) < 1e-12, "identical images: %.15g", s);
  TH_FAILS(sal_ssim(ctx, a, b, 10, 20, 1.0, &s), SAL_STATUS_BAD_INPUT, "smaller than the 11 x 11 window");
  TH_FAILS(sal_ssim(ctx, a, b, 13, 17, 0.0, &s), SAL_STATUS_BAD_INPUT, "data range");
  free(a);
  free(b);
}

/* numpy references: average ranks and the valid-window SSIM in float64 on the same float32 maps.
 * Both sides compute in double from the same floats: agreement to ~1e-12; the references are
 * stored as float32, so 1e-6 (float32 rounding of values of order 1). */
static void test_references(void) {
  sal_tensor *a = load("rel_refs/eval_a.npy"), *b = load("rel_refs/eval_b.npy");
  sal_tensor *sp = load("rel_refs/eval_spearman.npy"), *ss = load("rel_refs/eval_ssim.npy");
  if (a && b && sp && ss) {
    const int64_t n = a->shape.d[0], h = a->shape.d[1], w = a->shape.d[2];
    for (int64_t i = 0; i < n; i++) {
      double r = 0, s = 0;
      TH_OK(sal_spearman(th_ctx(), a->data + i * h * w, b->data + i * h * w, h * w, &r));
      TH_OK(sal_ssim(th_ctx(), a->data + i * h * w, b->data + i * h * w, h, w, 1.0, &s));
      printf("  pair %lld: spearman %.7f (numpy %.7f), ssim %.7f (numpy %.7f)\n", (long long)i, r, (double)sp->data[i],
             s, (double)ss->data[i]);
      TH_CHECK(fabs(r - sp->data[i]) < 1e-6, "pair %lld spearman %.9g, numpy %.9g", (long long)i, r, (double)sp->data[i]);
      TH_CHECK(fabs(s - ss->data[i]) < 1e-6, "pair %lld ssim %.9g, numpy %.9g", (long long)i, s, (double)ss->data[i]);
    }
  }
  sal_tensor_free(a);
  sal_tensor_free(b);
  sal_tensor_free(sp);
  sal_tensor_free(ss);
}

/* Top-1 classes of images under g, through a plan of its own (independent of the attack's runner). */
static void top1(sal_graph *g, const sal_tensor *x, int64_t *cls) {
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = x->shape.d[0];
  sal_plan *p = NULL;
  const sal_tensor *y = NULL;
  TH_OK(sal_plan_new(th_ctx(), g, &o, &p));
  if (p) TH_OK(sal_plan_set_input(p, "input", x));
  if (p) TH_OK(sal_plan_forward(p));
  if (p) TH_OK(sal_plan_value(p, "logits", &y));
  for (int64_t i = 0; y && i < x->shape.d[0]; i++) {
    int64_t k = 0;
    for (int64_t c = 1; c < y->shape.d[1]; c++)
      if (y->data[i * y->shape.d[1] + c] > y->data[i * y->shape.d[1] + k]) k = c;
    cls[i] = k;
  }
  sal_plan_free(p);
}

static void test_attack(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(ctx, FIX "rel_refs/model.onnx", NULL, &g));
  sal_tensor *x = load("saliency/input.npy");
  if (!g || !x) goto done;
  const int64_t N = x->shape.d[0], per = 3 * 256;
  const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
  int64_t c0[3], c1[3], steps[3], cls[3];
  top1(g, x, c0);
  /* a radius large enough to flip classes: the rejected steps keep every image's class */
  for (int big = 0; big < 2; big++) {
    sal_attack_opts o = sal_attack_opts_default();
    o.mean = mean;
    o.std = std;
    o.clamp = false; /* the fixture's inputs are N(0, 1), not preprocessed pixels in [0, 1] */
    if (big) o.eps = 0.1f, o.step_size = 0.004f;
    sal_tensor *adv = NULL;
    TH_OK(sal_pgd_keep_class(ctx, g, x, &o, &adv, cls, steps));
    if (!adv) continue;
    top1(g, adv, c1);
    double mx = 0;
    for (int64_t i = 0; i < N; i++) {
      TH_CHECK(cls[i] == c0[i] && c1[i] == c0[i], "eps %g image %lld: class %lld -> %lld", (double)o.eps, (long long)i,
               (long long)c0[i], (long long)c1[i]);
      for (int64_t q = 0; q < per; q++)
        mx = fmax(mx, fabs((double)adv->data[i * per + q] - x->data[i * per + q]) * std[q / 256]);
    }
    printf("  eps %.4f: steps kept %lld %lld %lld, max |delta| %.5f pixel units\n", (double)o.eps, (long long)steps[0],
           (long long)steps[1], (long long)steps[2], mx);
    TH_CHECK(mx <= o.eps * (1 + 1e-5) && mx > (big ? 0 : 0.5 * o.eps), "max |delta| %g for eps %g", mx, (double)o.eps);
    /* at 0.1 the attack flips every class (the model's two top logits are close): some steps
     * must have been rejected, else the test does not exercise the rejection */
    if (big) TH_CHECK(steps[0] + steps[1] + steps[2] < 30, "eps 0.1: no step was rejected");
    sal_tensor_free(adv);
  }
  /* clamping: no pixel ends further outside [0, 1] than it was */
  sal_attack_opts o = sal_attack_opts_default();
  o.eps = 0.3f;
  o.step_size = 0.1f;
  sal_tensor *adv = NULL;
  TH_OK(sal_pgd_keep_class(ctx, g, x, &o, &adv, NULL, NULL));
  for (int64_t q = 0; adv && q < N * per; q++) {
    double da = fmax(0, fmax(-adv->data[q], adv->data[q] - 1)), dx = fmax(0, fmax(-x->data[q], x->data[q] - 1));
    if (da > dx) {
      TH_CHECK(0, "clamp: %g at %lld (was %g) moved further outside [0, 1]", (double)adv->data[q], (long long)q,
               (double)x->data[q]);
      break;
    }
  }
  sal_tensor_free(adv);
  o.steps = -1;
  TH_FAILS(sal_pgd_keep_class(ctx, g, x, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "steps in 0..100000");

  /* attack_sensitivity with two methods; every result in range */
  const char *methods[2] = {"gradient", "reliable"};
  for (int m = 0; m < 2; m++) {
    sal_method_params p;
    TH_OK(sal_method_params_default(ctx, methods[m], &p));
    p.iterations = th_quick() ? 10 : 50;
    o = sal_attack_opts_default();
    o.mean = mean;
    o.std = std;
    o.clamp = false;
    sal_attack_result r;
    TH_OK(sal_attack_sensitivity(ctx, g, x, &p, &o, &r));
    for (int64_t i = 0; i < r.n; i++) {
      printf("  %s image %lld: class %lld, spearman %.4f, ssim %.4f, logit drop %.4f, linf %.5f\n", methods[m],
             (long long)i, (long long)r.cls[i], r.spearman[i], r.ssim[i], (double)r.drop[i], (double)r.linf[i]);
      TH_CHECK(r.cls[i] == c0[i], "%s: class of image %lld", methods[m], (long long)i);
      TH_CHECK(r.spearman[i] >= -1 && r.spearman[i] <= 1 && r.ssim[i] >= -1 && r.ssim[i] <= 1 + 1e-12,
               "%s image %lld: spearman %g ssim %g", methods[m], (long long)i, r.spearman[i], r.ssim[i]);
      TH_CHECK(r.drop[i] > 0, "%s image %lld: the attack did not lower z_c (%g)", methods[m], (long long)i,
               (double)r.drop[i]);
      TH_CHECK(r.linf[i] <= o.eps * (1 + 1e-5), "linf %g", (double)r.linf[i]);
    }
    printf("  %s: mean spearman %.4f, mean ssim %.4f\n", methods[m], r.mean_spearman, r.mean_ssim);
    /* a 2/255 perturbation changes the gradient map of this smooth model only a little */
    if (m == 0) TH_CHECK(r.mean_spearman > 0.9, "gradient: mean spearman %g", r.mean_spearman);
    sal_attack_result_clear(&r);
  }
  /* eps = 0: the maps are the same, Spearman and SSIM 1 */
  sal_method_params p;
  TH_OK(sal_method_params_default(ctx, "gradient", &p));
  o = sal_attack_opts_default();
  o.eps = 0;
  sal_attack_result r;
  TH_OK(sal_attack_sensitivity(ctx, g, x, &p, &o, &r));
  TH_CHECK(r.n == N && fabs(r.mean_spearman - 1) < 1e-12 && fabs(r.mean_ssim - 1) < 1e-12,
           "eps 0: spearman %g ssim %g", r.mean_spearman, r.mean_ssim);
  sal_attack_result_clear(&r);
  /* allocation failures: an error, nothing leaks */
  for (int64_t k = 1; k < 60; k += th_quick() ? 7 : 2) {
    sal_ctx_fail_alloc_after(ctx, k);
    sal_status st = sal_attack_sensitivity(ctx, g, x, &p, &o, &r);
    sal_ctx_fail_alloc_after(ctx, 0);
    TH_CHECK(st == SAL_STATUS_OK || st == SAL_STATUS_OUT_OF_MEMORY, "allocation %lld failing: %s", (long long)k,
             sal_status_name(st));
    sal_attack_result_clear(&r);
  }
done:
  sal_tensor_free(x);
  sal_graph_free(g);
}

int main(void) {
  test_spearman();
  test_ssim();
  test_references();
  test_attack();
  return th_finish("test_eval");
}
