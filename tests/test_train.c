/* Training: augmentation in the loader (deterministic whatever the thread count; boxes and masks
 * follow the crop and flip), sal_train on a tiny synthetic set (loss falls, accuracy far above
 * chance, and the evidence is in the object), resume after epoch 1 bit-identical to an
 * uninterrupted run, checkpoints reopened with sal_checkpoint_open, and bad inputs. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "harness.h"
#include "salient/image.h"
#include "salient/train.h"

#define SIDE 24
#define OBJ 8
#define NCLS 3

/* Image k of a split: grey noise background (every class alike) with, unless `blank`, an 8 × 8
 * square whose colour is the class (red, green, blue) at a position drawn from k. The square is
 * also the item's mask and box. The class is visible only in the object. */
static void write_split(const char *name, int n, uint64_t seed, bool blank) {
  char path[1024], rel[128];
  size_t cap = (size_t)n * 200 + 64;
  char *manifest = malloc(cap);
  if (!manifest) return;
  size_t len = (size_t)snprintf(manifest, cap, "path,label,boxes,masks\n");
  for (int k = 0; k < n; k++) {
    int label = k % NCLS;
    uint32_t r[4];
    sal_philox(seed, 7, (uint64_t)k, r);
    int x0 = (int)(r[0] % (SIDE - OBJ + 1)), y0 = (int)(r[1] % (SIDE - OBJ + 1));
    sal_image *img = NULL, *mask = NULL;
    TH_OK(sal_image_new(th_ctx(), SIDE, SIDE, 3, 8, &img));
    TH_OK(sal_image_new(th_ctx(), SIDE, SIDE, 1, 8, &mask));
    if (!img || !mask) break;
    uint8_t *px = img->pixels, *mk = mask->pixels;
    for (int y = 0; y < SIDE; y++)
      for (int x = 0; x < SIDE; x++) {
        uint32_t q[4];
        sal_philox(seed, 8, (uint64_t)(k * SIDE * SIDE + y * SIDE + x), q);
        uint8_t grey = (uint8_t)(60 + q[0] % 120);
        bool in = !blank && x >= x0 && x < x0 + OBJ && y >= y0 && y < y0 + OBJ;
        for (int c = 0; c < 3; c++) px[(y * SIDE + x) * 3 + c] = in ? (c == label ? 230 : 20) : grey;
        mk[y * SIDE + x] = (x >= x0 && x < x0 + OBJ && y >= y0 && y < y0 + OBJ) ? 255 : 0;
      }
    snprintf(rel, sizeof rel, "%s_%03d.png", name, k);
    th_tmp_path(path, sizeof path, rel);
    TH_OK(sal_image_write(th_ctx(), path, img));
    snprintf(rel, sizeof rel, "%s_m%03d.png", name, k);
    th_tmp_path(path, sizeof path, rel);
    TH_OK(sal_image_write(th_ctx(), path, mask));
    sal_image_free(img);
    sal_image_free(mask);
    len += (size_t)snprintf(manifest + len, cap - len, "%s_%03d.png,%d,%d %d %d %d,%s_m%03d.png\n", name, k, label, x0,
                            y0, x0 + OBJ, y0 + OBJ, name, k);
  }
  snprintf(rel, sizeof rel, "%s.csv", name);
  th_tmp_path(path, sizeof path, rel);
  th_write_file(path, manifest, len);
  free(manifest);
}

static sal_dataset *open_split(const char *name) {
  char path[1024], rel[128];
  snprintf(rel, sizeof rel, "%s.csv", name);
  th_tmp_path(path, sizeof path, rel);
  sal_dataset *ds = NULL;
  TH_OK(sal_dataset_open(th_ctx(), path, NULL, &ds));
  return ds;
}

/* The recipe of the tests: a narrow resnet_small at 24 px, Adam, a few epochs. */
static sal_train_opts tiny_opts(void) {
  sal_train_opts o = sal_train_opts_default();
  o.image_size = SIDE;
  o.width = 4;
  o.batch = 12;
  o.epochs = 2;
  o.optimizer = SAL_OPTIM_ADAM;
  o.nesterov = false;
  o.momentum = 0;
  o.lr = 0.01f;
  o.weight_decay = 0;
  o.warmup_epochs = 0;
  o.augment.scale_min = 0.6f;
  o.quiet = true;
  o.seed = 5;
  return o;
}

