/* Reference kernel for Resize. Each output coordinate along H and W is mapped to a source
 * coordinate (ONNX coordinate_transformation_mode) and turned into taps — (index, weight) pairs:
 * one for nearest, two for linear, four for cubic — so that
 *   y[p][oh][ow] = sum_a sum_b wh[oh][a] * ww[ow][b] * x[plane(p)][ih[oh][a]][iw[ow][b]].
 * Leading dims (N, C) are resized by nearest only (plane(p)); linear/cubic keep them.
 * Backward is the transpose of the same separable map, accumulated in double per plane. */
#include "ops/shape.h"

#include <math.h>
#include <omp.h>
#include <string.h>

typedef struct resize_state {
  int64_t planes_out, ih, iw, oh, ow;
  int th, tw;              /* taps per output row / column */
  int64_t *hidx, *widx;    /* (oh, th) and (ow, tw) source indices */
  double *hw, *ww;         /* matching weights */
  int64_t *plane;          /* (planes_out): input plane read by each output plane */
  bool planes_identity;    /* plane[p] == p: backward may run planes in parallel */
  int nthreads;
  double *work;            /* nthreads * (oh*iw + ih*iw): per-thread backward workspace */
} resize_state;

/* Source coordinate of output index o along an axis of in -> out elements (ONNX Resize-13). */
static double source_coord(const sal__resize_params *p, int64_t o, int64_t in, int64_t out, double scale) {
  switch (p->coord) {
    case SAL__COORD_PYTORCH_HALF_PIXEL: return out > 1 ? ((double)o + 0.5) / scale - 0.5 : 0.0;
    case SAL__COORD_ALIGN_CORNERS: return out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
    case SAL__COORD_ASYMMETRIC: return (double)o / scale;
    case SAL__COORD_TF_HALF_PIXEL_FOR_NN: return ((double)o + 0.5) / scale;
    default: return ((double)o + 0.5) / scale - 0.5; /* half_pixel */
  }
}

static int64_t clampi(int64_t i, int64_t n) { return i < 0 ? 0 : (i >= n ? n - 1 : i); }

static int64_t nearest_index(sal__resize_round mode, double x, int64_t in) {
  double f = floor(x);
  double i;
  switch (mode) {
    case SAL__ROUND_FLOOR: i = f; break;
    case SAL__ROUND_CEIL: i = ceil(x); break;
    case SAL__ROUND_PREFER_CEIL: i = x - f == 0.5 ? f + 1.0 : round(x); break;
    default: i = x - f == 0.5 ? f : round(x); break;
  }
  return clampi((int64_t)i, in);
}

static int ntaps(sal__resize_mode mode) { return mode == SAL__RESIZE_NEAREST ? 1 : mode == SAL__RESIZE_LINEAR ? 2 : 4; }

/* Fills taps (out x t) for one axis. Out-of-range taps are clamped to the edge (ONNX pads the
 * input by edge replication), or dropped with the rest renormalised when exclude_outside. */
static void axis_taps(const sal__resize_params *p, int64_t in, int64_t out, double scale, int t, int64_t *idx,
                      double *w) {
  for (int64_t o = 0; o < out; o++) {
    int64_t *ix = idx + o * t;
    double *wx = w + o * t;
    double x = source_coord(p, o, in, out, scale);
    if (p->mode == SAL__RESIZE_NEAREST) {
      ix[0] = nearest_index(p->round, x, in);
      wx[0] = 1.0;
      continue;
    }
    double f0 = floor(x), r = x - f0;
    int64_t i0 = (int64_t)f0;
    if (p->mode == SAL__RESIZE_LINEAR) {
      ix[0] = i0;
      ix[1] = i0 + 1;
      wx[0] = 1.0 - r;
      wx[1] = r;
    } else {
      /* Keys' cubic convolution kernel with a = cubic_coeff_a at distances 1+r, r, 1-r, 2-r. */
      double A = p->cubic_a, r1 = r + 1.0, q = 1.0 - r, q1 = 2.0 - r;
      ix[0] = i0 - 1;
      ix[1] = i0;
      ix[2] = i0 + 1;
      ix[3] = i0 + 2;
      wx[0] = ((A * r1 - 5.0 * A) * r1 + 8.0 * A) * r1 - 4.0 * A;
      wx[1] = ((A + 2.0) * r - (A + 3.0)) * r * r + 1.0;
      wx[2] = ((A + 2.0) * q - (A + 3.0)) * q * q + 1.0;
      wx[3] = ((A * q1 - 5.0 * A) * q1 + 8.0 * A) * q1 - 4.0 * A;
    }
    if (p->exclude_outside) {
      double sum = 0.0;
      for (int a = 0; a < t; a++) {
        if (ix[a] < 0 || ix[a] >= in) wx[a] = 0.0;
        sum += wx[a];
      }
      if (sum != 0.0)
        for (int a = 0; a < t; a++) wx[a] /= sum;
    }
    for (int a = 0; a < t; a++) ix[a] = clampi(ix[a], in);
  }
}

