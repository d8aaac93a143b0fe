/* oneDNN kernels for broadcasting Add, Sub, Mul, Div (ONNX multidirectional broadcasting),
 * replacing the reference kernels of src/kernels/ref/binary.c.
 * Layouts: oneDNN's jit binary needs every operand in one layout family (measured on 2.6: any
 * plain/blocked mix, including a plain (1,C,1,1) bias with blocked data, falls back to
 * "ref:any"). So all arithmetic runs in y's layout (the compute layout); an input stored in
 * another layout is reordered into a staging buffer first, and a gradient in another layout is
 * written by a reorder (which also accumulates, through a sum post-op).
 * Forward is one binary primitive. oneDNN broadcasts only its second source: when `a`
 * broadcasts and `b` does not, Add/Mul swap operands and Sub computes -(b - a); Div with a
 * broadcast numerator, or two broadcast operands, is declined. oneDNN has no binary backward:
 *   da = dy, -dy, dy*b, dy/b;  db = dy, -dy, dy*a, -dy*y/b   (y = a/b for Div)
 * A full-shaped side is one primitive. A broadcast side is summed over its broadcast dimensions
 * in plain C (oneDNN 2.6's reduction is "ref:any" except over innermost dimensions) into r and
 * then written by a reorder. */
#include <string.h>

#include "kernels/dnnl/util.h"

typedef enum { BK_ADD, BK_SUB, BK_MUL, BK_DIV } bin_kind;

static const dnnl_alg_kind_t bin_alg[] = {dnnl_binary_add, dnnl_binary_sub, dnnl_binary_mul, dnnl_binary_div};

typedef struct bin_side {
  bool full;          /* this input has the output's dims (no reduction) */
  bool own;           /* its layout is the compute layout */
  int64_t wd[SAL_MAX_DIMS]; /* its dims at the output's rank */
  sal_dnnl_prim prim[2];  /* full Mul/Div side: binary -> din ([1]: with a sum post-op) or -> g */
  sal_dnnl_prim out[2];   /* reorder (dy, g or r) -> din, [accumulate] */
  sal_dnnl_prim prod;     /* broadcast Mul/Div side: t = dy*other (Mul) or dy*y (Div) */
  sal_dnnl_prim to_plain; /* broadcast side, blocked compute layout: (dy or t) -> p */
  dnnl_memory_t m_din, m_r;
  float *r;             /* broadcast side: its gradient, plain */
} bin_side;

typedef struct bin_state {
  sal_dnnl_res r;
  bin_kind kind;
  bool swapped;         /* forward computes op(b, a) */
  int rank;
  int64_t od[SAL_MAX_DIMS];
  dnnl_memory_desc_t mo[2], mc[2], my, mp_out, mp_w[2]; /* own, compute, y, plain out, plain w */
  dnnl_memory_t m_in[2], m_c[2], m_y, m_dy, m_t, m_p, m_g;
  sal_dnnl_prim stage[2]; /* input -> its compute-layout copy */
  float *stage_buf[2], *t, *p, *g;
  sal_dnnl_prim b_plain;  /* Div, broadcast blocked b: b -> bp */
  dnnl_memory_t m_bp;
  float *bp;
  sal_dnnl_prim fwd;
  bin_side side[2];
  char name[96];
} bin_state;
SAL_DNNL_STATE_CHECK(bin_state);

/* Input i's dims right-aligned to the output equal the output's. */
static bool is_full(const sal_kctx *k, int i) {
  const sal_shape *s = &k->in[i]->shape, *o = &k->out[0]->shape;
  if (sal_shape_numel(s) != sal_shape_numel(o)) return false;
  for (int d = 0; d < s->ndim; d++)
    if (s->d[s->ndim - 1 - d] != o->d[o->ndim - 1 - d]) return false;
  return true;
}

static bool bin_supports(const sal_kctx *k, bin_kind kind) {
  if (sal_tensor_numel(k->out[0]) <= 0 || k->out[0]->shape.ndim > 5) return false;
  if (is_full(k, 0)) return true;
  return is_full(k, 1) && kind != BK_DIV;
}

/* A binary primitive src0 (op) src1 -> dst, optionally followed by post-ops: a binary division
 * by `div_md` (Div's db), a scale, and a sum when accumulating. */
