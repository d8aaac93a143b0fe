/* Tests of the attacks (src/train/attack.c) on the tiny model tests/fixtures/rel_refs/model.onnx:
 * budgets (scalar and per-pixel maps with zeros), [0, 1] clamping, FGSM as one signed step, the
 * CE and KL objectives rising, seeded random starts, the plan path equal to the graph path, and
 * bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/attack.h"
#include "salient/onnx.h"

#define FIX "tests/fixtures/"
#define N 3
#define C 3
#define S 16
#define HW (S * S)
#define PER (C * HW)

static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};

/* Images whose pixels are uniform in [0, 1], normalised with mean / stdv: (N, C, S, S). */
static sal_tensor *images(void) {
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){N, C, S, S}, &x));
  if (!x) return NULL;
  sal_rng_uniform(11, 3, 0, x->data, N * PER);
  for (int64_t i = 0; i < N * PER; i++) {
    int c = (int)((i / HW) % C);
    x->data[i] = (x->data[i] - mean[c]) / stdv[c];
  }
  return x;
}

/* Logits (N, K) of x through an inference plan of its own; with gx, the input gradient of
 * Σ_i CE(z_i, cls_i) too. Returns K. */
static int64_t logits(sal_graph *g, const sal_tensor *x, float *z, const int64_t *cls, float *gx) {
  sal_plan_opts o = sal_plan_opts_default();
  o.batch = x->shape.d[0];
  o.grad_inputs = gx != NULL;
  sal_plan *p = NULL;
  const sal_tensor *y = NULL, *g1 = NULL;
  int64_t K = 0;
  TH_OK(sal_plan_new(th_ctx(), g, &o, &p));
  if (p) TH_OK(sal_plan_set_input(p, "input", x));
  if (p) TH_OK(sal_plan_forward(p));
  if (p) TH_OK(sal_plan_value(p, "logits", &y));
  if (y) {
    K = y->shape.d[1];
    memcpy(z, y->data, (size_t)sal_tensor_numel(y) * sizeof(float));
  }
  if (y && gx) {
    sal_tensor *seed = NULL;
    TH_OK(sal_tensor_new(th_ctx(), 2, y->shape.d, &seed));
    for (int64_t i = 0; seed && i < y->shape.d[0]; i++) {
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < K; k++) m = fmax(m, z[i * K + k]);
      for (int64_t k = 0; k < K; k++) s += exp(z[i * K + k] - m);
      for (int64_t k = 0; k < K; k++) seed->data[i * K + k] = (float)(exp(z[i * K + k] - m) / s - (k == cls[i]));
    }
    if (seed) TH_OK(sal_plan_backward(p, "logits", seed));
    if (seed) TH_OK(sal_plan_grad(p, "input", &g1));
    if (g1) memcpy(gx, g1->data, (size_t)sal_tensor_numel(g1) * sizeof(float));
    sal_tensor_free(seed);
  }
  sal_plan_free(p);
  return K;
}

static double ce(const float *z, int64_t K, int64_t c) {
  double m = -INFINITY, s = 0;
  for (int64_t k = 0; k < K; k++) m = fmax(m, z[k]);
  for (int64_t k = 0; k < K; k++) s += exp(z[k] - m);
  return m + log(s) - z[c];
}

static double kl(const float *zp, const float *zq, int64_t K) {
  double mp = -INFINITY, mq = -INFINITY, sp = 0, sq = 0, r = 0;
  for (int64_t k = 0; k < K; k++) mp = fmax(mp, zp[k]), mq = fmax(mq, zq[k]);
  for (int64_t k = 0; k < K; k++) sp += exp(zp[k] - mp), sq += exp(zq[k] - mq);
  for (int64_t k = 0; k < K; k++) {
    double lp = zp[k] - mp - log(sp), lq = zq[k] - mq - log(sq);
    r += exp(lp) * (lp - lq);
  }
  return r;
}

/* Largest |δ| of image i, pixel q over the channels, in pixel units. */
static double pixel_delta(const sal_tensor *a, const sal_tensor *x, int64_t i, int64_t q) {
  double mx = 0;
  for (int c = 0; c < C; c++) {
    int64_t k = i * PER + c * HW + q;
    mx = fmax(mx, fabs((double)a->data[k] - x->data[k]) * stdv[c]);
  }
  return mx;
}

