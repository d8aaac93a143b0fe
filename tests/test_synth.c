/* Synthetic-data tests: exact masks and boxes, determinism of the written files (seed, threads,
 * split sizes), refusal of bad input, and class-independence of colour, background and size
 * statistics with a one-way ANOVA whose power is checked on statistics that do depend on the class. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "data/synth.h"
#include "io/png_bulk.h"
#include "salient/synth.h"

static char g_root[256];

/* ---------- helpers ---------- */

static sal_synth_params params(sal_synth_family f, uint64_t seed, int64_t train, int64_t val, int64_t test) {
  sal_synth_params p = sal_synth_params_default(f);
  p.seed = seed;
  p.count[0] = train;
  p.count[1] = val;
  p.count[2] = test;
  return p;
}

/* FNV-1a over a file's bytes; 0 when it cannot be read. */
static uint64_t file_hash(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  uint64_t h = 1469598103934665603ull;
  int c;
  while ((c = fgetc(f)) != EOF) h = (h ^ (uint64_t)c) * 1099511628211ull;
  fclose(f);
  return h;
}

typedef struct file_list {
  int n, cap;
  char (*name)[400];
  uint64_t *hash;
} file_list;

/* Collects every regular file under root/rel (recursively) with its hash. */
static void list_files(const char *root, const char *rel, file_list *l) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/%s", root, rel);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char r2[400], full[1000];
    snprintf(r2, sizeof r2, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    snprintf(full, sizeof full, "%s/%s", root, r2);
    struct stat sb;
    if (stat(full, &sb) != 0) continue;
    if (S_ISDIR(sb.st_mode)) {
      list_files(root, r2, l);
      continue;
    }
    if (l->n == l->cap) {
      l->cap = l->cap ? 2 * l->cap : 256;
      l->name = realloc(l->name, (size_t)l->cap * sizeof *l->name);
      l->hash = realloc(l->hash, (size_t)l->cap * sizeof *l->hash);
    }
    snprintf(l->name[l->n], 400, "%s", r2);
    l->hash[l->n++] = file_hash(full);
  }
  closedir(d);
}

static int find_file(const file_list *l, const char *name) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->name[i], name) == 0) return i;
  return -1;
}

static void free_list(file_list *l) {
  free(l->name);
  free(l->hash);
  memset(l, 0, sizeof *l);
}

/* Compares two dataset trees file by file; returns the number of files that differ (a file
 * missing from either side counts). */
static int tree_diff(const char *a, const char *b, int *n_files) {
  file_list la = {0}, lb = {0};
  list_files(a, "", &la);
  list_files(b, "", &lb);
  int diff = la.n != lb.n ? abs(la.n - lb.n) : 0;
  for (int i = 0; i < la.n; i++) {
    int j = find_file(&lb, la.name[i]);
    if (j < 0 || lb.hash[j] != la.hash[i]) diff++;
  }
  *n_files = la.n;
  free_list(&la);
  free_list(&lb);
  return diff;
}

static void rm_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

/* ---------- names and parameters ---------- */

static void test_names(void) {
  sal_ctx *ctx = th_ctx();
  sal_synth_family f;
  TH_OK(sal_synth_family_from_name(ctx, "lesions", &f));
  TH_CHECK(f == SAL_SYNTH_LESIONS, "lesions -> %d", (int)f);
  TH_FAILS(sal_synth_family_from_name(ctx, "blobs", &f), SAL_STATUS_BAD_INPUT, "unknown synthetic family 'blobs'");
  TH_CHECK(sal_synth_num_classes(SAL_SYNTH_SHAPES) == 10 && sal_synth_num_classes(SAL_SYNTH_LESIONS) == 5 &&
               sal_synth_num_classes(SAL_SYNTH_PAIRS) == 10 && sal_synth_num_classes(SAL_SYNTH_FAMILY_COUNT) == 0,
           "class counts");
  TH_CHECK(strcmp(sal_synth_class_name(SAL_SYNTH_SHAPES, 3), "star") == 0 &&
               strcmp(sal_synth_class_name(SAL_SYNTH_LESIONS, 1), "spiculated") == 0 &&
               sal_synth_class_name(SAL_SYNTH_LESIONS, 5) == NULL && sal_synth_class_name(SAL_SYNTH_SHAPES, -1) == NULL,
           "class names");
  sal_synth_sample s;
  sal_synth_params p = sal_synth_params_default(SAL_SYNTH_SHAPES);
  p.size = 31;
  TH_FAILS(sal_synth_render(ctx, &p, SAL_SYNTH_TRAIN, 0, &s), SAL_STATUS_BAD_INPUT, "image size 31 is outside 32..512");
  p.size = 513;
  TH_FAILS(sal_synth_render(ctx, &p, SAL_SYNTH_TRAIN, 0, &s), SAL_STATUS_BAD_INPUT, "outside 32..512");
  p = sal_synth_params_default(SAL_SYNTH_PAIRS);
  p.size_max = 0.4;
  TH_FAILS(sal_synth_render(ctx, &p, SAL_SYNTH_TRAIN, 0, &s), SAL_STATUS_BAD_INPUT, "object size range");
  p = sal_synth_params_default(SAL_SYNTH_SHAPES);
  TH_FAILS(sal_synth_render(ctx, &p, SAL_SYNTH_TRAIN, -1, &s), SAL_STATUS_BAD_INPUT, "out of range");
  TH_CHECK(s.image == NULL, "a failed render leaves the sample empty");
}

