/* The streaming loader: every item exactly once per epoch in sal_dataset_order's order, identical
 * batches whatever the thread count, pixels / labels / boxes / masks as written, short and dropped
 * last batches, shards, errors naming the file, and restarting epochs (also after an error). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "salient/image.h"
#include "salient/loader.h"

#define NIMG 23
#define SIDE 8

/* Image k: gray value 10 + k everywhere except a bright square (value 250) at (k % 4, k % 3) of
 * size 3, which is also its mask and its box. */
static void write_dataset(void) {
  char path[1024], line[256];
  static char manifest[NIMG * 160 + 64];
  strcpy(manifest, "path,label,boxes,masks\n");
  for (int k = 0; k < NIMG; k++) {
    sal_image *img = NULL, *mask = NULL;
    TH_OK(sal_image_new(th_ctx(), SIDE, SIDE, 1, 8, &img));
    TH_OK(sal_image_new(th_ctx(), SIDE, SIDE, 1, 8, &mask));
    if (!img || !mask) return;
    uint8_t *px = img->pixels, *mk = mask->pixels;
    int x0 = k % 4, y0 = k % 3;
    for (int y = 0; y < SIDE; y++)
      for (int x = 0; x < SIDE; x++) {
        bool in = x >= x0 && x < x0 + 3 && y >= y0 && y < y0 + 3;
        px[y * SIDE + x] = in ? 250 : (uint8_t)(10 + k);
        mk[y * SIDE + x] = in ? 255 : 0;
      }
    snprintf(line, sizeof line, "img%02d.png", k);
    th_tmp_path(path, sizeof path, line);
    TH_OK(sal_image_write(th_ctx(), path, img));
    snprintf(line, sizeof line, "mask%02d.png", k);
    th_tmp_path(path, sizeof path, line);
    TH_OK(sal_image_write(th_ctx(), path, mask));
    snprintf(line, sizeof line, "img%02d.png,%d,%d %d %d %d,mask%02d.png\n", k, k % 5, x0, y0, x0 + 3, y0 + 3, k);
    strcat(manifest, line);
    sal_image_free(img);
    sal_image_free(mask);
  }
  th_tmp_path(path, sizeof path, "list.csv");
  th_write_file(path, manifest, strlen(manifest));
}

static sal_loader_opts plain_opts(int64_t batch, int threads) {
  sal_loader_opts o = sal_loader_opts_default();
  o.batch = batch;
  o.threads = threads;
  o.pp.resize = 0;
  o.pp.crop_w = SIDE;
  o.pp.crop_h = SIDE;
  for (int c = 0; c < 3; c++) {
    o.pp.mean[c] = 0;
    o.pp.std[c] = 1;
  }
  o.masks = true;
  return o;
}

/* Checks one batch against the files it must come from. */
static void check_batch(const sal_batch *b, const int64_t *order, int64_t batch) {
  for (int64_t i = 0; i < b->n; i++) {
    int64_t k = b->items[i];
    TH_CHECK(k == order[b->index * batch + i], "batch %lld image %lld is item %lld, want %lld", (long long)b->index,
             (long long)i, (long long)k, (long long)order[b->index * batch + i]);
    TH_CHECK(b->labels[i] == k % 5, "label of item %lld", (long long)k);
    int x0 = (int)(k % 4), y0 = (int)(k % 3);
    const float *px = b->images->data + i * 3 * SIDE * SIDE, *mk = b->masks->data + i * SIDE * SIDE;
    bool ok = true;
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
          bool in = x >= x0 && x < x0 + 3 && y >= y0 && y < y0 + 3;
          float want = (in ? 250.0f : (float)(10 + k)) / 255.0f;
          ok = ok && fabsf(px[(c * SIDE + y) * SIDE + x] - want) < 1e-6f && (c > 0 || mk[y * SIDE + x] == (in ? 1.0f : 0.0f));
        }
    TH_CHECK(ok, "pixels and mask of item %lld (gray replicated to 3 channels)", (long long)k);
    const sal_box *bx = &b->boxes[i * b->box_stride];
    TH_CHECK(b->n_boxes[i] == 1 && bx->x0 == x0 && bx->y0 == y0 && bx->x1 == x0 + 3 && bx->y1 == y0 + 3 &&
                 b->box_inside[i * b->box_stride] && b->box_labels[i * b->box_stride] == k % 5,
             "box of item %lld", (long long)k);
  }
}

