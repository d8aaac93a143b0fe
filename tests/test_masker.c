/* Tests of the masking model (src/models/masker.c, src/train/masker.c, src/saliency/masker.c):
 * architecture shapes on simple_cnn and resnet_small, the §D loss on a hand-checkable case and its
 * gradients, a finite-difference check of the loss w.r.t. the masker's parameters through the
 * classifier, FIX training leaving the classifier bit-identical, few-shot selection, resume
 * equivalence (FIX and CA), the ONNX round trip of classifier+masker, and the explain method. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/masker.h"
#include "train/masker_internal.h"

static sal_graph *classifier(const char *arch, int64_t size, int64_t width, int64_t K, uint64_t seed) {
  sal_model_spec s = sal_model_spec_default(arch);
  s.image_size = size;
  s.width = width;
  s.num_classes = K;
  sal_ctx_set_seed(th_ctx(), seed);
  sal_graph *g = NULL;
  TH_OK(sal_model_build(th_ctx(), &s, &g));
  return g;
}

static sal_tensor *randn(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  sal_tensor *t = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){n, c, h, w}, &t));
  sal_rng_normal(seed, 99, 0, t->data, (size_t)sal_tensor_numel(t));
  return t;
}

/* ---- architecture ---- */
static void test_arch(const char *arch, const char *t0, const char *t1) {
  sal_ctx *ctx = th_ctx();
  const int64_t S = 32, N = 2;
  sal_graph *g = classifier(arch, S, 4, 5, 3);
  char taps[2][SAL_MASKER_NAME];
  TH_OK(sal_masker_taps(ctx, g, NULL, taps));
  TH_CHECK(strcmp(taps[0], t0) == 0 && strcmp(taps[1], t1) == 0, "%s taps %s,%s want %s,%s", arch, taps[0], taps[1], t0, t1);
  const char *tp[2] = {taps[0], taps[1]};
  sal_graph *c = NULL;
  TH_OK(sal_graph_clone(g, &c));
  TH_OK(sal_masker_attach(ctx, c, tp, S, S, 5));
  sal_shape ms, ls;
  TH_OK(sal_graph_value_shape(c, "mask", &ms));
  TH_CHECK(ms.ndim == 4 && ms.d[1] == 1 && ms.d[2] == S && ms.d[3] == S, "%s mask shape", arch);
  TH_OK(sal_graph_value_shape(c, "masker.out", &ls));
  TH_CHECK(ls.d[2] == S / 4 && ls.d[3] == S / 4, "%s low-resolution mask logits are H/4", arch);
  TH_OK(sal_graph_value_shape(c, "masker.tap1.up", &ls));
  TH_CHECK(ls.d[1] == SAL_MASKER_CHANNELS && ls.d[2] == S / 4, "%s tap 1 upsampled to 64 x H/4", arch);
  TH_CHECK(sal_graph_num_outputs(c) == 2 && strcmp(sal_graph_output_name(c, 1), "mask") == 0, "%s outputs", arch);
  /* Forward: the mask is a sigmoid (in (0, 1)) upsampled by nearest x4 (constant 4x4 blocks). */
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = N;
  sal_plan *p = NULL;
  TH_OK(sal_plan_new(ctx, c, &po, &p));
  sal_tensor *x = randn(N, 3, S, S, 1);
  const sal_tensor *m = NULL;
  TH_OK(sal_plan_set_input(p, "input", x));
  TH_OK(sal_plan_forward(p));
  TH_OK(sal_plan_value(p, "mask", &m));
  bool in01 = true, blocks = true;
  for (int64_t i = 0; m && i < N * S * S; i++) {
    int64_t r = (i / S) % S, q = i % S;
    in01 = in01 && m->data[i] >= 0 && m->data[i] <= 1; /* a sigmoid, saturating in f32 */
    blocks = blocks && m->data[i] == m->data[i - (r % 4) * S - (q % 4)];
  }
  TH_CHECK(m && in01 && blocks, "%s: mask in [0,1] (%d) and constant on 4x4 blocks (%d)", arch, in01, blocks);
  /* The standalone masker has the same parameters. */
  sal_graph *M = NULL;
  TH_OK(sal_masker_build(ctx, g, tp, 5, &M));
  TH_CHECK(M && sal_graph_param_count(M, false) == sal_graph_param_count(c, false) - sal_graph_param_count(g, false),
           "%s standalone masker parameter count", arch);
  /* explicit layers and bad ones */
  TH_OK(sal_masker_taps(ctx, g, strcmp(arch, "simple_cnn") == 0 ? "block2,block4" : "layer1,layer3", taps));
  TH_FAILS(sal_masker_taps(ctx, g, "nope,block4", taps), SAL_STATUS_NOT_FOUND, "not a 4-D activation");
  TH_FAILS(sal_masker_taps(ctx, g, "block4", taps), SAL_STATUS_BAD_INPUT, "two names");
  sal_graph *c2 = NULL;
  TH_OK(sal_graph_clone(g, &c2));
  TH_FAILS(sal_masker_attach(ctx, c2, tp, S + 2, S + 2, 5), SAL_STATUS_BAD_INPUT, "multiples of 4");
  sal_graph_free(c2);
  sal_graph_free(M);
  sal_tensor_free(x);
  sal_plan_free(p);
  sal_graph_free(c);
  sal_graph_free(g);
}

