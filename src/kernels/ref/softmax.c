/* Reference kernels for Softmax and LogSoftmax along one axis. The input is viewed as
 * (outer, len, inner) with len the softmax axis; each of the outer*inner rows is independent.
 * Numerically stable (the row maximum is subtracted before exp), sums accumulated in double.
 *   Softmax:    y_i = e^(x_i - m) / S,          dx_i = y_i (dy_i - sum_j dy_j y_j)
 *   LogSoftmax: y_i = x_i - m - log S,          dx_i = dy_i - e^(y_i) sum_j dy_j
 * with m = max_j x_j and S = sum_j e^(x_j - m). */
#include "graph/internal.h"
#include "ops/softmax.h"

#include <math.h>

/* The (outer, len, inner) view of the input around the softmax axis. */
typedef struct rows {
  int64_t outer, len, inner;
} rows;

static sal_status get_rows(sal_kctx *k, rows *r) {
  const sal_shape *s = &k->in[0]->shape;
  int axis;
  sal_status st = sal__softmax_axis(k->ctx, k->node, s, &axis);
  if (st) return st;
  r->outer = 1;
  r->inner = 1;
  for (int d = 0; d < axis; d++) r->outer *= s->d[d];
  r->len = s->d[axis];
  for (int d = axis + 1; d < s->ndim; d++) r->inner *= s->d[d];
  return SAL_STATUS_OK;
}

static sal_status softmax_forward_any(sal_kctx *k, bool log_out) {
  // x, y are (outer, len, inner)
  rows r;
  sal_status st = get_rows(k, &r);
  if (st) return st;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t nrows = r.outer * r.inner;
  #pragma omp parallel for if (nrows * r.len > 32768) schedule(static)
  for (int64_t q = 0; q < nrows; q++) {
    int64_t base = (q / r.inner) * r.len * r.inner + q % r.inner;
    const float *xr = x + base;
    float *yr = y + base;
    float m = -INFINITY;
    for (int64_t i = 0; i < r.len; i++) m = xr[i * r.inner] > m ? xr[i * r.inner] : m;
    double sum = 0.0;
    for (int64_t i = 0; i < r.len; i++) sum += exp((double)xr[i * r.inner] - (double)m);
    double logsum = log(sum);
    for (int64_t i = 0; i < r.len; i++) {
      double z = (double)xr[i * r.inner] - (double)m;
      yr[i * r.inner] = (float)(log_out ? z - logsum : exp(z) / sum);
    }
  }
  return SAL_STATUS_OK;
}

static sal_status softmax_backward_any(sal_kctx *k, bool log_out) {
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  rows r;
  sal_status st = get_rows(k, &r);
  if (st) return st;
  const float *y = k->out[0]->data, *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  int64_t nrows = r.outer * r.inner;
  #pragma omp parallel for if (nrows * r.len > 32768) schedule(static)
  for (int64_t q = 0; q < nrows; q++) {
    int64_t base = (q / r.inner) * r.len * r.inner + q % r.inner;
    const float *yr = y + base, *dyr = dy + base;
    float *dxr = dx + base;
    double dot = 0.0; /* Softmax: sum_j dy_j y_j; LogSoftmax: sum_j dy_j */
    for (int64_t i = 0; i < r.len; i++)
      dot += (double)dyr[i * r.inner] * (log_out ? 1.0 : (double)yr[i * r.inner]);
    for (int64_t i = 0; i < r.len; i++) {
      double yi = yr[i * r.inner], dyi = dyr[i * r.inner];
      double g = log_out ? dyi - exp(yi) * dot : yi * (dyi - dot);
      dxr[i * r.inner] += (float)g;
    }
  }
  return SAL_STATUS_OK;
}

static sal_status softmax_forward(sal_kctx *k) { return softmax_forward_any(k, false); }
static sal_status softmax_backward(sal_kctx *k) { return softmax_backward_any(k, false); }
static sal_status log_softmax_forward(sal_kctx *k) { return softmax_forward_any(k, true); }
static sal_status log_softmax_backward(sal_kctx *k) { return softmax_backward_any(k, true); }

const sal_kernel sal__ref_softmax = {.name = "ref", .forward = softmax_forward, .backward = softmax_backward};
const sal_kernel sal__ref_log_softmax = {.name = "ref", .forward = log_softmax_forward,
                                         .backward = log_softmax_backward};