static void resize_release(sal_kctx *k) {
  resize_state *s = k->state;
  if (s) {
    sal_free(s->hidx);
    sal_free(s->widx);
    sal_free(s->hw);
    sal_free(s->ww);
    sal_free(s->plane);
    sal_free(s->work);
  }
  sal_free(s);
  k->state = NULL;
}

static sal_status resize_prepare(sal_kctx *k) {
  const sal_shape *xs = &k->in[0]->shape;
  sal__resize_params p;
  sal_status st = sal__resize_parse(k->ctx, k->graph, k->node, xs, &p);
  if (st) return st;
  resize_state *s = sal_calloc(k->ctx, 1, sizeof *s);
  if (!s) return SAL_STATUS_OUT_OF_MEMORY;
  k->state = s;
  /* View x as (planes, ih, iw) and y as (planes_out, oh, ow); a 1-D tensor has ih = oh = 1. */
  int r = xs->ndim, lead = r >= 2 ? r - 2 : 0;
  int dh = r - 2, dw = r - 1;
  s->ih = r >= 2 ? xs->d[dh] : 1;
  s->oh = r >= 2 ? p.out.d[dh] : 1;
  s->iw = xs->d[dw];
  s->ow = p.out.d[dw];
  s->th = r >= 2 ? ntaps(p.mode) : 1;
  s->tw = ntaps(p.mode);
  s->planes_out = 1;
  for (int d = 0; d < lead; d++) s->planes_out *= p.out.d[d];
  s->nthreads = omp_get_max_threads();
  s->hidx = sal_calloc(k->ctx, (size_t)(s->oh * s->th), sizeof(int64_t));
  s->hw = sal_calloc(k->ctx, (size_t)(s->oh * s->th), sizeof(double));
  s->widx = sal_calloc(k->ctx, (size_t)(s->ow * s->tw), sizeof(int64_t));
  s->ww = sal_calloc(k->ctx, (size_t)(s->ow * s->tw), sizeof(double));
  s->plane = sal_calloc(k->ctx, (size_t)(s->planes_out ? s->planes_out : 1), sizeof(int64_t));
  s->work = sal_calloc(k->ctx, (size_t)s->nthreads * (size_t)(s->oh * s->iw + s->ih * s->iw), sizeof(double));
  if (!s->hidx || !s->hw || !s->widx || !s->ww || !s->plane || !s->work) {
    resize_release(k);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  if (r >= 2) {
    axis_taps(&p, s->ih, s->oh, p.scale[dh], s->th, s->hidx, s->hw);
  } else {
    s->hidx[0] = 0;
    s->hw[0] = 1.0;
  }
  axis_taps(&p, s->iw, s->ow, p.scale[dw], s->tw, s->widx, s->ww);
  /* Leading dims: nearest taps with this node's rounding (identity when they keep their size
   * and scale 1, which the shape rule requires for linear and cubic). */
  s->planes_identity = true;
  for (int64_t q = 0; q < s->planes_out; q++) {
    int64_t rem = q, ip = 0, stride = 1;
    for (int d = lead - 1; d >= 0; d--) {
      int64_t o = rem % p.out.d[d];
      rem /= p.out.d[d];
      int64_t i = nearest_index(p.round, source_coord(&p, o, xs->d[d], p.out.d[d], p.scale[d]), xs->d[d]);
      ip += i * stride;
      stride *= xs->d[d];
    }
    s->plane[q] = ip;
    if (ip != q) s->planes_identity = false;
  }
  return SAL_STATUS_OK;
}

static sal_status resize_forward(sal_kctx *k) {
  // x is (planes_in, ih, iw); y is (planes_out, oh, ow)
  const resize_state *s = k->state;
  const float *x = k->in[0]->data;
  float *y = k->out[0]->data;
  int64_t rows = s->planes_out * s->oh;
  #pragma omp parallel for if (rows * s->ow > 32768) schedule(static)
  for (int64_t row = 0; row < rows; row++) {
    int64_t q = row / s->oh, oh = row % s->oh;
    const float *xp = x + s->plane[q] * s->ih * s->iw;
    float *yr = y + row * s->ow;
    for (int64_t ow = 0; ow < s->ow; ow++) {
      double acc = 0.0;
      for (int a = 0; a < s->th; a++) {
        const float *xr = xp + s->hidx[oh * s->th + a] * s->iw;
        double wa = s->hw[oh * s->th + a];
        for (int b = 0; b < s->tw; b++) acc += wa * s->ww[ow * s->tw + b] * xr[s->widx[ow * s->tw + b]];
      }
      yr[ow] = (float)acc;
    }
  }
  return SAL_STATUS_OK;
}

/* dx plane += A_h^T dy_plane A_w, via tmp = dy A_w (oh, iw) then acc = A_h^T tmp (ih, iw). */
static void plane_backward(const resize_state *s, const float *dy, float *dx, double *work) {
  double *tmp = work, *acc = work + s->oh * s->iw;
  memset(work, 0, (size_t)(s->oh * s->iw + s->ih * s->iw) * sizeof(double));
  for (int64_t oh = 0; oh < s->oh; oh++)
    for (int64_t ow = 0; ow < s->ow; ow++) {
      double g = dy[oh * s->ow + ow];
      for (int b = 0; b < s->tw; b++) tmp[oh * s->iw + s->widx[ow * s->tw + b]] += s->ww[ow * s->tw + b] * g;
    }
  for (int64_t oh = 0; oh < s->oh; oh++)
    for (int a = 0; a < s->th; a++) {
      double *ar = acc + s->hidx[oh * s->th + a] * s->iw;
      double wa = s->hw[oh * s->th + a];
      for (int64_t iw = 0; iw < s->iw; iw++) ar[iw] += wa * tmp[oh * s->iw + iw];
    }
  for (int64_t i = 0; i < s->ih * s->iw; i++) dx[i] += (float)acc[i];
}

static sal_status resize_backward(sal_kctx *k) {
  // dy is (planes_out, oh, ow); dx is (planes_in, ih, iw)
  if (!k->din[0]) return SAL_STATUS_OK;
  sal__grad_prepare(k, 0);
  if (!k->dout[0]) return SAL_STATUS_OK;
  resize_state *s = k->state;
  const float *dy = k->dout[0]->data;
  float *dx = k->din[0]->data;
  int64_t osz = s->oh * s->ow, isz = s->ih * s->iw, wsz = s->oh * s->iw + s->ih * s->iw;
  if (s->planes_identity) {
    /* Each output plane feeds its own input plane: planes are independent. */
    #pragma omp parallel for num_threads(s->nthreads) if (s->planes_out > 1 && s->planes_out * osz > 32768) schedule(static)
    for (int64_t q = 0; q < s->planes_out; q++)
      plane_backward(s, dy + q * osz, dx + q * isz, s->work + (int64_t)omp_get_thread_num() * wsz);
  } else {
    for (int64_t q = 0; q < s->planes_out; q++) plane_backward(s, dy + q * osz, dx + s->plane[q] * isz, s->work);
  }
  return SAL_STATUS_OK;
}

const sal_kernel sal__ref_resize = {.name = "ref",
                                    .prepare = resize_prepare,
                                    .release = resize_release,
                                    .forward = resize_forward,
                                    .backward = resize_backward};
