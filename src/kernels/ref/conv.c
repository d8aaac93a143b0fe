/* Reference Conv kernel, the oracle for src/kernels/dnnl/conv.c: im2col + GEMM loop (double
 * accumulators, OpenMP over output channels), run by plans with reference kernels. */
#include "graph/internal.h"
#include "ops/conv.h"

#include <omp.h>
#include <string.h>

/* Backward: d(weight) from the same columns, d(bias) by summing dy, d(input) as W^T·dy scattered
 * back with col2im. */
typedef struct ref_conv {
  sal_conv_geom g;
  int64_t cg, mg;   /* channels per group: input C/group, output M/group */
  int64_t kdim;     /* rows of one group's columns: cg*kH*kW */
  int64_t p;        /* columns: OH*OW */
  bool direct;      /* 1x1, stride 1, no pads: the input plane already is the column matrix */
  float *col;       /* (C*kH*kW, OH*OW) for one image, groups stacked; NULL when direct */
  double *acc;      /* nt rows of p doubles: one accumulator row per thread */
  int nt;
} ref_conv;

static void conv_release(sal_kctx *k) {
  ref_conv *s = k->state;
  if (!s) return;
  sal_free(s->col);
  sal_free(s->acc);
  sal_free(s);
  k->state = NULL;
}

static sal_status conv_prepare(sal_kctx *k) {
  sal_status st = sal__require_plain(k);
  if (st) return st;
  ref_conv *s = sal_calloc(k->ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  k->state = s;
  st = sal__conv_geom_k(k, &s->g);
  if (st) goto fail;
  const sal_window *w = &s->g.win;
  s->cg = w->c / s->g.group;
  s->mg = s->g.m / s->g.group;
  s->kdim = s->cg * w->k[0] * w->k[1];
  s->p = w->oh * w->ow;
  s->direct = w->k[0] == 1 && w->k[1] == 1 && w->s[0] == 1 && w->s[1] == 1 &&
              !(w->pad[0] | w->pad[1] | w->pad[2] | w->pad[3]);
  s->nt = omp_get_max_threads();
  size_t cols;
  st = SAL_STATUS_OUT_OF_MEMORY;
  if (!sal_mul_size((size_t)(s->g.group * s->kdim), (size_t)s->p, &cols)) {
    st = sal_ctx_error(k->ctx, SAL_STATUS_OUT_OF_MEMORY, "conv: workspace too large");
    goto fail;
  }
  if (!s->direct && !(s->col = sal_calloc(k->ctx, cols, sizeof(float)))) goto fail;
  if (!(s->acc = sal_calloc(k->ctx, (size_t)s->nt * (size_t)s->p, sizeof(double)))) goto fail;
  return SAL_STATUS_OK;
fail:
  conv_release(k);
  return st;
}

/* col[(c*kH + i)*kW + j][oh*OW + ow] = x[c][oh*sH - pt + i*dH][ow*sW - pl + j*dW], 0 in the padding.
 * x is one image (C,H,W); rows of all groups are stacked (group g owns rows g*kdim..). */
static const float *im2col(const ref_conv *s, const float *x) {
  if (s->direct) return x;
  const sal_window *w = &s->g.win;
  int64_t rows = w->c * w->k[0] * w->k[1];
  float *col = s->col;
  #pragma omp parallel for num_threads(s->nt) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t c = r / (w->k[0] * w->k[1]), i = r / w->k[1] % w->k[0], j = r % w->k[1];
    const float *xc = x + c * w->h * w->w;
    float *dst = col + r * s->p;
    for (int64_t oh = 0; oh < w->oh; oh++) {
      int64_t ih = oh * w->s[0] - w->pad[0] + i * w->d[0];
      for (int64_t ow = 0; ow < w->ow; ow++) {
        int64_t iw = ow * w->s[1] - w->pad[1] + j * w->d[1];
        dst[oh * w->ow + ow] = (ih >= 0 && ih < w->h && iw >= 0 && iw < w->w) ? xc[ih * w->w + iw] : 0.0f;
      }
    }
  }
  return col;
}

/* dx[c][ih][iw] += dcol[row][q] over every tap that read x[c][ih][iw] (the adjoint of im2col).
 * Each channel owns its rows and its plane of dx, so channels run in parallel. */
static void col2im_add(const ref_conv *s, const float *dcol, float *dx) {
  const sal_window *w = &s->g.win;
  int64_t taps = w->k[0] * w->k[1];
  #pragma omp parallel for num_threads(s->nt) schedule(static)
  for (int64_t c = 0; c < w->c; c++) {
    float *dxc = dx + c * w->h * w->w;
    for (int64_t t = 0; t < taps; t++) {
      int64_t i = t / w->k[1], j = t % w->k[1];
      const float *src = dcol + (c * taps + t) * s->p;
      for (int64_t oh = 0; oh < w->oh; oh++) {
        int64_t ih = oh * w->s[0] - w->pad[0] + i * w->d[0];
        if (ih < 0 || ih >= w->h) continue;
        for (int64_t ow = 0; ow < w->ow; ow++) {
          int64_t iw = ow * w->s[1] - w->pad[1] + j * w->d[1];
          if (iw >= 0 && iw < w->w) dxc[ih * w->w + iw] += src[oh * w->ow + ow];
        }
      }
    }
  }
}