/* ---------- the coverage rule ---------- */

/* An axis-aligned 10 x 10 square on pixel edges covers whole pixels (16 of 16 samples); shifted by
 * half a pixel, its edge pixels are half covered (8 of 16) and belong to the mask (>= 1/2), its
 * corner pixels are a quarter covered (4 of 16) and do not. */
static void test_coverage_rule(void) {
  synth_shape sq;
  memset(&sq, 0, sizeof sq);
  sq.kind = SYNTH_POLY;
  sq.n = 4;
  const float v[8] = {-5, -5, 5, -5, 5, 5, -5, 5};
  memcpy(sq.pts, v, sizeof v);
  sq.radius = synth_poly_radius(sq.pts, 4);
  sq.area = synth_poly_area(sq.pts, 4);
  TH_CHECK(fabsf(sq.area - 100.0f) < 1e-4f, "square area %g", sq.area);
  uint8_t cov[32 * 32];
  int bb[4];
  synth_place pl = {16.0f, 16.0f, 0.0f, 1.0f};
  synth_cover(&sq, &pl, 32, cov, bb);
  int full = 0, other = 0;
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 32; x++) {
      bool in = x >= 11 && x < 21 && y >= 11 && y < 21;
      if (in && cov[y * 32 + x] == SYNTH_SS2) full++;
      else if (cov[y * 32 + x] != 0 || in) other++;
    }
  TH_CHECK(full == 100 && other == 0, "aligned square: %d full pixels (want 100), %d others (want 0)", full, other);
  pl.cx = pl.cy = 16.5f;
  synth_cover(&sq, &pl, 32, cov, bb);
  TH_CHECK(cov[16 * 32 + 11] == SYNTH_SS2 / 2 && cov[11 * 32 + 11] == SYNTH_SS2 / 4 && cov[16 * 32 + 16] == SYNTH_SS2,
           "shifted square: edge %d (want 8), corner %d (want 4), inside %d (want 16)", cov[16 * 32 + 11],
           cov[11 * 32 + 11], cov[16 * 32 + 16]);
}

/* ---------- masks and boxes of rendered samples ---------- */