static sal_status binary_prim(sal_kctx *k, sal_dnnl_prim *p, dnnl_alg_kind_t alg, const dnnl_memory_desc_t *s0,
                              const dnnl_memory_desc_t *s1, const dnnl_memory_desc_t *dst,
                              const dnnl_memory_desc_t *div_md, float scale, bool accumulate, const char *what) {
  sal_dnnl_res *r = &((bin_state *)k->state)->r;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_binary_desc_t d;
  sal_status st = sal__dnnl_check(k->ctx, dnnl_binary_desc_init(&d, alg, s0, s1, dst), what);
  if (!st) st = sal__dnnl_attr(r, 1.0f, 1.0f, false, &attr);
  if (!st && (div_md || scale != 1.0f || accumulate)) {
    st = sal__dnnl_check(k->ctx, dnnl_post_ops_create(&po), "post-ops create");
    if (!st && div_md) st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_binary(po, dnnl_binary_div, div_md), "binary post-op");
    if (!st && scale != 1.0f)
      st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, scale, 0.0f), "linear post-op");
    if (!st && accumulate) st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
    if (!st) st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
  }
  if (!st) st = sal__dnnl_op(r, &d, attr, NULL, what, p);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return st;
}

/* An output-sized scratch buffer (shared by both sides, which run one after the other). */
static sal_status scratch(sal_dnnl_res *r, float **buf, dnnl_memory_t *m, const dnnl_memory_desc_t *md) {
  return *buf ? SAL_STATUS_OK : sal__dnnl_mem_buf(r, md, buf, m);
}

/* Full-shaped side w: Add/Sub are one reorder of dy; Mul/Div a binary primitive, straight into
 * din when din is in the compute layout, else into g and reordered. */
static sal_status prepare_full(sal_kctx *k, bin_state *s, int w, bool may_acc) {
  sal_dnnl_res *r = &s->r;
  bin_side *sd = &s->side[w];
  sal_status st = SAL_STATUS_OK;
  if (s->kind == BK_ADD || s->kind == BK_SUB) {
    float sc = s->kind == BK_SUB && w == 1 ? -1.0f : 1.0f;
    for (int a = 0; a <= (int)may_acc && !st; a++) st = sal__dnnl_reorder(r, &s->my, &s->mo[w], sc, a, &sd->out[a]);
    return st;
  }
  const dnnl_memory_desc_t *dst = &s->mc[w]; /* out-shaped, compute layout */
  int n_prim = sd->own ? 1 + (int)may_acc : 1;
  for (int a = 0; a < n_prim && !st; a++) {
    if (s->kind == BK_MUL)
      st = binary_prim(k, &sd->prim[a], dnnl_binary_mul, &s->my, &s->mc[1 - w], dst, NULL, 1.0f, a, "Mul backward");
    else if (w == 0)
      st = binary_prim(k, &sd->prim[a], dnnl_binary_div, &s->my, &s->mc[1], dst, NULL, 1.0f, a, "Div backward");
    else /* db = -(dy*y)/b */
      st = binary_prim(k, &sd->prim[a], dnnl_binary_mul, &s->my, &s->my, dst, &s->mc[1], -1.0f, a, "Div backward");
  }
  if (!st && !sd->own) {
    st = scratch(r, &s->g, &s->m_g, &s->my);
    for (int a = 0; a <= (int)may_acc && !st; a++) st = sal__dnnl_reorder(r, &s->my, &s->mo[w], 1.0f, a, &sd->out[a]);
  }
  return st;
}

/* Broadcast side w: [t = product] -> [p = plain copy] -> r = plain-C sum -> reorder into din. */
static sal_status prepare_bcast(sal_kctx *k, bin_state *s, int w, bool may_acc) {
  sal_dnnl_res *r = &s->r;
  bin_side *sd = &s->side[w];
  sal_status st = SAL_STATUS_OK;
  if (s->kind == BK_MUL || s->kind == BK_DIV) {
    st = scratch(r, &s->t, &s->m_t, &s->my);
    if (!st) st = binary_prim(k, &sd->prod, dnnl_binary_mul, &s->my, s->kind == BK_MUL ? &s->mc[1 - w] : &s->my,
                              &s->my, NULL, 1.0f, false, "broadcast product");
  }
  if (!st && k->out[0]->layout != SAL_LAYOUT_PLAIN) {
    st = scratch(r, &s->p, &s->m_p, &s->mp_out);
    if (!st) st = sal__dnnl_reorder(r, &s->my, &s->mp_out, 1.0f, false, &sd->to_plain);
  }
  if (!st) st = sal__dnnl_mem_buf(r, &s->mp_w[w], &sd->r, &sd->m_r);
  if (!st && s->kind == BK_DIV && k->in[1]->layout != SAL_LAYOUT_PLAIN) {
    /* -r/b needs b plain */
    st = sal__dnnl_mem_buf(r, &s->mp_w[1], &s->bp, &s->m_bp);
    if (!st) st = sal__dnnl_reorder(r, &s->mo[1], &s->mp_w[1], 1.0f, false, &s->b_plain);
  }
  float sc = s->kind == BK_SUB && w == 1 ? -1.0f : 1.0f;
  for (int a = 0; a <= (int)may_acc && !st; a++) st = sal__dnnl_reorder(r, &s->mp_w[w], &s->mo[w], sc, a, &sd->out[a]);
  return st;
}

