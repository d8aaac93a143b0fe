/* Tests of SCAAT and Saliency Guided Training (src/train/scaat.c): the budget map against a hand
 * computation, SGT's masked fraction, the combined loss against an independent computation, its
 * parameter gradients against central differences, the running statistics, and sal_train with
 * --scaat / --sgt: resumable bit for bit, refused resumes, plain training unchanged. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/dataset.h"
#include "salient/synth.h"
#include "salient/train.h"
#include "train/train_internal.h"

static void test_budget(void) {
  /* (C, H, W) = (2, 3, 3). Saliency max_c |g_c| / std_c: channel 0 has 0.5 / 0.5 = 1 at the
   * centre, channel 1 has 0.125 / 0.25 = 0.5 at the top-left corner; 0 elsewhere. Normalised to
   * [0, 1] it stays so; the 3 × 3 mean over in-image neighbours is then, by hand:
   *   corner (0,0): (0.5 + 1) / 4, the other corners 1 / 4; edges next to the corner (0,1), (1,0):
   *   (0.5 + 1) / 6, the other edges 1 / 6; the centre (0.5 + 1) / 9. */
  float g[18] = {0};
  g[4] = -0.5f;    /* channel 0, centre (the sign does not matter) */
  g[9] = 0.125f;   /* channel 1, (0, 0) */
  const float std[2] = {0.5f, 0.25f};
  const double S[9] = {1.5 / 4, 1.5 / 6, 1.0 / 4, 1.5 / 6, 1.5 / 9, 1.0 / 6, 1.0 / 4, 1.0 / 6, 1.0 / 4};
  float tmp[9], b[9];
  const float eps = 8.0f / 255.0f;
  sal__scaat_budget(g, 2, 3, 3, std, eps, 2.0f, tmp, b);
  for (int q = 0; q < 9; q++) {
    double want = eps * (1 - S[q]) * (1 - S[q]);
    TH_CHECK(fabs(b[q] - want) < 1e-7, "budget at %d: %.9g, want %.9g", q, (double)b[q], want);
  }
  /* γ = 0: ε everywhere; a constant saliency: S = 0, ε everywhere too */
  sal__scaat_budget(g, 2, 3, 3, std, eps, 0.0f, tmp, b);
  for (int q = 0; q < 9; q++) TH_CHECK(b[q] == eps, "gamma 0 at %d: %g", q, (double)b[q]);
  float flat[18];
  for (int i = 0; i < 18; i++) flat[i] = 0.3f;
  sal__scaat_budget(flat, 2, 3, 3, NULL, eps, 2.0f, tmp, b);
  for (int q = 0; q < 9; q++) TH_CHECK(b[q] == eps, "constant saliency at %d: %g", q, (double)b[q]);
}

