/* Training the masking model (METHODS.md §D; Phang, Park & Geras 2020): per batch, the classifier's
 * taps of the clean images feed the masker; the masked-in x⊙m and masked-out x⊙(1−m) images go
 * through the classifier; the loss's gradient flows back through the classifier to the mask and
 * into the masker (Adam). CA mode also updates the classifier (SGD). Built on plans, the loader,
 * the optimisers and checkpoints; `salient train-masker` calls sal_masker_train. */
#define _POSIX_C_SOURCE 200809L

#include "train/masker_internal.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/internal.h"
#include "salient/checkpoint.h"
#include "salient/loader.h"
#include "salient/optim.h"

/* Philox streams: few-shot selection ("mksh") and CA's coin flips ("mkca"). */
#define STREAM_FEWSHOT 0x6D6B736800000000ull
#define STREAM_COIN 0x6D6B636100000000ull
#define MAX_EPOCHS 100000
#define MAX_BATCH 4096

/* ---- the loss ---- */

/* log-softmax of a row of K logits into lp (double), max-subtracted. */
static void log_softmax(const float *z, int64_t K, double *lp) {
  double mx = z[0], s = 0;
  for (int64_t k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
  for (int64_t k = 0; k < K; k++) s += exp((double)z[k] - mx);
  double lse = mx + log(s);
  for (int64_t k = 0; k < K; k++) lp[k] = (double)z[k] - lse;
}

static int64_t argmax(const float *z, int64_t K) {
  int64_t best = 0;
  for (int64_t k = 1; k < K; k++)
    if (z[k] > z[best]) best = k;
  return best;
}

void sal__masker_loss(int64_t B, int64_t K, int64_t H, int64_t W, const int64_t *y, const float *z, const float *zi,
                      const float *zo, const float *m, float lambda_in, float lambda_out, float lambda_tv,
                      sal__masker_terms *t, float *dzi, float *dzo, float *dm) {
  memset(t, 0, sizeof *t);
  const int64_t HW = H * W;
  double lp[1024], *lpa = K <= 1024 ? lp : NULL;
  double *heap = NULL;
  if (!lpa) lpa = heap = malloc((size_t)K * sizeof(double));
  if (!lpa) {
    t->total = NAN;
    return;
  }
  for (int64_t b = 0; b < B; b++) {
    const float *mb = m + b * HW;
    double mbar = 0;
    for (int64_t p = 0; p < HW; p++) mbar += mb[p];
    mbar /= (double)HW;
    t->mean_mask += mbar / (double)B;
    bool right = argmax(z + b * K, K) == y[b];
    bool right_in = argmax(zi + b * K, K) == y[b];
    bool wrong_out = argmax(zo + b * K, K) != y[b];
    /* masked-in: CE and the area while still classified right. */
    log_softmax(zi + b * K, K, lpa);
    t->in_ce += -lpa[y[b]] / (double)B;
    if (dzi)
      for (int64_t k = 0; k < K; k++) dzi[b * K + k] = (float)((exp(lpa[k]) - (k == y[b])) / (double)B);
    t->in_area += lambda_in * (right_in ? mbar : 0) / (double)B;
    /* masked-out: maximise the entropy where the clean image is right; area once the evidence is
     * gone. dH/dz_k = −p_k (log p_k + H). */
    log_softmax(zo + b * K, K, lpa);
    double ent = 0;
    for (int64_t k = 0; k < K; k++) ent -= exp(lpa[k]) * lpa[k];
    t->out_ent += -(right ? ent : 0) / (double)B;
    if (dzo)
      for (int64_t k = 0; k < K; k++)
        dzo[b * K + k] = right ? (float)(exp(lpa[k]) * (lpa[k] + ent) / (double)B) : 0.0f;
    bool nontriv = right && wrong_out;
    t->out_area += lambda_out * (nontriv ? mbar : 0) / (double)B;
    /* TV with the border term. */
    double tv = 0;
    float *g = dm ? dm + b * HW : NULL;
    double area_g = ((right_in ? lambda_in : 0) + (nontriv ? lambda_out : 0)) / ((double)B * (double)HW);
    if (g)
      for (int64_t p = 0; p < HW; p++) g[p] = (float)area_g;
    const double wt = (double)lambda_tv / (double)B;
    for (int64_t i = 0; i < H; i++)
      for (int64_t j = 0; j < W; j++) {
        double v = mb[i * W + j];
        if (i + 1 < H) {
          double d = mb[(i + 1) * W + j] - v;
          tv += d * d;
          if (g) g[(i + 1) * W + j] += (float)(2 * wt * d), g[i * W + j] -= (float)(2 * wt * d);
        }
        if (j + 1 < W) {
          double d = mb[i * W + j + 1] - v;
          tv += d * d;
          if (g) g[i * W + j + 1] += (float)(2 * wt * d), g[i * W + j] -= (float)(2 * wt * d);
        }
        int edges = (i == 0) + (i == H - 1) + (j == 0) + (j == W - 1);
        if (edges) {
          tv += 0.3 * edges * v * v;
          if (g) g[i * W + j] += (float)(wt * 0.3 * edges * 2 * v);
        }
      }
    t->tv += wt * tv;
  }
  free(heap);
  t->total = t->in_ce + t->in_area + t->out_ent + t->out_area + t->tv;
}

/* ---- one masker loss evaluation ---- */

struct sal__mstep {
  sal_ctx *ctx;
  sal_graph *C, *M;
  const char *in, *logits, *taps[2];
  int64_t B, Cc, H, W, K;
  float lin, lout, ltv;
  sal_plan *pc;  /* C, inference, batch B: clean logits and taps */
  sal_plan *pio; /* C, inference, batch 2B, input gradients: [x⊙m; x⊙(1−m)] */
  sal_plan *pm;  /* M, training, batch B, parameter gradients */
  sal_tensor *x2, *seed2, *dm;
  float *zc;     /* (B, K) clean logits */
};

void sal__mstep_free(sal__mstep *s) {
  if (!s) return;
  sal_plan_free(s->pc);
  sal_plan_free(s->pio);
  sal_plan_free(s->pm);
  sal_tensor_free(s->x2);
  sal_tensor_free(s->seed2);
  sal_tensor_free(s->dm);
  sal_free(s->zc);
  sal_free(s);
}

sal_plan *sal__mstep_masker_plan(sal__mstep *s) { return s->pm; }
const float *sal__mstep_masked(const sal__mstep *s) { return s->x2->data; }
void sal__mstep_classifier_changed(sal__mstep *s) {
  sal_plan_params_changed(s->pc);
  sal_plan_params_changed(s->pio);
}

sal_status sal__mstep_new(sal_ctx *ctx, sal_graph *C, sal_graph *M, const char *const taps[2], int64_t B,
                          float lambda_in, float lambda_out, float lambda_tv, sal_kernels kernels, sal__mstep **out) {
  *out = NULL;
  sal__mstep *s = sal_calloc(ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  s->ctx = ctx;
  s->C = C;
  s->M = M;
  s->B = B;
  s->taps[0] = taps[0];
  s->taps[1] = taps[1];
  s->lin = lambda_in, s->lout = lambda_out, s->ltv = lambda_tv;
  s->in = sal_graph_input_name(C, 0);
  s->logits = sal_graph_output_name(C, 0);
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(C, s->in, &xs);
  if (!st) st = sal_graph_value_shape(C, s->logits, &ys);
  if (!st && (xs.ndim != 4 || ys.ndim != 2))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "masker: the classifier must map (N, C, H, W) images to (N, K) logits");
  if (st) goto fail;
  s->Cc = xs.d[1], s->H = xs.d[2], s->W = xs.d[3], s->K = ys.d[1];
  sal_plan_opts po = sal_plan_opts_default();
  po.kernels = kernels;
  po.batch = B;
  po.keep_values = taps;
  po.n_keep_values = 2;
  st = sal_plan_new(ctx, C, &po, &s->pc);
  po = sal_plan_opts_default();
  po.kernels = kernels;
  po.batch = 2 * B;
  po.grad_inputs = true;
  if (!st) st = sal_plan_new(ctx, C, &po, &s->pio);
  po = sal_plan_opts_default();
  po.kernels = kernels;
  po.batch = B;
  po.training = true;
  po.grad_params = true;
  if (!st) st = sal_plan_new(ctx, M, &po, &s->pm);
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){2 * B, s->Cc, s->H, s->W}, &s->x2);
  if (!st) st = sal_tensor_new(ctx, 2, (int64_t[]){2 * B, s->K}, &s->seed2);
  if (!st) st = sal_tensor_new(ctx, 4, (int64_t[]){B, 1, s->H, s->W}, &s->dm);
  if (!st && !(s->zc = sal_alloc(ctx, (size_t)(B * s->K) * sizeof(float)))) st = SAL_STATUS_OUT_OF_MEMORY;
  if (st) goto fail;
  *out = s;
  return SAL_STATUS_OK;
