/* Dropout (ONNX opsets 7–18): shape rule, ratio validation and the counter-based mask stream.
 * Reference kernels in src/kernels/ref/dropout.c. The plan's training flag decides whether the
 * op drops anything: the `training_mode` input (opset >= 12) is accepted and ignored, and so is
 * the `seed` attribute (masks come from the context's seed, see sal__dropout_uniform). */
#include "ops/dropout.h"

#include <math.h>

sal_status sal__dropout_ratio(sal_ctx *ctx, const sal_graph *g, const sal_node *n, float *ratio) {
  bool in_given = n->n_in > 1 && n->in[1] >= 0;
  if (in_given) {
    if (sal__attr_has(n, "ratio"))
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "'ratio' is given both as an attribute and as input 1");
    int64_t numel = 0;
    const float *c = sal__node_const_input(g, n, 1, &numel);
    if (!c) return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "'ratio' (input 1) must be a constant");
    if (numel != 1) {
      char s[96];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "'ratio' (input 1) must be a scalar, got shape %s",
                           sal_shape_str(&g->values[n->in[1]].shape, s, sizeof s));
    }
    *ratio = c[0];
  } else {
    sal_status st = sal__attr_float(ctx, n, "ratio", 0.5f, ratio);
    if (st) return st;
  }
  if (!(*ratio >= 0.0f && *ratio < 1.0f))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "ratio %g is outside [0, 1)", (double)*ratio);
  return SAL_STATUS_OK;
}

/* Stream tag "drop" in the high 32 bits keeps dropout's Philox streams apart from other users of
 * the context seed (which use small stream numbers); the low bits carry the pass. The node index
 * goes into the counter's high bits (bit 40 up), the element index into its low 40 bits. */
#define DROPOUT_STREAM_TAG 0x64726F7000000000ull

void sal__dropout_uniform(uint64_t seed, int node_index, uint64_t pass, int64_t first, float *u, size_t count) {
  uint64_t offset = ((uint64_t)node_index << 40) + (uint64_t)first;
  sal_rng_uniform(seed, DROPOUT_STREAM_TAG ^ pass, offset, u, count);
}

static sal_status infer_dropout(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                                sal_shape *out) {
  float ratio;
  sal_status st = sal__dropout_ratio(ctx, g, n, &ratio);
  if (st) return st;
  if (n->n_in > 2 && in[2].ndim >= 0 && sal_shape_numel(&in[2]) != 1) {
    char s[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "training_mode (input 2) must be a scalar, got shape %s",
                         sal_shape_str(&in[2], s, sizeof s));
  }
  out[0] = in[0];
  if (n->n_out > 1) out[1] = in[0]; /* mask: 1 kept, 0 dropped (a bool tensor in ONNX, f32 here) */
  return SAL_STATUS_OK;
}

/* ratio and training_mode are constants/flags: never differentiated. */
const sal_op_def sal__op_dropout = {.name = "Dropout", .min_in = 1, .max_in = 3, .min_out = 1, .max_out = 2,
                                    .infer = infer_dropout, .nograd_inputs = (1u << 1) | (1u << 2)};