static void test_sgt_mask(void) {
  enum { C = 3, H = 10, W = 10, HW = H * W };
  float g[C * HW], x[C * HW], out[C * HW];
  sal__ranked order[HW];
  sal_rng_normal(1, 2, 0, g, C * HW);
  sal_rng_uniform(1, 3, 0, x, C * HW);
  for (int i = 0; i < 10; i++) g[i] = g[HW + i] = g[2 * HW + i] = 0; /* ten tied zeros: 6.3 % takes six of them */
  const float fr[4] = {0.37f, 0.0f, 1.0f, 0.063f};
  for (int f = 0; f < 4; f++) {
    int64_t n = sal__sgt_mask(g, x, C, H, W, NULL, fr[f], 9, 4, order, out);
    const int64_t wants[4] = {37, 0, 100, 6};
    int64_t want = wants[f];
    float lo = 1, hi = 0;
    for (int i = 0; i < C * HW; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    int64_t changed = 0;
    double max_masked = 0, min_kept = INFINITY;
    for (int q = 0; q < HW; q++) {
      bool m = false;
      double s = 0;
      for (int c = 0; c < C; c++) {
        m |= out[c * HW + q] != x[c * HW + q];
        s = fmax(s, fabs(g[c * HW + q]));
        if (out[c * HW + q] < lo || out[c * HW + q] > hi) TH_CHECK(0, "frac %g: value %g outside [%g, %g]", (double)fr[f], (double)out[c * HW + q], (double)lo, (double)hi);
      }
      changed += m;
      if (m) max_masked = fmax(max_masked, s);
      else min_kept = fmin(min_kept, s);
    }
    TH_CHECK(n == want && changed == want, "frac %g: %lld pixels masked (%lld changed), want %lld", (double)fr[f], (long long)n,
             (long long)changed, (long long)want);
    TH_CHECK(changed == 0 || changed == HW || max_masked <= min_kept,
             "frac %g: a masked pixel (saliency %g) is more salient than a kept one (%g)", (double)fr[f], max_masked, min_kept);
  }
  /* the draws are a function of (seed, item) only */
  float again[C * HW];
  sal__sgt_mask(g, x, C, H, W, NULL, 0.37f, 9, 4, order, out);
  sal__sgt_mask(g, x, C, H, W, NULL, 0.37f, 9, 4, order, again);
  TH_CHECK(!memcmp(out, again, sizeof out), "SGT masks are not reproducible");
  sal__sgt_mask(g, x, C, H, W, NULL, 0.37f, 9, 5, order, again);
  TH_CHECK(memcmp(out, again, sizeof out) != 0, "another item drew the same noise");
}

/* A tiny smooth classifier: Conv 3×3 (3 → 4, pad 1) → BatchNorm → Tanh → GlobalAveragePool →
 * Flatten → Gemm (4 → 3). Input (B, 3, 6, 6). */
static sal_graph *tiny_graph(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_graph_new(ctx, &g));
  if (!g) return NULL;
  float w[4 * 3 * 9], sc[4], bi[4], rm[4], rv[4], fw[3 * 4], fb[3];
  sal_rng_normal(3, 1, 0, w, 108);
  for (int i = 0; i < 108; i++) w[i] *= 0.4f;
  sal_rng_normal(3, 2, 0, fw, 12);
  sal_rng_normal(3, 3, 0, fb, 3);
  for (int i = 0; i < 4; i++) sc[i] = 1.0f + 0.1f * (float)i, bi[i] = 0.05f * (float)i, rm[i] = 0, rv[i] = 1;
  sal_status st = sal_graph_add_input(g, "input", 4, (int64_t[]){-1, 3, 6, 6});
  if (!st) st = sal_graph_add_param(g, "w", 4, (int64_t[]){4, 3, 3, 3}, w, true);
  if (!st) st = sal_graph_add_param(g, "bn.scale", 1, (int64_t[]){4}, sc, true);
  if (!st) st = sal_graph_add_param(g, "bn.bias", 1, (int64_t[]){4}, bi, true);
  if (!st) st = sal_graph_add_param(g, "bn.mean", 1, (int64_t[]){4}, rm, false);
  if (!st) st = sal_graph_add_param(g, "bn.var", 1, (int64_t[]){4}, rv, false);
  if (!st) st = sal_graph_add_param(g, "fc.w", 2, (int64_t[]){3, 4}, fw, true);
  if (!st) st = sal_graph_add_param(g, "fc.b", 1, (int64_t[]){3}, fb, true);
  sal_attr ca[1] = {{"pads", SAL_ATTR_INTS, 0, 0, (const int64_t[]){1, 1, 1, 1}, 0, 4, 0}};
  if (!st) st = sal_graph_add_node(g, "Conv", "conv", (const char *[]){"input", "w"}, 2, (const char *[]){"c"}, 1, ca, 1);
  if (!st)
    st = sal_graph_add_node(g, "BatchNormalization", "bn", (const char *[]){"c", "bn.scale", "bn.bias", "bn.mean", "bn.var"}, 5,
                            (const char *[]){"b"}, 1, NULL, 0);
  if (!st) st = sal_graph_add_node(g, "Tanh", "tanh", (const char *[]){"b"}, 1, (const char *[]){"t"}, 1, NULL, 0);
  if (!st) st = sal_graph_add_node(g, "GlobalAveragePool", "gap", (const char *[]){"t"}, 1, (const char *[]){"p"}, 1, NULL, 0);
  if (!st) st = sal_graph_add_node(g, "Flatten", "flat", (const char *[]){"p"}, 1, (const char *[]){"f"}, 1, NULL, 0);
  sal_attr ga[1] = {sal_attr_int("transB", 1)};
  if (!st)
    st = sal_graph_add_node(g, "Gemm", "fc", (const char *[]){"f", "fc.w", "fc.b"}, 3, (const char *[]){"logits"}, 1, ga, 1);
  if (!st) st = sal_graph_add_output(g, "logits");
  TH_OK(st);
  if (st) {
    sal_graph_free(g);
    return NULL;
  }
  return g;
}

