/* Reference kernels for Gemm and MatMul. One strided matrix product (mm) serves every forward
 * and every vector–Jacobian product; transposes are strided views, never copies.
 *   Y = alpha A'B' + beta C:  dA' = alpha dY B'^T,  dB' = alpha A'^T dY,  dC = beta * (dY summed
 *   over the dimensions C broadcasts along). For MatMul alpha = 1 and the batch broadcast dims are
 *   summed the same way.
 * Precision: products are accumulated in float. The oneDNN and BLAS matmuls this oracle is checked
 * against accumulate in f32 too; a float sum of K products carries a typical relative error of
 * about sqrt(K) * 2^-24 (3e-6 for the K = 2048 of a ResNet-50 head), far inside every tolerance
 * that compares against it, while double accumulation would halve the SIMD width of the inner
 * loops and need a per-thread double row buffer in the axpy form. The losses, whose long sums
 * decide training, do accumulate in double (src/kernels/ref/loss.c). */
#include "graph/internal.h"

#include <string.h>

/* A strided matrix view: element (i, j) is p[i * si + j * sj]. */
typedef struct mat {
  const float *p;
  int64_t si, sj;
} mat;

static inline mat mat_t(mat m) { return (mat){m.p, m.sj, m.si}; }

/* Tiling, sized for a classifier head (8x2048 by 2048x1000, 8 MB of weights): MM_ROWS rows of
 * out are computed together so that each element of Rm, the big operand, is loaded once per
 * MM_ROWS rows instead of once per row; the axpy form also splits columns into MM_COLS-wide tiles
 * (an MM_ROWS x MM_COLS tile of out stays in L1) and the dot form into MM_DOTS columns, so that
 * even a single row (batch 1) gives every thread work. */
#define MM_ROWS 4
#define MM_COLS 256
#define MM_DOTS 16
/* Parallelise only when there is enough work to pay for waking threads. */
#define MM_PAR_MACS 65536

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* out (P,Q), row-major and contiguous: out = (accum ? out : 0) + alpha * L (P,R) * Rm (R,Q).
 * The loop order is chosen so that the innermost loop walks contiguous memory:
 *   Rm rows contiguous (sj == 1)            -> axpy: out[p,:] += alpha L[p,r] Rm[r,:]
 *   L rows and Rm columns contiguous        -> dot:  out[p,q] += alpha <L[p,:], Rm[:,q]>
 *   otherwise (both operands transposed)    -> the same dot with strided loads, untiled.
 * Tiles of out are independent, so OpenMP splits them across threads. */