/* Runs one epoch, checking every batch; returns a hash of the pixels seen, in order. */
static uint64_t run_epoch(sal_loader *ld, const sal_dataset *ds, const sal_loader_opts *o, int64_t epoch, int64_t *seen) {
  TH_OK(sal_loader_epoch(ld, epoch));
  int64_t *order = NULL, n = 0;
  TH_OK(sal_dataset_order(th_ctx(), ds, o->seed, epoch, o->shuffle, o->part, o->parts ? o->parts : 1, &order, &n));
  uint64_t h = 1469598103934665603ull;
  int64_t nb = 0;
  for (;;) {
    const sal_batch *b = NULL;
    sal_status st = sal_loader_next(ld, &b);
    TH_CHECK(st == SAL_STATUS_OK, "next: %s", sal_ctx_last_error(th_ctx()));
    if (st || !b) break;
    TH_CHECK(b->index == nb, "batch numbers in order");
    check_batch(b, order, o->batch);
    for (int64_t i = 0; i < b->n; i++) seen[b->items[i]]++;
    const unsigned char *bytes = (const unsigned char *)b->images->data;
    for (size_t i = 0; i < (size_t)b->n * 3 * SIDE * SIDE * sizeof(float); i++) h = (h ^ bytes[i]) * 1099511628211ull;
    nb++;
  }
  TH_CHECK(nb == sal_loader_num_batches(ld), "%lld batches, loader says %lld", (long long)nb,
           (long long)sal_loader_num_batches(ld));
  sal_free(order);
  return h;
}

static void test_epochs(const sal_dataset *ds) {
  uint64_t hashes[3];
  const int threads[3] = {1, 2, 5};
  for (int t = 0; t < 3; t++) {
    sal_loader_opts o = plain_opts(4, threads[t]);
    o.shuffle = true;
    o.seed = 11;
    sal_loader *ld = NULL;
    TH_OK(sal_loader_new(th_ctx(), ds, &o, &ld));
    if (!ld) return;
    int64_t seen[NIMG] = {0};
    hashes[t] = run_epoch(ld, ds, &o, 0, seen);
    bool once = true;
    for (int k = 0; k < NIMG; k++) once = once && seen[k] == 1;
    TH_CHECK(once, "%d threads: every item exactly once", threads[t]);
    TH_CHECK(sal_loader_num_batches(ld) == 6, "23 items in batches of 4: 6 batches (the last of 3)");
    /* A second epoch reshuffles; a repeated epoch repeats. */
    int64_t seen2[NIMG] = {0};
    uint64_t h1 = run_epoch(ld, ds, &o, 1, seen2);
    TH_CHECK(h1 != hashes[t], "epoch 1 is in another order");
    uint64_t h0 = run_epoch(ld, ds, &o, 0, seen2);
    TH_CHECK(h0 == hashes[t], "epoch 0 again gives the same batches");
    /* Restarting in the middle of an epoch is allowed. */
    TH_OK(sal_loader_epoch(ld, 0));
    const sal_batch *b = NULL;
    TH_OK(sal_loader_next(ld, &b));
    TH_OK(sal_loader_epoch(ld, 2));
    TH_OK(sal_loader_next(ld, &b));
    TH_CHECK(b && b->index == 0, "a restarted epoch begins at batch 0");
    sal_loader_free(ld);
  }
  TH_CHECK(hashes[0] == hashes[1] && hashes[1] == hashes[2], "1, 2 and 5 threads give identical batches");

  /* drop_last, unshuffled, and shards. */
  sal_loader_opts o = plain_opts(5, 2);
  o.drop_last = true;
  sal_loader *ld = NULL;
  TH_OK(sal_loader_new(th_ctx(), ds, &o, &ld));
  if (ld) {
    int64_t seen[NIMG] = {0};
    run_epoch(ld, ds, &o, 0, seen);
    TH_CHECK(sal_loader_num_batches(ld) == 4 && seen[19] == 1 && seen[20] == 0, "drop_last drops the 3 leftover items");
    sal_loader_free(ld);
  }
  int64_t seen[NIMG] = {0};
  for (int part = 0; part < 3; part++) {
    o = plain_opts(3, 2);
    o.shuffle = true;
    o.seed = 5;
    o.part = part;
    o.parts = 3;
    TH_OK(sal_loader_new(th_ctx(), ds, &o, &ld));
    if (ld) run_epoch(ld, ds, &o, 4, seen);
    sal_loader_free(ld);
    ld = NULL;
  }
  bool once = true;
  for (int k = 0; k < NIMG; k++) once = once && seen[k] == 1;
  TH_CHECK(once, "3 shards together cover every item once");
}

