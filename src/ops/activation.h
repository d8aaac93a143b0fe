/* Attribute readers for the activation ops, shared by their shape rules (src/ops/activation.c)
 * and their kernels (src/kernels/ref/activation.c, and any oneDNN kernel), so that defaults and
 * validation live in one place. Each returns SAL_STATUS_OK or an error naming the node. */
#ifndef SAL_OPS_ACTIVATION_H
#define SAL_OPS_ACTIVATION_H

#include "graph/internal.h"

/* LeakyRelu's `alpha` (ONNX default 0.01); BAD_INPUT when not finite. */
sal_status sal__leaky_relu_alpha(sal_ctx *ctx, const sal_node *n, float *alpha);
/* HardSigmoid's `alpha` (default 0.2) and `beta` (default 0.5); BAD_INPUT when not finite. */
sal_status sal__hard_sigmoid_params(sal_ctx *ctx, const sal_node *n, float *alpha, float *beta);
/* Clip's bounds: the `min`/`max` attributes (opset < 11) or the constant scalar inputs 1 and 2
 * (opset >= 11); absent bounds are -FLT_MAX / FLT_MAX as in the spec. Errors: BAD_INPUT (a bound
 * given both ways, or NaN), UNSUPPORTED (a bound input that is not a constant), SHAPE (a bound
 * input with more than one element). */
sal_status sal__clip_bounds(sal_ctx *ctx, const sal_graph *g, const sal_node *n, float *lo, float *hi);

#endif
