/* Core: status names, error messages, the counter-based RNG, the allocator's fault injection. */
#include <math.h>
#include <string.h>

#include "harness.h"

int main(void) {
  sal_ctx *ctx = th_ctx();
  TH_CHECK(strcmp(sal_status_name(SAL_STATUS_OK), "ok") == 0, "status name ok");
  TH_CHECK(strcmp(sal_status_name(SAL_STATUS_SHAPE), "shape mismatch") == 0, "status name shape");
  TH_CHECK(strcmp(sal_status_name((sal_status)999), "unknown status") == 0, "out-of-range status");

  TH_CHECK(sal_ctx_error(ctx, SAL_STATUS_IO, "file %s: %d", "x.png", 3) == SAL_STATUS_IO, "error returns status");
  TH_CHECK(strcmp(sal_ctx_last_error(ctx), "file x.png: 3") == 0, "message kept: %s", sal_ctx_last_error(ctx));
  sal_ctx_error_prefix(ctx, SAL_STATUS_IO, "loading: ");
  TH_CHECK(strcmp(sal_ctx_last_error(ctx), "loading: file x.png: 3") == 0, "prefix: %s", sal_ctx_last_error(ctx));

  /* RNG: element i is a pure function of (seed, stream, i), whatever the chunking. */
  float a[1000], b[1000];
  sal_rng_uniform(42, 3, 0, a, 1000);
  sal_rng_uniform(42, 3, 0, b, 500);
  sal_rng_uniform(42, 3, 500, b + 500, 500);
  TH_CHECK(memcmp(a, b, sizeof a) == 0, "uniform chunking invariant");
  double mean = 0, lo = 1, hi = 0;
  for (int i = 0; i < 1000; i++) {
    mean += a[i] / 1000.0;
    lo = fmin(lo, a[i]);
    hi = fmax(hi, a[i]);
  }
  /* mean of 1000 U(0,1) has sd 0.009: 0.05 is > 5 sd */
  TH_CHECK(fabs(mean - 0.5) < 0.05 && lo >= 0 && hi < 1, "uniform range/mean %f %f %f", mean, lo, hi);
  sal_rng_uniform(43, 3, 0, b, 1000);
  TH_CHECK(memcmp(a, b, sizeof a) != 0, "different seeds differ");
  float nrm[4000];
  sal_rng_normal(7, 0, 0, nrm, 4000);
  float nrm2[4000];
  sal_rng_normal(7, 0, 0, nrm2, 1001);
  sal_rng_normal(7, 0, 1001, nrm2 + 1001, 2);
  sal_rng_normal(7, 0, 1003, nrm2 + 1003, 2997);
  TH_CHECK(memcmp(nrm, nrm2, sizeof nrm) == 0, "normal chunking invariant (unaligned offsets)");
  float big[100000];
  sal_rng_normal(7, 0, 0, big, 100000); /* the threaded path */
  TH_CHECK(memcmp(big, nrm, sizeof nrm) == 0, "normal threaded path identical");
  double m = 0, v = 0;
  for (int i = 0; i < 4000; i++) m += nrm[i] / 4000.0;
  for (int i = 0; i < 4000; i++) v += (nrm[i] - m) * (nrm[i] - m) / 4000.0;
  /* sd of the sample mean is 0.016, of the variance ~0.022: 0.1 is > 4 sd */
  TH_CHECK(fabs(m) < 0.1 && fabs(v - 1) < 0.1, "normal moments %f %f", m, v);

  /* Allocator: alignment, overflow, fault injection. */
  void *p = sal_alloc(ctx, 100);
  TH_CHECK(p && ((uintptr_t)p & 63) == 0, "64-byte aligned");
  sal_free(p);
  TH_CHECK(sal_calloc(ctx, SIZE_MAX / 2, 4) == NULL, "calloc overflow refused");
  sal_ctx_fail_alloc_after(ctx, 2);
  void *q1 = sal_alloc(ctx, 8), *q2 = sal_alloc(ctx, 8), *q3 = sal_alloc(ctx, 8);
  TH_CHECK(q1 && !q2 && q3, "second allocation fails under injection");
  sal_free(q1);
  sal_free(q3);
  sal_free(NULL);

  /* Tensor basics. */
  sal_tensor *t = NULL;
  TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){2, 3, 4, 5}, &t));
  TH_CHECK(t && sal_tensor_numel(t) == 120, "numel");
  char buf[64];
  TH_CHECK(strcmp(sal_shape_str(&t->shape, buf, sizeof buf), "(2, 3, 4, 5)") == 0, "shape str %s", buf);
  sal_tensor_free(t);
  TH_FAILS(sal_tensor_new(ctx, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, &t), SAL_STATUS_BAD_INPUT, "bad shape");
  TH_FAILS(sal_tensor_new(ctx, 2, (int64_t[]){-1, 3}, &t), SAL_STATUS_BAD_INPUT, NULL);
  return th_finish("test_core");
}
