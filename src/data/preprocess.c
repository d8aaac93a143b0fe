/* Evaluation preprocessing as torchvision's ImageNet transform: resize, centre crop, [0,1], normalise
 * into a (C,H,W) float buffer, and the same geometry for masks/boxes/points. Called per image by loaders. */
#include "data/resize.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

sal_preprocess sal_preprocess_default(void) {
  sal_preprocess p;
  memset(&p, 0, sizeof p);
  p.resize = 256;
  p.interp = SAL_INTERP_BILINEAR;
  p.crop_w = p.crop_h = 224;
  /* torchvision references/classification: the ImageNet channel statistics. */
  p.mean[0] = 0.485f, p.mean[1] = 0.456f, p.mean[2] = 0.406f;
  p.std[0] = 0.229f, p.std[1] = 0.224f, p.std[2] = 0.225f;
  p.channels = 3;
  return p;
}

void sal_resize_shorter(int64_t w, int64_t h, int64_t size, int64_t *out_w, int64_t *out_h) {
  /* torchvision 0.14 _compute_resized_output_size: new_long = int(size * long / short), Python true
   * division (a correctly rounded double) then truncation; the product and both sides are exact in
   * double for any size below 2^53. */
  if (w < 1 || h < 1 || size < 1) {
    *out_w = *out_h = 0;
    return;
  }
  int64_t s = w <= h ? w : h, l = w <= h ? h : w;
  int64_t nl = (int64_t)((double)(size * l) / (double)s);
  if (w <= h) *out_w = size, *out_h = nl;
  else *out_w = nl, *out_h = size;
}

int64_t sal_center_crop_offset(int64_t size, int64_t crop) {
  if (crop > size) return -((crop - size) / 2);
  /* int(round((size - crop) / 2.0)): Python rounds halves to even. */
  int64_t d = size - crop, half = d / 2;
  if (d % 2 == 1 && half % 2 == 1) half++;
  return half;
}

static bool side_ok(int64_t w, int64_t h) { return w >= 1 && h >= 1 && w <= SAL_IMAGE_MAX_PIXELS_DEFAULT * 16 / h; }

sal_status sal_preprocess_geometry(sal_ctx *ctx, const sal_preprocess *p, int64_t w, int64_t h, sal_geom *g) {
  memset(g, 0, sizeof *g);
  if (!p) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: NULL settings");
  if (!side_ok(w, h))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: bad image size %lld x %lld", (long long)w, (long long)h);
  if (p->resize < 0 || p->resize_w < 0 || p->resize_h < 0 || p->crop_w < 0 || p->crop_h < 0 ||
      (p->resize == 0 && (p->resize_w > 0) != (p->resize_h > 0)) || (p->crop_w > 0) != (p->crop_h > 0))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "preprocess: bad sizes (resize %lld, resize_w %lld, resize_h %lld, crop %lld x %lld; "
                         "give both sides of an exact resize and of a crop)",
                         (long long)p->resize, (long long)p->resize_w, (long long)p->resize_h, (long long)p->crop_w,
                         (long long)p->crop_h);
  if (p->interp != SAL_INTERP_NEAREST && p->interp != SAL_INTERP_BILINEAR && p->interp != SAL_INTERP_BICUBIC)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: unknown interpolation %d", (int)p->interp);
  if (p->channels != 1 && p->channels != 3)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: channels %d (1 or 3)", p->channels);
  for (int c = 0; c < p->channels; c++)
    if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: channel %d has mean %g, std %g", c, (double)p->mean[c],
                           (double)p->std[c]);
  int64_t rw = w, rh = h;
  if (p->resize > 0) {
    if (p->resize > SAL_IMAGE_MAX_PIXELS_DEFAULT)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: resize %lld is too large", (long long)p->resize);
    sal_resize_shorter(w, h, p->resize, &rw, &rh);
  } else if (p->resize_w > 0) {
    rw = p->resize_w, rh = p->resize_h;
  }
  int64_t cw = p->crop_w > 0 ? p->crop_w : rw, ch = p->crop_h > 0 ? p->crop_h : rh;
  if (!side_ok(rw, rh) || !side_ok(cw, ch))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: %lld x %lld resized to %lld x %lld, cropped to %lld x %lld: too large",
                         (long long)w, (long long)h, (long long)rw, (long long)rh, (long long)cw, (long long)ch);
  g->src_w = w, g->src_h = h;
  g->resized_w = rw, g->resized_h = rh;
  g->crop_x = sal_center_crop_offset(rw, cw);
  g->crop_y = sal_center_crop_offset(rh, ch);
  g->out_w = cw, g->out_h = ch;
  /* PIL's resize maps output pixel centre j + 0.5 to source (j + 0.5) · w / rw: continuous
   * coordinates scale by rw / w with no offset; the crop then shifts by its offset. */
  g->sx = (double)rw / (double)w;
  g->sy = (double)rh / (double)h;
  g->ox = -(double)g->crop_x;
  g->oy = -(double)g->crop_y;
  return SAL_STATUS_OK;
}