static sal_status conv_forward(sal_kctx *k) {
  const ref_conv *s = k->state;
  const sal_window *w = &s->g.win;
  // x is (N,C,H,W), wt is (M, C/group, kH, kW) = (M, kdim), b is (M), y is (N,M,OH,OW)
  const float *x = k->in[0]->data, *wt = k->in[1]->data;
  const float *b = s->g.bias ? k->in[2]->data : NULL;
  float *y = k->out[0]->data;
  for (int64_t n = 0; n < w->n; n++) {
    const float *col = im2col(s, x + n * w->c * w->h * w->w);
    float *yn = y + n * s->g.m * s->p;
    #pragma omp parallel for num_threads(s->nt) schedule(dynamic, 1)
    for (int64_t oc = 0; oc < s->g.m; oc++) {
      double *acc = s->acc + (int64_t)omp_get_thread_num() * s->p;
      double b0 = b ? b[oc] : 0.0;
      for (int64_t q = 0; q < s->p; q++) acc[q] = b0;
      const float *wrow = wt + oc * s->kdim;
      const float *cg = col + (oc / s->mg) * s->kdim * s->p;
      for (int64_t r = 0; r < s->kdim; r++) {
        double wv = wrow[r];
        const float *cr = cg + r * s->p;
        for (int64_t q = 0; q < s->p; q++) acc[q] += wv * cr[q];
      }
      for (int64_t q = 0; q < s->p; q++) yn[oc * s->p + q] = (float)acc[q];
    }
  }
  return SAL_STATUS_OK;
}

static sal_status conv_backward(sal_kctx *k) {
  const ref_conv *s = k->state;
  const sal_window *w = &s->g.win;
  for (int i = 0; i < k->n_in; i++) sal__grad_prepare(k, i);
  if (!k->dout[0]) return SAL_STATUS_OK;
  // dy is (N,M,OH,OW); dx like x, dwt like wt, db like b
  const float *x = k->in[0]->data, *wt = k->in[1]->data, *dy = k->dout[0]->data;
  float *dx = k->din[0] ? k->din[0]->data : NULL;
  float *dwt = k->din[1] ? k->din[1]->data : NULL;
  float *db = s->g.bias && k->din[2] ? k->din[2]->data : NULL;
  int64_t m = s->g.m;
  if (db) {
    #pragma omp parallel for num_threads(s->nt) schedule(static)
    for (int64_t oc = 0; oc < m; oc++) {
      double sum = 0;
      for (int64_t n = 0; n < w->n; n++)
        for (int64_t q = 0; q < s->p; q++) sum += dy[(n * m + oc) * s->p + q];
      db[oc] += (float)sum;
    }
  }
  for (int64_t n = 0; n < w->n && (dx || dwt); n++) {
    const float *dyn = dy + n * m * s->p;
    float *dxn = dx ? dx + n * w->c * w->h * w->w : NULL;
    if (dwt) {
      /* dwt[oc][r] += sum_q dy[oc][q] * col[g*kdim + r][q] */
      const float *col = im2col(s, x + n * w->c * w->h * w->w);
      #pragma omp parallel for num_threads(s->nt) schedule(dynamic, 1)
      for (int64_t oc = 0; oc < m; oc++) {
        const float *dyr = dyn + oc * s->p;
        const float *cg = col + (oc / s->mg) * s->kdim * s->p;
        for (int64_t r = 0; r < s->kdim; r++) {
          const float *cr = cg + r * s->p;
          double sum = 0;
          for (int64_t q = 0; q < s->p; q++) sum += (double)dyr[q] * cr[q];
          dwt[oc * s->kdim + r] += (float)sum;
        }
      }
    }
    if (dxn) {
      /* dcol[g*kdim + r][q] = sum_{oc in group g} wt[oc][r] * dy[oc][q]; written over the column
       * buffer (no longer needed for this image), or straight into dx when the columns are x. */
      int64_t rows = w->c * w->k[0] * w->k[1];
      #pragma omp parallel for num_threads(s->nt) schedule(dynamic, 1)
      for (int64_t row = 0; row < rows; row++) {
        double *acc = s->acc + (int64_t)omp_get_thread_num() * s->p;
        int64_t g = row / s->kdim, r = row % s->kdim;
        for (int64_t q = 0; q < s->p; q++) acc[q] = 0;
        for (int64_t oc = g * s->mg; oc < (g + 1) * s->mg; oc++) {
          double wv = wt[oc * s->kdim + r];
          const float *dyr = dyn + oc * s->p;
          for (int64_t q = 0; q < s->p; q++) acc[q] += wv * dyr[q];
        }
        if (s->direct) {
          for (int64_t q = 0; q < s->p; q++) dxn[row * s->p + q] += (float)acc[q];
        } else {
          for (int64_t q = 0; q < s->p; q++) s->col[row * s->p + q] = (float)acc[q];
        }
      }
      if (!s->direct) col2im_add(s, s->col, dxn);
    }
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_conv = {.name = "ref", .prepare = conv_prepare, .release = conv_release,
                                  .forward = conv_forward, .backward = conv_backward};
