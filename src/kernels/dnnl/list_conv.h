/* oneDNN kernels of the convolution family: Conv (src/kernels/dnnl/conv.c), pooling (pool.c),
 * batch-norm (batchnorm.c). */
#define SAL_DNNL_CONV(X)              \
  X(CONV, conv)                       \
  X(BATCHNORM, batchnorm)             \
  X(MAXPOOL, maxpool)                 \
  X(AVGPOOL, avgpool)                 \
  X(GLOBALAVGPOOL, globalavgpool)      \
  X(GLOBALMAXPOOL, globalmaxpool)
