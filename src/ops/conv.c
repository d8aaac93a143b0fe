/* Conv (ONNX opset 11–18, 2-D): shape rule, op definition, and the sliding-window attributes shared
 * with the pools; the graph builder and plan call it, kernels are in src/kernels/{ref,dnnl}/conv.c. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <string.h>

/* Attribute values above this are rejected before any arithmetic, so that products of a few of
 * them (extents, padded sizes) stay far from int64 overflow. */
#define SAL_WINDOW_MAX ((int64_t)1 << 24)

static char *ints_str(const int64_t *v, int n, char *buf, size_t cap) {
  sal_shape s = {.ndim = n};
  for (int i = 0; i < n; i++) s.d[i] = v[i];
  return sal_shape_str(&s, buf, cap);
}

/* Reads an ints attribute of exactly `want` entries, each in [lo, SAL_WINDOW_MAX]; absent → def. */
static sal_status window_ints(sal_ctx *ctx, const sal_node *n, const char *name, int want, int64_t lo,
                              int64_t def, int64_t *out) {
  const int64_t *v;
  int64_t cnt;
  sal_status st = sal__attr_ints(ctx, n, name, &v, &cnt);
  if (st) return st;
  for (int i = 0; i < want; i++) out[i] = def;
  if (!v) return SAL_STATUS_OK;
  if (cnt != want)
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "attribute '%s' has %lld values, expected %d (2-D)", name,
                         (long long)cnt, want);
  for (int i = 0; i < want; i++) {
    if (v[i] < lo || v[i] > SAL_WINDOW_MAX)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "attribute '%s' value %lld is out of range %lld..%lld",
                           name, (long long)v[i], (long long)lo, (long long)SAL_WINDOW_MAX);
    out[i] = v[i];
  }
  return SAL_STATUS_OK;
}

sal_status sal__window_resolve(sal_ctx *ctx, const sal_node *n, const sal_shape *x, const int64_t k[2],
                               bool allow_ceil, sal_window *w) {
  memset(w, 0, sizeof *w);
  w->n = x->d[0];
  w->c = x->d[1];
  w->h = x->d[2];
  w->w = x->d[3];
  w->k[0] = k[0];
  w->k[1] = k[1];
  sal_status st = window_ints(ctx, n, "strides", 2, 1, 1, w->s);
  if (!st) st = window_ints(ctx, n, "dilations", 2, 1, 1, w->d);
  if (!st) st = window_ints(ctx, n, "pads", 4, 0, 0, w->pad);
  if (st) return st;
  const char *ap;
  st = sal__attr_string(ctx, n, "auto_pad", "NOTSET", &ap);
  if (st) return st;
  if (strcmp(ap, "NOTSET") == 0) w->auto_pad = SAL_AUTO_PAD_NOTSET;
  else if (strcmp(ap, "SAME_UPPER") == 0) w->auto_pad = SAL_AUTO_PAD_SAME_UPPER;
  else if (strcmp(ap, "SAME_LOWER") == 0) w->auto_pad = SAL_AUTO_PAD_SAME_LOWER;
  else if (strcmp(ap, "VALID") == 0) w->auto_pad = SAL_AUTO_PAD_VALID;
  else
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT,
                         "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap);
  /* ONNX: "auto_pad ... cannot be used simultaneously with pads". All-zero pads are tolerated
   * because some exporters write them alongside auto_pad. */
  if (w->auto_pad != SAL_AUTO_PAD_NOTSET && (w->pad[0] | w->pad[1] | w->pad[2] | w->pad[3]))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "non-zero pads cannot be used together with auto_pad %s", ap);
  if (allow_ceil) {
    int64_t cm;
    st = sal__attr_int(ctx, n, "ceil_mode", 0, &cm);
    if (st) return st;
    if (cm != 0 && cm != 1)
      return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "ceil_mode must be 0 or 1, got %lld", (long long)cm);
    w->ceil_mode = cm == 1;
  }
  const int64_t in[2] = {w->h, w->w};
  int64_t out[2];
  for (int i = 0; i < 2; i++) {
    int64_t ext = (k[i] - 1) * w->d[i] + 1; /* dilated kernel extent */
    int64_t *p0 = &w->pad[i], *p1 = &w->pad[i + 2];
    if (w->auto_pad == SAL_AUTO_PAD_SAME_UPPER || w->auto_pad == SAL_AUTO_PAD_SAME_LOWER) {
      /* ONNX: output = ceil(in / stride); the total pad is split evenly, the odd one going to the
       * end (SAME_UPPER) or the beginning (SAME_LOWER). */
      out[i] = sal__ceil_div(in[i], w->s[i]);
      int64_t total = (out[i] - 1) * w->s[i] + ext - in[i];
      if (total < 0) total = 0;
      if (w->auto_pad == SAL_AUTO_PAD_SAME_UPPER) {
        *p0 = total / 2;
        *p1 = total - *p0;
      } else {
        *p1 = total / 2;
        *p0 = total - *p1;
      }
      continue;
    }
    int64_t padded = in[i] + *p0 + *p1;
    if (padded < ext) {
      char a[64], b[64], c[96], d[64];
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "kernel_shape %s with dilations %s does not fit input %s with pads %s",
                           ints_str(k, 2, a, sizeof a), ints_str(w->d, 2, b, sizeof b), sal_shape_str(x, c, sizeof c),
                           ints_str(w->pad, 4, d, sizeof d));
    }
    if (w->ceil_mode && w->auto_pad == SAL_AUTO_PAD_NOTSET) {
      /* ceil_mode (PyTorch and ONNX opset 19 wording): windows may hang over the end, but a window
       * that would start inside the bottom/right padding is dropped. */
      out[i] = sal__ceil_div(padded - ext, w->s[i]) + 1;
      if ((out[i] - 1) * w->s[i] >= in[i] + *p0) out[i]--;
    } else {
      out[i] = (padded - ext) / w->s[i] + 1;
    }
  }
  w->oh = out[0];
  w->ow = out[1];
  return SAL_STATUS_OK;
}

