/* JPEG codec on libjpeg-turbo: decode gray and YCbCr/RGB to 8-bit gray or RGB with the EXIF
 * orientation tag read from APP1, encode 8-bit gray or RGB. Called by src/io/image.c. */
#include "io/codec.h"

#include "core/internal.h"

#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <string.h>

/* libjpeg's error_exit must not return: ours formats the message and longjmps back to the inner
 * function's setjmp. As in png.c, the state the cleanup needs lives in a struct in the outer
 * function's frame (C11 7.13.2.1p3). */
typedef struct jpeg_job {
  struct jpeg_error_mgr pub; /* first, so that the error manager pointer is the job */
  jmp_buf jb;
  char msg[JMSG_LENGTH_MAX];
  sal_ctx *ctx;
  const char *name;
  struct jpeg_decompress_struct d;
  struct jpeg_compress_struct c;
  bool d_made, c_made;
  sal_image *img;
  int orientation;
} jpeg_job;

static void on_error_exit(j_common_ptr cinfo) {
  jpeg_job *j = (jpeg_job *)cinfo->err;
  cinfo->err->format_message(cinfo, j->msg);
  longjmp(j->jb, 1);
}

/* Warnings that mean the pixel data is damaged or missing are errors here: libjpeg would otherwise
 * return a gray-filled image for a truncated file ("Premature end of JPEG file"), which a data
 * loader must not silently feed to a model. Benign ones (extraneous bytes before a marker, an
 * unknown JFIF version) are logged and ignored, as PIL ignores them. */
static void on_emit(j_common_ptr cinfo, int level) {
  if (level != -1) return; /* trace messages */
  jpeg_job *j = (jpeg_job *)cinfo->err;
  int code = cinfo->err->msg_code;
  cinfo->err->format_message(cinfo, j->msg);
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC ||
      code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION)
    longjmp(j->jb, 1);
  sal_log(j->ctx, SAL_LOG_DEBUG, "%s: libjpeg warning: %s", j->name, j->msg);
}

static sal_status decode_inner(jpeg_job *j, const sal__img_src *src, int64_t max_pixels) {
  if (setjmp(j->jb)) return SAL_STATUS_BAD_INPUT;
  jpeg_create_decompress(&j->d);
  j->d_made = true;
  if (src->f) jpeg_stdio_src(&j->d, src->f);
  else jpeg_mem_src(&j->d, src->mem, (unsigned long)src->n);
  jpeg_save_markers(&j->d, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&j->d, TRUE);
  JDIMENSION w = j->d.image_width, h = j->d.image_height;
  if ((int64_t)w * (int64_t)h > max_pixels) {
    snprintf(j->msg, sizeof j->msg, "declared size %u x %u exceeds the limit of %lld pixels", (unsigned)w, (unsigned)h,
             (long long)max_pixels);
    return SAL_STATUS_BAD_INPUT;
  }
  if (j->d.jpeg_color_space == JCS_GRAYSCALE) {
    j->d.out_color_space = JCS_GRAYSCALE;
  } else if (j->d.jpeg_color_space == JCS_YCbCr || j->d.jpeg_color_space == JCS_RGB) {
    j->d.out_color_space = JCS_RGB;
  } else {
    snprintf(j->msg, sizeof j->msg, "JPEG colour space %s is not supported (gray, YCbCr and RGB are)",
             j->d.jpeg_color_space == JCS_CMYK ? "CMYK" : j->d.jpeg_color_space == JCS_YCCK ? "YCCK" : "unknown");
    return SAL_STATUS_UNSUPPORTED;
  }
  /* The first Exif APP1 segment wins, as in PIL's JPEG plugin. */
  for (jpeg_saved_marker_ptr m = j->d.marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1) continue;
    int o = sal__exif_orientation(m->data, m->data_length);
    if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
      j->orientation = o ? o : 1;
      break;
    }
  }
  jpeg_start_decompress(&j->d);
  int channels = j->d.output_components;
  if ((channels != 1 && channels != 3) || j->d.output_width != w || j->d.output_height != h) {
    snprintf(j->msg, sizeof j->msg, "unexpected decoder output (%d components)", channels);
    return SAL_STATUS_INTERNAL;
  }
  sal_status st = sal_image_new(j->ctx, w, h, channels, 8, &j->img);
  if (st != SAL_STATUS_OK) {
    snprintf(j->msg, sizeof j->msg, "%s", sal_ctx_last_error(j->ctx));
    return st;
  }
  size_t stride = (size_t)w * (size_t)channels;
  while (j->d.output_scanline < h) {
    JSAMPROW row = (JSAMPROW)j->img->pixels + (size_t)j->d.output_scanline * stride;
    if (jpeg_read_scanlines(&j->d, &row, 1) != 1) {
      snprintf(j->msg, sizeof j->msg, "decoder stalled at row %u", (unsigned)j->d.output_scanline);
      return SAL_STATUS_BAD_INPUT;
    }
  }
  jpeg_finish_decompress(&j->d);
  return SAL_STATUS_OK;
}