static void test_errors(const sal_dataset *ds) {
  sal_loader *ld = NULL;
  sal_loader_opts o = plain_opts(0, 2);
  TH_FAILS(sal_loader_new(th_ctx(), ds, &o, &ld), SAL_STATUS_BAD_INPUT, "batch 0");
  o = plain_opts(2, 0);
  o.threads = 100;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &o, &ld), SAL_STATUS_BAD_INPUT, "threads 100");
  o = plain_opts(2, 2);
  o.pp.crop_w = o.pp.crop_h = 0;
  o.pp.resize = 16;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &o, &ld), SAL_STATUS_BAD_INPUT, "one image size");
  o = plain_opts(2, 2);
  o.part = 2;
  o.parts = 2;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &o, &ld), SAL_STATUS_BAD_INPUT, "shard 2 of 2");
  TH_CHECK(ld == NULL, "no loader on error");

  o = plain_opts(2, 2);
  TH_OK(sal_loader_new(th_ctx(), ds, &o, &ld));
  if (!ld) return;
  const sal_batch *b = NULL;
  TH_FAILS(sal_loader_next(ld, &b), SAL_STATUS_BAD_STATE, "before sal_loader_epoch");
  /* A vanished image: the batch that needs it reports the file, and the epoch ends. */
  char path[1024], keep[1024];
  th_tmp_path(path, sizeof path, "img07.png");
  th_tmp_path(keep, sizeof keep, "img07.keep");
  TH_CHECK(rename(path, keep) == 0, "hide img07.png");
  TH_OK(sal_loader_epoch(ld, 0));
  sal_status st = SAL_STATUS_OK;
  int batches = 0;
  while (!(st = sal_loader_next(ld, &b)) && b) batches++;
  TH_CHECK(st == SAL_STATUS_NOT_FOUND && th_contains(sal_ctx_last_error(th_ctx()), "img07.png"),
           "missing image named: %s (%s)", sal_ctx_last_error(th_ctx()), sal_status_name(st));
  TH_CHECK(batches == 3, "batches 0..2 were fine (%d)", batches);
  TH_OK(sal_loader_next(ld, &b));
  TH_CHECK(b == NULL, "after an error the epoch is over");
  TH_CHECK(rename(keep, path) == 0, "restore img07.png");
  int64_t seen[NIMG] = {0};
  run_epoch(ld, ds, &o, 0, seen);
  TH_CHECK(seen[7] == 1, "a new epoch after the error works");
  /* A mask of the wrong size. */
  sal_image *small = NULL;
  TH_OK(sal_image_new(th_ctx(), 4, 4, 1, 8, &small));
  th_tmp_path(path, sizeof path, "mask03.png");
  if (small) TH_OK(sal_image_write(th_ctx(), path, small));
  sal_image_free(small);
  TH_OK(sal_loader_epoch(ld, 0));
  while (!(st = sal_loader_next(ld, &b)) && b) {
  }
  TH_CHECK(st == SAL_STATUS_BAD_INPUT && th_contains(sal_ctx_last_error(th_ctx()), "mask03.png: mask is 4x4"),
           "mask size mismatch named: %s", sal_ctx_last_error(th_ctx()));
  sal_loader_free(ld);
}

int main(void) {
  if (!th_tmpdir()) return th_finish("test_loader");
  write_dataset();
  char path[1024];
  th_tmp_path(path, sizeof path, "list.csv");
  sal_dataset *ds = NULL;
  TH_OK(sal_dataset_open(th_ctx(), path, NULL, &ds));
  if (ds) {
    TH_CHECK(ds->n_items == NIMG, "dataset of %d", NIMG);
    test_epochs(ds);
    test_errors(ds);
  }
  sal_dataset_free(ds);
  return th_finish("test_loader");
}