/* ---- augmentation ---- */

/* The draws themselves: RandomResizedCrop's bounds, its fallback, the flip rate, jitter ranges. */
static void test_draws(void) {
  sal_augment a = sal_augment_default();
  a.crop = true;
  a.flip = true;
  a.dihedral = true;
  a.brightness = 0.4f;
  a.saturation = 1.5f;
  int n = 2000, inside = 1, flips = 0, jit = 1, fallbacks = 0, codes[8] = {0};
  double min_area = 1, max_area = 0, min_ratio = 10, max_ratio = 0, pos = 0;
  for (int i = 0; i < n; i++) {
    sal__aug_draw d;
    sal__aug_draw_item(&a, 9, 4, i, 64, 48, &d);
    codes[d.dihedral & 7]++;
    inside &= d.crop && d.x >= 0 && d.y >= 0 && d.w >= 1 && d.h >= 1 && d.x + d.w <= 64 && d.y + d.h <= 48;
    double area = (double)(d.w * d.h) / (64.0 * 48.0), ratio = (double)d.w / (double)d.h;
    if (d.w == 48 * 4 / 3 && d.h == 48) {
      fallbacks++;
      continue;
    }
    min_area = fmin(min_area, area), max_area = fmax(max_area, area);
    min_ratio = fmin(min_ratio, ratio), max_ratio = fmax(max_ratio, ratio);
    if (d.w < 64) pos += (double)d.x / (double)(64 - d.w);
    flips += d.flip;
    jit &= d.brightness >= 0.6f && d.brightness <= 1.4f && d.saturation >= 0.0f && d.saturation <= 2.5f && d.contrast == 1.0f;
  }
  /* Rounding w and h to integers moves area and ratio slightly past the drawn bounds (a few
   * percent at these sizes); the position is uniform, so its mean fraction is near 1/2. */
  TH_CHECK(inside && min_area >= 0.07 && min_area < 0.12 && max_area <= 1.0 && max_area > 0.9,
           "crop areas in [%.3f, %.3f] (want within (0.08, 1))", min_area, max_area);
  TH_CHECK(min_ratio >= 0.7 && min_ratio < 0.8 && max_ratio <= 1.45 && max_ratio > 1.25, "crop ratios in [%.3f, %.3f]",
           min_ratio, max_ratio);
  TH_CHECK(fabs(pos / (double)(n - fallbacks) - 0.5) < 0.05 && fallbacks < n / 50, "mean position %.3f, %d fallbacks",
           pos / (double)(n - fallbacks), fallbacks);
  TH_CHECK(abs(flips - (n - fallbacks) / 2) < n / 20 && jit, "flips %d of %d, jitter ranges ok %d", flips, n - fallbacks, jit);
  /* The 8 symmetries each about n/8 = 250 times (binomial s.d. 15). */
  for (int k = 0; k < 8; k++) TH_CHECK(abs(codes[k] - n / 8) < 75, "dihedral code %d drawn %d times of %d", k, codes[k], n);
  /* Nothing fits a 100 x 10 image at scale >= 0.9 within the ratio range: the fallback is the
   * centred crop of the full height with width round(10 * 4/3) = 13. */
  a.scale_min = 0.9f;
  sal__aug_draw d;
  sal__aug_draw_item(&a, 9, 4, 0, 100, 10, &d);
  TH_CHECK(d.x == 43 && d.y == 0 && d.w == 13 && d.h == 10, "fallback crop (%lld, %lld, %lld, %lld)", (long long)d.x,
           (long long)d.y, (long long)d.w, (long long)d.h);
  /* The same (seed, epoch, item) always draws the same; another epoch draws differently. */
  sal__aug_draw e, f;
  a.scale_min = 0.08f;
  sal__aug_draw_item(&a, 9, 4, 17, 64, 48, &d);
  sal__aug_draw_item(&a, 9, 4, 17, 64, 48, &e);
  sal__aug_draw_item(&a, 9, 5, 17, 64, 48, &f);
  TH_CHECK(!memcmp(&d, &e, sizeof d) && memcmp(&d, &f, sizeof d), "draws are not a function of (seed, epoch, item)");
}

