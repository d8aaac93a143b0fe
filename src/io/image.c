/* Image files in and out: the image type, format dispatch (magic bytes / extension), EXIF orientation
 * and channel/depth conversions around the codecs in png.c and jpeg.c. Used by datasets, synth, reports. */
#define _POSIX_C_SOURCE 200809L

#include "salient/image.h"

#include "core/internal.h"
#include "io/atomic.h"
#include "io/codec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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

static const unsigned char png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static inline uint32_t get_sample(const sal_image *im, size_t i) {
  return im->depth == 8 ? ((const uint8_t *)im->pixels)[i] : ((const uint16_t *)im->pixels)[i];
}

static inline void put_sample(sal_image *im, size_t i, uint32_t v) {
  if (im->depth == 8) ((uint8_t *)im->pixels)[i] = (uint8_t)v;
  else ((uint16_t *)im->pixels)[i] = (uint16_t)v;
}

/* Applies EXIF orientation o (2..8) into a new image, as PIL's ImageOps.exif_transpose does (CIPA
 * DC-008, tag 0x0112: the tag says where row 0 / column 0 of the stored image are to be displayed).
 * For output pixel (x, y) of the W'×H' result, the source pixel of the W×H stored image is:
 *   2 mirror:        (W-1-x, y)        3 rotate 180: (W-1-x, H-1-y)   4 flip: (x, H-1-y)
 *   5 transpose:     (y, x)            6 rotate 90 cw: (y, H-1-x)
 *   7 transverse:    (W-1-y, H-1-x)    8 rotate 90 ccw: (W-1-y, x)
 * 5..8 swap width and height. */
static sal_status orient(sal_ctx *ctx, const char *name, int o, sal_image **img) {
  const sal_image *s = *img;
  int64_t W = s->width, H = s->height;
  bool swap = o >= 5;
  sal_image *d = NULL;
  sal_status st = sal_image_new(ctx, swap ? H : W, swap ? W : H, s->channels, s->depth, &d);
  if (st != SAL_STATUS_OK) return sal_ctx_error_prefix(ctx, st, "%s: ", name);
  size_t bpp = (size_t)s->channels * (size_t)s->depth / 8;
  for (int64_t y = 0; y < d->height; y++) {
    for (int64_t x = 0; x < d->width; x++) {
      int64_t sx, sy;
      switch (o) {
        case 2: sx = W - 1 - x, sy = y; break;
        case 3: sx = W - 1 - x, sy = H - 1 - y; break;
        case 4: sx = x, sy = H - 1 - y; break;
        case 5: sx = y, sy = x; break;
        case 6: sx = y, sy = H - 1 - x; break;
        case 7: sx = W - 1 - y, sy = H - 1 - x; break;
        default: sx = W - 1 - y, sy = x; break; /* 8 */
      }
      memcpy((unsigned char *)d->pixels + ((size_t)(y * d->width + x)) * bpp,
             (const unsigned char *)s->pixels + ((size_t)(sy * W + sx)) * bpp, bpp);
    }
  }
  sal_image_free(*img);
  *img = d;
  return SAL_STATUS_OK;
}

/* Converts *img to `channels` (0 = keep) and `depth` (0 = keep) into a new image. Rules (PIL's, see
 * image.h): 16 -> 8 keeps the high byte, 8 -> 16 multiplies by 257; RGB -> gray is the ITU-R 601-2
 * luma in PIL's fixed point (weights 19595, 38470, 7471 over 2^16, rounded); gray -> RGB
 * replicates; a missing alpha is opaque. */
static sal_status convert(sal_ctx *ctx, const char *name, int channels, int depth, sal_image **img) {
  const sal_image *s = *img;
  int dc = channels ? channels : s->channels, dd = depth ? depth : s->depth;
  if (dc == s->channels && dd == s->depth) return SAL_STATUS_OK;
  sal_image *d = NULL;
  sal_status st = sal_image_new(ctx, s->width, s->height, dc, dd, &d);
  if (st != SAL_STATUS_OK) return sal_ctx_error_prefix(ctx, st, "%s: ", name);
  size_t npx = (size_t)(s->width * s->height);
  int sc = s->channels;
  uint32_t smax = s->depth == 8 ? 255u : 65535u;
  for (size_t p = 0; p < npx; p++) {
    uint32_t v[4];
    for (int c = 0; c < sc; c++) v[c] = get_sample(s, p * (size_t)sc + (size_t)c);
    uint32_t r, g, b, a = sc == 2 ? v[1] : sc == 4 ? v[3] : smax;
    if (sc >= 3) r = v[0], g = v[1], b = v[2];
    else r = g = b = v[0];
    uint32_t gray = sc >= 3 ? (uint32_t)(((uint64_t)19595 * r + (uint64_t)38470 * g + (uint64_t)7471 * b + 32768) >> 16) : v[0];
    uint32_t o[4];
    switch (dc) {
      case 1: o[0] = gray; break;
      case 2: o[0] = gray, o[1] = a; break;
      case 3: o[0] = r, o[1] = g, o[2] = b; break;
      default: o[0] = r, o[1] = g, o[2] = b, o[3] = a; break;
    }
    for (int c = 0; c < dc; c++) {
      uint32_t x = o[c];
      if (s->depth == 16 && dd == 8) x >>= 8;
      else if (s->depth == 8 && dd == 16) x *= 257;
      put_sample(d, p * (size_t)dc + (size_t)c, x);
    }
  }
  sal_image_free(*img);
  *img = d;
  return SAL_STATUS_OK;
}