fail:
  sal__mstep_free(s);
  return st;
}

sal_status sal__mstep_run(sal__mstep *s, const float *x, const int64_t *y, bool backward, sal__masker_terms *t) {
  const int64_t B = s->B, K = s->K, HW = s->H * s->W, per = s->Cc * HW;
  sal_tensor xt = {{4, {B, s->Cc, s->H, s->W}}, (float *)x, SAL_LAYOUT_PLAIN, false};
  const sal_tensor *z = NULL, *a = NULL, *m = NULL, *z2 = NULL, *gx = NULL;
  /* Clean pass: logits and the taps, which enter the masker as inputs (detached). */
  sal_status st = sal_plan_set_input(s->pc, s->in, &xt);
  if (!st) st = sal_plan_forward(s->pc);
  if (!st) st = sal_plan_value(s->pc, s->logits, &z);
  if (!st) memcpy(s->zc, z->data, (size_t)(B * K) * sizeof(float));
  for (int i = 0; i < 2 && !st; i++) {
    st = sal_plan_value(s->pc, s->taps[i], &a);
    if (!st) st = sal_plan_set_input(s->pm, s->taps[i], a);
  }
  if (!st) st = sal_plan_forward(s->pm);
  if (!st) st = sal_plan_value(s->pm, "mask", &m); /* (B, 1, H, W) */
  if (st) return st;
  /* x2 = [x⊙m; x⊙(1−m)], the mask broadcast over channels, in normalised space. */
  float *xi = s->x2->data, *xo = s->x2->data + B * per;
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < s->Cc; c++)
      for (int64_t p = 0; p < HW; p++) {
        float v = x[b * per + c * HW + p], mv = m->data[b * HW + p];
        xi[b * per + c * HW + p] = v * mv;
        xo[b * per + c * HW + p] = v * (1.0f - mv);
      }
  st = sal_plan_set_input(s->pio, s->in, s->x2);
  if (!st) st = sal_plan_forward(s->pio);
  if (!st) st = sal_plan_value(s->pio, s->logits, &z2);
  if (st) return st;
  float *dz = backward ? s->seed2->data : NULL;
  sal__masker_loss(B, K, s->H, s->W, y, s->zc, z2->data, z2->data + B * K, m->data, s->lin, s->lout, s->ltv, t, dz,
                   dz ? dz + B * K : NULL, backward ? s->dm->data : NULL);
  if (!isfinite(t->total)) return sal_ctx_error(s->ctx, SAL_STATUS_NUMERIC, "masker: the loss is %g", t->total);
  if (!backward) return SAL_STATUS_OK;
  /* Through the classifier to its input, then to the mask: ∂L/∂m = Σ_c x ⊙ (g_in − g_out). */
  st = sal_plan_backward(s->pio, s->logits, s->seed2);
  if (!st) st = sal_plan_grad(s->pio, s->in, &gx);
  if (st) return st;
  float *dm = s->dm->data;
  for (int64_t b = 0; b < B; b++)
    for (int64_t p = 0; p < HW; p++) {
      double acc = 0;
      for (int64_t c = 0; c < s->Cc; c++) {
        int64_t e = b * per + c * HW + p;
        acc += (double)x[e] * ((double)gx->data[e] - (double)gx->data[B * per + e]);
      }
      dm[b * HW + p] += (float)acc;
    }
  return sal_plan_backward(s->pm, "mask", s->dm);
}

