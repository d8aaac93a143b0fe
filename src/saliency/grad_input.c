/* Saliency method `grad_input` (Shrikumar et al. 2016, "gradient * input"): the channel sum of
 * x ⊙ dz_c/dx (METHODS.md §A), signed. Images go through the model in memory-budgeted batches. */
#include "saliency/saliency.h"

/* sum_c x_c * g_c per pixel, accumulated in double. */
static void reduce(const sal__xjob *job, const float *g, const float *x, float *map) {
  const int64_t HW = job->H * job->W;
  for (int64_t q = 0; q < HW; q++) {
    double s = 0;
    for (int64_t c = 0; c < job->C; c++) s += (double)x[c * HW + q] * g[c * HW + q];
    map[q] = (float)s;
  }
}

sal_status sal__explain_grad_input(sal__xjob *job) { return sal__explain_input_gradient(job, reduce); }