/* ---- the loss on a hand-checkable case ---- */
static void test_loss_values(void) {
  const int64_t B = 2, K = 2, H = 2, W = 2;
  const int64_t y[2] = {0, 0};
  /* clean: image 0 right, image 1 wrong; masked-in: 0 right, 1 wrong; masked-out: 0 wrong, 1 right */
  const float z[4] = {2, 0, 0, 1}, zi[4] = {1, 0, 0, 2}, zo[4] = {0, 1, 3, 0};
  const float m[8] = {0.5f, 0.25f, 0.0f, 1.0f, 1, 1, 1, 1};
  const float lin = 1, lout = 10, ltv = 0.5f;
  sal__masker_terms t;
  float dzi[4], dzo[4], dm[8];
  sal__masker_loss(B, K, H, W, y, z, zi, zo, m, lin, lout, ltv, &t, dzi, dzo, dm);
  /* By hand: CE = log(1 + e^(z1 - z0)); image 0 is right clean and in, and its masked-out image is
   * wrong (nontrivial); m̄_0 = 1.75 / 4. H(softmax(0, 1)) = log(1 + e) − e/(1 + e). */
  double in_ce = (log(1 + exp(-1.0)) + log(1 + exp(2.0))) / 2;
  double mbar0 = 1.75 / 4;
  double in_area = lin * mbar0 / 2;
  double ent0 = log(1 + exp(1.0)) - exp(1.0) / (1 + exp(1.0));
  double out_ent = -ent0 / 2;
  double out_area = lout * mbar0 / 2;
  /* TV of image 0: vertical (0 − .5)² + (1 − .25)², horizontal (.25 − .5)² + (1 − 0)²; every pixel
   * of a 2x2 mask touches two borders: 0.3 · 2 · Σ m². Image 1: no differences, 0.6 · 4. */
  double tv = ltv * ((0.25 + 0.5625 + 0.0625 + 1.0 + 0.6 * (0.25 + 0.0625 + 0 + 1)) + 0.6 * 4) / 2;
  TH_CHECK(fabs(t.in_ce - in_ce) < 1e-6, "in_ce %.8f vs %.8f", t.in_ce, in_ce);
  TH_CHECK(fabs(t.in_area - in_area) < 1e-6, "in_area %.8f vs %.8f", t.in_area, in_area);
  TH_CHECK(fabs(t.out_ent - out_ent) < 1e-6, "out_ent %.8f vs %.8f", t.out_ent, out_ent);
  TH_CHECK(fabs(t.out_area - out_area) < 1e-6, "out_area %.8f vs %.8f", t.out_area, out_area);
  TH_CHECK(fabs(t.tv - tv) < 1e-6, "tv %.8f vs %.8f", t.tv, tv);
  TH_CHECK(fabs(t.total - (in_ce + in_area + out_ent + out_area + tv)) < 1e-6, "total");
  TH_CHECK(fabs(t.mean_mask - (mbar0 + 1) / 2) < 1e-7, "mean mask");
  /* The gradients against central differences of the same function (in double over float inputs:
   * step 1e-3, the loss is smooth away from the indicators' switching points, tolerance 1e-3). */
  float zi2[4], zo2[4], m2[8];
  for (int which = 0; which < 3; which++) {
    int n = which == 2 ? 8 : 4;
    const float *base = which == 0 ? zi : which == 1 ? zo : m;
    const float *ana = which == 0 ? dzi : which == 1 ? dzo : dm;
    for (int i = 0; i < n; i++) {
      double f[2];
      for (int s = 0; s < 2; s++) {
        memcpy(zi2, zi, sizeof zi2), memcpy(zo2, zo, sizeof zo2), memcpy(m2, m, sizeof m2);
        float *v = which == 0 ? zi2 : which == 1 ? zo2 : m2;
        v[i] = base[i] + (s ? -1e-3f : 1e-3f);
        sal__masker_terms u;
        sal__masker_loss(B, K, H, W, y, z, zi2, zo2, m2, lin, lout, ltv, &u, NULL, NULL, NULL);
        f[s] = u.total;
      }
      double num = (f[0] - f[1]) / 2e-3;
      TH_CHECK(fabs(num - ana[i]) < 1e-3, "loss gradient %d[%d]: analytic %g numeric %g", which, i, (double)ana[i], num);
    }
  }
}

