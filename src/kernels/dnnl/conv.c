/* oneDNN Conv kernel: forward, backward-data and backward-weights(+bias) primitives created once in
 * prepare, chosen by plans over the reference kernel in src/kernels/ref/conv.c where supported. */
#include "kernels/dnnl/conv_gemm.h"
#include "kernels/dnnl/util.h"
#include "ops/conv.h"

#include <math.h>
#include <string.h>

/* Backward-data is created with the forward primitive descriptor as its hint. Weights are
 * reordered from the plain parameter into the primitive's layout on the first forward after a
 * parameter change (sal_plan_params_changed bumps k->param_version).
 *
 * Activation layouts. A tensor's `layout` says what its buffer holds (nchw or nChw16c). The
 * primitives are created with format `any` for activations and reorder at the edges when their
 * choice differs from the tensor's, except in two cases measured faster (2 threads, oneDNN 2.6.3,
 * batch 1, plain tensors, min of 20 runs, including the reorders):
 *   3x3 64→64 56x56:  any + reorders  fwd 1.01–1.07 ms, bwd-data 1.05–1.08 ms (jit:avx512_core)
 *                     plain nchw      fwd 1.47–1.79 ms, bwd-data 1.98–2.45 ms (x64:gemm:jit)
 *   1x1 64→256 56x56: any + reorders  fwd 0.53 ms, bwd-data 0.54 ms (jit_1x1, reorders ~0.15 ms)
 *                     plain nchw      fwd 0.41 ms, bwd-data 0.39 ms (x64:gemm:jit)
 *   7x7/2 3→64 224:   bwd-data into blocked diff_src 5.2 ms (3 channels padded to 16),
 *                     into plain nchw 2.5 ms
 * so (1) a pointwise conv (1x1, stride 1, no pads) between plain tensors keeps them plain, and (2) the
 * input gradient of a conv with fewer than 16 input channels is computed in plain nchw. Once
 * activations stay blocked between oneDNN ops, `any` picks their layout and no reorder runs.
 *
 * Fusion (inference plans without parameter gradients, decided by the plan, k->fuse). A following
 * batch-norm is folded into the weights and bias: with a = scale/sqrt(var + eps) per output
 * channel, BN(conv(x, W) + b) = conv(x, a*W) + a*(b - mean) + B; the folded copies are remade
 * whenever the weights are refreshed. A following ReLU becomes a post-op of the forward primitive;
 * backward masks dy by y > 0 (y: the ReLU output) before backward-data, which runs with the folded
 * weights, so d(x) is that of the whole conv-BN-ReLU chain.
 *
 * A residual Add between the batch-norm and the ReLU (ResNet's join, y = relu(bn(conv(x)) + r)) is
 * a binary post-op before the ReLU one: the conv reads r while its result is in registers, instead
 * of a separate Add pass (read two tensors, write one) and ReLU pass. Measured alone (1x1 64→256,
 * 56², batch 8, nChw16c): 3.3 ms with a ReLU post-op, 4.5 ms with add + ReLU post-ops (a sum
 * post-op over a destination holding r took 7.8 ms). Backward writes the masked gradient straight
 * into r's gradient when it is the first to write it, and backward-data reads it from there: one
 * pass for the ReLU mask and the Add's two copies. When oneDNN has no fitting post-op (r's layout
 * not the primitive's destination layout), the add and ReLU run in C after the conv. */
