/* SCAAT (METHODS.md §E) and Saliency Guided Training (Ismail et al. 2021): per batch the gradient
 * saliency of the label's logit, then a PGD point inside the saliency budget map (SCAAT) or a copy
 * with the least salient pixels replaced by noise (SGT), then CE + λ KL and its parameter gradients.
 * The training loop (loop.c) calls sal__reg_step in place of its plain forward / backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/internal.h"
#include "saliency/saliency.h"
#include "train/train_internal.h"

/* Philox stream tags: "scat" (the attack's start of each step), "sgtm" (SGT's noise). */
#define SCAAT_STREAM 0x7363617400000000ull
#define SGT_STREAM 0x7367746D00000000ull

struct sal__reg {
  sal_ctx *ctx;
  sal_graph *g;
  sal_train_reg kind;
  float lambda, eps, gamma, frac, smoothing;
  int64_t steps;
  uint64_t rng_seed;   /* opts->seed */
  const char *in, *out;
  int64_t B, C, H, W, K;
  float mean[3], std[3];
  sal_plan *ep;       /* inference plan with input gradients: saliency and attack passes */
  float *gx;          /* (B, C, H, W) input gradient of z_y */
  float *zref;        /* (B, K) inference logits of x */
  float *copy;        /* (B, C, H, W) adversarial or masked images */
  float *budget;      /* (B, H, W) SCAAT budget map, pixel units */
  float *tmp;         /* (H, W) */
  sal__ranked *order; /* (H, W) */
  float *zc, *za;     /* (B, K) training logits of x and of the copy */
  float *seed;        /* (B, K) */
  double *lp, *lq;    /* (K) log-probabilities of one row */
  float *gsave;       /* trainable parameter gradients of the first backward, in value order */
  float *rs;          /* non-trainable parameters (running statistics), in value order */
  int64_t n_train, n_rs;
};

void sal__scaat_budget(const float *gx, int64_t C, int64_t H, int64_t W, const float *std, float eps_max, float gamma,
                       float *tmp, float *budget) {
  const int64_t HW = H * W;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t q = 0; q < HW; q++) {
    float s = 0;
    for (int64_t c = 0; c < C; c++) {
      /* ∂z/∂pixel = ∂z/∂x · ∂x/∂pixel = gx / std */
      float v = fabsf(gx[c * HW + q]) / (std ? std[c] : 1.0f);
      s = v > s ? v : s;
    }
    tmp[q] = s;
    lo = s < lo ? s : lo;
    hi = s > hi ? s : hi;
  }
  for (int64_t q = 0; q < HW; q++) tmp[q] = hi > lo ? (tmp[q] - lo) / (hi - lo) : 0.0f;
  for (int64_t y = 0; y < H; y++)
    for (int64_t x = 0; x < W; x++) {
      /* 3 × 3 box: the mean over the neighbours inside the image (no dark border from padding) */
      double a = 0;
      int n = 0;
      for (int64_t dy = -1; dy <= 1; dy++)
        for (int64_t dx = -1; dx <= 1; dx++) {
          int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          a += tmp[yy * W + xx];
          n++;
        }
      double s = a / n;
      budget[y * W + x] = (float)(eps_max * pow(1.0 - s, gamma));
    }
}

static int cmp_ranked(const void *a, const void *b) {
  const sal__ranked *x = a, *y = b;
  if (x->v != y->v) return x->v < y->v ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

int64_t sal__sgt_mask(const float *gx, const float *x, int64_t C, int64_t H, int64_t W, const float *std, float frac,
                      uint64_t seed, uint64_t item, sal__ranked *order, float *out) {
  const int64_t HW = H * W, per = C * HW;
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t k = 0; k < per; k++) {
    lo = x[k] < lo ? x[k] : lo;
    hi = x[k] > hi ? x[k] : hi;
  }
  for (int64_t q = 0; q < HW; q++) {
    float s = 0;
    for (int64_t c = 0; c < C; c++) {
      float v = fabsf(gx[c * HW + q]) / (std ? std[c] : 1.0f);
      s = v > s ? v : s;
    }
    order[q].v = s;
    order[q].i = q;
  }
  qsort(order, (size_t)HW, sizeof *order, cmp_ranked);
  int64_t n = (int64_t)floor((double)frac * (double)HW + 0.5);
  if (n > HW) n = HW;
  memcpy(out, x, (size_t)per * sizeof(float));
  for (int64_t r = 0; r < n; r++) {
    int64_t q = order[r].i;
    for (int64_t c = 0; c < C; c++) {
      /* element (c, q) of image `item`: its own Philox counter, whatever the batch */
      float u;
      sal_rng_uniform(seed, SGT_STREAM, item * (uint64_t)per + (uint64_t)(c * HW + q), &u, 1);
      out[c * HW + q] = lo + (hi - lo) * u;
    }
  }
  return n;
}