static void test_masks(sal_synth_family f, int n) {
  sal_ctx *ctx = th_ctx();
  sal_synth_params p = sal_synth_params_default(f);
  p.seed = 11;
  int bad_values = 0, bad_box = 0, bad_area = 0, overlap = 0, bad_label = 0;
  double worst_area = 0;
  for (int i = 0; i < n; i++) {
    sal_synth_sample s;
    sal_status st = sal_synth_render(ctx, &p, SAL_SYNTH_TEST, i, &s);
    if (st) {
      TH_OK(st);
      return;
    }
    const int64_t S = p.size;
    int want_objects = f == SAL_SYNTH_PAIRS ? 2 : 1;
    if (s.n_objects != want_objects || s.image->channels != (f == SAL_SYNTH_LESIONS ? 1 : 3)) bad_label++;
    if (f == SAL_SYNTH_PAIRS && s.label[0] == s.label[1]) bad_label++;
    for (int o = 0; o < s.n_objects; o++) {
      if (s.label[o] < 0 || s.label[o] >= sal_synth_num_classes(f)) bad_label++;
      const uint8_t *m = s.mask[o]->pixels;
      int64_t x0 = S, y0 = S, x1 = 0, y1 = 0, area = 0;
      for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++) {
          uint8_t v = m[y * S + x];
          if (v != 0 && v != 255) bad_values++;
          if (!v) continue;
          area++;
          x0 = x < x0 ? x : x0;
          y0 = y < y0 ? y : y0;
          x1 = x + 1 > x1 ? x + 1 : x1;
          y1 = y + 1 > y1 ? y + 1 : y1;
          if (o == 1 && s.mask[0]->pixels && ((uint8_t *)s.mask[0]->pixels)[y * S + x]) overlap++;
        }
      const int64_t *b = s.box[o];
      if (area == 0 || b[0] != x0 || b[1] != y0 || b[2] != x1 || b[3] != y1) {
        if (bad_box++ == 0)
          fprintf(stderr, "  image %d object %d: box %lld %lld %lld %lld, mask box %lld %lld %lld %lld\n", i, o,
                  (long long)b[0], (long long)b[1], (long long)b[2], (long long)b[3], (long long)x0, (long long)y0,
                  (long long)x1, (long long)y1);
      }
      /* The object's area is (s·S)^2 by construction; thresholding the coverage at 1/2 moves
       * each boundary pixel by at most half a pixel of area, and those errors largely cancel, so
       * 12 % + 6 px covers the smallest objects (about 80 px, perimeter about 40 px) with margin. */
      double want = s.size[o] * (double)S * s.size[o] * (double)S, err = fabs((double)area - want);
      worst_area = fmax(worst_area, err / want);
      if (err > 0.12 * want + 6 || s.size[o] < p.size_min * 0.5 || s.size[o] > p.size_max) bad_area++;
    }
    sal_synth_sample_free(&s);
  }
  const char *name = sal_synth_family_name(f);
  TH_CHECK(bad_values == 0, "%s: %d mask pixels neither 0 nor 255", name, bad_values);
  TH_CHECK(bad_box == 0, "%s: %d boxes differ from their mask's bounding box", name, bad_box);
  TH_CHECK(bad_area == 0, "%s: %d mask areas off their size (worst relative error %.3f)", name, bad_area, worst_area);
  TH_CHECK(overlap == 0, "%s: masks of the two objects share %d pixels (the bound is 0)", name, overlap);
  TH_CHECK(bad_label == 0, "%s: %d bad labels or object counts", name, bad_label);
  printf("  %s: %d images, masks exact, worst relative area error %.3f\n", name, n, worst_area);
}

/* ---------- written datasets ---------- */

/* Reads a manifest and checks each row against the mask files: the box of every mask equals the
 * row's box, the labels are in range. Returns the number of rows. */
static int check_manifest(const char *dir, const char *split, sal_synth_family f) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s.csv", dir, split);
  FILE *fp = fopen(path, "r");
  TH_CHECK(fp != NULL, "cannot open %s", path);
  if (!fp) return 0;
  char line[1024];
  int rows = 0, bad = 0;
  TH_CHECK(fgets(line, sizeof line, fp) && strcmp(line, "path,label,boxes,masks\n") == 0, "%s: header '%s'", path, line);
  while (fgets(line, sizeof line, fp)) {
    char *field[4] = {line, NULL, NULL, NULL};
    for (int k = 1; k < 4; k++) {
      field[k] = field[k - 1] ? strchr(field[k - 1], ',') : NULL;
      if (field[k]) *field[k]++ = 0;
    }
    if (!field[3]) {
      bad++;
      continue;
    }
    field[3][strcspn(field[3], "\n")] = 0;
    rows++;
    char *lab_save = NULL, *box_save = NULL, *mask_save = NULL;
    char *lab = strtok_r(field[1], ";", &lab_save), *box = strtok_r(field[2], ";", &box_save),
         *mask = strtok_r(field[3], ";", &mask_save);
    int objs = 0;
    while (lab && box && mask) {
      objs++;
      int k = atoi(lab);
      long b[4];
      if (sscanf(box, "%ld %ld %ld %ld", &b[0], &b[1], &b[2], &b[3]) != 4 || k < 0 || k >= sal_synth_num_classes(f)) bad++;
      char mp[1600];
      snprintf(mp, sizeof mp, "%s/%s", dir, mask);
      sal_image *m = NULL;
      if (sal_image_read(th_ctx(), mp, NULL, &m) != SAL_STATUS_OK || m->channels != 1) {
        bad++;
      } else {
        long x0 = m->width, y0 = m->height, x1 = 0, y1 = 0;
        const uint8_t *px = m->pixels;
        for (long y = 0; y < m->height; y++)
          for (long x = 0; x < m->width; x++)
            if (px[y * m->width + x]) {
              x0 = x < x0 ? x : x0;
              y0 = y < y0 ? y : y0;
              x1 = x + 1 > x1 ? x + 1 : x1;
              y1 = y + 1 > y1 ? y + 1 : y1;
            }
        if (x0 != b[0] || y0 != b[1] || x1 != b[2] || y1 != b[3]) bad++;
      }
      sal_image_free(m);
      lab = strtok_r(NULL, ";", &lab_save);
      box = strtok_r(NULL, ";", &box_save);
      mask = strtok_r(NULL, ";", &mask_save);
    }
    if (objs != (f == SAL_SYNTH_PAIRS ? 2 : 1) || lab || box || mask) bad++;
    char ip[1600];
    snprintf(ip, sizeof ip, "%s/%s", dir, field[0]);
    if (access(ip, R_OK) != 0) bad++;
  }
  fclose(fp);
  TH_CHECK(bad == 0, "%s: %d rows disagree with their mask files", path, bad);
  return rows;
}

