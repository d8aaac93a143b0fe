/* ReduceMean (ONNX opsets 13–18): the mean over a set of axes, with `keepdims` (default 1) and
 * `noop_with_empty_axes` (default 0). Axes are the `axes` attribute (opset < 18) or the constant
 * input 1 (opset 18). Shape rule here; reference kernels in src/kernels/ref/reduce.c. */
#include "ops/reduce.h"

#include <math.h>

sal_status sal__reduce_mean_shape(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                  bool red[SAL_MAX_DIMS], sal_shape *out) {
  int64_t keepdims, noop;
  sal_status st = sal__attr_int(ctx, n, "keepdims", 1, &keepdims);
  if (!st) st = sal__attr_int(ctx, n, "noop_with_empty_axes", 0, &noop);
  if (st) return st;
  if (keepdims != 0 && keepdims != 1)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "keepdims is %lld, expected 0 or 1", (long long)keepdims);
  if (noop != 0 && noop != 1)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "noop_with_empty_axes is %lld, expected 0 or 1",
                         (long long)noop);

  /* Axes as int64 (attribute) or float (constant input: parameters are f32, so the importer stores
   * integer tensors as floats; they must be whole numbers). */
  const int64_t *attr_axes = NULL;
  int64_t n_axes = 0;
  st = sal__attr_ints(ctx, n, "axes", &attr_axes, &n_axes);
  if (st) return st;
  const float *in_axes = NULL;
  bool has_input = n->n_in > 1 && n->in[1] >= 0;
  if (has_input) {
    if (attr_axes)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axes are given both as an attribute and as input 1");
    in_axes = sal__node_const_input(g, n, 1, &n_axes);
    if (!in_axes) return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "axes (input 1) must be a constant");
    if (g->values[n->in[1]].shape.ndim > 1) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axes (input 1) must be 1-D, got shape %s",
                           sal_shape_str(&g->values[n->in[1]].shape, s, sizeof s));
    }
  }

  int r = in->ndim;
  for (int d = 0; d < SAL_MAX_DIMS; d++) red[d] = false;
  for (int64_t i = 0; i < n_axes; i++) {
    int64_t a;
    if (in_axes) {
      float f = in_axes[i];
      if (!(f == floorf(f)) || fabsf(f) > 64.0f)
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axes[%lld] = %g is not a valid axis", (long long)i,
                             (double)f);
      a = (int64_t)f;
    } else {
      a = attr_axes[i];
    }
    if (a < -r || a >= r) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "axis %lld is out of range for input %s (rank %d)",
                           (long long)a, sal_shape_str(in, s, sizeof s), r);
    }
    int d = (int)(a < 0 ? a + r : a);
    if (red[d]) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "axis %lld is listed twice", (long long)a);
    red[d] = true;
  }
  if (n_axes == 0 && !noop)
    for (int d = 0; d < r; d++) red[d] = true;

  out->ndim = 0;
  for (int d = 0; d < SAL_MAX_DIMS; d++) out->d[d] = 0;
  for (int d = 0; d < r; d++) {
    if (!red[d]) out->d[out->ndim++] = in->d[d];
    else if (keepdims) out->d[out->ndim++] = 1;
  }
  return SAL_STATUS_OK;
}

static sal_status infer_reduce_mean(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                    sal_shape *out) {
  bool red[SAL_MAX_DIMS];
  return sal__reduce_mean_shape(ctx, g, n, &in[0], red, &out[0]);
}

/* Input 1 (axes) is a constant: never differentiated. */
const sal_op_def sal__op_reduce_mean = {.name = "ReduceMean", .min_in = 1, .max_in = 2, .min_out = 1,
                                        .max_out = 1, .infer = infer_reduce_mean, .nograd_inputs = 1u << 1};