void sal__reg_free(sal__reg *r) {
  if (!r) return;
  sal_plan_free(r->ep);
  sal_free(r->gx);
  sal_free(r->zref);
  sal_free(r->copy);
  sal_free(r->budget);
  sal_free(r->tmp);
  sal_free(r->order);
  sal_free(r->zc);
  sal_free(r->za);
  sal_free(r->seed);
  sal_free(r->lp);
  sal_free(r->lq);
  sal_free(r->gsave);
  sal_free(r->rs);
  sal_free(r);
}

sal_status sal__reg_new(sal_ctx *ctx, sal_graph *g, const sal_train_opts *o, const char *in, const char *out, int64_t B,
                        sal__reg **out_reg) {
  *out_reg = NULL;
  sal__reg *r = sal_calloc(ctx, 1, sizeof *r);
  if (!r) return SAL_STATUS_OUT_OF_MEMORY;
  r->ctx = ctx;
  r->g = g;
  r->kind = o->reg;
  r->lambda = o->reg_lambda;
  r->eps = o->scaat_eps;
  r->gamma = o->scaat_gamma;
  r->steps = o->scaat_steps;
  r->frac = o->sgt_frac;
  r->smoothing = o->label_smoothing;
  r->rng_seed = o->seed;
  r->in = in;
  r->out = out;
  r->B = B;
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(g, in, &xs);
  if (!st) st = sal_graph_value_shape(g, out, &ys);
  if (!st && (xs.ndim != 4 || ys.ndim != 2 || xs.d[1] < 1 || xs.d[1] > 3))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "train: SCAAT / SGT need images (N, C <= 3, H, W) and logits (N, K)");
  if (st) {
    sal_free(r);
    return st;
  }
  r->C = xs.d[1], r->H = xs.d[2], r->W = xs.d[3], r->K = ys.d[1];
  for (int c = 0; c < 3; c++) {
    r->mean[c] = o->mean[c < r->C ? c : 0];
    r->std[c] = o->std[c < r->C ? c : 0];
  }
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].kind == SAL_VALUE_PARAM) {
      int64_t n = sal_shape_numel(&g->values[v].shape);
      if (g->values[v].trainable) r->n_train += n;
      else r->n_rs += n;
    }
  const int64_t per = r->C * r->H * r->W, HW = r->H * r->W, K = r->K;
  r->gx = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
  r->copy = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
  r->zref = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  r->zc = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  r->za = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  r->seed = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  r->lp = sal_alloc(ctx, (size_t)K * sizeof(double));
  r->lq = sal_alloc(ctx, (size_t)K * sizeof(double));
  r->budget = sal_alloc(ctx, (size_t)(B * HW) * sizeof(float));
  r->tmp = sal_alloc(ctx, (size_t)HW * sizeof(float));
  r->order = sal_alloc(ctx, (size_t)HW * sizeof(sal__ranked));
  r->gsave = sal_alloc(ctx, (size_t)(r->n_train > 0 ? r->n_train : 1) * sizeof(float));
  r->rs = sal_alloc(ctx, (size_t)(r->n_rs > 0 ? r->n_rs : 1) * sizeof(float));
  if (!r->gx || !r->copy || !r->zref || !r->zc || !r->za || !r->seed || !r->lp || !r->lq || !r->budget || !r->tmp || !r->order || !r->gsave ||
      !r->rs)
    st = SAL_STATUS_OUT_OF_MEMORY;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = B;
  po.grad_inputs = true;
  if (!st) st = sal_plan_new(ctx, g, &po, &r->ep);
  if (!st && sal_graph_has_value(g, "target") && sal_graph_num_inputs(g) > 1) {
    /* the loss node needs some target in the inference plan: zeros (a valid class) do */
    sal_tensor *t0 = NULL;
    st = sal_tensor_new(ctx, 1, (int64_t[]){B}, &t0);
    if (!st) st = sal_plan_set_input(r->ep, "target", t0);
    sal_tensor_free(t0);
  }
  if (st) {
    sal__reg_free(r);
    return st;
  }
  *out_reg = r;
  return SAL_STATUS_OK;
}

