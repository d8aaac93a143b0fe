/* Flatten and Reshape: the same data in row-major order under a new shape. Shape rules and
 * definitions; the reference kernels (copies) are in src/kernels/ref/reshape.c. */
#include "ops/shape.h"

#include <stdio.h>

/* Formats ints as "(a, b, c)" into buf. */
static const char *ints_str(const int64_t *v, int n, char *buf, size_t cap) {
  size_t used = 0;
  used += (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < n && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%lld", i ? ", " : "", (long long)v[i]);
  if (used < cap) snprintf(buf + used, cap - used, ")");
  return buf;
}

/* ONNX Flatten-13: y is (d0*...*d(axis-1), d(axis)*...*d(r-1)); axis in [-r, r]. */
static sal_status infer_flatten(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                sal_shape *out) {
  (void)g;
  int64_t axis;
  sal_status st = sal__attr_int(ctx, n, "axis", 1, &axis);
  if (st) return st;
  int r = in[0].ndim;
  if (axis < -r || axis > r)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axis %lld is out of range for rank %d (allowed %d..%d)",
                         (long long)axis, r, -r, r);
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < r; d++) {
    if (d < axis) outer *= in[0].d[d];
    else inner *= in[0].d[d];
  }
  out[0].ndim = 2;
  out[0].d[0] = outer;
  out[0].d[1] = inner;
  return SAL_STATUS_OK;
}

/* ONNX Reshape-14: the target shape is input 1 (constant). 0 copies the input's dim at the same
 * index (or means 0 when allowzero = 1); one -1 is inferred from the element count. */
static sal_status infer_reshape(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                sal_shape *out) {
  int64_t allowzero;
  sal_status st = sal__attr_int(ctx, n, "allowzero", 0, &allowzero);
  if (st) return st;
  if (allowzero != 0 && allowzero != 1)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "allowzero must be 0 or 1, got %lld", (long long)allowzero);
  if (n->in[1] < 0) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "the shape input is missing");
  int64_t shp[SAL__MAX_ARGS];
  int cnt;
  /* 2^31 bounds each dim well below int64 overflow of a 5-D product check below. */
  st = sal__const_ints(ctx, g, n, 1, "shape", -1, INT32_MAX, false, shp, SAL_MAX_DIMS, &cnt);
  if (st) return st;
  if (cnt < 0) cnt = 0; /* an empty shape: reshape to a scalar */
  const sal_shape *x = &in[0];
  int64_t numel = sal_shape_numel(x);
  char a[96], b[96];
  int infer_at = -1;
  bool any_zero = false;
  /* known = product of the dims other than -1, saturated at INT64_MAX / 2^31 so it cannot
   * overflow; a saturated product never matches numel. */
  int64_t known = 1;
  const int64_t sat = INT64_MAX >> 31;
  out[0].ndim = cnt;
  for (int i = 0; i < cnt; i++) {
    int64_t v = shp[i];
    if (v == -1) {
      if (infer_at >= 0)
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "shape %s has more than one -1",
                             ints_str(shp, cnt, a, sizeof a));
      infer_at = i;
      continue;
    }
    if (v == 0 && !allowzero) {
      if (i >= x->ndim)
        return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "shape %s: a 0 at index %d copies an input dim, but input %s has rank %d",
                             ints_str(shp, cnt, a, sizeof a), i, sal_shape_str(x, b, sizeof b), x->ndim);
      v = x->d[i];
    }
    if (v == 0) any_zero = true;
    out[0].d[i] = v;
    known = known > sat ? sat + 1 : known * v;
  }
  if (infer_at >= 0) {
    if (any_zero)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot reshape input %s with %lld elements to shape %s: -1 cannot be inferred beside a 0 dim",
                           sal_shape_str(x, b, sizeof b), (long long)numel, ints_str(shp, cnt, a, sizeof a));
    if (known > sat || numel % known != 0)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot reshape input %s with %lld elements to shape %s: %lld is not a multiple of %lld",
                           sal_shape_str(x, b, sizeof b), (long long)numel, ints_str(shp, cnt, a, sizeof a),
                           (long long)numel, (long long)known);
    out[0].d[infer_at] = numel / known;
  } else if (known != numel) {
    if (known > sat)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot reshape input %s with %lld elements to shape %s with more than 2^32 elements",
                           sal_shape_str(x, b, sizeof b), (long long)numel, ints_str(shp, cnt, a, sizeof a));
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "cannot reshape input %s with %lld elements to shape %s with %lld elements",
                         sal_shape_str(x, b, sizeof b), (long long)numel, ints_str(shp, cnt, a, sizeof a),
                         (long long)known);
  }
  return SAL_STATUS_OK;
}

const sal_op_def sal__op_flatten = {
    .name = "Flatten", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_flatten};
const sal_op_def sal__op_reshape = {.name = "Reshape", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                    .infer = infer_reshape, .nograd_inputs = 1u << 1};