typedef struct dnnl_conv {
  sal_dnnl_res r;
  sal_conv_geom g;
  char impl[128];
  sal_dnnl_prim fwd, bwd_data, bwd_w;
  bool has_bwd_w, has_bwd_data;
  bool bwd_gemm;              /* input gradient by matmul + col2im (conv_gemm.c), not bwd_data */
  sal_conv_gemm gemm;
  sal_dnnl_port src, dst, w;  /* forward: x, y and the weights (plain parameter → primitive layout) */
  sal_dnnl_port w_bd;         /* weights for backward-data when its layout differs from forward's */
  bool w_bd_own;
  dnnl_memory_t bias;         /* plain (M): the parameter itself */
  sal_dnnl_port ddst, dsrc;   /* backward-data: dy in, dx out */
  sal_dnnl_port src_bw, ddst_bw; /* backward-weights inputs, when they cannot reuse src / ddst */
  bool src_bw_own, ddst_bw_own;
  sal_dnnl_port dw;           /* diff weights: primitive layout → plain gradient */
  dnnl_memory_t dbias, dbias_acc; /* d(bias) straight into the gradient, or into a scratch of M */
  uint64_t w_version;         /* param_version the reordered weights were made from (0 = never) */
  bool w_param;               /* the weight is a graph parameter; otherwise it may change every pass */
  bool fuse_bn, fuse_relu, fuse_add; /* k->fuse as prepared */
  bool add_post;              /* fuse_add by a binary post-op (else in C after the conv) */
  bool wino;                  /* forward by Winograd (wino_wanted); backward-data too when oneDNN fits it */
  dnnl_memory_t res;          /* add_post: the residual operand, the output's user layout */
  float *wfold, *bfold;       /* fuse_bn: a*W (M, C/group, kH, kW) and a*(b - mean) + B (M) */
  float *dy_masked;           /* fuse_relu: dy * (y > 0) in y's layout and storage size, when dy
                               * may not be overwritten */
  int64_t y_storage;          /* floats of y's storage (channel padding included) */
} dnnl_conv;
SAL_DNNL_STATE_CHECK(dnnl_conv);

typedef struct conv_mds {
  dnnl_memory_desc_t src_user, dst_user, w_user, w_any, bias;
  dnnl_memory_desc_t src_fwd, dst_fwd, dsrc_bd, ddst_bd, src_any, ddst_any;
  dnnl_dims_t strides, dil, pad_l, pad_r;
} conv_mds;

static bool pointwise(const sal_window *w) {
  return w->k[0] == 1 && w->k[1] == 1 && w->s[0] == 1 && w->s[1] == 1 && !(w->pad[0] | w->pad[1] | w->pad[2] | w->pad[3]);
}

/* Descriptors per the layout policy above. The gradients are assumed to share their values'
 * layouts (checked in backward). */
static dnnl_status_t conv_make_mds(const sal_kctx *k, const sal_conv_geom *g, conv_mds *m) {
  const sal_window *w = &g->win;
  sal_layout lin = k->in[0]->layout, lout = k->out[0]->layout;
  dnnl_dims_t sd = {w->n, w->c, w->h, w->w}, dd = {w->n, g->m, w->oh, w->ow}, bd = {g->m};
  dnnl_dims_t wd = {g->m, w->c, w->k[0], w->k[1]};
  dnnl_dims_t gwd = {g->group, g->m / g->group, w->c / g->group, w->k[0], w->k[1]};
  bool grouped = g->group > 1;
  /* Plain pointwise only when both sides are plain: a conv mixing plain and blocked layouts can
   * fall back to a reference implementation (PERF-NOTES). */
  bool keep = lin == SAL_LAYOUT_PLAIN && lout == SAL_LAYOUT_PLAIN && pointwise(w), keep_in = keep, keep_out = keep;
  dnnl_format_tag_t any = dnnl_format_tag_any, tin = sal__dnnl_layout_tag(lin), tout = sal__dnnl_layout_tag(lout);
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(&m->src_user, 4, sd, dnnl_f32, tin);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->dst_user, 4, dd, dnnl_f32, tout);
  if (!s) s = grouped ? dnnl_memory_desc_init_by_tag(&m->w_user, 5, gwd, dnnl_f32, dnnl_goihw)
                      : dnnl_memory_desc_init_by_tag(&m->w_user, 4, wd, dnnl_f32, dnnl_oihw);
  if (!s) s = grouped ? dnnl_memory_desc_init_by_tag(&m->w_any, 5, gwd, dnnl_f32, any)
                      : dnnl_memory_desc_init_by_tag(&m->w_any, 4, wd, dnnl_f32, any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->bias, 1, bd, dnnl_f32, dnnl_a);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->src_fwd, 4, sd, dnnl_f32, keep_in ? tin : any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->dst_fwd, 4, dd, dnnl_f32, keep_out ? tout : any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->dsrc_bd, 4, sd, dnnl_f32, (keep_in || w->c < 16) ? dnnl_nchw : any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->ddst_bd, 4, dd, dnnl_f32, keep_out ? tout : any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->src_any, 4, sd, dnnl_f32, any);
  if (!s) s = dnnl_memory_desc_init_by_tag(&m->ddst_any, 4, dd, dnnl_f32, any);
  m->strides[0] = w->s[0];
  m->strides[1] = w->s[1];
  m->dil[0] = w->d[0] - 1; /* oneDNN counts dilation from 0 */
  m->dil[1] = w->d[1] - 1;
  m->pad_l[0] = w->pad[0];
  m->pad_l[1] = w->pad[1];
  m->pad_r[0] = w->pad[2];
  m->pad_r[1] = w->pad[3];
  return s;
}

