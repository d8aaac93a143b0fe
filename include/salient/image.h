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
  int channels;            /* 0 = as stored (palette expanded to RGB or RGBA); 1..4 = convert */
  int depth;               /* 0 = as stored; 8 = scale 16-bit samples to 8 bits */
  bool ignore_orientation; /* JPEG: do not apply the EXIF orientation tag */
} sal_image_read_opts;

/* New zero-filled image. channels 1..4, depth 8 or 16, 1 <= width, height and width × height ≤
 * SAL_IMAGE_MAX_PIXELS_DEFAULT × 16. Free with sal_image_free. */
sal_status sal_image_new(sal_ctx *ctx, int64_t width, int64_t height, int channels, int depth, sal_image **out);
void sal_image_free(sal_image *img);

/* Reads a PNG or JPEG file (the format is taken from the file's magic bytes, not its name).
 * Errors name the file: NOT_FOUND when missing; BAD_INPUT for corrupt, truncated or oversized files
 * (nothing is allocated for the pixels of an oversized one); UNSUPPORTED for other formats.
 *
 * What is decoded (docs/data.md has the details):
 *  - PNG: every bit depth and colour type (1/2/4-bit gray scaled to 8 bits by bit replication,
 *    palette expanded to RGB, a tRNS chunk expanded to an alpha channel), interlaced or not; 16-bit
 *    samples are returned exactly as stored (no gamma or colour-space conversion).
 *  - JPEG (libjpeg-turbo, default settings: accurate integer IDCT, fancy upsampling): gray and
 *    YCbCr/RGB; CMYK and YCCK are UNSUPPORTED. The EXIF orientation tag (APP1 "Exif", IFD0 tag
 *    0x0112) is applied unless opts->ignore_orientation, as PIL's ImageOps.exif_transpose does.
 *  - Conversions on request, in this order after orientation: depth 16 -> 8 keeps the high byte
 *    (v >> 8, truncation, as PIL's "RGB;16B" raw mode), 8 -> 16 multiplies by 257; gray -> RGB
 *    replicates; RGB -> gray is PIL's ITU-R 601-2 luma L = (19595 R + 38470 G + 7471 B + 32768) >> 16;
 *    alpha is dropped, or added opaque (255 / 65535). */
sal_status sal_image_read(sal_ctx *ctx, const char *path, const sal_image_read_opts *opts, sal_image **out);

/* Decodes a PNG or JPEG held in memory (bytes[0..n)), exactly as sal_image_read decodes a file;
 * `name` stands for the file in error messages. For tests, fuzzing and archive readers. */
sal_status sal_image_decode(sal_ctx *ctx, const char *name, const void *bytes, size_t n, const sal_image_read_opts *opts,
                            sal_image **out);

/* Writes img as PNG (".png") or JPEG (".jpg", ".jpeg"; quality 95; 8-bit gray or RGB only),
 * chosen by the path's extension, through a temporary file renamed over path. */
sal_status sal_image_write(sal_ctx *ctx, const char *path, const sal_image *img);

/* How to encode. A zero-initialised struct (or NULL) gives sal_image_write's behaviour. */
typedef struct sal_image_write_opts {
  int jpeg_quality; /* 1..100; 0 = 95. libjpeg's scale, 4:2:0 chroma subsampling (its default) */
  int png_level;    /* zlib level 1..9; 0 = libpng's default (6) */
  bool png_fast;    /* PNG: the Sub filter on every row instead of libpng's per-row filter search */
  bool no_sync;     /* skip the fsync before the rename: the file is still never seen half-written,
                     * but a power loss may lose it; for bulk writers that sync once at the end */
} sal_image_write_opts;

/* sal_image_write with options. PNG keeps every sample exactly (16-bit samples big-endian in the
 * file, as the PNG specification requires); JPEG accepts 8-bit gray or RGB only (UNSUPPORTED
 * otherwise). */
sal_status sal_image_write_ex(sal_ctx *ctx, const char *path, const sal_image *img, const sal_image_write_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