/* Mismatching files among the images and masks of one split: each must decode to exactly the
 * pixels sal_synth_render gives for it (the bulk PNG encoder is lossless at any setting). */
static int check_pixels(const char *dir, const sal_synth_params *p, sal_synth_split split, int64_t n) {
  sal_ctx *ctx = th_ctx();
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    sal_synth_sample s;
    if (sal_synth_render(ctx, p, split, i, &s) != SAL_STATUS_OK) {
      bad++;
      continue;
    }
    for (int o = -1; o < s.n_objects; o++) {
      const sal_image *want = o < 0 ? s.image : s.mask[o];
      char path[600];
      if (o < 0)
        snprintf(path, sizeof path, "%s/images/%s/%06lld.png", dir, sal_synth_split_name(split), (long long)i);
      else if (s.n_objects == 1)
        snprintf(path, sizeof path, "%s/masks/%s/%06lld.png", dir, sal_synth_split_name(split), (long long)i);
      else
        snprintf(path, sizeof path, "%s/masks/%s/%06lld_%d.png", dir, sal_synth_split_name(split), (long long)i, o);
      sal_image *got = NULL;
      size_t bytes = (size_t)(want->width * want->height * want->channels);
      if (sal_image_read(ctx, path, NULL, &got) != SAL_STATUS_OK || got->width != want->width ||
          got->height != want->height || got->channels != want->channels || got->depth != 8 ||
          memcmp(got->pixels, want->pixels, bytes) != 0)
        bad++;
      sal_image_free(got);
    }
    sal_synth_sample_free(&s);
  }
  return bad;
}

/* The bulk encoder (src/io/png_bulk.h) that writes synth's files: lossless for 1..4 channels at odd
 * sizes in both modes, equal bytes for equal images when the encoder (and its arena) is reused
 * across images of different sizes, and 16-bit images refused. */
static void test_png_bulk(void) {
  sal_ctx *ctx = th_ctx();
  sal__png_bulk *b = NULL;
  TH_OK(sal__png_bulk_new(ctx, &b));
  if (!b) return;
  static const int64_t dims[][2] = {{1, 1}, {7, 3}, {65, 33}, {2, 130}};
  int bad = 0, unstable = 0, cases = 0;
  uint32_t seed = 12345;
  for (int rep = 0; rep < 2; rep++)
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
      for (int c = 1; c <= 4; c++)
        for (int mode = 0; mode < 2; mode++) {
          sal_image *img = NULL;
          if (sal_image_new(ctx, dims[d][0], dims[d][1], c, 8, &img) != SAL_STATUS_OK) {
            bad++;
            continue;
          }
          uint8_t *px = img->pixels;
          size_t nb = (size_t)(dims[d][0] * dims[d][1] * c);
          /* half noise, half runs: both modes meet both kinds of rows */
          for (size_t k = 0; k < nb; k++) {
            seed = seed * 1664525u + 1013904223u;
            px[k] = k < nb / 2 ? (uint8_t)(seed >> 24) : (uint8_t)((k / 37) % 2 ? 255 : 0);
          }
          const uint8_t *data = NULL;
          size_t n = 0;
          uint8_t *first = NULL;
          sal_image *back = NULL;
          sal__png_mode m = mode ? SAL__PNG_NONE_RLE : SAL__PNG_SUB_HUFFMAN;
          if (sal__png_bulk_encode(ctx, b, "bulk", img, m, &data, &n) != SAL_STATUS_OK || !(first = malloc(n))) {
            bad++;
          } else {
            memcpy(first, data, n);
            size_t n1 = n;
            if (sal_image_decode(ctx, "bulk", first, n1, NULL, &back) != SAL_STATUS_OK || back->channels != c ||
                back->width != dims[d][0] || back->height != dims[d][1] || memcmp(back->pixels, px, nb) != 0)
              bad++;
            if (sal__png_bulk_encode(ctx, b, "bulk", img, m, &data, &n) != SAL_STATUS_OK || n != n1 ||
                memcmp(data, first, n) != 0)
              unstable++;
          }
          cases++;
          free(first);
          sal_image_free(back);
          sal_image_free(img);
        }
  TH_CHECK(bad == 0, "bulk PNG: %d of %d images do not decode to their pixels", bad, cases);
  TH_CHECK(unstable == 0, "bulk PNG: %d of %d images encode to different bytes the second time", unstable, cases);
  sal_image *deep = NULL;
  const uint8_t *data = NULL;
  size_t n = 0;
  TH_OK(sal_image_new(ctx, 4, 4, 1, 16, &deep));
  if (deep)
    TH_FAILS(sal__png_bulk_encode(ctx, b, "deep", deep, SAL__PNG_SUB_HUFFMAN, &data, &n), SAL_STATUS_UNSUPPORTED,
             "8-bit images of 1..4 channels");
  sal_image_free(deep);
  sal__png_bulk_free(b);
}