sal_status sal__masker_per_class(sal_ctx *ctx, const sal_dataset *ds, int64_t k, uint64_t seed, int64_t **idx, int64_t *n) {
  *idx = NULL;
  *n = 0;
  int64_t *order = NULL, cnt = 0;
  sal_status st = sal_dataset_order(ctx, ds, seed ^ STREAM_FEWSHOT, 0, true, 0, 1, &order, &cnt);
  if (st) return st;
  int64_t *taken = sal_calloc(ctx, (size_t)(ds->n_classes > 0 ? ds->n_classes : 1), sizeof *taken);
  bool *keep = sal_calloc(ctx, (size_t)(ds->n_items > 0 ? ds->n_items : 1), sizeof *keep);
  int64_t *out = sal_alloc(ctx, (size_t)(ds->n_items > 0 ? ds->n_items : 1) * sizeof *out);
  if (!taken || !keep || !out) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto done;
  }
  for (int64_t i = 0; i < cnt; i++) {
    int64_t it = order[i], lab = ds->items[it].label;
    if (lab >= 0 && lab < ds->n_classes && taken[lab] < k) taken[lab]++, keep[it] = true;
  }
  for (int64_t i = 0; i < ds->n_items; i++)
    if (keep[i]) out[(*n)++] = i;
  *idx = out;
  out = NULL;
done:
  sal_free(order);
  sal_free(taken);
  sal_free(keep);
  sal_free(out);
  return st;
}

/* ---- the training run ---- */

