/* Preprocessing tests against PIL and torchvision fixtures (tools/make_image_fixtures.py): resizes, crop
 * offsets, the ImageNet eval transform, masks/boxes/points, workspace reuse without allocation, threads. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define FIX "tests/fixtures/image/"

static sal_image *load(const char *path) {
  sal_image *im = NULL;
  TH_OK(sal_image_read(th_ctx(), path, NULL, &im));
  return im;
}

static sal_tensor *load_npy(const char *path) {
  sal_tensor *t = NULL;
  TH_OK(sal_npy_read(th_ctx(), path, &t));
  return t;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d; /* NaN propagates as a failure */
  }
  return m;
}

static const int rgb_sizes[][2] = {{16, 10}, {50, 41}, {37, 11}, {18, 23}, {74, 46}, {12, 7}, {1, 1}, {100, 3}};
static const int gray_sizes[][2] = {{10, 13}, {58, 82}, {31, 17}, {29, 5}};
static const char *interp_name[3] = {"nearest", "bilinear", "bicubic"};

/* PIL Image.resize on 8-bit images: bit-exact (the same double coefficients, 22-bit fixed point
 * and per-pass rounding). Measured: 0 differences over every case. */
static void test_pil_u8(void) {
  sal_ctx *ctx = th_ctx();
  sal_workspace *ws = NULL;
  TH_OK(sal_workspace_new(ctx, &ws));
  int worst = 0;
  for (int s = 0; s < 2; s++) {
    const char *sname = s == 0 ? "rgb" : "gray";
    char p[256];
    snprintf(p, sizeof p, FIX "resize/src_%s.png", sname);
    sal_image *src = load(p);
    if (!src) continue;
    int n = s == 0 ? 8 : 4;
    for (int it = SAL_INTERP_BILINEAR; it <= SAL_INTERP_BICUBIC; it++)
      for (int k = 0; k < n; k++) {
        int w = s == 0 ? rgb_sizes[k][0] : gray_sizes[k][0], h = s == 0 ? rgb_sizes[k][1] : gray_sizes[k][1];
        snprintf(p, sizeof p, FIX "resize/pil_%s_%s_%dx%d.png", sname, interp_name[it], w, h);
        sal_image *want = load(p);
        if (!want) continue;
        uint8_t *got = malloc((size_t)(w * h * src->channels));
        /* Alternate between a reused workspace and none. */
        TH_OK(sal_resize_u8(ctx, k % 2 ? ws : NULL, src->pixels, src->width, src->height, src->channels, got, w, h,
                            (sal_interp)it));
        int md = 0;
        int64_t at = -1;
        for (int64_t i = 0; i < (int64_t)w * h * src->channels; i++) {
          int d = abs((int)got[i] - (int)((uint8_t *)want->pixels)[i]);
          if (d > md) md = d, at = i;
        }
        if (md > worst) worst = md;
        TH_CHECK(md == 0 && want->channels == src->channels, "PIL %s %s %dx%d: max difference %d grey levels at %lld",
                 sname, interp_name[it], w, h, md, (long long)at);
        free(got);
        sal_image_free(want);
      }
    sal_image_free(src);
  }
  printf("PIL 8-bit resize: max difference %d grey levels\n", worst);
  sal_workspace_free(ws);
}

/* torchvision resize on float tensors, antialias=True. Our coefficients mirror torch's float
 * expressions; the sums may still differ in the last bits (torch vectorises its loops), so the
 * tolerance is 1e-5 on values in [0, 1] (bicubic overshoots slightly): ~100 float32 ulps, far below
 * a one-tap or one-weight error (>= 1e-3 on these noise images). Measured: printed below. */