/* The part of the resized image the crop reads: resized [x0, x0 + nx) lands at output column
 * x0 - crop_x. */
typedef struct window {
  int64_t x0, nx, y0, ny;
} window;

static window crop_window(const sal_geom *g) {
  window w;
  w.x0 = g->crop_x > 0 ? g->crop_x : 0;
  int64_t x1 = g->crop_x + g->out_w < g->resized_w ? g->crop_x + g->out_w : g->resized_w;
  w.nx = x1 - w.x0;
  w.y0 = g->crop_y > 0 ? g->crop_y : 0;
  int64_t y1 = g->crop_y + g->out_h < g->resized_h ? g->crop_y + g->out_h : g->resized_h;
  w.ny = y1 - w.y0;
  return w;
}

static inline uint32_t luma(uint32_t r, uint32_t g, uint32_t b) {
  return (uint32_t)(((uint64_t)19595 * r + (uint64_t)38470 * g + (uint64_t)7471 * b + 32768) >> 16);
}

static sal_status apply(sal_ctx *ctx, const sal_preprocess *p, const sal_image *img, sal_workspace *ws, float *out,
                        const sal_geom *g) {
  window win = crop_window(g);
  int64_t w = img->width, h = img->height, npx = w * h;
  int sc = img->channels, colour = sc >= 3 ? 3 : 1;
  bool to_gray = p->channels == 1 && colour == 3;
  int rc = to_gray ? 1 : colour; /* channels resampled */
  bool use_float = img->depth == 16 || p->float_resize;
  size_t bytes;
  /* Resampled window: (ny, nx, rc), u8 or float. */
  void *wbuf = NULL;
  if (sal_mul_size((size_t)(win.nx * win.ny * rc), use_float ? sizeof(float) : 1, &bytes))
    wbuf = sal__ws_get(ctx, ws, SAL__WS_WIN, bytes);
  if (!wbuf) return SAL_STATUS_OUT_OF_MEMORY;
  sal_status st;
  if (!use_float) {
    const uint8_t *src = img->pixels;
    int ps = sc;
    if (to_gray) {
      /* PIL converts to "L" before resizing: luma first, then the 8-bit resize. */
      uint8_t *gray = sal__ws_get(ctx, ws, SAL__WS_CONV, (size_t)npx);
      if (!gray) return SAL_STATUS_OUT_OF_MEMORY;
      for (int64_t i = 0; i < npx; i++) gray[i] = (uint8_t)luma(src[i * sc], src[i * sc + 1], src[i * sc + 2]);
      src = gray, ps = 1;
    }
    st = sal__resize_u8_window(ctx, ws, src, w, h, ps, rc, g->resized_w, g->resized_h, p->interp, win.x0, win.nx,
                               win.y0, win.ny, wbuf);
  } else {
    /* Float path: samples to [0, 1] (v / 255 or v / 65535, luma first when converting), then the
     * torch-style resize. */
    float *f = NULL;
    if (sal_mul_size((size_t)npx * (size_t)rc, sizeof(float), &bytes)) f = sal__ws_get(ctx, ws, SAL__WS_CONV, bytes);
    if (!f) return SAL_STATUS_OUT_OF_MEMORY;
    float scale = img->depth == 16 ? 65535.0f : 255.0f;
    for (int64_t i = 0; i < npx; i++) {
      uint32_t v[4];
      for (int c = 0; c < colour; c++)
        v[c] = img->depth == 16 ? ((const uint16_t *)img->pixels)[i * sc + c] : ((const uint8_t *)img->pixels)[i * sc + c];
      if (to_gray) f[i] = (float)luma(v[0], v[1], v[2]) / scale;
      else
        for (int c = 0; c < rc; c++) f[i * rc + c] = (float)v[c] / scale;
    }
    st = sal__resize_f32_window(ctx, ws, f, w, h, rc, rc, g->resized_w, g->resized_h, p->interp, win.x0, win.nx, win.y0,
                                win.ny, wbuf);
  }
  if (st != SAL_STATUS_OK) return st;
  /* out is (channels, out_h, out_w): ToTensor's v / 255 then Normalize's (v - mean) / std, both in
   * float as torchvision computes them; padding is v = 0. */
  int64_t ow = g->out_w, oh = g->out_h, dx = win.x0 - g->crop_x, dy = win.y0 - g->crop_y;
  for (int c = 0; c < p->channels; c++) {
    float *o = out + (size_t)c * (size_t)(ow * oh);
    float pad = (0.0f - p->mean[c]) / p->std[c];
    int sch = rc == 1 ? 0 : c;
    for (int64_t y = 0; y < oh; y++) {
      int64_t wy = y - dy;
      for (int64_t x = 0; x < ow; x++) {
        int64_t wx = x - dx;
        float v;
        if (wy < 0 || wy >= win.ny || wx < 0 || wx >= win.nx) {
          o[y * ow + x] = pad;
          continue;
        }
        size_t k = (size_t)((wy * win.nx + wx) * rc + sch);
        v = use_float ? ((const float *)wbuf)[k] : (float)((const uint8_t *)wbuf)[k] / 255.0f;
        o[y * ow + x] = (v - p->mean[c]) / p->std[c];
      }
    }
  }
  return SAL_STATUS_OK;
}

