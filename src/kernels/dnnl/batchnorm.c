/* oneDNN BatchNormalization kernel (4-D, forward + backward created once in prepare), chosen by
 * plans over src/kernels/ref/batchnorm.c where supported. */
#include "kernels/dnnl/util.h"
#include "ops/conv.h"

#include <math.h>
#include <string.h>

/* The primitives run on the input's own layout (nchw or nChw16c), with separate scale and shift.
 * Inference uses the running statistics (use_global_stats). Training lets oneDNN compute the batch
 * mean and biased variance, then updates the running statistics in place exactly as the reference
 * kernel does (momentum, ONNX convention, with the unbiased variance as PyTorch does); backward
 * runs through the batch statistics. When only d(scale)/d(B) are wanted, they are reduced here in
 * C rather than paying for an activation-sized d(input) scratch. */
typedef struct dnnl_bn {
  sal_dnnl_res r;
  sal_bn_geom g;
  char impl[128];
  bool training;
  sal_dnnl_prim fwd, bwd;
  sal_dnnl_port src, dst, ddst, dsrc;
  dnnl_memory_t scale, shift; /* the parameters (handles set per execution) */
  dnnl_memory_t mean, var;    /* inference: the running statistics; training: batch statistics */
  float *bmean, *bvar;        /* training: buffers behind mean and var, (C) each */
  dnnl_memory_t dscale, dshift;
  float *dscale_buf, *dshift_buf; /* (C) each: oneDNN writes here, then they are copied or added */
} dnnl_bn;
SAL_DNNL_STATE_CHECK(dnnl_bn);

static unsigned bn_flags(bool training) {
  return dnnl_use_scale | dnnl_use_shift | (training ? 0u : (unsigned)dnnl_use_global_stats);
}

static dnnl_status_t bn_data_md(const sal_tensor *t, dnnl_memory_desc_t *md) {
  const sal_shape *x = &t->shape;
  dnnl_dims_t d = {x->d[0], x->d[1], x->d[2], x->d[3]};
  return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, sal__dnnl_layout_tag(t->layout));
}

static bool bn_supports(const sal_kctx *k) {
  const sal_tensor *x = k->in[0];
  if (x->shape.ndim != 4 || (x->layout != SAL_LAYOUT_PLAIN && x->layout != SAL_LAYOUT_BLOCKED16)) return false;
  sal_bn_geom g;
  if (sal__bn_geom_k(k, &g) || sal__bn_training_check(k, &g)) return false;
  dnnl_memory_desc_t md;
  dnnl_batch_normalization_desc_t f, b;
  unsigned flags = bn_flags(k->training);
  if (bn_data_md(x, &md) || dnnl_batch_normalization_forward_desc_init(&f, dnnl_forward_training, &md, g.epsilon, flags) ||
      dnnl_batch_normalization_backward_desc_init(&b, dnnl_backward, &md, &md, g.epsilon, flags))
    return false;
  const_dnnl_op_desc_t bwd[1] = {&b};
  return sal__dnnl_probe(k, &f, bwd, 1);
}

static sal_status vec_mem(dnnl_bn *s, bool alloc, dnnl_memory_t *m, float **buf) {
  dnnl_dims_t d = {s->g.c};
  dnnl_memory_desc_t md;
  sal_status st = sal__dnnl_check(s->r.ctx, dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_f32, dnnl_a), "vector descriptor");
  if (!st) st = sal__dnnl_mem(&s->r, &md, alloc, m);
  if (!st && buf) st = sal__dnnl_check(s->r.ctx, dnnl_memory_get_data_handle(*m, (void **)buf), "vector buffer");
  return st;
}