sal_masker_train_opts sal_masker_train_opts_default(void) {
  sal_masker_train_opts o;
  memset(&o, 0, sizeof o);
  o.mode = SAL_MASKER_FIX;
  o.epochs = 5;
  o.batch = 64;
  o.lambda_in = 1.0f;
  o.lambda_tv = 1e-3f;
  o.lr = 1e-3f;
  o.weight_decay = 1e-4f;
  o.clip_grad = 10.0f;
  o.cls_lr = 1e-3f;
  o.cls_momentum = 0.9f;
  o.skip_masked = 0.5f;
  return o;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sal_status check_opts(sal_ctx *ctx, const sal_masker_train_opts *o) {
#define BAD(...) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, __VA_ARGS__)
  if (o->mode != SAL_MASKER_FIX && o->mode != SAL_MASKER_CA) BAD("train-masker: unknown mode %d", (int)o->mode);
  if (o->epochs < 1 || o->epochs > MAX_EPOCHS) BAD("train-masker: --epochs %lld is not in 1..%d", (long long)o->epochs, MAX_EPOCHS);
  if (o->batch < 1 || o->batch > MAX_BATCH) BAD("train-masker: --batch %lld is not in 1..%d", (long long)o->batch, MAX_BATCH);
  if (o->per_class < 0) BAD("train-masker: --per-class %lld is negative", (long long)o->per_class);
  const float *f[] = {&o->lambda_in, &o->lambda_out, &o->lambda_tv, &o->weight_decay, &o->clip_grad};
  const char *fn[] = {"--lambda-in", "--lambda-out", "--lambda-tv", "--weight-decay", "--clip-grad"};
  for (int i = 0; i < 5; i++)
    if (!(*f[i] >= 0 && isfinite(*f[i]))) BAD("train-masker: %s %g must be a number >= 0", fn[i], (double)*f[i]);
  if (!(o->lr > 0 && isfinite(o->lr))) BAD("train-masker: --lr %g must be positive", (double)o->lr);
  if (!(o->cls_lr > 0 && isfinite(o->cls_lr))) BAD("train-masker: --cls-lr %g must be positive", (double)o->cls_lr);
  if (!(o->cls_momentum >= 0 && o->cls_momentum < 1)) BAD("train-masker: --cls-momentum %g is not in [0, 1)", (double)o->cls_momentum);
  if (!(o->skip_masked >= 0 && o->skip_masked <= 1)) BAD("train-masker: skip probability %g is not in [0, 1]", (double)o->skip_masked);
  if (!o->out) BAD("train-masker: no output path (--out)");
  if (o->mode == SAL_MASKER_CA && !o->classifier_out) BAD("train-masker: CA mode needs a path for the co-trained classifier");
  if (o->stop_after < 0) BAD("train-masker: stop_after %lld is negative", (long long)o->stop_after);
  return SAL_STATUS_OK;
#undef BAD
}

typedef struct mtrainer {
  sal_ctx *ctx;
  const sal_masker_train_opts *o;
  sal_graph *C, *M;
  char taps[2][SAL_MASKER_NAME];
  const char *tap_names[2];
  const char *in, *logits;
  float lout;
  int64_t B, K, H, W, steps_per_epoch, epoch;
  sal_dataset sub;       /* the training items used (few-shot: a subset; items borrowed) */
  sal_loader *ld;
  sal__mstep *ms;
  sal_optim *om, *oc;
  sal_plan *pt1, *pt2;   /* CA: C in training mode, batch B (clean) and 2B (masked) */
  sal_tensor *seed1, *seed2;
  uint64_t fp0;          /* the classifier's fingerprint when the run started (CA: before co-training) */
  cJSON *config;
} mtrainer;

static cJSON *config_json(const mtrainer *t) {
  const sal_masker_train_opts *o = t->o;
  cJSON *c = cJSON_CreateObject();
  cJSON_AddStringToObject(c, "mode", o->mode == SAL_MASKER_CA ? "ca" : "fix");
  cJSON_AddNumberToObject(c, "epochs", (double)o->epochs);
  cJSON_AddNumberToObject(c, "batch", (double)t->B);
  cJSON_AddNumberToObject(c, "per_class", (double)o->per_class);
  cJSON_AddNumberToObject(c, "n_train", (double)t->sub.n_items);
  cJSON_AddNumberToObject(c, "lambda_in", (double)o->lambda_in);
  cJSON_AddNumberToObject(c, "lambda_out", (double)t->lout);
  cJSON_AddNumberToObject(c, "lambda_tv", (double)o->lambda_tv);
  cJSON_AddNumberToObject(c, "lr", (double)o->lr);
  cJSON_AddNumberToObject(c, "weight_decay", (double)o->weight_decay);
  cJSON_AddNumberToObject(c, "clip_grad", (double)o->clip_grad);
  if (o->mode == SAL_MASKER_CA) {
    cJSON_AddNumberToObject(c, "cls_lr", (double)o->cls_lr);
    cJSON_AddNumberToObject(c, "cls_momentum", (double)o->cls_momentum);
    cJSON_AddNumberToObject(c, "skip_masked", (double)o->skip_masked);
  }
  cJSON_AddNumberToObject(c, "seed", (double)o->seed);
  return c;
}

static char *fp_hex(uint64_t fp, char buf[17]) {
  snprintf(buf, 17, "%016llx", (unsigned long long)fp);
  return buf;
}

static char *masker_meta(const mtrainer *t, double loss) {
  cJSON *m = cJSON_CreateObject();
  char hex[17];
  cJSON_AddStringToObject(m, "format", "salient-masker");
  cJSON_AddNumberToObject(m, "format_version", 1);
  cJSON_AddStringToObject(m, "mode", t->o->mode == SAL_MASKER_CA ? "ca" : "fix");
  cJSON *taps = cJSON_AddArrayToObject(m, "taps"), *shapes = cJSON_AddArrayToObject(m, "tap_shapes");
  for (int i = 0; i < 2; i++) {
    sal_shape s;
    sal_graph_value_shape(t->C, t->taps[i], &s);
    cJSON_AddItemToArray(taps, cJSON_CreateString(t->taps[i]));
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; d < 4; d++) cJSON_AddItemToArray(a, cJSON_CreateNumber(d == 0 ? 1.0 : (double)s.d[d]));
    cJSON_AddItemToArray(shapes, a);
  }
  cJSON *size = cJSON_AddArrayToObject(m, "image_size");
  cJSON_AddItemToArray(size, cJSON_CreateNumber((double)t->H));
  cJSON_AddItemToArray(size, cJSON_CreateNumber((double)t->W));
  cJSON_AddStringToObject(m, "classifier_fingerprint", fp_hex(sal_masker_fingerprint(t->C), hex));
  cJSON_AddStringToObject(m, "initial_classifier_fingerprint", fp_hex(t->fp0, hex));
  if (t->o->mode == SAL_MASKER_CA) cJSON_AddStringToObject(m, "classifier", t->o->classifier_out);
  cJSON_AddItemToObject(m, "config", cJSON_Duplicate(t->config, true));
  cJSON_AddNumberToObject(m, "epoch", (double)t->epoch);
  cJSON_AddNumberToObject(m, "steps", (double)sal_optim_steps(t->om));
  cJSON_AddNumberToObject(m, "train_loss", loss);
  cJSON_AddStringToObject(m, "data", t->sub.source ? t->sub.source : "");
  char *s = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return s;
}