static void test_augment(void) {
  sal_dataset *ds = open_split("train");
  if (!ds) return;
  sal_loader_opts lo = sal_loader_opts_default();
  lo.batch = 5;
  lo.shuffle = true;
  lo.seed = 3;
  lo.masks = true;
  lo.pp = sal_preprocess_default();
  lo.pp.resize = 0;
  lo.pp.resize_w = lo.pp.resize_h = 16;
  lo.pp.crop_w = lo.pp.crop_h = 0;
  lo.augment.crop = true;
  lo.augment.scale_min = 0.3f;
  lo.augment.flip = true;
  lo.augment.dihedral = true;
  lo.augment.brightness = lo.augment.contrast = lo.augment.saturation = 0.4f;
  /* The same batches with 1 and 3 threads, and a different epoch gives different pixels. */
  sal_loader *a = NULL, *b = NULL;
  lo.threads = 1;
  TH_OK(sal_loader_new(th_ctx(), ds, &lo, &a));
  lo.threads = 3;
  TH_OK(sal_loader_new(th_ctx(), ds, &lo, &b));
  if (!a || !b) goto out;
  TH_OK(sal_loader_epoch(a, 2));
  TH_OK(sal_loader_epoch(b, 2));
  const sal_batch *ba = NULL, *bb = NULL;
  int same = 1, batches = 0, flips_seen = 0, boxes_checked = 0;
  double max_box_err = 0;
  while (sal_loader_next(a, &ba) == SAL_STATUS_OK && ba && sal_loader_next(b, &bb) == SAL_STATUS_OK && bb) {
    batches++;
    int64_t n = sal_tensor_numel(ba->images);
    same &= memcmp(ba->images->data, bb->images->data, (size_t)n * sizeof(float)) == 0;
    same &= memcmp(ba->masks->data, bb->masks->data, (size_t)(ba->n * 256) * sizeof(float)) == 0;
    /* The mask's bounding box and the mapped box agree to within a pixel (the mask is resized with
     * the nearest filter, the box exactly): both went through the same crop, resize and flip. */
    for (int64_t i = 0; i < ba->n; i++) {
      const float *m = ba->masks->data + i * 256;
      int x0 = 16, y0 = 16, x1 = -1, y1 = -1;
      for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++)
          if (m[y * 16 + x] > 0.5f) {
            x0 = x < x0 ? x : x0;
            y0 = y < y0 ? y : y0;
            x1 = x > x1 ? x : x1;
            y1 = y > y1 ? y : y1;
          }
      const sal_box *bx = &ba->boxes[i * ba->box_stride];
      if (x1 < 0 || !ba->box_inside[i * ba->box_stride] || bx->x1 - bx->x0 < 2 || bx->y1 - bx->y0 < 2) continue;
      double e = fmax(fmax(fabs(bx->x0 - x0), fabs(bx->x1 - (x1 + 1))), fmax(fabs(bx->y0 - y0), fabs(bx->y1 - (y1 + 1))));
      if (e > max_box_err) max_box_err = e;
      boxes_checked++;
    }
  }
  TH_CHECK(batches == (int)((ds->n_items + 4) / 5) && same, "augmented batches depend on the thread count (%d batches)", batches);
  TH_CHECK(boxes_checked >= 10 && max_box_err <= 1.01, "boxes and masks disagree after crop, flip and rotation: %d boxes, max error %.3f px",
           boxes_checked, max_box_err);
  /* Flip only: every image is its unflipped self or its mirror, and both occur. */
  sal_loader *c = NULL, *d = NULL;
  lo.augment = sal_augment_default();
  lo.threads = 2;
  TH_OK(sal_loader_new(th_ctx(), ds, &lo, &c));
  lo.augment.flip = true;
  TH_OK(sal_loader_new(th_ctx(), ds, &lo, &d));
  if (c && d) {
    TH_OK(sal_loader_epoch(c, 0));
    TH_OK(sal_loader_epoch(d, 0));
    int ok = 1, total = 0;
    while (sal_loader_next(c, &ba) == SAL_STATUS_OK && ba && sal_loader_next(d, &bb) == SAL_STATUS_OK && bb) {
      for (int64_t i = 0; i < ba->n; i++) {
        const float *p = ba->images->data + i * 3 * 256, *q = bb->images->data + i * 3 * 256;
        bool eq = memcmp(p, q, 3 * 256 * sizeof(float)) == 0, mirror = true;
        for (int r = 0; r < 48 && mirror; r++)
          for (int x = 0; x < 16; x++)
            if (p[r * 16 + x] != q[r * 16 + 15 - x]) mirror = false;
        ok &= eq || mirror;
        flips_seen += !eq && mirror;
        total++;
      }
    }
    TH_CHECK(ok && flips_seen > total / 5 && flips_seen < total * 4 / 5, "flip: %d of %d mirrored (ok %d)", flips_seen, total, ok);
  }
  /* Dihedral only: every image is one of the 8 symmetries of its plain self (built here from the
   * definition: transpose, mirror columns, mirror rows), and several of them occur. */
  sal_loader *r = NULL;
  lo.augment.flip = false;
  lo.augment.dihedral = true;
  TH_OK(sal_loader_new(th_ctx(), ds, &lo, &r));
  if (c && r) {
    TH_OK(sal_loader_epoch(c, 1));
    TH_OK(sal_loader_epoch(r, 1));
    int ok = 1, seen[8] = {0}, kinds = 0;
    while (sal_loader_next(c, &ba) == SAL_STATUS_OK && ba && sal_loader_next(r, &bb) == SAL_STATUS_OK && bb) {
      for (int64_t i = 0; i < ba->n; i++) {
        const float *p = ba->images->data + i * 3 * 256, *q = bb->images->data + i * 3 * 256;
        int found = -1;
        for (int k = 0; k < 8 && found < 0; k++) {
          bool match = true;
          for (int ch = 0; ch < 3 && match; ch++)
            for (int y = 0; y < 16 && match; y++)
              for (int x = 0; x < 16 && match; x++) {
                /* undo the mirrors, then the transpose: source row t, column u */
                int yy = k & 4 ? 15 - y : y, xx = k & 2 ? 15 - x : x;
                int t = k & 1 ? xx : yy, u = k & 1 ? yy : xx;
                match = q[ch * 256 + y * 16 + x] == p[ch * 256 + t * 16 + u];
              }
          if (match) found = k;
        }
        ok &= found >= 0;
        if (found >= 0) seen[found] = 1;
      }
    }
    for (int k = 0; k < 8; k++) kinds += seen[k];
    TH_CHECK(ok && kinds >= 4, "dihedral: an image is none of the 8 symmetries (ok %d), or only %d kinds seen", ok, kinds);
  }
  sal_loader_free(r);
  /* Bad augmentation settings. */
  sal_loader *e = NULL;
  lo.augment.crop = true;
  lo.augment.scale_min = 0;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &lo, &e), SAL_STATUS_BAD_INPUT, "crop scale");
  lo.augment.scale_min = 0.5f;
  lo.augment.brightness = -1;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &lo, &e), SAL_STATUS_BAD_INPUT, "colour jitter");
  lo.augment.brightness = 0;
  lo.augment.dihedral = true;
  lo.pp.resize_w = 12;
  TH_FAILS(sal_loader_new(th_ctx(), ds, &lo, &e), SAL_STATUS_BAD_INPUT, "square model frame");
  lo.pp.resize_w = 16;
  sal_loader_free(c);
  sal_loader_free(d);
