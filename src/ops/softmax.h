/* The axis of Softmax / LogSoftmax, shared by the shape rule (src/ops/softmax.c) and the kernels
 * (src/kernels/ref/softmax.c). */
#ifndef SAL_OPS_SOFTMAX_H
#define SAL_OPS_SOFTMAX_H

#include "graph/internal.h"

/* The `axis` attribute (default -1) normalised to 0..rank-1 for an input of shape `in`.
 * SHAPE error naming the node when it is out of [-rank, rank-1] (or the input is a scalar). */
sal_status sal__softmax_axis(sal_ctx *ctx, const sal_node *n, const sal_shape *in, int *axis);

#endif
