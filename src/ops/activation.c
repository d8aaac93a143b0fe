/* Activation ops (elementwise, same shape in and out): Relu, LeakyRelu, Sigmoid, Tanh, Clip,
 * HardSigmoid, HardSwish — shape rules, attribute validation and definitions. Reference kernels
 * in src/kernels/ref/activation.c. Semantics: ONNX operators at opset 13–18. */
#include "ops/activation.h"

#include <float.h>
#include <math.h>

const sal_op_def sal__op_relu = {
    .name = "Relu", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};
const sal_op_def sal__op_sigmoid = {
    .name = "Sigmoid", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};
const sal_op_def sal__op_tanh = {
    .name = "Tanh", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};
/* HardSwish (opset 14) has no attributes: alpha = 1/6 and beta = 0.5 are fixed. */
const sal_op_def sal__op_hard_swish = {
    .name = "HardSwish", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};

static sal_status finite_attr(sal_ctx *ctx, const sal_node *n, const char *name, float def, float *out) {
  sal_status st = sal__attr_float(ctx, n, name, def, out);
  if (st) return st;
  if (!isfinite(*out))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "attribute '%s' is %g, expected a finite number", name,
                         (double)*out);
  return SAL_STATUS_OK;
}

sal_status sal__leaky_relu_alpha(sal_ctx *ctx, const sal_node *n, float *alpha) {
  return finite_attr(ctx, n, "alpha", 0.01f, alpha);
}

sal_status sal__hard_sigmoid_params(sal_ctx *ctx, const sal_node *n, float *alpha, float *beta) {
  sal_status st = finite_attr(ctx, n, "alpha", 0.2f, alpha);
  return st ? st : finite_attr(ctx, n, "beta", 0.5f, beta);
}

/* One bound of Clip: input `idx` (opset >= 11) or attribute `name` (opset 6–10), else `def`. */
static sal_status clip_bound(sal_ctx *ctx, const sal_graph *g, const sal_node *n, int idx, const char *name,
                             float def, float *out) {
  bool in_given = idx < n->n_in && n->in[idx] >= 0;
  if (in_given && sal__attr_has(n, name))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "'%s' is given both as an attribute and as input %d", name,
                         idx);
  if (!in_given) {
    sal_status st = sal__attr_float(ctx, n, name, def, out);
    if (st) return st;
  } else {
    int64_t numel = 0;
    const float *c = sal__node_const_input(g, n, idx, &numel);
    if (!c)
      return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "'%s' (input %d) must be a constant", name, idx);
    if (numel != 1) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "'%s' (input %d) must be a scalar, got shape %s", name, idx,
                           sal_shape_str(&g->values[n->in[idx]].shape, s, sizeof s));
    }
    *out = c[0];
  }
  if (isnan(*out)) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "'%s' is NaN", name);
  return SAL_STATUS_OK;
}

sal_status sal__clip_bounds(sal_ctx *ctx, const sal_graph *g, const sal_node *n, float *lo, float *hi) {
  /* The spec's defaults are numeric_limits<float>::lowest() and max(). */
  sal_status st = clip_bound(ctx, g, n, 1, "min", -FLT_MAX, lo);
  return st ? st : clip_bound(ctx, g, n, 2, "max", FLT_MAX, hi);
}

static sal_status infer_leaky_relu(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                   sal_shape *out) {
  float alpha;
  sal_status st = sal__leaky_relu_alpha(ctx, n, &alpha);
  return st ? st : sal__infer_same(ctx, g, n, in, out);
}

static sal_status infer_hard_sigmoid(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                     sal_shape *out) {
  float alpha, beta;
  sal_status st = sal__hard_sigmoid_params(ctx, n, &alpha, &beta);
  return st ? st : sal__infer_same(ctx, g, n, in, out);
}

static sal_status infer_clip(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                             sal_shape *out) {
  float lo, hi;
  sal_status st = sal__clip_bounds(ctx, g, n, &lo, &hi);
  return st ? st : sal__infer_same(ctx, g, n, in, out);
}

const sal_op_def sal__op_leaky_relu = {
    .name = "LeakyRelu", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_leaky_relu};
const sal_op_def sal__op_hard_sigmoid = {
    .name = "HardSigmoid", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = infer_hard_sigmoid};
/* Clip's bounds (inputs 1 and 2) are constants: they never receive a gradient. The gradient wrt
 * x passes only where min < x < max (hardtanh's convention, see src/kernels/ref/activation.c). */
const sal_op_def sal__op_clip = {.name = "Clip", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 1,
                                 .infer = infer_clip, .nograd_inputs = (1u << 1) | (1u << 2)};
