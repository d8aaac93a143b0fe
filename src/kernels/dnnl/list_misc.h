/* oneDNN kernels of the other families: eltwise (src/kernels/dnnl/eltwise.c), binary
 * (binary.c), softmax, inner product / matmul, resampling, concat. */
#define SAL_DNNL_MISC(X) \
  X(RELU, relu) \
  X(ADD, add) \
  X(SUB, sub) \
  X(MUL, mul) \
  X(DIV, div)
