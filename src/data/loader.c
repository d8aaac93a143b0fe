/* The streaming data loader: a ring of batch slots filled by background threads (decode with
 * io/image, preprocess with data/preprocess) in the dataset's deterministic order, handed to the
 * caller one batch at a time. Between images and the plan in the flow of DESIGN.md §1. */
#define _POSIX_C_SOURCE 200809L

#include "salient/loader.h"

#include "core/internal.h"
#include "data/augment.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Images per batch and threads are bounded so that a wrong option cannot drive allocation. */
#define LD_MAX_BATCH 65536
#define LD_MAX_THREADS 64
#define LD_MAX_PREFETCH 64

typedef struct ld_slot {
  sal_batch b;
  int64_t done;     /* items of batch `id` finished */
  int64_t id;       /* the batch this slot holds or is filling */
  sal_tensor *images, *masks;
  int64_t *labels, *items, *n_boxes, *box_labels;
  sal_box *boxes;
  bool *box_inside;
} ld_slot;

typedef struct ld_worker {
  struct sal_loader *ld;
  pthread_t th;
  bool started;
  sal_ctx *ctx;        /* the thread's own context: errors and allocation */
  sal_workspace *ws;   /* preprocessing scratch */
  uint8_t *mask_tmp;   /* one mask in the model frame (H × W) */
  float *orient_tmp;   /* one plane (H × W) for the dihedral augmentation */
} ld_worker;

struct sal_loader {
  sal_ctx *ctx;
  const sal_dataset *ds;
  sal_loader_opts o;
  int64_t C, H, W, box_stride;

  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_done;
  bool mu_ok, work_ok, done_ok;
  bool stop;

  /* The epoch: order[0..n_order) are dataset items; batch b holds order[b·B .. ). */
  int64_t epoch;
  int64_t *order, n_order, n_batches;
  int64_t next_item;  /* next position to hand to a worker */
  int64_t released;   /* batches the caller is finished with: workers may fill batch < released + P */
  int64_t returned;   /* batches handed to the caller */
  int64_t in_flight;  /* items being processed outside the lock */
  sal_status err;     /* the epoch's error at the lowest item position, reported with its batch */
  int64_t err_pos;
  char err_msg[1024];

  ld_slot *slots;
  int n_slots;
  ld_worker *workers;
  int n_workers;
};

sal_loader_opts sal_loader_opts_default(void) {
  sal_loader_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 1;
  o.parts = 1;
  o.pp = sal_preprocess_default();
  o.augment = sal_augment_default();
  return o;
}

static int64_t batch_size(const sal_loader *ld, int64_t b) {
  int64_t left = ld->n_order - b * ld->o.batch;
  return left < ld->o.batch ? left : ld->o.batch;
}

/* Decodes and preprocesses item `pos` of the epoch order into its slot. Runs without the lock:
 * the slot position is this worker's alone until it reports done. */