int64_t sal__window_pad_end(const sal_window *w, int dim) {
  int64_t in = dim == 0 ? w->h : w->w;
  int64_t o = dim == 0 ? w->oh : w->ow;
  int64_t ext = (w->k[dim] - 1) * w->d[dim] + 1;
  int64_t need = (o - 1) * w->s[dim] + ext - in - w->pad[dim];
  return need > w->pad[dim + 2] ? need : w->pad[dim + 2];
}

sal_status sal__conv_geom(sal_ctx *ctx, const sal_node *n, const sal_shape *in, sal_conv_geom *g) {
  memset(g, 0, sizeof *g);
  const sal_shape *x = &in[0], *wt = &in[1];
  char a[96], b[96];
  if (x->ndim != 4)
    return sal__op_error(ctx, n, SAL_STATUS_UNSUPPORTED,
                         "only 2-D convolution is supported (input (N,C,H,W)); the input is %s",
                         sal_shape_str(x, a, sizeof a));
  if (wt->ndim != 4 || wt->d[0] < 1 || wt->d[1] < 1 || wt->d[2] < 1 || wt->d[3] < 1)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "weight %s must be (M, C/group, kH, kW) with positive dims",
                         sal_shape_str(wt, a, sizeof a));
  int64_t group;
  sal_status st = sal__attr_int(ctx, n, "group", 1, &group);
  if (st) return st;
  int64_t c = x->d[1], m = wt->d[0];
  if (group < 1 || group > c || c % group != 0)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "group %lld does not divide the %lld input channels of %s",
                         (long long)group, (long long)c, sal_shape_str(x, a, sizeof a));
  if (m % group != 0)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "group %lld does not divide the %lld output channels of weight %s",
                         (long long)group, (long long)m, sal_shape_str(wt, a, sizeof a));
  if (wt->d[1] != c / group)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE,
                         "weight %s has %lld input channels per group, but input %s with group %lld needs C/group = %lld",
                         sal_shape_str(wt, a, sizeof a), (long long)wt->d[1], sal_shape_str(x, b, sizeof b),
                         (long long)group, (long long)(c / group));
  const int64_t *ks;
  int64_t nks;
  st = sal__attr_ints(ctx, n, "kernel_shape", &ks, &nks);
  if (st) return st;
  if (ks && (nks != 2 || ks[0] != wt->d[2] || ks[1] != wt->d[3]))
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "kernel_shape %s does not match weight %s",
                         ints_str(ks, nks < SAL_MAX_DIMS ? (int)nks : SAL_MAX_DIMS, a, sizeof a),
                         sal_shape_str(wt, b, sizeof b));
  if (n->n_in > 2 && in[2].ndim >= 0) {
    if (in[2].ndim != 1 || in[2].d[0] != m)
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "bias %s must be (%lld), one per output channel",
                           sal_shape_str(&in[2], a, sizeof a), (long long)m);
    g->bias = true;
  }
  st = sal__window_resolve(ctx, n, x, &wt->d[2], false, &g->win);
  if (st) return st;
  g->m = m;
  g->group = group;
  return SAL_STATUS_OK;
}

sal_status sal__conv_geom_k(const sal_kctx *k, sal_conv_geom *g) {
  sal_shape in[3];
  for (int i = 0; i < 3; i++) {
    in[i].ndim = -1;
    if (i < k->n_in && k->in[i]) in[i] = k->in[i]->shape;
  }
  return sal__conv_geom(k->ctx, k->node, in, g);
}

sal_status sal__require_plain(const sal_kctx *k) {
  for (int i = 0; i < k->n_in; i++)
    if (k->in[i] && k->in[i]->layout != SAL_LAYOUT_PLAIN)
      return sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED, "the reference kernel needs input %d in plain layout", i);
  for (int j = 0; j < k->n_out; j++)
    if (k->out[j]->layout != SAL_LAYOUT_PLAIN)
      return sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED, "the reference kernel needs output %d in plain layout", j);
  return SAL_STATUS_OK;
}

static sal_status conv_infer(sal_ctx *ctx, const sal_graph *gr, const sal_node *n, const sal_shape *in,
                             sal_shape *out) {
  (void)gr;
  sal_conv_geom g;
  sal_status st = sal__conv_geom(ctx, n, in, &g);
  if (st) return st;
  out[0].ndim = 4;
  out[0].d[0] = g.win.n;
  out[0].d[1] = g.m;
  out[0].d[2] = g.win.oh;
  out[0].d[3] = g.win.ow;
  return SAL_STATUS_OK;
}

/* N*M*OH*OW*(C/group)*kH*kW: the weight's shape is (M, C/group, kH, kW). */
static int64_t conv_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  return sal_shape_numel(&out[0]) * in[1].d[1] * in[1].d[2] * in[1].d[3];
}

const sal_op_def sal__op_conv = {.name = "Conv", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
                                 .infer = conv_infer, .macs = conv_macs};
