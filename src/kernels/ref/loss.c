/* Reference kernels for the scalar losses (mean reduction, output shape ()): the exact formulas
 * below, computed in double with a stable log-softmax; gradients are their closed forms.
 *
 *   SoftmaxCrossEntropyLoss(x (N,K), t (N)), label smoothing s (torch.nn.CrossEntropyLoss):
 *     q_ij = (1 - s) [j == t_i] + s / K,   lse_i = log sum_j exp x_ij
 *     L = (1/N) sum_i sum_j q_ij (lse_i - x_ij)
 *     dL/dx_ij = (softmax(x_i)_j - q_ij) / N
 *   KLDivLoss(p (N,K), q (N,K)): KL(softmax p || softmax q), summed over classes, mean over rows —
 *     torch.nn.functional.kl_div(log_softmax(q), log_softmax(p), log_target=True,
 *     reduction="batchmean"). With lp = log_softmax(p), lq = log_softmax(q), P = exp lp, Q = exp lq:
 *     KL_i = sum_j P_ij (lp_ij - lq_ij),   L = (1/N) sum_i KL_i
 *     dL/dp_ij = P_ij (lp_ij - lq_ij - KL_i) / N,   dL/dq_ij = (Q_ij - P_ij) / N
 *   MSELoss(a, b), n elements: L = (1/n) sum (a - b)^2,  dL/da = 2 (a - b) / n = -dL/db.
 *
 * Sums are taken in fixed pieces (one per row, or per block of MSE_BLOCK elements) that threads
 * compute independently, then added in order: the loss does not depend on the thread count. */
#include "graph/internal.h"

#include <math.h>

#define MSE_BLOCK 4096
#define LOSS_PAR 32768  /* elements: below this a single thread is faster */

typedef struct loss_state {
  double *part;   /* (nparts) per-row or per-block partial sums of the forward */
  int64_t nparts;
  float ls;       /* label smoothing (cross-entropy) */
} loss_state;