static void test_torchvision_f32(void) {
  sal_ctx *ctx = th_ctx();
  static const int tv_rgb[][2] = {{16, 10}, {50, 41}, {12, 7}, {100, 3}}, tv_gray[][2] = {{10, 13}, {58, 82}};
  double worst = 0;
  for (int s = 0; s < 2; s++) {
    const char *sname = s == 0 ? "rgb" : "gray";
    char p[256];
    snprintf(p, sizeof p, FIX "resize/src_%s.png", sname);
    sal_image *src = load(p);
    if (!src) continue;
    int64_t C = src->channels, W = src->width, H = src->height;
    float *chw = malloc(sizeof(float) * (size_t)(C * W * H));
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < W * H; i++) chw[c * W * H + i] = (float)((uint8_t *)src->pixels)[i * C + c] / 255.0f;
    int n = s == 0 ? 4 : 2;
    for (int it = SAL_INTERP_BILINEAR; it <= SAL_INTERP_BICUBIC; it++)
      for (int k = 0; k < n; k++) {
        int w = s == 0 ? tv_rgb[k][0] : tv_gray[k][0], h = s == 0 ? tv_rgb[k][1] : tv_gray[k][1];
        snprintf(p, sizeof p, FIX "resize/tv_%s_%s_%dx%d.npy", sname, interp_name[it], w, h);
        sal_tensor *want = load_npy(p);
        if (!want) continue;
        float *got = malloc(sizeof(float) * (size_t)(C * w * h));
        TH_OK(sal_resize_f32(ctx, NULL, chw, C, W, H, got, w, h, (sal_interp)it));
        double md = sal_tensor_numel(want) == C * w * h ? max_abs_diff(got, want->data, C * w * h) : INFINITY;
        if (md > worst) worst = md;
        TH_CHECK(md <= 1e-5, "torchvision %s %s %dx%d: max difference %g", sname, interp_name[it], w, h, md);
        free(got);
        sal_tensor_free(want);
      }
    free(chw);
    sal_image_free(src);
  }
  printf("torchvision float resize (antialias=True): max difference %.3g\n", worst);
}

static void test_geometry_rules(void) {
  sal_tensor *t = load_npy(FIX "resize/crop.npy");
  if (t) {
    int64_t rows = t->shape.d[0];
    for (int64_t r = 0; r < rows; r++) {
      const float *v = t->data + r * 6;
      int64_t H = (int64_t)v[0], W = (int64_t)v[1], ch = (int64_t)v[2], cw = (int64_t)v[3];
      int64_t oy = sal_center_crop_offset(H, ch), ox = sal_center_crop_offset(W, cw);
      TH_CHECK(oy == (int64_t)v[4] && ox == (int64_t)v[5], "center crop %lld x %lld -> %lld x %lld: offsets (%lld, %lld), torchvision (%g, %g)",
               (long long)H, (long long)W, (long long)ch, (long long)cw, (long long)oy, (long long)ox, (double)v[4], (double)v[5]);
    }
    sal_tensor_free(t);
  }
  /* torchvision Resize(int): shorter side, long side truncated. */
  static const int64_t cases[][5] = {{300, 257, 256, 298, 256}, {37, 23, 40, 64, 40}, {23, 37, 40, 40, 64},
                                     {500, 375, 256, 341, 256}, {64, 64, 32, 32, 32}, {3, 1000, 224, 224, 74666}};
  int64_t zw = -1, zh = -1;
  sal_resize_shorter(0, 5, 10, &zw, &zh);
  TH_CHECK(zw == 0 && zh == 0, "resize shorter of a 0-wide image: %lld x %lld", (long long)zw, (long long)zh);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t w, h;
    sal_resize_shorter(cases[i][0], cases[i][1], cases[i][2], &w, &h);
    TH_CHECK(w == cases[i][3] && h == cases[i][4], "resize shorter %lld x %lld to %lld: got %lld x %lld", (long long)cases[i][0],
             (long long)cases[i][1], (long long)cases[i][2], (long long)w, (long long)h);
  }
}

/* The ImageNet eval transform against torchvision on a 300 x 257 image. */
static void test_imagenet_pipeline(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *src = load(FIX "pipe/src.png"), *u8 = load(FIX "pipe/u8.png");
  sal_tensor *head = load_npy(FIX "pipe/head.npy");
  sal_preprocess p = sal_preprocess_default();
  float *out = malloc(sizeof(float) * 3 * 224 * 224);
  sal_geom g;
  TH_OK(sal_preprocess_image(ctx, &p, src, NULL, out, 3 * 224 * 224, &g));
  TH_CHECK(g.resized_w == 298 && g.resized_h == 256 && g.crop_x == 37 && g.crop_y == 16 && g.out_w == 224,
           "ImageNet geometry: resized %lld x %lld, crop at (%lld, %lld)", (long long)g.resized_w, (long long)g.resized_h,
           (long long)g.crop_x, (long long)g.crop_y);
  if (src && u8 && head) {
    /* The 8-bit crop is PIL's exactly: recover it from our floats and compare with torchvision's. */
    int bad = 0;
    for (int c = 0; c < 3 && !bad; c++)
      for (int64_t i = 0; i < 224 * 224; i++) {
        float want = ((float)((uint8_t *)u8->pixels)[i * 3 + c] / 255.0f - p.mean[c]) / p.std[c];
        if (out[c * 224 * 224 + i] != want) {
          bad = 1;
          fprintf(stderr, "pipeline channel %d pixel %lld: %g, want %g\n", c, (long long)i, (double)out[c * 224 * 224 + i], (double)want);
          break;
        }
      }
    TH_CHECK(!bad, "ImageNet pipeline: 8-bit crop differs from torchvision's Resize(256) + CenterCrop(224)");
    /* ToTensor + Normalize: the same float operations, so the same floats. */
    double md = 0;
    for (int c = 0; c < 3; c++) {
      double d = max_abs_diff(out + c * 224 * 224, head->data + c * 8 * 224, 8 * 224);
      if (d > md) md = d;
    }
    printf("ImageNet eval pipeline vs torchvision: max difference %.3g\n", md);
    TH_CHECK(md == 0, "ImageNet pipeline normalised values differ from torchvision by %g", md);
  }
  free(out);
  sal_tensor_free(head);
  sal_image_free(u8);
  sal_image_free(src);
}

