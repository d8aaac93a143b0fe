/* Saliency method `occlusion` (Zeiler & Fergus 2014): a patch × patch square slides over the image
 * with a stride; inside it the image is replaced by the baseline, and every pixel gets the mean
 * score drop s(x) − s(x_occluded) over the windows that cover it (METHODS.md §A). The (image,
 * window) pairs go through the model as memory-budgeted forward-only batches. */
#include "saliency/saliency.h"

#include <string.h>

/* Window origins along one axis: 0, stride, 2·stride, … and, if the last one stops short of the
 * edge, one more flush with it, so every pixel is covered. Returns the count; origins may be NULL. */
static int64_t origins(int64_t size, int64_t patch, int64_t stride, int64_t *o) {
  int64_t n = 0, last = size - patch;
  for (int64_t v = 0; v <= last; v += stride) {
    if (o) o[n] = v;
    n++;
  }
  if ((n - 1) * stride < last) {
    if (o) o[n] = last;
    n++;
  }
  return n;
}

sal_status sal__explain_occlusion(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t C = job->C, H = job->H, W = job->W, per = C * H * W, HW = H * W;
  int64_t patch = p->patch > 0 ? p->patch : sal__scaled(16, H);
  int64_t stride = p->stride > 0 ? p->stride : sal__scaled(8, H);
  if (patch > H) patch = H;
  if (patch > W) patch = W;
  const int64_t ny = origins(H, patch, stride, NULL), nx = origins(W, patch, stride, NULL);
  const int64_t items = 1 + ny * nx, total = job->N * items; /* item 0: the image itself */
  sal__runner r;
  sal_status st = sal__runner_init(&r, job, false, NULL, total, per * (int64_t)sizeof(float));
  if (st) return st;
  int64_t *oy = sal_alloc(job->ctx, (size_t)ny * sizeof(int64_t));
  int64_t *ox = sal_alloc(job->ctx, (size_t)nx * sizeof(int64_t));
  float *xb = sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float)); /* (B, C, H, W) */
  float *z = sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  int64_t *cls = sal_alloc(job->ctx, (size_t)r.B * sizeof(int64_t));
  float *s = sal_alloc(job->ctx, (size_t)total * sizeof(float));       /* (N, items) scores */
  float *base = sal_calloc(job->ctx, (size_t)(job->N * per), sizeof(float)); /* (N, C, H, W) */
  double *acc = sal_alloc(job->ctx, (size_t)HW * sizeof(double));
  int64_t *cnt = sal_alloc(job->ctx, (size_t)HW * sizeof(int64_t));
  if (!oy || !ox || !xb || !z || !cls || !s || !base || !acc || !cnt) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) {
    origins(H, patch, stride, oy);
    origins(W, patch, stride, ox);
  }
  if (!st && p->baseline == SAL_BASELINE_BLUR) {
    float sigma = p->blur_sigma > 0 ? p->blur_sigma : 10.0f * (float)H / 224.0f;
    for (int64_t i = 0; !st && i < job->N; i++)
      st = sal__gauss_blur(job->ctx, job->images + i * per, C, H, W, sigma, base + i * per);
  }
  for (int64_t t0 = 0; !st && t0 < total; t0 += r.B) {
    int64_t b = total - t0 < r.B ? total - t0 : r.B;
    for (int64_t j = 0; j < b; j++) {
      int64_t t = t0 + j, i = t / items, k = t % items;
      float *dst = xb + j * per;
      memcpy(dst, job->images + i * per, (size_t)per * sizeof(float));
      cls[j] = job->targets[i];
      if (k == 0) continue;
      int64_t y0 = oy[(k - 1) / nx], x0 = ox[(k - 1) % nx];
      const float *bl = base + i * per;
      for (int64_t c = 0; c < C; c++)
        for (int64_t y = y0; y < y0 + patch; y++)
          memcpy(dst + c * HW + y * W + x0, bl + c * HW + y * W + x0, (size_t)patch * sizeof(float));
    }
    st = sal__runner_pass(&r, xb, b, cls, z, NULL);
    for (int64_t j = 0; !st && j < b; j++) {
      const float *zj = z + j * job->K;
      s[t0 + j] = p->score == SAL_SCORE_PROB ? sal__softmax_at(zj, job->K, cls[j]) : zj[cls[j]];
    }
  }
  for (int64_t i = 0; !st && i < job->N; i++) {
    memset(acc, 0, (size_t)HW * sizeof(double));
    memset(cnt, 0, (size_t)HW * sizeof(int64_t));
    const float *si = s + i * items;
    for (int64_t k = 1; k < items; k++) {
      int64_t y0 = oy[(k - 1) / nx], x0 = ox[(k - 1) % nx];
      double d = (double)si[0] - si[k];
      for (int64_t y = y0; y < y0 + patch; y++)
        for (int64_t x = x0; x < x0 + patch; x++) {
          acc[y * W + x] += d;
          cnt[y * W + x]++;
        }
    }
    for (int64_t q = 0; q < HW; q++) job->raw[i * HW + q] = cnt[q] ? (float)(acc[q] / (double)cnt[q]) : 0.0f;
  }
  sal_free(oy);
  sal_free(ox);
  sal_free(xb);
  sal_free(z);
  sal_free(cls);
  sal_free(s);
  sal_free(base);
  sal_free(acc);
  sal_free(cnt);
  sal__runner_free(&r);
  return st;
}
