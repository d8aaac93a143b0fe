/* Slice: strided windows along some axes (negative indices count from the end, out-of-range ones
 * are clamped, negative steps walk backwards). Shape rule, the parser shared with the reference
 * kernel (src/kernels/ref/slice.c), and the definition. */
#include "ops/shape.h"

#include <stdio.h>

/* Far beyond any dim, small enough that adding a dim or a step cannot overflow. */
#define BIG ((int64_t)1 << 62)

/* Reads starts/ends/axes/steps: constant inputs 1..4 (opset >= 10) or attributes starts, ends,
 * axes (opset < 10). Counts are -1 when absent. */
static sal_status read_args(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int64_t v[4][SAL__MAX_ARGS],
                            int cnt[4]) {
  static const char *const names[4] = {"starts", "ends", "axes", "steps"};
  sal_status st;
  if (n->n_in == 1) {
    for (int k = 0; k < 3; k++) {
      st = sal__attr_ints_copy(ctx, n, names[k], v[k], SAL__MAX_ARGS, &cnt[k]);
      if (st) return st;
    }
    cnt[3] = -1;
    if (cnt[0] < 0 || cnt[1] < 0)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT,
                           "starts and ends are required (as inputs 1 and 2, or as attributes before opset 10)");
    return SAL_STATUS_OK;
  }
  for (int k = 0; k < 3; k++) {
    const int64_t *a;
    int64_t m;
    st = sal__attr_ints(ctx, n, names[k], &a, &m);
    if (st) return st;
    if (a) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%s is given both as an attribute and as an input", names[k]);
  }
  for (int k = 0; k < 4; k++) {
    /* starts/ends/steps clamp (INT64_MAX means "to the end"); axes are checked below. */
    st = sal__const_ints(ctx, g, n, 1 + k, names[k], -BIG, BIG, k != 2, v[k], SAL__MAX_ARGS, &cnt[k]);
    if (st) return st;
  }
  if (cnt[0] < 0 || cnt[1] < 0)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "inputs 1 (starts) and 2 (ends) are required");
  return SAL_STATUS_OK;
}

/* ONNX Slice-13. */
sal_status sal__slice_parse(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                            sal__slice_params *p) {
  int64_t v[4][SAL__MAX_ARGS];
  int cnt[4];
  sal_status st = read_args(ctx, g, n, v, cnt);
  if (st) return st;
  int r = in->ndim, m = cnt[0];
  if (r == 0) return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot slice a scalar (rank 0)");
  if (cnt[1] != m || (cnt[2] >= 0 && cnt[2] != m) || (cnt[3] >= 0 && cnt[3] != m))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT,
                         "starts, ends, axes and steps have different lengths (%d, %d, %d, %d)", cnt[0], cnt[1],
                         cnt[2], cnt[3]);
  if (cnt[2] < 0 && m > r)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%d starts for an input of rank %d", m, r);
  p->out = *in;
  for (int d = 0; d < r; d++) {
    p->start[d] = 0;
    p->step[d] = 1;
  }
  bool seen[SAL_MAX_DIMS] = {false};
  for (int i = 0; i < m; i++) {
    int a = i;
    if (cnt[2] >= 0) {
      char what[32];
      snprintf(what, sizeof what, "axes[%d] =", i);
      st = sal__norm_axis(ctx, n, what, v[2][i], r, &a);
      if (st) return st;
    }
    if (seen[a]) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axes lists axis %d twice", a);
    seen[a] = true;
    int64_t step = cnt[3] >= 0 ? v[3][i] : 1;
    if (step == 0) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "steps[%d] is 0", i);
    int64_t dim = in->d[a], s = v[0][i], e = v[1][i], len;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (dim == 0) {
      s = 0;
      len = 0;
    } else if (step > 0) {
      s = s < 0 ? 0 : (s > dim ? dim : s);
      e = e < 0 ? 0 : (e > dim ? dim : e);
      len = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = s < 0 ? 0 : (s > dim - 1 ? dim - 1 : s);
      e = e < -1 ? -1 : (e > dim - 1 ? dim - 1 : e);
      len = s > e ? (s - e - step - 1) / -step : 0;
    }
    p->start[a] = s;
    p->step[a] = step;
    p->out.d[a] = len;
  }
  return SAL_STATUS_OK;
}

static sal_status infer_slice(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                              sal_shape *out) {
  sal__slice_params p;
  sal_status st = sal__slice_parse(ctx, g, n, &in[0], &p);
  if (st) return st;
  out[0] = p.out;
  return SAL_STATUS_OK;
}

const sal_op_def sal__op_slice = {.name = "Slice", .min_in = 1, .max_in = 5, .min_out = 1, .max_out = 1,
                                  .infer = infer_slice, .nograd_inputs = 0x1eu};