const float *sal__reg_logits(const sal__reg *r) { return r->zc; }
const float *sal__reg_copy(const sal__reg *r) { return r->copy; }

/* Copies the running statistics (every non-trainable parameter) out of the graph, or back in. */
static void running_stats(sal__reg *r, bool restore) {
  int64_t off = 0;
  for (int v = 0; v < r->g->n_values; v++) {
    sal_value *val = &r->g->values[v];
    if (val->kind != SAL_VALUE_PARAM || val->trainable) continue;
    size_t n = (size_t)sal_shape_numel(&val->shape);
    if (restore) memcpy(val->data, r->rs + off, n * sizeof(float));
    else memcpy(r->rs + off, val->data, n * sizeof(float));
    off += (int64_t)n;
  }
}

/* Copies tp's trainable-parameter gradients into gsave, or adds gsave to them. Parameter
 * gradients are plain tensors owned by the plan (only activations take blocked layouts), so the
 * view sal_plan_grad returns is the buffer sal_optim_step reads. */
static sal_status param_grads(sal__reg *r, sal_plan *tp, bool add) {
  int64_t off = 0;
  for (int v = 0; v < r->g->n_values; v++) {
    const sal_value *val = &r->g->values[v];
    if (val->kind != SAL_VALUE_PARAM || !val->trainable) continue;
    const sal_tensor *gt = NULL;
    sal_status st = sal_plan_grad(tp, val->name, &gt);
    if (st) return st;
    int64_t n = sal_tensor_numel(gt);
    if (add)
      for (int64_t e = 0; e < n; e++) gt->data[e] += r->gsave[off + e];
    else memcpy(r->gsave + off, gt->data, (size_t)n * sizeof(float));
    off += n;
  }
  return SAL_STATUS_OK;
}

static sal_status forward(sal__reg *r, sal_plan *p, const float *x, float *logits) {
  sal_tensor xt = {{4, {r->B, r->C, r->H, r->W}}, (float *)x, SAL_LAYOUT_PLAIN, false};
  const sal_tensor *y = NULL;
  sal_status st = sal_plan_set_input(p, r->in, &xt);
  if (!st) st = sal_plan_forward(p);
  if (!st) st = sal_plan_value(p, r->out, &y);
  if (!st) memcpy(logits, y->data, (size_t)(r->B * r->K) * sizeof(float)); /* y is (B, K) */
  return st;
}

static sal_status backward(sal__reg *r, sal_plan *p, const float *seed) {
  sal_tensor s = {{2, {r->B, r->K}}, (float *)seed, SAL_LAYOUT_PLAIN, false};
  return sal_plan_backward(p, r->out, &s);
}