static sal_status load_item(ld_worker *w, int64_t pos) {
  sal_loader *ld = w->ld;
  sal_ctx *ctx = w->ctx;
  int64_t b = pos / ld->o.batch, i = pos % ld->o.batch;
  ld_slot *s = &ld->slots[b % ld->n_slots];
  int64_t item = ld->order[pos];
  const sal_item *it = &ld->ds->items[item];
  int64_t plane = ld->H * ld->W;
  float *x = s->images->data + i * ld->C * plane;
  sal_image *img = NULL, *sub = NULL;
  sal_geom g;
  sal__aug_draw d;
  memset(&d, 0, sizeof d);
  /* With a random crop, the crop rectangle is resized to the model frame exactly. */
  sal_preprocess pp = ld->o.pp;
  if (ld->o.augment.crop) {
    pp.resize = 0;
    pp.resize_w = ld->W;
    pp.resize_h = ld->H;
    pp.crop_w = pp.crop_h = 0;
  }
  sal_status st = sal_image_read(ctx, it->path, NULL, &img);
  if (!st) {
    sal__aug_draw_item(&ld->o.augment, ld->o.seed, ld->epoch, item, img->width, img->height, &d);
    if (d.crop) st = sal__aug_crop_image(ctx, img, d.x, d.y, d.w, d.h, &sub);
    if (!st) st = sal_preprocess_image(ctx, &pp, sub ? sub : img, w->ws, x, ld->C * plane, &g);
    if (st) sal_ctx_error_prefix(ctx, st, "%s: ", it->path);
  }
  int64_t src_w = img ? img->width : 0, src_h = img ? img->height : 0;
  sal_image_free(sub);
  sal_image_free(img);
  if (st) return st;
  if (d.crop) {
    /* The geometry was measured on the crop: shift it to the original image's coordinates. */
    g.ox -= g.sx * (double)d.x;
    g.oy -= g.sy * (double)d.y;
    g.src_w = src_w;
    g.src_h = src_h;
  }
  sal__aug_orient(&d, x, ld->C, ld->H, ld->W, w->orient_tmp);
  sal__aug_jitter(&d, x, ld->C, ld->H, ld->W, pp.mean, pp.std);
  s->labels[i] = it->label;
  s->items[i] = item;
  /* Boxes through the same geometry as the pixels. */
  int64_t nb = 0;
  for (int k = 0; k < it->n_objects; k++) {
    if (!it->objects[k].has_box) continue;
    sal_box *bx = &s->boxes[i * ld->box_stride + nb];
    float v[4] = {it->objects[k].box.x0, it->objects[k].box.y0, it->objects[k].box.x1, it->objects[k].box.y1};
    bool inside = false;
    sal_geom_map_boxes(&g, 1, v, &inside);
    sal__aug_orient_box(&d, ld->W, ld->H, v);
    bx->x0 = v[0];
    bx->y0 = v[1];
    bx->x1 = v[2];
    bx->y1 = v[3];
    s->box_labels[i * ld->box_stride + nb] = it->objects[k].label;
    s->box_inside[i * ld->box_stride + nb] = inside;
    nb++;
  }
  s->n_boxes[i] = nb;
  if (!ld->o.masks) return SAL_STATUS_OK;
  /* Masks: the union of the objects' masks, mapped like the image. A mask shared by several
   * objects (one class, several boxes) is read once. */
  float *m = s->masks->data + i * plane;
  memset(m, 0, (size_t)plane * sizeof *m);
  for (int k = 0; k < it->n_objects; k++) {
    const char *mp = it->objects[k].mask_path;
    if (!mp || (k > 0 && it->objects[k - 1].mask_path && !strcmp(mp, it->objects[k - 1].mask_path))) continue;
    sal_image *mk = NULL;
    sal_image_read_opts ro = {.channels = 1, .depth = 8};
    st = sal_image_read(ctx, mp, &ro, &mk);
    if (st) return st;
    if (mk->width != src_w || mk->height != src_h) {
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s: mask is %lldx%lld but its image %s is %lldx%lld", mp,
                         (long long)mk->width, (long long)mk->height, it->path, (long long)src_w, (long long)src_h);
    } else if (d.crop) {
      uint8_t *cm = sal_alloc(ctx, (size_t)(d.w * d.h));
      if (!cm) {
        st = SAL_STATUS_OUT_OF_MEMORY;
      } else {
        sal__aug_crop_mask(mk->pixels, mk->width, d.x, d.y, d.w, d.h, cm);
        st = sal_preprocess_mask(ctx, &pp, cm, d.w, d.h, ld->o.mask_mode, w->ws, w->mask_tmp, plane);
        sal_free(cm);
      }
      if (st) sal_ctx_error_prefix(ctx, st, "%s: ", mp);
    } else {
      st = sal_preprocess_mask(ctx, &pp, mk->pixels, mk->width, mk->height, ld->o.mask_mode, w->ws, w->mask_tmp, plane);
      if (st) sal_ctx_error_prefix(ctx, st, "%s: ", mp);
    }
    sal_image_free(mk);
    if (st) return st;
    for (int64_t p = 0; p < plane; p++) m[p] = (w->mask_tmp[p] != 0 || m[p] != 0) ? 1.0f : 0.0f;
  }
  /* The union turns with the image. */
  sal__aug_orient(&d, m, 1, ld->H, ld->W, w->orient_tmp);
  return SAL_STATUS_OK;
}

