/* Dropout's ratio and its random mask, shared by the shape rule (src/ops/dropout.c) and the
 * kernels (src/kernels/ref/dropout.c, and any oneDNN kernel, which must draw the same mask). */
#ifndef SAL_OPS_DROPOUT_H
#define SAL_OPS_DROPOUT_H

#include "graph/internal.h"

/* The drop probability: the `ratio` attribute (opset < 12) or the constant scalar input 1
 * (opset >= 12), default 0.5. Errors name the node: BAD_INPUT (given both ways, or outside
 * [0, 1) as the spec requires), UNSUPPORTED (input 1 not a constant), SHAPE (not a scalar). */
sal_status sal__dropout_ratio(sal_ctx *ctx, const sal_graph *g, const sal_node *n, float *ratio);

/* Largest node index the mask streams keep distinct (see sal__dropout_uniform). */
#define SAL_DROPOUT_MAX_NODE ((1 << 22) - 1)

/* u[0..count) = the uniform [0, 1) draws behind elements first..first+count of the mask of node
 * `node_index` at forward pass `pass` under `seed`; element e is kept when u[e] >= ratio. A pure
 * function of (seed, node_index, pass, element): the same seed and pass give the same mask
 * whatever the thread count, and backward recomputes it instead of storing it. Requires
 * node_index <= SAL_DROPOUT_MAX_NODE and first + count <= 2^40 (plans cap values far below). */
void sal__dropout_uniform(uint64_t seed, int node_index, uint64_t pass, int64_t first, float *u, size_t count);

#endif
