/* oneDNN kernels of the other families: eltwise, binary, softmax, inner product, resampling,
 * concat. */
#define SAL_DNNL_MISC(X)
