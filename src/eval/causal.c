/* Metrics that query the model: insertion and deletion (Petsiuk et al. 2018) — the probability of
 * the target as pixels are removed from (or put back into) an image in the order a saliency map
 * ranks them, every state of both curves batched to the memory budget through the saliency runner
 * (src/saliency/runner.c) — and the saliency metric (Dabkowski & Gal 2017). A sal_scorer holds the
 * runner (its plans) and every buffer, made once per model: scoring an image allocates nothing and
 * builds no plan after the first one. Conventions in docs/metrics.md. */
#include "salient/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "saliency/saliency.h"

sal_causal_opts sal_causal_opts_default(void) { return (sal_causal_opts){0, 0}; }

int64_t sal_causal_curve_length(int64_t h, int64_t w, int64_t step) {
  if (step <= 0) step = w;
  return step > 0 ? (h * w + step - 1) / step + 1 : 0;
}

struct sal_scorer {
  sal_ctx *ctx;
  sal_method_params p; /* the job's parameters (max_memory) */
  sal__xjob job;       /* g's first input and output, one image */
  sal__runner r;       /* plans of batch sizes up to r.B, built on first use and kept */
  int64_t *order;      /* (H W) pixels ranked by saliency */
  float *batch;        /* (B, C, H, W) states */
  float *cur, *zero, *blur, *crop, *x; /* (C, H, W) each */
  float *norm;         /* (H W) */
  float *logits;       /* (B, K) */
  float *ic, *dc;      /* H W + 1 curve values each */
};

void sal_scorer_free(sal_scorer *sc) {
  if (!sc) return;
  sal__runner_free(&sc->r);
  sal_free(sc->order);
  sal_free(sc->batch);
  sal_free(sc->cur);
  sal_free(sc->zero);
  sal_free(sc->blur);
  sal_free(sc->crop);
  sal_free(sc->x);
  sal_free(sc->norm);
  sal_free(sc->logits);
  sal_free(sc->ic);
  sal_free(sc->dc);
  sal_free(sc);
}

