/* Training-time augmentation used by the loader (src/data/loader.c): the random draws of one item
 * (random resized crop, flip, dihedral
 * rotation, colour jitter) and the pixel, mask and box operations that apply
 * them. Internal; the options are sal_augment in include/salient/loader.h. */
#ifndef SAL_DATA_AUGMENT_H
#define SAL_DATA_AUGMENT_H

#include "salient/loader.h"

/* The random choices for one (seed, epoch, item). */
typedef struct sal__aug_draw {
  bool crop;               /* crop rectangle below is used */
  int64_t x, y, w, h;      /* crop in source pixels: columns [x, x + w), rows [y, y + h) */
  bool flip;
  int dihedral;            /* 0..7: bit 0 transpose, bit 1 mirror columns, bit 2 mirror rows (in
                            * this order, after the flip); 0 = unchanged */
  float brightness, contrast, saturation; /* factors (1 = unchanged) */
} sal__aug_draw;

/* Draws the choices of augmentation a for an item of a src_w × src_h image. A pure function of
 * (seed, epoch, item): the thread that loads the item does not matter. */
void sal__aug_draw_item(const sal_augment *a, uint64_t seed, int64_t epoch, int64_t item, int64_t src_w,
                        int64_t src_h, sal__aug_draw *d);

/* A copy of the w × h rectangle at (x, y) of img (any channels and depth). */
sal_status sal__aug_crop_image(sal_ctx *ctx, const sal_image *img, int64_t x, int64_t y, int64_t w, int64_t h,
                               sal_image **out);
/* The same rectangle of a u8 mask of width mw, into out (h rows of w bytes). */
void sal__aug_crop_mask(const uint8_t *mask, int64_t mw, int64_t x, int64_t y, int64_t w, int64_t h, uint8_t *out);

/* Applies the draw's flip and dihedral transform to each of the c planes of x (c, h, w) in place;
 * tmp holds h·w floats (used only by a dihedral transform, which needs h == w). */
void sal__aug_orient(const sal__aug_draw *d, float *x, int64_t c, int64_t h, int64_t w, float *tmp);
/* The same transform of a box (x0, y0, x1, y1) in pixel-edge coordinates of a w × h frame. */
void sal__aug_orient_box(const sal__aug_draw *d, int64_t w, int64_t h, float v[4]);

/* Colour jitter on a normalised (c, h, w) image: values are taken back to [0, 1] with mean/std,
 * brightness, contrast, then saturation are applied as torchvision's adjust_* functions do
 * (blend with black, the grey mean, the grey image; clamped to [0, 1]), and re-normalised. */
void sal__aug_jitter(const sal__aug_draw *d, float *x, int64_t c, int64_t h, int64_t w, const float *mean,
                     const float *std);

#endif