/* ---- d loss / d masker parameters through the classifier ---- */
static void test_gradcheck(void) {
  sal_ctx *ctx = th_ctx();
  const int64_t S = 16, B = 3, K = 3;
  sal_graph *C = classifier("simple_cnn", S, 4, K, 11);
  char taps[2][SAL_MASKER_NAME];
  TH_OK(sal_masker_taps(ctx, C, NULL, taps));
  const char *tp[2] = {taps[0], taps[1]};
  sal_graph *M = NULL;
  TH_OK(sal_masker_build(ctx, C, tp, 2, &M));
  sal__mstep *s = NULL;
  /* Reference kernels (the oracle); λ_tv large enough that TV contributes visibly. */
  TH_OK(sal__mstep_new(ctx, C, M, tp, B, 1.0f, 10.0f, 0.05f, SAL_KERNELS_REF, &s));
  if (!s) {
    sal_graph_free(M);
    sal_graph_free(C);
    return;
  }
  sal_tensor *x = randn(B, 3, S, S, 4);
  const int64_t y[3] = {0, 1, 2};
  sal__masker_terms t;
  TH_OK(sal__mstep_run(s, x->data, y, true, &t));
  const char *params[] = {"masker.tap0.conv.weight", "masker.tap1.conv.weight", "masker.tap0.bn.weight",
                          "masker.tap1.bn.bias", "masker.out.weight", "masker.out.bias"};
  enum { NP = sizeof params / sizeof params[0] };
  float *ana[NP] = {0};
  /* The analytic gradients first: the perturbed forwards below invalidate the plan's gradients. */
  for (int k = 0; k < NP; k++) {
    const sal_tensor *gr = NULL;
    TH_OK(sal_plan_grad(sal__mstep_masker_plan(s), params[k], &gr));
    if (!gr) continue;
    ana[k] = malloc((size_t)sal_tensor_numel(gr) * sizeof(float));
    if (ana[k]) memcpy(ana[k], gr->data, (size_t)sal_tensor_numel(gr) * sizeof(float));
  }
  int checked = 0, bad = 0;
  double worst = 0;
  for (int k = 0; k < NP; k++) {
    sal_tensor w;
    TH_OK(sal_graph_param(M, params[k], &w));
    if (!ana[k]) continue;
    int64_t n = sal_tensor_numel(&w), stride = n > 6 ? n / 6 : 1;
    for (int64_t i = 0; i < n; i += stride) {
      float keep = w.data[i];
      double f[2];
      const float h = 1e-2f;
      for (int sgn = 0; sgn < 2; sgn++) {
        w.data[i] = keep + (sgn ? -h : h);
        sal_plan_params_changed(sal__mstep_masker_plan(s));
        sal__masker_terms u;
        TH_OK(sal__mstep_run(s, x->data, y, false, &u));
        f[sgn] = u.total;
      }
      w.data[i] = keep;
      sal_plan_params_changed(sal__mstep_masker_plan(s));
      double num = (f[0] - f[1]) / (2.0 * h), a = ana[k][i];
      /* f32 network, loss in double: central differences with h = 1e-2 carry O(h²) curvature and
       * ~1e-6/h rounding; 5 % of the gradient plus 2e-4 absolute covers both. */
      double err = fabs(num - a) / (fabs(a) + 4e-3);
      if (err > worst) worst = err;
      if (fabs(num - a) > 0.05 * fabs(a) + 2e-4) {
        bad++;
        fprintf(stderr, "  %s[%lld]: analytic %.6g numeric %.6g\n", params[k], (long long)i, a, num);
      }
      checked++;
    }
    free(ana[k]);
  }
  printf("  masker gradcheck: %d entries, worst relative error %.3g, loss %.5f\n", checked, worst, t.total);
  TH_CHECK(checked >= 20 && bad == 0, "masker parameter gradients: %d of %d entries off", bad, checked);
  sal_tensor_free(x);
  sal__mstep_free(s);
  sal_graph_free(M);
  sal_graph_free(C);
}

