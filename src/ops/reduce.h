/* ReduceMean's axes and output shape, shared by the shape rule (src/ops/reduce.c) and the kernels
 * (src/kernels/ref/reduce.c). */
#ifndef SAL_OPS_REDUCE_H
#define SAL_OPS_REDUCE_H

#include "graph/internal.h"

/* For input shape `in`: red[d] = true for each reduced axis, *out = the output shape. Axes come
 * from the `axes` attribute (opset < 18) or the constant input 1 (opset 18); empty axes reduce
 * everything unless noop_with_empty_axes = 1 (then nothing is reduced). Errors name the node:
 * SHAPE (an axis out of range), BAD_INPUT (duplicate or non-integer axes, axes given both ways, bad
 * keepdims / noop_with_empty_axes), UNSUPPORTED (axes input not a constant). */
sal_status sal__reduce_mean_shape(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                  bool red[SAL_MAX_DIMS], sal_shape *out);

#endif