/* The co-trained classifier's metadata: the original's with "masker_epoch" set. */
static char *classifier_meta(const mtrainer *t, const char *orig) {
  cJSON *m = orig ? cJSON_Parse(orig) : NULL;
  if (!m) m = cJSON_CreateObject();
  cJSON_DeleteItemFromObjectCaseSensitive(m, "masker_epoch");
  cJSON_AddNumberToObject(m, "masker_epoch", (double)t->epoch);
  char *s = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  return s;
}

static sal_status resume(mtrainer *t) {
  sal_ctx *ctx = t->ctx;
  const char *path = t->o->resume;
  char *meta = NULL;
  sal_status st = sal_checkpoint_load(ctx, path, t->M, t->om, &meta);
  if (st) return sal_ctx_error_prefix(ctx, st, "resume: ");
  cJSON *m = cJSON_Parse(meta);
  sal_free(meta);
  const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(m, "config");
  const cJSON *ep = cJSON_GetObjectItemCaseSensitive(m, "epoch");
  const cJSON *fp0 = cJSON_GetObjectItemCaseSensitive(m, "initial_classifier_fingerprint");
  const cJSON *fp = cJSON_GetObjectItemCaseSensitive(m, "classifier_fingerprint");
  char hex[17];
  if (!cJSON_IsObject(cfg) || !cJSON_IsNumber(ep) || !cJSON_IsString(fp0) || !cJSON_IsString(fp)) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s is not a masker checkpoint", path);
    goto done;
  }
  for (const cJSON *want = t->config->child; want; want = want->next) {
    const cJSON *have = cJSON_GetObjectItemCaseSensitive(cfg, want->string);
    if (!have || !cJSON_Compare(have, want, true)) {
      char *a = have ? cJSON_PrintUnformatted(have) : NULL, *b = cJSON_PrintUnformatted(want);
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was trained with %s = %s, this run has %s", path, want->string,
                         a ? a : "(missing)", b ? b : "?");
      cJSON_free(a);
      cJSON_free(b);
      goto done;
    }
  }
  if (strcmp(fp0->valuestring, fp_hex(t->fp0, hex)) != 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was started from another classifier", path);
    goto done;
  }
  t->epoch = (int64_t)ep->valuedouble;
  if (t->o->mode == SAL_MASKER_CA) {
    char *cm = NULL;
    st = sal_checkpoint_load(ctx, t->o->classifier_out, t->C, t->oc, &cm);
    if (st) {
      sal_ctx_error_prefix(ctx, st, "resume: the co-trained classifier: ");
      goto done;
    }
    cJSON *c = cJSON_Parse(cm);
    sal_free(cm);
    const cJSON *me = cJSON_GetObjectItemCaseSensitive(c, "masker_epoch");
    bool ok = cJSON_IsNumber(me) && (int64_t)me->valuedouble == t->epoch;
    cJSON_Delete(c);
    if (!ok) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s is not at the masker's epoch %lld (an interrupted save?)",
                         t->o->classifier_out, (long long)t->epoch);
      goto done;
    }
  }
  if (strcmp(fp->valuestring, fp_hex(sal_masker_fingerprint(t->C), hex)) != 0) {
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s was trained with another classifier", path);
    goto done;
  }
  if (t->epoch < 0 || t->epoch > t->o->epochs || sal_optim_steps(t->om) != t->epoch * t->steps_per_epoch)
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resume: %s is at epoch %lld, step %lld, which this run (%lld steps per epoch) "
                       "cannot continue", path, (long long)t->epoch, (long long)sal_optim_steps(t->om),
                       (long long)t->steps_per_epoch);
