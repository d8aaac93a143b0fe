/* Synthetic datasets: parameters, rendering one sample (family renderer → 8-bit image, masks and
 * boxes) and writing a whole dataset in parallel (images, masks, manifests, preview, synth.json). */
#define _XOPEN_SOURCE 700 /* POSIX 2008 + sync() */

#include "data/synth.h"

#include "core/internal.h"
#include "io/atomic.h"
#include "io/png_bulk.h"

#include <dirent.h>
#include <unistd.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *const family_names[SAL_SYNTH_FAMILY_COUNT] = {"shapes", "lesions", "pairs"};
static const char *const split_names[SAL_SYNTH_SPLIT_COUNT] = {"train", "val", "test"};

const char *sal_synth_family_name(sal_synth_family f) {
  return (unsigned)f < SAL_SYNTH_FAMILY_COUNT ? family_names[f] : NULL;
}

const char *sal_synth_split_name(sal_synth_split s) {
  return (unsigned)s < SAL_SYNTH_SPLIT_COUNT ? split_names[s] : NULL;
}

sal_status sal_synth_family_from_name(sal_ctx *ctx, const char *name, sal_synth_family *out) {
  for (int f = 0; f < SAL_SYNTH_FAMILY_COUNT; f++)
    if (name && strcmp(name, family_names[f]) == 0) {
      *out = (sal_synth_family)f;
      return SAL_STATUS_OK;
    }
  return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "unknown synthetic family '%s' (families: shapes, lesions, pairs)",
                       name ? name : "");
}

int sal_synth_num_classes(sal_synth_family f) {
  switch (f) {
  case SAL_SYNTH_SHAPES:
  case SAL_SYNTH_PAIRS: return 10;
  case SAL_SYNTH_LESIONS: return 5;
  default: return 0;
  }
}

const char *sal_synth_class_name(sal_synth_family f, int k) {
  if (k < 0 || k >= sal_synth_num_classes(f)) return NULL;
  return f == SAL_SYNTH_LESIONS ? synth_lesion_names[k] : synth_shape_names[k];
}

sal_synth_params sal_synth_params_default(sal_synth_family f) {
  sal_synth_params p;
  memset(&p, 0, sizeof p);
  p.family = f;
  p.seed = 0;
  p.size = 64;
  /* 20 000 training images: 2 000 per shape class (4 000 per lesion class) — what the default
   * training recipe needs to generalise; validation 1 000 and test 2 000 measure accuracy to about
   * ±0.4 points (binomial s.e. at 97 %). docs/synth.md. */
  p.count[SAL_SYNTH_TRAIN] = 20000;
  p.count[SAL_SYNTH_VAL] = 1000;
  p.count[SAL_SYNTH_TEST] = 2000;
  switch (f) {
  case SAL_SYNTH_LESIONS: p.size_min = 0.15; p.size_max = 0.32; break;
  case SAL_SYNTH_PAIRS: p.size_min = 0.14; p.size_max = 0.25; break;
  default: p.size_min = 0.14; p.size_max = 0.40; break;
  }
  return p;
}

static int channels_of(sal_synth_family f) { return f == SAL_SYNTH_LESIONS ? 1 : 3; }

/* Validates what rendering needs (family, size, size range). */
static sal_status check_render_params(sal_ctx *ctx, const sal_synth_params *p) {
  if ((unsigned)p->family >= SAL_SYNTH_FAMILY_COUNT)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "synthetic family %d is not one of shapes, lesions, pairs", (int)p->family);
  if (p->size < SAL_SYNTH_MIN_SIZE || p->size > SAL_SYNTH_MAX_SIZE)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "image size %lld is outside %d..%d", (long long)p->size,
                         SAL_SYNTH_MIN_SIZE, SAL_SYNTH_MAX_SIZE);
  /* Above 0.40 (shapes) the largest class at that area no longer fits the image. */
  double hi = p->family == SAL_SYNTH_LESIONS ? 0.35 : p->family == SAL_SYNTH_PAIRS ? 0.25 : 0.40;
  if (!(p->size_min >= 0.05 && p->size_min <= p->size_max && p->size_max <= hi))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "object size range [%g, %g] must lie within [0.05, %g] for %s",
                         p->size_min, p->size_max, hi, family_names[p->family]);
  return SAL_STATUS_OK;
}

