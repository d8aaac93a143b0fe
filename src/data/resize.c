/* Resampling: PIL's antialiased resize on 8-bit pixels (bit-exact with Pillow 9.4), torch's antialiased
 * float resize and PIL's nearest rule. Used by src/data/preprocess.c, public for tensors and tests. */
#include "data/resize.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

/* PIL keeps 8-bit coefficients in fixed point with 32 - 8 - 2 fractional bits (Resample.c
 * PRECISION_BITS): 8 bits of pixel, 2 bits of headroom for negative bicubic lobes. */
#define PIL_PRECISION_BITS (32 - 8 - 2)

void *sal__ws_get(sal_ctx *ctx, sal_workspace *ws, int slot, size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (ws->buf[slot] && ws->cap[slot] >= bytes) return ws->buf[slot];
  sal_free(ws->buf[slot]);
  ws->buf[slot] = sal_alloc(ctx, bytes);
  ws->cap[slot] = ws->buf[slot] ? bytes : 0;
  return ws->buf[slot];
}

sal_status sal_workspace_new(sal_ctx *ctx, sal_workspace **out) {
  *out = sal_calloc(ctx, 1, sizeof **out);
  return *out ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
}

void sal_workspace_free(sal_workspace *ws) {
  if (!ws) return;
  for (int i = 0; i < SAL__WS_SLOTS; i++) sal_free(ws->buf[i]);
  sal_free(ws);
}

/* The filters of PIL (Resample.c: bilinear_filter, bicubic_filter with a = -0.5, Keys 1981) in
 * double, and of torch (UpSampleKernel.cpp aa_filter) in float: the same functions. Support 1 and
 * 2 source pixels at scale 1. */
static double filter_d(sal_interp it, double x) {
  if (x < 0) x = -x;
  if (it == SAL_INTERP_BILINEAR) return x < 1.0 ? 1.0 - x : 0.0;
  const double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

static float filter_f(sal_interp it, float x) {
  x = fabsf(x);
  if (it == SAL_INTERP_BILINEAR) return x < 1.0f ? 1.0f - x : 0.0f;
  const float a = -0.5f;
  if (x < 1.0f) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0f) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0f;
}

static double base_support(sal_interp it) { return it == SAL_INTERP_BILINEAR ? 1.0 : 2.0; }

/* PIL precompute_coeffs for one axis (in -> out samples), output indices [o0, o0 + no): bound[2i] is
 * the first source index, bound[2i+1] the tap count, k[i·ksize ..] the weights normalised to sum 1.
 * Output xx's centre (xx + 0.5)·scale in source coordinates; the filter is stretched by
 * max(scale, 1) when shrinking (the antialiasing). */
static int64_t pil_ksize(int64_t in, int64_t out, sal_interp it) {
  double scale = (double)in / (double)out, fs = scale < 1.0 ? 1.0 : scale;
  return (int64_t)ceil(base_support(it) * fs) * 2 + 1;
}

static void pil_coeffs(int64_t in, int64_t out, sal_interp it, int64_t o0, int64_t no, int64_t ksize, int64_t *bound,
                       double *k) {
  double scale = (double)in / (double)out, fs = scale < 1.0 ? 1.0 : scale;
  double support = base_support(it) * fs, ss = 1.0 / fs;
  for (int64_t i = 0; i < no; i++) {
    int64_t xx = o0 + i;
    double center = ((double)xx + 0.5) * scale, ww = 0.0;
    int64_t xmin = (int64_t)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = (int64_t)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double *kk = k + i * ksize;
    for (int64_t x = 0; x < xmax; x++) {
      double w = filter_d(it, ((double)(x + xmin) - center + 0.5) * ss);
      kk[x] = w;
      ww += w;
    }
    for (int64_t x = 0; x < xmax; x++)
      if (ww != 0.0) kk[x] /= ww;
    for (int64_t x = xmax; x < ksize; x++) kk[x] = 0.0;
    bound[2 * i] = xmin;
    bound[2 * i + 1] = xmax;
  }
}

/* torch 1.13 _compute_weights_aa with scalar_t = float, mirroring its mixed float/double
 * expressions so that tap ranges and weights match bit for bit. */