static dnnl_status_t conv_fwd_desc(const conv_mds *m, bool bias, dnnl_alg_kind_t alg, dnnl_convolution_desc_t *d) {
  return dnnl_dilated_convolution_forward_desc_init(d, dnnl_forward_training, alg, &m->src_fwd,
                                                    &m->w_any, bias ? &m->bias : NULL, &m->dst_fwd, m->strides, m->dil,
                                                    m->pad_l, m->pad_r);
}

static bool plain_or_blocked(const sal_tensor *t) {
  return t->layout == SAL_LAYOUT_PLAIN || t->layout == SAL_LAYOUT_BLOCKED16;
}

static dnnl_status_t conv_bwd_data_desc(const conv_mds *m, dnnl_alg_kind_t alg, dnnl_convolution_desc_t *d) {
  return dnnl_dilated_convolution_backward_data_desc_init(d, alg, &m->dsrc_bd, &m->w_any, &m->ddst_bd,
                                                          m->strides, m->dil, m->pad_l, m->pad_r);
}

static dnnl_status_t conv_bwd_weights_desc(const conv_mds *m, bool bias, dnnl_convolution_desc_t *d) {
  return dnnl_dilated_convolution_backward_weights_desc_init(d, dnnl_convolution_direct, &m->src_any, &m->w_any,
                                                             bias ? &m->bias : NULL, &m->ddst_any, m->strides, m->dil,
                                                             m->pad_l, m->pad_r);
}

/* Supported when the geometry is valid and oneDNN implements all three primitives for it. */
static bool conv_supports(const sal_kctx *k) {
  sal_conv_geom g;
  if (sal__conv_geom_k(k, &g) || !plain_or_blocked(k->in[0]) || !plain_or_blocked(k->out[0])) return false;
  conv_mds m;
  dnnl_convolution_desc_t f, b[2];
  if (conv_make_mds(k, &g, &m) || conv_fwd_desc(&m, g.bias, dnnl_convolution_direct, &f) ||
      conv_bwd_data_desc(&m, dnnl_convolution_direct, &b[0]) ||
      conv_bwd_weights_desc(&m, g.bias, &b[1]))
    return false;
  const_dnnl_op_desc_t bwd[2] = {&b[0], &b[1]};
  return sal__dnnl_probe(k, &f, bwd, 2);
}

/* The residual operand of a fused Add has the output's shape and layout (the plan keeps the two
 * in one layout). */
static bool residual_fits(const sal_kctx *k, const sal_tensor *r) {
  return r && sal_shape_equal(&r->shape, &k->out[0]->shape) && r->layout == k->out[0]->layout;
}

/* Winograd's F(4x4, 3x3) (oneDNN's jit_wino_4x3: 36 multiplications per 4x4 output tile and input
 * channel where the direct algorithm makes 144) for a 3x3, stride-1, undilated, ungrouped conv
 * between blocked tensors of at least 32 channels (the kernel wants multiples of 16), with at
 * least 48 output tiles of 4x4 over the batch. Measured against the direct jit kernel (oneDNN
 * 2.6.3, 2 threads, nChw16c, bias + ReLU post-op, best of 15; forward / backward-data ms):
 *   64→64 56², batch 1: 1.32 / 1.36 direct, 0.66 / 0.66 Winograd     (196 tiles)
 *   128→128 28², batch 1: 1.03 / 1.02 direct, 0.83 / 0.82 Winograd   (49 tiles)
 *   256→256 14², batch 1: 0.89 / 0.81 direct, 1.42 / 1.45 Winograd   (16 tiles)
 *   256→256 14², batch 2: 1.62 / 1.70 direct, 1.90 / 2.02 Winograd   (32 tiles)
 *   256→256 14², batch 4: 3.31 / 3.57 direct, 3.03 / 2.76 Winograd   (64 tiles)
 *   512→512 7², batch 8: 5.14 / 5.29 direct, 6.70 / 6.80 Winograd    (32 tiles)
 *   512→512 7², batch 16: 18.3 / 12.2 direct, 11.4 / 12.4 Winograd   (64 tiles)
 *   16→16 32², batch 1: 0.027 direct, 0.043 Winograd                  (64 tiles, few channels)
 *   32→32 64², batch 1: 0.33 direct, 0.22 Winograd                    (256 tiles)
 * Its error against a float64 reference was that of the direct kernel (max 1.8e-6 to 1.9e-5
 * against 4.6e-6 to 9.9e-6 on outputs of magnitude ~7; docs/performance.md). */
