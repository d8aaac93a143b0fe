/* Op list fragment: the convolution family — Conv (src/ops/conv.c), BatchNormalization
 * (src/ops/batchnorm.c), MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (src/ops/pool.c). Reference
 * kernels beside them in src/kernels/ref/, oneDNN ones in src/kernels/dnnl/. */
#define SAL_OPS_CONV(X) \
  X(CONV, "Conv", conv) \
  X(BATCHNORM, "BatchNormalization", batchnorm) \
  X(MAXPOOL, "MaxPool", maxpool) \
  X(AVGPOOL, "AveragePool", avgpool) \
  X(GLOBALAVGPOOL, "GlobalAveragePool", globalavgpool) \
  X(GLOBALMAXPOOL, "GlobalMaxPool", globalmaxpool)
