/* Pixel-overlap metrics of maps against object masks: Dice / IoU / PPV / sensitivity of the top of
 * a map at a percentile (Peng et al.), F1 of continuous masks (Phang et al.), and the false-saliency
 * ratio of D-WSOL (Wang et al.). Conventions in docs/metrics.md. */
#include "salient/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "eval/eval.h"

sal_status sal_metric_overlap(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask,
                              double percentile, sal_overlap *out) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!mask || !out || !(percentile >= 0 && percentile <= 100))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_metric_overlap: NULL mask or output, or percentile %g not in [0, 100]",
                         percentile);
  const int64_t n = h * w, k = llround((double)n * (1.0 - percentile / 100.0));
  int64_t *order = sal_alloc(ctx, (size_t)n * sizeof *order);
  if (!order) return SAL_STATUS_OUT_OF_MEMORY;
  if ((st = sal__eval_rank(ctx, map, n, order))) {
    sal_free(order);
    return st;
  }
  int64_t tp = 0, g = 0;
  for (int64_t i = 0; i < k; i++) tp += mask[order[i]] != 0;
  for (int64_t i = 0; i < n; i++) g += mask[i] != 0;
  sal_free(order);
  out->selected = k;
  out->dice = k + g > 0 ? 2.0 * (double)tp / (double)(k + g) : 0;
  out->iou = k + g - tp > 0 ? (double)tp / (double)(k + g - tp) : 0;
  out->ppv = k > 0 ? (double)tp / (double)k : 0;
  out->sensitivity = g > 0 ? (double)tp / (double)g : 0;
  return SAL_STATUS_OK;
}

sal_status sal_metric_f1(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double *f1) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!mask || !f1) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_metric_f1: NULL mask or output");
  float *m = sal_alloc(ctx, (size_t)(h * w) * sizeof *m);
  if (!m) return SAL_STATUS_OUT_OF_MEMORY;
  sal__eval_minmax(map, h * w, m);
  double mg = 0, sm = 0, sg = 0;
  for (int64_t i = 0; i < h * w; i++) {
    double gi = mask[i] != 0;
    mg += m[i] * gi, sm += m[i], sg += gi;
  }
  sal_free(m);
  double p = sm > 0 ? mg / sm : 0, r = sg > 0 ? mg / sg : 0;
  *f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
  return SAL_STATUS_OK;
}

double sal_metric_false_saliency(const float *absent_map, const float *true_map, int64_t n) {
  double ea = 0, et = 0;
  for (int64_t i = 0; i < n; i++) {
    ea += absent_map[i] > 0 ? absent_map[i] : 0;
    et += true_map[i] > 0 ? true_map[i] : 0;
  }
  if (et > 0) return ea / et;
  return ea > 0 ? INFINITY : 0;
}
