/* Training-time augmentation: torchvision's RandomResizedCrop parameters, horizontal flip, the
 * dihedral symmetries of the square and ColorJitter, drawn with Philox from (seed, epoch, item). Called by the loader's workers between
 * decoding and the preprocessing that produces the batch tensor (src/data/loader.c). */
#include "data/augment.h"

#include "core/internal.h"

#include <math.h>
#include <string.h>

/* Stream tag "augm" in the high 32 bits keeps augmentation draws apart from the dataset shuffle
 * and dropout, which use the same seed; the epoch goes in the low bits. Each item owns a block of
 * AUG_DRAWS counters. */
#define AUG_STREAM_TAG 0x6175676D00000000ull
#define AUG_ATTEMPTS 10
#define AUG_DRAWS 48

sal_augment sal_augment_default(void) {
  sal_augment a;
  memset(&a, 0, sizeof a);
  a.scale_min = 0.08f;
  a.scale_max = 1.0f;
  a.ratio_min = 3.0f / 4.0f;
  a.ratio_max = 4.0f / 3.0f;
  return a;
}

/* Python's round() (half to even), as torchvision's get_params uses it. */
static int64_t round_even(double v) { return (int64_t)nearbyint(v); }

void sal__aug_draw_item(const sal_augment *a, uint64_t seed, int64_t epoch, int64_t item, int64_t src_w,
                        int64_t src_h, sal__aug_draw *d) {
  float u[AUG_DRAWS];
  sal_rng_uniform(seed, AUG_STREAM_TAG ^ (uint64_t)epoch, (uint64_t)item * AUG_DRAWS, u, AUG_DRAWS);
  memset(d, 0, sizeof *d);
  d->brightness = d->contrast = d->saturation = 1.0f;
  if (a->crop) {
    /* torchvision 0.14 RandomResizedCrop.get_params: up to 10 attempts of an area fraction uniform
     * in scale and a log-uniform aspect ratio; the first rectangle that fits is placed uniformly;
     * otherwise a centred crop of the whole image clamped to the ratio range. */
    double area = (double)src_w * (double)src_h;
    double lr0 = log(a->ratio_min), lr1 = log(a->ratio_max);
    d->crop = true;
    bool found = false;
    for (int t = 0; t < AUG_ATTEMPTS && !found; t++) {
      double target = area * (a->scale_min + (a->scale_max - a->scale_min) * (double)u[4 * t]);
      double ar = exp(lr0 + (lr1 - lr0) * (double)u[4 * t + 1]);
      int64_t w = round_even(sqrt(target * ar)), h = round_even(sqrt(target / ar));
      if (w > 0 && w <= src_w && h > 0 && h <= src_h) {
        /* torch.randint(0, n + 1) is uniform over 0..n. */
        int64_t y = (int64_t)((double)u[4 * t + 2] * (double)(src_h - h + 1));
        int64_t x = (int64_t)((double)u[4 * t + 3] * (double)(src_w - w + 1));
        d->x = x < src_w - w ? x : src_w - w;
        d->y = y < src_h - h ? y : src_h - h;
        d->w = w;
        d->h = h;
        found = true;
      }
    }
    if (!found) {
      double in_ratio = (double)src_w / (double)src_h;
      int64_t w = src_w, h = src_h;
      if (in_ratio < a->ratio_min) {
        h = round_even((double)w / a->ratio_min);
      } else if (in_ratio > a->ratio_max) {
        w = round_even((double)h * a->ratio_max);
      }
      if (w < 1) w = 1;
      if (h < 1) h = 1;
      if (w > src_w) w = src_w;
      if (h > src_h) h = src_h;
      d->w = w;
      d->h = h;
      d->x = (src_w - w) / 2;
      d->y = (src_h - h) / 2;
    }
  }
  d->flip = a->flip && u[40] < 0.5f;
  if (a->dihedral) {
    int k = (int)(u[44] * 8.0f);
    d->dihedral = k > 7 ? 7 : k;
  }
  /* ColorJitter: each factor uniform in [max(0, 1 - s), 1 + s]. */
  float s[3] = {a->brightness, a->contrast, a->saturation};
  float *f[3] = {&d->brightness, &d->contrast, &d->saturation};
  for (int k = 0; k < 3; k++) {
    if (s[k] <= 0) continue;
    float lo = 1.0f - s[k] > 0 ? 1.0f - s[k] : 0.0f, hi = 1.0f + s[k];
    *f[k] = lo + (hi - lo) * u[41 + k];
  }
}