/* ---- training runs on a tiny synthetic set ---- */
static sal_dataset *tiny_data(void) {
  static char dir[512];
  th_tmp_path(dir, sizeof dir, "shapes");
  sal_synth_params p = sal_synth_params_default(SAL_SYNTH_SHAPES);
  p.size = 32;
  p.count[SAL_SYNTH_TRAIN] = th_quick() ? 40 : 80;
  p.count[SAL_SYNTH_VAL] = 0;
  p.count[SAL_SYNTH_TEST] = 0;
  p.threads = 2;
  TH_OK(sal_synth_generate(th_ctx(), &p, dir));
  char path[600];
  snprintf(path, sizeof path, "%s/train.csv", dir);
  sal_dataset *ds = NULL;
  TH_OK(sal_dataset_open(th_ctx(), path, NULL, &ds));
  return ds;
}

static sal_preprocess pp32(void) {
  sal_preprocess pp = sal_preprocess_default();
  pp.resize = 0;
  pp.resize_w = pp.resize_h = 32;
  pp.crop_w = pp.crop_h = 0;
  pp.channels = 3;
  for (int c = 0; c < 3; c++) pp.mean[c] = 0.5f, pp.std[c] = 0.25f;
  return pp;
}

/* Every tensor of a and b named with prefix is bit-identical (and there is at least one). */
static bool same_tensors(const char *a, const char *b, const char *prefix) {
  sal_safetensors *x = NULL, *y = NULL;
  TH_OK(sal_safetensors_read(th_ctx(), a, &x));
  TH_OK(sal_safetensors_read(th_ctx(), b, &y));
  bool same = x && y && sal_safetensors_count(x) == sal_safetensors_count(y);
  int n = 0;
  for (int i = 0; same && i < sal_safetensors_count(x); i++) {
    const char *name = sal_safetensors_name(x, i);
    if (strncmp(name, prefix, strlen(prefix)) != 0) continue;
    const sal_tensor *t = sal_safetensors_tensor(x, i), *u = sal_safetensors_find(y, name);
    same = u && sal_shape_equal(&t->shape, &u->shape) &&
           memcmp(t->data, u->data, (size_t)sal_tensor_numel(t) * sizeof(float)) == 0;
    if (!same) fprintf(stderr, "  tensor %s differs\n", name);
    n++;
  }
  sal_safetensors_free(x);
  sal_safetensors_free(y);
  return same && n > 0;
}