static sal_preprocess pad_pipeline(void) {
  sal_preprocess p = sal_preprocess_default();
  p.resize = 40;
  p.crop_h = 48, p.crop_w = 56;
  return p;
}

/* Padding (crop taller than the resized image), on the PIL path and on the tensor path. */
static void test_pad_pipeline(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *src = load(FIX "resize/src_rgb.png");
  sal_tensor *want = load_npy(FIX "pipe/pad.npy"), *want_t = load_npy(FIX "pipe/pad_tensor.npy");
  sal_preprocess p = pad_pipeline();
  int64_t n = 3 * 48 * 56;
  float *out = malloc(sizeof(float) * (size_t)n);
  sal_geom g;
  TH_OK(sal_preprocess_image(ctx, &p, src, NULL, out, n, &g));
  TH_CHECK(g.resized_w == 64 && g.resized_h == 40 && g.crop_x == 4 && g.crop_y == -4, "pad geometry: %lld x %lld at (%lld, %lld)",
           (long long)g.resized_w, (long long)g.resized_h, (long long)g.crop_x, (long long)g.crop_y);
  if (want && sal_tensor_numel(want) == n) {
    double md = max_abs_diff(out, want->data, n);
    printf("padded pipeline (PIL path) vs torchvision: max difference %.3g\n", md);
    TH_CHECK(md == 0, "padded pipeline differs from torchvision by %g", md);
  }
  p.float_resize = true;
  TH_OK(sal_preprocess_image(ctx, &p, src, NULL, out, n, NULL));
  if (want_t && sal_tensor_numel(want_t) == n) {
    /* Normalised values are ~4x the [0,1] values (std ~0.225): the 1e-5 resize bound becomes 5e-5. */
    double md = max_abs_diff(out, want_t->data, n);
    printf("padded pipeline (tensor path) vs torchvision: max difference %.3g\n", md);
    TH_CHECK(md <= 5e-5, "padded tensor pipeline differs from torchvision by %g", md);
  }
  /* A 16-bit image v · 257 takes the float path and gives the same floats (v·257/65535 = v/255). */
  if (src) {
    sal_image *w16 = NULL;
    TH_OK(sal_image_new(ctx, src->width, src->height, 3, 16, &w16));
    for (int64_t i = 0; i < src->width * src->height * 3; i++)
      ((uint16_t *)w16->pixels)[i] = (uint16_t)(((uint8_t *)src->pixels)[i] * 257);
    float *o16 = malloc(sizeof(float) * (size_t)n);
    p.float_resize = false;
    TH_OK(sal_preprocess_image(ctx, &p, w16, NULL, o16, n, NULL));
    TH_CHECK(memcmp(o16, out, sizeof(float) * (size_t)n) == 0, "16-bit image differs from the float path on 8-bit");
    free(o16);
    sal_image_free(w16);
  }
  free(out);
  sal_tensor_free(want);
  sal_tensor_free(want_t);
  sal_image_free(src);
}

/* Channel handling: gray replicated to 3 identical planes; RGB -> 1 channel equals converting the
 * file to gray first (PIL's convert("L") then resize). */