static sal_status bin_prepare(sal_kctx *k, bin_kind kind) {
  sal_status st = sal__dnnl_state_new(k, sizeof(bin_state));
  if (st) return st;
  bin_state *s = k->state;
  s->kind = kind;
  sal_dnnl_res *r = &s->r;
  const sal_tensor *Y = k->out[0];
  sal_layout lc = Y->layout;
  s->rank = Y->shape.ndim > 0 ? Y->shape.ndim : 1;
  sal_shape ys = Y->shape;
  if (ys.ndim == 0) ys = (sal_shape){1, {1}};
  for (int d = 0; d < s->rank; d++) s->od[d] = ys.d[d];
  if (!st) st = sal__dnnl_md(k->ctx, &Y->shape, lc, s->rank, &s->my);
  if (!st) st = sal__dnnl_md(k->ctx, &Y->shape, SAL_LAYOUT_PLAIN, s->rank, &s->mp_out);
  if (!st) st = sal__dnnl_mem_at(r, &s->my, Y->data, &s->m_y);
  if (!st) st = sal__dnnl_mem_at(r, &s->my, NULL, &s->m_dy);
  for (int i = 0; i < 2 && !st; i++) {
    const sal_tensor *X = k->in[i];
    bin_side *sd = &s->side[i];
    sd->full = is_full(k, i);
    sd->own = X->layout == lc;
    int lead = s->rank - X->shape.ndim;
    for (int d = 0; d < s->rank; d++) sd->wd[d] = d < lead ? 1 : X->shape.d[d - lead];
    st = sal__dnnl_md(k->ctx, &X->shape, X->layout, s->rank, &s->mo[i]);
    if (!st) st = sal__dnnl_md(k->ctx, &X->shape, SAL_LAYOUT_PLAIN, s->rank, &s->mp_w[i]);
    /* a broadcast operand of a blocked output is blocked too only if 4-d; lower ranks stay plain */
    sal_layout li = lc == SAL_LAYOUT_BLOCKED16 && X->shape.ndim != 4 ? SAL_LAYOUT_PLAIN : lc;
    if (!st && li != lc) {
      sal_shape x4 = X->shape;
      x4.ndim = 4;
      for (int d = 0; d < 4; d++) x4.d[d] = sd->wd[d];
      st = sal__dnnl_md(k->ctx, &x4, lc, 4, &s->mc[i]);
    } else if (!st) {
      st = sal__dnnl_md(k->ctx, &X->shape, lc, s->rank, &s->mc[i]);
    }
    if (!st) st = sal__dnnl_mem_at(r, &s->mo[i], X->data, &s->m_in[i]);
    if (!st) st = sal__dnnl_mem_at(r, &s->mo[i], NULL, &sd->m_din);
    if (!st && dnnl_memory_desc_equal(&s->mo[i], &s->mc[i])) {
      st = sal__dnnl_mem_at(r, &s->mc[i], X->data, &s->m_c[i]);
    } else if (!st) {
      st = sal__dnnl_mem_buf(r, &s->mc[i], &s->stage_buf[i], &s->m_c[i]);
      if (!st) st = sal__dnnl_reorder(r, &s->mo[i], &s->mc[i], 1.0f, false, &s->stage[i]);
    }
    /* a side whose own md is not the compute md takes the reorder route for din */
    sd->own = !s->stage_buf[i];
  }
  if (st) goto fail;

  s->swapped = !s->side[0].full;
  if (s->swapped) /* a broadcasts: a + b = b + a, a*b = b*a, a - b = -(b - a) */
    st = binary_prim(k, &s->fwd, bin_alg[kind], &s->mc[1], &s->mc[0], &s->my, NULL, kind == BK_SUB ? -1.0f : 1.0f,
                     false, "binary forward");
  else
    st = binary_prim(k, &s->fwd, bin_alg[kind], &s->mc[0], &s->mc[1], &s->my, NULL, 1.0f, false, "binary forward");
  for (int w = 0; w < 2 && !st; w++) {
    bool acc = sal__dnnl_input_shared(k, w);
    st = s->side[w].full ? prepare_full(k, s, w, acc) : prepare_bcast(k, s, w, acc);
  }
fail:
  return sal__dnnl_state_done(k, st, s->fwd.pd, s->name, sizeof s->name);
}

