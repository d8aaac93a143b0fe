/* oneDNN MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool kernels (4-D, pooling_v2 forward + backward
 * created once in prepare), chosen by plans over src/kernels/ref/pool.c where supported. */
#include "kernels/dnnl/util.h"
#include "ops/conv.h"

#include <string.h>

/* Forward uses training propagation, so max pooling records the argmax workspace its backward
 * needs. The primitives run on the input's own layout (nchw or nChw16c: oneDNN's pooling takes
 * either), so no reorder runs unless the plan keeps the output in the other layout. ceil_mode becomes extra bottom/right padding; an
 * AveragePool that counts pads AND hangs past them in ceil_mode is left to the reference kernel,
 * since oneDNN would count the overhang as padding. */
typedef struct dnnl_pool {
  sal_dnnl_res r;
  sal_pool_geom g;
  char impl[128];
  sal_dnnl_prim fwd, bwd;
  sal_dnnl_port src, dst, ddst, dsrc;
  dnnl_memory_t ws; /* max pooling: the argmax of each window, written by forward */
} dnnl_pool;
SAL_DNNL_STATE_CHECK(dnnl_pool);

/* oneDNN algorithm and window for g; false if oneDNN cannot express it. */
static bool pool_params(const sal_pool_geom *g, const sal_shape *x, dnnl_alg_kind_t *alg, dnnl_dims_t ker,
                        dnnl_dims_t str, dnnl_dims_t dil, dnnl_dims_t pl, dnnl_dims_t pr) {
  const sal_window *w = &g->win;
  int64_t end[2] = {sal__window_pad_end(w, 0), sal__window_pad_end(w, 1)};
  /* oneDNN 2.6 runs dilated pooling only in its reference implementation ("ref:any"): the
   * reference kernel here does the same job. */
  if (w->d[0] != 1 || w->d[1] != 1) return false;
  if (g->global) {
    end[0] = end[1] = 0;
  } else if (!g->max && g->count_include_pad && (end[0] != w->pad[2] || end[1] != w->pad[3])) {
    return false;
  }
  *alg = g->max ? dnnl_pooling_max : g->count_include_pad ? dnnl_pooling_avg_include_padding : dnnl_pooling_avg_exclude_padding;
  for (int i = 0; i < 2; i++) {
    ker[i] = g->global ? x->d[2 + i] : w->k[i]; /* global pooling's window is the whole (H, W) plane */
    str[i] = w->s[i];
    dil[i] = w->d[i] - 1; /* oneDNN counts dilation from 0 */
    pl[i] = w->pad[i];
    pr[i] = end[i];
  }
  return true;
}

/* The primitive works in x's layout on both sides (src, and dst in the same format); y's user
 * descriptor is in y's own layout, which differs when the plan keeps only one of them blocked. */
static dnnl_status_t pool_mds(const sal_kctx *k, dnnl_memory_desc_t *src, dnnl_memory_desc_t *dst,
                              dnnl_memory_desc_t *dst_user) {
  const sal_shape *x = &k->in[0]->shape, *y = &k->out[0]->shape;
  dnnl_dims_t sd = {x->d[0], x->d[1], x->d[2], x->d[3]}, dd = {y->d[0], y->d[1], y->d[2], y->d[3]};
  dnnl_format_tag_t tag = sal__dnnl_layout_tag(k->in[0]->layout);
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(src, 4, sd, dnnl_f32, tag);
  if (!s) s = dnnl_memory_desc_init_by_tag(dst, 4, dd, dnnl_f32, tag);
  if (!s) s = dnnl_memory_desc_init_by_tag(dst_user, 4, dd, dnnl_f32, sal__dnnl_layout_tag(k->out[0]->layout));
  return s;
}

static bool plain_or_blocked(const sal_tensor *t) {
  return t->layout == SAL_LAYOUT_PLAIN || t->layout == SAL_LAYOUT_BLOCKED16;
}

static bool pool_supports(const sal_kctx *k) {
  sal_pool_geom g;
  if (k->in[0]->shape.ndim != 4 || !plain_or_blocked(k->in[0]) || !plain_or_blocked(k->out[0])) return false;
  if (sal__pool_geom_k(k, &g)) return false;
  dnnl_alg_kind_t alg;
  dnnl_dims_t ker, str, dil, pl, pr;
  if (!pool_params(&g, &k->in[0]->shape, &alg, ker, str, dil, pl, pr)) return false;
  dnnl_memory_desc_t src, dst, dst_user;
  dnnl_pooling_v2_desc_t f, b;
  if (pool_mds(k, &src, &dst, &dst_user) ||
      dnnl_pooling_v2_forward_desc_init(&f, dnnl_forward_training, alg, &src, &dst, str, ker, dil, pl, pr) ||
      dnnl_pooling_v2_backward_desc_init(&b, alg, &src, &dst, str, ker, dil, pl, pr))
    return false;
  const_dnnl_op_desc_t bwd[1] = {&b};
  return sal__dnnl_probe(k, &f, bwd, 1);
}