static void job_init(jpeg_job *j, sal_ctx *ctx, const char *name) {
  memset(j, 0, sizeof *j);
  j->ctx = ctx;
  j->name = name;
  j->orientation = 1;
  jpeg_std_error(&j->pub);
  j->pub.error_exit = on_error_exit;
  j->pub.emit_message = on_emit;
  j->d.err = &j->pub;
  j->c.err = &j->pub;
}

sal_status sal__jpeg_decode(sal_ctx *ctx, const sal__img_src *src, int64_t max_pixels, int *orientation,
                            sal_image **out) {
  *out = NULL;
  *orientation = 1;
  jpeg_job *j = sal_alloc(ctx, sizeof *j); /* ~1 KiB of libjpeg state; kept off small thread stacks */
  if (!j) return sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", src->name);
  job_init(j, ctx, src->name);
  sal_status st = decode_inner(j, src, max_pixels);
  if (j->d_made) jpeg_destroy_decompress(&j->d);
  if (st != SAL_STATUS_OK) {
    sal_image_free(j->img);
    st = sal_ctx_error(ctx, st, "%s: %s%s", src->name, st == SAL_STATUS_BAD_INPUT ? "corrupt or unreadable JPEG: " : "",
                       j->msg);
  } else {
    *out = j->img;
    *orientation = j->orientation;
  }
  sal_free(j);
  return st;
}

static sal_status encode_inner(jpeg_job *j, FILE *f, const sal_image *img, int quality) {
  if (setjmp(j->jb)) return SAL_STATUS_IO;
  jpeg_create_compress(&j->c);
  j->c_made = true;
  jpeg_stdio_dest(&j->c, f);
  j->c.image_width = (JDIMENSION)img->width;
  j->c.image_height = (JDIMENSION)img->height;
  j->c.input_components = img->channels;
  j->c.in_color_space = img->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&j->c);
  jpeg_set_quality(&j->c, quality, TRUE);
  jpeg_start_compress(&j->c, TRUE);
  size_t stride = (size_t)img->width * (size_t)img->channels;
  while (j->c.next_scanline < j->c.image_height) {
    JSAMPROW row = (JSAMPROW)img->pixels + (size_t)j->c.next_scanline * stride;
    jpeg_write_scanlines(&j->c, &row, 1);
  }
  jpeg_finish_compress(&j->c);
  return SAL_STATUS_OK;
}

sal_status sal__jpeg_encode(sal_ctx *ctx, const char *name, FILE *f, const sal_image *img, int quality) {
  if (img->depth != 8 || (img->channels != 1 && img->channels != 3))
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: JPEG holds 8-bit gray or RGB only (image has %d channels, %d bits)",
                         name, img->channels, img->depth);
  if (img->width > JPEG_MAX_DIMENSION || img->height > JPEG_MAX_DIMENSION)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: JPEG sides are limited to %ld pixels", name, (long)JPEG_MAX_DIMENSION);
  if (quality < 1 || quality > 100)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: JPEG quality %d is outside 1..100", name, quality);
  jpeg_job *j = sal_alloc(ctx, sizeof *j);
  if (!j) return sal_ctx_error_prefix(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: ", name);
  job_init(j, ctx, name);
  sal_status st = encode_inner(j, f, img, quality);
  if (j->c_made) jpeg_destroy_compress(&j->c);
  if (st != SAL_STATUS_OK) st = sal_ctx_error(ctx, st, "%s: JPEG encoding failed: %s", name, j->msg);
  sal_free(j);
  return st;
}
