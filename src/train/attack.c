/* FGSM and PGD (L∞, scalar or per-pixel budgets, CE or KL objective): one attack loop over a model
 * abstraction, driven by a plan (SCAAT's training loop, sal_attack_plan) or by the saliency runner
 * on a standalone graph (sal_attack: detection, attack_sensitivity in src/eval/attack.c). */
#include <math.h>
#include <string.h>

#include "saliency/saliency.h"
#include "train/train_internal.h"

/* Philox stream tag "atck": random starts of image i are elements i·C·H·W ... of (seed, stream). */
#define ATTACK_STREAM 0x6174636B00000000ull
/* TRADES' start for the KL objective: 0.001 · N(0, 1) in pixel units (Zhang et al. 2019, code). */
#define KL_JITTER 0.001

sal_attack_opts sal_attack_opts_default(void) {
  sal_attack_opts o;
  memset(&o, 0, sizeof o);
  o.eps = 2.0f / 255.0f;
  o.steps = 10;
  o.step_size = o.eps / 4.0f;
  o.loss = SAL_ATTACK_CE;
  o.clamp = true;
  o.max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  return o;
}

sal_attack_opts sal_attack_opts_fgsm(float eps) {
  sal_attack_opts o = sal_attack_opts_default();
  o.eps = eps;
  o.steps = 1;
  o.step_size = eps;
  return o;
}

sal_status sal__attack_check(sal_ctx *ctx, const sal_attack_opts *o, int64_t N, int64_t C, int64_t HW) {
  if (!o) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: no options");
  if (!(o->eps >= 0 && isfinite(o->eps)) || !(o->step_size >= 0 && isfinite(o->step_size)) || o->steps < 0 ||
      o->steps > 100000)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: eps >= 0, step_size >= 0 and steps in 0..100000 needed "
                         "(eps %g, step_size %g, steps %lld)", (double)o->eps, (double)o->step_size, (long long)o->steps);
  if (o->loss != SAL_ATTACK_CE && o->loss != SAL_ATTACK_KL)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: unknown loss %d", (int)o->loss);
  for (int64_t c = 0; o->std && c < C; c++)
    if (!(o->std[c] > 0 && isfinite(o->std[c])))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: std[%lld] must be > 0", (long long)c);
  for (int64_t c = 0; o->mean && c < C; c++)
    if (!isfinite(o->mean[c])) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: mean[%lld] is not finite", (long long)c);
  for (int64_t i = 0; o->eps_map && i < N * HW; i++)
    if (!(o->eps_map[i] >= 0 && isfinite(o->eps_map[i])))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: budget map value %g at image %lld pixel %lld (>= 0 needed)",
                           (double)o->eps_map[i], (long long)(i / HW), (long long)(i % HW));
  return SAL_STATUS_OK;
}

static int64_t argmax(const float *z, int64_t K) {
  int64_t k = 0;
  for (int64_t c = 1; c < K; c++)
    if (z[c] > z[k]) k = c;
  return k;
}

/* Per channel c, the model-input images of the pixel bounds: lo = (0 − mean) / std, hi likewise. */
static void chan(const sal_attack_opts *o, int64_t c, double *sd, double *lo, double *hi) {
  double s = o->std ? o->std[c] : 1.0, m = o->mean ? o->mean[c] : 0.0;
  *sd = s;
  *lo = (0.0 - m) / s;
  *hi = (1.0 - m) / s;
}

/* Projects v (model input) onto the budget box around base and, with clamp, onto [lo, hi] widened
 * to include base (a pixel already outside [0, 1] may stay where it is, not move further out). */
static float project(const sal_attack_opts *o, double v, double base, double rad, double lo, double hi) {
  v = v < base - rad ? base - rad : v > base + rad ? base + rad : v;
  if (o->clamp) {
    double l = base < lo ? base : lo, h = base > hi ? base : hi;
    v = v < l ? l : v > h ? h : v;
  }
  return (float)v;
}

/* The logits seed of the ascent for one image: ∂CE(z, c)/∂z = softmax(z) − onehot(c);
 * ∂KL(p ‖ softmax z)/∂z = softmax(z) − p with p = softmax(z_ref). */
