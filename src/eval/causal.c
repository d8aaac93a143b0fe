/* Metrics that query the model: insertion and deletion (Petsiuk et al. 2018) — the probability of
 * the target as pixels are removed from (or put back into) an image in the order a saliency map
 * ranks them, every state of both curves batched to the memory budget through the saliency runner
 * (src/saliency/runner.c) — and the saliency metric (Dabkowski & Gal 2017). Conventions in
 * docs/metrics.md. */
#include "salient/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "saliency/saliency.h"

sal_causal_opts sal_causal_opts_default(void) { return (sal_causal_opts){0, 0, 0}; }

int64_t sal_causal_curve_length(int64_t h, int64_t w, int64_t step) {
  if (step <= 0) step = w;
  return step > 0 ? (h * w + step - 1) / step + 1 : 0;
}

/* A one-image job on g (its first input and output) for the saliency runner; p receives the
 * parameters the job points to. */
static sal_status model_job(sal_ctx *ctx, sal_graph *g, int64_t max_memory, sal_method_params *p, sal__xjob *job) {
  sal_status st = sal_method_params_default(ctx, "gradient", p);
  if (st) return st;
  p->max_memory = max_memory > 0 ? max_memory : SAL_EXPLAIN_DEFAULT_MEMORY;
  memset(job, 0, sizeof *job);
  job->ctx = ctx, job->g = g, job->p = p;
  job->in = sal_graph_input_name(g, 0), job->out = sal_graph_output_name(g, 0);
  sal_shape xs, ys;
  if (!job->in || !job->out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: the model has no input or output");
  st = sal_graph_value_shape(g, job->in, &xs);
  if (!st) st = sal_graph_value_shape(g, job->out, &ys);
  if (st) return st;
  if (xs.ndim != 4 || ys.ndim != 2)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: the model must map (N, C, H, W) to logits (N, K)");
  job->N = 1, job->C = xs.d[1], job->H = xs.d[2], job->W = xs.d[3], job->K = ys.d[1];
  return SAL_STATUS_OK;
}

static sal_status check_image(sal_ctx *ctx, const sal__xjob *job, const float *image, const float *map, int64_t target) {
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

sal_status sal_metric_insertion_deletion(sal_ctx *ctx, sal_graph *g, const float *image, const float *map,
                                         int64_t target, const sal_causal_opts *opts, double *insertion,
                                         double *deletion, float *ins_curve, float *del_curve) {
  sal_causal_opts o = opts ? *opts : sal_causal_opts_default();
  if (!g || !image || !insertion || !deletion)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: NULL model, image or output");
  sal_method_params p;
  sal__xjob job;
  sal_status st = model_job(ctx, g, o.max_memory, &p, &job);
  if (st) return st;
  const int64_t C = job.C, H = job.H, W = job.W, per = C * H * W, n = H * W;
  if ((st = check_image(ctx, &job, image, map, target))) return st;
  if (o.step < 0 || o.step > n)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: step %lld is out of range 0..%lld",
                         (long long)o.step, (long long)n);
  if (!(o.blur_sigma >= 0 && o.blur_sigma <= 1e4))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "insertion/deletion: blur sigma %g is out of range", (double)o.blur_sigma);
  const int64_t step = o.step > 0 ? o.step : W, n_steps = (n + step - 1) / step;
  const float sigma = o.blur_sigma > 0 ? o.blur_sigma : 5.0f * (float)H / 224.0f;

  sal__runner r;
  if ((st = sal__runner_init(&r, &job, false, NULL, n_steps + 1, per * (int64_t)sizeof(float)))) return st;
  int64_t *order = sal_alloc(ctx, (size_t)n * sizeof *order);
  float *zero = sal_calloc(ctx, (size_t)per, sizeof *zero), *blur = sal_alloc(ctx, (size_t)per * sizeof *blur);
  float *cur = sal_alloc(ctx, (size_t)per * sizeof *cur), *batch = sal_alloc(ctx, (size_t)(r.B * per) * sizeof *batch);
  float *logits = sal_alloc(ctx, (size_t)(r.B * job.K) * sizeof *logits);
  float *ic = sal_alloc(ctx, (size_t)(n_steps + 1) * sizeof *ic), *dc = sal_alloc(ctx, (size_t)(n_steps + 1) * sizeof *dc);
  if (!order || !zero || !blur || !cur || !batch || !logits || !ic || !dc) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) {
    st = sal__eval_rank(ctx, map, n, order);
    if (!st) st = sal__gauss_blur(ctx, image, C, H, W, sigma, blur);
  }
  if (!st) st = run_curve(&r, order, n_steps, step, image, zero, target, cur, batch, logits, dc);
  if (!st) st = run_curve(&r, order, n_steps, step, blur, image, target, cur, batch, logits, ic);
  if (!st) {
    *deletion = auc(dc, n_steps);
    *insertion = auc(ic, n_steps);
    if (del_curve) memcpy(del_curve, dc, (size_t)(n_steps + 1) * sizeof *dc);
    if (ins_curve) memcpy(ins_curve, ic, (size_t)(n_steps + 1) * sizeof *ic);
  }
  sal_free(order);
  sal_free(zero);
  sal_free(blur);
  sal_free(cur);
  sal_free(batch);
  sal_free(logits);
  sal_free(ic);
  sal_free(dc);
  sal__runner_free(&r);
  return st;
}