out:
  sal_loader_free(a);
  sal_loader_free(b);
  sal_dataset_free(ds);
}

/* ---- training ---- */

/* One training step of the demo architecture (resnet_small width 16, with the loss node) with the
 * reference kernels and with the default (oneDNN) ones: the loss and parameter gradients agree.
 * Batch-norm in training mode subtracts batch means, so gradients are differences of nearly equal
 * f32 sums in another order: 1e-3 of each tensor's largest gradient is far above the observed
 * ~1e-5 while a wrong kernel or wiring shows as O(1). */
static void test_step_kernels(void) {
  sal_ctx *ctx = th_ctx();
  const char *names[] = {"conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
                         "layer3.1.conv2.weight", "layer3.1.bn2.bias", "fc.weight", "fc.bias"};
  enum { NN = sizeof names / sizeof names[0] };
  float *grads[2][NN] = {{0}};
  float loss[2] = {0, 0};
  int64_t sizes[NN] = {0};
  for (int k = 0; k < 2; k++) {
    sal_model_spec spec = sal_model_spec_default("resnet_small");
    spec.image_size = 16;
    spec.width = 16;
    sal_graph *g = NULL;
    sal_plan *p = NULL;
    sal_tensor *x = NULL, *t = NULL;
    const char *ins[2] = {"logits", "target"}, *outs[1] = {"loss"};
    TH_OK(sal_model_build(ctx, &spec, &g));
    if (g) TH_OK(sal_graph_add_input(g, "target", 1, (int64_t[]){-1}));
    if (g) TH_OK(sal_graph_add_node(g, "SoftmaxCrossEntropyLoss", "loss", ins, 2, outs, 1, NULL, 0));
    if (g) TH_OK(sal_graph_add_output(g, "loss"));
    sal_plan_opts po = sal_plan_opts_default();
    po.batch = 6;
    po.training = true;
    po.grad_params = true;
    po.kernels = k ? SAL_KERNELS_AUTO : SAL_KERNELS_REF;
    if (g) TH_OK(sal_plan_new(ctx, g, &po, &p));
    TH_OK(sal_tensor_new(ctx, 4, (int64_t[]){6, 3, 16, 16}, &x));
    TH_OK(sal_tensor_new(ctx, 1, (int64_t[]){6}, &t));
    if (p && x && t) {
      sal_rng_normal(3, 2, 0, x->data, (size_t)sal_tensor_numel(x));
      for (int i = 0; i < 6; i++) t->data[i] = (float)(i % 10);
      const sal_tensor *l = NULL;
      TH_OK(sal_plan_set_input(p, "input", x));
      TH_OK(sal_plan_set_input(p, "target", t));
      TH_OK(sal_plan_forward(p));
      TH_OK(sal_plan_value(p, "loss", &l));
      TH_OK(sal_plan_backward(p, "loss", NULL));
      if (l) loss[k] = l->data[0];
      for (int j = 0; j < NN; j++) {
        const sal_tensor *gr = NULL;
        TH_OK(sal_plan_grad(p, names[j], &gr));
        if (!gr) continue;
        sizes[j] = sal_tensor_numel(gr);
        grads[k][j] = malloc((size_t)sizes[j] * sizeof(float));
        if (grads[k][j]) memcpy(grads[k][j], gr->data, (size_t)sizes[j] * sizeof(float));
      }
    }
    sal_tensor_free(x);
    sal_tensor_free(t);
    sal_plan_free(p);
    sal_graph_free(g);
  }
  TH_CHECK(fabsf(loss[0] - loss[1]) < 1e-4f * fabsf(loss[0]) && loss[0] > 1.0f, "loss ref %g vs default %g", (double)loss[0],
           (double)loss[1]);
  for (int j = 0; j < NN; j++) {
    if (!grads[0][j] || !grads[1][j]) continue;
    double m = 0;
    for (int64_t i = 0; i < sizes[j]; i++) m = fmax(m, fabs(grads[0][j][i]));
    TH_CHECK(m > 0, "%s: zero gradient", names[j]);
    char label[96];
    snprintf(label, sizeof label, "training step d(%s): default vs ref", names[j]);
    th_allclose(label, grads[1][j], grads[0][j], sizes[j], 0, 1e-3 * m);
    free(grads[0][j]);
    free(grads[1][j]);
  }
}

