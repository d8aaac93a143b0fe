/* Tests of adversarial-input detection (src/eval/detect.c): the exact ROC-AUC on hand-computed
 * cases (ties, all-equal scores), the split by source image, the detector's shapes and training on
 * separable / inseparable features, feature shapes of built sets on the tiny model
 * tests/fixtures/rel_refs/model.onnx, an end-to-end run with a large ε, checkpoints and resuming,
 * the set cache, and bad inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/detect.h"
#include "salient/onnx.h"

#define FIX "tests/fixtures/"

static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};

static void test_auc(void) {
  sal_ctx *ctx = th_ctx();
  double a = -1;
  /* Perfect separation, reversed, and one swapped pair: positives {0.9, 0.3}, negatives {0.5, 0.1}:
   * pairs (0.9>0.5, 0.9>0.1, 0.3<0.5, 0.3>0.1) → 3/4. */
  const float s1[4] = {0.9f, 0.8f, 0.2f, 0.1f};
  const int64_t y1[4] = {1, 1, 0, 0}, y1r[4] = {0, 0, 1, 1};
  TH_OK(sal_roc_auc(ctx, s1, y1, NULL, 4, &a));
  TH_CHECK(a == 1.0, "separable: %g", a);
  TH_OK(sal_roc_auc(ctx, s1, y1r, NULL, 4, &a));
  TH_CHECK(a == 0.0, "reversed: %g", a);
  const float s2[4] = {0.9f, 0.5f, 0.3f, 0.1f};
  const int64_t y2[4] = {1, 0, 1, 0};
  TH_OK(sal_roc_auc(ctx, s2, y2, NULL, 4, &a));
  TH_CHECK(a == 0.75, "one swapped pair: %g", a);
  /* Ties: positives {0.5, 0.7}, negatives {0.5, 0.5, 0.2}: 0.5 vs (0.5, 0.5, 0.2) = ½ + ½ + 1,
   * 0.7 vs all = 3 → 5 / 6. */
  const float s3[5] = {0.5f, 0.7f, 0.5f, 0.5f, 0.2f};
  const int64_t y3[5] = {1, 1, 0, 0, 0};
  TH_OK(sal_roc_auc(ctx, s3, y3, NULL, 5, &a));
  TH_CHECK(fabs(a - 5.0 / 6.0) < 1e-12, "ties: %g", a);
  /* All scores equal: every pair is a tie → ½. */
  const float s4[6] = {3, 3, 3, 3, 3, 3};
  const int64_t y4[6] = {0, 1, 1, 0, 1, 0};
  TH_OK(sal_roc_auc(ctx, s4, y4, NULL, 6, &a));
  TH_CHECK(a == 0.5, "all equal: %g", a);
  /* use[] leaves the swapped pair out of case 2: positives {0.9}, negatives {0.5, 0.1} → 1. */
  const bool use2[4] = {true, true, false, true};
  TH_OK(sal_roc_auc(ctx, s2, y2, use2, 4, &a));
  TH_CHECK(a == 1.0, "use: %g", a);
  /* Bad inputs. */
  const int64_t yb[4] = {1, 2, 0, 0}, yp[4] = {1, 1, 1, 1};
  TH_FAILS(sal_roc_auc(ctx, s1, yb, NULL, 4, &a), SAL_STATUS_BAD_INPUT, "label 2");
  TH_FAILS(sal_roc_auc(ctx, s1, yp, NULL, 4, &a), SAL_STATUS_BAD_INPUT, "both are needed");
  const float sn[4] = {0.1f, NAN, 0.2f, 0.3f};
  TH_FAILS(sal_roc_auc(ctx, sn, y1, NULL, 4, &a), SAL_STATUS_BAD_INPUT, "no NaN");
}

/* The split: the asked fraction, deterministic in the seed, different for another seed, and the
 * two items of a source always on one side. */