static void test_budget_map(sal_graph *g, const sal_tensor *x) {
  sal_ctx *ctx = th_ctx();
  float map[N * HW];
  /* radii 0 .. 0.06, every fourth pixel 0 */
  sal_rng_uniform(5, 9, 0, map, N * HW);
  for (int i = 0; i < N * HW; i++) map[i] = i % 4 == 0 ? 0.0f : 0.06f * map[i];
  sal_attack_opts o = sal_attack_opts_default();
  o.mean = mean;
  o.std = stdv;
  o.eps_map = map;
  o.steps = 8;
  o.step_size = 0.02f;
  o.random_start = true;
  o.seed = 3;
  for (int loss = 0; loss < 2; loss++) {
    o.loss = loss ? SAL_ATTACK_KL : SAL_ATTACK_CE;
    sal_tensor *adv = NULL;
    TH_OK(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL));
    int64_t at_budget = 0, bad = 0;
    for (int64_t i = 0; adv && i < N; i++)
      for (int64_t q = 0; q < HW; q++) {
        double d = pixel_delta(adv, x, i, q), e = map[i * HW + q];
        /* float rounding of x ± e / std, scaled back by std: a few ulps of the pixel value */
        if (e == 0 ? d != 0 : d > e + 1e-6) {
          if (!bad++)
            TH_CHECK(0, "loss %d image %lld pixel %lld: |delta| %.9g exceeds its budget %.9g", loss, (long long)i, (long long)q, d, e);
        }
        if (e > 0 && d > e - 1e-6) at_budget++;
      }
    /* 8 steps of 0.02 from a random start reach the edge of most boxes (radius <= 0.06) */
    TH_CHECK(adv && at_budget > N * HW / 2, "loss %d: only %lld pixels reached their budget", loss, (long long)at_budget);
    sal_tensor_free(adv);
  }
}

static void test_clamp(sal_graph *g, const sal_tensor *x) {
  sal_attack_opts o = sal_attack_opts_default();
  o.mean = mean;
  o.std = stdv;
  o.eps = 0.5f;
  o.step_size = 0.2f;
  o.random_start = true;
  sal_tensor *adv = NULL;
  TH_OK(sal_attack(th_ctx(), g, x, NULL, &o, &adv, NULL, NULL));
  int64_t at_edge = 0;
  for (int64_t k = 0; adv && k < N * PER; k++) {
    int c = (int)((k / HW) % C);
    double px = (double)adv->data[k] * stdv[c] + mean[c];
    if (px < -1e-6 || px > 1 + 1e-6) {
      TH_CHECK(0, "clamp: pixel %lld is %.9g, outside [0, 1]", (long long)k, px);
      break;
    }
    at_edge += px < 1e-6 || px > 1 - 1e-6;
  }
  /* steps of 0.2 within radius 0.5 push many pixels to 0 or 1: the clamp did work */
  TH_CHECK(at_edge > N * PER / 10, "clamp: only %lld values at 0 or 1", (long long)at_edge);
  sal_tensor_free(adv);
}

static void test_fgsm(sal_graph *g, const sal_tensor *x) {
  float z[N * 16], gx[N * PER];
  int64_t cls[N], got[N];
  int64_t K = logits(g, x, z, NULL, NULL);
  for (int64_t i = 0; i < N; i++) {
    cls[i] = 0;
    for (int64_t k = 1; k < K; k++)
      if (z[i * K + k] > z[i * K + cls[i]]) cls[i] = k;
  }
  logits(g, x, z, cls, gx);
  const float eps = 4.0f / 255.0f;
  sal_attack_opts o = sal_attack_opts_fgsm(eps);
  o.mean = mean;
  o.std = stdv;
  o.clamp = false;
  sal_tensor *adv = NULL;
  TH_OK(sal_attack(th_ctx(), g, x, NULL, &o, &adv, got, NULL));
  int64_t moved = 0;
  for (int64_t k = 0; adv && k < N * PER; k++) {
    int c = (int)((k / HW) % C);
    double sg = gx[k] > 0 ? 1 : gx[k] < 0 ? -1 : 0;
    /* x + ε sign(g) / std computed in double, then rounded once to float */
    float want = (float)((double)x->data[k] + sg * eps / stdv[c]);
    if (adv->data[k] != want) {
      TH_CHECK(0, "fgsm: value %lld is %.9g, want x + eps sign(g) / std = %.9g", (long long)k, (double)adv->data[k], (double)want);
      break;
    }
    moved += sg != 0;
  }
  TH_CHECK(moved > N * PER * 9 / 10, "fgsm: only %lld of %d values have a gradient", (long long)moved, N * PER);
  for (int64_t i = 0; i < N; i++) TH_CHECK(got[i] == cls[i], "fgsm: attacked class %lld, top-1 %lld", (long long)got[i], (long long)cls[i]);
  sal_tensor_free(adv);
}

