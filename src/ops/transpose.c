/* Transpose: permutes the dimensions. Shape rule, the perm parser shared with the reference kernel
 * (src/kernels/ref/transpose.c), and the definition. */
#include "ops/shape.h"

/* ONNX Transpose-13: perm defaults to reversing the dims; it must be a permutation of 0..r-1. */
sal_status sal__transpose_parse(sal_ctx *ctx, const sal_node *n, int rank, sal__transpose_params *p) {
  int64_t perm[SAL__MAX_ARGS];
  int cnt;
  sal_status st = sal__attr_ints_copy(ctx, n, "perm", perm, SAL__MAX_ARGS, &cnt);
  if (st) return st;
  if (cnt < 0) {
    for (int i = 0; i < rank; i++) p->perm[i] = rank - 1 - i;
    return SAL_STATUS_OK;
  }
  if (cnt != rank)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "perm has %d entries, the input has rank %d", cnt, rank);
  bool seen[SAL_MAX_DIMS] = {false};
  for (int i = 0; i < rank; i++) {
    if (perm[i] < 0 || perm[i] >= rank)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "perm[%d] = %lld is out of range 0..%d", i,
                           (long long)perm[i], rank - 1);
    if (seen[perm[i]])
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "perm lists axis %lld twice", (long long)perm[i]);
    seen[perm[i]] = true;
    p->perm[i] = (int)perm[i];
  }
  return SAL_STATUS_OK;
}

static sal_status infer_transpose(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                  sal_shape *out) {
  (void)g;
  sal__transpose_params p;
  sal_status st = sal__transpose_parse(ctx, n, in[0].ndim, &p);
  if (st) return st;
  out[0].ndim = in[0].ndim;
  for (int i = 0; i < in[0].ndim; i++) out[0].d[i] = in[0].d[p.perm[i]];
  return SAL_STATUS_OK;
}

const sal_op_def sal__op_transpose = {
    .name = "Transpose", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_transpose};