static void mm(int64_t P, int64_t Q, int64_t R, float alpha, mat l, mat r, float *out, bool accum) {
  bool par = P * Q * R > MM_PAR_MACS;
  int64_t nrb = (P + MM_ROWS - 1) / MM_ROWS;
  if (r.sj == 1) {
    int64_t ncb = (Q + MM_COLS - 1) / MM_COLS;
    #pragma omp parallel for collapse(2) if (par) schedule(static)
    for (int64_t rb = 0; rb < nrb; rb++) {
      for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t p0 = rb * MM_ROWS, np = imin(MM_ROWS, P - p0), q0 = cb * MM_COLS, nq = imin(MM_COLS, Q - q0);
        float *o[MM_ROWS];
        for (int64_t i = 0; i < np; i++) {
          o[i] = out + (p0 + i) * Q + q0;
          if (!accum) memset(o[i], 0, (size_t)nq * sizeof(float));
        }
        for (int64_t k = 0; k < R; k++) {
          const float *rr = r.p + k * r.si + q0;
          if (np == MM_ROWS) {
            float *o0 = o[0], *o1 = o[1], *o2 = o[2], *o3 = o[3];
            const float a0 = alpha * l.p[p0 * l.si + k * l.sj], a1 = alpha * l.p[(p0 + 1) * l.si + k * l.sj];
            const float a2 = alpha * l.p[(p0 + 2) * l.si + k * l.sj], a3 = alpha * l.p[(p0 + 3) * l.si + k * l.sj];
            #pragma omp simd
            for (int64_t q = 0; q < nq; q++) {
              const float x = rr[q];
              o0[q] += a0 * x;
              o1[q] += a1 * x;
              o2[q] += a2 * x;
              o3[q] += a3 * x;
            }
          } else {
            for (int64_t i = 0; i < np; i++) {
              const float a = alpha * l.p[(p0 + i) * l.si + k * l.sj];
              float *oi = o[i];
              #pragma omp simd
              for (int64_t q = 0; q < nq; q++) oi[q] += a * rr[q];
            }
          }
        }
      }
    }
  } else if (r.si == 1 && l.sj == 1) {
    int64_t ncb = (Q + MM_DOTS - 1) / MM_DOTS;
    #pragma omp parallel for collapse(2) if (par) schedule(static)
    for (int64_t rb = 0; rb < nrb; rb++) {
      for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t p0 = rb * MM_ROWS, np = imin(MM_ROWS, P - p0), q1 = imin(Q, (cb + 1) * MM_DOTS);
        for (int64_t q = cb * MM_DOTS; q < q1; q++) {
          const float *rq = r.p + q * r.sj;
          float s[MM_ROWS] = {0};
          if (np == MM_ROWS) {
            const float *l0 = l.p + p0 * l.si, *l1 = l0 + l.si, *l2 = l1 + l.si, *l3 = l2 + l.si;
            float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
            #pragma omp simd reduction(+ : s0, s1, s2, s3)
            for (int64_t k = 0; k < R; k++) {
              const float x = rq[k];
              s0 += l0[k] * x;
              s1 += l1[k] * x;
              s2 += l2[k] * x;
              s3 += l3[k] * x;
            }
            s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3;
          } else {
            for (int64_t i = 0; i < np; i++) {
              const float *li = l.p + (p0 + i) * l.si;
              float si = 0.0f;
              #pragma omp simd reduction(+ : si)
              for (int64_t k = 0; k < R; k++) si += li[k] * rq[k];
              s[i] = si;
            }
          }
          for (int64_t i = 0; i < np; i++) {
            float *o = out + (p0 + i) * Q + q;
            *o = (accum ? *o : 0.0f) + alpha * s[i];
          }
        }
      }
    }
  } else {
    #pragma omp parallel for if (par && P > 1) schedule(static)
    for (int64_t p = 0; p < P; p++) {
      float *o = out + p * Q;
      for (int64_t q = 0; q < Q; q++) {
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < R; k++) s += l.p[p * l.si + k * l.sj] * r.p[k * r.si + q * r.sj];
        o[q] = (accum ? o[q] : 0.0f) + alpha * s;
      }
    }
  }
}

/* ---- Gemm ---- */

typedef struct gemm_state {
  float alpha, beta;
  bool ta, tb;
} gemm_state;