static void test_channels(void) {
  sal_ctx *ctx = th_ctx();
  sal_preprocess p = pad_pipeline();
  for (int c = 0; c < 3; c++) p.mean[c] = 0, p.std[c] = 1;
  sal_image *gray = load(FIX "resize/src_gray.png");
  sal_geom g;
  if (gray) {
    TH_OK(sal_preprocess_geometry(ctx, &p, gray->width, gray->height, &g));
    int64_t plane = g.out_w * g.out_h;
    float *o = malloc(sizeof(float) * (size_t)(3 * plane));
    TH_OK(sal_preprocess_image(ctx, &p, gray, NULL, o, 3 * plane, NULL));
    TH_CHECK(memcmp(o, o + plane, sizeof(float) * (size_t)plane) == 0 && memcmp(o, o + 2 * plane, sizeof(float) * (size_t)plane) == 0,
             "gray -> 3 channels: planes differ");
    free(o);
  }
  sal_image_free(gray);
  sal_image *rgb = load(FIX "resize/src_rgb.png"), *l = NULL;
  sal_image_read_opts o1 = {.channels = 1};
  TH_OK(sal_image_read(ctx, FIX "resize/src_rgb.png", &o1, &l));
  if (rgb && l) {
    p.channels = 1;
    int64_t n = 48 * 56;
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    TH_OK(sal_preprocess_image(ctx, &p, rgb, NULL, a, n, NULL));
    TH_OK(sal_preprocess_image(ctx, &p, l, NULL, b, n, NULL));
    TH_CHECK(memcmp(a, b, sizeof(float) * (size_t)n) == 0, "RGB -> gray in the pipeline differs from gray decoding");
    free(a);
    free(b);
  }
  sal_image_free(rgb);
  sal_image_free(l);
}

/* Masks and boxes: PIL-nearest mask against torchvision; a box drawn into a mask and mapped both
 * ways agrees. */