static bool wino_wanted(const sal_kctx *k, const sal_conv_geom *g) {
  const sal_window *w = &g->win;
  if (!sal_ctx_winograd(k->ctx) || g->group != 1 || w->k[0] != 3 || w->k[1] != 3 || w->s[0] != 1 || w->s[1] != 1 ||
      w->d[0] != 1 || w->d[1] != 1 || w->c % 16 || g->m % 16 || w->c < 32 || g->m < 32)
    return false;
  if (k->in[0]->layout != SAL_LAYOUT_BLOCKED16 || k->out[0]->layout != SAL_LAYOUT_BLOCKED16) return false;
  return w->n * ((w->oh + 3) / 4) * ((w->ow + 3) / 4) >= 48;
}

static void conv_release(sal_kctx *k) {
  dnnl_conv *s = k->state;
  if (!s) return;
  sal_free(s->wfold);
  sal_free(s->bfold);
  sal_free(s->dy_masked);
  sal__dnnl_state_release(k);
}

static sal_status conv_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(dnnl_conv));
  if (st) return st;
  dnnl_conv *s = k->state;
  sal_dnnl_res *r = &s->r;
  conv_mds m;
  dnnl_convolution_desc_t d;
  dnnl_primitive_desc_t fpd = NULL, bdpd = NULL, bwpd = NULL;
  dnnl_primitive_attr_t post = NULL;
  s->fuse_bn = k->fuse.bn;
  s->fuse_relu = k->fuse.relu;
  s->fuse_add = k->fuse.add;
  st = sal__conv_geom_k(k, &s->g);
  if (!st && s->fuse_add && !residual_fits(k, k->fuse.add_in))
    st = sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "the fused residual operand differs from the output in shape or layout");
  bool bias = s->g.bias || s->fuse_bn; /* folding a batch-norm always makes a bias */
  if (!st) st = sal__dnnl_check(k->ctx, conv_make_mds(k, &s->g, &m), "conv memory descriptors");
  if (!st && (s->fuse_add || s->fuse_relu)) st = sal__dnnl_attr_fused(r, s->fuse_add ? &m.dst_user : NULL, s->fuse_relu, &post);
  /* Winograd where wanted and oneDNN has it for these post-ops and layouts; else direct with the
   * post-ops; else (a fused add oneDNN cannot fit: r's layout not the destination's) direct with
   * the add and the ReLU after it in C. */
  const dnnl_query_t io_q[2] = {dnnl_query_src_md, dnnl_query_dst_md};
  const dnnl_memory_desc_t *io_want[2] = {&m.src_user, &m.dst_user};
  if (!st && wino_wanted(k, &s->g) && conv_fwd_desc(&m, bias, dnnl_convolution_winograd, &d) == dnnl_success)
    s->wino = sal__dnnl_pd_fits(r, &d, post, NULL, 2, io_q, io_want, &fpd);
  if (!st && !fpd) st = sal__dnnl_check(k->ctx, conv_fwd_desc(&m, bias, dnnl_convolution_direct, &d), "conv forward descriptor");
  if (!st && !fpd && s->fuse_add && !sal__dnnl_pd_fits(r, &d, post, NULL, 1, &io_q[1], &io_want[1], &fpd)) {
    dnnl_primitive_attr_destroy(post);
    post = NULL;
  }
  if (!st && !fpd) st = sal__dnnl_pd_attr(r, &d, post ? post : r->attr, NULL, "conv forward", &fpd);
  s->add_post = s->fuse_add && post;
  if (post) dnnl_primitive_attr_destroy(post);
  if (!st && s->add_post) st = sal__dnnl_mem(r, &m.dst_user, false, &s->res);
  if (st) goto fail;
  if (s->fuse_bn) {
    int64_t wn = sal_tensor_numel(k->in[1]);
    s->wfold = sal_calloc(k->ctx, (size_t)wn, sizeof(float));
    s->bfold = sal_calloc(k->ctx, (size_t)s->g.m, sizeof(float));
    if (!s->wfold || !s->bfold) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto fail;
    }
  }
  s->y_storage = (int64_t)(dnnl_memory_desc_get_size(&m.dst_user) / sizeof(float));
  bool any_grad = k->din_wanted || (s->fuse_add && k->fuse.add_din_wanted);
  if (s->fuse_relu && any_grad && !k->dout_writable) { /* else backward masks dy in place */
    if (!(s->dy_masked = sal_calloc(k->ctx, (size_t)s->y_storage, sizeof(float)))) {
      st = SAL_STATUS_OUT_OF_MEMORY;
      goto fail;
    }
  }
  sal__dnnl_impl_name(fpd, s->impl, sizeof s->impl);
  if (s->fuse_bn) strncat(s->impl, "+bn", sizeof s->impl - strlen(s->impl) - 1);
  if (s->fuse_add) strncat(s->impl, s->add_post ? "+add" : "+add(c)", sizeof s->impl - strlen(s->impl) - 1);
  if (s->fuse_relu) strncat(s->impl, "+relu", sizeof s->impl - strlen(s->impl) - 1);
  const dnnl_memory_desc_t *fw_md = sal__dnnl_qmd(fpd, dnnl_query_weights_md);
  st = sal__dnnl_prim(r, fpd, "conv forward", &s->fwd);
  if (!st) st = sal__dnnl_port_in(r, &s->src, &m.src_user, sal__dnnl_qmd(fpd, dnnl_query_src_md));
  if (!st) st = sal__dnnl_port_in(r, &s->w, &m.w_user, fw_md);
  if (!st) st = sal__dnnl_port_out(r, &s->dst, &m.dst_user, sal__dnnl_qmd(fpd, dnnl_query_dst_md), false);
  if (!st && bias) st = sal__dnnl_mem(r, &m.bias, false, &s->bias);
  if (st) goto fail;

  /* Backward data: d(input) = W^T * dy, only in plans whose backward can ask for it. */
  s->has_bwd_data = !sal__dnnl_grad_unwanted(k, 0);
  s->bwd_gemm = s->has_bwd_data && sal__conv_gemm_wanted(&s->g) && k->in[0]->layout == SAL_LAYOUT_PLAIN;
  if (s->bwd_gemm && (st = sal__conv_gemm_prepare(r, &s->gemm, &s->g, k->out[0]->layout))) goto fail;
  if (s->has_bwd_data && !s->bwd_gemm) {
    const dnnl_query_t bd_q[2] = {dnnl_query_diff_src_md, dnnl_query_diff_dst_md};
    if (s->wino && conv_bwd_data_desc(&m, dnnl_convolution_winograd, &d) == dnnl_success)
      sal__dnnl_pd_fits(r, &d, NULL, fpd, 2, bd_q, io_want, &bdpd); /* else bdpd stays NULL */
    if (!bdpd) st = sal__dnnl_check(k->ctx, conv_bwd_data_desc(&m, dnnl_convolution_direct, &d), "conv backward-data descriptor");
    if (!st && !bdpd) st = sal__dnnl_pd(r, &d, fpd, "conv backward data", &bdpd);
    if (!st) st = sal__dnnl_prim(r, bdpd, "conv backward data", &s->bwd_data);
    if (!st) st = sal__dnnl_port_in(r, &s->ddst, &m.dst_user, sal__dnnl_qmd(bdpd, dnnl_query_diff_dst_md));
    if (!st) st = sal__dnnl_port_out(r, &s->dsrc, &m.src_user, sal__dnnl_qmd(bdpd, dnnl_query_diff_src_md), sal__dnnl_input_shared(k, 0));
    if (st) goto fail;
    const dnnl_memory_desc_t *bw_md = sal__dnnl_qmd(bdpd, dnnl_query_weights_md);
    s->w_bd_own = !dnnl_memory_desc_equal(bw_md, fw_md);
    if (s->w_bd_own && (st = sal__dnnl_port_in(r, &s->w_bd, &m.w_user, bw_md))) goto fail;
  }

  /* Backward weights (and bias), only when backward can ask for their gradients. */
  s->has_bwd_w = !s->fuse_bn && !(sal__dnnl_grad_unwanted(k, 1) && sal__dnnl_grad_unwanted(k, 2));
  s->w_param = k->graph->values[k->node->in[1]].kind == SAL_VALUE_PARAM;
  if (s->has_bwd_w) {
    st = sal__dnnl_check(k->ctx, conv_bwd_weights_desc(&m, s->g.bias, &d), "conv backward-weights descriptor");
    if (!st) st = sal__dnnl_pd(r, &d, fpd, "conv backward weights", &bwpd);
    if (!st) st = sal__dnnl_prim(r, bwpd, "conv backward weights", &s->bwd_w);
    if (st) goto fail;
    const dnnl_memory_desc_t *bsrc = sal__dnnl_qmd(bwpd, dnnl_query_src_md), *bddst = sal__dnnl_qmd(bwpd, dnnl_query_diff_dst_md);
    /* Reuse what forward / backward-data already put in the wanted layout. */
    s->src_bw_own = !dnnl_memory_desc_equal(bsrc, sal__dnnl_qmd(fpd, dnnl_query_src_md));
    s->ddst_bw_own = !s->has_bwd_data || s->bwd_gemm || !dnnl_memory_desc_equal(bddst, sal__dnnl_qmd(bdpd, dnnl_query_diff_dst_md));
    if (s->src_bw_own) st = sal__dnnl_port_in(r, &s->src_bw, &m.src_user, bsrc);
    if (!st && s->ddst_bw_own) st = sal__dnnl_port_in(r, &s->ddst_bw, &m.dst_user, bddst);
    /* acc always: it also receives d(weight) when only d(bias) is wanted. */
    if (!st) st = sal__dnnl_port_out(r, &s->dw, &m.w_user, sal__dnnl_qmd(bwpd, dnnl_query_diff_weights_md), true);
    if (!st && s->g.bias) st = sal__dnnl_mem(r, &m.bias, false, &s->dbias);
    if (!st && s->g.bias) st = sal__dnnl_mem(r, &m.bias, true, &s->dbias_acc);
    if (st) goto fail;
  }
  st = sal__dnnl_res_ready(r);
  if (!st) return SAL_STATUS_OK;