static void *worker_main(void *arg) {
  ld_worker *w = arg;
  sal_loader *ld = w->ld;
  pthread_mutex_lock(&ld->mu);
  for (;;) {
    if (ld->stop) break;
    bool can = ld->order && ld->next_item < ld->n_order && ld->err == SAL_STATUS_OK &&
               ld->next_item / ld->o.batch < ld->released + ld->n_slots;
    if (!can) {
      pthread_cond_wait(&ld->cv_work, &ld->mu);
      continue;
    }
    int64_t pos = ld->next_item++;
    ld->in_flight++;
    pthread_mutex_unlock(&ld->mu);
    sal_status st = load_item(w, pos);
    pthread_mutex_lock(&ld->mu);
    ld->in_flight--;
    /* Items are taken in position order, so every position below a failing one is already taken
     * and will complete: batches before the failing item's batch are still delivered. */
    if (st != SAL_STATUS_OK && (ld->err == SAL_STATUS_OK || pos < ld->err_pos)) {
      ld->err = st;
      ld->err_pos = pos;
      snprintf(ld->err_msg, sizeof ld->err_msg, "%s", sal_ctx_last_error(w->ctx));
    }
    ld->slots[(pos / ld->o.batch) % ld->n_slots].done++;
    pthread_cond_broadcast(&ld->cv_done);
  }
  pthread_mutex_unlock(&ld->mu);
  return NULL;
}

static void free_slot(ld_slot *s) {
  sal_tensor_free(s->images);
  sal_tensor_free(s->masks);
  sal_free(s->labels);
  sal_free(s->items);
  sal_free(s->n_boxes);
  sal_free(s->box_labels);
  sal_free(s->boxes);
  sal_free(s->box_inside);
}

void sal_loader_free(sal_loader *ld) {
  if (!ld) return;
  if (ld->mu_ok) {
    pthread_mutex_lock(&ld->mu);
    ld->stop = true;
    if (ld->work_ok) pthread_cond_broadcast(&ld->cv_work);
    pthread_mutex_unlock(&ld->mu);
  }
  for (int i = 0; i < ld->n_workers; i++) {
    ld_worker *w = &ld->workers[i];
    if (w->started) pthread_join(w->th, NULL);
    sal_workspace_free(w->ws);
    sal_free(w->mask_tmp);
    sal_free(w->orient_tmp);
    sal_ctx_free(w->ctx);
  }
  sal_free(ld->workers);
  for (int i = 0; i < ld->n_slots; i++) free_slot(&ld->slots[i]);
  sal_free(ld->slots);
  sal_free(ld->order);
  if (ld->done_ok) pthread_cond_destroy(&ld->cv_done);
  if (ld->work_ok) pthread_cond_destroy(&ld->cv_work);
  if (ld->mu_ok) pthread_mutex_destroy(&ld->mu);
  sal_free(ld);
}

