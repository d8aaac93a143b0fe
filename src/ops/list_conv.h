/* Op list fragment: conv ops (src/ops/conv.c, src/kernels/ref/conv.c). */
#define SAL_OPS_CONV(X)
