/* Op list fragment: matrix products and losses — Gemm and MatMul (src/ops/matmul.c,
 * src/kernels/ref/matmul.c); the salient-specific scalar losses SoftmaxCrossEntropyLoss,
 * KLDivLoss and MSELoss (src/ops/loss.c, src/kernels/ref/loss.c). The fragment's name is
 * historical: it held the losses first. */
#define SAL_OPS_LOSS(X)                                       \
  X(GEMM, "Gemm", gemm)                                       \
  X(MATMUL, "MatMul", matmul)                                 \
  X(SOFTMAX_CE_LOSS, "SoftmaxCrossEntropyLoss", softmax_ce_loss) \
  X(KL_DIV_LOSS, "KLDivLoss", kl_div_loss)                    \
  X(MSE_LOSS, "MSELoss", mse_loss)