static sal_status gemm_prepare(sal_kctx *k) {
  gemm_state *s = sal_calloc(k->ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  int64_t ta, tb;
  /* Validated by the shape rule: these cannot fail. */
  sal__attr_int(k->ctx, k->node, "transA", 0, &ta);
  sal__attr_int(k->ctx, k->node, "transB", 0, &tb);
  sal__attr_float(k->ctx, k->node, "alpha", 1.0f, &s->alpha);
  sal__attr_float(k->ctx, k->node, "beta", 1.0f, &s->beta);
  s->ta = ta != 0;
  s->tb = tb != 0;
  k->state = s;
  return SAL_STATUS_OK;
}

static void gemm_release(sal_kctx *k) {
  sal_free(k->state);
  k->state = NULL;
}

/* The bound problem: A' (M,K) and B' (K,N) as views of A and B; C as (cm, cn) with cm in {1, M},
 * cn in {1, N} (a scalar, (N), (1,N), (M,1) or (M,N) C all fit this). */
typedef struct gemm_dims {
  int64_t M, N, K, cm, cn;
  mat a, b;
  const sal_tensor *C;
} gemm_dims;

static gemm_dims gemm_bind(const sal_kctx *k) {
  const gemm_state *s = k->state;
  const sal_tensor *A = k->in[0], *B = k->in[1];
  gemm_dims d;
  d.M = k->out[0]->shape.d[0];
  d.N = k->out[0]->shape.d[1];
  d.K = s->ta ? A->shape.d[0] : A->shape.d[1];
  // A is (M,K), or (K,M) when transA; B is (K,N), or (N,K) when transB
  d.a = s->ta ? (mat){A->data, 1, d.M} : (mat){A->data, d.K, 1};
  d.b = s->tb ? (mat){B->data, 1, d.K} : (mat){B->data, d.N, 1};
  d.C = k->n_in > 2 ? k->in[2] : NULL;
  d.cm = d.cn = 1;
  if (d.C) {
    const sal_shape *cs = &d.C->shape;
    d.cn = cs->ndim >= 1 ? cs->d[cs->ndim - 1] : 1;
    d.cm = cs->ndim == 2 ? cs->d[0] : 1;
  }
  return d;
}

static sal_status gemm_forward(sal_kctx *k) {
  const gemm_state *s = k->state;
  gemm_dims d = gemm_bind(k);
  float *y = k->out[0]->data;  // y is (M,N)
  bool accum = false;
  if (d.C) {
    /* y = beta * C broadcast, then the product is added on top. */
    const float *c = d.C->data;
    int64_t scm = d.cm == 1 ? 0 : d.cn, scn = d.cn == 1 ? 0 : 1;
    for (int64_t m = 0; m < d.M; m++)
      for (int64_t n = 0; n < d.N; n++) y[m * d.N + n] = s->beta * c[m * scm + n * scn];
    accum = true;
  }
  mm(d.M, d.N, d.K, s->alpha, d.a, d.b, y, accum);
  return SAL_STATUS_OK;
}

static sal_status gemm_backward(sal_kctx *k) {
  const gemm_state *s = k->state;
  gemm_dims d = gemm_bind(k);
  if (!k->dout[0]) {
    for (int i = 0; i < k->n_in; i++) sal__grad_prepare(k, i);
    return SAL_STATUS_OK;
  }
  mat dy = {k->dout[0]->data, d.N, 1};  // dy is (M,N)
  if (k->din[0]) {
    if (!s->ta)  // dA (M,K) = alpha dY (M,N) B'^T (N,K)
      mm(d.M, d.K, d.N, s->alpha, dy, mat_t(d.b), k->din[0]->data, k->din_accum[0]);
    else  // dA (K,M) = alpha B' (K,N) dY^T (N,M)
      mm(d.K, d.M, d.N, s->alpha, d.b, mat_t(dy), k->din[0]->data, k->din_accum[0]);
  }
  if (k->din[1]) {
    if (!s->tb)  // dB (K,N) = alpha A'^T (K,M) dY (M,N)
      mm(d.K, d.N, d.M, s->alpha, mat_t(d.a), dy, k->din[1]->data, k->din_accum[1]);
    else  // dB (N,K) = alpha dY^T (N,M) A' (M,K)
      mm(d.N, d.K, d.M, s->alpha, mat_t(dy), d.a, k->din[1]->data, k->din_accum[1]);
  }
  if (d.C && k->din[2]) {
    /* dC (cm,cn): each element sums dY over the rows/columns it was broadcast to, in double
     * (a scalar or (N) bias sums a whole batch). One writer per element: parallel-safe. */
    float *dc = k->din[2]->data;
    const float *g = k->dout[0]->data;
    bool acc = k->din_accum[2];
    int64_t cm = d.cm, cn = d.cn, M = d.M, N = d.N;
    #pragma omp parallel for if (M * N > 32768 && cm * cn > 1) schedule(static)
    for (int64_t e = 0; e < cm * cn; e++) {
      int64_t i = e / cn, j = e % cn;
      int64_t m0 = cm == 1 ? 0 : i, m1 = cm == 1 ? M : i + 1;
      int64_t n0 = cn == 1 ? 0 : j, n1 = cn == 1 ? N : j + 1;
      double sum = 0.0;
      for (int64_t m = m0; m < m1; m++)
        for (int64_t n = n0; n < n1; n++) sum += (double)g[m * N + n];
      float v = (float)((double)s->beta * sum);
      dc[e] = acc ? dc[e] + v : v;
    }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_gemm = {.name = "ref", .prepare = gemm_prepare, .release = gemm_release,
                                  .forward = gemm_forward, .backward = gemm_backward};

/* ---- MatMul ---- */

/* The bound batched problem: Y_b (M,N) = A_b (M,K) B_b (K,N) for b < nb, where A_b and B_b are
 * matrices ia(b), ib(b) of A and B after broadcasting their batch dimensions to Y's. */
typedef struct matmul_dims {
  int64_t M, N, K, nb, na_mat, nb_mat;
  sal_shape bo;                                  /* Y's batch shape */
  int64_t sa[SAL_MAX_DIMS], sb[SAL_MAX_DIMS];   /* matrix strides of A, B over bo (0: broadcast) */
} matmul_dims;

static matmul_dims matmul_bind(const sal_kctx *k) {
  const sal_shape *a = &k->in[0]->shape, *b = &k->in[1]->shape;
  int ra = a->ndim, rb = b->ndim;
  matmul_dims d;
  d.M = ra >= 2 ? a->d[ra - 2] : 1;
  d.K = a->d[ra - 1];
  d.N = rb >= 2 ? b->d[rb - 1] : 1;
  sal_shape ba, bb;
  sal_shape_make(&ba, ra >= 2 ? ra - 2 : 0, a->d);
  sal_shape_make(&bb, rb >= 2 ? rb - 2 : 0, b->d);
  sal__broadcast_shape(&ba, &bb, &d.bo);  // checked by the shape rule
  sal__broadcast_strides(&ba, &d.bo, d.sa);
  sal__broadcast_strides(&bb, &d.bo, d.sb);
  d.nb = sal_shape_numel(&d.bo);
  d.na_mat = sal_shape_numel(&ba);
  d.nb_mat = sal_shape_numel(&bb);
  return d;
}

/* Matrix index in an operand with matrix strides st for batch index i of shape o. */
static inline int64_t batch_offset(int64_t i, const sal_shape *o, const int64_t *st) {
  int64_t off = 0;
  for (int d = o->ndim - 1; d >= 0; d--) {
    off += (i % o->d[d]) * st[d];
    i /= o->d[d];
  }
  return off;
}

static sal_status matmul_forward(sal_kctx *k) {
  // a is (..., M, K) or (K); b is (..., K, N) or (K); y is (batch..., M, N) minus dropped 1-D dims
  matmul_dims d = matmul_bind(k);
  const float *a = k->in[0]->data, *b = k->in[1]->data;
  float *y = k->out[0]->data;
  int64_t MK = d.M * d.K, KN = d.K * d.N, MN = d.M * d.N;
  /* Distinct outputs per batch: with several batches, threads take whole matrices (mm's own
   * row loop then runs inside the team, unnested); with one, mm splits rows. */
  #pragma omp parallel for if (d.nb > 1 && d.nb * MN * d.K > MM_PAR_MACS) schedule(static)
  for (int64_t i = 0; i < d.nb; i++) {
    mat ma = {a + batch_offset(i, &d.bo, d.sa) * MK, d.K, 1};
    mat mb = {b + batch_offset(i, &d.bo, d.sb) * KN, d.N, 1};
    mm(d.M, d.N, d.K, 1.0f, ma, mb, y + i * MN, false);
  }
  return SAL_STATUS_OK;
}

static sal_status matmul_backward(sal_kctx *k) {
  matmul_dims d = matmul_bind(k);
  sal__grad_prepare(k, 0);
  sal__grad_prepare(k, 1);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *a = k->in[0]->data, *b = k->in[1]->data, *dy = k->dout[0]->data;
  int64_t MK = d.M * d.K, KN = d.K * d.N, MN = d.M * d.N;
  for (int w = 0; w < 2; w++) {
    if (!k->din[w]) continue;
    float *g = k->din[w]->data;
    /* When this operand was broadcast over the batch, several batches add into one gradient
     * matrix: those run one after another (mm still splits rows). Otherwise batches are
     * independent and threads take whole matrices. */
    bool distinct = (w == 0 ? d.na_mat : d.nb_mat) == d.nb;
    #pragma omp parallel for if (distinct && d.nb > 1 && d.nb * MN * d.K > MM_PAR_MACS) schedule(static)
    for (int64_t i = 0; i < d.nb; i++) {
      int64_t ia = batch_offset(i, &d.bo, d.sa), ib = batch_offset(i, &d.bo, d.sb);
      mat mdy = {dy + i * MN, d.N, 1};
      if (w == 0)  // dA_b (M,K) += dY_b (M,N) B_b^T (N,K)
        mm(d.M, d.K, d.N, 1.0f, mdy, (mat){b + ib * KN, 1, d.N}, g + ia * MK, true);
      else  // dB_b (K,N) += A_b^T (K,M) dY_b (M,N)
        mm(d.K, d.N, d.M, 1.0f, (mat){a + ia * MK, 1, d.K}, mdy, g + ib * KN, true);
    }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_matmul = {.name = "ref", .forward = matmul_forward, .backward = matmul_backward};