static sal_status reorder(sal_kctx *k, const sal_dnnl_prim *p, dnnl_memory_t from, dnnl_memory_t to) {
  return sal__dnnl_exec_reorder(&((bin_state *)k->state)->r, p, from, to);
}

static sal_status bin_forward(sal_kctx *k) {
  bin_state *s = k->state;
  sal_status st = SAL_STATUS_OK;
  for (int i = 0; i < 2 && !st; i++)
    if (s->stage[i].p) st = reorder(k, &s->stage[i], s->m_in[i], s->m_c[i]);
  if (st) return st;
  int s0 = s->swapped ? 1 : 0;
  dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC_0, s->m_c[s0]}, {DNNL_ARG_SRC_1, s->m_c[1 - s0]}, {DNNL_ARG_DST, s->m_y}};
  return sal__dnnl_exec(&s->r, &s->fwd, 3, a);
}

/* dst (dims wd) = sum of src (dims od, row-major) over the dims where wd is 1 and od is not.
 * Dims are grouped into alternating runs of kept and summed dims; the innermost run is either
 * a contiguous vector add (kept) or a contiguous sum (summed), and threads split the outermost
 * kept run, so no two threads write the same dst element. */
typedef struct red_grp {
  int64_t n, sstride, dstride;
  bool kept;
} red_grp;

static void red_rec(const float *src, float *dst, const red_grp *g, int ng, int i) {
  const red_grp *G = &g[i];
  if (i == ng - 1) {
    if (G->kept) {
      for (int64_t j = 0; j < G->n; j++) dst[j] += src[j];
    } else {
      double acc = 0;
      for (int64_t j = 0; j < G->n; j++) acc += src[j];
      dst[0] += (float)acc;
    }
    return;
  }
  for (int64_t j = 0; j < G->n; j++) red_rec(src + j * G->sstride, dst + (G->kept ? j * G->dstride : 0), g, ng, i + 1);
}

static void reduce_plain(const float *src, float *dst, const int64_t *od, const int64_t *wd, int rank) {
  red_grp g[SAL_MAX_DIMS];
  int ng = 0;
  for (int d = 0; d < rank; d++) {
    if (od[d] == 1) continue;
    bool kept = wd[d] != 1;
    if (ng > 0 && g[ng - 1].kept == kept) g[ng - 1].n *= od[d];
    else g[ng++] = (red_grp){od[d], 0, 0, kept};
  }
  int64_t ss = 1, ds = 1, dn = 1;
  for (int i = ng - 1; i >= 0; i--) {
    g[i].sstride = ss;
    g[i].dstride = ds;
    ss *= g[i].n;
    if (g[i].kept) {
      ds *= g[i].n;
      dn *= g[i].n;
    }
  }
  memset(dst, 0, (size_t)dn * sizeof(float));
  if (ng == 0) {
    dst[0] = src[0];
    return;
  }
  /* split the first kept run across threads: fix its index, walk everything else */
  int fk = 0;
  while (fk < ng && !g[fk].kept) fk++;
  if (fk == ng || ng == 1) {
    red_rec(src, dst, g, ng, 0);
    return;
  }
  int64_t nk = g[fk].n;
  #pragma omp parallel for if (ss > 32768) schedule(static)
  for (int64_t kk = 0; kk < nk; kk++) {
    red_grp gg[SAL_MAX_DIMS];
    memcpy(gg, g, sizeof gg);
    gg[fk].n = 1;
    red_rec(src + kk * g[fk].sstride, dst + kk * g[fk].dstride, gg, ng, 0);
  }
}

