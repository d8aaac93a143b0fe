/* Internal interface between the image front end (src/io/image.c: dispatch, conversions,
 * orientation) and the codecs (src/io/png.c, src/io/jpeg.c, src/io/exif.c). */
#ifndef SAL_IO_CODEC_H
#define SAL_IO_CODEC_H

#include "salient/image.h"

#include <stdio.h>

/* Where the encoded bytes come from: a stream positioned at the start of the file, or memory.
 * `name` (the path, or the caller's label) is put in every error message. */
typedef struct sal__img_src {
  const char *name;
  FILE *f;                    /* non-NULL: read from the stream */
  const unsigned char *mem;   /* otherwise: mem[0..n) */
  size_t n;
} sal__img_src;

/* Decode as stored: channels 1..4 (palette expanded to RGB, tRNS to alpha), depth 8 or 16 (host
 * byte order). The declared width × height is checked against max_pixels before any pixel buffer
 * is allocated. Errors name src->name. */
sal_status sal__png_decode(sal_ctx *ctx, const sal__img_src *src, int64_t max_pixels, sal_image **out);
/* Decode to 8-bit gray or RGB; *orientation receives the EXIF orientation (1..8; 1 when absent or
 * invalid). */
sal_status sal__jpeg_decode(sal_ctx *ctx, const sal__img_src *src, int64_t max_pixels, int *orientation,
                            sal_image **out);

/* Encoders into an open stream (the atomic writer's temporary); `name` is the target path. */
/* level: zlib level 1..9 (0 = libpng's default); fast: Sub filter only. */
sal_status sal__png_encode(sal_ctx *ctx, const char *name, FILE *f, const sal_image *img, int level, bool fast);
sal_status sal__jpeg_encode(sal_ctx *ctx, const char *name, FILE *f, const sal_image *img, int quality);

/* The orientation (1..8) from the payload of a JPEG APP1 segment (starting at "Exif\0\0"), or 0
 * when the segment is not Exif, is malformed, or has no valid orientation tag. Every offset is
 * bounds-checked against n. */
int sal__exif_orientation(const unsigned char *app1, size_t n);

#endif
