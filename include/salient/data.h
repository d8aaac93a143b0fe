/* salient data preparation: decoded images into model tensors the way torchvision's evaluation
 * transforms do it (resize, centre crop, to [0,1], normalise), and the geometric transform that maps
 * boxes, points and masks of the original image into the model's frame. docs/data.md has the
 * conventions and the measured agreement with PIL and torchvision. */
#ifndef SALIENT_DATA_H
#define SALIENT_DATA_H

#include "salient/core.h"
#include "salient/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sal_interp {
  SAL_INTERP_NEAREST = 0,  /* PIL Image.NEAREST: source pixel floor((x + 0.5) · in/out) */
  SAL_INTERP_BILINEAR = 1, /* PIL Image.BILINEAR: triangle filter, support scaled when shrinking */
  SAL_INTERP_BICUBIC = 2   /* PIL Image.BICUBIC: Keys cubic a = -0.5, support scaled when shrinking */
} sal_interp;

/* Per-thread scratch memory for the functions below. It grows to the largest image seen and is
 * then reused: after the first image of the largest size, nothing is allocated. Not shareable
 * between threads (one workspace per thread); NULL may be passed anywhere a workspace is taken, and
 * then the call allocates and frees its own. */
typedef struct sal_workspace sal_workspace;
sal_status sal_workspace_new(sal_ctx *ctx, sal_workspace **out);
void sal_workspace_free(sal_workspace *ws);

/* Threads: every function here is reentrant (no globals). The ctx passed is written only when
 * an error is recorded or an allocation fails; give each thread its own ctx, or pass NULL (the
 * status is still returned, without a message). */

/* ---- building blocks ---- */

/* torchvision 0.14 Resize(int size): the shorter side becomes `size`, the longer side
 * int(size · long / short) (truncated). Square images give size × size. Sizes below 1 give 0 × 0;
 * w, h, size up to SAL_IMAGE_MAX_PIXELS_DEFAULT keep the arithmetic exact. */
void sal_resize_shorter(int64_t w, int64_t h, int64_t size, int64_t *out_w, int64_t *out_h);

/* PIL's Image.resize on 8-bit interleaved pixels (src is (sh, sw, c), dst (dh, dw, c), c 1..4):
 * separable, horizontal pass first, coefficients in double normalised to sum 1 then rounded to
 * 22-bit fixed point, each pass rounded to 8 bits (PIL 9.4 Resample.c). Bit-exact with PIL for
 * BILINEAR and BICUBIC, and NEAREST. */
sal_status sal_resize_u8(sal_ctx *ctx, sal_workspace *ws, const uint8_t *src, int64_t sw, int64_t sh, int c,
                         uint8_t *dst, int64_t dw, int64_t dh, sal_interp interp);
/* torch.nn.functional.interpolate(antialias=True, align_corners=False) as torchvision 0.14's
 * resize uses it on float tensors: the same filters as PIL with float32 coefficients and float32
 * accumulation; no clamping. src is (c, sh, sw) planar, dst (c, dh, dw). NEAREST here is PIL's rule
 * (not torch's legacy floor(x · in/out)). */
sal_status sal_resize_f32(sal_ctx *ctx, sal_workspace *ws, const float *src, int64_t c, int64_t sw, int64_t sh,
                          float *dst, int64_t dw, int64_t dh, sal_interp interp);

/* torchvision 0.14 center_crop offsets along one axis: crop output index i reads source index
 * i + offset (source indices outside [0, size) are zero padding). offset = round-half-even((size -
 * crop) / 2) when crop <= size, else -((crop - size) / 2) (torchvision pads (crop - size) // 2 before
 * and the rest after). */
int64_t sal_center_crop_offset(int64_t size, int64_t crop);

/* ---- the pipeline ---- */

