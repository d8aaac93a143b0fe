/* Saliency method `smoothgrad` (Smilkov et al. 2017): the mean over n noisy copies x + σ·ε of the
 * gradient map max_c |dz_c/dx|, σ = sigma · (max(x) − min(x)) (METHODS.md §A). The (image, sample)
 * pairs go through the model as memory-budgeted batches; ε is Philox normal noise keyed by the seed
 * (the same draws for every image, so a map does not depend on which images share the call). */
#include "saliency/saliency.h"

#include <math.h>
#include <string.h>

sal_status sal__explain_smoothgrad(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W, n = p->samples;
  if (n < 1) return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "samples must be >= 1, got %lld", (long long)n);
  if (p->noise) {
    const sal_shape *s = &p->noise->shape;
    char a[96];
    if (s->ndim != 4 || s->d[0] != n || s->d[1] != job->C || s->d[2] != job->H || s->d[3] != job->W)
      return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "the supplied noise has shape %s, (%lld, %lld, %lld, %lld) "
                           "(samples, C, H, W) is needed", sal_shape_str(s, a, sizeof a), (long long)n,
                           (long long)job->C, (long long)job->H, (long long)job->W);
  }
  int64_t total = job->N * n;
  sal__runner r;
  /* extra per item: the noisy input and its gradient */
  sal_status st = sal__runner_init(&r, job, true, NULL, total, 2 * per * (int64_t)sizeof(float));
  if (st) return st;
  float *xb = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float));  /* (B, C, H, W) */
  float *gx = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float));  /* (B, C, H, W) */
  int64_t *cls = sal_alloc(job->ctx, (size_t)r.B * sizeof(int64_t));
  double *acc = sal_calloc(job->ctx, (size_t)(job->N * HW), sizeof(double)); /* (N, H, W) */
  float *sig = sal_alloc(job->ctx, (size_t)job->N * sizeof(float));
  if (!xb || !gx || !cls || !acc || !sig) st = SAL_STATUS_OUT_OF_MEMORY;
  const uint64_t stream = sal__stream("smoothgrad", 0);
  for (int64_t i = 0; !st && i < job->N; i++) {
    const float *x = job->images + i * per;
    float lo = x[0], hi = x[0];
    for (int64_t q = 1; q < per; q++) {
      lo = fminf(lo, x[q]);
      hi = fmaxf(hi, x[q]);
    }
    sig[i] = p->sigma * (hi - lo);
  }
  for (int64_t t0 = 0; !st && t0 < total; t0 += r.B) {
    int64_t b = total - t0 < r.B ? total - t0 : r.B;
    /* item t is sample t % n of image t / n */
    for (int64_t j = 0; j < b; j++) {
      int64_t t = t0 + j, i = t / n, s = t % n;
      float *dst = xb + j * per;
      if (p->noise) memcpy(dst, p->noise->data + s * per, (size_t)per * sizeof(float));
      else sal_rng_normal(p->seed, stream, (uint64_t)(s * per), dst, (size_t)per);
      const float *x = job->images + i * per;
      for (int64_t q = 0; q < per; q++) dst[q] = x[q] + sig[i] * dst[q];
      cls[j] = job->targets[i];
    }
    st = sal__runner_pass(&r, xb, b, cls, NULL, gx);
    if (st) break;
    for (int64_t j = 0; j < b; j++) {
      int64_t i = (t0 + j) / n;
      const float *g = gx + j * per;
      double *a = acc + i * HW;
      for (int64_t q = 0; q < HW; q++) {
        float m = 0;
        for (int64_t c = 0; c < job->C; c++) m = fmaxf(m, fabsf(g[c * HW + q]));
        a[q] += m;
      }
    }
  }
  for (int64_t q = 0; !st && q < job->N * HW; q++) job->raw[q] = (float)(acc[q] / (double)n);
  sal_free(xb);
  sal_free(gx);
  sal_free(cls);
  sal_free(acc);
  sal_free(sig);
  sal__runner_free(&r);
  return st;
}