/* Every tensor of two checkpoints (parameters, running statistics, optimiser state) bit for bit. */
static void same_checkpoints(const char *pa, const char *pb) {
  sal_safetensors *a = NULL, *b = NULL;
  TH_OK(sal_safetensors_read(th_ctx(), pa, &a));
  TH_OK(sal_safetensors_read(th_ctx(), pb, &b));
  if (!a || !b) goto out;
  int n = sal_safetensors_count(a), diff = 0, compared = 0;
  TH_CHECK(n == sal_safetensors_count(b) && n > 20, "checkpoints hold %d and %d tensors", n, sal_safetensors_count(b));
  for (int i = 0; i < n; i++) {
    const sal_tensor *x = sal_safetensors_tensor(a, i), *y = sal_safetensors_find(b, sal_safetensors_name(a, i));
    if (!y || !sal_shape_equal(&x->shape, &y->shape) ||
        memcmp(x->data, y->data, (size_t)sal_tensor_numel(x) * sizeof(float)) != 0) {
      if (!diff) fprintf(stderr, "first difference: %s\n", sal_safetensors_name(a, i));
      diff++;
    }
    compared++;
  }
  TH_CHECK(diff == 0 && compared == n, "resumed run differs from the uninterrupted one in %d of %d tensors", diff, n);
  TH_CHECK(!strcmp(sal_safetensors_meta(a, "optim_steps"), sal_safetensors_meta(b, "optim_steps")), "step counts differ");
out:
  sal_safetensors_free(a);
  sal_safetensors_free(b);
}