static void test_split(void) {
  sal_ctx *ctx = th_ctx();
  enum { S = 40 };
  bool a[S], b[S], c[S];
  TH_OK(sal_detect_split(ctx, S, 0.5, 7, a));
  TH_OK(sal_detect_split(ctx, S, 0.5, 7, b));
  TH_OK(sal_detect_split(ctx, S, 0.5, 8, c));
  int na = 0, same = 1, diff = 0;
  for (int i = 0; i < S; i++) na += a[i], same &= a[i] == b[i], diff += a[i] != c[i];
  TH_CHECK(na == 20, "train sources %d of 40", na);
  TH_CHECK(same && diff > 0, "split deterministic in its seed (%d differ for another seed)", diff);
  /* Items 2i, 2i + 1 share source i: their side is train_source[i] for both. */
  int64_t source[2 * S];
  for (int i = 0; i < 2 * S; i++) source[i] = i / 2;
  int apart = 0;
  for (int i = 0; i < S; i++) apart += a[source[2 * i]] != a[source[2 * i + 1]];
  TH_CHECK(apart == 0, "%d pairs split apart", apart);
  bool d[3];
  TH_OK(sal_detect_split(ctx, 3, 0.01, 1, d));
  TH_CHECK(d[0] + d[1] + d[2] == 1, "at least one training source");
  TH_OK(sal_detect_split(ctx, 3, 0.99, 1, d));
  TH_CHECK(d[0] + d[1] + d[2] == 2, "at least one held-out source");
  TH_FAILS(sal_detect_split(ctx, 1, 0.5, 1, d), SAL_STATUS_BAD_INPUT, "at least 2");
  TH_FAILS(sal_detect_split(ctx, 4, 1.0, 1, d), SAL_STATUS_BAD_INPUT, "train fraction");
}

/* Features (2S, F, G, G): item 2i clean, 2i + 1 attacked; with `signal` the attacked ones carry a
 * bright 3×3 patch at a random place, else both copies are the same noise (clean/clean pairs). */
static sal_tensor *toy_features(int64_t S, int64_t F, int64_t G, bool signal, int64_t *labels) {
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(th_ctx(), 4, (int64_t[]){2 * S, F, G, G}, &x));
  if (!x) return NULL;
  const int64_t per = F * G * G;
  sal_rng_uniform(5, 1, 0, x->data, 2 * S * per);
  for (int64_t i = 0; i < S; i++) {
    labels[2 * i] = 0, labels[2 * i + 1] = 1;
    if (!signal) memcpy(x->data + (2 * i + 1) * per, x->data + 2 * i * per, (size_t)per * sizeof(float));
    if (!signal) continue;
    int64_t r = (i * 7) % (G - 2), c = (i * 3) % (G - 2);
    for (int64_t f = 0; f < F; f++)
      for (int64_t u = 0; u < 3; u++)
        for (int64_t v = 0; v < 3; v++) x->data[(2 * i + 1) * per + f * G * G + (r + u) * G + c + v] += 2.0f;
  }
  return x;
}

/* Detector trained on the training half, scored on the held-out half. */
static double held_out_auc(const sal_tensor *x, const int64_t *labels, int64_t S, sal_detect_opts *o) {
  sal_ctx *ctx = th_ctx();
  sal_graph *det = NULL;
  double auc = -1;
  bool *ts = calloc((size_t)S, 1), *tr = calloc((size_t)(2 * S), 1), *te = calloc((size_t)(2 * S), 1);
  float *score = calloc((size_t)(2 * S), sizeof(float));
  TH_OK(sal_detect_split(ctx, S, 0.5, o->seed, ts));
  for (int64_t i = 0; i < 2 * S; i++) tr[i] = ts[i / 2], te[i] = !ts[i / 2];
  TH_OK(sal_detect_model(ctx, x->shape.d[1], x->shape.d[2], o->width, 3, &det));
  if (det) TH_OK(sal_detect_train(ctx, det, x, labels, tr, o));
  if (det) TH_OK(sal_detect_score(ctx, det, x, score));
  if (det) TH_OK(sal_roc_auc(ctx, score, labels, te, 2 * S, &auc));
  sal_graph_free(det);
  free(ts), free(tr), free(te), free(score);
  return auc;
}

