/* Reference MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool kernels over (N,C,H,W) planes (OpenMP over
 * planes), the oracle for src/kernels/dnnl/pool.c, run by plans with reference kernels. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <string.h>

/* MaxPool's backward routes each window's gradient to the first maximal element in row-major
 * window order (PyTorch's rule), recomputed from x rather than stored. AveragePool divides by the
 * number of taps inside the input (count_include_pad = 0) or inside the input plus its explicit
 * pads (1), as PyTorch and onnxruntime do: the part of a ceil_mode window hanging past the pads
 * never counts. */
static void pool_release(sal_kctx *k) {
  sal_free(k->state);
  k->state = NULL;
}

static sal_status pool_prepare(sal_kctx *k) {
  sal_status st = sal__require_plain(k);
  if (st) return st;
  sal_pool_geom *g = sal_calloc(k->ctx, 1, sizeof *g);
  if (!g) return SAL_STATUS_OUT_OF_MEMORY;
  k->state = g;
  st = sal__pool_geom_k(k, g);
  if (st) pool_release(k);
  return st;
}

/* Taps [*lo, *hi) of a window starting at `start` (step d, k taps) whose position lies in
 * [lo_bound, hi_bound). */
static inline void tap_range(int64_t start, int64_t k, int64_t d, int64_t lo_bound, int64_t hi_bound, int64_t *lo,
                             int64_t *hi) {
  int64_t a = start >= lo_bound ? 0 : sal__ceil_div(lo_bound - start, d);
  int64_t b = start < hi_bound ? sal__ceil_div(hi_bound - start, d) : 0;
  if (b > k) b = k;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* Index in the (H,W) plane of the first maximal element of window (oh, ow). */
static inline int64_t window_argmax(const sal_window *w, const float *xp, int64_t oh, int64_t ow) {
  int64_t h0 = oh * w->s[0] - w->pad[0], w0 = ow * w->s[1] - w->pad[1];
  int64_t i0, i1, j0, j1;
  tap_range(h0, w->k[0], w->d[0], 0, w->h, &i0, &i1);
  tap_range(w0, w->k[1], w->d[1], 0, w->w, &j0, &j1);
  int64_t best = (h0 + i0 * w->d[0]) * w->w + (w0 + j0 * w->d[1]);
  for (int64_t i = i0; i < i1; i++)
    for (int64_t j = j0; j < j1; j++) {
      int64_t idx = (h0 + i * w->d[0]) * w->w + (w0 + j * w->d[1]);
      if (xp[idx] > xp[best]) best = idx;
    }
  return best;
}

static sal_status maxpool_forward(sal_kctx *k) {
  const sal_window *w = &((const sal_pool_geom *)k->state)->win;
  // x is (N,C,H,W), y is (N,C,OH,OW)
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    const float *xp = x + pl * w->h * w->w;
    float *yp = y + pl * w->oh * w->ow;
    for (int64_t oh = 0; oh < w->oh; oh++)
      for (int64_t ow = 0; ow < w->ow; ow++) yp[oh * w->ow + ow] = xp[window_argmax(w, xp, oh, ow)];
  }
  return SAL_STATUS_OK;
}

static sal_status maxpool_backward(sal_kctx *k) {
  const sal_window *w = &((const sal_pool_geom *)k->state)->win;
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *x = k->in[0]->data, *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    const float *xp = x + pl * w->h * w->w;
    const float *dyp = dy + pl * w->oh * w->ow;
    float *dxp = dx + pl * w->h * w->w;
    for (int64_t oh = 0; oh < w->oh; oh++)
      for (int64_t ow = 0; ow < w->ow; ow++) dxp[window_argmax(w, xp, oh, ow)] += dyp[oh * w->ow + ow];
  }
  return SAL_STATUS_OK;
}

