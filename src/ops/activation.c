/* Activation ops (elementwise, same shape in and out): shape rules and definitions.
 * Reference kernels in src/kernels/ref/activation.c. */
#include "graph/internal.h"

const sal_op_def sal__op_relu = {
    .name = "Relu", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};