static void ascent_seed(const sal_attack_opts *o, const float *z, const float *zref, int64_t c, int64_t K, float *seed) {
  for (int64_t k = 0; k < K; k++) {
    float q = sal__softmax_at(z, K, k);
    seed[k] = o->loss == SAL_ATTACK_KL ? q - sal__softmax_at(zref, K, k) : q - (k == c ? 1.0f : 0.0f);
  }
}

sal_status sal__attack_batch(sal_ctx *ctx, const sal__attack_model *m, const sal_attack_opts *o, int64_t b, int64_t item0,
                             const float *x0, const int64_t *labels, const float *ref_logits, const float *eps_map,
                             float *xa, int64_t *cls, int64_t *steps) {
  const int64_t C = m->C, HW = m->H * m->W, per = C * HW, K = m->K;
  if (b < 1 || b > 65536) return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "attack: batch of %lld images", (long long)b);
  float *prev = sal_alloc(ctx, (size_t)(b * per) * sizeof(float)); /* (b, C, H, W) last accepted point */
  float *gx = sal_alloc(ctx, (size_t)(b * per) * sizeof(float));   /* (b, C, H, W) */
  float *z = sal_alloc(ctx, (size_t)(b * K) * sizeof(float));      /* (b, K) logits at xa */
  float *zref = sal_alloc(ctx, (size_t)(b * K) * sizeof(float));   /* (b, K) logits at x0 */
  float *seed = sal_alloc(ctx, (size_t)(b * K) * sizeof(float));
  float *noise = sal_alloc(ctx, (size_t)per * sizeof(float));
  int64_t *c_of = sal_alloc(ctx, (size_t)b * sizeof(int64_t)), *kept = sal_alloc(ctx, (size_t)b * sizeof(int64_t));
  bool *done = sal_alloc(ctx, (size_t)b * sizeof(bool));
  sal_status st = SAL_STATUS_OK;
  if (!prev || !gx || !z || !zref || !seed || !noise || !c_of || !kept || !done) {
    st = SAL_STATUS_OUT_OF_MEMORY;
    goto out;
  }
  memcpy(xa, x0, (size_t)(b * per) * sizeof(float));
  if (ref_logits) memcpy(zref, ref_logits, (size_t)(b * K) * sizeof(float));
  else st = m->forward(m->u, x0, b, zref);
  if (st) goto out;
  for (int64_t j = 0; j < b; j++) {
    c_of[j] = labels ? labels[j] : argmax(zref + j * K, K);
    if (c_of[j] < 0 || c_of[j] >= K) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: label %lld of image %lld is not below %lld classes",
                         (long long)c_of[j], (long long)(item0 + j), (long long)K);
      goto out;
    }
  }
  /* The start: uniform in the budget box, or TRADES' jitter for KL (whose gradient vanishes at x0). */
  bool start = o->random_start || (o->loss == SAL_ATTACK_KL && o->steps > 0);
  for (int64_t j = 0; start && j < b; j++) {
    uint64_t off = (uint64_t)(item0 + j) * (uint64_t)per;
    if (o->random_start) sal_rng_uniform(o->seed, ATTACK_STREAM, off, noise, (size_t)per);
    else sal_rng_normal(o->seed, ATTACK_STREAM, off, noise, (size_t)per);
    for (int64_t c = 0; c < C; c++) {
      double sd, lo, hi;
      chan(o, c, &sd, &lo, &hi);
      for (int64_t q = 0; q < HW; q++) {
        double e = (eps_map ? eps_map[j * HW + q] : o->eps) / sd;
        double d = o->random_start ? (2.0 * noise[c * HW + q] - 1.0) * e : KL_JITTER / sd * noise[c * HW + q];
        int64_t k = j * per + c * HW + q;
        xa[k] = project(o, (double)x0[k] + d, x0[k], e, lo, hi);
      }
    }
  }
  memcpy(prev, xa, (size_t)(b * per) * sizeof(float));
  memset(done, 0, (size_t)b * sizeof(bool));
  memset(kept, 0, (size_t)b * sizeof(int64_t));
  /* The t-th forward evaluates the point of step t (with keep_class: undoing it if the class
   * changed), then the t+1-th step is taken from its gradient. */
  for (int64_t t = 0; t <= o->steps; t++) {
    if (t == o->steps && !o->keep_class) break;
    if (t > 0 || start || ref_logits) st = m->forward(m->u, xa, b, z);
    else memcpy(z, zref, (size_t)(b * K) * sizeof(float));
    if (st) break;
    for (int64_t j = 0; o->keep_class && j < b; j++)
      if (!done[j] && argmax(z + j * K, K) != c_of[j]) {
        memcpy(xa + j * per, prev + j * per, (size_t)per * sizeof(float));
        done[j] = true;
        if (kept[j] > 0) kept[j]--;
      }
    if (t == o->steps) break;
    for (int64_t j = 0; j < b; j++) {
      if (done[j]) memset(seed + j * K, 0, (size_t)K * sizeof(float));
      else ascent_seed(o, z + j * K, zref + j * K, c_of[j], K, seed + j * K);
    }
    st = m->backward(m->u, b, seed, gx);
    if (st) break;
    for (int64_t j = 0; j < b; j++) {
      if (done[j]) continue;
      memcpy(prev + j * per, xa + j * per, (size_t)per * sizeof(float));
      kept[j]++;
      for (int64_t c = 0; c < C; c++) {
        /* pixel = x · std + mean: a pixel step s is s / std in the model's input */
        double sd, lo, hi;
        chan(o, c, &sd, &lo, &hi);
        double step = o->step_size / sd;
        for (int64_t q = 0; q < HW; q++) {
          int64_t k = j * per + c * HW + q;
          float gq = gx[k];
          double rad = (eps_map ? eps_map[j * HW + q] : o->eps) / sd;
          double v = xa[k] + (gq > 0 ? step : gq < 0 ? -step : 0.0);
          xa[k] = project(o, v, x0[k], rad, lo, hi);
        }
      }
    }
  }
  for (int64_t j = 0; !st && j < b; j++) {
    if (cls) cls[j] = c_of[j];
    if (steps) steps[j] = kept[j];
  }
