/* PNG codec on libpng's full API: decode every colour type and bit depth exactly as stored (no
 * gamma handling), encode 8/16-bit gray, gray+alpha, RGB, RGBA (called by src/io/image.c), and the
 * reusable in-memory bulk encoder of src/io/png_bulk.h (called by salient synth's writer). */
#include "io/codec.h"
#include "io/png_bulk.h"

#include "core/internal.h"

#include <png.h>
#include <string.h>
#include <zlib.h> /* strategy constants only (Z_HUFFMAN_ONLY, Z_RLE); libpng makes the calls */

/* libpng reports errors through a callback that must not return; ours records the message and
 * longjmps back to the setjmp in the inner decode/encode function (png_jmpbuf). All the state the
 * cleanup needs lives in this struct, which belongs to the *outer* function's frame, so nothing
 * modified between setjmp and longjmp is an automatic variable of the function that called setjmp
 * (C11 7.13.2.1p3). */
typedef struct png_job {
  sal_ctx *ctx;
  const sal__img_src *src;
  size_t pos; /* read position in src->mem */
  png_structp png;
  png_infop info;
  sal_image *img;
  png_bytep *rows;
  char msg[256];
} png_job;

static bool host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

static void on_error(png_structp png, png_const_charp msg) {
  png_job *j = png_get_error_ptr(png);
  snprintf(j->msg, sizeof j->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

/* Warnings (a bad CRC in an ancillary chunk, an odd sRGB profile) do not stop decoding; libpng has
 * already skipped the offending chunk. */
static void on_warning(png_structp png, png_const_charp msg) {
  png_job *j = png_get_error_ptr(png);
  sal_log(j->ctx, SAL_LOG_DEBUG, "%s: libpng warning: %s", j->src ? j->src->name : "png", msg);
}

/* Reads from the stream or memory; a short read is a truncated file (libpng's own stdio reader
 * would say only "Read Error"). */
static void on_read(png_structp png, png_bytep out, size_t len) {
  png_job *j = png_get_io_ptr(png);
  const sal__img_src *s = j->src;
  if (s->f) {
    if (fread(out, 1, len, s->f) != len) png_error(png, ferror(s->f) ? "read error" : "truncated file");
  } else {
    if (len > s->n - j->pos) png_error(png, "truncated data");
    memcpy(out, s->mem + j->pos, len);
    j->pos += len;
  }
}

/* Everything after setjmp. Returns OK, or an error status whose message the caller completes. */
static sal_status decode_inner(png_job *j, int64_t max_pixels) {
  if (setjmp(png_jmpbuf(j->png))) return SAL_STATUS_BAD_INPUT;
  png_set_read_fn(j->png, j, on_read);
  png_read_info(j->png, j->info);
  png_uint_32 w, h;
  int bit_depth, color_type, interlace;
  png_get_IHDR(j->png, j->info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
  /* libpng has rejected zero sizes already; bound the product before anything is allocated. */
  if ((int64_t)w * (int64_t)h > max_pixels) {
    snprintf(j->msg, sizeof j->msg, "declared size %u x %u exceeds the limit of %lld pixels", (unsigned)w, (unsigned)h,
             (long long)max_pixels);
    return SAL_STATUS_BAD_INPUT;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
  if (png_get_valid(j->png, j->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(j->png);
  /* PNG stores 16-bit samples big-endian (W3C PNG §7.1); the image holds them in host order. */
  if (bit_depth == 16 && host_little_endian()) png_set_swap(j->png);
  png_set_interlace_handling(j->png); /* png_read_image then runs every Adam7 pass */
  png_read_update_info(j->png, j->info);
  int channels = png_get_channels(j->png, j->info), depth = png_get_bit_depth(j->png, j->info);
  if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
      png_get_rowbytes(j->png, j->info) != (size_t)w * (size_t)channels * (size_t)depth / 8) {
    snprintf(j->msg, sizeof j->msg, "unexpected layout after expansion (%d channels, %d bits)", channels, depth);
    return SAL_STATUS_INTERNAL;
  }
  sal_status st = sal_image_new(j->ctx, w, h, channels, depth, &j->img);
  if (st != SAL_STATUS_OK) {
    snprintf(j->msg, sizeof j->msg, "%s", sal_ctx_last_error(j->ctx));
    return st;
  }
  j->rows = sal_alloc(j->ctx, (size_t)h * sizeof *j->rows);
  if (!j->rows) {
    snprintf(j->msg, sizeof j->msg, "%s", sal_ctx_last_error(j->ctx));
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  size_t stride = (size_t)w * (size_t)channels * (size_t)depth / 8;
  for (png_uint_32 y = 0; y < h; y++) j->rows[y] = (png_bytep)j->img->pixels + (size_t)y * stride;
  png_read_image(j->png, j->rows);
  /* Reads through IEND: a file cut after its pixel data is still reported as truncated. */
  png_read_end(j->png, NULL);
  return SAL_STATUS_OK;
}

sal_status sal__png_decode(sal_ctx *ctx, const sal__img_src *src, int64_t max_pixels, sal_image **out) {
  *out = NULL;
  png_job j;
  memset(&j, 0, sizeof j);
  j.ctx = ctx;
  j.src = src;
  j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
  if (j.png) j.info = png_create_info_struct(j.png);
  if (!j.png || !j.info) {
    png_destroy_read_struct(j.png ? &j.png : NULL, NULL, NULL);
    return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: cannot create the PNG decoder", src->name);
  }
  sal_status st = decode_inner(&j, max_pixels);
  png_destroy_read_struct(&j.png, &j.info, NULL);
  sal_free(j.rows);
  if (st != SAL_STATUS_OK) {
    sal_image_free(j.img);
    return sal_ctx_error(ctx, st, "%s: %s%s", src->name, st == SAL_STATUS_BAD_INPUT ? "corrupt or unreadable PNG: " : "",
                         j.msg);
  }
  *out = j.img;
  return SAL_STATUS_OK;
}

static sal_status encode_inner(png_job *j, FILE *f, const sal_image *img, int level, bool fast) {
  if (setjmp(png_jmpbuf(j->png))) return SAL_STATUS_IO;
  if (level > 0) png_set_compression_level(j->png, level);
  if (fast) png_set_filter(j->png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
  static const int color[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                               PNG_COLOR_TYPE_RGB_ALPHA};
  png_init_io(j->png, f);
  png_set_IHDR(j->png, j->info, (png_uint_32)img->width, (png_uint_32)img->height, img->depth, color[img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(j->png, j->info);
  /* After png_write_info: the rows we pass are in host order, the file gets big-endian. */
  if (img->depth == 16 && host_little_endian()) png_set_swap(j->png);
  size_t stride = (size_t)img->width * (size_t)img->channels * (size_t)img->depth / 8;
  for (int64_t y = 0; y < img->height; y++) png_write_row(j->png, (png_const_bytep)img->pixels + (size_t)y * stride);
  png_write_end(j->png, NULL);
  return SAL_STATUS_OK;
}

sal_status sal__png_encode(sal_ctx *ctx, const char *name, FILE *f, const sal_image *img, int level, bool fast) {
  if (img->width > PNG_UINT_31_MAX || img->height > PNG_UINT_31_MAX)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: image too large for PNG", name);
  png_job j;
  memset(&j, 0, sizeof j);
  j.ctx = ctx;
  j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, on_error, on_warning);
  if (j.png) j.info = png_create_info_struct(j.png);
  if (!j.png || !j.info) {
    png_destroy_write_struct(j.png ? &j.png : NULL, NULL);
    return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: cannot create the PNG encoder", name);
  }
  sal_status st = encode_inner(&j, f, img, level, fast);
  png_destroy_write_struct(&j.png, &j.info);
  if (st != SAL_STATUS_OK) return sal_ctx_error(ctx, st, "%s: PNG encoding failed: %s", name, j.msg);
  return SAL_STATUS_OK;
}

/* ---- bulk encoder (src/io/png_bulk.h) ---- */

/* libpng and zlib allocate about 200 KB per image (the deflate window, hash chains and pending
 * buffer) and free it at the end; glibc then hands the memory back to the kernel (madvise, brk)
 * and takes it again for the next image, page faults and TLB shootdowns included — a sixth of
 * salient synth's CPU time on 64 x 64 images. The arena keeps that memory: allocations are carved
 * from one block reset before each image; what does not fit is allocated on its own and the block
 * grows to the whole demand for the next image. */
#define BULK_MAX_SPILL 64

struct sal__png_bulk {
  sal_ctx *ctx;          /* the current call's context (messages of failed allocations) */
  unsigned char *arena;  /* cap bytes, carved from the front */
  size_t cap, used;
  size_t need;           /* bytes the current image asked for in all */
  void *spill[BULK_MAX_SPILL];
  int n_spill;
  uint8_t *out;          /* the encoded file: n bytes of out_cap */
  size_t n, out_cap;
  png_structp png;
  png_infop info;
  char msg[256];
};

static png_voidp bulk_malloc(png_structp png, png_alloc_size_t size) {
  sal__png_bulk *b = png_get_mem_ptr(png);
  size_t sz = ((size_t)size + 63) & ~(size_t)63; /* sal_alloc's 64-byte alignment */
  if (sz < size) return NULL;
  b->need += sz;
  if (sz <= b->cap - b->used) {
    void *p = b->arena + b->used;
    b->used += sz;
    return p;
  }
  if (b->n_spill == BULK_MAX_SPILL) return NULL;
  void *p = sal_alloc(b->ctx, sz);
  if (p) b->spill[b->n_spill++] = p;
  return p;
}

/* Everything is released at the next reset (or by sal__png_bulk_free). */
static void bulk_free(png_structp png, png_voidp p) {
  (void)png;
  (void)p;
}

static bool bulk_reset(sal__png_bulk *b) {
  for (int i = 0; i < b->n_spill; i++) sal_free(b->spill[i]);
  b->n_spill = 0;
  if (b->need > b->cap) {
    sal_free(b->arena);
    b->arena = sal_alloc(b->ctx, b->need);
    b->cap = b->arena ? b->need : 0;
    if (!b->arena) return false;
  }
  b->used = 0;
  b->need = 0;
  b->n = 0;
  return true;
}

static void bulk_write(png_structp png, png_bytep data, size_t len) {
  sal__png_bulk *b = png_get_io_ptr(png);
  if (len > b->out_cap - b->n) {
    size_t cap = b->out_cap ? b->out_cap : 16384;
    while (cap - b->n < len) {
      if (cap > SIZE_MAX / 2) png_error(png, "encoded image too large");
      cap *= 2;
    }
    uint8_t *p = sal_alloc(b->ctx, cap);
    if (!p) png_error(png, "out of memory");
    if (b->n) memcpy(p, b->out, b->n);
    sal_free(b->out);
    b->out = p;
    b->out_cap = cap;
  }
  memcpy(b->out + b->n, data, len);
  b->n += len;
}

static void bulk_flush(png_structp png) { (void)png; }

static void bulk_error(png_structp png, png_const_charp msg) {
  sal__png_bulk *b = png_get_error_ptr(png);
  snprintf(b->msg, sizeof b->msg, "%s", msg ? msg : "libpng error");
  png_longjmp(png, 1);
}

static void bulk_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static sal_status bulk_inner(sal__png_bulk *b, const sal_image *img, sal__png_mode mode) {
  if (setjmp(png_jmpbuf(b->png))) return SAL_STATUS_IO;
  /* Under the Huffman-only and run-length strategies zlib's output is the same at every level from
   * 1 up (level 0 would store the data uncompressed). */
  png_set_compression_level(b->png, 1);
  png_set_filter(b->png, PNG_FILTER_TYPE_BASE, mode == SAL__PNG_SUB_HUFFMAN ? PNG_FILTER_SUB : PNG_FILTER_NONE);
  png_set_compression_strategy(b->png, mode == SAL__PNG_SUB_HUFFMAN ? Z_HUFFMAN_ONLY : Z_RLE);
  static const int color[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                               PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_write_fn(b->png, b, bulk_write, bulk_flush);
  png_set_IHDR(b->png, b->info, (png_uint_32)img->width, (png_uint_32)img->height, 8, color[img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(b->png, b->info);
  size_t stride = (size_t)img->width * (size_t)img->channels;
  for (int64_t y = 0; y < img->height; y++) png_write_row(b->png, (png_const_bytep)img->pixels + (size_t)y * stride);
  png_write_end(b->png, NULL);
  return SAL_STATUS_OK;
}

sal_status sal__png_bulk_new(sal_ctx *ctx, sal__png_bulk **out) {
  *out = sal_calloc(ctx, 1, sizeof **out);
  return *out ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
}

void sal__png_bulk_free(sal__png_bulk *b) {
  if (!b) return;
  for (int i = 0; i < b->n_spill; i++) sal_free(b->spill[i]);
  sal_free(b->arena);
  sal_free(b->out);
  sal_free(b);
}

sal_status sal__png_bulk_encode(sal_ctx *ctx, sal__png_bulk *b, const char *name, const sal_image *img,
                                sal__png_mode mode, const uint8_t **data, size_t *n) {
  *data = NULL;
  *n = 0;
  if (!img || !img->pixels || img->depth != 8 || img->channels < 1 || img->channels > 4 || img->width < 1 ||
      img->height < 1 || img->width > PNG_UINT_31_MAX || img->height > PNG_UINT_31_MAX)
    return sal_ctx_error(ctx, SAL_STATUS_UNSUPPORTED, "%s: the bulk PNG encoder takes 8-bit images of 1..4 channels", name);
  b->ctx = ctx;
  b->msg[0] = 0;
  if (!bulk_reset(b)) return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "%s: cannot allocate the PNG encoder", name);
  b->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, b, bulk_error, bulk_warning, b, bulk_malloc, bulk_free);
  b->info = b->png ? png_create_info_struct(b->png) : NULL;
  sal_status st = b->info ? bulk_inner(b, img, mode) : SAL_STATUS_OUT_OF_MEMORY;
  /* The memory is the arena's: destroying only runs libpng's and zlib's own clean-up. */
  if (b->png) png_destroy_write_struct(&b->png, b->info ? &b->info : NULL);
  b->png = NULL;
  b->info = NULL;
  if (st == SAL_STATUS_OUT_OF_MEMORY) return sal_ctx_error(ctx, st, "%s: cannot create the PNG encoder", name);
  if (st) return sal_ctx_error(ctx, st, "%s: PNG encoding failed: %s", name, b->msg);
  *data = b->out;
  *n = b->n;
  return SAL_STATUS_OK;
}
