/* Sparsity and size of a saliency map: Gini index (Chalasani et al. 2020), normalised area and
 * normalised entropy. Conventions in docs/metrics.md. */
#include "salient/metrics.h"

#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "eval/eval.h"

static int ascending(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

sal_status sal_metric_sparsity(sal_ctx *ctx, const float *map, int64_t n, sal_sparsity *out) {
  sal_status st = sal__eval_check_map(ctx, map, 1, n);
  if (st) return st;
  if (!out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_metric_sparsity: NULL output");
  double *a = sal_alloc(ctx, (size_t)n * sizeof *a);
  float *norm = sal_alloc(ctx, (size_t)n * sizeof *norm);
  if (!a || !norm) {
    sal_free(a);
    sal_free(norm);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  double total = 0;
  for (int64_t i = 0; i < n; i++) a[i] = fabs((double)map[i]), total += a[i];
  qsort(a, (size_t)n, sizeof *a, ascending);
  double g = 0, h = 0;
  for (int64_t i = 0; i < n; i++) {
    g += (double)(2 * (i + 1) - n - 1) * a[i];
    if (a[i] > 0) h -= a[i] / total * log(a[i] / total);
  }
  out->gini = total > 0 ? g / ((double)n * total) : 0;
  out->entropy = total > 0 && n > 1 ? h / log((double)n) : 0;
  sal__eval_minmax(map, n, norm);
  double area = 0;
  for (int64_t i = 0; i < n; i++) area += norm[i];
  out->area = area / (double)n;
  sal_free(a);
  sal_free(norm);
  return SAL_STATUS_OK;
}
