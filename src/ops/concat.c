/* Concat and Split: joining tensors along one axis and cutting one tensor into pieces along an
 * axis (each the other's backward). Shape rules and definitions; reference kernels in
 * src/kernels/ref/concat.c. */
#include "ops/shape.h"

sal_status sal__concat_axis(sal_ctx *ctx, const sal_node *n, int rank, int *axis) {
  int64_t a;
  sal_status st = sal__attr_int(ctx, n, "axis", INT64_MIN, &a);
  if (st) return st;
  if (a == INT64_MIN) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "the attribute 'axis' is required");
  return sal__norm_axis(ctx, n, "axis", a, rank, axis);
}

sal_status sal__split_axis(sal_ctx *ctx, const sal_node *n, int rank, int *axis) {
  int64_t a;
  sal_status st = sal__attr_int(ctx, n, "axis", 0, &a);
  if (st) return st;
  return sal__norm_axis(ctx, n, "axis", a, rank, axis);
}

/* ONNX Concat-13: every input has the same rank and the same dims except along axis. */
static sal_status infer_concat(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                               sal_shape *out) {
  (void)g;
  for (int i = 0; i < n->n_in; i++)
    if (in[i].ndim < 0) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "input %d is missing", i);
  int axis;
  sal_status st = sal__concat_axis(ctx, n, in[0].ndim, &axis);
  if (st) return st;
  out[0] = in[0];
  for (int i = 1; i < n->n_in; i++) {
    bool ok = in[i].ndim == in[0].ndim;
    for (int d = 0; ok && d < in[0].ndim; d++)
      if (d != axis && in[i].d[d] != in[0].d[d]) ok = false;
    if (!ok) {
      char a[96], b[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE,
                           "input %d has shape %s, which does not match input 0 %s outside axis %d", i,
                           sal_shape_str(&in[i], a, sizeof a), sal_shape_str(&in[0], b, sizeof b), axis);
    }
    if (out[0].d[axis] > INT64_MAX - in[i].d[axis])
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "the concatenated axis %d overflows", axis);
    out[0].d[axis] += in[i].d[axis];
  }
  return SAL_STATUS_OK;
}

/* ONNX Split-13/18: sizes from the 'split' attribute (opset < 13) or constant input 1
 * (opset >= 13); else num_outputs (opset 18: ceil(dim / n) each, the last one smaller); else
 * equal parts, one per output. */
static sal_status infer_split(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                              sal_shape *out) {
  int axis;
  sal_status st = sal__split_axis(ctx, n, in[0].ndim, &axis);
  if (st) return st;
  int nout = n->n_out;
  int64_t dim = in[0].d[axis];
  int64_t sizes[SAL__MAX_ARGS], nouts_attr;
  int cnt_attr, cnt_in;
  st = sal__attr_ints_copy(ctx, n, "split", sizes, SAL__MAX_ARGS, &cnt_attr);
  if (st) return st;
  if (cnt_attr >= 0 && n->n_in > 1 && n->in[1] >= 0)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "split is given both as an attribute and as input 1");
  if (cnt_attr < 0) {
    st = sal__const_ints(ctx, g, n, 1, "split", 0, INT32_MAX, false, sizes, SAL__MAX_ARGS, &cnt_in);
    if (st) return st;
  } else {
    cnt_in = cnt_attr;
  }
  st = sal__attr_int(ctx, n, "num_outputs", -1, &nouts_attr);
  if (st) return st;
  int cnt = cnt_in;
  if (cnt >= 0) {
    if (nouts_attr != -1)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "split and num_outputs are both given; use one");
    if (cnt != nout)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "split has %d sizes for %d outputs", cnt, nout);
    int64_t sum = 0;
    for (int j = 0; j < cnt; j++) {
      if (sizes[j] < 0)
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "split[%d] = %lld is negative", j, (long long)sizes[j]);
      sum += sizes[j];
    }
    if (sum != dim) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "split sizes add up to %lld, but axis %d of input %s is %lld",
                           (long long)sum, axis, sal_shape_str(&in[0], s, sizeof s), (long long)dim);
    }
  } else if (nouts_attr != -1) {
    if (nouts_attr != nout)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "num_outputs is %lld but the node has %d outputs",
                           (long long)nouts_attr, nout);
    int64_t chunk = sal__ceil_div(dim, nout);
    if (chunk * (nout - 1) >= dim && nout > 1) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axis %d of input %s (%lld) cannot be split into %d non-empty parts",
                           axis, sal_shape_str(&in[0], s, sizeof s), (long long)dim, nout);
    }
    for (int j = 0; j < nout; j++) sizes[j] = j < nout - 1 ? chunk : dim - chunk * (nout - 1);
  } else {
    if (dim % nout != 0) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axis %d of input %s (%lld) does not split into %d equal parts",
                           axis, sal_shape_str(&in[0], s, sizeof s), (long long)dim, nout);
    }
    for (int j = 0; j < nout; j++) sizes[j] = dim / nout;
  }
  for (int j = 0; j < nout; j++) {
    out[j] = in[0];
    out[j].d[axis] = sizes[j];
  }
  return SAL_STATUS_OK;
}

const sal_op_def sal__op_concat = {
    .name = "Concat", .min_in = 1, .max_in = -1, .min_out = 1, .max_out = 1, .infer = infer_concat};
const sal_op_def sal__op_split = {.name = "Split", .min_in = 1, .max_in = 2, .min_out = 1, .max_out = SAL__MAX_ARGS,
                                  .infer = infer_split, .nograd_inputs = 1u << 1};
