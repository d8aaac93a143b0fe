/* Blocked-layout conversions used at plan boundaries: nChw16c <-> NCHW, with channel padding. */
#include <stdlib.h>

#include "harness.h"
#include "tensor/layout.h"

int main(void) {
  sal_ctx *ctx = th_ctx();
  int64_t cs[] = {3, 16, 20, 33};
  for (int t = 0; t < 4; t++) {
    int64_t dims[4] = {2, cs[t], 3, 5};
    sal_shape s;
    sal_shape_make(&s, 4, dims);
    int64_t n = sal_shape_numel(&s), nb = sal__storage_numel(&s, SAL_LAYOUT_BLOCKED16);
    TH_CHECK(nb == 2 * ((cs[t] + 15) / 16 * 16) * 15, "padded storage for C=%lld: %lld", (long long)cs[t], (long long)nb);
    float *plain = malloc((size_t)n * sizeof(float)), *back = malloc((size_t)n * sizeof(float));
    float *blk = malloc((size_t)nb * sizeof(float));
    for (int64_t i = 0; i < n; i++) plain[i] = (float)i;
    sal_tensor bt = {s, blk, SAL_LAYOUT_BLOCKED16, false};
    sal__plain_to_blocked(plain, &bt);
    /* element (n=1, c, h=2, w=4) sits at ((1*CB + c/16)*15 + 2*5+4)*16 + c%16 */
    int64_t CB = (cs[t] + 15) / 16, c = cs[t] - 1;
    float want = plain[((1 * cs[t] + c) * 3 + 2) * 5 + 4];
    TH_CHECK(blk[((1 * CB + c / 16) * 15 + 14) * 16 + c % 16] == want, "blocked index C=%lld", (long long)cs[t]);
    int pad_zero = 1;
    for (int64_t q = 0; q < 2 * CB * 15; q++)
      for (int64_t l = cs[t] - (CB - 1) * 16; l < 16; l++)
        if (((q / 15) % CB) == CB - 1 && blk[q * 16 + l] != 0.0f) pad_zero = 0;
    TH_CHECK(pad_zero, "padding channels are zero for C=%lld", (long long)cs[t]);
    sal__blocked_to_plain(&bt, back);
    th_allclose("layout round trip", back, plain, n, 0, 0);
    free(plain);
    free(back);
    free(blk);
  }
  (void)ctx;
  return th_finish("test_layout");
}
