/* Op list fragment: shape ops (src/ops/shape.c, src/kernels/ref/shape.c). */
#define SAL_OPS_SHAPE(X)
