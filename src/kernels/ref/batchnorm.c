/* Reference BatchNormalization kernel (OpenMP over channels, statistics in double), the oracle for
 * src/kernels/dnnl/batchnorm.c, run by plans with reference kernels. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <math.h>

/* Inference: y = scale*(x - running_mean)/sqrt(running_var + eps) + B. Training (Ioffe & Szegedy
 * 2015): the batch mean and biased batch variance normalise x, and the running statistics are
 * updated in place as running = running*momentum + batch*(1-momentum) with the UNBIASED batch
 * variance (times n/(n-1), n = N*spatial) in the variance update, as PyTorch does; the backward
 * then runs through the batch statistics. */
typedef struct ref_bn {
  sal_bn_geom g;
  double *mean, *istd; /* (C) each: the statistics the last forward normalised with */
} ref_bn;

static void bn_release(sal_kctx *k) {
  ref_bn *s = k->state;
  if (!s) return;
  sal_free(s->mean);
  sal_free(s->istd);
  sal_free(s);
  k->state = NULL;
}

static sal_status bn_prepare(sal_kctx *k) {
  sal_status st = sal__require_plain(k);
  if (st) return st;
  ref_bn *s = sal_calloc(k->ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  k->state = s;
  st = sal__bn_geom_k(k, &s->g);
  if (!st) st = sal__bn_training_check(k, &s->g);
  if (!st) {
    s->mean = sal_calloc(k->ctx, (size_t)s->g.c, sizeof(double));
    s->istd = sal_calloc(k->ctx, (size_t)s->g.c, sizeof(double));
    if (!s->mean || !s->istd) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  if (st) bn_release(k);
  return st;
}

static sal_status bn_forward(sal_kctx *k) {
  ref_bn *s = k->state;
  const sal_bn_geom *g = &s->g;
  // x, y are (N,C,S) with S the flattened spatial dims; scale, b, rmean, rvar are (C)
  const float *x = k->in[0]->data, *scale = k->in[1]->data, *b = k->in[2]->data;
  float *rmean = k->in[3]->data, *rvar = k->in[4]->data;
  float *y = k->out[0]->data;
  int64_t C = g->c, S = g->spatial, cnt = g->n * g->spatial;
  bool training = k->training;
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double mean, var;
    if (training) {
      double sum = 0, sq = 0;
      for (int64_t n = 0; n < g->n; n++)
        for (int64_t i = 0; i < S; i++) sum += x[(n * C + c) * S + i];
      mean = sum / (double)cnt;
      for (int64_t n = 0; n < g->n; n++)
        for (int64_t i = 0; i < S; i++) {
          double d = x[(n * C + c) * S + i] - mean;
          sq += d * d;
        }
      var = sq / (double)cnt;
      double unbiased = sq / (double)(cnt - 1);
      rmean[c] = (float)(rmean[c] * (double)g->momentum + mean * (1.0 - (double)g->momentum));
      rvar[c] = (float)(rvar[c] * (double)g->momentum + unbiased * (1.0 - (double)g->momentum));
    } else {
      mean = rmean[c];
      var = rvar[c];
    }
    double istd = 1.0 / sqrt(var + (double)g->epsilon);
    s->mean[c] = mean;
    s->istd[c] = istd;
    double a = scale[c] * istd, sh = b[c] - mean * a;
    for (int64_t n = 0; n < g->n; n++)
      for (int64_t i = 0; i < S; i++) y[(n * C + c) * S + i] = (float)(x[(n * C + c) * S + i] * a + sh);
  }
  return SAL_STATUS_OK;
}

static sal_status bn_backward(sal_kctx *k) {
  const ref_bn *s = k->state;
  const sal_bn_geom *g = &s->g;
  for (int i = 0; i < 3; i++) sal__grad_prepare(k, i);
  if (!k->dout[0]) return SAL_STATUS_OK;
  const float *x = k->in[0]->data, *scale = k->in[1]->data, *dy = k->dout[0]->data;
  float *dx = k->din[0] ? k->din[0]->data : NULL;
  float *dscale = k->din[1] ? k->din[1]->data : NULL;
  float *db = k->din[2] ? k->din[2]->data : NULL;
  int64_t C = g->c, S = g->spatial, cnt = g->n * g->spatial;
  bool training = k->training;
  #pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; c++) {
    double mean = s->mean[c], istd = s->istd[c];
    /* sdy = sum dy, sdyx = sum dy*xhat with xhat = (x - mean)*istd */
    double sdy = 0, sdyx = 0;
    for (int64_t n = 0; n < g->n; n++)
      for (int64_t i = 0; i < S; i++) {
        int64_t o = (n * C + c) * S + i;
        sdy += dy[o];
        sdyx += dy[o] * (x[o] - mean) * istd;
      }
    if (db) db[c] += (float)sdy;
    if (dscale) dscale[c] += (float)sdyx;
    if (!dx) continue;
    double a = scale[c] * istd;
    for (int64_t n = 0; n < g->n; n++)
      for (int64_t i = 0; i < S; i++) {
        int64_t o = (n * C + c) * S + i;
        double v = dy[o];
        /* Training: the batch mean and variance depend on x too:
         * dx = scale*istd*(dy - mean(dy) - xhat*mean(dy*xhat)). */
        if (training) v -= (sdy + (x[o] - mean) * istd * sdyx) / (double)cnt;
        dx[o] += (float)(a * v);
      }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_batchnorm = {.name = "ref", .prepare = bn_prepare, .release = bn_release,
                                       .forward = bn_forward, .backward = bn_backward};