static sal_plan *train_plan(sal_graph *g, int64_t B) {
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = B;
  po.training = true;
  po.grad_params = true;
  po.kernels = SAL_KERNELS_REF;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(th_ctx(), g, &po, &p));
  return p;
}

#define TB 4
#define TK 3
#define TPER (3 * 36)

/* The loss computed independently: logits of x and x2 by plan p in training mode, then in double
 * CE with label smoothing ls and λ KL(softmax z1 ‖ softmax z2), means over the batch. */
static double ref_loss(sal_plan *p, const float *x, const float *x2, const int64_t *y, double ls, double lambda, double *ce_out,
                       double *kl_out) {
  float z[2][TB * TK];
  const float *in[2] = {x, x2};
  for (int k = 0; k < 2; k++) {
    sal_tensor t = {{4, {TB, 3, 6, 6}}, (float *)in[k], SAL_LAYOUT_PLAIN, false};
    const sal_tensor *v = NULL;
    TH_OK(sal_plan_set_input(p, "input", &t));
    TH_OK(sal_plan_forward(p));
    TH_OK(sal_plan_value(p, "logits", &v));
    if (v) memcpy(z[k], v->data, sizeof z[k]);
  }
  double ce = 0, kl = 0;
  for (int i = 0; i < TB; i++) {
    double lp[TK], lq[TK], sp = 0, sq = 0;
    for (int k = 0; k < TK; k++) sp += exp(z[0][i * TK + k]), sq += exp(z[1][i * TK + k]);
    for (int k = 0; k < TK; k++) lp[k] = z[0][i * TK + k] - log(sp), lq[k] = z[1][i * TK + k] - log(sq);
    for (int k = 0; k < TK; k++) {
      ce -= ((k == y[i] ? 1 - ls : 0) + ls / TK) * lp[k];
      kl += exp(lp[k]) * (lp[k] - lq[k]);
    }
  }
  if (ce_out) *ce_out = ce / TB;
  if (kl_out) *kl_out = kl / TB;
  return ce / TB + lambda * kl / TB;
}

