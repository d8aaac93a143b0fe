/* Argument readers for the shape op family: integers and reals from constant inputs (salient keeps
 * every parameter as float, so ONNX's int64 shape tensors arrive converted) and from attributes. */
#include "ops/shape.h"

#include <math.h>

/* Validates constant input i: present (else *data NULL, OK), a parameter, rank <= 1, <= cap. */
static sal_status const_input(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int i, const char *what,
                              int cap, const float **data, int64_t *numel) {
  *data = NULL;
  *numel = 0;
  if (i >= n->n_in || n->in[i] < 0) return SAL_STATUS_OK;
  const sal_value *v = &g->values[n->in[i]];
  const float *d = sal__node_const_input(g, n, i, numel);
  if (!d)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED,
                         "input %d '%s' (%s) is computed by the graph; only constant %s (a parameter) is supported",
                         i, v->name, what, what);
  if (v->shape.ndim > 1) {
    char s[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "input %d '%s' (%s) must be 1-D, it has shape %s", i, v->name,
                         what, sal_shape_str(&v->shape, s, sizeof s));
  }
  if (*numel > cap)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "input %d '%s' (%s) has %lld values, at most %d are allowed", i,
                         v->name, what, (long long)*numel, cap);
  *data = d;
  return SAL_STATUS_OK;
}

sal_status sal__const_ints(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int i, const char *what,
                           int64_t lo, int64_t hi, bool clamp, int64_t *out, int cap, int *count) {
  const float *d;
  int64_t numel;
  *count = -1;
  sal_status st = const_input(ctx, g, n, i, what, cap, &d, &numel);
  if (st || !d || numel == 0) return st;
  for (int64_t j = 0; j < numel; j++) {
    double v = d[j];
    if (!(v == floor(v)))  /* also rejects NaN and infinities */
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%s[%lld] = %g is not an integer", what, (long long)j, v);
    /* Compare in double before converting: the float of INT64_MAX is 2^63, beyond int64. */
    if (v < (double)lo || v > (double)hi) {
      if (!clamp)
        return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%s[%lld] = %.0f is outside %lld..%lld", what, (long long)j,
                             v, (long long)lo, (long long)hi);
      out[j] = v < (double)lo ? lo : hi;
    } else {
      out[j] = (int64_t)v;
    }
  }
  *count = (int)numel;
  return SAL_STATUS_OK;
}

sal_status sal__const_floats(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int i, const char *what,
                             float *out, int cap, int *count) {
  const float *d;
  int64_t numel;
  *count = -1;
  sal_status st = const_input(ctx, g, n, i, what, cap, &d, &numel);
  if (st || !d || numel == 0) return st;
  for (int64_t j = 0; j < numel; j++) {
    if (!isfinite(d[j]))
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%s[%lld] = %g is not finite", what, (long long)j, d[j]);
    out[j] = d[j];
  }
  *count = (int)numel;
  return SAL_STATUS_OK;
}

sal_status sal__attr_ints_copy(sal_ctx *ctx, const sal_node *n, const char *name, int64_t *out, int cap,
                               int *count) {
  const int64_t *v;
  int64_t m;
  *count = -1;
  sal_status st = sal__attr_ints(ctx, n, name, &v, &m);
  if (st || !v) return st;
  if (m > cap)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "attribute '%s' has %lld values, at most %d are allowed", name,
                         (long long)m, cap);
  for (int64_t j = 0; j < m; j++) out[j] = v[j];
  *count = (int)m;
  return SAL_STATUS_OK;
}

sal_status sal__norm_axis(sal_ctx *ctx, const sal_node *n, const char *what, int64_t axis, int rank, int *out) {
  if (rank == 0)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "%s %lld: the input is a scalar (rank 0) and has no axes", what,
                         (long long)axis);
  if (axis < -rank || axis >= rank)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "%s %lld is out of range for rank %d (allowed %d..%d)", what,
                         (long long)axis, rank, -rank, rank - 1);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return SAL_STATUS_OK;
}