done:
  cJSON_Delete(m);
  return st;
}

/* Softmax cross-entropy seed (softmax − onehot) / n for rows of z with labels y into seed. */
static void ce_seed(const float *z, const int64_t *y, int64_t rows, int64_t K, double n, float *seed) {
  double lp[1024]; /* K <= 1024: checked by sal_masker_train */
  for (int64_t r = 0; r < rows; r++) {
    log_softmax(z + r * K, K, lp);
    for (int64_t k = 0; k < K; k++) seed[r * K + k] = (float)((exp(lp[k]) - (k == y[r])) / n);
  }
}

/* CA: one SGD update of the classifier on rows of x (clean: B; masked: 2B with labels repeated). */
static sal_status classifier_update(mtrainer *t, sal_plan *p, sal_tensor *seed, const float *x, const int64_t *y, int64_t rows) {
  sal_tensor xt = {{4, {rows, 0, t->H, t->W}}, (float *)x, SAL_LAYOUT_PLAIN, false};
  sal_shape xs;
  sal_graph_value_shape(t->C, t->in, &xs);
  xt.shape.d[1] = xs.d[1];
  const sal_tensor *z = NULL;
  sal_status st = sal_plan_set_input(p, t->in, &xt);
  if (!st) st = sal_plan_forward(p);
  if (!st) st = sal_plan_value(p, t->logits, &z);
  if (st) return st;
  ce_seed(z->data, y, rows, t->K, (double)rows, seed->data);
  st = sal_plan_backward(p, t->logits, seed);
  if (!st) st = sal_optim_step(t->oc, p, t->o->cls_lr);
  return st;
}

static sal_status train_epoch(mtrainer *t, sal__masker_terms *mean, int64_t *y2) {
  sal_ctx *ctx = t->ctx;
  const sal_masker_train_opts *o = t->o;
  sal_progress *pr = NULL;
  memset(mean, 0, sizeof *mean);
  sal_status st = sal_loader_epoch(t->ld, t->epoch);
  char label[48];
  snprintf(label, sizeof label, "masker epoch %lld/%lld", (long long)(t->epoch + 1), (long long)o->epochs);
  if (!st && !o->quiet) st = sal_progress_start(ctx, label, t->steps_per_epoch * t->B, &pr);
  const sal_batch *b = NULL;
  int64_t step = 0;
  while (!st && !(st = sal_loader_next(t->ld, &b)) && b) {
    sal__masker_terms tm;
    st = sal__mstep_run(t->ms, b->images->data, b->labels, true, &tm);
    if (!st) st = sal_optim_step(t->om, sal__mstep_masker_plan(t->ms), o->lr);
    if (st) break;
    if (o->mode == SAL_MASKER_CA) {
      /* The coin of global step s: Philox(seed, "mkca", s); the masked update runs when u >= skip. */
      uint32_t r[4];
      sal_philox(o->seed, STREAM_COIN, (uint64_t)(sal_optim_steps(t->om) - 1), r);
      double u = (double)r[0] / 4294967296.0;
      st = classifier_update(t, t->pt1, t->seed1, b->images->data, b->labels, t->B);
      if (!st && u >= o->skip_masked) {
        for (int64_t i = 0; i < t->B; i++) y2[i] = y2[t->B + i] = b->labels[i];
        st = classifier_update(t, t->pt2, t->seed2, sal__mstep_masked(t->ms), y2, 2 * t->B);
        if (!st) sal_plan_params_changed(t->pt1);
      }
      if (!st) sal_plan_params_changed(t->pt2);
      sal__mstep_classifier_changed(t->ms);
      if (st) break;
    }
    step++;
    mean->total += tm.total, mean->in_ce += tm.in_ce, mean->in_area += tm.in_area, mean->out_ent += tm.out_ent;
    mean->out_area += tm.out_area, mean->tv += tm.tv, mean->mean_mask += tm.mean_mask;
    if (pr) {
      char extra[96];
      snprintf(extra, sizeof extra, "loss %.4f mask %.3f", mean->total / (double)step, mean->mean_mask / (double)step);
      sal_progress_update(pr, step * t->B, extra);
    }
  }
  sal_progress_finish(pr);
  if (st) return st;
  double n = step ? (double)step : 1;
  mean->total /= n, mean->in_ce /= n, mean->in_area /= n, mean->out_ent /= n, mean->out_area /= n, mean->tv /= n;
  mean->mean_mask /= n;
  return SAL_STATUS_OK;
}