static sal_status pool_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(dnnl_pool));
  if (st) return st;
  dnnl_pool *s = k->state;
  sal_dnnl_res *r = &s->r;
  dnnl_alg_kind_t alg;
  dnnl_dims_t ker, str, dil, pl, pr;
  dnnl_memory_desc_t src, dst, dst_user;
  dnnl_pooling_v2_desc_t d;
  dnnl_primitive_desc_t fpd, bpd;
  st = sal__pool_geom_k(k, &s->g);
  if (!st && !pool_params(&s->g, &k->in[0]->shape, &alg, ker, str, dil, pl, pr))
    st = sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED, "oneDNN cannot express this pooling");
  if (!st) st = sal__dnnl_check(k->ctx, pool_mds(k, &src, &dst, &dst_user), "pooling memory descriptors");
  if (!st)
    st = sal__dnnl_check(k->ctx, dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_training, alg, &src, &dst, str, ker,
                                                                   dil, pl, pr),
                         "pooling forward descriptor");
  if (!st) st = sal__dnnl_pd(r, &d, NULL, "pooling forward", &fpd);
  if (!st) st = sal__dnnl_prim(r, fpd, "pooling forward", &s->fwd);
  if (st) goto fail;
  st = sal__dnnl_port_in(r, &s->src, &src, dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0));
  if (st) goto fail;
  st = sal__dnnl_port_out(r, &s->dst, &dst_user, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), false);
  if (!st && s->g.max) st = sal__dnnl_mem(r, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0), true, &s->ws);
  if (!st)
    st = sal__dnnl_check(k->ctx, dnnl_pooling_v2_backward_desc_init(&d, alg, &src, &dst, str, ker, dil, pl, pr),
                         "pooling backward descriptor");
  if (!st) st = sal__dnnl_pd(r, &d, fpd, "pooling backward", &bpd);
  if (!st) st = sal__dnnl_prim(r, bpd, "pooling backward", &s->bwd);
  if (!st) st = sal__dnnl_port_in(r, &s->ddst, &dst_user, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0));
  if (!st)
    st = sal__dnnl_port_out(r, &s->dsrc, &src, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0),
                            sal__dnnl_input_shared(k, 0));
fail:
  return sal__dnnl_state_done(k, st, s->fwd.pd, s->impl, sizeof s->impl);
}

static sal_status pool_forward(sal_kctx *k) {
  dnnl_pool *s = k->state;
  sal_dnnl_res *r = &s->r;
  dnnl_exec_arg_t ws = {DNNL_ARG_WORKSPACE, s->ws};
  return sal__dnnl_run_io(r, &s->fwd, &s->src, DNNL_ARG_SRC, k->in[0]->data, &s->dst, DNNL_ARG_DST, k->out[0]->data,
                          false, s->ws ? 1 : 0, &ws);
}

static sal_status pool_backward(sal_kctx *k) {
  dnnl_pool *s = k->state;
  sal_dnnl_res *r = &s->r;
  if (sal__dnnl_grad_trivial(k, 0)) return SAL_STATUS_OK;
  if (k->din[0]->layout != k->in[0]->layout || k->dout[0]->layout != k->out[0]->layout)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradients are not in their values' layouts");
  dnnl_exec_arg_t ws = {DNNL_ARG_WORKSPACE, s->ws};
  return sal__dnnl_run_io(r, &s->bwd, &s->ddst, DNNL_ARG_DIFF_DST, k->dout[0]->data, &s->dsrc, DNNL_ARG_DIFF_SRC,
                          k->din[0]->data, k->din_accum[0], s->ws ? 1 : 0, &ws);
}

static const char *pool_impl_name(const sal_kctx *k) {
  const dnnl_pool *s = k->state;
  return s ? s->impl : "dnnl";
}

#define SAL__DNNL_POOL(sym)                                                                                 \
  const sal_kernel sal__dnnl_##sym = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = pool_supports, \
                                      .prepare = pool_prepare,                                             \
                                      .release = sal__dnnl_state_release, .forward = pool_forward,                    \
                                      .backward = pool_backward, .impl_name = pool_impl_name};
SAL__DNNL_POOL(maxpool)
SAL__DNNL_POOL(avgpool)
SAL__DNNL_POOL(globalavgpool)
SAL__DNNL_POOL(globalmaxpool)