typedef struct sal_preprocess {
  /* Resize: resize > 0 makes the shorter side `resize` (sal_resize_shorter); otherwise resize_w ×
   * resize_h when both are > 0; otherwise no resize. */
  int64_t resize, resize_w, resize_h;
  sal_interp interp;
  /* Resize 8-bit images on float [0,1] values like torchvision on tensors (sal_resize_f32) instead
   * of PIL's 8-bit path. 16-bit images always take the float path. */
  bool float_resize;
  int64_t crop_w, crop_h; /* centre crop (0 = none); larger than the resized image pads with zeros */
  float mean[3], std[3];  /* per output channel: (v - mean) / std, v in [0, 1] */
  int channels;           /* output channels: 3 (gray replicated) or 1 (RGB -> PIL's luma) */
} sal_preprocess;

/* The ImageNet evaluation transform of torchvision's reference scripts: Resize(256) bilinear (PIL),
 * CenterCrop(224), ToTensor, Normalize(mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)),
 * 3 channels. */
sal_preprocess sal_preprocess_default(void);

/* Where a pixel of the original image lands: a model-frame coordinate is x' = sx · x + ox,
 * y' = sy · y + oy, in continuous coordinates where pixel i covers [i, i + 1) (PIL's convention;
 * the resize maps pixel centres exactly this way). out_w × out_h is the model frame. */
typedef struct sal_geom {
  double sx, sy, ox, oy;
  int64_t out_w, out_h;       /* the model frame (the crop, or the resized size without crop) */
  int64_t resized_w, resized_h;
  int64_t crop_x, crop_y;     /* centre-crop offsets (sal_center_crop_offset; negative = padding) */
  int64_t src_w, src_h;
} sal_geom;

/* The geometry of p applied to a w × h image (no pixels needed). BAD_INPUT for invalid settings
 * (negative sizes, std 0, channels not 1 or 3, sizes beyond SAL_IMAGE_MAX_PIXELS_DEFAULT). */
sal_status sal_preprocess_geometry(sal_ctx *ctx, const sal_preprocess *p, int64_t w, int64_t h, sal_geom *g);

/* Applies p to img (8- or 16-bit, 1..4 channels; alpha is dropped, not composited) into out, a
 * caller-owned (channels, out_h, out_w) float buffer of n floats (checked). Values: 8-bit v/255,
 * 16-bit v/65535, then (v - mean) / std; padding is v = 0. g (optional) receives the geometry. */
sal_status sal_preprocess_image(sal_ctx *ctx, const sal_preprocess *p, const sal_image *img, sal_workspace *ws,
                                float *out, int64_t n, sal_geom *g);

/* How masks are resized. */
typedef enum sal_mask_mode {
  SAL_MASK_NEAREST = 0,  /* labels kept: each output pixel copies PIL's nearest source pixel */
  SAL_MASK_BILINEAR = 1  /* binary: nonzero = 1, resized on floats with the antialiased bilinear
                            filter (sal_resize_f32), output 1 where the result is >= 0.5, else 0 */
} sal_mask_mode;

/* Maps a u8 mask (mh rows of mw bytes, the original image's size) through p into out (out_h ×
 * out_w bytes of the geometry; padding is 0). */
sal_status sal_preprocess_mask(sal_ctx *ctx, const sal_preprocess *p, const uint8_t *mask, int64_t mw, int64_t mh,
                               sal_mask_mode mode, sal_workspace *ws, uint8_t *out, int64_t n);

/* Maps n boxes (x0, y0, x1, y1 per box, original pixel coordinates, x0 <= x1, y0 <= y1) into the
 * model frame in place, clipped to [0, out_w] × [0, out_h]. inside[i] (optional) is false when the
 * clipped box has no area (it fell outside the frame); such boxes are left clipped (degenerate). */
void sal_geom_map_boxes(const sal_geom *g, int64_t n, float *boxes, bool *inside);
/* Maps n points (x, y) in place, not clipped; inside[i] (optional) says whether the point lies in
 * [0, out_w) × [0, out_h). */
void sal_geom_map_points(const sal_geom *g, int64_t n, float *points, bool *inside);

#ifdef __cplusplus
}
#endif
#endif