static void test_loss_and_gradients(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = tiny_graph(), *g2 = NULL;
  if (!g) return;
  TH_OK(sal_graph_clone(g, &g2));
  sal_train_opts o = sal_train_opts_default();
  o.reg = SAL_TRAIN_SCAAT;
  o.reg_lambda = 0.7f;
  o.label_smoothing = 0.1f;
  sal__reg *r = NULL;
  TH_OK(sal__reg_new(ctx, g, &o, "input", "logits", TB, &r));
  sal_plan *tp = train_plan(g, TB), *fd = train_plan(g2, TB);
  float x[TB * TPER], x2[TB * TPER];
  sal_rng_normal(7, 1, 0, x, TB * TPER);
  sal_rng_normal(7, 2, 0, x2, TB * TPER);
  for (int i = 0; i < TB * TPER; i++) x2[i] = x[i] + 0.5f * x2[i];
  const int64_t y[TB] = {0, 2, 1, 2};
  double loss = 0, ce = 0, kl = 0, rce = 0, rkl = 0;
  if (r && tp && fd && g2) {
    TH_OK(sal__reg_loss(r, tp, x, x2, y, &loss, &ce, &kl));
    /* g2 starts as g did: its plan's two forwards leave the running statistics where one
     * forward of x and one of x2 leave them — which is what sal__reg_loss must leave in g */
    double want = ref_loss(fd, x, x2, y, 0.1, 0.7, &rce, &rkl);
    /* the same float logits, both sums in double: agreement to rounding */
    TH_CHECK(fabs(loss - want) < 1e-9 * fmax(1, fabs(want)) && fabs(ce - rce) < 1e-9 && fabs(kl - rkl) < 1e-9,
             "loss %.12g (ce %.12g, kl %.12g), independently %.12g (%.12g, %.12g)", loss, ce, kl, want, rce, rkl);
    TH_CHECK(kl > 1e-3, "KL %g: the test copy is too close to x to exercise the KL term", kl);
    const char *rs[2] = {"bn.mean", "bn.var"};
    for (int k = 0; k < 2; k++) {
      sal_tensor a, b;
      TH_OK(sal_graph_param(g, rs[k], &a));
      TH_OK(sal_graph_param(g2, rs[k], &b));
      TH_CHECK(!memcmp(a.data, b.data, 4 * sizeof(float)), "%s after the loss differs from one forward of x then x2", rs[k]);
    }
    /* gradient check: central differences of the independent loss with x2 held fixed. Float
     * forwards: rounding ~1e-7 of a loss ~1 over h = 3e-3 is ~3e-5; tolerance 1e-3 absolute plus
     * 2 % of the value covers it and the O(h²) truncation. */
    const char *params[5] = {"w", "bn.scale", "bn.bias", "fc.w", "fc.b"};
    int checked = 0;
    for (int k = 0; k < 5; k++) {
      const sal_tensor *gr = NULL;
      sal_tensor pv;
      TH_OK(sal_plan_grad(tp, params[k], &gr));
      TH_OK(sal_graph_param(g2, params[k], &pv));
      if (!gr) continue;
      int64_t n = sal_tensor_numel(gr);
      for (int64_t e = 0; e < n; e += n > 8 ? n / 7 : 1) {
        const float h = 3e-3f, keep = pv.data[e];
        pv.data[e] = keep + h;
        sal_plan_params_changed(fd);
        double up = ref_loss(fd, x, x2, y, 0.1, 0.7, NULL, NULL);
        pv.data[e] = keep - h;
        sal_plan_params_changed(fd);
        double dn = ref_loss(fd, x, x2, y, 0.1, 0.7, NULL, NULL);
        pv.data[e] = keep;
        double num = (up - dn) / (2.0 * h), ana = gr->data[e];
        TH_CHECK(fabs(num - ana) <= 1e-3 + 0.02 * fabs(num), "d loss / d %s[%lld]: analytic %.6g, numeric %.6g", params[k],
                 (long long)e, ana, num);
        checked++;
      }
    }
    TH_CHECK(checked >= 30, "only %d gradient entries checked", checked);
    /* the KL term's half matters: with λ = 0 the gradients differ */
    const sal_tensor *gw = NULL;
    TH_OK(sal_plan_grad(tp, "fc.w", &gw));
    float with[12];
    if (gw) memcpy(with, gw->data, sizeof with);
    sal__reg_free(r);
    r = NULL;
    o.reg_lambda = 0;
    TH_OK(sal__reg_new(ctx, g, &o, "input", "logits", TB, &r));
    if (r) TH_OK(sal__reg_loss(r, tp, x, x2, y, &loss, &ce, &kl));
    TH_OK(sal_plan_grad(tp, "fc.w", &gw));
    double diff = 0;
    for (int i = 0; gw && i < 12; i++) diff = fmax(diff, fabs(gw->data[i] - with[i]));
    TH_CHECK(diff > 1e-4, "lambda 0.7 and 0 gave the same gradients (max difference %g)", diff);
    int64_t bad[TB] = {0, 3, 1, 2};
    TH_FAILS(sal__reg_loss(r, tp, x, x2, bad, &loss, NULL, NULL), SAL_STATUS_BAD_INPUT, "label 3 is not below 3 classes");
  }
  sal__reg_free(r);
  sal_plan_free(tp);
  sal_plan_free(fd);
  sal_graph_free(g);
  sal_graph_free(g2);
}

/* ---- sal_train with --scaat / --sgt ---- */

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = len > 0 ? malloc((size_t)len) : NULL;
  if (b && fread(b, 1, (size_t)len, f) != (size_t)len) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *n = b ? (size_t)len : 0;
  return b;
}

static bool same_files(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  char *x = slurp(a, &na), *y = slurp(b, &nb);
  bool same = x && y && na == nb && !memcmp(x, y, na);
  free(x);
  free(y);
  return same;
}

static sal_train_opts tiny_opts(void) {
  sal_train_opts o = sal_train_opts_default();
  o.width = 4;
  o.image_size = 32;
  o.batch = 12;
  o.epochs = 2;
  o.warmup_epochs = 0;
  o.quiet = true;
  o.seed = 5;
  return o;
}

