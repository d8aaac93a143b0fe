/* Scalar training losses as salient-specific ops (not ONNX's default domain): softmax cross-entropy
 * with label smoothing, KL divergence between two softmaxes, mean squared error. Shape rules and
 * definitions; reference kernels (the formulas) in src/kernels/ref/loss.c. Each outputs shape (). */
#include "graph/internal.h"

#include <string.h>

/* Rows and classes of a (N,K) logits input; N and K of at least 1 (a mean over none is NaN). */
static sal_status check_logits(sal_ctx *ctx, const sal_node *n, const char *what, const sal_shape *s) {
  char b[96];
  if (s->ndim != 2 || s->d[0] < 1 || s->d[1] < 1)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "%s %s must be (N, K) with N, K >= 1", what,
                         sal_shape_str(s, b, sizeof b));
  return SAL_STATUS_OK;
}

/* These ops reduce by the mean only. A `reduction` attribute (as ONNX's own
 * SoftmaxCrossEntropyLoss carries) is accepted when it asks for exactly that. */
static sal_status check_reduction(sal_ctx *ctx, const sal_node *n) {
  const char *r;
  sal_status st = sal__attr_string(ctx, n, "reduction", "mean", &r);
  if (st) return st;
  if (strcmp(r, "mean") != 0)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "reduction '%s' is not supported (only 'mean')", r);
  return SAL_STATUS_OK;
}

/* logits (N,K), target (N) of class indices stored as floats (checked per row in forward, where
 * the values are known). label_smoothing in [0, 1] as torch.nn.CrossEntropyLoss. */
static sal_status ce_infer(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                           sal_shape *out) {
  (void)g;
  float ls;
  sal_status st = sal__attr_float(ctx, n, "label_smoothing", 0.0f, &ls);
  if (!st) st = check_reduction(ctx, n);
  if (!st) st = check_logits(ctx, n, "logits", &in[0]);
  if (st) return st;
  if (!(ls >= 0.0f && ls <= 1.0f))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "label_smoothing = %g is outside [0, 1]", (double)ls);
  if (in[1].ndim != 1 || in[1].d[0] != in[0].d[0]) {
    char a[96], b[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "target %s must be (N) for logits %s",
                         sal_shape_str(&in[1], b, sizeof b), sal_shape_str(&in[0], a, sizeof a));
  }
  sal_shape_make(&out[0], 0, NULL);
  return SAL_STATUS_OK;
}

/* p_logits (N,K) and q_logits (N,K), same shape:
 * L = (1/N) sum_i sum_j softmax(p_i)_j (log_softmax(p_i)_j - log_softmax(q_i)_j). */
static sal_status kl_infer(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                           sal_shape *out) {
  (void)g;
  sal_status st = check_reduction(ctx, n);
  if (!st) st = check_logits(ctx, n, "p_logits", &in[0]);
  if (!st) st = check_logits(ctx, n, "q_logits", &in[1]);
  if (st) return st;
  if (!sal_shape_equal(&in[0], &in[1])) {
    char a[96], b[96];
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "p_logits %s and q_logits %s differ in shape",
                         sal_shape_str(&in[0], a, sizeof a), sal_shape_str(&in[1], b, sizeof b));
  }
  sal_shape_make(&out[0], 0, NULL);
  return SAL_STATUS_OK;
}

/* a and b of one shape (any rank, at least one element). */
static sal_status mse_infer(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                            sal_shape *out) {
  (void)g;
  sal_status st = check_reduction(ctx, n);
  if (st) return st;
  char a[96], b[96];
  if (!sal_shape_equal(&in[0], &in[1]))
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "a %s and b %s differ in shape", sal_shape_str(&in[0], a, sizeof a),
                         sal_shape_str(&in[1], b, sizeof b));
  if (sal_shape_numel(&in[0]) < 1)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "a %s is empty: its mean is undefined",
                         sal_shape_str(&in[0], a, sizeof a));
  sal_shape_make(&out[0], 0, NULL);
  return SAL_STATUS_OK;
}

/* One multiply–add-sized step per input element (the exps and logs are not counted). */
static int64_t loss_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  (void)out;
  return sal_shape_numel(&in[0]);
}

const sal_op_def sal__op_softmax_ce_loss = {.name = "SoftmaxCrossEntropyLoss", .min_in = 2, .max_in = 2,
                                            .min_out = 1, .max_out = 1, .infer = ce_infer,
                                            .nograd_inputs = 1u << 1, .macs = loss_macs};
const sal_op_def sal__op_kl_div_loss = {.name = "KLDivLoss", .min_in = 2, .max_in = 2, .min_out = 1,
                                        .max_out = 1, .infer = kl_infer, .macs = loss_macs};
const sal_op_def sal__op_mse_loss = {.name = "MSELoss", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                     .infer = mse_infer, .macs = loss_macs};