static void test_training(sal_dataset *ds) {
  sal_ctx *ctx = th_ctx();
  sal_preprocess pp = pp32();
  char out[512], a[512], b[512], ca1[512], ca2[512], cb1[512], cb2[512], onnx[512];
  th_tmp_path(out, sizeof out, "fix.safetensors");
  /* FIX: the classifier is bit-identical afterwards; the masker changed. */
  sal_graph *C = classifier("simple_cnn", 32, 4, 10, 21), *C0 = NULL;
  TH_OK(sal_graph_clone(C, &C0));
  sal_masker_train_opts o = sal_masker_train_opts_default();
  o.epochs = 1;
  o.batch = 8;
  o.out = out;
  o.quiet = true;
  sal_masker_train_report rep;
  TH_OK(sal_masker_train(ctx, C, NULL, ds, &pp, &o, &rep));
  TH_CHECK(rep.epochs_done == 1 && rep.steps == ds->n_items / 8 && isfinite(rep.last_loss), "FIX report: %lld epochs %lld steps",
           (long long)rep.epochs_done, (long long)rep.steps);
  bool same = true;
  const char *names[] = {"block1.conv.weight", "block3.bn.running_mean", "block4.bn.running_var", "fc.weight", "fc.bias"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    sal_tensor p, q;
    TH_OK(sal_graph_param(C, names[i], &p));
    TH_OK(sal_graph_param(C0, names[i], &q));
    same = same && memcmp(p.data, q.data, (size_t)sal_tensor_numel(&p) * sizeof(float)) == 0;
  }
  TH_CHECK(same && sal_masker_fingerprint(C) == sal_masker_fingerprint(C0), "FIX leaves the classifier bit-identical");
  /* The trained masker loads, checks against its classifier and not against another one. */
  sal_masker *mk = NULL;
  TH_OK(sal_masker_load(ctx, out, &mk));
  if (mk) {
    TH_CHECK(strcmp(sal_masker_tap(mk, 0), "block3") == 0 && strcmp(sal_masker_mode_name(mk), "fix") == 0, "masker metadata");
    TH_OK(sal_masker_check(ctx, mk, C));
    sal_graph *other = classifier("simple_cnn", 32, 4, 10, 22), *res = classifier("resnet_small", 32, 4, 10, 22);
    TH_FAILS(sal_masker_check(ctx, mk, other), SAL_STATUS_BAD_INPUT, "trained for another classifier");
    TH_FAILS(sal_masker_check(ctx, mk, res), SAL_STATUS_BAD_INPUT, "has no 4-D activation 'block3'");
    /* explain: the map is the combined graph's mask, whatever the target; batch invariant */
    sal_tensor *x = randn(3, 3, 32, 32, 9);
    sal_method_params p = th_method_params("masker");
    sal_explanation e1, e2;
    TH_FAILS(sal_explain_run(ctx, C, x, NULL, &p, &e1), SAL_STATUS_BAD_INPUT, "no trained masker given");
    p.masker = mk;
    TH_FAILS(sal_explain_run(ctx, other, x, NULL, &p, &e1), SAL_STATUS_BAD_INPUT, "another classifier");
    int64_t tg[3] = {1, 2, 3};
    p.max_memory = 1; /* one image per pass */
    TH_OK(sal_explain_run(ctx, C, x, NULL, &p, &e1));
    p.max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
    TH_OK(sal_explain_run(ctx, C, x, tg, &p, &e2));
    TH_CHECK(e1.raw && e2.raw && memcmp(e1.raw->data, e2.raw->data, 3 * 32 * 32 * sizeof(float)) == 0,
             "masker map: same for every target and batch size");
    TH_CHECK(e2.targets && e2.targets[1] == 2, "explicit targets kept");
    /* ONNX round trip: the re-imported combined graph gives the same logits and mask, and method
     * masker reads its mask output without a masker object. */
    sal_graph *comb = NULL, *back = NULL;
    th_tmp_path(onnx, sizeof onnx, "comb.onnx");
    TH_OK(sal_masker_combine(ctx, mk, C, &comb));
    if (comb) TH_OK(sal_onnx_save(ctx, comb, onnx));
    TH_OK(sal_onnx_load(ctx, onnx, NULL, &back));
    if (back) {
      TH_CHECK(sal_graph_num_outputs(back) == 2 && strcmp(sal_graph_output_name(back, 1), "mask") == 0, "ONNX outputs");
      sal_method_params q = th_method_params("masker");
      sal_explanation e3;
      TH_OK(sal_explain_run(ctx, back, x, NULL, &q, &e3));
      TH_CHECK(e3.raw && e1.raw && th_allclose("onnx mask", e3.raw->data, e1.raw->data, 3 * 32 * 32, 1e-5, 1e-6),
               "ONNX round trip reproduces the mask");
      TH_CHECK(e3.scores && fabsf(e3.scores[0] - e1.scores[0]) < 1e-4f, "ONNX round trip reproduces the logits");
      sal_explanation_clear(&e3);
    }
    sal_graph_free(back);
    sal_graph_free(comb);
    sal_explanation_clear(&e1);
    sal_explanation_clear(&e2);
    sal_tensor_free(x);
    sal_graph_free(other);
    sal_graph_free(res);
    sal_masker_free(mk);
  }
  /* Resume equivalence, FIX: 2 epochs straight vs 1 + resume. */
  th_tmp_path(a, sizeof a, "a.safetensors");
  th_tmp_path(b, sizeof b, "b.safetensors");
  o.epochs = 2;
  o.out = a;
  TH_OK(sal_masker_train(ctx, C, NULL, ds, &pp, &o, &rep));
  o.out = b;
  o.stop_after = 1;
  TH_OK(sal_masker_train(ctx, C, NULL, ds, &pp, &o, &rep));
  TH_CHECK(rep.epochs_done == 1, "stopped after 1 epoch");
  o.stop_after = 0;
  o.resume = b;
  TH_OK(sal_masker_train(ctx, C, NULL, ds, &pp, &o, &rep));
  TH_CHECK(rep.epochs_done == 2, "resumed to 2 epochs");
  TH_CHECK(same_tensors(a, b, ""), "FIX: resumed masker and optimiser state bit-identical to the uninterrupted run");
  /* A resume with another configuration is refused, naming the setting. */
  o.lambda_tv = 2e-3f;
  TH_FAILS(sal_masker_train(ctx, C, NULL, ds, &pp, &o, &rep), SAL_STATUS_BAD_INPUT, "lambda_tv");
  o.lambda_tv = 1e-3f;
  o.resume = NULL;
  /* CA: the classifier changes; resume reproduces both. Each run starts from the same classifier. */
  th_tmp_path(ca1, sizeof ca1, "ca1.safetensors");
  th_tmp_path(cb1, sizeof cb1, "cb1.safetensors");
  th_tmp_path(ca2, sizeof ca2, "ca1.classifier.safetensors");
  th_tmp_path(cb2, sizeof cb2, "cb1.classifier.safetensors");
  o.mode = SAL_MASKER_CA;
  sal_graph *Ca = NULL, *Cb = NULL;
  TH_OK(sal_graph_clone(C0, &Ca));
  TH_OK(sal_graph_clone(C0, &Cb));
  o.out = ca1;
  o.classifier_out = ca2;
  TH_OK(sal_masker_train(ctx, Ca, "{\"format\":\"salient-checkpoint\"}", ds, &pp, &o, &rep));
  TH_CHECK(sal_masker_fingerprint(Ca) != sal_masker_fingerprint(C0), "CA changes the classifier");
  o.out = cb1;
  o.classifier_out = cb2;
  o.stop_after = 1;
  TH_OK(sal_masker_train(ctx, Cb, "{\"format\":\"salient-checkpoint\"}", ds, &pp, &o, &rep));
  sal_graph_free(Cb);
  TH_OK(sal_graph_clone(C0, &Cb));
  o.stop_after = 0;
  o.resume = cb1;
  TH_OK(sal_masker_train(ctx, Cb, "{\"format\":\"salient-checkpoint\"}", ds, &pp, &o, &rep));
  TH_CHECK(same_tensors(ca1, cb1, "") && same_tensors(ca2, cb2, ""), "CA: resumed masker and classifier bit-identical");
  TH_CHECK(sal_masker_fingerprint(Ca) == sal_masker_fingerprint(Cb), "CA: resumed in-memory classifier identical");
  sal_masker *mca = NULL;
  TH_OK(sal_masker_load(ctx, ca1, &mca));
  if (mca) {
    TH_OK(sal_masker_check(ctx, mca, Ca));
    TH_FAILS(sal_masker_check(ctx, mca, C0), SAL_STATUS_BAD_INPUT, "co-trained");
  }
  sal_masker_free(mca);
  sal_graph_free(Ca);
  sal_graph_free(Cb);
  sal_graph_free(C0);
  sal_graph_free(C);
}