/* Decodes src (format by magic), then orientation, then conversions. */
static sal_status decode_src(sal_ctx *ctx, const sal__img_src *src, const unsigned char *magic, size_t nmagic,
                             const sal_image_read_opts *opts, sal_image **out) {
  *out = NULL;
  sal_image_read_opts o = {0};
  if (opts) o = *opts;
  if (o.channels < 0 || o.channels > 4 || (o.depth != 0 && o.depth != 8 && o.depth != 16) ||
      o.max_pixels < 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: bad read options (channels %d, depth %d, max_pixels %lld)",
                         src->name, o.channels, o.depth, (long long)o.max_pixels);
  int64_t maxp = o.max_pixels > 0 ? o.max_pixels : SAL_IMAGE_MAX_PIXELS_DEFAULT;
  if (nmagic == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: empty file", src->name);
  sal_image *img = NULL;
  int orientation = 1;
  sal_status st;
  if (nmagic >= 8 && memcmp(magic, png_magic, 8) == 0) {
    st = sal__png_decode(ctx, src, maxp, &img);
  } else if (nmagic >= 3 && magic[0] == 0xFF && magic[1] == 0xD8 && magic[2] == 0xFF) {
    st = sal__jpeg_decode(ctx, src, maxp, &orientation, &img);
  } else {
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: not a PNG or JPEG file (unknown magic bytes)", src->name);
  }
  if (st == SAL_STATUS_OK && orientation > 1 && !o.ignore_orientation) st = orient(ctx, src->name, orientation, &img);
  if (st == SAL_STATUS_OK) st = convert(ctx, src->name, o.channels, o.depth, &img);
  if (st != SAL_STATUS_OK) {
    sal_image_free(img);
    return st;
  }
  *out = img;
  return SAL_STATUS_OK;
}

sal_status sal_image_read(sal_ctx *ctx, const char *path, const sal_image_read_opts *opts, sal_image **out) {
  if (!out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_image_read: out is NULL");
  *out = NULL;
  if (!path) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_image_read: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return sal_ctx_error(ctx, e == ENOENT ? SAL_STATUS_NOT_FOUND : SAL_STATUS_IO, "%s: cannot open: %s", path, strerror(e));
  }
  struct stat sb;
  sal_status st;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: not a regular file", path);
  } else {
    unsigned char magic[8] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    rewind(f);
    sal__img_src src = {.name = path, .f = f};
    st = decode_src(ctx, &src, magic, n, opts, out);
  }
  fclose(f);
  return st;
}

sal_status sal_image_decode(sal_ctx *ctx, const char *name, const void *bytes, size_t n, const sal_image_read_opts *opts,
                            sal_image **out) {
  if (!out) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_image_decode: out is NULL");
  *out = NULL;
  if (!name) name = "(memory)";
  if (!bytes && n) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: NULL bytes", name);
  sal__img_src src = {.name = name, .mem = bytes, .n = n};
  return decode_src(ctx, &src, bytes, n < 8 ? n : 8, opts, out);
}

sal_status sal_image_write_ex(sal_ctx *ctx, const char *path, const sal_image *img, const sal_image_write_opts *opts) {
  if (!path) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_image_write: path is NULL");
  if (!img || !img->pixels || img->channels < 1 || img->channels > 4 || (img->depth != 8 && img->depth != 16) ||
      img->width < 1 || img->height < 1)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: not a valid image", path);
  int quality = opts && opts->jpeg_quality ? opts->jpeg_quality : 95;
  int level = opts ? opts->png_level : 0;
  if (level < 0 || level > 9) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: PNG level %d is not in 0..9", path, level);
  bool sync = !(opts && opts->no_sync);
  const char *dot = strrchr(path, '.');
  bool png = dot && strcasecmp(dot, ".png") == 0;
  bool jpg = dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0);
  if (!png && !jpg)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: unknown image extension (use .png, .jpg or .jpeg)", path);
  /* Reject what the encoder cannot take before creating the temporary. */
  if (jpg && (img->depth != 8 || (img->channels != 1 && img->channels != 3)))
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: JPEG holds 8-bit gray or RGB only (image has %d channels, %d bits)",
                         path, img->channels, img->depth);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st != SAL_STATUS_OK) return st;
  st = png ? sal__png_encode(ctx, path, af.f, img, level, opts && opts->png_fast)
           : sal__jpeg_encode(ctx, path, af.f, img, quality);
  if (st != SAL_STATUS_OK) {
    /* Keep the encoder's message: abandon the temporary without recording a second error. */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", sal_ctx_last_error(ctx));
    sal__atomic_commit(ctx, &af, false);
    return sal_ctx_error(ctx, st, "%s", msg);
  }
  return sal__atomic_commit_ex(ctx, &af, true, sync);
}

sal_status sal_image_write(sal_ctx *ctx, const char *path, const sal_image *img) {
  return sal_image_write_ex(ctx, path, img, NULL);
}
