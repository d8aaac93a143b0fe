/* oneDNN kernels for Gemm and MatMul (shape rules in src/ops/matmul.c, reference kernels in
 * src/kernels/ref/matmul.c): every product, forward and backward, is one oneDNN matmul
 * primitive on (batch, rows, cols) views; transposes are strided memory descriptors, never
 * copies. Gemm's Y = alpha A'B' + beta C:
 *   Y  = A'B' + C                 (alpha = beta = 1, C a row: matmul's own bias, the classifier head)
 *   Y  = beta ((alpha/beta) A'B' + C)   (otherwise: output scale, binary-add and linear post-ops)
 *   dA' = alpha dY B'^T, dB' = alpha A'^T dY (written in A's and B's stored orientation, with a
 *   sum post-op when the gradient accumulates), dC = beta * dY summed over C's broadcast dims
 *   (in C: C is at most (M,N)).
 * MatMul (numpy semantics) is the same with alpha = 1 and no C, for equal batch dimensions, or a
 * 2-D B (whose product then folds A's batch into its rows); other batch broadcasts are declined. */
#include <string.h>

#include "kernels/dnnl/util.h"

/* One product out (batch,P,Q) = scale * L (batch,P,R) x Rm (batch,R,Q); lt/rt: the operand is
 * stored transposed (its memory is (batch,R,P) / (batch,Q,R) row-major). */
typedef struct mm_spec {
  int64_t batch, P, R, Q;
  bool lt, rt;
} mm_spec;

typedef struct mm_prod {
  sal_dnnl_prim p[2]; /* [accumulate] */
  dnnl_memory_t m_l, m_r, m_out;
} mm_prod;

typedef struct mm_state {
  sal_dnnl_res r;
  bool gemm;
  float alpha, beta;
  int64_t batch, M, K, N;
  bool ta, tb;
  bool has_c, builtin_bias;
  int64_t cm, cn;       /* C's dims padded to 2-D: 1 or M, 1 or N */
  mm_prod fwd, da, db;
  dnnl_memory_t m_c;
  double *csum;         /* dC accumulator, cm*cn */
  char name[96];
} mm_state;
SAL_DNNL_STATE_CHECK(mm_state);

/* The 3-D view of a (rows, cols) operand, transposed or not. */
static sal_status md3(sal_kctx *k, dnnl_memory_desc_t *md, int64_t batch, int64_t rows, int64_t cols, bool trans) {
  dnnl_dims_t dims = {batch, rows, cols};
  dnnl_dims_t strides = {rows * cols, trans ? 1 : cols, trans ? rows : 1};
  return sal__dnnl_check(k->ctx, dnnl_memory_desc_init_by_strides(md, 3, dims, dnnl_f32, strides), "matmul memory descriptor");
}

/* Creates the product (both accumulate variants when acc). bias_md: matmul's bias; post_c:
 * C through post-ops (scale alpha/beta, add C, times beta). */
static sal_status prod_new(sal_kctx *k, sal_dnnl_res *r, mm_prod *pr, const mm_spec *sp, float scale, bool acc,
                           const dnnl_memory_desc_t *bias_md, const dnnl_memory_desc_t *post_c, float beta,
                           const char *what) {
  dnnl_memory_desc_t ml, mr, mo;
  sal_status st = md3(k, &ml, sp->batch, sp->P, sp->R, sp->lt);
  if (!st) st = md3(k, &mr, sp->batch, sp->R, sp->Q, sp->rt);
  if (!st) st = md3(k, &mo, sp->batch, sp->P, sp->Q, false);
  if (!st) st = sal__dnnl_mem_at(r, &ml, NULL, &pr->m_l);
  if (!st) st = sal__dnnl_mem_at(r, &mr, NULL, &pr->m_r);
  if (!st) st = sal__dnnl_mem_at(r, &mo, NULL, &pr->m_out);
  dnnl_matmul_desc_t d;
  if (!st) st = sal__dnnl_check(k->ctx, dnnl_matmul_desc_init(&d, &ml, &mr, bias_md, &mo), what);
  for (int a = 0; a <= (int)acc && !st; a++) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    st = sal__dnnl_attr(r, post_c ? scale / beta : scale, 1.0f, false, &attr);
    if (!st && (post_c || a)) {
      st = sal__dnnl_check(k->ctx, dnnl_post_ops_create(&po), "post-ops create");
      if (!st && post_c) st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_binary(po, dnnl_binary_add, post_c), "binary post-op");
      if (!st && post_c && beta != 1.0f)
        st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, beta, 0.0f), "linear post-op");
      if (!st && a) st = sal__dnnl_check(k->ctx, dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
      if (!st) st = sal__dnnl_check(k->ctx, dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
    }
    if (!st) st = sal__dnnl_op(r, &d, attr, NULL, what, &pr->p[a]);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
  }
  return st;
}