static void test_per_class(sal_dataset *ds) {
  int64_t *a = NULL, *b = NULL, *c = NULL, na = 0, nb = 0, nc = 0;
  TH_OK(sal__masker_per_class(th_ctx(), ds, 2, 5, &a, &na));
  TH_OK(sal__masker_per_class(th_ctx(), ds, 2, 5, &b, &nb));
  TH_OK(sal__masker_per_class(th_ctx(), ds, 2, 6, &c, &nc));
  int64_t per[64] = {0}, want = 0, have[64] = {0};
  for (int64_t i = 0; i < ds->n_items; i++) have[ds->items[i].label]++;
  for (int64_t k = 0; k < ds->n_classes; k++) want += have[k] < 2 ? have[k] : 2;
  bool sorted = true;
  for (int64_t i = 0; a && i < na; i++) {
    per[ds->items[a[i]].label]++;
    if (i) sorted = sorted && a[i] > a[i - 1];
  }
  bool counts = na == want;
  for (int64_t k = 0; k < ds->n_classes; k++) counts = counts && per[k] == (have[k] < 2 ? have[k] : 2);
  TH_CHECK(counts && sorted, "per-class 2: %lld items (want %lld), at most 2 per class, in dataset order", (long long)na,
           (long long)want);
  TH_CHECK(na == nb && a && b && memcmp(a, b, (size_t)na * sizeof *a) == 0, "per-class selection is deterministic");
  TH_CHECK(na == nc && a && c && memcmp(a, c, (size_t)na * sizeof *a) != 0, "another seed selects other images");
  sal_free(a);
  sal_free(b);
  sal_free(c);
  /* few-shot training uses exactly those images */
  char out[512];
  th_tmp_path(out, sizeof out, "few.safetensors");
  sal_graph *C = classifier("simple_cnn", 32, 4, 10, 21);
  sal_masker_train_opts o = sal_masker_train_opts_default();
  o.epochs = 1;
  o.per_class = 2;
  o.out = out;
  o.quiet = true;
  sal_preprocess pp = pp32();
  sal_masker_train_report rep;
  TH_OK(sal_masker_train(th_ctx(), C, NULL, ds, &pp, &o, &rep));
  TH_CHECK(rep.n_train == want && rep.steps == 1, "few-shot run: %lld images, %lld steps", (long long)rep.n_train,
           (long long)rep.steps);
  o.per_class = 0;
  o.batch = 0;
  TH_FAILS(sal_masker_train(th_ctx(), C, NULL, ds, &pp, &o, &rep), SAL_STATUS_BAD_INPUT, "--batch");
  sal_graph_free(C);
}

int main(void) {
  test_arch("simple_cnn", "block3", "block4");
  test_arch("resnet_small", "layer2", "layer3");
  test_loss_values();
  test_gradcheck();
  sal_dataset *ds = tiny_data();
  if (ds) {
    test_per_class(ds);
    test_training(ds);
  }
  sal_dataset_free(ds);
  return th_finish("test_masker");
}