static void test_losses_rise(sal_graph *g, const sal_tensor *x) {
  float z0[N * 16], z1[N * 16];
  int64_t K = logits(g, x, z0, NULL, NULL);
  int64_t cls[N];
  for (int loss = 0; loss < 2; loss++)
    for (int rs = 0; rs < 2; rs++) {
      sal_attack_opts o = sal_attack_opts_default();
      o.mean = mean;
      o.std = stdv;
      o.eps = 8.0f / 255.0f;
      o.step_size = o.eps / 4;
      o.loss = loss ? SAL_ATTACK_KL : SAL_ATTACK_CE;
      o.random_start = rs;
      sal_tensor *adv = NULL;
      TH_OK(sal_attack(th_ctx(), g, x, NULL, &o, &adv, cls, NULL));
      if (!adv) continue;
      logits(g, adv, z1, NULL, NULL);
      for (int64_t i = 0; i < N; i++) {
        double before = loss ? 0.0 : ce(z0 + i * K, K, cls[i]);
        double after = loss ? kl(z0 + i * K, z1 + i * K, K) : ce(z1 + i * K, K, cls[i]);
        /* KL without a random start: TRADES' jitter gets it off its zero gradient; 1e-4 is far
         * above what the 0.001 jitter alone gives (~1e-7) */
        TH_CHECK(after > before + (loss ? 1e-4 : 0.01), "loss %s, random start %d, image %lld: %.6g -> %.6g",
                 loss ? "KL" : "CE", rs, (long long)i, before, after);
      }
      sal_tensor_free(adv);
    }
}

static void test_seed_and_plan(sal_graph *g, const sal_tensor *x) {
  sal_ctx *ctx = th_ctx();
  sal_attack_opts o = sal_attack_opts_default();
  o.mean = mean;
  o.std = stdv;
  o.random_start = true;
  o.seed = 42;
  o.steps = 3;
  sal_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  TH_OK(sal_attack(ctx, g, x, NULL, &o, &a, NULL, NULL));
  TH_OK(sal_attack(ctx, g, x, NULL, &o, &b, NULL, NULL));
  o.seed = 43;
  TH_OK(sal_attack(ctx, g, x, NULL, &o, &c, NULL, NULL));
  if (a && b && c) {
    TH_CHECK(!memcmp(a->data, b->data, sizeof(float) * N * PER), "the same seed gave different attacks");
    TH_CHECK(memcmp(a->data, c->data, sizeof(float) * N * PER) != 0, "seeds 42 and 43 gave the same attack");
  }
  /* the plan path on a plan like the runner's (inference, input gradients, batch N) is the same
   * computation: bit-identical */
  o.seed = 42;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = N;
  po.grad_inputs = true;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, g, &po, &p));
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){N, C, S, S}, &d));
  if (p && d) TH_OK(sal_attack_plan(ctx, p, "input", "logits", x, NULL, &o, d, NULL, NULL));
  if (a && d) TH_CHECK(!memcmp(a->data, d->data, sizeof(float) * N * PER), "sal_attack_plan differs from sal_attack");
  /* bad inputs */
  if (p && d) {
    TH_FAILS(sal_attack_plan(ctx, p, "input", "logits", x, NULL, &o, (sal_tensor *)x, NULL, NULL), SAL_STATUS_BAD_INPUT,
             "not alias");
    int64_t lab[N] = {0, 99, 1};
    TH_FAILS(sal_attack_plan(ctx, p, "input", "logits", x, lab, &o, d, NULL, NULL), SAL_STATUS_BAD_INPUT,
             "label 99 of image 1");
  }
  sal_plan_free(p);
  sal_tensor_free(a);
  sal_tensor_free(b);
  sal_tensor_free(c);
  sal_tensor_free(d);
  sal_tensor *adv = NULL;
  o = sal_attack_opts_default();
  o.eps = -1;
  TH_FAILS(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "eps >= 0");
  o = sal_attack_opts_default();
  o.steps = 100001;
  TH_FAILS(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "steps in 0..100000");
  float map[N * HW];
  for (int i = 0; i < N * HW; i++) map[i] = 0.01f;
  map[HW + 5] = NAN;
  o.steps = 2;
  o.eps_map = map;
  TH_FAILS(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "budget map value nan at image 1 pixel 5");
  o.eps_map = NULL;
  const float bad_std[3] = {0.2f, 0.0f, 0.2f};
  o.std = bad_std;
  TH_FAILS(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "std[1] must be > 0");
  o.std = NULL;
  o.loss = (sal_attack_loss)7;
  TH_FAILS(sal_attack(ctx, g, x, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "unknown loss 7");
  o.loss = SAL_ATTACK_CE;
  sal_tensor *small = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){1, C, 8, 8}, &small));
  if (small) TH_FAILS(sal_attack(ctx, g, small, NULL, &o, &adv, NULL, NULL), SAL_STATUS_BAD_INPUT, "do not fit");
  sal_tensor_free(small);
  TH_CHECK(adv == NULL, "a failed attack left an output");
}

int main(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(ctx, FIX "rel_refs/model.onnx", NULL, &g));
  sal_tensor *x = images();
  if (g && x) {
    test_budget_map(g, x);
    test_clamp(g, x);
    test_fgsm(g, x);
    test_losses_rise(g, x);
    test_seed_and_plan(g, x);
  }
  sal_tensor_free(x);
  sal_graph_free(g);
  return th_finish("test_attack");
}
