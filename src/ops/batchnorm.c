/* BatchNormalization (ONNX opset 9–15): shape rule and op definition, called by the graph builder
 * and plan; kernels are in src/kernels/{ref,dnnl}/batchnorm.c. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <math.h>
#include <string.h>

/* Inputs X (N,C,...), scale (C), B (C), input_mean (C), input_var (C); attributes epsilon (1e-5)
 * and momentum (0.9, ONNX convention: running = running*momentum + batch*(1-momentum)). The plan's
 * training flag picks the mode; the ONNX training_mode attribute and the optional running-statistics
 * outputs are not used. */
sal_status sal__bn_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *in, sal_bn_geom *g) {
  memset(g, 0, sizeof *g);
  char a[96], b[96];
  const sal_shape *x = &in[0];
  if (x->ndim < 2)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "input %s must be (N, C, ...)", sal_shape_str(x, a, sizeof a));
  static const char *const names[4] = {"scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; i++)
    if (in[i].ndim != 1 || in[i].d[0] != x->d[1])
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "%s has shape %s, expected (%lld) for input %s", names[i - 1],
                           sal_shape_str(&in[i], a, sizeof a), (long long)x->d[1], sal_shape_str(x, b, sizeof b));
  int64_t spatial_attr;
  sal_status st = sal__attr_int(ctx, n, "spatial", 1, &spatial_attr);
  if (st) return st;
  if (spatial_attr != 1)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "spatial = %lld (per-activation statistics, opset < 9) is not supported",
                         (long long)spatial_attr);
  st = sal__attr_float(ctx, n, "epsilon", 1e-5f, &g->epsilon);
  if (!st) st = sal__attr_float(ctx, n, "momentum", 0.9f, &g->momentum);
  if (st) return st;
  if (!(g->epsilon >= 0.0f) || !isfinite(g->epsilon))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "epsilon %g must be finite and >= 0", (double)g->epsilon);
  if (!(g->momentum >= 0.0f && g->momentum <= 1.0f))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "momentum %g must be in [0, 1]", (double)g->momentum);
  g->n = x->d[0];
  g->c = x->d[1];
  g->spatial = 1;
  for (int i = 2; i < x->ndim; i++) g->spatial *= x->d[i];
  return SAL_STATUS_OK;
}

sal_status sal__bn_geom_k(const sal_kctx *k, sal_bn_geom *g) {
  sal_shape in[5];
  for (int i = 0; i < 5; i++) in[i] = k->in[i]->shape;
  return sal__bn_geom(k->ctx, k->node, in, g);
}

sal_status sal__bn_training_check(const sal_kctx *k, const sal_bn_geom *g) {
  if (!k->training) return SAL_STATUS_OK;
  for (int i = 3; i < 5; i++)
    if (k->graph->values[k->node->in[i]].kind != SAL_VALUE_PARAM)
      return sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED,
                           "training mode updates the running statistics in place, so input %d must be a parameter", i);
  if (g->n * g->spatial < 2)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_SHAPE,
                         "training mode needs more than one value per channel (N*spatial = %lld)",
                         (long long)(g->n * g->spatial));
  return SAL_STATUS_OK;
}

static sal_status bn_infer(sal_ctx *ctx, const sal_graph *gr, const sal_node *n, const sal_shape *in,
                           sal_shape *out) {
  (void)gr;
  for (int i = 0; i < 5; i++)
    if (in[i].ndim < 0)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "input %d is required", i);
  sal_bn_geom g;
  sal_status st = sal__bn_geom(ctx, n, in, &g);
  if (st) return st;
  out[0] = in[0];
  return SAL_STATUS_OK;
}

/* One multiply–add per element (inference form y = x*a + b). */
static int64_t bn_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  (void)in;
  return sal_shape_numel(&out[0]);
}

/* The running statistics (inputs 3 and 4) never receive gradients. */
const sal_op_def sal__op_batchnorm = {.name = "BatchNormalization", .min_in = 5, .max_in = 5, .min_out = 1,
                                      .max_out = 1, .infer = bn_infer, .nograd_inputs = (1u << 3) | (1u << 4),
                                      .macs = bn_macs};