static void test_datasets(void) {
  sal_ctx *ctx = th_ctx();
  const int n = th_quick() ? 12 : 20;
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT; f++) {
    const char *name = sal_synth_family_name((sal_synth_family)f);
    char a[300], b[300], c[300], d[300];
    snprintf(a, sizeof a, "%s/%s_a", g_root, name);
    snprintf(b, sizeof b, "%s/%s_b", g_root, name);
    snprintf(c, sizeof c, "%s/%s_c", g_root, name);
    snprintf(d, sizeof d, "%s/%s_d", g_root, name);
    sal_synth_params p = params((sal_synth_family)f, 5, n, n / 2, n / 2);
    p.threads = 1;
    p.preview = true;
    TH_OK(sal_synth_generate(ctx, &p, a));
    p.threads = 3;
    TH_OK(sal_synth_generate(ctx, &p, b));
    int files = 0, diff = tree_diff(a, b, &files);
    int per_image = f == SAL_SYNTH_PAIRS ? 3 : 2;
    TH_CHECK(files == 2 * n * per_image + 6, "%s: %d files (want %d)", name, files, 2 * n * per_image + 6);
    TH_CHECK(diff == 0, "%s: 1 thread vs 3 threads: %d of %d files differ", name, diff, files);
    TH_CHECK(check_manifest(a, "train", (sal_synth_family)f) == n, "%s: train rows", name);
    TH_CHECK(check_manifest(a, "test", (sal_synth_family)f) == n / 2, "%s: test rows", name);
    TH_CHECK(check_pixels(a, &p, SAL_SYNTH_TRAIN, n) == 0 && check_pixels(a, &p, SAL_SYNTH_VAL, n / 2) == 0,
             "%s: written images or masks differ from the rendered pixels", name);
    /* another seed: every image differs (the manifests' headers and classes.txt do not) */
    p.seed = 6;
    TH_OK(sal_synth_generate(ctx, &p, c));
    file_list la = {0}, lc = {0};
    list_files(a, "images/train", &la);
    list_files(c, "images/train", &lc);
    int same = 0;
    for (int i = 0; i < la.n; i++) {
      int j = find_file(&lc, la.name[i]);
      if (j >= 0 && lc.hash[j] == la.hash[i]) same++;
    }
    TH_CHECK(la.n == n && lc.n == n && same == 0, "%s: seeds 5 and 6 share %d of %d training images", name, same, la.n);
    free_list(&la);
    free_list(&lc);
    /* a split does not depend on the other splits' sizes: more training images, same test set */
    p = params((sal_synth_family)f, 5, n + 7, 0, n / 2);
    TH_OK(sal_synth_generate(ctx, &p, d));
    char ta[320], td[320];
    snprintf(ta, sizeof ta, "%s/images/test", a);
    snprintf(td, sizeof td, "%s/images/test", d);
    TH_CHECK(tree_diff(ta, td, &files) == 0 && files == n / 2, "%s: the test split changed with --train", name);
    /* a non-empty directory is refused without force and rewritten identically with it */
    p = params((sal_synth_family)f, 5, n, n / 2, n / 2);
    p.preview = true;
    TH_FAILS(sal_synth_generate(ctx, &p, a), SAL_STATUS_BAD_INPUT, "is not empty (use --force");
    p.force = true;
    TH_OK(sal_synth_generate(ctx, &p, a));
    TH_CHECK(tree_diff(a, b, &files) == 0, "%s: --force rewrite differs", name);
    rm_tree(a);
    rm_tree(b);
    rm_tree(c);
    rm_tree(d);
  }
  /* bad output locations and counts */
  char file[300], under[320];
  snprintf(file, sizeof file, "%s/plainfile", g_root);
  FILE *fp = fopen(file, "w");
  if (fp) fclose(fp);
  snprintf(under, sizeof under, "%s/sub", file);
  sal_synth_params p = params(SAL_SYNTH_SHAPES, 1, 2, 0, 0);
  TH_FAILS(sal_synth_generate(ctx, &p, under), SAL_STATUS_IO, "plainfile");
  TH_FAILS(sal_synth_generate(ctx, &p, file), SAL_STATUS_IO, "not a directory");
  p = params(SAL_SYNTH_SHAPES, 1, 0, 0, 0);
  TH_FAILS(sal_synth_generate(ctx, &p, under), SAL_STATUS_BAD_INPUT, "no images requested");
  p = params(SAL_SYNTH_SHAPES, 1, -3, 0, 0);
  TH_FAILS(sal_synth_generate(ctx, &p, under), SAL_STATUS_BAD_INPUT, "train count -3");
  remove(file);
}

