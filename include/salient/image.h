/* salient images: decoded pixels as stored in PNG and JPEG files (8- or 16-bit samples,
 * interleaved), read and written with crash-safe output. Preprocessing into model tensors lives in
 * the data component. */
#ifndef SALIENT_IMAGE_H
#define SALIENT_IMAGE_H

#include "salient/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default bound on a file's declared width × height (64 megapixels), checked before allocation. */
#define SAL_IMAGE_MAX_PIXELS_DEFAULT ((int64_t)64 * 1000 * 1000)

typedef struct sal_image {
  int64_t width, height;
  int channels; /* 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA */
  int depth;    /* bits per sample: 8 (uint8_t samples) or 16 (uint16_t, host byte order) */
  void *pixels; /* height rows of width × channels samples, no padding; owned by the image */
} sal_image;

/* How to decode. A zero-initialised struct (or NULL) gives the defaults. */
typedef struct sal_image_read_opts {
  int64_t max_pixels;      /* reject larger declared sizes; 0 = SAL_IMAGE_MAX_PIXELS_DEFAULT */
  int channels;            /* 0 = as stored (palette expanded to RGB or RGBA); 1, 3 or 4 = convert */
  int depth;               /* 0 = as stored; 8 = scale 16-bit samples to 8 bits */
  bool ignore_orientation; /* JPEG: do not apply the EXIF orientation tag */
} sal_image_read_opts;

/* New zero-filled image. channels 1..4, depth 8 or 16, 1 <= width, height and width × height ≤
 * SAL_IMAGE_MAX_PIXELS_DEFAULT × 16. Free with sal_image_free. */
sal_status sal_image_new(sal_ctx *ctx, int64_t width, int64_t height, int channels, int depth, sal_image **out);
void sal_image_free(sal_image *img);

/* Reads a PNG or JPEG file (the format is taken from the file's magic bytes, not its name).
 * Errors name the file: NOT_FOUND when missing; BAD_INPUT for corrupt, truncated or oversized files
 * (nothing is allocated for the pixels of an oversized one); UNSUPPORTED for other formats. */
sal_status sal_image_read(sal_ctx *ctx, const char *path, const sal_image_read_opts *opts, sal_image **out);

/* Writes img as PNG (".png") or JPEG (".jpg", ".jpeg"; quality 95; 8-bit gray or RGB only),
 * chosen by the path's extension, through a temporary file renamed over path. */
sal_status sal_image_write(sal_ctx *ctx, const char *path, const sal_image *img);

#ifdef __cplusplus
}
#endif
#endif