/* Taps of window (oh, ow) inside the input, and the divisor AveragePool uses for it. */
static inline double avg_window(const sal_pool_geom *g, int64_t oh, int64_t ow, int64_t *i0, int64_t *i1, int64_t *j0,
                                int64_t *j1) {
  const sal_window *w = &g->win;
  int64_t h0 = oh * w->s[0] - w->pad[0], w0 = ow * w->s[1] - w->pad[1];
  tap_range(h0, w->k[0], w->d[0], 0, w->h, i0, i1);
  tap_range(w0, w->k[1], w->d[1], 0, w->w, j0, j1);
  if (!g->count_include_pad) return (double)((*i1 - *i0) * (*j1 - *j0));
  int64_t a0, a1, b0, b1;
  tap_range(h0, w->k[0], w->d[0], -w->pad[0], w->h + w->pad[2], &a0, &a1);
  tap_range(w0, w->k[1], w->d[1], -w->pad[1], w->w + w->pad[3], &b0, &b1);
  return (double)((a1 - a0) * (b1 - b0));
}

static sal_status avgpool_forward(sal_kctx *k) {
  const sal_pool_geom *g = k->state;
  const sal_window *w = &g->win;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    const float *xp = x + pl * w->h * w->w;
    float *yp = y + pl * w->oh * w->ow;
    for (int64_t oh = 0; oh < w->oh; oh++)
      for (int64_t ow = 0; ow < w->ow; ow++) {
        int64_t i0, i1, j0, j1;
        double cnt = avg_window(g, oh, ow, &i0, &i1, &j0, &j1);
        int64_t h0 = oh * w->s[0] - w->pad[0], w0 = ow * w->s[1] - w->pad[1];
        double sum = 0;
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) sum += xp[(h0 + i * w->d[0]) * w->w + w0 + j * w->d[1]];
        yp[oh * w->ow + ow] = (float)(sum / cnt);
      }
  }
  return SAL_STATUS_OK;
}

static sal_status avgpool_backward(sal_kctx *k) {
  const sal_pool_geom *g = k->state;
  const sal_window *w = &g->win;
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    const float *dyp = dy + pl * w->oh * w->ow;
    float *dxp = dx + pl * w->h * w->w;
    for (int64_t oh = 0; oh < w->oh; oh++)
      for (int64_t ow = 0; ow < w->ow; ow++) {
        int64_t i0, i1, j0, j1;
        double cnt = avg_window(g, oh, ow, &i0, &i1, &j0, &j1);
        int64_t h0 = oh * w->s[0] - w->pad[0], w0 = ow * w->s[1] - w->pad[1];
        float v = (float)(dyp[oh * w->ow + ow] / cnt);
        for (int64_t i = i0; i < i1; i++)
          for (int64_t j = j0; j < j1; j++) dxp[(h0 + i * w->d[0]) * w->w + w0 + j * w->d[1]] += v;
      }
  }
  return SAL_STATUS_OK;
}

/* GlobalAveragePool: y[n][c] = mean of plane (n,c); planes are the flattened spatial dims. */
static sal_status gap_forward(sal_kctx *k) {
  const sal_window *w = &((const sal_pool_geom *)k->state)->win;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t s = w->h * w->w;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    double sum = 0;
    for (int64_t i = 0; i < s; i++) sum += x[pl * s + i];
    y[pl] = (float)(sum / (double)s);
  }
  return SAL_STATUS_OK;
}

static sal_status gap_backward(sal_kctx *k) {
  const sal_window *w = &((const sal_pool_geom *)k->state)->win;
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  int64_t s = w->h * w->w;
  #pragma omp parallel for schedule(static)
  for (int64_t pl = 0; pl < w->n * w->c; pl++) {
    float v = (float)((double)dy[pl] / (double)s);
    for (int64_t i = 0; i < s; i++) dx[pl * s + i] += v;
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_maxpool = {.name = "ref", .prepare = pool_prepare, .release = pool_release,
                                     .forward = maxpool_forward, .backward = maxpool_backward};
const sal_kernel sal__ref_avgpool = {.name = "ref", .prepare = pool_prepare, .release = pool_release,
                                     .forward = avgpool_forward, .backward = avgpool_backward};
const sal_kernel sal__ref_globalavgpool = {.name = "ref", .prepare = pool_prepare, .release = pool_release,
                                           .forward = gap_forward, .backward = gap_backward};
/* GlobalMaxPool is MaxPool over one window covering the flattened plane (sal__pool_geom's global
 * geometry), the gradient going to its first maximum like MaxPool's and PyTorch's. */
const sal_kernel sal__ref_globalmaxpool = {.name = "ref", .prepare = pool_prepare, .release = pool_release,
                                           .forward = maxpool_forward, .backward = maxpool_backward};
