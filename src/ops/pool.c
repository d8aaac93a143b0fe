/* Pooling ops (ONNX opset 11–19, 2-D): MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool —
 * shape rules and definitions. Kernels: src/kernels/ref/pool.c and src/kernels/dnnl/pool.c. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <string.h>

/* True if some tap of the window starting at `start` (step d, k taps) lands in [0, in). */
static bool window_hits(int64_t start, int64_t k, int64_t d, int64_t in) {
  int64_t j0 = start >= 0 ? 0 : sal__ceil_div(-start, d);
  return j0 < k && start + j0 * d < in;
}

sal_status sal__pool_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *x, sal_pool_geom *g) {
  memset(g, 0, sizeof *g);
  char a[96];
  if (n->op == SAL_OP_GLOBALAVGPOOL || n->op == SAL_OP_GLOBALMAXPOOL) {
    if (x->ndim < 3)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "input %s must be (N, C, spatial...)", sal_shape_str(x, a, sizeof a));
    sal_window *w = &g->win;
    w->n = x->d[0];
    w->c = x->d[1];
    w->h = 1;
    for (int i = 2; i < x->ndim; i++) w->h *= x->d[i];
    w->w = 1;
    w->k[0] = w->h;
    w->k[1] = 1;
    w->s[0] = w->s[1] = w->d[0] = w->d[1] = 1;
    w->oh = w->ow = 1;
    g->global = true;
    g->max = n->op == SAL_OP_GLOBALMAXPOOL;
    return SAL_STATUS_OK;
  }
  if (x->ndim != 4)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "only 2-D pooling is supported (input (N,C,H,W)); the input is %s",
                         sal_shape_str(x, a, sizeof a));
  const int64_t *ks;
  int64_t nks;
  sal_status st = sal__attr_ints(ctx, n, "kernel_shape", &ks, &nks);
  if (st) return st;
  if (!ks) return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "the kernel_shape attribute is required");
  if (nks != 2 || ks[0] < 1 || ks[1] < 1 || ks[0] > ((int64_t)1 << 24) || ks[1] > ((int64_t)1 << 24))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "kernel_shape must be two positive sizes (2-D pooling)");
  g->max = n->op == SAL_OP_MAXPOOL;
  if (!g->max) {
    int64_t cip;
    st = sal__attr_int(ctx, n, "count_include_pad", 0, &cip);
    if (st) return st;
    if (cip != 0 && cip != 1)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "count_include_pad must be 0 or 1, got %lld", (long long)cip);
    g->count_include_pad = cip == 1;
  }
  st = sal__window_resolve(ctx, n, x, ks, true, &g->win);
  if (st) return st;
  /* A window made only of padding has no maximum (and no elements to average when padding is not
   * counted): refuse such geometries rather than invent a value. */
  const sal_window *w = &g->win;
  const int64_t in[2] = {w->h, w->w}, out[2] = {w->oh, w->ow};
  for (int i = 0; i < 2; i++)
    for (int64_t o = 0; o < out[i]; o++)
      if (!window_hits(o * w->s[i] - w->pad[i], w->k[i], w->d[i], in[i]))
        return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "pooling window %lld along %s of input %s lies entirely in the padding",
                             (long long)o, i == 0 ? "H" : "W", sal_shape_str(x, a, sizeof a));
  return SAL_STATUS_OK;
}

sal_status sal__pool_geom_k(const sal_kctx *k, sal_pool_geom *g) {
  return sal__pool_geom(k->ctx, k->node, &k->in[0]->shape, g);
}

static sal_status pool_infer(sal_ctx *ctx, const sal_graph *gr, const sal_node *n, const sal_shape *in,
                             sal_shape *out) {
  (void)gr;
  if (n->n_out > 1)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED, "the optional Indices output is not supported");
  sal_pool_geom g;
  sal_status st = sal__pool_geom(ctx, n, &in[0], &g);
  if (st) return st;
  out[0] = in[0];
  if (g.global) {
    for (int i = 2; i < in[0].ndim; i++) out[0].d[i] = 1;
  } else {
    out[0].d[2] = g.win.oh;
    out[0].d[3] = g.win.ow;
  }
  return SAL_STATUS_OK;
}

/* One multiply–add (compare or add) per window tap: N*C*OH*OW*kH*kW. */
static int64_t pool_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)in;
  int64_t taps = 1;
  for (int a = 0; a < n->n_attrs; a++)
    if (strcmp(n->attrs[a].name, "kernel_shape") == 0 && n->attrs[a].type == SAL_ATTR_INTS)
      for (int64_t i = 0; i < n->attrs[a].n; i++) taps *= n->attrs[a].ints[i];
  return sal_shape_numel(&out[0]) * taps;
}

static int64_t gap_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  (void)out;
  return sal_shape_numel(&in[0]);
}

/* MaxPool may declare the Indices output (max_out 2) so that the shape rule can refuse it with a
 * clear UNSUPPORTED error instead of a generic arity one. */
const sal_op_def sal__op_maxpool = {.name = "MaxPool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 2,
                                    .infer = pool_infer, .macs = pool_macs};
const sal_op_def sal__op_avgpool = {.name = "AveragePool", .min_in = 1, .max_in = 1, .min_out = 1, .max_out = 1,
                                    .infer = pool_infer, .macs = pool_macs};
const sal_op_def sal__op_globalavgpool = {.name = "GlobalAveragePool", .min_in = 1, .max_in = 1, .min_out = 1,
                                          .max_out = 1, .infer = pool_infer, .macs = gap_macs};
const sal_op_def sal__op_globalmaxpool = {.name = "GlobalMaxPool", .min_in = 1, .max_in = 1, .min_out = 1,
                                          .max_out = 1, .infer = pool_infer, .macs = gap_macs};