/* log softmax of a row of K logits, in double. */
static void log_softmax(const float *z, int64_t K, double *out) {
  double m = z[0], s = 0;
  for (int64_t k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
  for (int64_t k = 0; k < K; k++) s += exp((double)z[k] - m);
  double ls = log(s);
  for (int64_t k = 0; k < K; k++) out[k] = (double)z[k] - m - ls;
}

sal_status sal__reg_loss(sal__reg *r, sal_plan *tp, const float *x, const float *x2, const int64_t *labels, double *loss,
                         double *ce, double *kl) {
  const int64_t B = r->B, K = r->K;
  double *lp = r->lp, *lq = r->lq;
  /* Forward x then x2 (the running statistics updated once by each), backward of the x2 half,
   * then x forwarded again for its half: its statistics update is undone. */
  sal_status st = forward(r, tp, x, r->zc);
  if (!st) st = forward(r, tp, x2, r->za);
  if (st) return st;
  running_stats(r, false);
  double sce = 0, skl = 0;
  float *sc = r->seed; /* first the x2 seed, then x's */
  for (int64_t i = 0; i < B; i++) {
    if (labels[i] < 0 || labels[i] >= K)
      return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "train: label %lld is not below %lld classes", (long long)labels[i],
                           (long long)K);
    log_softmax(r->zc + i * K, K, lp);
    log_softmax(r->za + i * K, K, lq);
    double kli = 0;
    for (int64_t k = 0; k < K; k++) kli += exp(lp[k]) * (lp[k] - lq[k]);
    skl += kli;
    /* ∂KL(p ‖ q)/∂z_x2 = q − p */
    for (int64_t k = 0; k < K; k++) sc[i * K + k] = (float)(r->lambda * (exp(lq[k]) - exp(lp[k])) / (double)B);
  }
  st = backward(r, tp, sc);
  if (!st) st = param_grads(r, tp, false);
  if (!st) st = forward(r, tp, x, r->zc);
  if (st) return st;
  running_stats(r, true);
  for (int64_t i = 0; i < B; i++) {
    log_softmax(r->zc + i * K, K, lp);
    log_softmax(r->za + i * K, K, lq);
    double kli = 0;
    for (int64_t k = 0; k < K; k++) kli += exp(lp[k]) * (lp[k] - lq[k]);
    double cei = 0;
    for (int64_t k = 0; k < K; k++) {
      /* label smoothing: targets (1 − ε)·onehot + ε / K (PyTorch's CrossEntropyLoss) */
      double t = (k == labels[i] ? 1.0 - r->smoothing : 0.0) + r->smoothing / (double)K;
      cei -= t * lp[k];
      double p = exp(lp[k]);
      /* ∂CE/∂z = p − t; ∂KL(p ‖ q)/∂z_x = p (log p − log q − KL) */
      sc[i * K + k] = (float)((p - t + r->lambda * p * (lp[k] - lq[k] - kli)) / (double)B);
    }
    sce += cei;
  }
  st = backward(r, tp, sc);
  if (!st) st = param_grads(r, tp, true);
  if (st) return st;
  sce /= (double)B;
  skl /= (double)B;
  if (ce) *ce = sce;
  if (kl) *kl = skl;
  *loss = sce + r->lambda * skl;
  return SAL_STATUS_OK;
}

sal_status sal__reg_step(sal__reg *r, sal_plan *tp, const float *x, const int64_t *labels, int64_t step, double *loss) {
  const int64_t B = r->B, K = r->K, per = r->C * r->H * r->W, HW = r->H * r->W;
  /* the weights and running statistics changed since the last step */
  sal_plan_params_changed(r->ep);
  sal_status st = forward(r, r->ep, x, r->zref);
  if (st) return st;
  /* saliency: the input gradient of z_y (the label's logit) */
  memset(r->seed, 0, (size_t)(B * K) * sizeof(float));
  for (int64_t i = 0; i < B; i++) {
    if (labels[i] < 0 || labels[i] >= K)
      return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "train: label %lld is not below %lld classes", (long long)labels[i],
                           (long long)K);
    r->seed[i * K + labels[i]] = 1.0f;
  }
  st = backward(r, r->ep, r->seed);
  const sal_tensor *g = NULL;
  if (!st) st = sal_plan_grad(r->ep, r->in, &g);
  if (st) return st;
  memcpy(r->gx, g->data, (size_t)(B * per) * sizeof(float));
  uint32_t k4[4];
  sal_philox(r->rng_seed, r->kind == SAL_TRAIN_SCAAT ? SCAAT_STREAM : SGT_STREAM, (uint64_t)step, k4);
  uint64_t step_seed = ((uint64_t)k4[0] << 32) | k4[1];
  if (r->kind == SAL_TRAIN_SCAAT) {
    for (int64_t i = 0; i < B; i++)
      sal__scaat_budget(r->gx + i * per, r->C, r->H, r->W, r->std, r->eps, r->gamma, r->tmp, r->budget + i * HW);
    sal_attack_opts ao = sal_attack_opts_default();
    ao.eps = r->eps;
    ao.steps = r->steps;
    ao.step_size = r->eps / 2;
    ao.loss = SAL_ATTACK_KL;
    ao.seed = step_seed;
    ao.mean = r->mean;
    ao.std = r->std;
    sal__plan_model pm = {r->ep, r->in, r->out};
    sal__attack_model m;
    st = sal__attack_model_plan(r->ctx, &pm, &m);
    if (!st) st = sal__attack_batch(r->ctx, &m, &ao, B, 0, x, NULL, r->zref, r->budget, r->copy, NULL, NULL);
  } else {
    for (int64_t i = 0; i < B; i++)
      sal__sgt_mask(r->gx + i * per, x + i * per, r->C, r->H, r->W, r->std, r->frac, step_seed, (uint64_t)i, r->order,
                    r->copy + i * per);
  }
  if (!st) st = sal__reg_loss(r, tp, x, r->copy, labels, loss, NULL, NULL);
  return st;
}