/* Per-worker buffers: canvas (S, S, C) floats, coverage S x S, and a sample with its images. */
typedef struct worker {
  sal_ctx *ctx;
  float *canvas;
  uint8_t *cov;
  sal_synth_sample smp;
  sal__png_bulk *enc; /* dataset writers only (sal_synth_generate): reused for every file */
} worker;

static void worker_free(worker *w) {
  sal_free(w->canvas);
  sal_free(w->cov);
  sal_synth_sample_free(&w->smp);
  sal__png_bulk_free(w->enc);
  w->enc = NULL;
  w->canvas = NULL;
  w->cov = NULL;
}

static sal_status worker_init(sal_ctx *ctx, const sal_synth_params *p, worker *w) {
  int64_t S = p->size;
  int C = channels_of(p->family);
  memset(&w->smp, 0, sizeof w->smp);
  w->enc = NULL;
  w->canvas = sal_calloc(ctx, (size_t)(S * S * C), sizeof(float));
  w->cov = sal_calloc(ctx, (size_t)(S * S), 1);
  sal_status st = (w->canvas && w->cov) ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
  if (!st) st = sal_image_new(ctx, S, S, C, 8, &w->smp.image);
  int nobj = p->family == SAL_SYNTH_PAIRS ? 2 : 1;
  for (int i = 0; i < nobj && !st; i++) st = sal_image_new(ctx, S, S, 1, 8, &w->smp.mask[i]);
  w->smp.n_objects = nobj;
  if (st) worker_free(w);
  return st;
}

/* The Philox stream of one image: (family, split, index) in disjoint bit fields, so one split's
 * images do not depend on the other splits' sizes. */
static uint64_t stream_of(sal_synth_family f, sal_synth_split split, int64_t index) {
  return ((uint64_t)(f + 1) << 56) | ((uint64_t)split << 48) | (uint64_t)index;
}

/* Renders into w->smp (its images already allocated). Cannot fail. */
static void render_one(const sal_synth_params *p, worker *w, sal_synth_split split, int64_t index) {
  const int S = (int)p->size, C = channels_of(p->family);
  synth_job j;
  memset(&j, 0, sizeof j);
  j.p = p;
  j.S = S;
  j.canvas = w->canvas;
  j.cov = w->cov;
  for (int i = 0; i < w->smp.n_objects; i++) {
    j.mask[i] = w->smp.mask[i]->pixels;
    memset(j.mask[i], 0, (size_t)S * (size_t)S);
  }
  synth_rng r;
  synth_rng_init(&r, p->seed, stream_of(p->family, split, index));
  switch (p->family) {
  case SAL_SYNTH_LESIONS: synth_render_lesions(&j, &r, index); break;
  case SAL_SYNTH_PAIRS: synth_render_pairs(&j, &r, index); break;
  default: synth_render_shapes(&j, &r, index); break;
  }
  uint8_t *px = w->smp.image->pixels;
  for (size_t i = 0; i < (size_t)S * (size_t)S * (size_t)C; i++) {
    float v = synth_clamp(w->canvas[i], 0.0f, 1.0f);
    px[i] = (uint8_t)(v * 255.0f + 0.5f);
  }
  for (int o = 0; o < j.n_objects; o++) {
    const uint8_t *m = j.mask[o];
    int64_t x0 = S, y0 = S, x1 = 0, y1 = 0;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        if (m[(size_t)y * (size_t)S + (size_t)x]) {
          if (x < x0) x0 = x;
          if (y < y0) y0 = y;
          if (x + 1 > x1) x1 = x + 1;
          if (y + 1 > y1) y1 = y + 1;
        }
    if (x1 == 0) x0 = y0 = 0; /* empty mask: an empty box at the origin */
    int64_t *b = w->smp.box[o];
    b[0] = x0; b[1] = y0; b[2] = x1; b[3] = y1;
    w->smp.label[o] = j.label[o];
    w->smp.size[o] = j.size[o];
  }
  w->smp.n_objects = j.n_objects;
}

sal_status sal_synth_render(sal_ctx *ctx, const sal_synth_params *p, sal_synth_split split, int64_t index,
                            sal_synth_sample *out) {
  memset(out, 0, sizeof *out);
  sal_status st = check_render_params(ctx, p);
  if (st) return st;
  if ((unsigned)split >= SAL_SYNTH_SPLIT_COUNT || index < 0 || index >= SAL_SYNTH_MAX_COUNT)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "synthetic image %lld of split %d is out of range", (long long)index,
                         (int)split);
  worker w = {.ctx = ctx};
  st = worker_init(ctx, p, &w);
  if (st) return st;
  render_one(p, &w, split, index);
  *out = w.smp;
  w.smp.image = NULL;
  w.smp.mask[0] = w.smp.mask[1] = NULL;
  worker_free(&w);
  return SAL_STATUS_OK;
}

