/* Helpers shared by reference kernels (gradient accumulation). */
#include "kernels/ref/util.h"

#include <string.h>

void sal__ref_accumulate(sal_tensor *dst, const sal_tensor *src, bool accum) {
  int64_t n = sal_tensor_numel(dst);
  if (!src) {
    if (!accum) memset(dst->data, 0, (size_t)n * sizeof(float));
    return;
  }
  float *d = dst->data;
  const float *s = src->data;
  if (accum) {
    #pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) d[i] += s[i];
  } else {
    memcpy(d, s, (size_t)n * sizeof(float));
  }
}
