/* Op list fragment: loss ops (src/ops/loss.c, src/kernels/ref/loss.c). */
#define SAL_OPS_LOSS(X)