void sal_synth_sample_free(sal_synth_sample *s) {
  if (!s) return;
  sal_image_free(s->image);
  for (int i = 0; i < SAL_SYNTH_MAX_OBJECTS; i++) sal_image_free(s->mask[i]);
  memset(s, 0, sizeof *s);
}

/* ---- writing a dataset ---- */

/* What the manifests need of one image. */
typedef struct synth_meta {
  int8_t n;
  int8_t label[SAL_SYNTH_MAX_OBJECTS];
  int16_t box[SAL_SYNTH_MAX_OBJECTS][4];
} synth_meta;

static sal_status make_dir(sal_ctx *ctx, const char *path) {
  if (mkdir(path, 0777) == 0 || errno == EEXIST) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return SAL_STATUS_OK;
    return sal_ctx_error(ctx, SAL_STATUS_IO, "%s: exists and is not a directory", path);
  }
  return sal_ctx_error(ctx, SAL_STATUS_IO, "cannot create directory %s: %s", path, strerror(errno));
}

/* mkdir -p for dir (its parents are created too). */
static sal_status make_dirs(sal_ctx *ctx, const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "output directory name is empty or too long");
  memcpy(buf, dir, n + 1);
  for (size_t i = 1; i < n; i++)
    if (buf[i] == '/') {
      buf[i] = 0;
      struct stat sb;
      if (stat(buf, &sb) != 0) {
        sal_status st = make_dir(ctx, buf);
        if (st) return st;
      }
      buf[i] = '/';
    }
  return make_dir(ctx, buf);
}

static bool dir_is_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return true;
  struct dirent *e;
  bool empty = true;
  while (empty && (e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
  closedir(d);
  return empty;
}

/* Relative file names of image `index` of a split: images/<split>/<index>.png and masks. */
static void rel_image(char *b, size_t n, sal_synth_split s, int64_t i) {
  snprintf(b, n, "images/%s/%06lld.png", split_names[s], (long long)i);
}
static void rel_mask(char *b, size_t n, sal_synth_split s, int64_t i, int o, int nobj) {
  if (nobj == 1) snprintf(b, n, "masks/%s/%06lld.png", split_names[s], (long long)i);
  else snprintf(b, n, "masks/%s/%06lld_%d.png", split_names[s], (long long)i, o);
}

/* Writes n bytes to path in place: one open, one write, one close (stdio would add an fstat and
 * split the write). A failed write removes the partial file. */
static sal_status write_file(sal_ctx *ctx, const char *path, const uint8_t *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return sal_ctx_error(ctx, SAL_STATUS_IO, "%s: cannot create: %s", path, strerror(errno));
  size_t done = 0;
  int e = 0;
  while (done < n && !e) {
    ssize_t k = write(fd, data + done, n - done);
    if (k > 0) done += (size_t)k;
    else if (k == 0) e = EIO;
    else if (errno != EINTR) e = errno;
  }
  if (close(fd) != 0 && !e) e = errno;
  if (!e) return SAL_STATUS_OK;
  remove(path);
  return sal_ctx_error(ctx, SAL_STATUS_IO, "%s: write failed: %s", path, strerror(e));
}

/* Writes one rendered sample's files under dir. Images are noisy renders: the Sub filter leaves
 * small residuals that Huffman coding alone compresses better than zlib's level-1 string matching,
 * and in less time; masks are runs of 0 and 255, which run-length matching on unfiltered rows
 * stores in a third less space than level 1 with the Sub filter (docs/synth.md, Throughput). Files
 * are written in place with no fsync per file: the dataset is made durable by one sync() before
 * the manifests and synth.json are written, so a crash can leave partial images only in a
 * directory that has no manifests and no synth.json. */
static sal_status write_sample(worker *w, const char *dir, sal_synth_split s, int64_t i) {
  char rel[96], path[4200];
  const uint8_t *data;
  size_t n;
  rel_image(rel, sizeof rel, s, i);
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  sal_status st = sal__png_bulk_encode(w->ctx, w->enc, path, w->smp.image, SAL__PNG_SUB_HUFFMAN, &data, &n);
  if (!st) st = write_file(w->ctx, path, data, n);
  for (int o = 0; o < w->smp.n_objects && !st; o++) {
    rel_mask(rel, sizeof rel, s, i, o, w->smp.n_objects);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    st = sal__png_bulk_encode(w->ctx, w->enc, path, w->smp.mask[o], SAL__PNG_NONE_RLE, &data, &n);
    if (!st) st = write_file(w->ctx, path, data, n);
  }
  return st;
}

static sal_status write_manifest(sal_ctx *ctx, const char *dir, sal_synth_split s, const synth_meta *meta, int64_t n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s.csv", dir, split_names[s]);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st) return st;
  bool ok = fputs("path,label,boxes,masks\n", af.f) >= 0;
  char rel[96];
  for (int64_t i = 0; i < n && ok; i++) {
    const synth_meta *m = &meta[i];
    rel_image(rel, sizeof rel, s, i);
    ok = fprintf(af.f, "%s,", rel) > 0;
    for (int o = 0; o < m->n && ok; o++) ok = fprintf(af.f, "%s%d", o ? ";" : "", m->label[o]) > 0;
    ok = ok && fputc(',', af.f) != EOF;
    for (int o = 0; o < m->n && ok; o++)
      ok = fprintf(af.f, "%s%d %d %d %d", o ? ";" : "", m->box[o][0], m->box[o][1], m->box[o][2], m->box[o][3]) > 0;
    ok = ok && fputc(',', af.f) != EOF;
    for (int o = 0; o < m->n && ok; o++) {
      rel_mask(rel, sizeof rel, s, i, o, m->n);
      ok = fprintf(af.f, "%s%s", o ? ";" : "", rel) > 0;
    }
    ok = ok && fputc('\n', af.f) != EOF;
  }
  return sal__atomic_commit(ctx, &af, ok && !ferror(af.f));
}

static sal_status write_classes(sal_ctx *ctx, const char *dir, sal_synth_family f) {
  char path[4200];
  snprintf(path, sizeof path, "%s/classes.txt", dir);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st) return st;
  bool ok = true;
  for (int k = 0; k < sal_synth_num_classes(f) && ok; k++) ok = fprintf(af.f, "%s\n", sal_synth_class_name(f, k)) > 0;
  return sal__atomic_commit(ctx, &af, ok && !ferror(af.f));
}

