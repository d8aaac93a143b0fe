/* Saliency method `integrated_gradients` (Sundararajan, Taly & Yan 2017): attributions
 * (x − x') ⊙ ∫₀¹ ∂z_c/∂x(x' + α(x − x')) dα by the trapezoid rule on m + 1 points, summed over
 * channels (METHODS.md §A); baseline x' zero or blurred. The (image, point) pairs go through the
 * model as memory-budgeted batches. Completeness: Σ map ≈ z_c(x) − z_c(x'). */
#include "saliency/saliency.h"

#include <string.h>

sal_status sal__explain_integrated_gradients(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W, m = p->steps;
  if (m < 1) return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "steps must be >= 1, got %lld", (long long)m);
  const int64_t pts = m + 1, total = job->N * pts;
  sal__runner r;
  sal_status st = sal__runner_init(&r, job, true, NULL, total, 2 * per * (int64_t)sizeof(float));
  if (st) return st;
  float *xb = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float)); /* (B, C, H, W) path points */
  float *gx = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float)); /* (B, C, H, W) */
  int64_t *cls = sal_alloc(job->ctx, (size_t)r.B * sizeof(int64_t));
  float *base = sal_alloc(job->ctx, (size_t)(job->N * per) * sizeof(float));   /* (N, C, H, W) x' */
  double *avg = sal_calloc(job->ctx, (size_t)(job->N * per), sizeof(double)); /* (N, C, H, W) */
  if (!xb || !gx || !cls || !base || !avg) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st && p->baseline == SAL_BASELINE_BLUR) {
    float sigma = p->blur_sigma > 0 ? p->blur_sigma : 10.0f * (float)job->H / 224.0f;
    for (int64_t i = 0; !st && i < job->N; i++)
      st = sal__gauss_blur(job->ctx, job->images + i * per, job->C, job->H, job->W, sigma, base + i * per);
  } else if (!st) {
    memset(base, 0, (size_t)(job->N * per) * sizeof(float));
  }
  for (int64_t t0 = 0; !st && t0 < total; t0 += r.B) {
    int64_t b = total - t0 < r.B ? total - t0 : r.B;
    /* item t is point k = t % pts (α = k / m) of image t / pts */
    for (int64_t j = 0; j < b; j++) {
      int64_t t = t0 + j, i = t / pts, k = t % pts;
      float alpha = (float)k / (float)m;
      const float *x = job->images + i * per, *x0 = base + i * per;
      float *dst = xb + j * per;
      for (int64_t q = 0; q < per; q++) dst[q] = x0[q] + alpha * (x[q] - x0[q]);
      cls[j] = job->targets[i];
    }
    st = sal__runner_pass(&r, xb, b, cls, NULL, gx);
    if (st) break;
    for (int64_t j = 0; j < b; j++) {
      int64_t t = t0 + j, i = t / pts, k = t % pts;
      /* trapezoid weights: 1/(2m) at both ends, 1/m inside */
      double w = (k == 0 || k == m) ? 0.5 / (double)m : 1.0 / (double)m;
      const float *g = gx + j * per;
      double *a = avg + i * per;
      for (int64_t q = 0; q < per; q++) a[q] += w * g[q];
    }
  }
  for (int64_t i = 0; !st && i < job->N; i++) {
    const float *x = job->images + i * per, *x0 = base + i * per;
    const double *a = avg + i * per;
    for (int64_t q = 0; q < HW; q++) {
      double s = 0;
      for (int64_t c = 0; c < job->C; c++) s += ((double)x[c * HW + q] - x0[c * HW + q]) * a[c * HW + q];
      job->raw[i * HW + q] = (float)s;
    }
  }
  sal_free(xb);
  sal_free(gx);
  sal_free(cls);
  sal_free(base);
  sal_free(avg);
  sal__runner_free(&r);
  return st;
}