sal_status sal_scorer_new(sal_ctx *ctx, sal_graph *g, int64_t max_memory, sal_scorer **out) {
  if (!g || !out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_scorer_new: NULL model or output");
  *out = NULL;
  sal_scorer *sc = sal_calloc(ctx, 1, sizeof *sc);
  if (!sc) return SAL_STATUS_OUT_OF_MEMORY;
  sc->ctx = ctx;
  sal__xjob *job = &sc->job;
  sal_status st = sal_method_params_default(ctx, "gradient", &sc->p);
  if (st) {
    sal_free(sc);
    return st;
  }
  sc->p.max_memory = max_memory > 0 ? max_memory : SAL_EXPLAIN_DEFAULT_MEMORY;
  job->ctx = ctx, job->g = g, job->p = &sc->p;
  job->in = sal_graph_input_name(g, 0), job->out = sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  if (!job->in || !job->out) st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: the model has no input or output");
  if (!st) st = sal_graph_value_shape(g, job->in, &xs);
  if (!st) st = sal_graph_value_shape(g, job->out, &ys);
  if (!st && (xs.ndim != 4 || ys.ndim != 2))
    st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: the model must map (N, C, H, W) to logits (N, K)");
  if (st) {
    sal_free(sc);
    return st;
  }
  job->N = 1, job->C = xs.d[1], job->H = xs.d[2], job->W = xs.d[3], job->K = ys.d[1];
  const int64_t per = job->C * job->H * job->W, n = job->H * job->W;
  /* extra per batch item: the state it holds */
  st = sal__runner_init(&sc->r, job, false, NULL, n + 1, per * (int64_t)sizeof(float));
  if (!st) {
    const int64_t B = sc->r.B;
    sc->order = sal_alloc(ctx, (size_t)n * sizeof *sc->order);
    sc->batch = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
    sc->cur = sal_alloc(ctx, (size_t)per * sizeof(float));
    sc->zero = sal_calloc(ctx, (size_t)per, sizeof(float));
    sc->blur = sal_alloc(ctx, (size_t)per * sizeof(float));
    sc->crop = sal_alloc(ctx, (size_t)per * sizeof(float));
    sc->x = sal_alloc(ctx, (size_t)per * sizeof(float));
    sc->norm = sal_alloc(ctx, (size_t)n * sizeof(float));
    sc->logits = sal_alloc(ctx, (size_t)(B * job->K) * sizeof(float));
    sc->ic = sal_alloc(ctx, (size_t)(n + 1) * sizeof(float));
    sc->dc = sal_alloc(ctx, (size_t)(n + 1) * sizeof(float));
    if (!sc->order || !sc->batch || !sc->cur || !sc->zero || !sc->blur || !sc->crop || !sc->x || !sc->norm ||
        !sc->logits || !sc->ic || !sc->dc)
      st = SAL_STATUS_OUT_OF_MEMORY;
  }
  if (st) {
    sal_scorer_free(sc);
    return st;
  }
  *out = sc;
  return SAL_STATUS_OK;
}

static sal_status check_image(const sal_scorer *sc, const float *image, const float *map, int64_t target) {
  sal_ctx *ctx = sc->ctx;
  const sal__xjob *job = &sc->job;
  if (!image) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: NULL image");
  if (target < 0 || target >= job->K)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: target %lld is out of range 0..%lld", (long long)target,
                         (long long)job->K - 1);
  sal_status st = sal__eval_check_map(ctx, map, job->H, job->W);
  if (st) return st;
  for (int64_t i = 0; i < job->C * job->H * job->W; i++)
    if (!isfinite(image[i]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: image value %lld is not finite", (long long)i);
  return SAL_STATUS_OK;
}

/* One curve: states s_0 .. s_{n}, s_k = start with the first k·step ranked pixels (all channels)
 * taken from finish; probabilities of target into curve. */
static sal_status run_curve(sal__runner *r, const int64_t *order, int64_t n_steps, int64_t step, const float *start,
                            const float *finish, int64_t target, float *cur, float *batch, float *logits, float *curve) {
  const int64_t C = r->C, HW = r->H * r->W, per = r->per, n = r->H * r->W;
  memcpy(cur, start, (size_t)per * sizeof *cur);
  int64_t filled = 0, first = 0;
  for (int64_t k = 0; k <= n_steps; k++) {
    memcpy(batch + filled * per, cur, (size_t)per * sizeof *cur);
    filled++;
    if (filled == r->B || k == n_steps) {
      sal_status st = sal__runner_forward(r, batch, filled, logits);
      if (st) return st;
      for (int64_t j = 0; j < filled; j++) curve[first + j] = sal__softmax_at(logits + j * r->K, r->K, target);
      first += filled;
      filled = 0;
    }
    for (int64_t q = k * step; q < (k + 1) * step && q < n; q++)
      for (int64_t c = 0; c < C; c++) cur[c * HW + order[q]] = finish[c * HW + order[q]];
  }
  return SAL_STATUS_OK;
}

static double auc(const float *s, int64_t n_steps) {
  double sum = 0;
  for (int64_t k = 0; k <= n_steps; k++) sum += s[k];
  return n_steps > 0 ? (sum - 0.5 * s[0] - 0.5 * s[n_steps]) / (double)n_steps : s[0];
}

sal_status sal_metric_insertion_deletion(sal_scorer *sc, const float *image, const float *map, int64_t target,
                                         const sal_causal_opts *opts, double *insertion, double *deletion,
                                         float *ins_curve, float *del_curve) {
  if (!sc) return SAL_STATUS_BAD_INPUT;
  sal_ctx *ctx = sc->ctx;
  sal_causal_opts o = opts ? *opts : sal_causal_opts_default();
  if (!insertion || !deletion) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: NULL output");
  const int64_t C = sc->job.C, H = sc->job.H, W = sc->job.W, n = H * W;
  sal_status st = check_image(sc, image, map, target);
  if (st) return st;
  if (o.step < 0 || o.step > n)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: step %lld is out of range 0..%lld",
                         (long long)o.step, (long long)n);
  if (!(o.blur_sigma >= 0 && o.blur_sigma <= 1e4))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: blur sigma %g is out of range", (double)o.blur_sigma);
  const int64_t step = o.step > 0 ? o.step : W, n_steps = (n + step - 1) / step;
  const float sigma = o.blur_sigma > 0 ? o.blur_sigma : 5.0f * (float)H / 224.0f;
  st = sal__eval_rank(ctx, map, n, sc->order);
  if (!st) st = sal__gauss_blur(ctx, image, C, H, W, sigma, sc->blur);
  if (!st) st = run_curve(&sc->r, sc->order, n_steps, step, image, sc->zero, target, sc->cur, sc->batch, sc->logits, sc->dc);
  if (!st) st = run_curve(&sc->r, sc->order, n_steps, step, sc->blur, image, target, sc->cur, sc->batch, sc->logits, sc->ic);
  if (st) return st;
  *deletion = auc(sc->dc, n_steps);
  *insertion = auc(sc->ic, n_steps);
  if (del_curve) memcpy(del_curve, sc->dc, (size_t)(n_steps + 1) * sizeof *del_curve);
  if (ins_curve) memcpy(ins_curve, sc->ic, (size_t)(n_steps + 1) * sizeof *ins_curve);
  return SAL_STATUS_OK;
}

sal_status sal_metric_saliency_metric(sal_scorer *sc, const float *image, const float *map, int64_t target,
                                      float threshold, double *value, double *area_out, double *prob_out) {
  if (!sc) return SAL_STATUS_BAD_INPUT;
  sal_ctx *ctx = sc->ctx;
  if (!value) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "saliency metric: NULL output");
  if (!(threshold >= 0 && threshold <= 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "saliency metric: threshold %g is not in [0, 1]", (double)threshold);
  sal_status st = check_image(sc, image, map, target);
  if (st) return st;
  const int64_t C = sc->job.C, H = sc->job.H, W = sc->job.W, HW = H * W;
  /* The box of every selected pixel; a constant map (all 0 after normalisation) selects all. */
  sal__eval_minmax(map, HW, sc->norm);
  bool constant = sal__eval_argmax(map, HW) < 0;
  int64_t x0 = W, y0 = H, x1 = 0, y1 = 0;
  for (int64_t q = 0; q < HW; q++)
    if (constant || sc->norm[q] >= threshold) {
      int64_t yy = q / W, xx = q % W;
      x0 = xx < x0 ? xx : x0, x1 = xx + 1 > x1 ? xx + 1 : x1;
      y0 = yy < y0 ? yy : y0, y1 = yy + 1 > y1 ? yy + 1 : y1;
    }
  const int64_t bw = x1 - x0, bh = y1 - y0;
  for (int64_t c = 0; c < C; c++) {
    /* crop holds one (bh, bw) plane at a time */
    for (int64_t yy = 0; yy < bh; yy++)
      memcpy(sc->crop + yy * bw, image + c * HW + (y0 + yy) * W + x0, (size_t)bw * sizeof *sc->crop);
    sal__bilinear(sc->crop, bh, bw, sc->x + c * HW, H, W);
  }
  if ((st = sal__runner_forward(&sc->r, sc->x, 1, sc->logits))) return st;
  double a = (double)(bw * bh) / (double)HW, pc = sal__softmax_at(sc->logits, sc->job.K, target);
  *value = log(a > 0.05 ? a : 0.05) - log(pc);
  if (area_out) *area_out = a;
  if (prob_out) *prob_out = pc;
  return SAL_STATUS_OK;
}