static sal_status bn_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(dnnl_bn));
  if (st) return st;
  dnnl_bn *s = k->state;
  sal_dnnl_res *r = &s->r;
  s->training = k->training;
  dnnl_memory_desc_t md;
  dnnl_batch_normalization_desc_t d;
  dnnl_primitive_desc_t fpd, bpd;
  unsigned flags = bn_flags(s->training);
  st = sal__bn_geom_k(k, &s->g);
  if (!st) st = sal__bn_training_check(k, &s->g);
  /* The primitive works in x's layout; y (and dy) may be kept in the other one by the plan. */
  dnnl_memory_desc_t md_out;
  if (!st) st = sal__dnnl_check(k->ctx, bn_data_md(k->in[0], &md), "batch-norm descriptor");
  if (!st) st = sal__dnnl_check(k->ctx, bn_data_md(k->out[0], &md_out), "batch-norm descriptor");
  if (!st)
    st = sal__dnnl_check(k->ctx, dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_training, &md, s->g.epsilon, flags),
                         "batch-norm forward descriptor");
  if (!st) st = sal__dnnl_pd(r, &d, NULL, "batch-norm forward", &fpd);
  if (!st) st = sal__dnnl_prim(r, fpd, "batch-norm forward", &s->fwd);
  if (st) goto fail;
  sal__dnnl_impl_name(fpd, s->impl, sizeof s->impl);
  st = sal__dnnl_check(k->ctx, dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &md, &md, s->g.epsilon, flags),
                       "batch-norm backward descriptor");
  if (!st) st = sal__dnnl_pd(r, &d, fpd, "batch-norm backward", &bpd);
  if (!st) st = sal__dnnl_prim(r, bpd, "batch-norm backward", &s->bwd);
  if (!st) st = sal__dnnl_port_in(r, &s->src, &md, dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0));
  if (!st) st = sal__dnnl_port_out(r, &s->dst, &md_out, dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0), false);
  if (!st) st = sal__dnnl_port_in(r, &s->ddst, &md_out, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_dst_md, 0));
  if (!st)
    st = sal__dnnl_port_out(r, &s->dsrc, &md, dnnl_primitive_desc_query_md(bpd, dnnl_query_diff_src_md, 0),
                            sal__dnnl_input_shared(k, 0));
  if (!st) st = vec_mem(s, false, &s->scale, NULL);
  if (!st) st = vec_mem(s, false, &s->shift, NULL);
  if (!st) st = vec_mem(s, s->training, &s->mean, s->training ? &s->bmean : NULL);
  if (!st) st = vec_mem(s, s->training, &s->var, s->training ? &s->bvar : NULL);
  if (!st) st = vec_mem(s, true, &s->dscale, &s->dscale_buf);
  if (!st) st = vec_mem(s, true, &s->dshift, &s->dshift_buf);
  if (!st) st = sal__dnnl_res_ready(r);
  if (!st) return SAL_STATUS_OK;
fail:
  sal__dnnl_state_release(k);
  return st;
}

static sal_status set_params(dnnl_bn *s, sal_kctx *k) {
  sal_status st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->scale, k->in[1]->data), "scale handle");
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->shift, k->in[2]->data), "shift handle");
  if (!st && !s->training) st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->mean, k->in[3]->data), "mean handle");
  if (!st && !s->training) st = sal__dnnl_check(k->ctx, dnnl_memory_set_data_handle(s->var, k->in[4]->data), "var handle");
  return st;
}

static sal_status bn_forward(sal_kctx *k) {
  dnnl_bn *s = k->state;
  sal_dnnl_res *r = &s->r;
  if (k->training != s->training)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_BAD_STATE, "training mode changed after the plan was made");
  sal_status st = set_params(s, k);
  if (!st) st = sal__dnnl_port_load(r, &s->src, k->in[0]->data, true);
  if (st) return st;
  dnnl_memory_t dst = sal__dnnl_port_target(r, &s->dst, k->out[0]->data, false);
  if (!dst) return SAL_STATUS_INTERNAL;
  dnnl_exec_arg_t a[6] = {{DNNL_ARG_SRC, s->src.prim}, {DNNL_ARG_DST, dst},       {DNNL_ARG_SCALE, s->scale},
                          {DNNL_ARG_SHIFT, s->shift},  {DNNL_ARG_MEAN, s->mean}, {DNNL_ARG_VARIANCE, s->var}};
  st = sal__dnnl_run(r, &s->fwd, 6, a);
  if (!st) st = sal__dnnl_port_store(r, &s->dst, false);
  if (!st) st = sal__dnnl_wait(r);
  if (st || !s->training) return st;
  /* running = running*momentum + batch*(1-momentum), with the unbiased batch variance. */
  float *rmean = k->in[3]->data, *rvar = k->in[4]->data;
  double mom = s->g.momentum, cnt = (double)(s->g.n * s->g.spatial);
  for (int64_t c = 0; c < s->g.c; c++) {
    rmean[c] = (float)(rmean[c] * mom + (double)s->bmean[c] * (1.0 - mom));
    rvar[c] = (float)(rvar[c] * mom + (double)s->bvar[c] * cnt / (cnt - 1.0) * (1.0 - mom));
  }
  return SAL_STATUS_OK;
}