static sal_status loss_prepare_n(sal_kctx *k, int64_t nparts) {
  loss_state *s = sal_calloc(k->ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  s->part = sal_calloc(k->ctx, (size_t)nparts, sizeof(double));
  if (!s->part) {
    sal_free(s);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  s->nparts = nparts;
  k->state = s;
  return SAL_STATUS_OK;
}

static void loss_release(sal_kctx *k) {
  loss_state *s = k->state;
  if (s) sal_free(s->part);
  sal_free(s);
  k->state = NULL;
}

/* Sum of the partials in index order. */
static double parts_sum(const loss_state *s) {
  double t = 0.0;
  for (int64_t i = 0; i < s->nparts; i++) t += s->part[i];
  return t;
}

/* log sum_j exp x_j over a row of K, shifted by the maximum so that no exp overflows. */
static double row_lse(const float *x, int64_t K) {
  double m = x[0];
  for (int64_t j = 1; j < K; j++)
    if (x[j] > m) m = x[j];
  double s = 0.0;
  for (int64_t j = 0; j < K; j++) s += exp((double)x[j] - m);
  return m + log(s);
}

/* The upstream gradient of the scalar output divided by the mean's count, or 0 when none. */
static double scaled_dy(const sal_kctx *k, int64_t count) {
  return k->dout[0] ? (double)k->dout[0]->data[0] / (double)count : 0.0;
}

static inline void put(float *d, int64_t i, double v, bool acc) { d[i] = acc ? d[i] + (float)v : (float)v; }

/* ---- SoftmaxCrossEntropyLoss ---- */

static sal_status ce_prepare(sal_kctx *k) {
  sal_status st = loss_prepare_n(k, k->in[0]->shape.d[0]);
  if (st) return st;
  loss_state *s = k->state;
  sal__attr_float(k->ctx, k->node, "label_smoothing", 0.0f, &s->ls);  // validated by the shape rule
  return SAL_STATUS_OK;
}

/* Every target must be an integer class in [0, K): the first row that is not is reported. */
static sal_status ce_check_targets(const sal_kctx *k, int64_t N, int64_t K) {
  const float *t = k->in[1]->data;  // t is (N)
  for (int64_t i = 0; i < N; i++)
    if (!(t[i] >= 0.0f && t[i] < (float)K && t[i] == floorf(t[i])))
      return sal__op_error(k->ctx, k->node, SAL_STATUS_BAD_INPUT,
                           "target of row %lld is %g, not a class index in 0..%lld", (long long)i, (double)t[i],
                           (long long)(K - 1));
  return SAL_STATUS_OK;
}

static sal_status ce_forward(sal_kctx *k) {
  // x is (N,K) logits, t is (N) class indices, y is ()
  loss_state *s = k->state;
  int64_t N = k->in[0]->shape.d[0], K = k->in[0]->shape.d[1];
  sal_status st = ce_check_targets(k, N, K);
  if (st) return st;
  const float *x = k->in[0]->data, *t = k->in[1]->data;
  double ls = s->ls, on = 1.0 - ls, off = ls / (double)K;
  #pragma omp parallel for if (N * K > LOSS_PAR) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const float *xi = x + i * K;
    double lse = row_lse(xi, K), sum_x = 0.0;
    for (int64_t j = 0; j < K; j++) sum_x += xi[j];
    /* sum_j q_j (lse - x_j) with sum_j q_j = 1 */
    s->part[i] = on * (lse - xi[(int64_t)t[i]]) + off * ((double)K * lse - sum_x);
  }
  k->out[0]->data[0] = (float)(parts_sum(s) / (double)N);
  return SAL_STATUS_OK;
}

static sal_status ce_backward(sal_kctx *k) {
  if (!k->din[0]) return SAL_STATUS_OK;
  const loss_state *s = k->state;
  int64_t N = k->in[0]->shape.d[0], K = k->in[0]->shape.d[1];
  sal_status st = ce_check_targets(k, N, K);
  if (st) return st;
  const float *x = k->in[0]->data, *t = k->in[1]->data;
  float *dx = k->din[0]->data;  // dx is (N,K)
  bool acc = k->din_accum[0];
  double g = scaled_dy(k, N), ls = s->ls, on = 1.0 - ls, off = ls / (double)K;
  #pragma omp parallel for if (N * K > LOSS_PAR) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const float *xi = x + i * K;
    double lse = row_lse(xi, K);
    int64_t ti = (int64_t)t[i];
    for (int64_t j = 0; j < K; j++) {
      double q = off + (j == ti ? on : 0.0);
      put(dx, i * K + j, g * (exp((double)xi[j] - lse) - q), acc);
    }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_softmax_ce_loss = {.name = "ref", .prepare = ce_prepare, .release = loss_release,
                                             .forward = ce_forward, .backward = ce_backward};

/* ---- KLDivLoss ---- */

static sal_status kl_prepare(sal_kctx *k) { return loss_prepare_n(k, k->in[0]->shape.d[0]); }

/* KL(softmax p || softmax q) of one row of K, given both rows' log-sum-exps. */
static double kl_row(const float *p, const float *q, int64_t K, double lse_p, double lse_q) {
  double kl = 0.0;
  for (int64_t j = 0; j < K; j++) {
    double lp = (double)p[j] - lse_p, lq = (double)q[j] - lse_q;
    kl += exp(lp) * (lp - lq);
  }
  return kl;
}

static sal_status kl_forward(sal_kctx *k) {
  // p, q are (N,K) logits, y is ()
  loss_state *s = k->state;
  int64_t N = k->in[0]->shape.d[0], K = k->in[0]->shape.d[1];
  const float *p = k->in[0]->data, *q = k->in[1]->data;
  #pragma omp parallel for if (N * K > LOSS_PAR) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const float *pi = p + i * K, *qi = q + i * K;
    s->part[i] = kl_row(pi, qi, K, row_lse(pi, K), row_lse(qi, K));
  }
  k->out[0]->data[0] = (float)(parts_sum(s) / (double)N);
  return SAL_STATUS_OK;
}

static sal_status kl_backward(sal_kctx *k) {
  if (!k->din[0] && !k->din[1]) return SAL_STATUS_OK;
  int64_t N = k->in[0]->shape.d[0], K = k->in[0]->shape.d[1];
  const float *p = k->in[0]->data, *q = k->in[1]->data;
  float *dp = k->din[0] ? k->din[0]->data : NULL, *dq = k->din[1] ? k->din[1]->data : NULL;  // (N,K)
  bool acc_p = k->din_accum[0], acc_q = k->din_accum[1];
  double g = scaled_dy(k, N);
  #pragma omp parallel for if (N * K > LOSS_PAR) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const float *pi = p + i * K, *qi = q + i * K;
    double lse_p = row_lse(pi, K), lse_q = row_lse(qi, K);
    double kl = kl_row(pi, qi, K, lse_p, lse_q);
    for (int64_t j = 0; j < K; j++) {
      double lp = (double)pi[j] - lse_p, lq = (double)qi[j] - lse_q, P = exp(lp);
      if (dp) put(dp, i * K + j, g * P * (lp - lq - kl), acc_p);
      if (dq) put(dq, i * K + j, g * (exp(lq) - P), acc_q);
    }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_kl_div_loss = {.name = "ref", .prepare = kl_prepare, .release = loss_release,
                                         .forward = kl_forward, .backward = kl_backward};

/* ---- MSELoss ---- */

static sal_status mse_prepare(sal_kctx *k) {
  int64_t n = sal_tensor_numel(k->in[0]);
  return loss_prepare_n(k, (n + MSE_BLOCK - 1) / MSE_BLOCK);
}

static sal_status mse_forward(sal_kctx *k) {
  // a, b: any shape, n elements each; y is ()
  loss_state *s = k->state;
  int64_t n = sal_tensor_numel(k->in[0]);
  const float *a = k->in[0]->data, *b = k->in[1]->data;
  #pragma omp parallel for if (n > LOSS_PAR) schedule(static)
  for (int64_t blk = 0; blk < s->nparts; blk++) {
    int64_t e1 = (blk + 1) * MSE_BLOCK < n ? (blk + 1) * MSE_BLOCK : n;
    double sum = 0.0;
    for (int64_t e = blk * MSE_BLOCK; e < e1; e++) {
      double d = (double)a[e] - (double)b[e];
      sum += d * d;
    }
    s->part[blk] = sum;
  }
  k->out[0]->data[0] = (float)(parts_sum(s) / (double)n);
  return SAL_STATUS_OK;
}

static sal_status mse_backward(sal_kctx *k) {
  int64_t n = sal_tensor_numel(k->in[0]);
  const float *a = k->in[0]->data, *b = k->in[1]->data;
  float *da = k->din[0] ? k->din[0]->data : NULL, *db = k->din[1] ? k->din[1]->data : NULL;
  bool acc_a = k->din_accum[0], acc_b = k->din_accum[1];
  double g2 = 2.0 * scaled_dy(k, n);
  #pragma omp parallel for if (n > LOSS_PAR) schedule(static)
  for (int64_t e = 0; e < n; e++) {
    double v = g2 * ((double)a[e] - (double)b[e]);
    if (da) put(da, e, v, acc_a);
    if (db) put(db, e, -v, acc_b);
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_mse_loss = {.name = "ref", .prepare = mse_prepare, .release = loss_release,
                                      .forward = mse_forward, .backward = mse_backward};
