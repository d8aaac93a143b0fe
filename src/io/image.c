/* Image files in and out: format dispatch by magic bytes (read) or extension (write), the image
 * type's lifetime, and the PNG codec through libpng. Used by datasets, synth and reports. */
#define _POSIX_C_SOURCE 200809L

#include "salient/image.h"

#include "core/internal.h"
#include "io/atomic.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

sal_status sal_image_new(sal_ctx *ctx, int64_t width, int64_t height, int channels, int depth, sal_image **out) {
  *out = NULL;
  if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) || width < 1 || height < 1 ||
      width > SAL_IMAGE_MAX_PIXELS_DEFAULT * 16 / height)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "image %lld x %lld, %d channels, %d bits: not a valid image size",
                         (long long)width, (long long)height, channels, depth);
  sal_image *img = sal_calloc(ctx, 1, sizeof *img);
  if (!img) return SAL_STATUS_OUT_OF_MEMORY;
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->depth = depth;
  img->pixels = sal_calloc(ctx, (size_t)(width * height * channels), (size_t)depth / 8);
  if (!img->pixels) {
    sal_free(img);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  *out = img;
  return SAL_STATUS_OK;
}

void sal_image_free(sal_image *img) {
  if (!img) return;
  sal_free(img->pixels);
  sal_free(img);
}

/* libpng's simplified-API format for an image's channel count and depth. */
static png_uint_32 png_format_for(int channels, int depth) {
  static const png_uint_32 fmt[5] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
  return fmt[channels] | (depth == 16 ? PNG_FORMAT_FLAG_LINEAR : 0);
}

static sal_status png_read_file(sal_ctx *ctx, const char *path, FILE *f, const sal_image_read_opts *o, sal_image **out) {
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_stdio(&pi, f))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a readable PNG: %s", path, pi.message);
  int64_t maxp = o->max_pixels > 0 ? o->max_pixels : SAL_IMAGE_MAX_PIXELS_DEFAULT;
  if ((int64_t)pi.width * (int64_t)pi.height > maxp) {
    png_image_free(&pi);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: declared size %u x %u exceeds the limit of %lld pixels",
                         path, pi.width, pi.height, (long long)maxp);
  }
  int channels = o->channels ? o->channels : (int)PNG_IMAGE_SAMPLE_CHANNELS(pi.format);
  int depth = 8;
  sal_image *img = NULL;
  sal_status st = sal_image_new(ctx, pi.width, pi.height, channels, depth, &img);
  if (st != SAL_STATUS_OK) {
    png_image_free(&pi);
    return sal_ctx_error_prefix(ctx, st, "%s: ", path);
  }
  pi.format = png_format_for(channels, depth);
  if (!png_image_finish_read(&pi, NULL, img->pixels, 0, NULL)) {
    sal_image_free(img);
    png_image_free(&pi);
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: corrupt PNG: %s", path, pi.message);
  }
  *out = img;
  return SAL_STATUS_OK;
}

sal_status sal_image_read(sal_ctx *ctx, const char *path, const sal_image_read_opts *opts, sal_image **out) {
  *out = NULL;
  sal_image_read_opts o = {0};
  if (opts) o = *opts;
  if (o.channels < 0 || o.channels > 4 || (o.depth != 0 && o.depth != 8 && o.depth != 16))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: bad read options (channels %d, depth %d)", path, o.channels, o.depth);
  FILE *f = fopen(path, "rb");
  if (!f) return sal_ctx_error(ctx, errno == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: %s", path, strerror(errno));
  unsigned char magic[8] = {0};
  size_t n = fread(magic, 1, sizeof magic, f);
  sal_status st;
  if (n == 8 && png_sig_cmp(magic, 0, 8) == 0) {
    rewind(f);
    st = png_read_file(ctx, path, f, &o, out);
  } else {
    st = sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: not a PNG file", path);
  }
  fclose(f);
  return st;
}

sal_status sal_image_write(sal_ctx *ctx, const char *path, const sal_image *img) {
  if (!img || !img->pixels || img->channels < 1 || img->channels > 4 || (img->depth != 8 && img->depth != 16))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a valid image", path);
  const char *dot = strrchr(path, '.');
  if (!dot || strcasecmp(dot, ".png") != 0)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: unknown image extension (use .png)", path);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st != SAL_STATUS_OK) return st;
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = (png_uint_32)img->width;
  pi.height = (png_uint_32)img->height;
  pi.format = png_format_for(img->channels, img->depth);
  bool ok = png_image_write_to_stdio(&pi, af.f, 0, img->pixels, 0, NULL) != 0;
  if (!ok) sal_ctx_error(ctx, SAL_STATUS_IO, "%s: PNG encoding failed: %s", path, pi.message);
  st = sal__atomic_commit(ctx, &af, ok);
  return ok ? st : SAL_STATUS_IO;
}