static void test_train(void) {
  sal_ctx *ctx = th_ctx();
  char dir[1024], path[1200];
  th_tmp_path(dir, sizeof dir, "data");
  sal_synth_params sp = sal_synth_params_default(SAL_SYNTH_SHAPES);
  sp.size = 32;
  sp.count[0] = th_quick() ? 24 : 48;
  sp.count[1] = 12;
  sp.count[2] = 0;
  sp.threads = 1;
  TH_OK(sal_synth_generate(ctx, &sp, dir));
  sal_dataset *tr = NULL, *va = NULL;
  snprintf(path, sizeof path, "%s/train.csv", dir);
  TH_OK(sal_dataset_open(ctx, path, NULL, &tr));
  snprintf(path, sizeof path, "%s/val.csv", dir);
  TH_OK(sal_dataset_open(ctx, path, NULL, &va));
  if (!tr || !va) goto out;
  char full[1024], part[1024], resumed[1024], plain_a[1024], plain_b[1024];
  th_tmp_path(plain_a, sizeof plain_a, "plain_a.safetensors");
  th_tmp_path(plain_b, sizeof plain_b, "plain_b.safetensors");
  /* plain training ignores the regulariser settings entirely: the same bytes */
  sal_train_opts o = tiny_opts();
  o.out = plain_a;
  TH_OK(sal_train(ctx, tr, va, &o, NULL));
  o.out = plain_b;
  o.reg_lambda = 5;
  o.scaat_eps = 0.5f;
  o.scaat_steps = 7;
  o.sgt_frac = 0.9f;
  TH_OK(sal_train(ctx, tr, va, &o, NULL));
  TH_CHECK(same_files(plain_a, plain_b), "plain training changed with the (unused) regulariser settings");
  const sal_train_reg kinds[2] = {SAL_TRAIN_SCAAT, SAL_TRAIN_SGT};
  for (int k = 0; k < 2; k++) {
    const char *name = k ? "sgt" : "scaat";
    snprintf(path, sizeof path, "%s_full.safetensors", name);
    th_tmp_path(full, sizeof full, path);
    snprintf(path, sizeof path, "%s_part.safetensors", name);
    th_tmp_path(part, sizeof part, path);
    snprintf(path, sizeof path, "%s_resumed.safetensors", name);
    th_tmp_path(resumed, sizeof resumed, path);
    o = tiny_opts();
    o.reg = kinds[k];
    o.out = full;
    sal_train_report rep;
    TH_OK(sal_train(ctx, tr, va, &o, &rep));
    TH_CHECK(rep.epochs_done == 2 && isfinite(rep.last_loss), "%s: %lld epochs, loss %g", name, (long long)rep.epochs_done,
             rep.last_loss);
    o.out = part;
    o.stop_after = 1;
    TH_OK(sal_train(ctx, tr, va, &o, NULL));
    o.stop_after = 0;
    o.resume = part;
    o.out = resumed;
    TH_OK(sal_train(ctx, tr, va, &o, NULL));
    TH_CHECK(same_files(full, resumed), "%s: 1 + 1 epochs through a checkpoint differ from 2 epochs", name);
    TH_CHECK(!same_files(full, plain_a), "%s: the same checkpoint as plain training", name);
    /* the checkpoint records the regulariser; a resume with other settings or without it is refused */
    char *meta = NULL;
    sal_graph *g = NULL;
    TH_OK(sal_checkpoint_open(ctx, full, &g, &meta));
    TH_CHECK(meta && strstr(meta, k ? "\"regularizer\":{\"kind\":\"sgt\",\"lambda\":1,\"frac\":0.1"
                                    : "\"regularizer\":{\"kind\":\"scaat\",\"lambda\":1,\"eps\":0.031372"),
             "%s: metadata %s", name, meta ? meta : "(none)");
    sal_free(meta);
    sal_graph_free(g);
    if (k) o.sgt_frac = 0.2f;
    else o.scaat_gamma = 1.0f;
    TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "regularizer");
    o.reg = SAL_TRAIN_PLAIN;
    TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "this run has none (plain)");
  }
  /* a plain checkpoint is not continued as SCAAT */
  o = tiny_opts();
  o.stop_after = 1;
  o.out = part;
  TH_OK(sal_train(ctx, tr, va, &o, NULL));
  o.stop_after = 0;
  o.resume = part;
  o.out = resumed;
  o.reg = SAL_TRAIN_SCAAT;
  TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "regularizer = (missing)");
  /* bad settings */
  o = tiny_opts();
  o.reg = SAL_TRAIN_SCAAT;
  o.scaat_steps = 0;
  TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--scaat-steps 0");
  o.scaat_steps = 3;
  o.scaat_eps = -0.1f;
  TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--scaat-eps");
  o = tiny_opts();
  o.reg = SAL_TRAIN_SGT;
  o.sgt_frac = 1.5f;
  TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--sgt-frac 1.5");
  o.sgt_frac = 0.1f;
  o.reg_lambda = NAN;
  TH_FAILS(sal_train(ctx, tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "lambda");
out:
  sal_dataset_free(tr);
  sal_dataset_free(va);
}

int main(void) {
  test_budget();
  test_sgt_mask();
  test_loss_and_gradients();
  test_train();
  return th_finish("test_scaat");
}
