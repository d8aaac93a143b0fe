/* Reusable in-memory PNG encoder for bulk writers (salient synth): 8-bit images encoded by libpng
 * into a buffer the encoder owns, libpng's and zlib's allocations served from an arena kept across
 * images. Implemented in src/io/png.c. */
#ifndef SAL_IO_PNG_BULK_H
#define SAL_IO_PNG_BULK_H

#include "salient/image.h"

#include <stddef.h>
#include <stdint.h>

/* How the pixels are compressed. Every choice gives a valid PNG of the same pixels, and equal
 * pixels with equal settings give equal bytes (libpng and zlib are deterministic). */
typedef enum sal__png_mode {
  /* Sub filter on every row, zlib Huffman coding only (no string matching): for noisy photos and
   * renders, where matches are rare and the filter residuals are small. */
  SAL__PNG_SUB_HUFFMAN,
  /* No filter, zlib run-length matches only: for masks and flat images (long runs of equal bytes). */
  SAL__PNG_NONE_RLE
} sal__png_mode;

typedef struct sal__png_bulk sal__png_bulk;

sal_status sal__png_bulk_new(sal_ctx *ctx, sal__png_bulk **out);
void sal__png_bulk_free(sal__png_bulk *b);

/* Encodes an 8-bit image (1..4 channels) with `mode`; *data (owned by b, valid until the next call)
 * receives the whole file, *n its size. Errors name `name`. One encoder serves one thread. */
sal_status sal__png_bulk_encode(sal_ctx *ctx, sal__png_bulk *b, const char *name, const sal_image *img,
                                sal__png_mode mode, const uint8_t **data, size_t *n);

#endif
