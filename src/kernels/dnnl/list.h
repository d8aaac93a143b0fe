/* oneDNN kernels: X(OP_ENUM, symbol) declares sal__dnnl_<symbol> (src/kernels/dnnl/<family>.c).
 * An op without an entry runs its reference kernel. */
#define SAL_DNNL_KERNELS(X) \
  X(CONV, conv) \
  X(BATCHNORM, batchnorm) \
  X(MAXPOOL, maxpool) \
  X(AVGPOOL, avgpool) \
  X(GLOBALAVGPOOL, globalavgpool)