/* Runs a product; which: the input whose gradient it writes (for the error), extra: C. */
static sal_status prod_run(sal_kctx *k, const mm_prod *pr, int which, bool acc, const float *l, const float *r,
                           float *out, dnnl_memory_t extra, int extra_arg) {
  mm_state *s = k->state;
  if (!pr->p[acc].p) return sal__dnnl_unexpected_accum(k, which);
  sal__dnnl_bind(pr->m_l, (void *)l);
  sal__dnnl_bind(pr->m_r, (void *)r);
  sal__dnnl_bind(pr->m_out, out);
  dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, pr->m_l}, {DNNL_ARG_WEIGHTS, pr->m_r}, {DNNL_ARG_DST, pr->m_out}, {extra_arg, extra}};
  return sal__dnnl_exec(&s->r, &pr->p[acc], extra ? 4 : 3, a);
}

/* MatMul's 3-D view: false when the batch dims broadcast in a way this kernel declines. */
static bool matmul_dims(const sal_kctx *k, int64_t *batch, int64_t *M, int64_t *K, int64_t *N) {
  const sal_shape *a = &k->in[0]->shape, *b = &k->in[1]->shape;
  int ra = a->ndim, rb = b->ndim;
  *M = ra >= 2 ? a->d[ra - 2] : 1;
  *K = a->d[ra - 1];
  *N = rb >= 2 ? b->d[rb - 1] : 1;
  int64_t ba = 1, bb = 1;
  for (int d = 0; d < ra - 2; d++) ba *= a->d[d];
  for (int d = 0; d < rb - 2; d++) bb *= b->d[d];
  if (rb <= 2) { /* B shared by every batch: fold A's batch into its rows */
    *batch = 1;
    *M *= ba;
    return true;
  }
  /* batched B: A's batch dims must equal B's (after left-padding with 1s) */
  int n = ra > rb ? ra : rb;
  for (int d = 0; d < n - 2; d++) {
    int ia = d - (n - ra), ib = d - (n - rb);
    int64_t da = ia >= 0 && ra >= 2 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da != db) return false;
  }
  *batch = bb;
  return ra >= 2 && ba == bb;
}

static bool mm_supports(const sal_kctx *k) {
  if (sal_tensor_numel(k->out[0]) <= 0 || sal_tensor_numel(k->in[0]) <= 0 || sal_tensor_numel(k->in[1]) <= 0)
    return false;
  if (sal__node_op(k->node) == SAL_OP_MATMUL) {
    int64_t b, m, kk, n;
    return matmul_dims(k, &b, &m, &kk, &n);
  }
  return true;
}

static sal_status mm_prepare(sal_kctx *k) {
  sal_status st = sal__dnnl_state_new(k, sizeof(mm_state));
  if (st) return st;
  mm_state *s = k->state;
  s->gemm = sal__node_op(k->node) == SAL_OP_GEMM;
  s->alpha = s->beta = 1.0f;
  sal_dnnl_res *r = &s->r;
  if (s->gemm) {
    int64_t ta, tb;
    st = sal__attr_int(k->ctx, k->node, "transA", 0, &ta);
    if (!st) st = sal__attr_int(k->ctx, k->node, "transB", 0, &tb);
    if (!st) st = sal__attr_float(k->ctx, k->node, "alpha", 1.0f, &s->alpha);
    if (!st) st = sal__attr_float(k->ctx, k->node, "beta", 1.0f, &s->beta);
    if (st) goto fail;
    s->ta = ta;
    s->tb = tb;
    s->batch = 1;
    s->M = k->out[0]->shape.d[0];
    s->N = k->out[0]->shape.d[1];
    s->K = sal_tensor_numel(k->in[0]) / s->M;
    s->has_c = k->n_in > 2 && k->in[2] && s->beta != 0.0f;
  } else {
    matmul_dims(k, &s->batch, &s->M, &s->K, &s->N);
  }
  dnnl_memory_desc_t cmd;
  if (s->has_c) {
    const sal_shape *c = &k->in[2]->shape;
    s->cm = c->ndim == 2 ? c->d[0] : 1;
    s->cn = c->ndim >= 1 ? c->d[c->ndim - 1] : 1;
    /* matmul's bias is jit-compiled only as a row vector (a full (M,N) bias is "ref:any") */
    s->builtin_bias = s->alpha == 1.0f && s->beta == 1.0f && s->cm == 1;
    st = sal__dnnl_md_dims(k->ctx, 3, (int64_t[]){1, s->cm, s->cn}, &cmd);
    if (!st) st = sal__dnnl_mem_at(r, &cmd, k->in[2]->data, &s->m_c);
    if (!st) s->csum = sal__dnnl_buf(r, (size_t)(s->cm * s->cn) * sizeof(double));
    if (!st && !s->csum) st = SAL_STATUS_OUT_OF_MEMORY;
    if (st) goto fail;
  }
  mm_spec f = {s->batch, s->M, s->K, s->N, s->ta, s->tb};
  st = prod_new(k, r, &s->fwd, &f, s->alpha, false, s->has_c && s->builtin_bias ? &cmd : NULL,
                s->has_c && !s->builtin_bias ? &cmd : NULL, s->beta, "matmul forward");
  if (st) goto fail;
  /* dA: (M,K) = dY B'^T, or stored transposed (K,M) = B' dY^T */
  mm_spec da = !s->ta ? (mm_spec){s->batch, s->M, s->N, s->K, false, !s->tb}
                      : (mm_spec){s->batch, s->K, s->N, s->M, s->tb, true};
  /* dB: (K,N) = A'^T dY, or stored transposed (N,K) = dY^T A' */
  mm_spec db = !s->tb ? (mm_spec){s->batch, s->K, s->M, s->N, !s->ta, false}
                      : (mm_spec){s->batch, s->N, s->M, s->K, true, s->ta};
  st = prod_new(k, r, &s->da, &da, s->alpha, sal__dnnl_input_shared(k, 0), NULL, NULL, 1.0f, "matmul backward (A)");
  if (!st) st = prod_new(k, r, &s->db, &db, s->alpha, sal__dnnl_input_shared(k, 1), NULL, NULL, 1.0f, "matmul backward (B)");
fail:
  return sal__dnnl_state_done(k, st, s->fwd.p[0].pd, s->name, sizeof s->name);
}