static void test_detector(void) {
  sal_ctx *ctx = th_ctx();
  enum { S = 48, F = 2, G = 8 };
  int64_t labels[2 * S];
  sal_detect_opts o = sal_detect_opts_default();
  o.quiet = true, o.epochs = th_quick() ? 15 : 30, o.width = 8, o.batch = 16, o.lr = 3e-3f;
  sal_tensor *x = toy_features(S, F, G, true, labels);
  double a = x ? held_out_auc(x, labels, S, &o) : -1;
  TH_CHECK(a > 0.9, "separable features: held-out ROC-AUC %.3f", a);
  sal_tensor_free(x);
  /* Clean/clean pairs: the two labels see identical features, so every score ties within its pair
   * and the AUC is exactly ½. */
  x = toy_features(S, F, G, false, labels);
  a = x ? held_out_auc(x, labels, S, &o) : -1;
  TH_CHECK(fabs(a - 0.5) < 1e-9, "identical pairs: held-out ROC-AUC %.3f", a);
  /* The detector's output and bad inputs. */
  sal_graph *det = NULL;
  TH_OK(sal_detect_model(ctx, F, G, 4, 1, &det));
  sal_shape s;
  if (det) TH_OK(sal_graph_value_shape(det, "logits", &s));
  TH_CHECK(det && s.ndim == 2 && s.d[1] == 2, "logits (N, 2)");
  sal_tensor *wrong = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){4, F + 1, G, G}, &wrong));
  float score[4];
  if (det && wrong) TH_FAILS(sal_detect_score(ctx, det, wrong, score), SAL_STATUS_BAD_INPUT, "other feature kind or grid");
  int64_t one_class[2 * S];
  for (int i = 0; i < 2 * S; i++) one_class[i] = 0;
  if (det && x) TH_FAILS(sal_detect_train(ctx, det, x, one_class, NULL, &o), SAL_STATUS_BAD_INPUT, "clean and attacked");
  sal_graph *bad = NULL;
  TH_FAILS(sal_detect_model(ctx, F, 1, 4, 1, &bad), SAL_STATUS_BAD_INPUT, "out of range");
  TH_CHECK(bad == NULL, "no graph on error");
  sal_tensor_free(wrong);
  sal_tensor_free(x);
  sal_graph_free(det);
}

/* Sets on the tiny 16 px model: shapes, labels, sources, the level names; large-ε FGSM on smooth
 * images is detected from gradient maps; bad options. */
