/* Similarity of two saliency maps: Spearman's rank correlation (average ranks for ties) and SSIM
 * (Wang et al. 2004, Gaussian 11 × 11 window). Used by attack_sensitivity (src/eval/attack.c) and by
 * the sanity checks of the evaluation. */
#include <math.h>
#include <stdlib.h>

#include "core/internal.h"
#include "salient/eval.h"

typedef struct ranked {
  float v;
  int64_t i;
} ranked;

/* By value, then by index: a total order, so qsort's result is deterministic. */
static int cmp_ranked(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->v != b->v) return a->v < b->v ? -1 : 1;
  return (a->i > b->i) - (a->i < b->i);
}

/* r[i] = 1-based rank of x[i], ties sharing the mean of their positions. tmp holds n items. */
static void ranks(const float *x, int64_t n, ranked *tmp, double *r) {
  for (int64_t i = 0; i < n; i++) tmp[i].v = x[i], tmp[i].i = i;
  qsort(tmp, (size_t)n, sizeof *tmp, cmp_ranked);
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j + 1 < n && tmp[j + 1].v == tmp[i].v) j++;
    double avg = 0.5 * (double)(i + j) + 1.0;
    for (int64_t k = i; k <= j; k++) r[tmp[k].i] = avg;
    i = j + 1;
  }
}

static sal_status check_finite(sal_ctx *ctx, const char *what, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(a[i]) || !isfinite(b[i]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: value %lld is not finite", what, (long long)i);
  return SAL_STATUS_OK;
}

sal_status sal_spearman(sal_ctx *ctx, const float *a, const float *b, int64_t n, double *out) {
  *out = NAN;
  if (n < 2) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "spearman: %lld values (at least 2)", (long long)n);
  sal_status st = check_finite(ctx, "spearman", a, b, n);
  if (st) return st;
  ranked *tmp = sal_alloc(ctx, (size_t)n * sizeof(ranked));
  double *ra = sal_alloc(ctx, (size_t)n * sizeof(double)), *rb = sal_alloc(ctx, (size_t)n * sizeof(double));
  if (!tmp || !ra || !rb) {
    sal_free(tmp);
    sal_free(ra);
    sal_free(rb);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  ranks(a, n, tmp, ra);
  ranks(b, n, tmp, rb);
  /* Pearson of the ranks; both have mean (n + 1) / 2 */
  double m = 0.5 * (double)(n + 1), sab = 0, saa = 0, sbb = 0;
  for (int64_t i = 0; i < n; i++) {
    double da = ra[i] - m, db = rb[i] - m;
    sab += da * db, saa += da * da, sbb += db * db;
  }
  *out = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
  sal_free(tmp);
  sal_free(ra);
  sal_free(rb);
  return SAL_STATUS_OK;
}

sal_status sal_ssim(sal_ctx *ctx, const float *a, const float *b, int64_t h, int64_t w, double data_range,
                    double *out) {
  enum { R = 5, S = 2 * R + 1 }; /* radius int(3.5 σ + 0.5) = 5 at σ = 1.5, as skimage's truncate 3.5 */
  *out = NAN;
  if (h < S || w < S)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "ssim: a %lld x %lld image is smaller than the %d x %d window",
                         (long long)h, (long long)w, S, S);
  if (!(data_range > 0) || !isfinite(data_range))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "ssim: data range %g must be > 0", data_range);
  sal_status st = check_finite(ctx, "ssim", a, b, h * w);
  if (st) return st;
  double g[S], sum = 0;
  for (int i = 0; i < S; i++) sum += g[i] = exp(-0.5 * (double)((i - R) * (i - R)) / (1.5 * 1.5));
  for (int i = 0; i < S; i++) g[i] /= sum;
  const double c1 = (0.01 * data_range) * (0.01 * data_range), c2 = (0.03 * data_range) * (0.03 * data_range);
  double total = 0;
  for (int64_t y = 0; y + S <= h; y++)
    for (int64_t x = 0; x + S <= w; x++) {
      double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
      for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
          double wt = g[i] * g[j], va = a[(y + i) * w + x + j], vb = b[(y + i) * w + x + j];
          ma += wt * va, mb += wt * vb, aa += wt * va * va, bb += wt * vb * vb, ab += wt * va * vb;
        }
      double va = aa - ma * ma, vb = bb - mb * mb, cov = ab - ma * mb;
      total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
  *out = total / (double)((h - S + 1) * (w - S + 1));
  return SAL_STATUS_OK;
}
