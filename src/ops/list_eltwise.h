/* Op list fragment: eltwise ops (src/ops/eltwise.c, src/kernels/ref/eltwise.c). */
#define SAL_OPS_ELTWISE(X)