/* d(scale) and d(B) without d(input), into the (C) scratches: sum dy*(x-mean)*istd and sum dy per
 * channel, in double, over x and dy in plain (N,C,H,W) or nChw16c. */
static void bn_param_grads(const dnnl_bn *s, const sal_kctx *k, const float *mean, const float *var) {
  const sal_tensor *X = k->in[0];
  const float *x = X->data, *dy = k->dout[0]->data;
  int64_t N = s->g.n, C = s->g.c, S = s->g.spatial, CB = sal__ceil_div(C, 16);
  bool blocked = X->layout == SAL_LAYOUT_BLOCKED16;
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double m = mean[c], istd = 1.0 / sqrt((double)var[c] + (double)s->g.epsilon), sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < N; n++)
      for (int64_t i = 0; i < S; i++) {
        int64_t o = blocked ? ((n * CB + c / 16) * S + i) * 16 + c % 16 : (n * C + c) * S + i;
        sdy += dy[o];
        sdyx += dy[o] * (x[o] - m) * istd;
      }
    s->dshift_buf[c] = (float)sdy;
    s->dscale_buf[c] = (float)sdyx;
  }
}

static sal_status bn_backward(sal_kctx *k) {
  dnnl_bn *s = k->state;
  sal_dnnl_res *r = &s->r;
  if (!k->dout[0]) {
    for (int i = 0; i < 3; i++) sal__grad_prepare(k, i);
    return SAL_STATUS_OK;
  }
  if ((k->din[0] && k->din[0]->layout != k->in[0]->layout) || k->dout[0]->layout != k->out[0]->layout)
    return sal__op_error(k->ctx, k->node, SAL_STATUS_INTERNAL, "gradients are not in their values' layouts");
  const float *mean = s->training ? s->bmean : k->in[3]->data;
  const float *var = s->training ? s->bvar : k->in[4]->data;
  if (k->din[0]) {
    bool acc = k->din_accum[0];
    sal_status st = set_params(s, k);
    if (!st) st = sal__dnnl_port_load(r, &s->src, k->in[0]->data, true);
    if (!st) st = sal__dnnl_port_load(r, &s->ddst, k->dout[0]->data, true);
    if (st) return st;
    dnnl_memory_t dsrc = sal__dnnl_port_target(r, &s->dsrc, k->din[0]->data, acc);
    if (!dsrc) return SAL_STATUS_INTERNAL;
    /* oneDNN 2.6 lists SHIFT among backward's arguments too (it is not read). */
    dnnl_exec_arg_t a[9] = {{DNNL_ARG_SRC, s->src.prim},    {DNNL_ARG_MEAN, s->mean},
                            {DNNL_ARG_VARIANCE, s->var},    {DNNL_ARG_DIFF_DST, s->ddst.prim},
                            {DNNL_ARG_SCALE, s->scale},     {DNNL_ARG_SHIFT, s->shift},
                            {DNNL_ARG_DIFF_SRC, dsrc},      {DNNL_ARG_DIFF_SCALE, s->dscale},
                            {DNNL_ARG_DIFF_SHIFT, s->dshift}};
    st = sal__dnnl_run(r, &s->bwd, 9, a);
    if (!st) st = sal__dnnl_port_store(r, &s->dsrc, acc);
    if (!st) st = sal__dnnl_wait(r);
    if (st) return st;
  } else if (k->din[1] || k->din[2]) {
    bn_param_grads(s, k, mean, var);
  }
  for (int i = 1; i < 3; i++) {
    if (!k->din[i]) continue;
    const float *src = i == 1 ? s->dscale_buf : s->dshift_buf;
    float *d = k->din[i]->data;
    for (int64_t c = 0; c < s->g.c; c++) d[c] = k->din_accum[i] ? d[c] + src[c] : src[c];
  }
  return SAL_STATUS_OK;
}

static const char *bn_impl_name(const sal_kctx *k) {
  const dnnl_bn *s = k->state;
  return s ? s->impl : "dnnl";
}

const sal_kernel sal__dnnl_batchnorm = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = bn_supports, .prepare = bn_prepare,
                                        .release = sal__dnnl_state_release, .forward = bn_forward, .backward = bn_backward,
                                        .impl_name = bn_impl_name};