out:
  sal_free(prev);
  sal_free(gx);
  sal_free(z);
  sal_free(zref);
  sal_free(seed);
  sal_free(noise);
  sal_free(c_of);
  sal_free(kept);
  sal_free(done);
  return st;
}

/* ---- the model over a plan ---- */

static sal_status plan_forward(void *u, const float *x, int64_t b, float *logits) {
  sal__plan_model *pm = u;
  sal_shape s;
  sal_status st = sal_plan_shape(pm->p, pm->in, &s);
  if (st) return st;
  s.d[0] = b;
  /* x is borrowed: the plan copies it into its own input buffer */
  sal_tensor xt = {s, (float *)x, SAL_LAYOUT_PLAIN, false};
  const sal_tensor *y = NULL;
  st = sal_plan_set_input(pm->p, pm->in, &xt);
  if (!st) st = sal_plan_forward(pm->p);
  if (!st) st = sal_plan_value(pm->p, pm->out, &y);
  if (!st) memcpy(logits, y->data, (size_t)sal_tensor_numel(y) * sizeof(float)); /* y is (b, K) */
  return st;
}

static sal_status plan_backward(void *u, int64_t b, const float *seed, float *gx) {
  sal__plan_model *pm = u;
  sal_shape ys;
  sal_status st = sal_plan_shape(pm->p, pm->out, &ys);
  if (st) return st;
  ys.d[0] = b;
  sal_tensor s = {ys, (float *)seed, SAL_LAYOUT_PLAIN, false};
  const sal_tensor *g = NULL;
  st = sal_plan_backward(pm->p, pm->out, &s);
  if (!st) st = sal_plan_grad(pm->p, pm->in, &g);
  if (!st) memcpy(gx, g->data, (size_t)sal_tensor_numel(g) * sizeof(float));
  return st;
}

sal_status sal__attack_model_plan(sal_ctx *ctx, sal__plan_model *pm, sal__attack_model *m) {
  sal_shape xs, ys;
  sal_status st = sal_plan_shape(pm->p, pm->in, &xs);
  if (!st) st = sal_plan_shape(pm->p, pm->out, &ys);
  if (st) return st;
  if (xs.ndim != 4 || ys.ndim != 2 || xs.d[0] != ys.d[0])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: the plan's input must be (N, C, H, W) and its logits (N, K)");
  memset(m, 0, sizeof *m);
  m->forward = plan_forward;
  m->backward = plan_backward;
  m->u = pm;
  m->C = xs.d[1], m->H = xs.d[2], m->W = xs.d[3], m->K = ys.d[1];
  return SAL_STATUS_OK;
}