static void mtrainer_free(mtrainer *t) {
  sal_loader_free(t->ld);
  sal__mstep_free(t->ms);
  sal_optim_free(t->om);
  sal_optim_free(t->oc);
  sal_plan_free(t->pt1);
  sal_plan_free(t->pt2);
  sal_tensor_free(t->seed1);
  sal_tensor_free(t->seed2);
  sal_graph_free(t->M);
  sal_free(t->sub.items);
  cJSON_Delete(t->config);
}

sal_status sal_masker_train(sal_ctx *ctx, sal_graph *classifier, const char *classifier_meta_json, const sal_dataset *train,
                            const sal_preprocess *pp, const sal_masker_train_opts *opts, sal_masker_train_report *report) {
  double t0 = now_s();
  if (report) memset(report, 0, sizeof *report);
  if (!opts || !classifier || !train || !pp) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: NULL argument");
  sal_status st = check_opts(ctx, opts);
  if (st) return st;
  if (train->n_items < 1 || train->n_classes < 2)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: the training set needs images of 2 or more classes");
  mtrainer t;
  memset(&t, 0, sizeof t);
  t.ctx = ctx;
  t.o = opts;
  t.C = classifier;
  t.lout = opts->lambda_out > 0 ? opts->lambda_out : opts->mode == SAL_MASKER_CA ? 15.0f : 10.0f;
  t.in = sal_graph_input_name(classifier, 0);
  t.logits = sal_graph_output_name(classifier, 0);
  sal_shape xs, ys;
  if (!t.in || !t.logits || sal_graph_value_shape(classifier, t.in, &xs) || sal_graph_value_shape(classifier, t.logits, &ys) ||
      xs.ndim != 4 || ys.ndim != 2)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: the classifier must map (N, C, H, W) images to (N, K) logits");
  t.K = ys.d[1], t.H = xs.d[2], t.W = xs.d[3];
  if (t.K > 1024) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: %lld classes (at most 1024)", (long long)t.K);
  if (t.K != train->n_classes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: the classifier has %lld outputs, the data %lld classes",
                         (long long)t.K, (long long)train->n_classes);
  t.fp0 = sal_masker_fingerprint(classifier);
  st = sal_masker_taps(ctx, classifier, opts->layers, t.taps);
  t.tap_names[0] = t.taps[0], t.tap_names[1] = t.taps[1];
  if (!st) st = sal_masker_build(ctx, classifier, t.tap_names, opts->seed, &t.M);
  /* The training items: all, or the few-shot subset (items borrowed from train). */
  t.sub = *train;
  t.sub.items = NULL;
  if (!st) {
    int64_t *idx = NULL, n = train->n_items;
    if (opts->per_class > 0) st = sal__masker_per_class(ctx, train, opts->per_class, opts->seed, &idx, &n);
    if (!st && !(t.sub.items = sal_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *t.sub.items))) st = SAL_STATUS_OUT_OF_MEMORY;
    for (int64_t i = 0; !st && i < n; i++) t.sub.items[i] = train->items[idx ? idx[i] : i];
    t.sub.n_items = n;
    sal_free(idx);
  }
  if (st) {
    mtrainer_free(&t);
    return st;
  }
  t.B = opts->batch < t.sub.n_items ? opts->batch : t.sub.n_items;
  if (t.B < 2) {
    mtrainer_free(&t);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train-masker: %lld training image(s); batch-norm needs 2 or more",
                         (long long)t.sub.n_items);
  }
  t.steps_per_epoch = t.sub.n_items / t.B;
  t.config = config_json(&t);
  if (!t.config) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) st = sal__mstep_new(ctx, classifier, t.M, t.tap_names, t.B, opts->lambda_in, t.lout, opts->lambda_tv, SAL_KERNELS_AUTO,
                               &t.ms);
  sal_optim_opts oo = sal_optim_opts_default(SAL_OPTIM_ADAM);
  oo.lr = opts->lr;
  oo.weight_decay = opts->weight_decay;
  oo.clip_grad_norm = opts->clip_grad;
  if (!st) st = sal_optim_new(ctx, t.M, &oo, NULL, 0, &t.om);
  if (!st && opts->mode == SAL_MASKER_CA) {
    sal_optim_opts co = sal_optim_opts_default(SAL_OPTIM_SGD);
    co.lr = opts->cls_lr;
    co.momentum = opts->cls_momentum;
    st = sal_optim_new(ctx, classifier, &co, NULL, 0, &t.oc);
    sal_plan_opts po = sal_plan_opts_default();
    po.batch = t.B;
    po.training = true;
    po.grad_params = true;
    if (!st) st = sal_plan_new(ctx, classifier, &po, &t.pt1);
    po.batch = 2 * t.B;
    if (!st) st = sal_plan_new(ctx, classifier, &po, &t.pt2);
    if (!st) st = sal_tensor_new(ctx, 2, (int64_t[]){t.B, t.K}, &t.seed1);
    if (!st) st = sal_tensor_new(ctx, 2, (int64_t[]){2 * t.B, t.K}, &t.seed2);
  }
  if (!st && opts->resume) {
    st = resume(&t);
    if (!st && opts->mode == SAL_MASKER_CA) {
      sal__mstep_classifier_changed(t.ms);
      sal_plan_params_changed(t.pt1);
      sal_plan_params_changed(t.pt2);
    }
    if (!st) sal_plan_params_changed(sal__mstep_masker_plan(t.ms));
  }
  sal_loader_opts lo = sal_loader_opts_default();
  lo.batch = t.B;
  lo.threads = opts->threads;
  lo.shuffle = true;
  lo.seed = opts->seed;
  lo.drop_last = true;
  lo.pp = *pp;
  if (!st) st = sal_loader_new(ctx, &t.sub, &lo, &t.ld);
  int64_t *y2 = st ? NULL : sal_alloc(ctx, (size_t)(2 * t.B) * sizeof *y2);
  if (!st && !y2) st = SAL_STATUS_OUT_OF_MEMORY;
  sal__masker_terms mean;
  memset(&mean, 0, sizeof mean);
  while (!st && t.epoch < opts->epochs && !(opts->stop_after && t.epoch >= opts->stop_after)) {
    double e0 = now_s();
    st = train_epoch(&t, &mean, y2);
    if (st) break;
    t.epoch++;
    if (!opts->quiet && sal_ctx_log_level(ctx) >= SAL_LOG_INFO)
      fprintf(stderr, "masker epoch %lld/%lld: loss %.4f (in %.4f + %.4f, out %.4f + %.4f, tv %.4f), mean mask %.3f, %.1f s\n",
              (long long)t.epoch, (long long)opts->epochs, mean.total, mean.in_ce, mean.in_area, mean.out_ent, mean.out_area,
              mean.tv, mean.mean_mask, now_s() - e0);
    /* The classifier first: a masker checkpoint never refers to a classifier state not on disk. */
    if (opts->mode == SAL_MASKER_CA) {
      char *cm = classifier_meta(&t, classifier_meta_json);
      st = cm ? sal_checkpoint_save(ctx, opts->classifier_out, classifier, t.oc, cm) : SAL_STATUS_OUT_OF_MEMORY;
      cJSON_free(cm);
      if (st) {
        sal_ctx_error_prefix(ctx, st, "train-masker: saving %s: ", opts->classifier_out);
        break;
      }
    }
    char *mm = masker_meta(&t, mean.total);
    st = mm ? sal_checkpoint_save(ctx, opts->out, t.M, t.om, mm) : SAL_STATUS_OUT_OF_MEMORY;
    cJSON_free(mm);
    if (st) sal_ctx_error_prefix(ctx, st, "train-masker: saving %s: ", opts->out);
  }
  if (report) {
    report->epochs_done = t.epoch;
    report->steps = t.om ? sal_optim_steps(t.om) : 0;
    report->n_train = t.sub.n_items;
    report->last_loss = mean.total;
    report->last_in = mean.in_ce + mean.in_area;
    report->last_out = mean.out_ent + mean.out_area;
    report->last_tv = mean.tv;
    report->mean_mask = mean.mean_mask;
    report->seconds = now_s() - t0;
  }
  sal_free(y2);
  mtrainer_free(&t);
  return st;
}
