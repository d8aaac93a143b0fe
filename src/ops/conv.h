/* Geometry of the convolution family (Conv, MaxPool, AveragePool, GlobalAveragePool,
 * BatchNormalization attributes), resolved once from a node's attributes and input shapes by the
 * shape rules in src/ops/{conv,pool,batchnorm}.c and reused by the reference and oneDNN kernels,
 * so that every kernel agrees on pads, output sizes and defaults. */
#ifndef SAL_OPS_CONV_H
#define SAL_OPS_CONV_H

#include "ops/op.h"

/* ONNX auto_pad. */
typedef enum sal_auto_pad {
  SAL_AUTO_PAD_NOTSET = 0,
  SAL_AUTO_PAD_SAME_UPPER,
  SAL_AUTO_PAD_SAME_LOWER,
  SAL_AUTO_PAD_VALID
} sal_auto_pad;

/* A 2-D sliding window over (N,C,H,W), index 0 = H, 1 = W. Pads are resolved (auto_pad applied)
 * and kept in ONNX order: pad[0] top, pad[1] left, pad[2] bottom, pad[3] right. */
typedef struct sal_window {
  int64_t n, c, h, w;   /* input (N,C,H,W) */
  int64_t oh, ow;       /* output spatial size */
  int64_t k[2], s[2], d[2];
  int64_t pad[4];
  sal_auto_pad auto_pad;
  bool ceil_mode;       /* pools only; the last window may hang over the bottom/right pad */
} sal_window;

/* Conv: x (N,C,H,W), weight (M, C/group, kH, kW), optional bias (M) → y (N,M,OH,OW). */
typedef struct sal_conv_geom {
  sal_window win;
  int64_t m, group;
  bool bias;
} sal_conv_geom;

/* MaxPool / AveragePool / GlobalAveragePool: x (N,C,H,W) → y (N,C,OH,OW). GlobalAveragePool is a
 * window covering the whole plane (for 3-D or 5-D inputs the spatial dims are flattened into h). */
typedef struct sal_pool_geom {
  sal_window win;
  bool max;                 /* MaxPool; otherwise an average */
  bool count_include_pad;   /* AveragePool: divisor counts explicit pad positions */
  bool global;
} sal_pool_geom;

/* BatchNormalization: x (N,C,...) normalised per channel; spatial = product of the trailing dims. */
typedef struct sal_bn_geom {
  int64_t n, c, spatial;
  float epsilon, momentum;
} sal_bn_geom;

/* Geometry from a node and its input shapes (ndim -1 = omitted optional input). Validates every
 * attribute; errors name the node. */
sal_status sal__conv_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *in, sal_conv_geom *g);
sal_status sal__pool_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *x, sal_pool_geom *g);
sal_status sal__bn_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *in, sal_bn_geom *g);

/* The same, from a kernel's bound tensors (used in prepare). */
sal_status sal__conv_geom_k(const sal_kctx *k, sal_conv_geom *g);
sal_status sal__pool_geom_k(const sal_kctx *k, sal_pool_geom *g);
sal_status sal__bn_geom_k(const sal_kctx *k, sal_bn_geom *g);

/* Shared by Conv and the pools (src/ops/conv.c): parses strides, pads, dilations, auto_pad (and
 * ceil_mode when allow_ceil) for a kernel of size k[2] over the 4-D input x, resolves the pads and
 * computes the output size. Errors name the node. */
sal_status sal__window_resolve(sal_ctx *ctx, const sal_node *n, const sal_shape *x, const int64_t k[2],
                               bool allow_ceil, sal_window *w);

/* For kernels in training mode (a no-op otherwise): the running statistics are updated in place,
 * so inputs 3 and 4 must be graph parameters, and the unbiased variance needs N*spatial > 1. */
sal_status sal__bn_training_check(const sal_kctx *k, const sal_bn_geom *g);

/* Reference kernels read and write plain (row-major NCHW) buffers only: UNSUPPORTED, naming the
 * node, if a bound input or output is in another layout. */
sal_status sal__require_plain(const sal_kctx *k);

/* Bottom/right pad oneDNN needs to produce the ceil_mode output size: the explicit pad, grown
 * when the last window hangs over it. dim 0 = H, 1 = W. */
int64_t sal__window_pad_end(const sal_window *w, int dim);

#endif