fail:
  conv_release(k);
  return st;
}

/* Folds the fused batch-norm into the weights and bias: a = scale/sqrt(var + eps),
 * wfold[oc] = a[oc]*W[oc], bfold[oc] = a[oc]*(b[oc] - mean[oc]) + B[oc]. */
static void fold_bn(dnnl_conv *s, const sal_kctx *k) {
  const sal_fusion *f = &k->fuse;
  const float *w = k->in[1]->data, *b = s->g.bias ? k->in[2]->data : NULL;
  const float *sc = f->bn_scale->data, *sh = f->bn_bias->data, *mean = f->bn_mean->data, *var = f->bn_var->data;
  int64_t per = sal_tensor_numel(k->in[1]) / s->g.m; /* (C/group)*kH*kW */
  for (int64_t oc = 0; oc < s->g.m; oc++) {
    double a = sc[oc] / sqrt((double)var[oc] + (double)f->bn_eps);
    for (int64_t i = 0; i < per; i++) s->wfold[oc * per + i] = (float)(a * w[oc * per + i]);
    s->bfold[oc] = (float)(a * ((b ? b[oc] : 0.0) - mean[oc]) + sh[oc]);
  }
}

static sal_status conv_forward(sal_kctx *k) {
  dnnl_conv *s = k->state;
  sal_dnnl_res *r = &s->r;
  /* Parameters change only with sal_plan_params_changed; a computed or input weight, any pass. */
  bool refresh = !s->w_param || s->w_version != k->param_version;
  float *w = k->in[1]->data, *b = s->g.bias ? k->in[2]->data : NULL;
  if (s->fuse_bn) {
    if (refresh) fold_bn(s, k);
    w = s->wfold;
    b = s->bfold;
  }
  sal_status st = sal__dnnl_port_load(r, &s->src, k->in[0]->data, true);
  if (!st) st = sal__dnnl_port_load(r, &s->w, w, refresh);
  if (!st && s->w_bd_own) st = sal__dnnl_port_load(r, &s->w_bd, w, refresh);
  if (!st && b) st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->bias, b), "bias handle");
  if (st) return st;
  s->w_version = k->param_version;
  dnnl_memory_t dst = sal__dnnl_port_target(r, &s->dst, k->out[0]->data, false);
  if (!dst) return SAL_STATUS_INTERNAL;
  dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, s->src.prim}, {DNNL_ARG_WEIGHTS, s->w.prim}, {DNNL_ARG_DST, dst}};
  int na = 3;
  if (b) a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, s->bias};
  if (s->add_post) {
    sal__dnnl_bind(s->res, k->fuse.add_in->data);
    a[na++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, s->res};
  }
  st = sal__dnnl_run(r, &s->fwd, na, a);
  if (!st) st = sal__dnnl_port_store(r, &s->dst, false);
  if (!st) st = sal__dnnl_wait(r);
  if (!st && s->fuse_add && !s->add_post) {
    /* y = relu?(y + r) over the storage (padding: 0 + 0) */
    float *y = k->out[0]->data;
    const float *res = k->fuse.add_in->data;
    int64_t n = s->y_storage;
    bool relu = s->fuse_relu;
    #pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float v = y[i] + res[i];
      y[i] = relu && !(v > 0.0f) ? 0.0f : v;
    }
  }
  return st;
}