/* synth.json: everything that determines the files (no time stamps, no thread count), so two runs
 * with the same parameters produce identical bytes. */
static sal_status write_json(sal_ctx *ctx, const char *dir, const sal_synth_params *p) {
  char path[4200];
  snprintf(path, sizeof path, "%s/synth.json", dir);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(ctx, path, &af);
  if (st) return st;
  FILE *f = af.f;
  fprintf(f, "{\n  \"generator\": \"salient synth\",\n  \"version\": %d,\n  \"salient\": \"%s\",\n", SAL_SYNTH_VERSION,
          sal_version());
  fprintf(f, "  \"family\": \"%s\",\n  \"seed\": %llu,\n  \"size\": %lld,\n  \"channels\": %d,\n", family_names[p->family],
          (unsigned long long)p->seed, (long long)p->size, channels_of(p->family));
  fprintf(f, "  \"objects_per_image\": %d,\n  \"object_size\": [%.4f, %.4f],\n", p->family == SAL_SYNTH_PAIRS ? 2 : 1,
          p->size_min, p->size_max);
  if (p->omit_objects) fprintf(f, "  \"objects_omitted\": true,\n");
  fprintf(f, "  \"classes\": [");
  for (int k = 0; k < sal_synth_num_classes(p->family); k++) fprintf(f, "%s\"%s\"", k ? ", " : "", sal_synth_class_name(p->family, k));
  fprintf(f, "],\n  \"counts\": {\"train\": %lld, \"val\": %lld, \"test\": %lld},\n", (long long)p->count[0],
          (long long)p->count[1], (long long)p->count[2]);
  fprintf(f, "  \"boxes\": \"x0 y0 x1 y1 in pixel edges, x1 and y1 exclusive\",\n");
  fprintf(f, "  \"masks\": \"255 where the object covers at least 8 of the pixel's 4x4 samples\"\n}\n");
  return sal__atomic_commit(ctx, &af, !ferror(f));
}

/* preview.png: up to 8 x 8 images of the first non-empty split, each tile at most 128 px (nearest
 * sampling), 2-px gray gutters, mask outlines in yellow (first object) and cyan (second). */
