/* oneDNN kernels of the other families: eltwise (src/kernels/dnnl/eltwise.c), binary
 * (binary.c), softmax (softmax.c), Gemm/MatMul (matmul.c), Resize (resize.c), Concat (concat.c). */
#define SAL_DNNL_MISC(X)       \
  X(RELU, relu)                \
  X(LEAKY_RELU, leaky_relu)    \
  X(SIGMOID, sigmoid)          \
  X(TANH, tanh)                \
  X(CLIP, clip)                \
  X(HARD_SWISH, hard_swish)    \
  X(ADD, add)                  \
  X(SUB, sub)                  \
  X(MUL, mul)                  \
  X(DIV, div)                  \
  X(SOFTMAX, softmax)          \
  X(LOG_SOFTMAX, log_softmax)  \
  X(GEMM, gemm)                \
  X(MATMUL, matmul)            \
  X(RESIZE, resize)            \
  X(CONCAT, concat)