/* The gradient reaching the conv's own output, from dy (the gradient at the end of the fused
 * chain): g = dy * (y > 0) through a fused ReLU (y its output, same layout, padding 0), else dy.
 * A fused Add's operand gets g as its gradient (ra, written or added). g is put in ra itself
 * when ra is written, else in dy when it may be overwritten, else in dy_masked. NULL when the
 * plan prepared no buffer for it. */
static float *fused_grad(sal_kctx *k, dnnl_conv *s, float *dy, sal_tensor *ra) {
  const float *y = k->out[0]->data;
  int64_t n = s->y_storage;
  bool acc = ra && k->fuse.add_din_accum;
  float *d = ra ? ra->data : NULL;
  if (!s->fuse_relu) {
    if (d && acc) sal__dnnl_accumulate(d, dy, n);
    else if (d) memcpy(d, dy, (size_t)n * sizeof(float));
    return dy;
  }
  float *g = d && !acc ? d : (k->dout_writable ? dy : s->dy_masked);
  if (!g) return NULL;
  if (acc) {
    #pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float v = y[i] > 0.0f ? dy[i] : 0.0f;
      g[i] = v;
      d[i] += v;
    }
  } else {
    #pragma omp parallel for if (n > 32768) schedule(static)
    for (int64_t i = 0; i < n; i++) g[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
  return g;
}

static sal_status conv_backward(sal_kctx *k) {
  dnnl_conv *s = k->state;
  sal_dnnl_res *r = &s->r;
  sal_tensor *ra = s->fuse_add ? k->fuse.add_din : NULL; /* the fused Add operand's gradient */
  if (ra && !residual_fits(k, ra))
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "the fused residual's gradient is not in the output's layout");
  if (!k->dout[0]) {
    for (int i = 0; i < k->n_in; i++) sal__grad_prepare(k, i);
    if (ra && !k->fuse.add_din_accum) memset(ra->data, 0, (size_t)s->y_storage * sizeof(float));
    return SAL_STATUS_OK;
  }
  for (int i = 0; i < 3 && i < k->n_in; i++)
    if (k->din[i] && k->din[i]->layout != (i == 0 ? k->in[0]->layout : SAL_LAYOUT_PLAIN))
      return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradient %d is not in its value's layout", i);
  if (k->dout[0]->layout != k->out[0]->layout)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "output gradient is not in the output's layout");
  bool want_dx = k->din[0] != NULL, want_dw = k->din[1] != NULL, want_db = s->g.bias && k->din[2] != NULL;
  bool want_w = want_dw || want_db;
  if (want_w && s->fuse_bn)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_UNSUPPORTED,
                         "weight gradients of a convolution fused with the batch-norm after it");
  if ((want_w && !s->has_bwd_w) || (want_dx && !s->has_bwd_data))
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "a gradient the plan did not prepare for was asked");
  sal_status st = SAL_STATUS_OK;
  float *dy = k->dout[0]->data;
  /* The matmul path masks while it makes dy plain, unless a fused Add's operand needs the mask. */
  bool gemm_mask = s->bwd_gemm && s->fuse_relu && !ra && !want_w;
  if ((s->fuse_relu && !gemm_mask) || ra) dy = fused_grad(k, s, dy, ra);
  if (!dy) return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "backward in a plan prepared without it");
  /* dy into backward-data's layout: needed by backward-data, and by backward-weights when it
   * reuses that buffer. */
  if ((want_dx && !s->bwd_gemm) || (want_w && !s->ddst_bw_own)) st = sal__dnnl_port_load(r, &s->ddst, dy, true);
  if (st) return st;
  if (want_dx && s->bwd_gemm) {
    const float *w = s->fuse_bn ? s->wfold : k->in[1]->data;
    st = sal__conv_gemm_run(r, &s->gemm, dy, gemm_mask ? k->out[0]->data : NULL, w, k->din[0]->data, k->din_accum[0]);
    if (st) return st;
  } else if (want_dx) {
    bool acc = k->din_accum[0];
    dnnl_memory_t dsrc = sal__dnnl_port_target(r, &s->dsrc, k->din[0]->data, acc);
    if (!dsrc) return SAL_STATUS_INTERNAL;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, s->ddst.prim},
                            {DNNL_ARG_WEIGHTS, s->w_bd_own ? s->w_bd.prim : s->w.prim},
                            {DNNL_ARG_DIFF_SRC, dsrc}};
    st = sal__dnnl_run(r, &s->bwd_data, 3, a);
    if (!st) st = sal__dnnl_port_store(r, &s->dsrc, acc);
    if (st) return st;
  }
  if (want_w) {
    /* The forward of this pass left x in the src buffer (or in the tensor itself). */
    if (s->src_bw_own) st = sal__dnnl_port_load(r, &s->src_bw, k->in[0]->data, true);
    if (!st && s->ddst_bw_own) st = sal__dnnl_port_load(r, &s->ddst_bw, dy, true);
    if (st) return st;
    bool acc_w = want_dw && k->din_accum[1], acc_b = want_db && k->din_accum[2];
    dnnl_memory_t dw;
    if (want_dw) dw = sal__dnnl_port_target(r, &s->dw, k->din[1]->data, acc_w);
    else dw = s->dw.reorder.p ? s->dw.prim : s->dw.acc;
    if (!dw) return SAL_STATUS_INTERNAL;
    dnnl_memory_t db = s->dbias_acc;
    if (want_db && !acc_b) {
      st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->dbias, k->din[2]->data), "bias gradient handle");
      if (st) return st;
      db = s->dbias;
    }
    dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, s->src_bw_own ? s->src_bw.prim : s->src.prim},
                            {DNNL_ARG_DIFF_DST, s->ddst_bw_own ? s->ddst_bw.prim : s->ddst.prim},
                            {DNNL_ARG_DIFF_WEIGHTS, dw},
                            {DNNL_ARG_DIFF_BIAS, db}};
    st = sal__dnnl_run(r, &s->bwd_w, s->g.bias ? 4 : 3, a);
    if (!st && want_dw) st = sal__dnnl_port_store(r, &s->dw, acc_w);
    if (!st) st = sal__dnnl_wait(r);
    if (st) return st;
    if (acc_b) {
      void *src;
      st = sal__dnnl_check(k->ctx, dnnl_memory_get_data_handle(s->dbias_acc, &src), "bias scratch");
      if (st) return st;
      sal__dnnl_accumulate(k->din[2]->data, src, s->g.m);
    }
  }
  return sal__dnnl_wait(r);
}

static const char *conv_impl_name(const sal_kctx *k) {
  const dnnl_conv *s = k->state;
  return s ? s->impl : "dnnl";
}

const sal_kernel sal__dnnl_conv = {.name = "dnnl",
                                   .flags = SAL_KERNEL_BLOCKED | SAL_KERNEL_FUSE_BN | SAL_KERNEL_FUSE_RELU | SAL_KERNEL_FUSE_ADD,
                                   .supports = conv_supports, .prepare = conv_prepare,
                                   .release = conv_release, .forward = conv_forward, .backward = conv_backward,
                                   .impl_name = conv_impl_name};
