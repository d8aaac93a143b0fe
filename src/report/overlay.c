/* Rendering of saliency maps: colour-mapped maps blended over the (de-normalised) input image, and
 * panels placing several renderings side by side. `salient explain` writes these as PNG files. */
#include "core/internal.h"
#include "salient/explain.h"

#include <math.h>
#include <string.h>

sal_status sal_overlay(sal_ctx *ctx, const float *map, int64_t w, int64_t h, const sal_image *background,
                       sal_colormap cm, float alpha, sal_image **out) {
  *out = NULL;
  if (!(alpha >= 0 && alpha <= 1)) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "overlay: alpha %g is not in [0, 1]", (double)alpha);
  if (background && (background->width != w || background->height != h || background->channels != 3 ||
                     background->depth != 8))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "overlay: the background must be 8-bit RGB %lld x %lld",
                         (long long)w, (long long)h);
  sal_image *img = NULL;
  sal_status st = sal_image_new(ctx, w, h, 3, 8, &img);
  if (st) return st;
  uint8_t *px = img->pixels;
  const uint8_t *bg = background ? background->pixels : NULL;
  for (int64_t q = 0; q < w * h; q++) {
    uint8_t c[3];
    sal_colormap_rgb(cm, map[q], c);
    for (int k = 0; k < 3; k++) {
      double v = bg ? (1.0 - alpha) * bg[3 * q + k] + alpha * c[k] : c[k];
      px[3 * q + k] = (uint8_t)lround(v);
    }
  }
  *out = img;
  return SAL_STATUS_OK;
}

sal_status sal_denormalize_image(sal_ctx *ctx, const float *x, int64_t c, int64_t h, int64_t w, const float *mean,
                                 const float *std, sal_image **out) {
  *out = NULL;
  if (c != 1 && c != 3) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "denormalize: %lld channels (1 or 3)", (long long)c);
  sal_image *img = NULL;
  sal_status st = sal_image_new(ctx, w, h, 3, 8, &img);
  if (st) return st;
  uint8_t *px = img->pixels;
  /* x is (c, h, w) */
  for (int64_t q = 0; q < w * h; q++)
    for (int k = 0; k < 3; k++) {
      int64_t ch = c == 1 ? 0 : k;
      double v = 255.0 * ((double)x[ch * w * h + q] * std[ch] + mean[ch]);
      px[3 * q + k] = !(v > 0) ? 0 : v >= 255 ? 255 : (uint8_t)lround(v);
    }
  *out = img;
  return SAL_STATUS_OK;
}

sal_status sal_panel(sal_ctx *ctx, const sal_image *const *images, int n, int64_t gap, sal_image **out) {
  *out = NULL;
  if (n < 1 || gap < 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "panel: no images");
  int64_t h = images[0]->height, w = gap * (n - 1);
  for (int i = 0; i < n; i++) {
    if (images[i]->height != h || images[i]->channels != 3 || images[i]->depth != 8)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "panel: image %d is not 8-bit RGB of height %lld", i, (long long)h);
    w += images[i]->width;
  }
  sal_image *img = NULL;
  sal_status st = sal_image_new(ctx, w, h, 3, 8, &img);
  if (st) return st;
  uint8_t *px = img->pixels;
  memset(px, 255, (size_t)(w * h * 3));
  int64_t x0 = 0;
  for (int i = 0; i < n; i++) {
    const uint8_t *src = images[i]->pixels;
    int64_t iw = images[i]->width;
    for (int64_t y = 0; y < h; y++) memcpy(px + 3 * (y * w + x0), src + 3 * y * iw, (size_t)(3 * iw));
    x0 += iw + gap;
  }
  *out = img;
  return SAL_STATUS_OK;
}