static sal_status mm_forward(sal_kctx *k) {
  mm_state *s = k->state;
  int arg = s->builtin_bias ? DNNL_ARG_BIAS : (DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1);
  return prod_run(k, &s->fwd, 0, false, k->in[0]->data, k->in[1]->data, k->out[0]->data, s->has_c ? s->m_c : NULL, arg);
}

/* dC (cm,cn) (+)= beta * dY (M,N) summed over the dims C broadcasts along. */
static void c_backward(sal_kctx *k, mm_state *s, const float *dy) {
  float *dc = k->din[2]->data;
  bool acc = k->din_accum[2];
  int64_t nc = s->cm * s->cn;
  memset(s->csum, 0, (size_t)nc * sizeof(double));
  for (int64_t m = 0; m < s->M; m++)
    for (int64_t n = 0; n < s->N; n++) s->csum[(s->cm > 1 ? m * s->cn : 0) + (s->cn > 1 ? n : 0)] += dy[m * s->N + n];
  for (int64_t i = 0; i < nc; i++) {
    float v = (float)((double)s->beta * s->csum[i]);
    dc[i] = acc ? dc[i] + v : v;
  }
}

static sal_status mm_backward(sal_kctx *k) {
  mm_state *s = k->state;
  const float *dy = k->dout[0] ? k->dout[0]->data : NULL;
  const float *a = k->in[0]->data, *b = k->in[1]->data;
  for (int i = 0; i < k->n_in && i < 3; i++) {
    sal_tensor *D = k->din[i];
    if (!D) continue;
    bool acc = k->din_accum[i];
    if (!dy || (i == 2 && !s->has_c)) { /* no gradient reaches it (or beta = 0 for C) */
      if (!acc) memset(D->data, 0, (size_t)sal_tensor_numel(D) * sizeof(float));
      continue;
    }
    sal_status st = SAL_STATUS_OK;
    if (i == 0) st = !s->ta ? prod_run(k, &s->da, 0, acc, dy, b, D->data, NULL, 0) : prod_run(k, &s->da, 0, acc, b, dy, D->data, NULL, 0);
    else if (i == 1) st = !s->tb ? prod_run(k, &s->db, 1, acc, a, dy, D->data, NULL, 0) : prod_run(k, &s->db, 1, acc, dy, a, D->data, NULL, 0);
    else c_backward(k, s, dy);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

static const char *mm_name(const sal_kctx *k) {
  const mm_state *s = k->state;
  return s ? s->name : "dnnl";
}

const sal_kernel sal__dnnl_gemm = {.name = "dnnl", .supports = mm_supports, .prepare = mm_prepare, .release = sal__dnnl_state_release,
                                   .forward = mm_forward, .backward = mm_backward, .impl_name = mm_name};
const sal_kernel sal__dnnl_matmul = {.name = "dnnl", .supports = mm_supports, .prepare = mm_prepare,
                                     .release = sal__dnnl_state_release, .forward = mm_forward, .backward = mm_backward,
                                     .impl_name = mm_name};
