/* Image codec tests: round trips, PNG fixtures of every depth/colour type/interlace, EXIF orientations vs
 * PIL, conversions, and a corrupt corpus with a fuzz loop (tools/make_image_fixtures.py makes the fixtures). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "io/codec.h"

#define FIX "tests/fixtures/image/"

static char g_dir[256];

static void tmp_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", g_dir, name); }

static int file_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0;
}



static uint32_t sample(const sal_image *im, int64_t i) {
  return im->depth == 8 ? ((const uint8_t *)im->pixels)[i] : ((const uint16_t *)im->pixels)[i];
}

/* CRC-32 of PNG chunks (W3C PNG Annex D: reflected polynomial 0xEDB88320). */
static uint32_t crc32_png(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put32be(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static uint32_t get32be(const unsigned char *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Recomputes every chunk CRC of a PNG in place (stops at the first chunk running past the end). */
static void fix_png_crcs(unsigned char *b, size_t n) {
  size_t p = 8;
  while (p + 12 <= n) {
    uint32_t len = get32be(b + p);
    if (len > n - p - 12) break;
    put32be(b + p + 8 + len, crc32_png(b + p + 4, 4 + (size_t)len));
    p += 12 + (size_t)len;
  }
}

/* Reading path must fail with `want` and a message naming the file (plus `frag` if given). */
static void expect_fail(const char *path, const sal_image_read_opts *o, sal_status want, const char *frag, const char *what) {
  sal_ctx *ctx = th_ctx();
  sal_image *im = (sal_image *)(uintptr_t)1;
  sal_status st = sal_image_read(ctx, path, o, &im);
  const char *msg = sal_ctx_last_error(ctx);
  TH_CHECK(st == want && im == NULL && strstr(msg, path) && th_contains(msg, frag), "%s: got %s '%s', want %s naming %s%s%s",
           what, sal_status_name(st), msg, sal_status_name(want), path, frag ? " with " : "", frag ? frag : "");
  if (st == SAL_STATUS_OK) sal_image_free(im);
}

/* A deterministic test image: smooth gradients and a few sinusoids (natural-image-like spectrum,
 * so that the JPEG bound below is meaningful), or uniform noise. */
static sal_image *make_image(int64_t w, int64_t h, int c, int depth, bool noise, uint64_t seed) {
  sal_image *im = NULL;
  TH_OK(sal_image_new(th_ctx(), w, h, c, depth, &im));
  if (!im) return NULL;
  uint32_t maxv = depth == 8 ? 255u : 65535u;
  for (int64_t y = 0; y < h; y++)
    for (int64_t x = 0; x < w; x++)
      for (int k = 0; k < c; k++) {
        int64_t i = (y * w + x) * c + k;
        double v;
        if (noise) {
          uint32_t r[4];
          sal_philox(seed, 0, (uint64_t)i, r);
          v = (double)(r[0] % (maxv + 1));
        } else {
          v = maxv * (0.5 + 0.25 * sin(0.11 * x + 0.7 * k) + 0.2 * cos(0.07 * y - 0.3 * k) + 0.05 * sin(0.31 * (x + y)));
        }
        if (depth == 8) ((uint8_t *)im->pixels)[i] = (uint8_t)v;
        else ((uint16_t *)im->pixels)[i] = (uint16_t)v;
      }
  return im;
}

static bool same_pixels(const sal_image *a, const sal_image *b) {
  return a && b && a->width == b->width && a->height == b->height && a->channels == b->channels && a->depth == b->depth &&
         memcmp(a->pixels, b->pixels, (size_t)(a->width * a->height * a->channels * a->depth / 8)) == 0;
}

static void test_png_round_trip(void) {
  sal_ctx *ctx = th_ctx();
  char path[400];
  for (int depth = 8; depth <= 16; depth += 8)
    for (int c = 1; c <= 4; c++) {
      sal_image *im = make_image(13, 9, c, depth, true, (uint64_t)(depth * 10 + c)), *back = NULL;
      if (!im) continue;
      snprintf(path, sizeof path, "%s/rt_%d_%d.PNG", g_dir, depth, c); /* extension case-insensitive */
      TH_OK(sal_image_write(ctx, path, im));
      char tmp[450];
      snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
      TH_CHECK(!file_exists(tmp), "temporary %s left behind", tmp);
      TH_OK(sal_image_read(ctx, path, NULL, &back));
      /* Every sample exact. With the 16-bit fixture test below (files written by an independent
       * big-endian encoder read exactly), this also shows the writer stores big-endian samples. */
      TH_CHECK(same_pixels(im, back), "PNG round trip, %d bits, %d channels", depth, c);
      sal_image_free(back);
      back = NULL;
      /* The bulk-writer settings (zlib level 1, Sub filter, no fsync) are lossless too. */
      const sal_image_write_opts fast = {.png_level = 1, .png_fast = true, .no_sync = true};
      TH_OK(sal_image_write_ex(ctx, path, im, &fast));
      TH_OK(sal_image_read(ctx, path, NULL, &back));
      TH_CHECK(same_pixels(im, back), "fast PNG round trip, %d bits, %d channels", depth, c);
      sal_image_free(back);
      const sal_image_write_opts bad = {.png_level = 10};
      TH_FAILS(sal_image_write_ex(ctx, path, im, &bad), SAL_STATUS_BAD_INPUT, "PNG level 10");
      sal_image_free(im);
    }
}

/* Fixture PNGs against the values the generator encoded. */
static void test_png_fixtures(void) {
  sal_ctx *ctx = th_ctx();
  static const struct {
    const char *name;
    int channels, depth;
  } cases[] = {{"g1", 1, 8},     {"g2i", 1, 8},    {"g4", 1, 8},    {"g16", 1, 16},  {"ga16i", 2, 16}, {"rgb16i", 3, 16},
               {"rgba16", 4, 16}, {"rgba8i", 4, 8}, {"pal4t", 4, 8}, {"pal8", 3, 8}, {"gtrns", 2, 8}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char p[256], q[256];
    snprintf(p, sizeof p, FIX "codec/%s.png", cases[i].name);
    snprintf(q, sizeof q, FIX "codec/%s.npy", cases[i].name);
    sal_image *im = NULL;
    sal_tensor *want = NULL;
    TH_OK(sal_image_read(ctx, p, NULL, &im));
    TH_OK(sal_npy_read(ctx, q, &want));
    if (im && want) {
      TH_CHECK(im->width == 13 && im->height == 7 && im->channels == cases[i].channels && im->depth == cases[i].depth,
               "%s: decoded %lld x %lld, %d channels, %d bits", cases[i].name, (long long)im->width, (long long)im->height,
               im->channels, im->depth);
      int64_t n = sal_tensor_numel(want), bad = -1;
      if (n == im->width * im->height * im->channels)
        for (int64_t k = 0; k < n && bad < 0; k++)
          if ((float)sample(im, k) != want->data[k]) bad = k;
      TH_CHECK(n == im->width * im->height * im->channels && bad < 0, "%s: sample %lld is %u, want %g", cases[i].name,
               (long long)bad, bad >= 0 ? sample(im, bad) : 0, bad >= 0 ? (double)want->data[bad] : 0.0);
    }
    sal_image_free(im);
    sal_tensor_free(want);
  }
}

/* Conversions on request against the documented formulas, from the RGBA 16-bit fixture. */
static void test_conversions(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *src = NULL, *im = NULL;
  TH_OK(sal_image_read(ctx, FIX "codec/rgba16.png", NULL, &src));
  if (!src) return;
  int64_t npx = src->width * src->height;
  struct {
    int channels, depth;
  } req[] = {{0, 8}, {1, 0}, {1, 8}, {3, 8}, {2, 16}, {4, 0}};
  for (size_t r = 0; r < sizeof req / sizeof req[0]; r++) {
    sal_image_read_opts o = {.channels = req[r].channels, .depth = req[r].depth};
    TH_OK(sal_image_read(ctx, FIX "codec/rgba16.png", &o, &im));
    if (!im) continue;
    int dc = req[r].channels ? req[r].channels : 4, dd = req[r].depth ? req[r].depth : 16, bad = 0;
    TH_CHECK(im->channels == dc && im->depth == dd, "conversion %zu: got %d channels %d bits", r, im->channels, im->depth);
    for (int64_t p = 0; p < npx && !bad && im->channels == dc; p++) {
      uint32_t R = sample(src, p * 4), G = sample(src, p * 4 + 1), B = sample(src, p * 4 + 2), A = sample(src, p * 4 + 3);
      uint32_t L = (uint32_t)((19595ull * R + 38470ull * G + 7471ull * B + 32768) >> 16);
      uint32_t want[4];
      if (dc == 1) want[0] = L;
      else if (dc == 2) want[0] = L, want[1] = A;
      else want[0] = R, want[1] = G, want[2] = B, want[3] = A;
      for (int k = 0; k < dc; k++) {
        uint32_t w = dd == 8 ? want[k] >> 8 : want[k];
        if (sample(im, p * dc + k) != w) bad = 1;
      }
    }
    TH_CHECK(!bad, "conversion %zu (channels %d, depth %d) differs from the documented formula", r, dc, dd);
    sal_image_free(im);
  }
  sal_image_free(src);
  /* Gray -> RGB replicates, gray -> RGBA adds opaque alpha, 8 -> 16 multiplies by 257. */
  sal_image *g = NULL;
  TH_OK(sal_image_read(ctx, FIX "codec/g4.png", NULL, &g));
  sal_image_read_opts o = {.channels = 4, .depth = 16};
  TH_OK(sal_image_read(ctx, FIX "codec/g4.png", &o, &im));
  if (g && im) {
    int bad = 0;
    for (int64_t p = 0; p < g->width * g->height; p++) {
      uint32_t v = sample(g, p) * 257;
      if (sample(im, p * 4) != v || sample(im, p * 4 + 1) != v || sample(im, p * 4 + 2) != v || sample(im, p * 4 + 3) != 65535)
        bad = 1;
    }
    TH_CHECK(!bad, "gray -> RGBA 16-bit");
  }
  sal_image_free(im);
  sal_image_free(g);
  sal_image_read_opts bado = {.channels = 5};
  TH_FAILS(sal_image_read(ctx, FIX "codec/g4.png", &bado, &im), SAL_STATUS_BAD_INPUT, "g4.png: bad read options");
}

static double psnr8(const sal_image *a, const sal_image *b) {
  double se = 0;
  int64_t n = a->width * a->height * a->channels;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)sample(a, i) - (double)sample(b, i);
    se += d * d;
  }
  return se == 0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
}

static void test_jpeg_round_trip(void) {
  sal_ctx *ctx = th_ctx();
  char path[400];
  for (int c = 1; c <= 3; c += 2) {
    sal_image *im = make_image(67, 45, c, 8, false, 0), *back = NULL, *back50 = NULL;
    if (!im) continue;
    snprintf(path, sizeof path, "%s/rt_%d.jpeg", g_dir, c);
    TH_OK(sal_image_write(ctx, path, im));
    TH_OK(sal_image_read(ctx, path, NULL, &back));
    snprintf(path, sizeof path, "%s/rt_%d_q50.jpg", g_dir, c);
    sal_image_write_opts wo = {.jpeg_quality = 50};
    TH_OK(sal_image_write_ex(ctx, path, im, &wo));
    TH_OK(sal_image_read(ctx, path, NULL, &back50));
    if (back && back50 && back->channels == c && back->width == 67 && back->height == 45) {
      double p95 = psnr8(im, back), p50 = psnr8(im, back50);
      printf("JPEG round trip, %d channel(s): PSNR %.2f dB at quality 95, %.2f dB at 50\n", c, p95, p50);
      /* Quality 95 quantises the low-frequency DCT coefficients with steps of 1-2 grey levels, so
       * a smooth image comes back with an RMS error near one level (~48 dB); 4:2:0 chroma
       * subsampling costs a few dB on colour. Measured: 53.9 dB gray, 47.3 dB RGB. 40 dB is an RMS
       * error of 2.5 levels: a decoder or encoder bug (wrong colour conversion, shifted rows)
       * falls far below it. */
      TH_CHECK(p95 >= 40.0, "JPEG q95 PSNR %.2f dB < 40 dB (%d channels)", p95, c);
      TH_CHECK(p50 < p95, "quality 50 (%.2f dB) should lose more than quality 95 (%.2f dB)", p50, p95);
    } else {
      TH_CHECK(0, "JPEG round trip with %d channels did not decode to the same size", c);
    }
    sal_image_free(back);
    sal_image_free(back50);
    sal_image_free(im);
  }
  /* What JPEG cannot hold is refused before a file is created. */
  sal_image *im = make_image(5, 5, 4, 8, true, 1);
  const char *pp = path;
  tmp_path(path, sizeof path, "rgba.jpg");
  TH_FAILS(sal_image_write(ctx, path, im), SAL_STATUS_UNSUPPORTED, pp);
  TH_CHECK(!file_exists(path), "a refused JPEG write created %s", path);
  sal_image_free(im);
  im = make_image(5, 5, 3, 16, true, 1);
  TH_FAILS(sal_image_write(ctx, path, im), SAL_STATUS_UNSUPPORTED, "8-bit gray or RGB only");
  sal_image_free(im);
  im = make_image(5, 5, 3, 8, true, 1);
  sal_image_write_opts wo = {.jpeg_quality = 101};
  tmp_path(path, sizeof path, "q.jpg");
  TH_FAILS(sal_image_write_ex(ctx, path, im, &wo), SAL_STATUS_BAD_INPUT, "quality 101");
  TH_CHECK(!file_exists(path), "a failed JPEG write left %s", path);
  tmp_path(path, sizeof path, "x.gif");
  TH_FAILS(sal_image_write(ctx, path, im), SAL_STATUS_UNSUPPORTED, "unknown image extension");
  tmp_path(path, sizeof path, "no/such/dir/x.png");
  TH_FAILS(sal_image_write(ctx, path, im), SAL_STATUS_IO, pp);
  sal_image_free(im);
}

/* EXIF orientations 1..8 (II and MM byte orders) against PIL's exif_transpose of the same file.
 * Exact equality: PIL decodes with the same libjpeg-turbo 2.1.5 and default settings. */
static void test_exif(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *raw1 = NULL;
  TH_OK(sal_image_read(ctx, FIX "exif/o1.jpg", NULL, &raw1));
  for (int o = 1; o <= 8; o++) {
    char p[128], q[128];
    snprintf(p, sizeof p, FIX "exif/o%d.jpg", o);
    snprintf(q, sizeof q, FIX "exif/o%d.png", o);
    sal_image *got = NULL, *want = NULL, *raw = NULL;
    TH_OK(sal_image_read(ctx, p, NULL, &got));
    TH_OK(sal_image_read(ctx, q, NULL, &want));
    TH_CHECK(same_pixels(got, want), "orientation %d differs from PIL's exif_transpose (got %lld x %lld)", o,
             got ? (long long)got->width : -1LL, got ? (long long)got->height : -1LL);
    if (got) TH_CHECK((o >= 5) == (got->width == 8), "orientation %d: width %lld", o, (long long)got->width);
    sal_image_read_opts io = {.ignore_orientation = true};
    TH_OK(sal_image_read(ctx, p, &io, &raw));
    TH_CHECK(same_pixels(raw, raw1), "orientation %d ignored: not the stored pixels", o);
    sal_image_free(raw);
    sal_image_free(got);
    sal_image_free(want);
  }
  sal_image_free(raw1);
  /* Gray, progressive and 4:4:4 files against PIL's decode (odd sizes: partial MCUs). */
  static const char *const jp[3] = {"gray", "prog", "s444"};
  for (int i = 0; i < 3; i++) {
    char p[128], q[128];
    snprintf(p, sizeof p, FIX "exif/%s.jpg", jp[i]);
    snprintf(q, sizeof q, FIX "exif/%s.png", jp[i]);
    sal_image *g = NULL, *gw = NULL;
    TH_OK(sal_image_read(ctx, p, NULL, &g));
    TH_OK(sal_image_read(ctx, q, NULL, &gw));
    TH_CHECK(same_pixels(g, gw) && g->channels == (i == 0 ? 1 : 3), "%s JPEG differs from PIL's decode", jp[i]);
    sal_image_free(g);
    sal_image_free(gw);
  }
  expect_fail(FIX "exif/cmyk.jpg", NULL, SAL_STATUS_UNSUPPORTED, "CMYK", "CMYK JPEG");

  /* The parser on hand-made segments: every offset out of bounds yields 0 (no orientation). */
  unsigned char s[64] = "Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
  TH_CHECK(sal__exif_orientation(s, 32) == 6, "MM orientation 6");
  TH_CHECK(sal__exif_orientation(s, 25) == 0, "entry cut short");
  unsigned char t[64];
  memcpy(t, s, 64);
  t[13] = 0xF0; /* IFD0 offset beyond the segment */
  TH_CHECK(sal__exif_orientation(t, 32) == 0, "IFD offset out of range");
  memcpy(t, s, 64);
  t[14] = 0xFF, t[15] = 0xFF; /* 65535 entries, the first not the orientation */
  t[17] = 0x13;
  TH_CHECK(sal__exif_orientation(t, 32) == 0, "entry count beyond the segment");
  memcpy(t, s, 64);
  t[25] = 9;
  TH_CHECK(sal__exif_orientation(t, 32) == 0, "orientation 9 is invalid");
  memcpy(t, s, 64);
  t[19] = 4; /* type LONG */
  TH_CHECK(sal__exif_orientation(t, 32) == 0, "wrong type");
  memcpy(t, s, 64);
  t[6] = 'X';
  TH_CHECK(sal__exif_orientation(t, 32) == 0, "bad byte order mark");
  TH_CHECK(sal__exif_orientation(s, 10) == 0 && sal__exif_orientation(NULL, 0) == 0, "short segment");
  /* Random damage to the segment (bytes and length): always 0..8, never a read out of bounds (the
   * copy is exactly `len` bytes long on the heap, so ASan sees any overrun). */
  int rounds = th_quick() ? 2000 : 20000, ok = 1;
  for (int r = 0; r < rounds; r++) {
    uint32_t q[4];
    sal_philox(5, 0, (uint64_t)r, q);
    size_t len = 7 + q[0] % 26;
    unsigned char *u = malloc(len);
    memcpy(u, s, len);
    for (int k = 0; k < 3; k++) u[6 + q[1 + k] % (len - 6)] = (unsigned char)(q[k] >> 8);
    int v = sal__exif_orientation(u, len);
    if (v < 0 || v > 8) ok = 0;
    free(u);
  }
  TH_CHECK(ok, "damaged EXIF segments give orientations outside 0..8");
}

/* A minimal PNG: signature, IHDR (w, h, 8-bit RGB), one IDAT of `idat`, IEND, all CRCs right. */
static size_t make_png_header_only(unsigned char *b, uint32_t w, uint32_t h) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  memcpy(b, sig, 8);
  unsigned char *c = b + 8;
  put32be(c, 13);
  memcpy(c + 4, "IHDR", 4);
  put32be(c + 8, w);
  put32be(c + 12, h);
  c[16] = 8, c[17] = 2, c[18] = 0, c[19] = 0, c[20] = 0;
  put32be(c + 21, crc32_png(c + 4, 17));
  c += 25;
  /* IDAT: a stored zlib stream of a few zero bytes. */
  static const unsigned char z[] = {0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x01};
  put32be(c, sizeof z);
  memcpy(c + 4, "IDAT", 4);
  memcpy(c + 8, z, sizeof z);
  put32be(c + 8 + sizeof z, crc32_png(c + 4, 4 + sizeof z));
  c += 12 + sizeof z;
  put32be(c, 0);
  memcpy(c + 4, "IEND", 4);
  put32be(c + 8, crc32_png(c + 4, 4));
  c += 12;
  return (size_t)(c - b);
}

