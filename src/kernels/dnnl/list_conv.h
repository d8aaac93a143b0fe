/* oneDNN kernels of the convolution family: conv, pooling, batch-norm. */
#define SAL_DNNL_CONV(X)