/* ---------- class independence ---------- */

/* Regularised incomplete beta I_x(a, b) by its continued fraction (modified Lentz), the standard
 * route to the F distribution's tail. */
static double betacf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  d = fabs(d) < tiny ? tiny : d;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= 500; m++) {
    double m2 = 2.0 * m, aa = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    d = fabs(d) < tiny ? tiny : d;
    c = 1 + aa / c;
    c = fabs(c) < tiny ? tiny : c;
    d = 1 / d;
    double del = d * c;
    h *= del;
    if (fabs(del - 1) < 1e-12) break;
  }
  return h;
}

static double inc_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  double lb = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log(1 - x);
  if (x < (a + 1) / (a + b + 2)) return exp(lb) * betacf(a, b, x) / a;
  return 1 - exp(lb) * betacf(b, a, 1 - x) / b;
}

/* One-way ANOVA of v (n values, class cls[i] in 0..K-1): returns the p-value of F under the
 * hypothesis that all class means are equal, P(F(K-1, n-K) >= F) = I_{d2/(d2+d1 F)}(d2/2, d1/2). */
static double anova_p(const double *v, const int *cls, int n, int K, double *F_out) {
  double mean[16] = {0}, cnt[16] = {0}, grand = 0;
  for (int i = 0; i < n; i++) {
    mean[cls[i]] += v[i];
    cnt[cls[i]] += 1;
    grand += v[i];
  }
  grand /= n;
  for (int k = 0; k < K; k++) mean[k] /= cnt[k];
  double ssb = 0, ssw = 0;
  for (int k = 0; k < K; k++) ssb += cnt[k] * (mean[k] - grand) * (mean[k] - grand);
  for (int i = 0; i < n; i++) ssw += (v[i] - mean[cls[i]]) * (v[i] - mean[cls[i]]);
  double d1 = K - 1, d2 = n - K, F = (ssb / d1) / (ssw / d2);
  *F_out = F;
  return inc_beta(d2 / 2, d1 / 2, d2 / (d2 + d1 * F));
}

enum { ST_OBJ_R, ST_OBJ_G, ST_OBJ_B, ST_OBJ_STD, ST_BG_MEAN, ST_BG_STD, ST_IMG_MEAN, ST_IMG_STD, ST_AREA, ST_CX, ST_CY,
       ST_INDEP, /* statistics above must not depend on the class; those below must */
       ST_FILL = ST_INDEP, ST_BIASED, ST_COUNT };
static const char *const st_names[ST_COUNT] = {
    "object mean R (lesion: contrast)", "object mean G", "object mean B", "object std", "background mean",
    "background std", "image mean", "image std", "object area", "object centroid x", "object centroid y",
    "POWER: area / box area", "POWER: object mean + k/(K-1) sd"};

/* Renders m images per class and tests each statistic with the ANOVA. Independence: p > 1e-3 for
 * each of the 11 statistics (Bonferroni: a false alarm anywhere below 1.1 % if they were truly
 * independent of the class; the seed is fixed, so the outcome is reproducible). Power: the two
 * class-dependent statistics — the shape's fill of its box, and object colour with a synthetic
 * shift of k / (K - 1) standard deviations for class k — must reach p < 1e-3. */