static void test_masks_boxes(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *m = load(FIX "pipe/mask.png"), *want = load(FIX "pipe/mask_out.png");
  sal_preprocess p = pad_pipeline();
  uint8_t *out = malloc(48 * 56);
  if (m && want) {
    TH_OK(sal_preprocess_mask(ctx, &p, m->pixels, m->width, m->height, SAL_MASK_NEAREST, NULL, out, 48 * 56));
    TH_CHECK(memcmp(out, want->pixels, 48 * 56) == 0, "nearest mask differs from torchvision (PIL NEAREST + CenterCrop)");
  }
  free(out);
  sal_image_free(m);
  sal_image_free(want);

  /* Several geometries (down, up, crop, padding); a box with integer corners drawn into a mask. The
   * nearest mask must be exactly the set of model pixels whose centres lie in the mapped box
   * (pixels within 1e-6 of an edge are ties and skipped); the bilinear mask may differ only within
   * one source pixel of the edges. */
  static const struct {
    int64_t w, h, resize, rw, rh, cw, ch;
    int box[4];
  } cases[] = {{37, 23, 40, 0, 0, 48, 56, {3, 2, 30, 17}},     {101, 77, 32, 0, 0, 28, 28, {10, 20, 61, 75}},
               {64, 48, 0, 25, 19, 0, 0, {0, 0, 64, 13}},       {50, 80, 0, 0, 0, 60, 30, {7, 9, 8, 70}},
               {45, 45, 90, 0, 0, 64, 64, {20, 20, 25, 25}}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    sal_preprocess q = sal_preprocess_default();
    q.resize = cases[k].resize, q.resize_w = cases[k].rw, q.resize_h = cases[k].rh;
    q.crop_w = cases[k].cw, q.crop_h = cases[k].ch;
    int64_t w = cases[k].w, h = cases[k].h;
    sal_geom g;
    TH_OK(sal_preprocess_geometry(ctx, &q, w, h, &g));
    uint8_t *src = calloc((size_t)(w * h), 1), *nm = malloc((size_t)(g.out_w * g.out_h)), *bm = malloc((size_t)(g.out_w * g.out_h));
    const int *b = cases[k].box;
    for (int y = b[1]; y < b[3]; y++)
      for (int x = b[0]; x < b[2]; x++) src[y * w + x] = 7;
    TH_OK(sal_preprocess_mask(ctx, &q, src, w, h, SAL_MASK_NEAREST, NULL, nm, g.out_w * g.out_h));
    TH_OK(sal_preprocess_mask(ctx, &q, src, w, h, SAL_MASK_BILINEAR, NULL, bm, g.out_w * g.out_h));
    float box[4] = {(float)b[0], (float)b[1], (float)b[2], (float)b[3]};
    bool inside;
    sal_geom_map_boxes(&g, 1, box, &inside);
    int bad_n = 0, bad_b = 0, any = 0;
    for (int64_t y = 0; y < g.out_h; y++)
      for (int64_t x = 0; x < g.out_w; x++) {
        double cx = x + 0.5, cy = y + 0.5;
        bool in = cx >= box[0] && cx < box[2] && cy >= box[1] && cy < box[3];
        bool tie = fabs(cx - box[0]) < 1e-6 || fabs(cx - box[2]) < 1e-6 || fabs(cy - box[1]) < 1e-6 || fabs(cy - box[3]) < 1e-6;
        uint8_t v = nm[y * g.out_w + x];
        if (!tie && (v == 7) != in) bad_n++;
        any |= in;
        /* Bilinear threshold: agrees away from the edges (one source pixel = sx model pixels). */
        double mx = g.sx + 1, my = g.sy + 1;
        bool near = fabs(cx - box[0]) < mx || fabs(cx - box[2]) < mx || fabs(cy - box[1]) < my || fabs(cy - box[3]) < my;
        if (!near && (bm[y * g.out_w + x] == 1) != in) bad_b++;
      }
    TH_CHECK(bad_n == 0 && inside == (bool)any, "case %zu: %d nearest-mask pixels disagree with the mapped box (%g %g %g %g)", k, bad_n,
             (double)box[0], (double)box[1], (double)box[2], (double)box[3]);
    TH_CHECK(bad_b == 0, "case %zu: %d bilinear-mask pixels disagree with the box away from its edges", k, bad_b);
    /* Points: the box corners map to the (unclipped) box corners. */
    float pts[4] = {(float)b[0], (float)b[1], (float)b[2], (float)b[3]};
    bool pin[2];
    sal_geom_map_points(&g, 2, pts, pin);
    TH_CHECK(fabs(pts[0] - (g.sx * b[0] + g.ox)) < 1e-4 && fabs(pts[3] - (g.sy * b[3] + g.oy)) < 1e-4, "case %zu: points", k);
    free(src);
    free(nm);
    free(bm);
  }
  /* A box in the part the crop removes, and one straddling the frame's edge. */
  sal_preprocess q = sal_preprocess_default();
  q.resize = 40, q.crop_w = q.crop_h = 24;
  sal_geom g;
  TH_OK(sal_preprocess_geometry(ctx, &q, 37, 23, &g)); /* resized 64 x 40, crop at (20, 8) */
  float boxes[8] = {0, 0, 5, 5, 10, 10, 30, 20};
  bool in[2];
  sal_geom_map_boxes(&g, 2, boxes, in);
  TH_CHECK(!in[0] && in[1], "box outside the crop reported inside, or a straddling one outside");
  TH_CHECK(boxes[4] == 0 && fabsf(boxes[5] - (float)(10 * 40.0 / 23 - 8)) < 1e-4 && boxes[6] == 24 && boxes[7] == 24,
           "straddling box clipped to (%g %g %g %g)", (double)boxes[4], (double)boxes[5], (double)boxes[6], (double)boxes[7]);
  float pt[4] = {1, 1, 18.5f, 11.5f};
  sal_geom_map_points(&g, 2, pt, in);
  TH_CHECK(!in[0] && in[1], "point inside flags");
}

