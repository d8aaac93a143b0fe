/* Saliency method `gradient` (Simonyan, Vedaldi & Zisserman 2014): |dz_c/dx| with the maximum over
 * channels (METHODS.md §A). Images go through the model in batches sized to the memory budget. */
#include "saliency/saliency.h"

#include <math.h>

/* max_c |g_c| per pixel. */
static void reduce(const sal__xjob *job, const float *g, const float *x, float *map) {
  (void)x;
  const int64_t HW = job->H * job->W;
  for (int64_t q = 0; q < HW; q++) {
    float m = 0;
    for (int64_t c = 0; c < job->C; c++) m = fmaxf(m, fabsf(g[c * HW + q]));
    map[q] = m;
  }
}

sal_status sal__explain_gradient(sal__xjob *job) { return sal__explain_input_gradient(job, reduce); }