static void test_independence(sal_synth_family f, int m) {
  sal_ctx *ctx = th_ctx();
  sal_synth_params p = sal_synth_params_default(f);
  p.seed = 2024;
  const int K = sal_synth_num_classes(f), n = K * m;
  const int64_t S = p.size;
  double *v = calloc((size_t)n * ST_COUNT, sizeof(double));
  int *cls = calloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    sal_synth_sample s;
    if (sal_synth_render(ctx, &p, SAL_SYNTH_TRAIN, i, &s) != SAL_STATUS_OK) {
      TH_CHECK(0, "render %d: %s", i, sal_ctx_last_error(ctx));
      break;
    }
    const int C = s.image->channels;
    const uint8_t *px = s.image->pixels, *mk = s.mask[0]->pixels;
    /* Object colour is measured on the mask's interior (pixels whose four neighbours are in the
     * mask too): edge pixels blend object and background in proportions set by the outline, which
     * is shape — evidence in the object, not a colour bias. */
    double o[3] = {0}, o2 = 0, oi = 0, b = 0, b2 = 0, a = 0, im = 0, im2 = 0, cx = 0, cy = 0;
    for (int64_t q = 0; q < S * S; q++) {
      double y = C == 3 ? 0.299 * px[3 * q] + 0.587 * px[3 * q + 1] + 0.114 * px[3 * q + 2] : px[q];
      im += y;
      im2 += y * y;
      if (mk[q]) {
        int64_t qx = q % S, qy = q / S;
        if (qx > 0 && qy > 0 && qx < S - 1 && qy < S - 1 && mk[q - 1] && mk[q + 1] && mk[q - S] && mk[q + S]) {
          for (int c = 0; c < C; c++) o[c] += px[C * q + c];
          o2 += y * y;
          oi++;
        }
        a++;
        cx += (double)qx;
        cy += (double)qy;
      } else {
        b += y;
        b2 += y * y;
      }
    }
    if (oi == 0) oi = 1; /* no interior (never at these sizes): zeros, as good as any value */
    double bg = b / ((double)(S * S) - a), ob = C == 3 ? (0.299 * o[0] + 0.587 * o[1] + 0.114 * o[2]) / oi : o[0] / oi;
    double *r = v + (size_t)i * ST_COUNT;
    r[ST_OBJ_R] = C == 3 ? o[0] / oi : o[0] / oi - bg; /* lesions: the lesion's contrast over the tissue */
    r[ST_OBJ_G] = C == 3 ? o[1] / oi : 0;
    r[ST_OBJ_B] = C == 3 ? o[2] / oi : 0;
    r[ST_OBJ_STD] = sqrt(fmax(o2 / oi - ob * ob, 0));
    r[ST_BG_MEAN] = bg;
    r[ST_BG_STD] = sqrt(fmax(b2 / ((double)(S * S) - a) - bg * bg, 0));
    r[ST_IMG_MEAN] = im / (double)(S * S);
    r[ST_IMG_STD] = sqrt(fmax(im2 / (double)(S * S) - r[ST_IMG_MEAN] * r[ST_IMG_MEAN], 0));
    r[ST_AREA] = a;
    r[ST_CX] = cx / a;
    r[ST_CY] = cy / a;
    const int64_t *bx = s.box[0];
    r[ST_FILL] = a / (double)((bx[2] - bx[0]) * (bx[3] - bx[1]));
    cls[i] = s.label[0];
    sal_synth_sample_free(&s);
  }
  /* the synthetic biased generator: object colour shifted by k / (K - 1) sd for class k (the
   * extreme classes 1 sd apart, neighbouring shape classes 0.11 sd) */
  double mu = 0, var = 0;
  for (int i = 0; i < n; i++) mu += v[(size_t)i * ST_COUNT + ST_OBJ_R];
  mu /= n;
  for (int i = 0; i < n; i++) var += pow(v[(size_t)i * ST_COUNT + ST_OBJ_R] - mu, 2);
  double sd = sqrt(var / (n - 1));
  for (int i = 0; i < n; i++) v[(size_t)i * ST_COUNT + ST_BIASED] = v[(size_t)i * ST_COUNT + ST_OBJ_R] + sd * cls[i] / (K - 1);
  double *col = calloc((size_t)n, sizeof(double));
  printf("  %s: one-way ANOVA over %d classes x %d images\n", sal_synth_family_name(f), K, m);
  for (int st = 0; st < ST_COUNT; st++) {
    if (f == SAL_SYNTH_LESIONS && (st == ST_OBJ_G || st == ST_OBJ_B)) continue;
    for (int i = 0; i < n; i++) col[i] = v[(size_t)i * ST_COUNT + st];
    double F, pv = anova_p(col, cls, n, K, &F);
    printf("    %-36s F = %7.3f  p = %.3g\n", st_names[st], F, pv);
    if (st < ST_INDEP)
      TH_CHECK(pv > 1e-3, "%s: '%s' depends on the class: F = %.3f, p = %.3g", sal_synth_family_name(f), st_names[st], F, pv);
    else
      TH_CHECK(pv < 1e-3, "%s: the test misses the class-dependent '%s': F = %.3f, p = %.3g", sal_synth_family_name(f),
               st_names[st], F, pv);
  }
  free(col);
  free(v);
  free(cls);
}

