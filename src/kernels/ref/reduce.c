/* Reference kernels for ReduceMean. The output is handled in its keepdims form (reduced axes of
 * size 1; dropping them does not change the element order): forward sums, in double, the R input
 * elements behind each output element; backward spreads dy / R back over them. */
#include "graph/internal.h"
#include "ops/reduce.h"

/* Geometry of one reduction: the input shape and strides, which axes are reduced, the keepdims
 * output strides (0 on reduced axes) and R, the number of elements averaged per output. */
typedef struct geom {
  int ndim;
  int64_t d[SAL_MAX_DIMS];
  int64_t in_stride[SAL_MAX_DIMS];
  int64_t out_stride[SAL_MAX_DIMS];
  bool red[SAL_MAX_DIMS];
  int64_t count;      /* R */
  int64_t out_numel;
} geom;

static sal_status get_geom(sal_kctx *k, geom *gm) {
  const sal_shape *in = &k->in[0]->shape;
  sal_shape out;
  sal_status st = sal__reduce_mean_shape(k->ctx, k->graph, k->node, in, gm->red, &out);
  if (st) return st;
  if (!sal_shape_equal(&out, &k->out[0]->shape))
    return sal__op_error(k->ctx, k->node, SAL_STATUS_BAD_STATE, "axes changed after the plan was made");
  gm->ndim = in->ndim;
  int64_t s_in = 1, s_out = 1;
  gm->count = 1;
  for (int d = in->ndim - 1; d >= 0; d--) {
    gm->d[d] = in->d[d];
    gm->in_stride[d] = s_in;
    s_in *= in->d[d];
    if (gm->red[d]) {
      gm->out_stride[d] = 0;
      gm->count *= in->d[d];
    } else {
      gm->out_stride[d] = s_out;
      s_out *= in->d[d];
    }
  }
  gm->out_numel = s_out;
  return SAL_STATUS_OK;
}

static sal_status reduce_mean_forward(sal_kctx *k) {
  // x is (d0, ..., d_{r-1}); y is x's shape with reduced axes of size 1 (or removed)
  geom gm;
  sal_status st = get_geom(k, &gm);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  #pragma omp parallel for if (gm.out_numel * gm.count > 32768) schedule(static)
  for (int64_t o = 0; o < gm.out_numel; o++) {
    /* Offset of the first input element of output o: its coordinates on the kept axes. */
    int64_t base = 0, rem = o;
    for (int d = gm.ndim - 1; d >= 0; d--) {
      if (gm.red[d]) continue;
      base += (rem % gm.d[d]) * gm.in_stride[d];
      rem /= gm.d[d];
    }
    double sum = 0.0;
    for (int64_t j = 0; j < gm.count; j++) {
      /* j enumerates the coordinates on the reduced axes. */
      int64_t off = base, rj = j;
      for (int d = gm.ndim - 1; d >= 0; d--) {
        if (!gm.red[d]) continue;
        off += (rj % gm.d[d]) * gm.in_stride[d];
        rj /= gm.d[d];
      }
      sum += x[off];
    }
    y[o] = (float)(sum / (double)gm.count);
  }
  return SAL_STATUS_OK;
}

static sal_status reduce_mean_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  geom gm;
  sal_status st = get_geom(k, &gm);
  if (st) return st;
  const float *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  int64_t n = sal_tensor_numel(k->in[0]);
  double inv = 1.0 / (double)gm.count;
  #pragma omp parallel for if (n > 32768) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    int64_t o = 0, rem = i;
    for (int d = gm.ndim - 1; d >= 0; d--) {
      o += (rem % gm.d[d]) * gm.out_stride[d];
      rem /= gm.d[d];
    }
    dx[i] += (float)((double)dy[o] * inv);
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_reduce_mean = {.name = "ref", .forward = reduce_mean_forward,
                                         .backward = reduce_mean_backward};