static sal_status side_full(sal_kctx *k, bin_state *s, int w, bool acc) {
  bin_side *sd = &s->side[w];
  if (s->kind == BK_ADD || s->kind == BK_SUB) return reorder(k, &sd->out[acc], s->m_dy, sd->m_din);
  bool direct = sd->own;
  const sal_dnnl_prim *p = &sd->prim[direct ? acc : 0];
  dnnl_memory_t dst = direct ? sd->m_din : s->m_g;
  dnnl_memory_t other = s->kind == BK_MUL ? s->m_c[1 - w] : (w == 0 ? s->m_c[1] : s->m_y);
  dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC_0, s->m_dy},
                         {DNNL_ARG_SRC_1, other},
                         {DNNL_ARG_DST, dst},
                         {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, s->m_c[1]}};
  sal_status st = sal__dnnl_exec(&s->r, p, s->kind == BK_DIV && w == 1 ? 4 : 3, a);
  if (!st && !direct) st = reorder(k, &sd->out[acc], s->m_g, sd->m_din);
  return st;
}

static sal_status side_bcast(sal_kctx *k, bin_state *s, int w, bool acc) {
  bin_side *sd = &s->side[w];
  sal_status st = SAL_STATUS_OK;
  dnnl_memory_t src = s->m_dy;
  const float *sp = k->dout[0]->data;
  if (sd->prod.p) {
    dnnl_memory_t other = s->kind == BK_MUL ? s->m_c[1 - w] : s->m_y;
    dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC_0, s->m_dy}, {DNNL_ARG_SRC_1, other}, {DNNL_ARG_DST, s->m_t}};
    st = sal__dnnl_exec(&s->r, &sd->prod, 3, a);
    src = s->m_t;
    sp = s->t;
  }
  if (!st && sd->to_plain.p) {
    st = reorder(k, &sd->to_plain, src, s->m_p);
    sp = s->p;
  }
  if (st) return st;
  // sp is the output shape od, plain; r has dims wd, plain
  reduce_plain(sp, sd->r, s->od, sd->wd, s->rank);
  if (s->kind == BK_DIV) { /* db = -(sum dy*y) / b */
    const float *b = k->in[1]->data;
    if (s->b_plain.p) {
      st = reorder(k, &s->b_plain, s->m_in[1], s->m_bp);
      b = s->bp;
    }
    if (st) return st;
    int64_t n = sal_tensor_numel(k->in[1]);
    for (int64_t j = 0; j < n; j++) sd->r[j] = -sd->r[j] / b[j];
  }
  return reorder(k, &sd->out[acc], sd->m_r, sd->m_din);
}

static sal_status bin_backward(sal_kctx *k) {
  bin_state *s = k->state;
  if (k->dout[0]) sal__dnnl_bind(s->m_dy, k->dout[0]->data);
  for (int w = 0; w < 2; w++) {
    if (sal__dnnl_grad_trivial(k, w)) continue;
    sal_tensor *D = k->din[w];
    bool acc = k->din_accum[w];
    bin_side *sd = &s->side[w];
    if (acc && !sd->out[1].p && !sd->prim[1].p) return sal__dnnl_unexpected_accum(k, w);
    sal__dnnl_bind(sd->m_din, D->data);
    sal_status st = sd->full ? side_full(k, s, w, acc) : side_bcast(k, s, w, acc);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

static const char *bin_name(const sal_kctx *k) {
  const bin_state *s = k->state;
  return s ? s->name : "dnnl";
}

#define SAL__BIN_KERNEL(sym, KIND)                                                                      \
  static bool sym##_supports(const sal_kctx *k) { return bin_supports(k, KIND); }                      \
  static sal_status sym##_prepare(sal_kctx *k) { return bin_prepare(k, KIND); }                        \
  const sal_kernel sal__dnnl_##sym = {.name = "dnnl", .flags = SAL_KERNEL_BLOCKED, .supports = sym##_supports, \
                                      .prepare = sym##_prepare, .release = sal__dnnl_state_release,                 \
                                      .forward = bin_forward, .backward = bin_backward, .impl_name = bin_name};
SAL__BIN_KERNEL(add, BK_ADD)
SAL__BIN_KERNEL(sub, BK_SUB)
SAL__BIN_KERNEL(mul, BK_MUL)
SAL__BIN_KERNEL(div, BK_DIV)