static void test_sets(void) {
  sal_ctx *ctx = th_ctx();
  sal_graph *g = NULL;
  TH_OK(sal_onnx_load(ctx, FIX "rel_refs/model.onnx", NULL, &g));
  if (!g) return;
  const int64_t N = th_quick() ? 24 : 40, C = 3, S = 16, HW = S * S;
  sal_tensor *x = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){N, C, S, S}, &x));
  if (!x) return;
  /* Smooth images: a per-image colour plus a gentle ramp, in [0.3, 0.7], normalised. */
  float col[3 * 64];
  sal_rng_uniform(9, 2, 0, col, 3 * 64);
  for (int64_t i = 0; i < N; i++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t q = 0; q < HW; q++) {
        float v = 0.3f + 0.3f * col[(i % 64) * 3 + c] + 0.1f * (float)(q % S) / (float)S;
        x->data[(i * C + c) * HW + q] = (v - mean[c]) / stdv[c];
      }
  sal_detect_opts o = sal_detect_opts_default();
  o.quiet = true, o.mean = mean, o.std = stdv, o.iterations = 5, o.grid = 4;
  sal_detect_set set;
  TH_OK(sal_detect_build_set(ctx, g, x, NULL, &o, &set));
  TH_CHECK(set.n == 2 * N && set.features && set.features->shape.d[0] == 2 * N && set.features->shape.d[1] == set.n_levels &&
               set.n_levels >= 1 && set.features->shape.d[2] == 4 && set.features->shape.d[3] == 4,
           "HAF features (%lld, %lld, %lld, %lld), %d levels", set.features ? (long long)set.features->shape.d[0] : -1,
           set.features ? (long long)set.features->shape.d[1] : -1, set.features ? (long long)set.features->shape.d[2] : -1,
           set.features ? (long long)set.features->shape.d[3] : -1, set.n_levels);
  int ok = set.n == 2 * N;
  for (int64_t i = 0; ok && i < set.n; i++)
    ok = set.labels[i] == (i & 1) && set.source[i] == i / 2 && set.confidence[i] > 0 && set.confidence[i] <= 1;
  TH_CHECK(ok, "labels alternate clean / attacked, sources pair up, confidences in (0, 1]");
  int nonneg = set.features != NULL;
  for (int64_t q = 0; nonneg && q < sal_tensor_numel(set.features); q++) nonneg = set.features->data[q] >= 0;
  TH_CHECK(nonneg && set.level_names[0] != NULL, "HAF masks are non-negative and named");
  sal_detect_set_clear(&set);
  /* Gradient maps, default grid H / 4, FGSM ε = 0.25: sign noise over smooth images. */
  o.features = SAL_DETECT_GRADIENT, o.grid = 0, o.eps = 0.25f;
  TH_OK(sal_detect_build_set(ctx, g, x, NULL, &o, &set));
  TH_CHECK(set.features && set.features->shape.d[1] == 1 && set.features->shape.d[2] == 4 && set.n_levels == 0,
           "gradient features (2N, 1, 4, 4)");
  if (set.features) {
    o.width = 8, o.epochs = th_quick() ? 20 : 40, o.batch = 8, o.lr = 3e-3f;
    double a = held_out_auc(set.features, set.labels, N, &o);
    TH_CHECK(a > 0.9, "large-eps FGSM from gradient maps: held-out ROC-AUC %.3f", a);
  }
  sal_detect_set_clear(&set);
  /* PGD runs too. */
  o.attack = SAL_DETECT_PGD, o.eps = 8.0f / 255.0f;
  sal_tensor x2 = {{4, {2, C, S, S}}, x->data, SAL_LAYOUT_PLAIN, false};
  TH_OK(sal_detect_build_set(ctx, g, &x2, NULL, &o, &set));
  TH_CHECK(set.n == 4, "PGD set of 2 sources");
  sal_detect_set_clear(&set);
  /* Bad options. */
  o.eps = 0;
  TH_FAILS(sal_detect_build_set(ctx, g, x, NULL, &o, &set), SAL_STATUS_BAD_INPUT, "eps 0");
  o.eps = 1.5f;
  TH_FAILS(sal_detect_build_set(ctx, g, x, NULL, &o, &set), SAL_STATUS_BAD_INPUT, "not in (0, 1]");
  o.eps = NAN;
  TH_FAILS(sal_detect_build_set(ctx, g, x, NULL, &o, &set), SAL_STATUS_BAD_INPUT, "pixel units");
  o.eps = 0.1f, o.grid = 17;
  TH_FAILS(sal_detect_build_set(ctx, g, x, NULL, &o, &set), SAL_STATUS_BAD_INPUT, "grid 17");
  o.grid = 0, o.features = SAL_DETECT_HAF, o.iterations = 0;
  TH_FAILS(sal_detect_build_set(ctx, g, x, NULL, &o, &set), SAL_STATUS_BAD_INPUT, "iterations");
  sal_tensor_free(x);
  sal_graph_free(g);
}

/* Every parameter of detectors a and b bitwise equal. */
static bool same_params(sal_graph *a, sal_graph *b) {
  static const char *const names[] = {"norm.mean", "norm.scale", "conv1.weight", "conv1.bias", "conv2.weight",
                                      "conv2.bias", "fc.weight", "fc.bias"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    sal_tensor x, y;
    if (sal_graph_param(a, names[i], &x) || sal_graph_param(b, names[i], &y) || sal_tensor_numel(&x) != sal_tensor_numel(&y) ||
        memcmp(x.data, y.data, (size_t)sal_tensor_numel(&x) * sizeof(float)) != 0)
      return false;
  }
  return true;
}

/* Files a and b hold the same bytes. */
static bool same_file(const char *a, const char *b) {
  size_t na = 0, nb = 0;
  unsigned char *x = th_read_file(a, &na), *y = th_read_file(b, &nb);
  bool same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x), free(y);
  return same;
}

static void copy_file(const char *from, const char *to) {
  size_t n = 0;
  unsigned char *b = th_read_file(from, &n);
  if (b) th_write_file(to, b, n);
  free(b);
}

/* Trains a fresh detector (weights from seed 3) on x / labels / use with o; NULL on failure. */
static sal_graph *train_one(const sal_tensor *x, const int64_t *labels, const bool *use, const sal_detect_opts *o) {
  sal_graph *det = NULL;
  TH_OK(sal_detect_model(th_ctx(), x->shape.d[1], x->shape.d[2], o->width, 3, &det));
  if (det) TH_OK(sal_detect_train(th_ctx(), det, x, labels, use, o));
  return det;
}