static int count_files(const char *dir, const char *part) {
  DIR *d = opendir(dir);
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, part) != NULL;
  closedir(d);
  return n;
}

static void test_train(void) {
  sal_dataset *tr = open_split("train"), *va = open_split("val"), *blank = open_split("blank");
  if (!tr || !va || !blank) goto out;
  char full[1024], part[1024], resumed[1024], model[1024];
  th_tmp_path(full, sizeof full, "full.safetensors");
  th_tmp_path(part, sizeof part, "part.safetensors");
  th_tmp_path(resumed, sizeof resumed, "resumed.safetensors");
  th_tmp_path(model, sizeof model, "model.safetensors");

  /* Resume: epochs 1 + 1 through a checkpoint equal 2 uninterrupted epochs, bit for bit. Dropout
   * is absent from resnet_small, but the order, augmentation, schedule, optimiser state, running
   * statistics and step count must all carry over. */
  sal_train_opts o = tiny_opts();
  sal_train_report r;
  o.out = full;
  TH_OK(sal_train(th_ctx(), tr, va, &o, &r));
  TH_CHECK(r.epochs_done == 2 && r.steps == 2 * (tr->n_items / o.batch), "2 epochs: %lld epochs, %lld steps",
           (long long)r.epochs_done, (long long)r.steps);
  o.out = part;
  o.stop_after = 1;
  TH_OK(sal_train(th_ctx(), tr, va, &o, &r));
  TH_CHECK(r.epochs_done == 1, "stop after 1: %lld epochs", (long long)r.epochs_done);
  o.stop_after = 0;
  o.resume = part;
  o.out = resumed;
  TH_OK(sal_train(th_ctx(), tr, va, &o, &r));
  TH_CHECK(r.epochs_done == 2, "resumed: %lld epochs", (long long)r.epochs_done);
  same_checkpoints(full, resumed);
  /* A resume with another configuration is refused, naming the setting. */
  o.lr = 0.02f;
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, &r), SAL_STATUS_BAD_INPUT, "lr");
  o.resume = NULL;
  o.lr = 0.01f;

  /* Learning: loss falls and validation accuracy is far above chance (1/3). */
  o.epochs = th_quick() ? 5 : 8;
  o.out = model;
  TH_OK(sal_train(th_ctx(), tr, va, &o, &r));
  TH_CHECK(r.last_loss < 0.7 * r.first_loss, "loss %.4f -> %.4f did not fall", r.first_loss, r.last_loss);
  TH_CHECK(r.val_accuracy >= 0.85, "validation accuracy %.3f (chance 0.333)", r.val_accuracy);
  TH_CHECK(r.images_per_s > 0 && r.best_val_accuracy >= r.val_accuracy, "report: %.1f images/s, best %.3f",
           r.images_per_s, r.best_val_accuracy);
  /* Checkpoints are written through a temporary that is renamed: none is left behind. */
  TH_CHECK(count_files(th_tmpdir(), ".tmp") == 0, "temporary checkpoint files left in %s", th_tmpdir());

  /* The checkpoint reopens as an inference graph with its metadata, and evaluates to the same
   * validation accuracy; with the object replaced by background, accuracy falls to chance: the
   * evidence the model uses is in the object. */
  sal_graph *g = NULL;
  char *meta = NULL;
  TH_OK(sal_checkpoint_open(th_ctx(), model, &g, &meta));
  sal_checkpoint_info info;
  memset(&info, 0, sizeof info);
  if (meta) TH_OK(sal_checkpoint_info_parse(th_ctx(), meta, &info));
  if (g && info.class_names) {
    TH_CHECK(info.n_classes == NCLS && !strcmp(info.class_names[1], "1") && info.spec.image_size == SIDE &&
                 info.spec.width == 4 && info.epoch == o.epochs && th_contains(meta, "\"label_smoothing\"") &&
                 th_contains(meta, "\"seed\":5"),
             "metadata: %s", meta);
    int64_t conf[NCLS * NCLS];
    TH_OK(sal_evaluate(th_ctx(), g, va, &info.pp, 7, 2, conf));
    int64_t correct = conf[0] + conf[4] + conf[8], n = 0;
    for (int i = 0; i < NCLS * NCLS; i++) n += conf[i];
    TH_CHECK(n == va->n_items && fabs((double)correct / (double)n - r.val_accuracy) < 1e-9,
             "reopened model: %lld/%lld vs %.4f in training", (long long)correct, (long long)n, r.val_accuracy);
    TH_OK(sal_evaluate(th_ctx(), g, blank, &info.pp, 16, 2, conf));
    correct = conf[0] + conf[4] + conf[8];
    double blank_acc = (double)correct / (double)blank->n_items;
    fprintf(stderr, "evidence: accuracy %.3f with the objects, %.3f with them replaced by background\n", r.val_accuracy,
            blank_acc);
    TH_CHECK(blank_acc < 0.55, "objects removed: accuracy %.3f is not near chance", blank_acc);
  }
  sal_checkpoint_info_free(&info);
  sal_free(meta);
  sal_graph_free(g);
  TH_FAILS(sal_checkpoint_open(th_ctx(), "/nonexistent/x.safetensors", &g, NULL), SAL_STATUS_NOT_FOUND, "x.safetensors");

  /* Bad inputs. */
  o = tiny_opts();
  o.arch = "resnet_huge";
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_NOT_FOUND, "resnet_small");
  o = tiny_opts();
  o.epochs = 0;
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--epochs 0");
  o = tiny_opts();
  o.lr = -1;
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--lr");
  o = tiny_opts();
  o.label_smoothing = 1.5f;
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "--label-smoothing");
  o = tiny_opts();
  o.augment.scale_min = 2;
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_BAD_INPUT, "crop scale");
  o = tiny_opts();
  o.out = "/nonexistent-dir/m.safetensors";
  TH_FAILS(sal_train(th_ctx(), tr, va, &o, NULL), SAL_STATUS_IO, "m.safetensors");
  o = tiny_opts();
  sal_dataset empty = *tr;
  empty.n_items = 0;
  TH_FAILS(sal_train(th_ctx(), &empty, va, &o, NULL), SAL_STATUS_BAD_INPUT, "no images");
  sal_dataset fewer = *va;
  fewer.n_classes = 2;
  TH_FAILS(sal_train(th_ctx(), tr, &fewer, &o, NULL), SAL_STATUS_BAD_INPUT, "2 classes");
  TH_FAILS(sal_checkpoint_info_parse(th_ctx(), "{\"arch\":{}}", &info), SAL_STATUS_BAD_INPUT, "arch.arch");
out:
  sal_dataset_free(tr);
  sal_dataset_free(va);
  sal_dataset_free(blank);
}

int main(void) {
  int q = th_quick();
  write_split("train", q ? 48 : 96, 11, false);
  write_split("val", 30, 12, false);
  write_split("blank", 30, 12, true);
  test_draws();
  test_step_kernels();
  test_augment();
  test_train();
  return th_finish("test_train");
}
