/* Conversions between plain NCHW and the nChw16c blocked layout oneDNN kernels keep activations
 * in; used only at plan boundaries (reading a value, seeding a gradient). */
#include "tensor/layout.h"

int64_t sal__storage_numel(const sal_shape *s, sal_layout l) {
  if (l != SAL_LAYOUT_BLOCKED16 || s->ndim != 4) return sal_shape_numel(s);
  int64_t cp = (s->d[1] + SAL_BLOCK - 1) / SAL_BLOCK * SAL_BLOCK;
  return s->d[0] * cp * s->d[2] * s->d[3];
}

void sal__blocked_to_plain(const sal_tensor *src, float *dst) {
  // src is (N, Cp/16, H, W, 16), dst is (N, C, H, W)
  int64_t N = src->shape.d[0], C = src->shape.d[1], HW = src->shape.d[2] * src->shape.d[3];
  int64_t CB = (C + SAL_BLOCK - 1) / SAL_BLOCK;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      const float *s = src->data + ((n * CB + c / SAL_BLOCK) * HW) * SAL_BLOCK + c % SAL_BLOCK;
      float *d = dst + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; i++) d[i] = s[i * SAL_BLOCK];
    }
}

void sal__plain_to_blocked(const float *src, sal_tensor *dst) {
  int64_t N = dst->shape.d[0], C = dst->shape.d[1], HW = dst->shape.d[2] * dst->shape.d[3];
  int64_t CB = (C + SAL_BLOCK - 1) / SAL_BLOCK;
  #pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; n++)
    for (int64_t cb = 0; cb < CB; cb++) {
      float *d = dst->data + (n * CB + cb) * HW * SAL_BLOCK;
      for (int64_t i = 0; i < HW; i++)
        for (int64_t l = 0; l < SAL_BLOCK; l++) {
          int64_t c = cb * SAL_BLOCK + l;
          d[i * SAL_BLOCK + l] = c < C ? src[(n * C + c) * HW + i] : 0.0f;
        }
    }
}