static sal_status write_preview(sal_ctx *ctx, const char *dir, const sal_synth_params *p) {
  sal_synth_split s = SAL_SYNTH_TRAIN;
  while (s < SAL_SYNTH_TEST && p->count[s] == 0) s++;
  int64_t n = p->count[s] < 64 ? p->count[s] : 64;
  if (n == 0) return SAL_STATUS_OK;
  const int64_t S = p->size, T = S < 128 ? S : 128, G = 2;
  const int64_t cols = n < 8 ? n : 8, rows = (n + 7) / 8;
  const int C = channels_of(p->family);
  sal_image *sheet = NULL;
  worker w = {.ctx = ctx};
  sal_status st = sal_image_new(ctx, cols * (T + G) + G, rows * (T + G) + G, 3, 8, &sheet);
  if (st) return st;
  st = worker_init(ctx, p, &w);
  if (st) {
    sal_image_free(sheet);
    return st;
  }
  uint8_t *out = sheet->pixels;
  memset(out, 128, (size_t)(sheet->width * sheet->height * 3));
  static const uint8_t outline[2][3] = {{255, 255, 0}, {0, 255, 255}};
  for (int64_t t = 0; t < n; t++) {
    render_one(p, &w, s, t);
    int64_t ox = G + (t % 8) * (T + G), oy = G + (t / 8) * (T + G);
    const uint8_t *img = w.smp.image->pixels;
    for (int64_t y = 0; y < T; y++)
      for (int64_t x = 0; x < T; x++) {
        int64_t sy = y * S / T, sx = x * S / T;
        uint8_t *d = out + ((oy + y) * sheet->width + ox + x) * 3;
        for (int c = 0; c < 3; c++) d[c] = img[(sy * S + sx) * C + (C == 3 ? c : 0)];
        for (int o = 0; o < w.smp.n_objects; o++) {
          const uint8_t *m = w.smp.mask[o]->pixels;
#define SAL__TILE_MASK(xx, yy) \
  ((xx) >= 0 && (yy) >= 0 && (xx) < T && (yy) < T && m[((yy) * S / T) * S + (xx) * S / T])
          if (SAL__TILE_MASK(x, y) && !(SAL__TILE_MASK(x - 1, y) && SAL__TILE_MASK(x + 1, y) && SAL__TILE_MASK(x, y - 1) &&
                                         SAL__TILE_MASK(x, y + 1)))
            memcpy(d, outline[o], 3);
#undef SAL__TILE_MASK
        }
      }
  }
  worker_free(&w);
  char path[4200];
  snprintf(path, sizeof path, "%s/preview.png", dir);
  st = sal_image_write(ctx, path, sheet);
  sal_image_free(sheet);
  return st;
}

/* Workers run the whole write in parallel. Files are not synced one by one (write_sample), so the
 * work is CPU-bound; two workers per core let one render while the other waits on a write. */
static int auto_threads(sal_ctx *ctx) { return 2 * sal_ctx_threads(ctx); }