sal_status sal_metric_saliency_metric(sal_ctx *ctx, sal_graph *g, const float *image, const float *map, int64_t target,
                                      float threshold, double *value, double *area_out, double *prob_out) {
  if (!g || !value) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "saliency metric: NULL model or output");
  if (!(threshold >= 0 && threshold <= 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "saliency metric: threshold %g is not in [0, 1]", (double)threshold);
  sal_method_params p;
  sal__xjob job;
  sal_status st = model_job(ctx, g, 0, &p, &job);
  if (!st) st = check_image(ctx, &job, image, map, target);
  if (st) return st;
  const int64_t C = job.C, H = job.H, W = job.W, HW = H * W;
  float *norm = sal_alloc(ctx, (size_t)HW * sizeof *norm), *crop = sal_alloc(ctx, (size_t)(C * HW) * sizeof *crop);
  float *x = sal_alloc(ctx, (size_t)(C * HW) * sizeof *x), *logits = sal_alloc(ctx, (size_t)job.K * sizeof *logits);
  sal__runner r;
  memset(&r, 0, sizeof r);
  if (!norm || !crop || !x || !logits) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) st = sal__runner_init(&r, &job, false, NULL, 1, 0);
  if (!st) {
    /* The box of every selected pixel; a constant map (all 0 after normalisation) selects all. */
    sal__eval_minmax(map, HW, norm);
    bool constant = sal__eval_argmax(map, HW) < 0;
    int64_t x0 = W, y0 = H, x1 = 0, y1 = 0;
    for (int64_t q = 0; q < HW; q++)
      if (constant || norm[q] >= threshold) {
        int64_t yy = q / W, xx = q % W;
        x0 = xx < x0 ? xx : x0, x1 = xx + 1 > x1 ? xx + 1 : x1;
        y0 = yy < y0 ? yy : y0, y1 = yy + 1 > y1 ? yy + 1 : y1;
      }
    const int64_t bw = x1 - x0, bh = y1 - y0;
    for (int64_t c = 0; c < C; c++) {
      for (int64_t yy = 0; yy < bh; yy++)
        memcpy(crop + yy * bw, image + c * HW + (y0 + yy) * W + x0, (size_t)bw * sizeof *crop);
      sal__bilinear(crop, bh, bw, x + c * HW, H, W);
    }
    st = sal__runner_forward(&r, x, 1, logits);
    if (!st) {
      double a = (double)(bw * bh) / (double)HW, pc = sal__softmax_at(logits, job.K, target);
      *value = log(a > 0.05 ? a : 0.05) - log(pc);
      if (area_out) *area_out = a;
      if (prob_out) *prob_out = pc;
    }
  }
  sal_free(norm);
  sal_free(crop);
  sal_free(x);
  sal_free(logits);
  sal__runner_free(&r);
  return st;
}
