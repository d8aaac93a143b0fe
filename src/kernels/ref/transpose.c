/* Reference kernel for Transpose: y[o] = x[o permuted back]; backward applies the inverse
 * permutation to dy. The permutation (a bijection) makes both directions race-free. */
#include "kernels/ref/util.h"
#include "ops/shape.h"

static sal_status transpose_prepare(sal_kctx *k) {
  sal__transpose_params *p = sal_alloc(k->ctx, sizeof *p);
  if (!p) return SAL_STATUS_OUT_OF_MEMORY;
  sal_status st = sal__transpose_parse(k->ctx, k->node, k->in[0]->shape.ndim, p);
  if (st) {
    sal_free(p);
    return st;
  }
  k->state = p;
  return SAL_STATUS_OK;
}

static void transpose_release(sal_kctx *k) {
  sal_free(k->state);
  k->state = NULL;
}

/* Walks y's elements in order; element (o_0..o_{r-1}) of y is element o_i along dim perm[i] of x.
 * Forward: y[.] = x[.]. Backward (to_x): dx[.] = or += dy[.]. */
static void walk(const sal_kctx *k, const float *src, float *dst, bool to_x, bool accum) {
  const sal__transpose_params *p = k->state;
  const sal_shape *xs = &k->in[0]->shape, *ys = &k->out[0]->shape;
  int r = xs->ndim;
  int64_t n = sal_shape_numel(ys);
  if (r == 0) {
    dst[0] = accum ? dst[0] + src[0] : src[0];
    return;
  }
  int64_t xstride[SAL_MAX_DIMS], st[SAL_MAX_DIMS];
  xstride[r - 1] = 1;
  for (int d = r - 2; d >= 0; d--) xstride[d] = xstride[d + 1] * xs->d[d + 1];
  for (int i = 0; i < r; i++) st[i] = xstride[p->perm[i]]; /* x-stride of y's dim i */
  int64_t w = ys->d[r - 1], rows = w ? n / w : 0, sl = st[r - 1];
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t row = 0; row < rows; row++) {
    int64_t rem = row, base = 0;
    for (int i = r - 2; i >= 0; i--) {
      base += (rem % ys->d[i]) * st[i];
      rem /= ys->d[i];
    }
    const int64_t yo = row * w;
    if (!to_x) {
      for (int64_t j = 0; j < w; j++) dst[yo + j] = src[base + j * sl];
    } else if (accum) {
      for (int64_t j = 0; j < w; j++) dst[base + j * sl] += src[yo + j];
    } else {
      for (int64_t j = 0; j < w; j++) dst[base + j * sl] = src[yo + j];
    }
  }
}

static sal_status transpose_forward(sal_kctx *k) {
  // x is (d_0, ..., d_{r-1}); y is (d_perm[0], ..., d_perm[r-1])
  walk(k, k->in[0]->data, k->out[0]->data, false, false);
  return SAL_STATUS_OK;
}

static sal_status transpose_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  if (!k->dout[0]) {
    sal__ref_accumulate(k->din[0], NULL, k->din_accum[0]);
    return SAL_STATUS_OK;
  }
  walk(k, k->dout[0]->data, k->din[0]->data, true, k->din_accum[0]);
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_transpose = {.name = "ref",
                                       .prepare = transpose_prepare,
                                       .release = transpose_release,
                                       .forward = transpose_forward,
                                       .backward = transpose_backward};