sal_status sal_synth_generate(sal_ctx *ctx, const sal_synth_params *p, const char *dir) {
  sal_status st = check_render_params(ctx, p);
  if (st) return st;
  int64_t total = 0;
  for (int s = 0; s < SAL_SYNTH_SPLIT_COUNT; s++) {
    if (p->count[s] < 0 || p->count[s] > SAL_SYNTH_MAX_COUNT)
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s count %lld is outside 0..%lld", split_names[s],
                           (long long)p->count[s], (long long)SAL_SYNTH_MAX_COUNT);
    total += p->count[s];
  }
  if (total == 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "no images requested (train, val and test are all 0)");
  if (!dir || strlen(dir) > 4000) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "output directory name is missing or too long");
  struct stat sb;
  if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && !p->force && !dir_is_empty(dir))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "output directory %s is not empty (use --force to write into it)", dir);
  st = make_dirs(ctx, dir);
  char path[4200];
  /* Images are written in place (no temporary per file), so the marker of a finished dataset and
   * the manifests that name its files go first: until the new ones are written last, a crash
   * leaves a directory that no reader takes for a dataset. */
  const char *finished[] = {"synth.json", "train.csv", "val.csv", "test.csv"};
  for (int k = 0; k < 4 && !st; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, finished[k]);
    if (remove(path) != 0 && errno != ENOENT)
      st = sal_ctx_error(ctx, SAL_STATUS_IO, "%s: cannot remove the earlier dataset's file: %s", path, strerror(errno));
  }
  for (int s = 0; s < SAL_SYNTH_SPLIT_COUNT && !st; s++) {
    const char *sub[2] = {"images", "masks"};
    for (int d = 0; d < 2 && !st; d++) {
      snprintf(path, sizeof path, "%s/%s", dir, sub[d]);
      st = make_dir(ctx, path);
      snprintf(path, sizeof path, "%s/%s/%s", dir, sub[d], split_names[s]);
      if (!st) st = make_dir(ctx, path);
    }
  }
  if (st) return st;

  synth_meta *meta[SAL_SYNTH_SPLIT_COUNT] = {NULL, NULL, NULL};
  int nt = p->threads > 0 ? p->threads : auto_threads(ctx);
  if (nt > 256) nt = 256;
  worker *w = sal_calloc(ctx, (size_t)nt, sizeof *w);
  int ready = 0;
  st = w ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
  for (int s = 0; s < SAL_SYNTH_SPLIT_COUNT && !st; s++) {
    meta[s] = sal_calloc(ctx, (size_t)(p->count[s] > 0 ? p->count[s] : 1), sizeof(synth_meta));
    if (!meta[s]) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  /* One context per worker: error messages are per context and must not be shared. */
  for (; ready < nt && !st; ready++) {
    st = sal_ctx_new(sal_ctx_threads(ctx), p->seed, &w[ready].ctx);
    if (st) {
      st = sal_ctx_error(ctx, st, "cannot create a worker context");
      break;
    }
    st = worker_init(w[ready].ctx, p, &w[ready]);
    if (!st) {
      st = sal__png_bulk_new(w[ready].ctx, &w[ready].enc);
      if (st) worker_free(&w[ready]);
    }
    if (st) {
      st = sal_ctx_error(ctx, st, "%s", sal_ctx_last_error(w[ready].ctx));
      sal_ctx_free(w[ready].ctx);
      break;
    }
  }
  sal_progress *prog = NULL;
  if (!st) st = sal_progress_start(ctx, "synth", total, &prog);
  if (!st) {
    int64_t done = 0, err_index = total;
    sal_status err_st = SAL_STATUS_OK;
    char err_msg[2048] = "";
    int stop = 0;
    #pragma omp parallel num_threads(nt)
    {
      worker *me = &w[omp_get_thread_num()];
      #pragma omp for schedule(dynamic, 4)
      for (int64_t g = 0; g < total; g++) {
        int halt;
        #pragma omp atomic read
        halt = stop;
        if (halt) continue;
        sal_synth_split s = SAL_SYNTH_TRAIN;
        int64_t i = g;
        while (i >= p->count[s]) i -= p->count[s++];
        render_one(p, me, s, i);
        sal_status e = write_sample(me, dir, s, i);
        if (e) {
          #pragma omp critical(sal_synth_error)
          if (g < err_index) {
            err_index = g;
            err_st = e;
            snprintf(err_msg, sizeof err_msg, "%s", sal_ctx_last_error(me->ctx));
          }
          #pragma omp atomic write
          stop = 1;
          continue;
        }
        synth_meta *m = &meta[s][i];
        m->n = (int8_t)me->smp.n_objects;
        for (int o = 0; o < me->smp.n_objects; o++) {
          m->label[o] = (int8_t)me->smp.label[o];
          for (int c = 0; c < 4; c++) m->box[o][c] = (int16_t)me->smp.box[o][c];
        }
        int64_t d;
        #pragma omp atomic capture
        d = ++done;
        if (omp_get_thread_num() == 0) sal_progress_update(prog, d, NULL);
      }
    }
    sal_progress_update(prog, done, NULL);
    sal_progress_finish(prog);
    if (err_st) st = sal_ctx_error(ctx, err_st, "%s", err_msg);
  }
  if (!st) sync(); /* the images and masks, before the files that declare the dataset complete */
  for (int s = 0; s < SAL_SYNTH_SPLIT_COUNT && !st; s++) st = write_manifest(ctx, dir, (sal_synth_split)s, meta[s], p->count[s]);
  if (!st) st = write_classes(ctx, dir, p->family);
  if (!st && p->preview) st = write_preview(ctx, dir, p);
  if (!st) st = write_json(ctx, dir, p);
  for (int i = 0; i < ready; i++) {
    worker_free(&w[i]);
    sal_ctx_free(w[i].ctx);
  }
  sal_free(w);
  for (int s = 0; s < SAL_SYNTH_SPLIT_COUNT; s++) sal_free(meta[s]);
  return st;
}