sal_status sal_loader_new(sal_ctx *ctx, const sal_dataset *ds, const sal_loader_opts *opts, sal_loader **out) {
  *out = NULL;
  if (!ds || !opts) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_loader_new: NULL dataset or options");
  sal_loader_opts o = *opts;
  if (o.threads == 0) o.threads = 2;
  if (o.prefetch == 0) o.prefetch = 2;
  if (o.parts == 0) o.parts = 1;
  if (o.batch < 1 || o.batch > LD_MAX_BATCH)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: batch %lld is not in 1..%d", (long long)o.batch, LD_MAX_BATCH);
  if (o.threads < 1 || o.threads > LD_MAX_THREADS || o.prefetch < 1 || o.prefetch > LD_MAX_PREFETCH)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: threads %d / prefetch %d out of range (1..%d / 1..%d)",
                         o.threads, o.prefetch, LD_MAX_THREADS, LD_MAX_PREFETCH);
  if (o.parts < 1 || o.part < 0 || o.part >= o.parts)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: shard %d of %d", o.part, o.parts);
  if (o.mask_mode != SAL_MASK_NEAREST && o.mask_mode != SAL_MASK_BILINEAR)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: unknown mask mode %d", (int)o.mask_mode);
  /* The model frame: the preprocessing's output size, which must not depend on the image (a crop,
   * or an exact resize without crop). */
  int64_t H, W;
  if (o.pp.crop_w > 0 && o.pp.crop_h > 0) {
    W = o.pp.crop_w;
    H = o.pp.crop_h;
  } else if (o.pp.resize <= 0 && o.pp.resize_w > 0 && o.pp.resize_h > 0) {
    W = o.pp.resize_w;
    H = o.pp.resize_h;
  } else {
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT,
                         "loader: batches need one image size: set a centre crop, or an exact resize width x height");
  }
  if (o.pp.channels != 1 && o.pp.channels != 3)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: %d output channels (1 or 3)", o.pp.channels);
  const sal_augment *a = &o.augment;
  bool finite = isfinite(a->scale_min) && isfinite(a->scale_max) && isfinite(a->ratio_min) && isfinite(a->ratio_max);
  if (a->crop && !(finite && a->scale_min > 0 && a->scale_min <= a->scale_max && a->scale_max <= 1))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: crop scale (%g, %g) must satisfy 0 < min <= max <= 1",
                         (double)a->scale_min, (double)a->scale_max);
  if (a->crop && !(finite && a->ratio_min > 0 && a->ratio_min <= a->ratio_max))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: crop ratio (%g, %g) must satisfy 0 < min <= max",
                         (double)a->ratio_min, (double)a->ratio_max);
  if (a->dihedral && H != W)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: the dihedral augmentation turns images by 90 degrees and "
                         "needs a square model frame, not %lldx%lld", (long long)W, (long long)H);
  if (!(a->brightness >= 0 && a->brightness <= 10 && a->contrast >= 0 && a->contrast <= 10 && a->saturation >= 0 &&
        a->saturation <= 10))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "loader: colour jitter (%g, %g, %g) must be in [0, 10]",
                         (double)a->brightness, (double)a->contrast, (double)a->saturation);
  sal_geom probe;
  sal_status st = sal_preprocess_geometry(ctx, &o.pp, W, H, &probe);
  if (st) return sal_ctx_error_prefix(ctx, st, "loader: ");

  sal_loader *ld = sal_calloc(ctx, 1, sizeof *ld);
  if (!ld) return SAL_STATUS_OUT_OF_MEMORY;
  ld->ctx = ctx;
  ld->ds = ds;
  ld->o = o;
  ld->C = o.pp.channels;
  ld->H = H;
  ld->W = W;
  int64_t max_obj = 1;
  for (int64_t i = 0; i < ds->n_items; i++)
    if (ds->items[i].n_objects > max_obj) max_obj = ds->items[i].n_objects;
  ld->box_stride = max_obj;
  ld->mu_ok = pthread_mutex_init(&ld->mu, NULL) == 0;
  ld->work_ok = ld->mu_ok && pthread_cond_init(&ld->cv_work, NULL) == 0;
  ld->done_ok = ld->work_ok && pthread_cond_init(&ld->cv_done, NULL) == 0;
  if (!ld->done_ok) {
    sal_loader_free(ld);
    return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "loader: cannot create its mutex or condition variables");
  }
  ld->slots = sal_calloc(ctx, (size_t)o.prefetch + 1, sizeof *ld->slots);
  if (!ld->slots) goto oom;
  /* prefetch batches ahead plus the one the caller holds. */
  ld->n_slots = o.prefetch + 1;
  int64_t B = o.batch;
  for (int i = 0; i < ld->n_slots; i++) {
    ld_slot *s = &ld->slots[i];
    if (sal_tensor_new(ctx, 4, (int64_t[]){B, ld->C, H, W}, &s->images)) goto oom;
    if (o.masks && sal_tensor_new(ctx, 4, (int64_t[]){B, 1, H, W}, &s->masks)) goto oom;
    s->labels = sal_calloc(ctx, (size_t)B, sizeof *s->labels);
    s->items = sal_calloc(ctx, (size_t)B, sizeof *s->items);
    s->n_boxes = sal_calloc(ctx, (size_t)B, sizeof *s->n_boxes);
    s->box_labels = sal_calloc(ctx, (size_t)(B * max_obj), sizeof *s->box_labels);
    s->boxes = sal_calloc(ctx, (size_t)(B * max_obj), sizeof *s->boxes);
    s->box_inside = sal_calloc(ctx, (size_t)(B * max_obj), sizeof *s->box_inside);
    if (!s->labels || !s->items || !s->n_boxes || !s->box_labels || !s->boxes || !s->box_inside) goto oom;
  }
  ld->workers = sal_calloc(ctx, (size_t)o.threads, sizeof *ld->workers);
  if (!ld->workers) goto oom;
  ld->n_workers = o.threads;
  for (int i = 0; i < o.threads; i++) {
    ld_worker *w = &ld->workers[i];
    w->ld = ld;
    if (sal_ctx_new(1, o.seed, &w->ctx)) goto oom;
    sal_ctx_set_log_level(w->ctx, SAL_LOG_QUIET);
    if (sal_workspace_new(ctx, &w->ws)) goto oom;
    w->mask_tmp = sal_alloc(ctx, (size_t)(H * W));
    w->orient_tmp = sal_alloc(ctx, (size_t)(H * W) * sizeof *w->orient_tmp);
    if (!w->mask_tmp || !w->orient_tmp) goto oom;
  }
  for (int i = 0; i < o.threads; i++) {
    if (pthread_create(&ld->workers[i].th, NULL, worker_main, &ld->workers[i]) != 0) {
      sal_loader_free(ld);
      return sal_ctx_error(ctx, SAL_STATUS_INTERNAL, "loader: cannot start thread %d", i);
    }
    ld->workers[i].started = true;
  }
  *out = ld;
  return SAL_STATUS_OK;