/* The F tail against textbook values: F(9, 990) = 3.13 at p = 0.001 (tables), and F(1, d) = t^2. */
static void test_anova(void) {
  double p1 = inc_beta(990 / 2.0, 9 / 2.0, 990 / (990 + 9 * 3.13));
  TH_CHECK(fabs(p1 - 1e-3) < 2e-4, "P(F(9,990) >= 3.13) = %.5f, want about 0.001", p1);
  /* F(1, inf) = z^2: P(F >= 3.8415) = 0.05 */
  double p2 = inc_beta(1e6 / 2, 0.5, 1e6 / (1e6 + 3.8415));
  TH_CHECK(fabs(p2 - 0.05) < 1e-3, "P(F(1, 1e6) >= 3.8415) = %.5f, want 0.05", p2);
}

/* omit_objects renders the same scene without the objects: masks, boxes and labels unchanged,
 * every mask pixel changed (objects differ from the background by >= 0.2 in colour, lesions by
 * >= 0.04 of full scale at half coverage), and nothing changed farther than 6 pixels from a box (the
 * box bounds the pixels covered at least half; parts thinner than half a pixel, such as spicule
 * tips, reach a few pixels beyond it). */
static void test_omit_objects(sal_synth_family f, int n) {
  sal_ctx *ctx = th_ctx();
  sal_synth_params p = sal_synth_params_default(f), q = p;
  q.omit_objects = true;
  int bad_meta = 0, unchanged_mask = 0, changed_outside = 0;
  for (int i = 0; i < n; i++) {
    sal_synth_sample a, b;
    sal_status st = sal_synth_render(ctx, &p, SAL_SYNTH_VAL, i, &a);
    if (!st) st = sal_synth_render(ctx, &q, SAL_SYNTH_VAL, i, &b);
    if (st) {
      TH_OK(st);
      return;
    }
    const int64_t S = p.size, C = a.image->channels;
    const uint8_t *pa = a.image->pixels, *pb = b.image->pixels;
    if (a.n_objects != b.n_objects) bad_meta++;
    for (int o = 0; o < a.n_objects && o < b.n_objects; o++)
      if (a.label[o] != b.label[o] || memcmp(a.box[o], b.box[o], sizeof a.box[o]) ||
          memcmp(a.mask[o]->pixels, b.mask[o]->pixels, (size_t)(S * S)))
        bad_meta++;
    for (int64_t y = 0; y < S; y++)
      for (int64_t x = 0; x < S; x++) {
        bool diff = memcmp(pa + (y * S + x) * C, pb + (y * S + x) * C, (size_t)C) != 0;
        bool in_mask = false, near_box = false;
        for (int o = 0; o < a.n_objects; o++) {
          in_mask |= ((const uint8_t *)a.mask[o]->pixels)[y * S + x] != 0;
          near_box |= x >= a.box[o][0] - 6 && x < a.box[o][2] + 6 && y >= a.box[o][1] - 6 && y < a.box[o][3] + 6;
        }
        if (in_mask && !diff) unchanged_mask++;
        if (diff && !near_box) changed_outside++;
      }
    sal_synth_sample_free(&a);
    sal_synth_sample_free(&b);
  }
  const char *name = sal_synth_family_name(f);
  TH_CHECK(bad_meta == 0, "%s omit_objects: %d labels, boxes or masks differ", name, bad_meta);
  TH_CHECK(unchanged_mask == 0, "%s omit_objects: %d mask pixels still show the object", name, unchanged_mask);
  TH_CHECK(changed_outside == 0, "%s omit_objects: %d pixels changed away from the objects", name, changed_outside);
}

int main(void) {
  snprintf(g_root, sizeof g_root, "/tmp/sal_test_synth_XXXXXX");
  if (!mkdtemp(g_root)) {
    fprintf(stderr, "cannot create a temporary directory\n");
    return 1;
  }
  sal_ctx_set_log_level(th_ctx(), SAL_LOG_QUIET);
  test_names();
  test_coverage_rule();
  test_png_bulk();
  test_anova();
  const int n = th_quick() ? 60 : 300;
  test_masks(SAL_SYNTH_SHAPES, n);
  test_masks(SAL_SYNTH_LESIONS, n);
  test_masks(SAL_SYNTH_PAIRS, n);
  test_datasets();
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT; f++) test_omit_objects((sal_synth_family)f, th_quick() ? 10 : 40);
  const int m = th_quick() ? 40 : 100;
  test_independence(SAL_SYNTH_SHAPES, m);
  test_independence(SAL_SYNTH_LESIONS, m);
  rm_tree(g_root);
  return th_finish("test_synth");
}
