/* Saliency method `grad_input` (Shrikumar et al. 2016, "gradient * input"): the channel sum of
 * x ⊙ dz_c/dx (METHODS.md §A), signed. Images go through the model in memory-budgeted batches. */
#include "saliency/saliency.h"

sal_status sal__explain_grad_input(sal__xjob *job) {
  sal__runner r;
  const int64_t per = job->C * job->H * job->W, HW = job->H * job->W;
  sal_status st = sal__runner_init(&r, job, true, NULL, job->N, per * (int64_t)sizeof(float));
  float *gx = st ? NULL : sal_alloc(job->ctx, (size_t)(r.B * per) * sizeof(float));
  float *z = st ? NULL : sal_alloc(job->ctx, (size_t)(r.B * job->K) * sizeof(float));
  if (!st && (!gx || !z)) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i0 = 0; !st && i0 < job->N; i0 += r.B) {
    int64_t b = job->N - i0 < r.B ? job->N - i0 : r.B;
    st = sal__runner_pass(&r, job->images + i0 * per, b, job->targets + i0, z, gx);
    if (st) break;
    for (int64_t j = 0; j < b; j++) {
      job->scores[i0 + j] = z[j * job->K + job->targets[i0 + j]];
      const float *g = gx + j * per, *x = job->images + (i0 + j) * per; /* both (C, H, W) */
      float *map = job->raw + (i0 + j) * HW;
      for (int64_t q = 0; q < HW; q++) {
        double s = 0;
        for (int64_t c = 0; c < job->C; c++) s += (double)x[c * HW + q] * g[c * HW + q];
        map[q] = (float)s;
      }
    }
  }
  sal_free(gx);
  sal_free(z);
  sal__runner_free(&r);
  return st;
}