static void test_corrupt(void) {
  sal_ctx *ctx = th_ctx();
  char path[400];
  sal_image *im = make_image(13, 7, 3, 8, false, 0);
  char png[400], jpg[400];
  tmp_path(png, sizeof png, "good.png");
  tmp_path(jpg, sizeof jpg, "good.jpg");
  TH_OK(sal_image_write(ctx, png, im));
  TH_OK(sal_image_write(ctx, jpg, im));
  sal_image_free(im);
  size_t np = 0, nj = 0;
  unsigned char *bp = th_read_file(png, &np), *bj = th_read_file(jpg, &nj);
  if (!bp || !bj || np < 100 || nj < 300) {
    TH_CHECK(0, "could not make the good files (%zu, %zu bytes)", np, nj);
    free(bp);
    free(bj);
    return;
  }
  /* Truncations: inside the signature (not recognisable: UNSUPPORTED), inside IHDR, inside IDAT,
   * before and inside IEND. */
  size_t pcuts[] = {0, 5, 8, 12, 20, 33, 45, np / 2, np - 12, np - 5, np - 1};
  for (size_t i = 0; i < sizeof pcuts / sizeof pcuts[0]; i++) {
    snprintf(path, sizeof path, "%s/cut%zu.png", g_dir, pcuts[i]);
    th_write_file(path, bp, pcuts[i]);
    char what[64];
    snprintf(what, sizeof what, "PNG truncated at %zu of %zu", pcuts[i], np);
    expect_fail(path, NULL, pcuts[i] == 0 ? SAL_STATUS_BAD_INPUT : pcuts[i] < 8 ? SAL_STATUS_UNSUPPORTED : SAL_STATUS_BAD_INPUT,
                pcuts[i] == 0 ? "empty" : NULL, what);
  }
  size_t jcuts[] = {2, 3, 10, 50, 150, nj / 2, nj - 10, nj - 2, nj - 1};
  for (size_t i = 0; i < sizeof jcuts / sizeof jcuts[0]; i++) {
    snprintf(path, sizeof path, "%s/cut%zu.jpg", g_dir, jcuts[i]);
    th_write_file(path, bj, jcuts[i]);
    char what[64];
    snprintf(what, sizeof what, "JPEG truncated at %zu of %zu", jcuts[i], nj);
    expect_fail(path, NULL, jcuts[i] < 3 ? SAL_STATUS_UNSUPPORTED : SAL_STATUS_BAD_INPUT, NULL, what);
  }
  unsigned char *c = malloc(np > nj ? np : nj);
  /* Bad CRCs: in IHDR and in IDAT's data. */
  memcpy(c, bp, np);
  c[8 + 21] ^= 0x55;
  tmp_path(path, sizeof path, "crc_ihdr.png");
  th_write_file(path, c, np);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, "CRC", "IHDR CRC");
  memcpy(c, bp, np);
  c[33 + 8 + 3] ^= 0x01; /* a byte of the first IDAT's data (the chunk after IHDR) */
  tmp_path(path, sizeof path, "crc_idat.png");
  th_write_file(path, c, np);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, NULL, "IDAT CRC");

  /* Huge declared sizes fail before any pixel allocation: with the next allocation rigged to fail,
   * the error is still the size, not OUT_OF_MEMORY. */
  unsigned char h[128];
  size_t nh = make_png_header_only(h, 100000, 100000);
  tmp_path(path, sizeof path, "huge.png");
  th_write_file(path, h, nh);
  sal_ctx_fail_alloc_after(ctx, 1);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, "100000 x 100000 exceeds the limit", "huge PNG");
  sal_ctx_fail_alloc_after(ctx, 0);
  nh = make_png_header_only(h, 0, 7);
  tmp_path(path, sizeof path, "zero.png");
  th_write_file(path, h, nh);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, NULL, "zero-width PNG");
  nh = make_png_header_only(h, 9, 0);
  tmp_path(path, sizeof path, "zeroh.png");
  th_write_file(path, h, nh);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, NULL, "zero-height PNG");
  /* JPEG: patch the SOF0 frame size (height at +5, width at +7 after the marker). */
  size_t sof = 0;
  for (size_t i = 2; i + 9 < nj; i++)
    if (bj[i] == 0xFF && bj[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  TH_CHECK(sof > 0, "no SOF0 in the baseline JPEG");
  if (sof) {
    memcpy(c, bj, nj);
    c[sof + 5] = 0xFD, c[sof + 6] = 0xE8, c[sof + 7] = 0xFD, c[sof + 8] = 0xE8; /* 65000 x 65000 */
    tmp_path(path, sizeof path, "huge.jpg");
    th_write_file(path, c, nj);
    sal_ctx_fail_alloc_after(ctx, 2); /* the first allocation is the decoder's state */
    expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, "65000 x 65000 exceeds the limit", "huge JPEG");
    sal_ctx_fail_alloc_after(ctx, 0);
    memcpy(c, bj, nj);
    c[sof + 5] = 0, c[sof + 6] = 0;
    tmp_path(path, sizeof path, "zero.jpg");
    th_write_file(path, c, nj);
    expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, NULL, "zero-height JPEG");
  }
  /* The caller's pixel limit. */
  sal_image_read_opts small = {.max_pixels = 90};
  expect_fail(png, &small, SAL_STATUS_BAD_INPUT, "13 x 7 exceeds the limit of 90", "max_pixels PNG");
  expect_fail(jpg, &small, SAL_STATUS_BAD_INPUT, "13 x 7 exceeds the limit of 90", "max_pixels JPEG");
  /* Not an image, empty, a directory, missing. */
  tmp_path(path, sizeof path, "gif.png");
  th_write_file(path, "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
  expect_fail(path, NULL, SAL_STATUS_UNSUPPORTED, "not a PNG or JPEG", "wrong magic");
  tmp_path(path, sizeof path, "empty.jpg");
  th_write_file(path, "", 0);
  expect_fail(path, NULL, SAL_STATUS_BAD_INPUT, "empty", "empty file");
  tmp_path(path, sizeof path, "adir.png");
  mkdir(path, 0700);
  expect_fail(path, NULL, SAL_STATUS_IO, "not a regular file", "directory");
  rmdir(path);
  tmp_path(path, sizeof path, "missing.png");
  expect_fail(path, NULL, SAL_STATUS_NOT_FOUND, NULL, "missing file");
  /* In memory: the caller's name stands for the file. */
  sal_image *m = NULL;
  TH_FAILS(sal_image_decode(ctx, "mem.png", bp, np / 2, NULL, &m), SAL_STATUS_BAD_INPUT, "mem.png");
  TH_FAILS(sal_image_decode(ctx, "mem.jpg", bj, 0, NULL, &m), SAL_STATUS_BAD_INPUT, "mem.jpg: empty");
  TH_OK(sal_image_decode(ctx, "mem.jpg", bj, nj, NULL, &m));
  TH_CHECK(m && m->width == 13 && m->height == 7 && m->channels == 3, "in-memory JPEG decode");
  sal_image_free(m);
  free(c);

  /* Fuzz: random byte replacements over the good PNG (half the rounds with the CRCs repaired, so
   * that the damage reaches the decoder instead of the CRC check) and JPEG, from memory and from
   * files. Each variant decodes or fails cleanly naming its source; ASan/UBSan watch the rest. */
  size_t ne = 0, npg = 0;
  unsigned char *be = th_read_file(FIX "exif/o6.jpg", &ne), *bpg = th_read_file(FIX "exif/prog.jpg", &npg);
  TH_CHECK(be && bpg && ne > 100 && npg > 100, "EXIF and progressive fixtures for the fuzz loop");
  size_t nmax = np;
  if (nj > nmax) nmax = nj;
  if (ne > nmax) nmax = ne;
  if (npg > nmax) nmax = npg;
  int rounds = th_quick() ? 150 : 1500, clean = 1, decoded = 0;
  unsigned char *d = malloc(nmax);
  for (int r = 0; r < 2 * rounds; r++) {
    /* Even rounds damage the PNG; odd ones the baseline JPEG, the EXIF JPEG (orientation 6, so the
     * APP1 parser and the rotation run on damaged input) or the progressive one in turn. */
    bool is_png = r % 2 == 0;
    int jk = (r / 2) % 3;
    const unsigned char *b = is_png ? bp : jk == 0 ? bj : jk == 1 ? be : bpg;
    size_t n = is_png ? np : jk == 0 ? nj : jk == 1 ? ne : npg;
    if (!b) continue;
    memcpy(d, b, n);
    uint32_t rnd[4];
    sal_philox(99, 0, (uint64_t)r, rnd);
    int flips = 1 + (int)(rnd[0] % 4);
    for (int k = 0; k < flips; k++) {
      uint32_t q[4];
      sal_philox(99, 1 + (uint64_t)k, (uint64_t)r, q);
      d[q[0] % n] = (unsigned char)q[1];
    }
    size_t len = rnd[1] % 5 == 0 ? rnd[2] % (n + 1) : n;
    if (is_png && rnd[3] % 2) fix_png_crcs(d, len);
    const char *name = is_png ? "fuzz.png" : "fuzz.jpg";
    sal_image *u = NULL;
    sal_status st;
    if (r % 10 == 0) {
      tmp_path(path, sizeof path, name);
      th_write_file(path, d, len);
      st = sal_image_read(ctx, path, NULL, &u);
      name = path;
    } else {
      st = sal_image_decode(ctx, name, d, len, NULL, &u);
    }
    if (st != SAL_STATUS_OK && !strstr(sal_ctx_last_error(ctx), name)) {
      clean = 0;
      fprintf(stderr, "fuzz round %d: message does not name %s: %s\n", r, name, sal_ctx_last_error(ctx));
    }
    if (st == SAL_STATUS_OK) {
      decoded++;
      if (!u || u->width < 1 || u->height < 1 || u->width * u->height > SAL_IMAGE_MAX_PIXELS_DEFAULT) clean = 0;
    }
    sal_image_free(u);
  }
  TH_CHECK(clean, "fuzzed images: every failure names its source, every success is a sane image");
  printf("fuzz: %d of %d damaged files still decoded\n", decoded, 2 * rounds);
  free(d);
  free(be);
  free(bpg);

  /* Allocation failure at every allocation of a read: OUT_OF_MEMORY naming the file, no leak. */
  const char *files[2] = {png, jpg};
  for (int f = 0; f < 2; f++) {
    int failed_once = 0, succeeded = 0;
    for (int k = 1; k < 20 && !succeeded; k++) {
      sal_ctx_fail_alloc_after(ctx, k);
      sal_image *u = NULL;
      sal_image_read_opts o = {.channels = 1};
      sal_status st = sal_image_read(ctx, files[f], &o, &u);
      sal_ctx_fail_alloc_after(ctx, 0);
      if (st == SAL_STATUS_OK) {
        succeeded = 1;
      } else {
        failed_once = 1;
        TH_CHECK(st == SAL_STATUS_OUT_OF_MEMORY && u == NULL && strstr(sal_ctx_last_error(ctx), files[f]),
                 "allocation %d failing: %s '%s'", k, sal_status_name(st), sal_ctx_last_error(ctx));
      }
      sal_image_free(u);
    }
    TH_CHECK(failed_once && succeeded, "fault injection reached %s's allocations and then succeeded", files[f]);
  }
  free(bp);
  free(bj);
}

static void cleanup_dir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_dir);
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/sal_image_XXXXXX", base && base[0] ? base : "/tmp");
  if (!mkdtemp(g_dir)) {
    fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  test_png_round_trip();
  test_png_fixtures();
  test_conversions();
  test_jpeg_round_trip();
  test_exif();
  test_corrupt();
  cleanup_dir();
  return th_finish("test_image");
}