sal_status sal__aug_crop_image(sal_ctx *ctx, const sal_image *img, int64_t x, int64_t y, int64_t w, int64_t h,
                               sal_image **out) {
  sal_status st = sal_image_new(ctx, w, h, img->channels, img->depth, out);
  if (st) return st;
  size_t px = (size_t)img->channels * (img->depth == 16 ? 2u : 1u);
  const uint8_t *src = img->pixels;
  uint8_t *dst = (*out)->pixels;
  for (int64_t r = 0; r < h; r++)
    memcpy(dst + (size_t)(r * w) * px, src + ((size_t)((y + r) * img->width + x)) * px, (size_t)w * px);
  return SAL_STATUS_OK;
}

void sal__aug_crop_mask(const uint8_t *mask, int64_t mw, int64_t x, int64_t y, int64_t w, int64_t h, uint8_t *out) {
  for (int64_t r = 0; r < h; r++) memcpy(out + r * w, mask + (y + r) * mw + x, (size_t)w);
}

/* Source pixel (row, column) of output pixel (r, c) of an n × n plane under dihedral code k:
 * the output is the source transposed (bit 0), then mirrored left-right (bit 1), then top-bottom
 * (bit 2); undone here in reverse order. */
static inline int64_t dihedral_src(int k, int64_t n, int64_t r, int64_t c) {
  if (k & 4) r = n - 1 - r;
  if (k & 2) c = n - 1 - c;
  return k & 1 ? c * n + r : r * n + c;
}

void sal__aug_orient(const sal__aug_draw *d, float *x, int64_t c, int64_t h, int64_t w, float *tmp) {
  for (int64_t p = 0; p < c; p++) {
    float *pl = x + p * h * w;
    if (d->flip)
      for (int64_t r = 0; r < h; r++)
        for (int64_t i = 0, j = w - 1; i < j; i++, j--) {
          float t = pl[r * w + i];
          pl[r * w + i] = pl[r * w + j];
          pl[r * w + j] = t;
        }
    if (d->dihedral && h == w) {
      memcpy(tmp, pl, (size_t)(h * w) * sizeof *tmp);
      for (int64_t r = 0; r < h; r++)
        for (int64_t q = 0; q < w; q++) pl[r * w + q] = tmp[dihedral_src(d->dihedral, h, r, q)];
    }
  }
}

void sal__aug_orient_box(const sal__aug_draw *d, int64_t w, int64_t h, float v[4]) {
  if (d->flip) {
    float x0 = (float)w - v[2], x1 = (float)w - v[0];
    v[0] = x0;
    v[2] = x1;
  }
  if (!d->dihedral || h != w) return;
  const float n = (float)w;
  if (d->dihedral & 1) {
    float t0 = v[0], t2 = v[2];
    v[0] = v[1], v[2] = v[3], v[1] = t0, v[3] = t2;
  }
  if (d->dihedral & 2) {
    float x0 = n - v[2], x1 = n - v[0];
    v[0] = x0, v[2] = x1;
  }
  if (d->dihedral & 4) {
    float y0 = n - v[3], y1 = n - v[1];
    v[1] = y0, v[3] = y1;
  }
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void sal__aug_jitter(const sal__aug_draw *d, float *x, int64_t c, int64_t h, int64_t w, const float *mean,
                     const float *std) {
  if (d->brightness == 1.0f && d->contrast == 1.0f && d->saturation == 1.0f) return;
  int64_t plane = h * w;
  for (int64_t k = 0; k < c; k++)
    for (int64_t p = 0; p < plane; p++) x[k * plane + p] = x[k * plane + p] * std[k] + mean[k];
  /* adjust_brightness: blend with black. */
  if (d->brightness != 1.0f)
    for (int64_t e = 0; e < c * plane; e++) x[e] = clamp01(x[e] * d->brightness);
  /* adjust_contrast: blend with the mean of the greyscale image (ITU-R 601-2 luma for RGB). */
  if (d->contrast != 1.0f) {
    double m = 0;
    for (int64_t p = 0; p < plane; p++)
      m += c == 3 ? 0.299 * x[p] + 0.587 * x[plane + p] + 0.114 * x[2 * plane + p] : x[p];
    float mf = (float)(m / (double)plane);
    for (int64_t e = 0; e < c * plane; e++) x[e] = clamp01(d->contrast * x[e] + (1.0f - d->contrast) * mf);
  }
  /* adjust_saturation: blend with the pixel's grey value (no effect on one channel). */
  if (d->saturation != 1.0f && c == 3) {
    for (int64_t p = 0; p < plane; p++) {
      float g = 0.299f * x[p] + 0.587f * x[plane + p] + 0.114f * x[2 * plane + p];
      for (int64_t k = 0; k < 3; k++)
        x[k * plane + p] = clamp01(d->saturation * x[k * plane + p] + (1.0f - d->saturation) * g);
    }
  }
  for (int64_t k = 0; k < c; k++)
    for (int64_t p = 0; p < plane; p++) x[k * plane + p] = (x[k * plane + p] - mean[k]) / std[k];
}