sal_status sal_attack_plan(sal_ctx *ctx, sal_plan *p, const char *in, const char *out, const sal_tensor *images,
                           const int64_t *labels, const sal_attack_opts *o, sal_tensor *adv, int64_t *cls,
                           int64_t *steps) {
  if (!p || !in || !out || !images || !adv) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: NULL argument");
  sal__plan_model pm = {p, in, out};
  sal__attack_model m;
  sal_status st = sal__attack_model_plan(ctx, &pm, &m);
  if (st) return st;
  sal_shape xs;
  sal_plan_shape(p, in, &xs);
  char a[96], b[96];
  if (!sal_shape_equal(&images->shape, &xs) || !sal_shape_equal(&adv->shape, &xs) || adv->data == images->data)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: images %s and the output must have the plan's input shape %s "
                         "and not alias", sal_shape_str(&images->shape, a, sizeof a), sal_shape_str(&xs, b, sizeof b));
  st = sal__attack_check(ctx, o, xs.d[0], xs.d[1], xs.d[2] * xs.d[3]);
  if (!st) st = sal__attack_batch(ctx, &m, o, xs.d[0], 0, images->data, labels, NULL, o->eps_map, adv->data, cls, steps);
  return st;
}

/* ---- the model over the saliency runner (a standalone graph) ---- */

static sal_status runner_forward(void *u, const float *x, int64_t b, float *logits) {
  return sal__runner_forward(u, x, b, logits);
}
static sal_status runner_backward(void *u, int64_t b, const float *seed, float *gx) {
  return sal__runner_backward(u, b, seed, gx);
}

sal_status sal_attack(sal_ctx *ctx, sal_graph *g, const sal_tensor *images, const int64_t *labels,
                      const sal_attack_opts *o, sal_tensor **adv, int64_t *cls, int64_t *steps) {
  if (!adv) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: NULL output");
  *adv = NULL;
  if (!g || !images || !o) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: NULL argument");
  if (sal_graph_num_inputs(g) < 1 || sal_graph_num_outputs(g) < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: the model needs an input and an output");
  sal_method_params p;
  memset(&p, 0, sizeof p);
  p.max_memory = o->max_memory;
  sal__xjob job;
  memset(&job, 0, sizeof job);
  job.ctx = ctx;
  job.g = g;
  job.p = &p;
  job.in = sal_graph_input_name(g, 0);
  job.out = sal_graph_has_value(g, "logits") ? "logits" : sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  sal_status st = sal_graph_value_shape(g, job.in, &xs);
  if (!st) st = sal_graph_value_shape(g, job.out, &ys);
  if (st) return st;
  const sal_shape *is = &images->shape;
  char a[96], b[96];
  if (xs.ndim != 4 || ys.ndim != 2 || is->ndim != 4 || is->d[0] < 1 || is->d[1] != xs.d[1] || is->d[2] != xs.d[2] ||
      is->d[3] != xs.d[3])
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "attack: images %s do not fit the model's input %s (and logits "
                         "(N, K) are needed)", sal_shape_str(is, a, sizeof a), sal_shape_str(&xs, b, sizeof b));
  job.N = is->d[0], job.C = is->d[1], job.H = is->d[2], job.W = is->d[3], job.K = ys.d[1];
  job.images = images->data;
  const int64_t N = job.N, HW = job.H * job.W, per = job.C * HW;
  st = sal__attack_check(ctx, o, N, job.C, HW);
  if (st) return st;
  sal__runner r;
  /* extra per item: the attack's copies (previous point, gradient, start noise) */
  st = sal__runner_init(&r, &job, true, NULL, N, 3 * per * (int64_t)sizeof(float));
  if (st) return st;
  sal__attack_model m = {runner_forward, runner_backward, &r, job.C, job.H, job.W, job.K};
  st = sal_tensor_clone(ctx, images, adv);
  for (int64_t i0 = 0; !st && i0 < N; i0 += r.B) {
    const int64_t bn = N - i0 < r.B ? N - i0 : r.B;
    st = sal__attack_batch(ctx, &m, o, bn, i0, images->data + i0 * per, labels ? labels + i0 : NULL, NULL,
                           o->eps_map ? o->eps_map + i0 * HW : NULL, (*adv)->data + i0 * per, cls ? cls + i0 : NULL,
                           steps ? steps + i0 : NULL);
  }
  sal__runner_free(&r);
  if (st) {
    sal_tensor_free(*adv);
    *adv = NULL;
  }
  return st;
}