sal_status sal_preprocess_image(sal_ctx *ctx, const sal_preprocess *p, const sal_image *img, sal_workspace *ws,
                                float *out, int64_t n, sal_geom *g) {
  sal_geom gg;
  if (g) memset(g, 0, sizeof *g);
  if (!img || !img->pixels || img->channels < 1 || img->channels > 4 || (img->depth != 8 && img->depth != 16) || !out)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess: not a valid image or output buffer");
  sal_status st = sal_preprocess_geometry(ctx, p, img->width, img->height, &gg);
  if (st != SAL_STATUS_OK) return st;
  int64_t want = p->channels * gg.out_w * gg.out_h;
  if (n != want)
    return sal_ctx_error(ctx, SAL_STATUS_SHAPE, "preprocess: output buffer holds %lld floats, (%d, %lld, %lld) needs %lld",
                         (long long)n, p->channels, (long long)gg.out_h, (long long)gg.out_w, (long long)want);
  sal_workspace *own = NULL;
  if (!ws && (st = sal_workspace_new(ctx, &own)) != SAL_STATUS_OK) return st;
  st = apply(ctx, p, img, ws ? ws : own, out, &gg);
  sal_workspace_free(own);
  if (st == SAL_STATUS_OK && g) *g = gg;
  return st;
}