/* Checkpoints: a run stopped after 2 of 4 epochs and resumed ends with the uninterrupted run's
 * weights and checkpoint bytes; a finished run resumed with more epochs equals the longer run;
 * resumes with another config, other data, fewer epochs, a truncated or foreign file fail. */
static void test_resume(void) {
  sal_ctx *ctx = th_ctx();
  enum { S = 24, F = 2, G = 8 };
  int64_t labels[2 * S];
  bool use[2 * S];
  sal_tensor *x = toy_features(S, F, G, true, labels);
  if (!x) return;
  for (int i = 0; i < 2 * S; i++) use[i] = i % 6 < 4; /* 2 of 3 sources train */
  char full[512], part[512], longer[512], ext[512], cut[512], plain[512];
  th_tmp_path(full, sizeof full, "full.safetensors");
  th_tmp_path(part, sizeof part, "part.safetensors");
  th_tmp_path(longer, sizeof longer, "longer.safetensors");
  th_tmp_path(ext, sizeof ext, "ext.safetensors");
  th_tmp_path(cut, sizeof cut, "cut.safetensors");
  th_tmp_path(plain, sizeof plain, "plain.safetensors");
  const char *meta = "{\"kind\":\"test\",\"config\":{\"x\":1}}";
  sal_detect_opts o = sal_detect_opts_default();
  o.quiet = true, o.epochs = 4, o.width = 4, o.batch = 8, o.lr = 3e-3f, o.seed = 5;
  o.checkpoint = full, o.checkpoint_meta = meta;
  sal_graph *a = train_one(x, labels, use, &o);
  o.checkpoint = part, o.stop_after = 2;
  sal_graph *b = train_one(x, labels, use, &o);
  TH_CHECK(a && b && !same_params(a, b), "a run stopped after 2 epochs differs from the 4-epoch run");
  sal_safetensors *sf = NULL;
  TH_OK(sal_safetensors_read(ctx, part, &sf));
  const char *pm = sf ? sal_safetensors_meta(sf, "salient") : NULL;
  TH_CHECK(pm && strstr(pm, "\"kind\":\"test\"") && strstr(pm, "\"x\":1") && strstr(pm, "\"epoch\":2,") &&
               strstr(pm, "\"epochs\":4") && strstr(pm, "\"steps\":8") && strstr(pm, "\"data_sha256\""),
           "the stopped checkpoint records the caller's metadata, config and progress: %s", pm ? pm : "(none)");
  sal_safetensors_free(sf);
  o.stop_after = 0, o.resume = true;
  sal_graph *c = train_one(x, labels, use, &o);
  TH_CHECK(a && c && same_params(a, c), "stopped after 2 epochs and resumed: the uninterrupted run's weights");
  TH_CHECK(same_file(full, part), "stopped after 2 epochs and resumed: the uninterrupted run's checkpoint bytes");
  sal_graph_free(a), sal_graph_free(b), sal_graph_free(c);
  /* A finished run continued to 6 epochs is the 6-epoch run. */
  copy_file(full, ext);
  o.epochs = 6, o.resume = false, o.checkpoint = longer;
  a = train_one(x, labels, use, &o);
  o.resume = true, o.checkpoint = ext;
  b = train_one(x, labels, use, &o);
  TH_CHECK(a && b && same_params(a, b) && same_file(longer, ext), "4 epochs resumed to 6: the 6-epoch run");
  sal_graph_free(a), sal_graph_free(b);
  /* Mismatches, named. */
  sal_graph *det = NULL;
  TH_OK(sal_detect_model(ctx, F, G, o.width, 3, &det));
  if (!det) return;
  o.epochs = 4, o.checkpoint = part;
  o.lr = 1e-2f;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "was trained with lr = ");
  o.lr = 3e-3f, o.checkpoint_meta = "{\"config\":{\"x\":2}}";
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "was trained with x = 1, this run has 2");
  TH_FAILS(sal_detect_resume_check(ctx, part, o.checkpoint_meta), SAL_STATUS_BAD_INPUT, "x = 1, this run has 2");
  TH_OK(sal_detect_resume_check(ctx, part, meta));
  o.checkpoint_meta = NULL;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "x = 1, this run has (none)");
  o.checkpoint_meta = meta;
  x->data[0] += 1.0f;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "other inputs (data_sha256");
  x->data[0] -= 1.0f;
  use[0] = !use[0];
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "items = 32, this run has 31");
  use[0] = !use[0];
  o.epochs = 3;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "beyond this run's 3 epochs");
  o.epochs = 4;
  /* A truncated checkpoint, a file without training metadata, none at all. */
  size_t n = 0;
  unsigned char *bytes = th_read_file(part, &n);
  if (bytes) th_write_file(cut, bytes, n / 2);
  free(bytes);
  o.checkpoint = cut;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "cut.safetensors");
  TH_FAILS(sal_detect_resume_check(ctx, cut, meta), SAL_STATUS_BAD_INPUT, "cut.safetensors");
  TH_OK(sal_checkpoint_save(ctx, plain, det, NULL, NULL));
  TH_FAILS(sal_detect_resume_check(ctx, plain, meta), SAL_STATUS_BAD_INPUT, "no detector training metadata");
  o.checkpoint = longer;
  TH_OK(sal_checkpoint_save(ctx, longer, det, NULL, NULL));
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, NULL);
  th_tmp_path(cut, sizeof cut, "none.safetensors");
  o.checkpoint = cut;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_NOT_FOUND, "resume: ");
  o.checkpoint = NULL;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "needs a checkpoint path");
  o.resume = false, o.stop_after = -1;
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "stop_after -1");
  o.stop_after = 0, o.checkpoint = part, o.checkpoint_meta = "[1]";
  TH_FAILS(sal_detect_train(ctx, det, x, labels, use, &o), SAL_STATUS_BAD_INPUT, "not a JSON object");
  sal_graph_free(det);
  sal_tensor_free(x);
}

