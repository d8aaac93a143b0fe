/* Matrix products: ONNX Gemm (the classifier head) and MatMul (NumPy matmul semantics). Shape
 * rules, attribute validation and MAC counts; reference kernels in src/kernels/ref/matmul.c. */
#include "graph/internal.h"

#include <math.h>

/* Gemm (ONNX opset 13): Y = alpha * A' * B' + beta * C, A' = transA ? A^T : A (M,K),
 * B' = transB ? B^T : B (K,N), C optional and unidirectionally broadcastable to (M,N). */
static sal_status gemm_infer(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                             sal_shape *out) {
  (void)g;
  int64_t ta, tb;
  float alpha, beta;
  sal_status st = sal__attr_int(ctx, n, "transA", 0, &ta);
  if (!st) st = sal__attr_int(ctx, n, "transB", 0, &tb);
  if (!st) st = sal__attr_float(ctx, n, "alpha", 1.0f, &alpha);
  if (!st) st = sal__attr_float(ctx, n, "beta", 1.0f, &beta);
  if (st) return st;
  if ((ta != 0 && ta != 1) || (tb != 0 && tb != 1))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "transA = %lld and transB = %lld must each be 0 or 1",
                         (long long)ta, (long long)tb);
  if (!isfinite(alpha) || !isfinite(beta))
    return sal__op_error(ctx, n, SAL_STATUS_BAD_INPUT, "alpha = %g and beta = %g must be finite", (double)alpha,
                         (double)beta);
  char sa[96], sb[96], sc[96];
  sal_shape_str(&in[0], sa, sizeof sa);
  sal_shape_str(&in[1], sb, sizeof sb);
  if (in[0].ndim != 2 || in[1].ndim != 2)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "A %s and B %s must both be 2-D", sa, sb);
  int64_t M = ta ? in[0].d[1] : in[0].d[0], K = ta ? in[0].d[0] : in[0].d[1];
  int64_t Kb = tb ? in[1].d[1] : in[1].d[0], N = tb ? in[1].d[0] : in[1].d[1];
  if (K != Kb)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE,
                         "inner dimensions do not match: A %s (transA=%lld) and B %s (transB=%lld) give K = %lld and %lld",
                         sa, (long long)ta, sb, (long long)tb, (long long)K, (long long)Kb);
  sal_shape_make(&out[0], 2, (int64_t[]){M, N});
  if (n->n_in > 2 && in[2].ndim >= 0) {
    sal_shape bc;
    if (in[2].ndim > 2 || !sal__broadcast_shape(&in[2], &out[0], &bc) || !sal_shape_equal(&bc, &out[0]))
      return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "C %s does not broadcast to (M, N) = (%lld, %lld)",
                           sal_shape_str(&in[2], sc, sizeof sc), (long long)M, (long long)N);
  }
  return SAL_STATUS_OK;
}

/* M*N*K: K is numel(A) / M whichever way A is transposed. */
static int64_t gemm_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  int64_t M = out[0].d[0];
  return M > 0 ? sal_shape_numel(&out[0]) * (sal_shape_numel(&in[0]) / M) : 0;
}

const sal_op_def sal__op_gemm = {.name = "Gemm", .min_in = 2, .max_in = 3, .min_out = 1, .max_out = 1,
                                 .infer = gemm_infer, .macs = gemm_macs};

/* MatMul (ONNX opset 13, numpy.matmul): A (..., M, K) times B (..., K, N). A 1-D A is (1, K) and
 * a 1-D B is (K, 1), with that 1 dropped from the result; leading batch dimensions broadcast. */
static sal_status matmul_infer(sal_ctx *ctx, const sal_graph *g, const sal_node *n, const sal_shape *in,
                               sal_shape *out) {
  (void)g;
  const sal_shape *a = &in[0], *b = &in[1];
  char sa[96], sb[96];
  sal_shape_str(a, sa, sizeof sa);
  sal_shape_str(b, sb, sizeof sb);
  if (a->ndim < 1 || b->ndim < 1)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "inputs %s and %s must have at least one dimension", sa, sb);
  int ra = a->ndim, rb = b->ndim;
  int64_t M = ra >= 2 ? a->d[ra - 2] : 1, K = a->d[ra - 1];
  int64_t Kb = rb >= 2 ? b->d[rb - 2] : b->d[0], N = rb >= 2 ? b->d[rb - 1] : 1;
  if (K != Kb)
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "inner dimensions do not match: A %s and B %s (K = %lld and %lld)",
                         sa, sb, (long long)K, (long long)Kb);
  sal_shape ba, bb, bo;
  sal_shape_make(&ba, ra >= 2 ? ra - 2 : 0, a->d);
  sal_shape_make(&bb, rb >= 2 ? rb - 2 : 0, b->d);
  if (!sal__broadcast_shape(&ba, &bb, &bo))
    return sal__op_error(ctx, n, SAL_STATUS_SHAPE, "batch dimensions of A %s and B %s do not broadcast", sa, sb);
  /* At most 3 batch dimensions plus M and N: never more than SAL_MAX_DIMS. */
  out[0] = bo;
  if (ra >= 2) out[0].d[out[0].ndim++] = M;
  if (rb >= 2) out[0].d[out[0].ndim++] = N;
  return SAL_STATUS_OK;
}

/* batch*M*N*K = numel(Y) * K. */
static int64_t matmul_macs(const sal_node *n, const sal_shape *in, const sal_shape *out) {
  (void)n;
  return sal_shape_numel(&out[0]) * in[0].d[in[0].ndim - 1];
}

const sal_op_def sal__op_matmul = {.name = "MatMul", .min_in = 2, .max_in = 2, .min_out = 1, .max_out = 1,
                                   .infer = matmul_infer, .macs = matmul_macs};