sal_status sal_preprocess_mask(sal_ctx *ctx, const sal_preprocess *p, const uint8_t *mask, int64_t mw, int64_t mh,
                               sal_mask_mode mode, sal_workspace *ws, uint8_t *out, int64_t n) {
  if (!mask || !out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess mask: NULL %s", mask ? "output" : "mask");
  if (mode != SAL_MASK_NEAREST && mode != SAL_MASK_BILINEAR)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "preprocess mask: unknown mode %d", (int)mode);
  sal_geom g;
  sal_status st = sal_preprocess_geometry(ctx, p, mw, mh, &g);
  if (st != SAL_STATUS_OK) return st;
  if (n != g.out_w * g.out_h)
    return sal_ctx_error(ctx, SAL_STATUS_SHAPE, "preprocess mask: output holds %lld bytes, %lld x %lld needs %lld",
                         (long long)n, (long long)g.out_w, (long long)g.out_h, (long long)(g.out_w * g.out_h));
  sal_workspace *own = NULL;
  if (!ws && (st = sal_workspace_new(ctx, &own)) != SAL_STATUS_OK) return st;
  sal_workspace *w = ws ? ws : own;
  window win = crop_window(&g);
  size_t bytes = 0;
  void *wbuf = NULL;
  if (sal_mul_size((size_t)(win.nx * win.ny), mode == SAL_MASK_NEAREST ? 1 : sizeof(float), &bytes))
    wbuf = sal__ws_get(ctx, w, SAL__WS_WIN, bytes);
  if (!wbuf) st = SAL_STATUS_OUT_OF_MEMORY;
  if (st == SAL_STATUS_OK && mode == SAL_MASK_NEAREST) {
    st = sal__resize_u8_window(ctx, w, mask, mw, mh, 1, 1, g.resized_w, g.resized_h, SAL_INTERP_NEAREST, win.x0, win.nx,
                               win.y0, win.ny, wbuf);
  } else if (st == SAL_STATUS_OK) {
    float *f = NULL;
    if (sal_mul_size((size_t)(mw * mh), sizeof(float), &bytes)) f = sal__ws_get(ctx, w, SAL__WS_CONV, bytes);
    if (!f) st = SAL_STATUS_OUT_OF_MEMORY;
    else {
      for (int64_t i = 0; i < mw * mh; i++) f[i] = mask[i] ? 1.0f : 0.0f;
      st = sal__resize_f32_window(ctx, w, f, mw, mh, 1, 1, g.resized_w, g.resized_h, SAL_INTERP_BILINEAR, win.x0, win.nx,
                                  win.y0, win.ny, wbuf);
    }
  }
  if (st == SAL_STATUS_OK) {
    int64_t dx = win.x0 - g.crop_x, dy = win.y0 - g.crop_y;
    memset(out, 0, (size_t)n);
    for (int64_t y = 0; y < win.ny; y++)
      for (int64_t x = 0; x < win.nx; x++) {
        size_t k = (size_t)(y * win.nx + x);
        out[(y + dy) * g.out_w + x + dx] =
            mode == SAL_MASK_NEAREST ? ((const uint8_t *)wbuf)[k] : (uint8_t)(((const float *)wbuf)[k] >= 0.5f);
      }
  }
  sal_workspace_free(own);
  if (st == SAL_STATUS_OUT_OF_MEMORY) return sal_ctx_error_prefix(ctx, st, "preprocess mask: ");
  return st;
}

static float clampf(double v, double hi) { return (float)(v < 0 ? 0 : v > hi ? hi : v); }

void sal_geom_map_boxes(const sal_geom *g, int64_t n, float *boxes, bool *inside) {
  for (int64_t i = 0; i < n; i++) {
    float *b = boxes + 4 * i;
    double x0 = g->sx * b[0] + g->ox, y0 = g->sy * b[1] + g->oy, x1 = g->sx * b[2] + g->ox, y1 = g->sy * b[3] + g->oy;
    b[0] = clampf(x0, (double)g->out_w), b[1] = clampf(y0, (double)g->out_h);
    b[2] = clampf(x1, (double)g->out_w), b[3] = clampf(y1, (double)g->out_h);
    if (inside) inside[i] = b[2] > b[0] && b[3] > b[1];
  }
}

void sal_geom_map_points(const sal_geom *g, int64_t n, float *points, bool *inside) {
  for (int64_t i = 0; i < n; i++) {
    double x = g->sx * points[2 * i] + g->ox, y = g->sy * points[2 * i + 1] + g->oy;
    points[2 * i] = (float)x, points[2 * i + 1] = (float)y;
    if (inside) inside[i] = x >= 0 && x < (double)g->out_w && y >= 0 && y < (double)g->out_h;
  }
}