/* After one image of the largest size, the pipeline runs with allocation failing. */
static void test_workspace(void) {
  sal_ctx *ctx = th_ctx();
  sal_image *src = load(FIX "pipe/src.png"), *small = load(FIX "resize/src_rgb.png");
  if (!src || !small) {
    sal_image_free(src);
    sal_image_free(small);
    return;
  }
  sal_workspace *ws = NULL;
  TH_OK(sal_workspace_new(ctx, &ws));
  sal_preprocess p = sal_preprocess_default();
  float *a = malloc(sizeof(float) * 3 * 224 * 224), *b = malloc(sizeof(float) * 3 * 224 * 224);
  TH_OK(sal_preprocess_image(ctx, &p, src, ws, a, 3 * 224 * 224, NULL));
  sal_ctx_fail_alloc_after(ctx, 1);
  TH_OK(sal_preprocess_image(ctx, &p, small, ws, b, 3 * 224 * 224, NULL));
  TH_OK(sal_preprocess_image(ctx, &p, src, ws, b, 3 * 224 * 224, NULL));
  sal_ctx_fail_alloc_after(ctx, 0);
  TH_CHECK(memcmp(a, b, sizeof(float) * 3 * 224 * 224) == 0, "workspace reuse changed the result");
  /* Without a workspace the call allocates: an injected failure is reported, not a crash. */
  sal_ctx_fail_alloc_after(ctx, 1);
  TH_FAILS(sal_preprocess_image(ctx, &p, src, NULL, b, 3 * 224 * 224, NULL), SAL_STATUS_OUT_OF_MEMORY, NULL);
  sal_ctx_fail_alloc_after(ctx, 0);
  /* Bad settings and buffers. */
  TH_FAILS(sal_preprocess_image(ctx, &p, src, ws, b, 3 * 224 * 223, NULL), SAL_STATUS_SHAPE, "(3, 224, 224) needs 150528");
  sal_preprocess q = p;
  q.channels = 2;
  TH_FAILS(sal_preprocess_image(ctx, &q, src, ws, b, 2 * 224 * 224, NULL), SAL_STATUS_BAD_INPUT, "channels 2");
  q = p;
  q.std[1] = 0;
  TH_FAILS(sal_preprocess_image(ctx, &q, src, ws, b, 3 * 224 * 224, NULL), SAL_STATUS_BAD_INPUT, "std 0");
  q = p;
  q.crop_h = 0;
  TH_FAILS(sal_preprocess_image(ctx, &q, src, ws, b, 3 * 224 * 224, NULL), SAL_STATUS_BAD_INPUT, "both sides");
  q = p;
  q.resize = 0, q.resize_w = 10;
  TH_FAILS(sal_preprocess_image(ctx, &q, src, ws, b, 3 * 224 * 224, NULL), SAL_STATUS_BAD_INPUT, "both sides");
  q = p;
  q.resize = 1000000; /* 1e6 x 1.17e6 */
  TH_FAILS(sal_preprocess_image(ctx, &q, src, ws, b, 3 * 224 * 224, NULL), SAL_STATUS_BAD_INPUT, "too large");
  free(a);
  free(b);
  sal_workspace_free(ws);
  sal_image_free(src);
  sal_image_free(small);
}

/* Two threads, each with its own workspace and no context, give the single-threaded result. */
typedef struct job {
  const sal_image *img;
  float *out;
  int iters;
  sal_status st;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  sal_workspace *ws = NULL;
  j->st = sal_workspace_new(NULL, &ws);
  sal_preprocess p = sal_preprocess_default();
  for (int i = 0; i < j->iters && j->st == SAL_STATUS_OK; i++)
    j->st = sal_preprocess_image(NULL, &p, j->img, ws, j->out, 3 * 224 * 224, NULL);
  sal_workspace_free(ws);
  return NULL;
}

static void test_threads(void) {
  sal_image *src = load(FIX "pipe/src.png"), *small = load(FIX "resize/src_rgb.png");
  if (!src || !small) {
    sal_image_free(src);
    sal_image_free(small);
    return;
  }
  float *ref[2], *out[2];
  const sal_image *imgs[2] = {src, small};
  sal_preprocess p = sal_preprocess_default();
  job jobs[2];
  pthread_t th[2];
  for (int i = 0; i < 2; i++) {
    ref[i] = malloc(sizeof(float) * 3 * 224 * 224);
    out[i] = malloc(sizeof(float) * 3 * 224 * 224);
    TH_OK(sal_preprocess_image(th_ctx(), &p, imgs[i], NULL, ref[i], 3 * 224 * 224, NULL));
    jobs[i] = (job){imgs[i], out[i], th_quick() ? 2 : 5, SAL_STATUS_OK};
    pthread_create(&th[i], NULL, run_job, &jobs[i]);
  }
  for (int i = 0; i < 2; i++) {
    pthread_join(th[i], NULL);
    TH_CHECK(jobs[i].st == SAL_STATUS_OK && memcmp(ref[i], out[i], sizeof(float) * 3 * 224 * 224) == 0,
             "thread %d: %s or a different result", i, sal_status_name(jobs[i].st));
    free(ref[i]);
    free(out[i]);
  }
  sal_image_free(src);
  sal_image_free(small);
}

int main(void) {
  test_pil_u8();
  test_torchvision_f32();
  test_geometry_rules();
  test_imagenet_pipeline();
  test_pad_pipeline();
  test_channels();
  test_masks_boxes();
  test_workspace();
  test_threads();
  return th_finish("test_preprocess");
}
