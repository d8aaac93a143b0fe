/* Op list fragment: core ops — Identity (src/ops/identity.c), Relu (src/ops/activation.c),
 * broadcasting binary arithmetic (src/ops/binary.c). Reference kernels beside them in
 * src/kernels/ref/. */
#define SAL_OPS_CORE(X) \
  X(IDENTITY, "Identity", identity) \
  X(RELU, "Relu", relu) \
  X(ADD, "Add", add) \
  X(SUB, "Sub", sub) \
  X(MUL, "Mul", mul) \
  X(DIV, "Div", div)
