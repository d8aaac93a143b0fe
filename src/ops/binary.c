/* Binary arithmetic with NumPy/ONNX broadcasting: Add, Sub, Mul, Div. Shape rule and
 * definitions; reference kernels in src/kernels/ref/binary.c. */
#include "graph/internal.h"

static sal_status infer_broadcast(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                  sal_shape *out) {
  (void)g;
  if (!sal__broadcast_shape(&in[0], &in[1], &out[0])) {
    char a[96], b[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "shapes %s and %s do not broadcast",
                         sal_shape_str(&in[0], a, sizeof a), sal_shape_str(&in[1], b, sizeof b));
  }
  return SAL_STATUS_OK;
}

static int64_t binary_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  (void)in;
  return sal_shape_numel(&out[0]);
}

#define SAL__BINARY_DEF(sym, NAME)                                                               \
  const sal_op_def sal__op_##sym = {.name = NAME, .min_in = 2, .max_in = 2, .min_out = 1,        \
                                    .max_out = 1, .infer = infer_broadcast, .macs = binary_macs};
SAL__BINARY_DEF(add, "Add")
SAL__BINARY_DEF(sub, "Sub")
SAL__BINARY_DEF(mul, "Mul")
SAL__BINARY_DEF(div, "Div")
