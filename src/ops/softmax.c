/* Softmax and LogSoftmax with the opset-13 semantics: normalise along one axis (`axis`, default
 * -1, negative counts from the end). Shape rule here; reference kernels in
 * src/kernels/ref/softmax.c. (Opsets < 13 flattened the input to 2-D at `axis`; importers of such
 * models must rewrite them, this op implements only the per-axis form.) */
#include "ops/softmax.h"

sal_status sal__softmax_axis(sal_ctx *ctx, const sal_node *n, const sal_shape *in, int *axis) {
  int64_t a;
  sal_status st = sal__attr_int(ctx, n, "axis", -1, &a);
  if (st) return st;
  int r = in->ndim;
  if (a < -r || a >= r) {
    char s[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axis %lld is out of range for input %s (rank %d)",
                         (long long)a, sal_shape_str(in, s, sizeof s), r);
  }
  *axis = (int)(a < 0 ? a + r : a);
  return SAL_STATUS_OK;
}

static sal_status infer_softmax(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                sal_shape *out) {
  int axis;
  sal_status st = sal__softmax_axis(ctx, n, &in[0], &axis);
  return st ? st : sal__infer_same(ctx, g, n, in, out);
}

const sal_op_def sal__op_softmax = {
    .name = "Softmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_softmax};
const sal_op_def sal__op_log_softmax = {
    .name = "LogSoftmax", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_softmax};