static int64_t torch_ksize(int64_t in, int64_t out, sal_interp it) {
  float scale = (float)in / (float)out;
  float support = scale >= 1.0f ? (float)(base_support(it) * scale) : (float)base_support(it);
  return (int64_t)ceilf(support) * 2 + 1;
}

static void torch_coeffs(int64_t in, int64_t out, sal_interp it, int64_t o0, int64_t no, int64_t ksize, int64_t *bound,
                         float *k) {
  float scale = (float)in / (float)out;
  float support = scale >= 1.0f ? (float)(base_support(it) * scale) : (float)base_support(it);
  float invscale = scale >= 1.0f ? (float)(1.0 / (double)scale) : 1.0f;
  for (int64_t i = 0; i < no; i++) {
    int64_t xx = o0 + i;
    float center = (float)((double)scale * ((double)xx + 0.5));
    int64_t xmin = (int64_t)((double)(center - support) + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = (int64_t)((double)(center + support) + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    float *kk = k + i * ksize, total = 0.0f;
    for (int64_t x = 0; x < xmax; x++) {
      float t = (float)(x + xmin) - center;
      float w = filter_f(it, (float)(((double)t + 0.5) * (double)invscale));
      kk[x] = w;
      total += w;
    }
    for (int64_t x = 0; x < xmax; x++)
      if (total != 0.0f) kk[x] /= total;
    for (int64_t x = xmax; x < ksize; x++) kk[x] = 0.0f;
    bound[2 * i] = xmin;
    bound[2 * i + 1] = xmax;
  }
}

/* PIL's nearest (ImagingScaleAffine): the source coordinate of output pixel centres, accumulated
 * as PIL does (xo = 0.5·a, then xo += a per pixel with a = in/out in double) and truncated. The
 * accumulation matters: floor((x + 0.5)·a) differs from PIL for ~1 size pair in 6. */
static void nearest_index(int64_t in, int64_t out, int64_t o0, int64_t no, int64_t *idx) {
  double a = (double)in / (double)out, xo = a * 0.5;
  for (int64_t x = 0; x < o0 + no; x++, xo += a) {
    if (x < o0) continue;
    int64_t v = (int64_t)xo;
    idx[x - o0] = v < 0 ? 0 : v >= in ? in - 1 : v;
  }
}

/* Tap range of the rows a set of vertical bounds reads: [lo, hi). */
static void row_span(const int64_t *bound, int64_t n, int64_t *lo, int64_t *hi) {
  *lo = bound[0];
  *hi = bound[0] + bound[1];
  for (int64_t i = 1; i < n; i++) {
    if (bound[2 * i] < *lo) *lo = bound[2 * i];
    if (bound[2 * i] + bound[2 * i + 1] > *hi) *hi = bound[2 * i] + bound[2 * i + 1];
  }
}

static inline uint8_t clip8(int64_t v) {
  if (v >= ((int64_t)1 << PIL_PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PIL_PRECISION_BITS);
}

/* Sizes in bytes for n items of s bytes, failing on overflow. */
static bool nbytes(int64_t n, size_t s, size_t *out) { return n >= 0 && sal_mul_size((size_t)n, s, out); }

/* PIL's NEAREST for either sample type: the window [x0, x0+nx) × [y0, y0+ny) of the dw × dh
 * output copies whole source pixels (c samples of esz bytes; source pixel stride ps samples). */
static sal_status nearest_window(sal_ctx *ctx, sal_workspace *ws, const unsigned char *src, size_t esz, int64_t sw,
                                 int64_t sh, int ps, int c, int64_t dw, int64_t dh, int64_t x0, int64_t nx, int64_t y0,
                                 int64_t ny, unsigned char *dst) {
  size_t b1, b2;
  int64_t *xi = NULL, *yi = NULL;
  if (nbytes(nx, sizeof *xi, &b1) && nbytes(ny, sizeof *yi, &b2)) {
    xi = sal__ws_get(ctx, ws, SAL__WS_HBOUND, b1);
    yi = sal__ws_get(ctx, ws, SAL__WS_VBOUND, b2);
  }
  if (!xi || !yi) return SAL_STATUS_OUT_OF_MEMORY;
  nearest_index(sw, dw, x0, nx, xi);
  nearest_index(sh, dh, y0, ny, yi);
  const size_t px = (size_t)c * esz, stride = (size_t)ps * esz;
  for (int64_t j = 0; j < ny; j++) {
    const unsigned char *row = src + (size_t)yi[j] * (size_t)sw * stride;
    for (int64_t i = 0; i < nx; i++) memcpy(dst + (size_t)(j * nx + i) * px, row + (size_t)xi[i] * stride, px);
  }
  return SAL_STATUS_OK;
}

sal_status sal__resize_u8_window(sal_ctx *ctx, sal_workspace *ws, const uint8_t *src, int64_t sw, int64_t sh, int ps,
                                 int c, int64_t dw, int64_t dh, sal_interp interp, int64_t x0, int64_t nx, int64_t y0,
                                 int64_t ny, uint8_t *dst) {
  if (nx <= 0 || ny <= 0) return SAL_STATUS_OK;
  size_t b1, b2;
  if (interp == SAL_INTERP_NEAREST)
    return nearest_window(ctx, ws, (const unsigned char *)src, sizeof *src, sw, sh, ps, c, dw, dh, x0, nx, y0, ny,
                          (unsigned char *)dst);
  int64_t hk = pil_ksize(sw, dw, interp), vk = pil_ksize(sh, dh, interp);
  size_t hc_b, vc_b;
  int64_t *hb = NULL, *vb = NULL;
  double *hd = NULL, *vd = NULL;
  if (nbytes(2 * nx, sizeof(int64_t), &b1) && nbytes(2 * ny, sizeof(int64_t), &b2) &&
      nbytes(nx * hk, sizeof(double) + sizeof(int32_t), &hc_b) && nbytes(ny * vk, sizeof(double) + sizeof(int32_t), &vc_b)) {
    hb = sal__ws_get(ctx, ws, SAL__WS_HBOUND, b1);
    vb = sal__ws_get(ctx, ws, SAL__WS_VBOUND, b2);
    hd = sal__ws_get(ctx, ws, SAL__WS_HCOEF, hc_b);
    vd = sal__ws_get(ctx, ws, SAL__WS_VCOEF, vc_b);
  }
  if (!hb || !vb || !hd || !vd) return SAL_STATUS_OUT_OF_MEMORY;
  pil_coeffs(sw, dw, interp, x0, nx, hk, hb, hd);
  pil_coeffs(sh, dh, interp, y0, ny, vk, vb, vd);
  /* normalize_coeffs_8bpc: round half away from zero to PRECISION_BITS fixed point. The integer
   * weights live after the doubles in the same slot. */
  int32_t *hi = (int32_t *)(hd + nx * hk), *vi = (int32_t *)(vd + ny * vk);
  for (int64_t i = 0; i < nx * hk; i++)
    hi[i] = hd[i] < 0 ? (int32_t)(-0.5 + hd[i] * (1 << PIL_PRECISION_BITS)) : (int32_t)(0.5 + hd[i] * (1 << PIL_PRECISION_BITS));
  for (int64_t i = 0; i < ny * vk; i++)
    vi[i] = vd[i] < 0 ? (int32_t)(-0.5 + vd[i] * (1 << PIL_PRECISION_BITS)) : (int32_t)(0.5 + vd[i] * (1 << PIL_PRECISION_BITS));
  int64_t ylo, yhi;
  row_span(vb, ny, &ylo, &yhi);
  size_t tb;
  uint8_t *tmp = NULL;
  if (nbytes((yhi - ylo) * nx, (size_t)c, &tb)) tmp = sal__ws_get(ctx, ws, SAL__WS_TMP, tb);
  if (!tmp) return SAL_STATUS_OUT_OF_MEMORY;
  /* Horizontal pass over the source rows the vertical pass reads: tmp is (yhi - ylo, nx, c). The
   * rounding 1 << (PRECISION_BITS - 1) is added before the truncating shift, as in PIL. */
  for (int64_t y = ylo; y < yhi; y++) {
    const uint8_t *row = src + (size_t)y * (size_t)sw * (size_t)ps;
    uint8_t *t = tmp + (size_t)(y - ylo) * (size_t)nx * (size_t)c;
    for (int64_t i = 0; i < nx; i++) {
      int64_t lo = hb[2 * i], n = hb[2 * i + 1];
      const int32_t *k = hi + i * hk;
      for (int ch = 0; ch < c; ch++) {
        int64_t ss = (int64_t)1 << (PIL_PRECISION_BITS - 1);
        for (int64_t x = 0; x < n; x++) ss += (int64_t)row[(size_t)(lo + x) * (size_t)ps + (size_t)ch] * k[x];
        t[(size_t)i * (size_t)c + (size_t)ch] = clip8(ss);
      }
    }
  }
  /* Vertical pass: dst is (ny, nx, c). */
  size_t tstride = (size_t)nx * (size_t)c;
  for (int64_t j = 0; j < ny; j++) {
    int64_t lo = vb[2 * j] - ylo, n = vb[2 * j + 1];
    const int32_t *k = vi + j * vk;
    uint8_t *d = dst + (size_t)j * tstride;
    for (size_t q = 0; q < tstride; q++) {
      int64_t ss = (int64_t)1 << (PIL_PRECISION_BITS - 1);
      for (int64_t y = 0; y < n; y++) ss += (int64_t)tmp[(size_t)(lo + y) * tstride + q] * k[y];
      d[q] = clip8(ss);
    }
  }
  return SAL_STATUS_OK;
}

sal_status sal__resize_f32_window(sal_ctx *ctx, sal_workspace *ws, const float *src, int64_t sw, int64_t sh, int ps,
                                  int c, int64_t dw, int64_t dh, sal_interp interp, int64_t x0, int64_t nx, int64_t y0,
                                  int64_t ny, float *dst) {
  if (nx <= 0 || ny <= 0) return SAL_STATUS_OK;
  size_t b1, b2;
  if (interp == SAL_INTERP_NEAREST)
    return nearest_window(ctx, ws, (const unsigned char *)src, sizeof *src, sw, sh, ps, c, dw, dh, x0, nx, y0, ny,
                          (unsigned char *)dst);
  int64_t hk = torch_ksize(sw, dw, interp), vk = torch_ksize(sh, dh, interp);
  size_t hc_b, vc_b;
  int64_t *hb = NULL, *vb = NULL;
  float *hf = NULL, *vf = NULL;
  if (nbytes(2 * nx, sizeof(int64_t), &b1) && nbytes(2 * ny, sizeof(int64_t), &b2) && nbytes(nx * hk, sizeof(float), &hc_b) &&
      nbytes(ny * vk, sizeof(float), &vc_b)) {
    hb = sal__ws_get(ctx, ws, SAL__WS_HBOUND, b1);
    vb = sal__ws_get(ctx, ws, SAL__WS_VBOUND, b2);
    hf = sal__ws_get(ctx, ws, SAL__WS_HCOEF, hc_b);
    vf = sal__ws_get(ctx, ws, SAL__WS_VCOEF, vc_b);
  }
  if (!hb || !vb || !hf || !vf) return SAL_STATUS_OUT_OF_MEMORY;
  torch_coeffs(sw, dw, interp, x0, nx, hk, hb, hf);
  torch_coeffs(sh, dh, interp, y0, ny, vk, vb, vf);
  int64_t ylo, yhi;
  row_span(vb, ny, &ylo, &yhi);
  size_t tb;
  float *tmp = NULL;
  if (nbytes((yhi - ylo) * nx * c, sizeof(float), &tb)) tmp = sal__ws_get(ctx, ws, SAL__WS_TMP, tb);
  if (!tmp) return SAL_STATUS_OUT_OF_MEMORY;
  /* Width first, then height, each a float sum started from the first tap (torch's
   * interpolate_aa_single_dim). tmp is (yhi - ylo, nx, c). */
  for (int64_t y = ylo; y < yhi; y++) {
    const float *row = src + (size_t)y * (size_t)sw * (size_t)ps;
    float *t = tmp + (size_t)(y - ylo) * (size_t)nx * (size_t)c;
    for (int64_t i = 0; i < nx; i++) {
      int64_t lo = hb[2 * i], n = hb[2 * i + 1];
      const float *k = hf + i * hk;
      for (int ch = 0; ch < c; ch++) {
        const float *s = row + (size_t)lo * (size_t)ps + (size_t)ch;
        float acc = s[0] * k[0];
        for (int64_t x = 1; x < n; x++) acc += s[(size_t)x * (size_t)ps] * k[x];
        t[(size_t)i * (size_t)c + (size_t)ch] = acc;
      }
    }
  }
  size_t tstride = (size_t)nx * (size_t)c;
  for (int64_t j = 0; j < ny; j++) {
    int64_t lo = vb[2 * j] - ylo, n = vb[2 * j + 1];
    const float *k = vf + j * vk;
    float *d = dst + (size_t)j * tstride;
    for (size_t q = 0; q < tstride; q++) {
      const float *s = tmp + (size_t)lo * tstride + q;
      float acc = s[0] * k[0];
      for (int64_t y = 1; y < n; y++) acc += s[(size_t)y * tstride] * k[y];
      d[q] = acc;
    }
  }
  return SAL_STATUS_OK;
}

/* Public size checks shared by both entry points: 1 <= sides, area within 16 × the default image
 * limit (as sal_image_new). */
static bool size_ok(int64_t w, int64_t h) { return w >= 1 && h >= 1 && w <= SAL_IMAGE_MAX_PIXELS_DEFAULT * 16 / h; }

static sal_status check_args(sal_ctx *ctx, const void *src, const void *dst, int64_t sw, int64_t sh, int64_t dw,
                             int64_t dh, int64_t c, sal_interp interp) {
  if (!src || !dst) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resize: NULL %s", src ? "dst" : "src");
  if (!size_ok(sw, sh) || !size_ok(dw, dh) || c < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resize: bad sizes %lld x %lld -> %lld x %lld with %lld channels",
                         (long long)sw, (long long)sh, (long long)dw, (long long)dh, (long long)c);
  if (interp != SAL_INTERP_NEAREST && interp != SAL_INTERP_BILINEAR && interp != SAL_INTERP_BICUBIC)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resize: unknown interpolation %d", (int)interp);
  return SAL_STATUS_OK;
}

sal_status sal_resize_u8(sal_ctx *ctx, sal_workspace *ws, const uint8_t *src, int64_t sw, int64_t sh, int c,
                         uint8_t *dst, int64_t dw, int64_t dh, sal_interp interp) {
  sal_status st = check_args(ctx, src, dst, sw, sh, dw, dh, c, interp);
  if (st != SAL_STATUS_OK) return st;
  if (c > 4) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "resize: %d channels (1..4)", c);
  sal_workspace *own = NULL;
  if (!ws && (st = sal_workspace_new(ctx, &own)) != SAL_STATUS_OK) return st;
  st = sal__resize_u8_window(ctx, ws ? ws : own, src, sw, sh, c, c, dw, dh, interp, 0, dw, 0, dh, dst);
  sal_workspace_free(own);
  return st;
}

sal_status sal_resize_f32(sal_ctx *ctx, sal_workspace *ws, const float *src, int64_t c, int64_t sw, int64_t sh,
                          float *dst, int64_t dw, int64_t dh, sal_interp interp) {
  sal_status st = check_args(ctx, src, dst, sw, sh, dw, dh, c, interp);
  if (st != SAL_STATUS_OK) return st;
  sal_workspace *own = NULL;
  if (!ws && (st = sal_workspace_new(ctx, &own)) != SAL_STATUS_OK) return st;
  for (int64_t p = 0; p < c && st == SAL_STATUS_OK; p++)
    st = sal__resize_f32_window(ctx, ws ? ws : own, src + (size_t)(p * sw * sh), sw, sh, 1, 1, dw, dh, interp, 0, dw, 0, dh,
                                dst + (size_t)(p * dw * dh));
  sal_workspace_free(own);
  return st;
}
