/* Saliency method `rise` (Petsiuk, Das & Saenko 2018): N random masks M_i (s × s Bernoulli(p)
 * grids, bilinearly upsampled to (s + 1)·cell and cropped at a random shift), map =
 * Σ_i softmax_c(f(x ⊙ M_i)) M_i / (N p) (METHODS.md §A). Masks are a pure function of (seed, i),
 * shared by all images; the (image, mask) pairs go through the model as memory-budgeted
 * forward-only batches. */
#include "saliency/saliency.h"

#include <string.h>

/* Mask i (H, W) into m; up is scratch of (s + 1)·ch × (s + 1)·cw floats, grid s × s floats. */
static void make_mask(uint64_t seed, int64_t i, int64_t s, float p, int64_t H, int64_t W, float *grid, float *up,
                      float *m) {
  const int64_t ch = (H + s - 1) / s, cw = (W + s - 1) / s, uh = (s + 1) * ch, uw = (s + 1) * cw;
  sal_rng_uniform(seed, sal__stream("rise", 0), (uint64_t)(i * s * s), grid, (size_t)(s * s));
  for (int64_t q = 0; q < s * s; q++) grid[q] = grid[q] < p ? 1.0f : 0.0f;
  float u[2];
  sal_rng_uniform(seed, sal__stream("rise", 1), (uint64_t)(2 * i), u, 2);
  int64_t dy = (int64_t)(u[0] * (float)ch), dx = (int64_t)(u[1] * (float)cw);
  sal__bilinear(grid, s, s, up, uh, uw);
  for (int64_t y = 0; y < H; y++) memcpy(m + y * W, up + (y + dy) * uw + dx, (size_t)W * sizeof(float));
}

sal_status sal__explain_rise(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t C = job->C, H = job->H, W = job->W, per = C * H * W, HW = H * W, n = p->samples, s = p->grid;
  if (n < 1 || s < 1 || !(p->p > 0 && p->p <= 1))
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "samples >= 1, grid >= 1 and p in (0, 1] are needed");
  const int64_t ch = (H + s - 1) / s, cw = (W + s - 1) / s;
  const int64_t total = job->N * n;
  sal__runner r;
  /* extra per item: its masked input and its mask */
  sal_status st = sal__runner_init(&r, job, false, NULL, total, (per + HW) * (int64_t)sizeof(float));
  if (st) return st;
  float *xb = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float)); /* (B, C, H, W) */
  float *mb = sal_alloc(job->ctx, (size_t)(r.B * HW) * sizeof(float));  /* (B, H, W) masks */
  float *z = sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  int64_t *cls = sal_alloc(job->ctx, (size_t)r.B * sizeof(int64_t));
  float *grid = sal_alloc(job->ctx, (size_t)(s * s) * sizeof(float));
  float *up = sal_alloc(job->ctx, (size_t)((s + 1) * ch * (s + 1) * cw) * sizeof(float));
  double *acc = sal_calloc(job->ctx, (size_t)(job->N * HW), sizeof(double)); /* (N, H, W) */
  if (!xb || !mb || !z || !cls || !grid || !up || !acc) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t t0 = 0; !st && t0 < total; t0 += r.B) {
    int64_t b = total - t0 < r.B ? total - t0 : r.B;
    /* item t is mask t % n on image t / n */
    for (int64_t j = 0; j < b; j++) {
      int64_t t = t0 + j, i = t / n, k = t % n;
      float *m = mb + j * HW, *dst = xb + j * per;
      make_mask(p->seed, k, s, p->p, H, W, grid, up, m);
      const float *x = job->images + i * per;
      for (int64_t c = 0; c < C; c++)
        for (int64_t q = 0; q < HW; q++) dst[c * HW + q] = x[c * HW + q] * m[q];
      cls[j] = job->targets[i];
    }
    st = sal__runner_pass(&r, xb, b, cls, z, NULL);
    for (int64_t j = 0; !st && j < b; j++) {
      int64_t i = (t0 + j) / n;
      double w = sal__softmax_at(z + j * job->K, job->K, cls[j]);
      const float *m = mb + j * HW;
      double *a = acc + i * HW;
      for (int64_t q = 0; q < HW; q++) a[q] += w * m[q];
    }
  }
  for (int64_t q = 0; !st && q < job->N * HW; q++) job->raw[q] = (float)(acc[q] / ((double)n * p->p));
  sal_free(xb);
  sal_free(mb);
  sal_free(z);
  sal_free(cls);
  sal_free(grid);
  sal_free(up);
  sal_free(acc);
  sal__runner_free(&r);
  return st;
}