oom:
  sal_loader_free(ld);
  return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "loader: out of memory for %d slots of %lld images", o.prefetch + 1,
                       (long long)o.batch);
}

int64_t sal_loader_num_batches(const sal_loader *ld) { return ld->n_batches; }

sal_status sal_loader_epoch(sal_loader *ld, int64_t epoch) {
  int64_t *order = NULL, n = 0;
  sal_status st = sal_dataset_order(ld->ctx, ld->ds, ld->o.seed, epoch, ld->o.shuffle, ld->o.part, ld->o.parts, &order, &n);
  if (st) return st;
  pthread_mutex_lock(&ld->mu);
  /* Drain: stop handing out items and wait for those in flight. */
  ld->next_item = ld->n_order;
  while (ld->in_flight > 0) pthread_cond_wait(&ld->cv_done, &ld->mu);
  sal_free(ld->order);
  ld->order = order;
  ld->epoch = epoch;
  ld->n_order = n;
  ld->n_batches = ld->o.drop_last ? n / ld->o.batch : (n + ld->o.batch - 1) / ld->o.batch;
  if (ld->o.drop_last) ld->n_order = ld->n_batches * ld->o.batch;
  ld->next_item = 0;
  ld->released = 0;
  ld->returned = 0;
  ld->err = SAL_STATUS_OK;
  ld->err_msg[0] = '\0';
  for (int i = 0; i < ld->n_slots; i++) ld->slots[i].done = 0;
  pthread_cond_broadcast(&ld->cv_work);
  pthread_mutex_unlock(&ld->mu);
  return SAL_STATUS_OK;
}

sal_status sal_loader_next(sal_loader *ld, const sal_batch **out) {
  *out = NULL;
  pthread_mutex_lock(&ld->mu);
  if (!ld->order) {
    pthread_mutex_unlock(&ld->mu);
    return sal_ctx_error(ld->ctx, SAL_STATUS_BAD_STATE, "loader: sal_loader_next before sal_loader_epoch");
  }
  /* The batch returned last time is finished with: its slot may be refilled. */
  if (ld->returned > ld->released) {
    ld_slot *prev = &ld->slots[(ld->returned - 1) % ld->n_slots];
    prev->done = 0;
    ld->released = ld->returned;
    pthread_cond_broadcast(&ld->cv_work);
  }
  int64_t b = ld->returned;
  if (b >= ld->n_batches) {
    pthread_mutex_unlock(&ld->mu);
    return SAL_STATUS_OK;
  }
  ld_slot *s = &ld->slots[b % ld->n_slots];
  int64_t want = batch_size(ld, b);
  while (s->done < want && !(ld->err != SAL_STATUS_OK && b >= ld->err_pos / ld->o.batch))
    pthread_cond_wait(&ld->cv_done, &ld->mu);
  if (ld->err != SAL_STATUS_OK && b >= ld->err_pos / ld->o.batch) {
    sal_status st = ld->err;
    /* The epoch ends here: nothing more is handed out. */
    ld->returned = ld->n_batches;
    ld->released = ld->n_batches;
    ld->next_item = ld->n_order;
    while (ld->in_flight > 0) pthread_cond_wait(&ld->cv_done, &ld->mu);
    pthread_mutex_unlock(&ld->mu);
    return sal_ctx_error(ld->ctx, st, "%s", ld->err_msg);
  }
  ld->returned = b + 1;
  pthread_mutex_unlock(&ld->mu);

  sal_batch *bt = &s->b;
  bt->n = want;
  bt->index = b;
  /* Short final batch: the tensors are viewed with n images (their storage keeps B). */
  s->images->shape.d[0] = want;
  if (s->masks) s->masks->shape.d[0] = want;
  bt->images = s->images;
  bt->masks = s->masks;
  bt->labels = s->labels;
  bt->items = s->items;
  bt->n_boxes = s->n_boxes;
  bt->box_stride = ld->box_stride;
  bt->boxes = s->boxes;
  bt->box_labels = s->box_labels;
  bt->box_inside = s->box_inside;
  *out = bt;
  return SAL_STATUS_OK;
}