/* The set cache: keys change with every input and option they cover; a saved set loads back
 * exactly for its key; another key, flipped bytes, truncation and a foreign file are refused. */
static void test_set_cache(void) {
  sal_ctx *ctx = th_ctx();
  enum { N = 3, F = 2, G = 4 };
  sal_tensor *img = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){N, 3, 8, 8}, &img));
  if (!img) return;
  sal_rng_uniform(3, 1, 0, img->data, sal_tensor_numel(img));
  const int64_t lab[N] = {0, 2, 1};
  sal_detect_opts o = sal_detect_opts_default();
  o.mean = mean, o.std = stdv;
  char k0[65], k1[65];
  sal_detect_set_key("cls", img, lab, &o, k0);
  sal_detect_set_key("cls", img, lab, &o, k1);
  TH_CHECK(strlen(k0) == 64 && strcmp(k0, k1) == 0, "the key is 64 hex digits and deterministic: %s", k0);
  int changed = 0;
  sal_detect_set_key("other", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  sal_detect_set_key("cls", img, NULL, &o, k1), changed += strcmp(k0, k1) != 0;
  o.eps = 8.0f / 255.0f, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  o.eps = 4.0f / 255.0f, o.iterations = 299, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  o.iterations = 300, o.grid = 4, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  o.grid = 2, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0; /* 2 = 8 / 4, the default */
  o.grid = 0, o.attack = SAL_DETECT_PGD, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  o.attack = SAL_DETECT_FGSM, o.features = SAL_DETECT_GRADIENT;
  sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  o.features = SAL_DETECT_HAF, img->data[5] += 1e-3f, sal_detect_set_key("cls", img, lab, &o, k1), changed += strcmp(k0, k1) != 0;
  TH_CHECK(changed == 8, "8 of the 9 changes (classifier, labels, eps, iterations, grid, attack, features, a pixel; not "
                         "the default grid spelt out) change the key: %d", changed);
  /* A set of N sources by hand. */
  sal_detect_set s;
  memset(&s, 0, sizeof s);
  s.n = 2 * N, s.n_sources = N;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2 * N, F, G, G}, &s.features));
  s.labels = sal_alloc(ctx, 2 * N * sizeof(int64_t));
  s.source = sal_alloc(ctx, 2 * N * sizeof(int64_t));
  s.top1 = sal_alloc(ctx, 2 * N * sizeof(int64_t));
  s.confidence = sal_alloc(ctx, 2 * N * sizeof(float));
  s.level_names[0] = sal_alloc(ctx, 8), s.level_names[1] = sal_alloc(ctx, 8);
  if (!s.features || !s.labels || !s.source || !s.top1 || !s.confidence || !s.level_names[0] || !s.level_names[1]) {
    sal_detect_set_clear(&s);
    sal_tensor_free(img);
    return;
  }
  s.n_levels = 2;
  strcpy(s.level_names[0], "conv1"), strcpy(s.level_names[1], "block4");
  sal_rng_uniform(4, 1, 0, s.features->data, sal_tensor_numel(s.features));
  for (int i = 0; i < 2 * N; i++)
    s.labels[i] = i & 1, s.source[i] = i / 2, s.top1[i] = (i * 7) % 10, s.confidence[i] = 0.5f + 0.07f * (float)i;
  char path[512], bad[512];
  th_tmp_path(path, sizeof path, "set.safetensors");
  TH_OK(sal_detect_set_save(ctx, path, k0, &s));
  sal_detect_set r;
  TH_OK(sal_detect_set_load(ctx, path, k0, &r));
  int same = r.n == s.n && r.n_sources == s.n_sources && r.features && r.n_levels == 2 &&
             sal_tensor_numel(r.features) == sal_tensor_numel(s.features) &&
             memcmp(r.features->data, s.features->data, (size_t)sal_tensor_numel(s.features) * sizeof(float)) == 0 &&
             memcmp(r.labels, s.labels, sizeof(int64_t) * 2 * N) == 0 && memcmp(r.source, s.source, sizeof(int64_t) * 2 * N) == 0 &&
             memcmp(r.top1, s.top1, sizeof(int64_t) * 2 * N) == 0 &&
             memcmp(r.confidence, s.confidence, sizeof(float) * 2 * N) == 0 && strcmp(r.level_names[0], "conv1") == 0 &&
             strcmp(r.level_names[1], "block4") == 0;
  TH_CHECK(same, "the set loads back exactly");
  sal_detect_set_clear(&r);
  TH_FAILS(sal_detect_set_load(ctx, path, k1, &r), SAL_STATUS_BAD_INPUT, "built from other inputs");
  TH_CHECK(r.features == NULL, "nothing loaded on error");
  th_tmp_path(bad, sizeof bad, "missing.safetensors");
  TH_FAILS(sal_detect_set_load(ctx, bad, k0, &r), SAL_STATUS_NOT_FOUND, NULL);
  /* One flipped bit in the data (the last tensor's last byte): the structure is intact, the
   * contents' SHA-256 is not. */
  size_t n = 0;
  unsigned char *bytes = th_read_file(path, &n);
  th_tmp_path(bad, sizeof bad, "flipped.safetensors");
  if (bytes) bytes[n - 1] ^= 1, th_write_file(bad, bytes, n);
  TH_FAILS(sal_detect_set_load(ctx, bad, k0, &r), SAL_STATUS_BAD_INPUT, "do not match their SHA-256");
  th_tmp_path(bad, sizeof bad, "cut.safetensors");
  if (bytes) th_write_file(bad, bytes, n - 100);
  TH_FAILS(sal_detect_set_load(ctx, bad, k0, &r), SAL_STATUS_BAD_INPUT, "cut.safetensors");
  free(bytes);
  /* A detector checkpoint is not a set. */
  sal_graph *det = NULL;
  TH_OK(sal_detect_model(ctx, F, G, 4, 1, &det));
  th_tmp_path(bad, sizeof bad, "det.safetensors");
  if (det) TH_OK(sal_checkpoint_save(ctx, bad, det, NULL, "{\"kind\":\"detect-adv\"}"));
  TH_FAILS(sal_detect_set_load(ctx, bad, k0, &r), SAL_STATUS_BAD_INPUT, "is not a detection set");
  s.top1[0] = (int64_t)1 << 24;
  TH_FAILS(sal_detect_set_save(ctx, path, k0, &s), SAL_STATUS_BAD_INPUT, "top-1 class");
  sal_graph_free(det);
  sal_detect_set_clear(&s);
  sal_tensor_free(img);
}

int main(void) {
  test_auc();
  test_split();
  test_detector();
  test_sets();
  test_resume();
  test_set_cache();
  return th_finish("detect");
}
