/* Op list fragment: elementwise activations (src/ops/activation.c; Relu itself is in
 * list_core.h), Softmax/LogSoftmax (src/ops/softmax.c), ReduceMean (src/ops/reduce.c) and Dropout
 * (src/ops/dropout.c). Reference kernels beside them in src/kernels/ref/. */
#define SAL_OPS_ELTWISE(X)                       \
  X(LEAKY_RELU, "LeakyRelu", leaky_relu)         \
  X(SIGMOID, "Sigmoid", sigmoid)                 \
  X(TANH, "Tanh", tanh)                          \
  X(CLIP, "Clip", clip)                          \
  X(HARD_SIGMOID, "HardSigmoid", hard_sigmoid)   \
  X(HARD_SWISH, "HardSwish", hard_swish)         \
  X(SOFTMAX, "Softmax", softmax)                 \
  X(LOG_SOFTMAX, "LogSoftmax", log_softmax)      \
  X(REDUCE_MEAN, "ReduceMean", reduce_mean)      \
  X(DROPOUT, "Dropout", dropout)
