/* Identity: y = x. Shape rule here, reference kernel in src/kernels/ref/identity.c. */
#include "graph/internal.h"

const sal_op_def sal__op_identity = {
    .name = "Identity", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1, .infer = sal__infer_same};
