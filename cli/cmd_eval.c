/* `salient eval --model M --data MANIFEST --methods a,b --out DIR`: explains every image of a labelled
 * dataset with each method and scores the maps against the ground truth (include/salient/metrics.h).
 * One JSON line per (image, method) is appended to DIR/results.jsonl and synced as it finishes, so
 * --resume after a kill redoes at most the item in flight; DIR/summary.json and summary.csv are then
 * recomputed from results.jsonl alone by cli/eval_results.c (means, 95 % intervals, MaxBoxAcc, PxAP,
 * pointing game).
 * Bad rows (malformed, missing file, box outside the image) are reported by name, the rest are still
 * evaluated, and the exit code is 1. Conventions: docs/metrics.md, "Evaluation runs". */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli/eval_results.h"
#include "cli/eval_sanity.h"
#include "cli/method_args.h"
#include "cli/model_args.h"
#include "salient/data.h"
#include "salient/explain.h"
#include "salient/masker.h"
#include "salient/metrics.h"
#include "salient/report.h"
#include "salient/train.h"
#include "src/io/atomic.h"

#define MAX_METHODS CLI_MAX_METHODS
#define MAX_SETS 64
#define MAX_PCT EVAL_MAX_PCT

/* Metric groups selectable with --metrics. */
enum { G_LOC, G_OM, G_POINTING, G_OVERLAP, G_F1, G_SPARSITY, G_MAXBOXACC, G_PXAP, G_INSDEL, G_SALIENCY, N_GROUPS };
static const char *const group_names[N_GROUPS] = {"loc",      "om",        "pointing", "overlap", "f1",
                                                  "sparsity", "maxboxacc", "pxap",     "insdel",  "saliency"};

typedef struct eval_opts {
  cli_model_args a;
  const char *model, *data, *methods, *metrics, *target, *out, *max_memory, *percentiles, *tolerance, *masker;
  int64_t limit, batch, sanity, sanity_stages, gallery;
  bool resume, quiet;
  int argc; /* the command line, recorded in run.json */
  char **argv;
  const char *sets[MAX_SETS];
  int n_sets;
} eval_opts;

typedef struct eval_state {
  eval_opts *o;
  sal_ctx *ctx;
  sal_graph *g;
  sal_scorer *scorer; /* the model-based metrics' plans and buffers, made once (insdel, saliency) */
  sal_model_meta *meta;
  sal_dataset *ds;
  const char *data_path;
  const char *method_names[MAX_METHODS];
  sal_method_params params[MAX_METHODS];
  int n_methods;
  bool group[N_GROUPS];
  double pct[MAX_PCT];
  int n_pct;
  double tolerance;
  int64_t target; /* -2 = the label, else a class or SAL_TARGET_TOP1 */
  int64_t max_memory;
  eval_keys keys;
  int64_t C, H, W, K;
  sal_preprocess pp;
  int bad_rows;
  float *curves;     /* insdel: one map's insertion then deletion curve, 2 × curve_len */
  int64_t curve_len;
} eval_state;

#define TARGET_LABEL ((int64_t)-2)

static void build_keys(eval_state *s) {
  eval_keys *k = &s->keys;
  k->n = 0;
#define ADD(...) snprintf(k->names[k->n++], sizeof k->names[0], __VA_ARGS__)
  if (s->group[G_LOC]) ADD("loc"), ADD("loc_iou");
  if (s->group[G_OM]) ADD("om");
  if (s->group[G_POINTING]) ADD("pointing");
  for (int p = 0; s->group[G_OVERLAP] && p < s->n_pct; p++) {
    ADD("dice_p%g", s->pct[p]);
    ADD("iou_p%g", s->pct[p]);
    ADD("ppv_p%g", s->pct[p]);
    ADD("sens_p%g", s->pct[p]);
  }
  if (s->group[G_F1]) ADD("f1");
  if (s->group[G_SPARSITY]) ADD("gini"), ADD("area"), ADD("entropy");
  if (s->group[G_INSDEL]) ADD("insertion"), ADD("deletion");
  if (s->group[G_SALIENCY]) ADD("saliency_metric");
#undef ADD
}

/* "a,b,c" of numbers into v (at most cap); false when malformed or out of [lo, hi]. */
static bool parse_list(const char *s, double *v, int cap, int *n, double lo, double hi) {
  *n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    errno = 0;
    double x = strtod(p, &end);
    if (end == p || errno || !(x >= lo && x <= hi) || *n == cap) return false;
    v[(*n)++] = x;
    p = end;
    if (*p == ',') p++;
    else if (*p) return false;
  }
  return *n > 0;
}

/* ---- the manifest: malformed rows are reported and skipped ---- */

/* Opens the data with malformed manifest rows left out (sal_dataset_opts.skip_bad_rows): each one
 * is reported and counted as a bad row, the others are evaluated. */
static int open_dataset(eval_state *s, const char *path) {
  sal_dataset_opts dopts = {0};
  dopts.skip_bad_rows = true;
  sal_status st = sal_dataset_open(s->ctx, path, &dopts, &s->ds);
  if (st) return cli_fail(s->ctx, st, "reading the data");
  for (int64_t i = 0; i < s->ds->n_skipped; i++) fprintf(stderr, "salient eval: %s (row skipped)\n", s->ds->skipped[i]);
  s->bad_rows += (int)s->ds->n_skipped;
  return 0;
}

/* ---- evaluation ---- */

/* One decoded item of a batch: its ground truth in the model frame. */
typedef struct gt {
  int64_t item;
  uint8_t *mask;  /* 2 × H × W: the union of the objects' masks, then a scratch plane */
  bool has_mask;  /* the item has mask files (else the mask metrics are null) */
  sal_box *boxes; /* MAX_OBJECTS: the boxes of the item's class that lie in the frame */
  int64_t n_boxes;
  bool has_boxes; /* the item has boxes at all (an item whose boxes were all cropped away scores 0) */
} gt;

#define MAX_OBJECTS 4096 /* the dataset reader's bound on objects per image */

/* Reads item idx into x (C, H, W) and g. Returns 0, or 1 after reporting the row. */
static int load_item(eval_state *s, sal_workspace *ws, int64_t idx, float *x, gt *g) {
  sal_ctx *ctx = s->ctx;
  const sal_item *it = &s->ds->items[idx];
  const int64_t plane = s->H * s->W;
  sal_image *img = NULL;
  sal_geom geo;
  g->item = idx;
  g->n_boxes = 0;
  g->has_boxes = g->has_mask = false;
  sal_status st = sal_image_read(ctx, it->path, NULL, &img);
  for (int k = 0; !st && k < it->n_objects; k++) {
    const sal_box *b = &it->objects[k].box;
    if (it->objects[k].has_box && (b->x0 < 0 || b->y0 < 0 || b->x1 > (float)img->width || b->y1 > (float)img->height))
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "box %d (%g %g %g %g) lies outside the %lldx%lld image", k + 1,
                         (double)b->x0, (double)b->y0, (double)b->x1, (double)b->y1, (long long)img->width,
                         (long long)img->height);
  }
  if (!st) st = sal_preprocess_image(ctx, &s->pp, img, ws, x, s->C * plane, &geo);
  int64_t src_w = img ? img->width : 0, src_h = img ? img->height : 0;
  sal_image_free(img);
  for (int k = 0; !st && k < it->n_objects; k++) {
    if (!it->objects[k].has_box) continue;
    g->has_boxes = true;
    if (it->objects[k].label != it->label) continue;
    float v[4] = {it->objects[k].box.x0, it->objects[k].box.y0, it->objects[k].box.x1, it->objects[k].box.y1};
    bool inside = false;
    sal_geom_map_boxes(&geo, 1, v, &inside);
    if (inside) g->boxes[g->n_boxes++] = (sal_box){v[0], v[1], v[2], v[3]};
  }
  for (int k = 0; !st && k < it->n_objects; k++) {
    const char *mp = it->objects[k].mask_path;
    if (!mp) continue;
    if (k > 0 && it->objects[k - 1].mask_path && strcmp(mp, it->objects[k - 1].mask_path) == 0) continue; /* read once */
    if (!g->has_mask) memset(g->mask, 0, (size_t)plane);
    g->has_mask = true;
    sal_image *mk = NULL;
    sal_image_read_opts ro = {.channels = 1, .depth = 8};
    st = sal_image_read(ctx, mp, &ro, &mk);
    if (!st && (mk->width != src_w || mk->height != src_h))
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "mask %s is %lldx%lld but the image is %lldx%lld", mp,
                         (long long)mk->width, (long long)mk->height, (long long)src_w, (long long)src_h);
    uint8_t *tmp = g->mask + plane; /* scratch plane after the union */
    if (!st) st = sal_preprocess_mask(ctx, &s->pp, mk->pixels, mk->width, mk->height, SAL_MASK_NEAREST, ws, tmp, plane);
    sal_image_free(mk);
    for (int64_t p = 0; !st && p < plane; p++) g->mask[p] = g->mask[p] || tmp[p];
  }
  if (st) {
    fprintf(stderr, "salient eval: item %lld (%s): %s: %s (skipped)\n", (long long)idx, it->path, sal_status_name(st),
            sal_ctx_last_error(ctx));
    s->bad_rows++;
    return 1;
  }
  return 0;
}

static char *bits_of(const int64_t *hits, char *buf) {
  for (int t = 0; t < SAL_BOXACC_TAUS; t++) buf[t] = hits[t] ? '1' : '0';
  buf[SAL_BOXACC_TAUS] = '\0';
  return buf;
}

/* ---- what the report needs beyond the metrics: curves and the gallery ---- */

/* The map's insertion and deletion curves (s->curves) into the line j as "curves", so that
 * results.jsonl alone rebuilds the mean curves of summary.json (cli/eval_results.c). */
static void put_curves(const eval_state *s, cJSON *j) {
  cJSON *c = cJSON_AddObjectToObject(j, "curves");
  static const char *const kinds[2] = {"insertion", "deletion"};
  for (int k = 0; k < 2; k++) {
    cJSON *a = cJSON_AddArrayToObject(c, kinds[k]);
    for (int64_t i = 0; i < s->curve_len; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)s->curves[k * s->curve_len + i]));
  }
}

/* The ground truth of g drawn on img (8-bit RGB, W × H): the outline of the mask (its pixels with a
 * 4-neighbour outside it or at the border) in white, the boxes of the item's class in magenta. */
static void draw_truth(const eval_state *s, const gt *g, sal_image *img) {
  const int64_t H = s->H, W = s->W;
  uint8_t *px = img->pixels;
  for (int64_t y = 0; g->has_mask && y < H; y++)
    for (int64_t x = 0; x < W; x++) {
      const uint8_t *m = g->mask + y * W + x;
      if (!*m) continue;
      bool edge = x == 0 || y == 0 || x == W - 1 || y == H - 1 || !m[-1] || !m[1] || !m[-W] || !m[W];
      if (edge) memset(px + 3 * (y * W + x), 255, 3);
    }
  for (int64_t b = 0; b < g->n_boxes; b++) {
    /* pixel edges (x1, y1 exclusive) to the pixels on the box's border, clipped to the frame */
    int64_t x0 = (int64_t)floorf(g->boxes[b].x0), y0 = (int64_t)floorf(g->boxes[b].y0);
    int64_t x1 = (int64_t)ceilf(g->boxes[b].x1) - 1, y1 = (int64_t)ceilf(g->boxes[b].y1) - 1;
    x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0, x1 = x1 >= W ? W - 1 : x1, y1 = y1 >= H ? H - 1 : y1;
    for (int64_t y = y0; y <= y1; y++)
      for (int64_t x = x0; x <= x1; x++)
        if (y == y0 || y == y1 || x == x0 || x == x1) {
          uint8_t *p = px + 3 * (y * W + x);
          p[0] = 255, p[1] = 0, p[2] = 255;
        }
  }
}

/* For the report's gallery: DIR/gallery/<item>.input.png (the de-normalised input, written once)
 * and <item>.<method>.png (the normalised map over it, jet, alpha 0.5), ground truth outlined.
 * image is (C, H, W), norm (H, W). Written before the item's line, so a resumed run finds them. */
static int gallery_write(eval_state *s, const float *image, const float *norm, const gt *g, const char *method) {
  sal_ctx *ctx = s->ctx;
  char path[4096];
  sal_image *bg = NULL, *ov = NULL, *in = NULL;
  sal_status st = sal_denormalize_image(ctx, image, s->C, s->H, s->W, s->pp.mean, s->pp.std, &bg);
  if (!st) st = sal_overlay(ctx, norm, s->W, s->H, bg, SAL_COLORMAP_JET, 0.5f, &ov);
  if (!st) {
    draw_truth(s, g, ov);
    snprintf(path, sizeof path, "%s/gallery/%lld.%s.png", s->o->out, (long long)g->item, method);
    st = sal_image_write(ctx, path, ov);
  }
  struct stat sb;
  snprintf(path, sizeof path, "%s/gallery/%lld.input.png", s->o->out, (long long)g->item);
  if (!st && stat(path, &sb) != 0) {
    in = bg;
    draw_truth(s, g, in);
    st = sal_image_write(ctx, path, in);
  }
  sal_image_free(bg);
  sal_image_free(ov);
  return st ? cli_fail(ctx, st, "writing the gallery") : 0;
}

/* The metrics of one map (H × W) against g, into the line j. */
static sal_status score_map(eval_state *s, const float *image, const float *map, const gt *g, int64_t target,
                            int64_t top1, int64_t label, cJSON *j) {
  sal_ctx *ctx = s->ctx;
  const int64_t H = s->H, W = s->W;
  cJSON *mets = cJSON_AddObjectToObject(j, "metrics");
  sal_status st = SAL_STATUS_OK;
  bool boxes = g->has_boxes, mask = g->has_mask;
#define PUT(key, ok, val) cJSON_AddItemToObject(mets, key, (ok) ? cJSON_CreateNumber(val) : cJSON_CreateNull())
  if (s->group[G_LOC] || s->group[G_OM]) {
    bool correct = false;
    double iou = 0;
    if (boxes) st = sal_metric_localization(ctx, map, H, W, g->boxes, g->n_boxes, &correct, &iou);
    if (st) return st;
    if (s->group[G_LOC]) {
      PUT("loc", boxes, correct ? 1 : 0);
      PUT("loc_iou", boxes, iou);
    }
    if (s->group[G_OM]) PUT("om", boxes, correct && top1 == label ? 1 : 0);
  }
  if (s->group[G_POINTING]) {
    bool hit = false;
    if (mask && (st = sal_pointing_hit(ctx, map, H, W, g->mask, s->tolerance, &hit))) return st;
    PUT("pointing", mask, hit ? 1 : 0);
  }
  for (int p = 0; s->group[G_OVERLAP] && p < s->n_pct; p++) {
    sal_overlap ov = {0};
    if (mask && (st = sal_metric_overlap(ctx, map, H, W, g->mask, s->pct[p], &ov))) return st;
    char k[32];
    snprintf(k, sizeof k, "dice_p%g", s->pct[p]);
    PUT(k, mask, ov.dice);
    snprintf(k, sizeof k, "iou_p%g", s->pct[p]);
    PUT(k, mask, ov.iou);
    snprintf(k, sizeof k, "ppv_p%g", s->pct[p]);
    PUT(k, mask, ov.ppv);
    snprintf(k, sizeof k, "sens_p%g", s->pct[p]);
    PUT(k, mask, ov.sensitivity);
  }
  if (s->group[G_F1]) {
    double f1 = 0;
    if (mask && (st = sal_metric_f1(ctx, map, H, W, g->mask, &f1))) return st;
    PUT("f1", mask, f1);
  }
  if (s->group[G_SPARSITY]) {
    sal_sparsity sp;
    if ((st = sal_metric_sparsity(ctx, map, H * W, &sp))) return st;
    PUT("gini", true, sp.gini);
    PUT("area", true, sp.area);
    PUT("entropy", true, sp.entropy);
  }
  /* The causal metrics run the model on perturbed copies of image (C, H, W) for the explained class. */
  if (s->group[G_INSDEL]) {
    double ins, del;
    if ((st = sal_metric_insertion_deletion(s->scorer, image, map, target, NULL, &ins, &del, s->curves,
                                            s->curves + s->curve_len)))
      return st;
    PUT("insertion", true, ins);
    PUT("deletion", true, del);
  }
  if (s->group[G_SALIENCY]) {
    double v;
    if ((st = sal_metric_saliency_metric(s->scorer, image, map, target, 0.5f, &v, NULL, NULL))) return st;
    PUT("saliency_metric", true, v);
  }
#undef PUT
  /* What the dataset-level scores need from this image, so that results.jsonl alone rebuilds them:
   * its MaxBoxAcc hit at every threshold, and its PxAP pixel counts per score bin. */
  if (s->group[G_MAXBOXACC] && boxes) {
    sal_boxacc a;
    sal_boxacc_init(&a);
    if ((st = sal_boxacc_add(ctx, &a, map, H, W, g->boxes, g->n_boxes))) return st;
    char buf[SAL_BOXACC_TAUS + 1];
    cJSON *b = cJSON_AddArrayToObject(j, "boxacc");
    cJSON_AddItemToArray(b, cJSON_CreateString(bits_of(a.hits, buf)));
    for (int d = 0; d < 3; d++) cJSON_AddItemToArray(b, cJSON_CreateString(bits_of(a.hits_v2[d], buf)));
  }
  if (s->group[G_PXAP] && mask) {
    sal_pxap a;
    sal_pxap_init(&a);
    if ((st = sal_pxap_add(ctx, &a, map, H, W, g->mask))) return st;
    cJSON *px = cJSON_AddObjectToObject(j, "pxap");
    cJSON *pos = cJSON_AddArrayToObject(px, "pos"), *neg = cJSON_AddArrayToObject(px, "neg");
    for (int b = 0; b < SAL_PXAP_BINS; b++) {
      cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)a.pos[b]));
      cJSON_AddItemToArray(neg, cJSON_CreateNumber((double)a.neg[b]));
    }
  }
  if (s->group[G_INSDEL]) put_curves(s, j);
  return SAL_STATUS_OK;
}

/* Appends one line and makes it durable before the next item starts. */
static int append_line(eval_state *s, FILE *f, cJSON *j) {
  char *text = cJSON_PrintUnformatted(j);
  bool ok = text && fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
  free(text);
  if (!ok) {
    fprintf(stderr, "salient eval: writing %s/results.jsonl: %s\n", s->o->out, strerror(errno));
    return 1;
  }
  return 0;
}

/* Evaluates todo[0..n_todo) in batches and appends their lines to f. */
static int evaluate(eval_state *s, const eval_results *R, const int *slot, const int64_t *todo, int64_t n_todo, FILE *f) {
  sal_ctx *ctx = s->ctx;
  const int64_t B = s->o->batch, HW = s->H * s->W, per = s->C * HW;
  sal_tensor *x = NULL;
  sal_plan *plan = NULL;
  sal_workspace *ws = NULL;
  gt *g = calloc((size_t)B, sizeof *g);
  int64_t *targets = malloc((size_t)B * sizeof *targets), *top1 = malloc((size_t)B * sizeof *top1);
  sal_progress *prog = NULL;
  int rc = 0;
  sal_plan_opts po = sal_plan_opts_default();
  po.batch = B;
  sal_status st = sal_tensor_new(ctx, 4, (int64_t[]){B, s->C, s->H, s->W}, &x);
  if (!st) st = sal_plan_new(ctx, s->g, &po, &plan);
  if (!st) st = sal_workspace_new(ctx, &ws);
  for (int64_t i = 0; !st && g && i < B; i++) {
    g[i].boxes = malloc(MAX_OBJECTS * sizeof *g[i].boxes);
    g[i].mask = malloc((size_t)(2 * HW));
    if (!g[i].boxes || !g[i].mask) st = SAL_STATUS_OUT_OF_MEMORY;
  }
  if (!st && (!g || !targets || !top1)) st = SAL_STATUS_OUT_OF_MEMORY;
  if (!st) st = sal_progress_start(ctx, "eval", n_todo, &prog);
  if (st) {
    rc = cli_fail(ctx, st, "setting up the evaluation");
    goto done;
  }
  int64_t next = 0, finished = 0;
  while (next < n_todo && !rc) {
    /* Decode up to B good items. */
    int64_t nb = 0;
    while (nb < B && next < n_todo) {
      int64_t idx = todo[next++];
      if (load_item(s, ws, idx, x->data + nb * per, &g[nb])) {
        finished++;
        continue;
      }
      nb++;
    }
    if (nb == 0) break;
    /* Top-1 classes from one forward pass (the unused tail of the batch is left as it was). */
    const sal_tensor *logits = NULL;
    st = sal_plan_set_input(plan, sal_graph_input_name(s->g, 0), x);
    if (!st) st = sal_plan_forward(plan);
    if (!st) st = sal_plan_value(plan, sal_graph_output_name(s->g, 0), &logits);
    if (st) {
      rc = cli_fail(ctx, st, "classifying");
      break;
    }
    for (int64_t i = 0; i < nb; i++) {
      const float *z = logits->data + i * s->K;
      int64_t best = 0;
      for (int64_t k = 1; k < s->K; k++)
        if (z[k] > z[best]) best = k;
      top1[i] = best;
      targets[i] = s->target == TARGET_LABEL ? s->ds->items[g[i].item].label : s->target;
    }
    sal_tensor v = *x;
    v.shape.d[0] = nb;
    v.owns_data = false;
    for (int m = 0; m < s->n_methods && !rc; m++) {
      bool need = false;
      for (int64_t i = 0; i < nb; i++) need = need || !eval_results_seen(R, slot[m], g[i].item);
      if (!need) continue;
      sal_explanation ex = {0};
      st = sal_explain_run(ctx, s->g, &v, targets, &s->params[m], &ex);
      if (st) {
        rc = cli_fail(ctx, st, s->method_names[m]);
        break;
      }
      for (int64_t i = 0; i < nb && !rc; i++) {
        if (eval_results_seen(R, slot[m], g[i].item)) continue;
        const sal_item *it = &s->ds->items[g[i].item];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "item", (double)g[i].item);
        cJSON_AddStringToObject(j, "path", it->path);
        cJSON_AddStringToObject(j, "method", s->method_names[m]);
        cJSON_AddNumberToObject(j, "label", (double)it->label);
        cJSON_AddNumberToObject(j, "target", (double)ex.targets[i]);
        cJSON_AddNumberToObject(j, "top1", (double)top1[i]);
        cJSON_AddNumberToObject(j, "score", (double)ex.scores[i]);
        cJSON_AddNumberToObject(j, "time_ms", ex.ms / (double)nb);
        st = score_map(s, x->data + i * per, ex.raw->data + i * HW, &g[i], ex.targets[i], top1[i], it->label, j);
        if (st) rc = cli_fail(ctx, st, "scoring");
        else if (g[i].item < s->o->gallery)
          rc = gallery_write(s, x->data + i * per, ex.norm->data + i * HW, &g[i], s->method_names[m]);
        if (!st && !rc) rc = append_line(s, f, j);
        cJSON_Delete(j);
      }
      sal_explanation_clear(&ex);
    }
    finished += nb;
    sal_progress_update(prog, finished, NULL);
  }
done:
  sal_progress_finish(prog);
  for (int64_t i = 0; g && i < B; i++) {
    free(g[i].boxes);
    free(g[i].mask);
  }
  free(g);
  free(targets);
  free(top1);
  sal_workspace_free(ws);
  sal_plan_free(plan);
  sal_tensor_free(x);
  return rc;
}

/* The settings that change what results.jsonl holds; a resumed run must use the same. */
static char *settings_json(eval_state *s) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddStringToObject(j, "model", s->o->model);
  cJSON_AddNumberToObject(j, "seed", (double)s->o->a.seed); /* the weights of a built-in model */
  cJSON_AddStringToObject(j, "data", s->data_path);
  cJSON_AddStringToObject(j, "target", s->o->target);
  cJSON *ms = cJSON_AddObjectToObject(j, "methods");
  for (int m = 0; m < s->n_methods; m++) {
    char buf[1024];
    cJSON_AddStringToObject(ms, s->method_names[m], sal_method_params_str(&s->params[m], buf, sizeof buf));
  }
  cJSON_AddStringToObject(j, "metrics", s->o->metrics);
  cJSON_AddStringToObject(j, "percentiles", s->o->percentiles);
  cJSON_AddNumberToObject(j, "tolerance", s->tolerance);
  char pp[160];
  snprintf(pp, sizeof pp, "%lldx%lldx%lld, mean %g,%g,%g, std %g,%g,%g", (long long)s->C, (long long)s->H,
           (long long)s->W, (double)s->pp.mean[0], (double)s->pp.mean[1], (double)s->pp.mean[2], (double)s->pp.std[0],
           (double)s->pp.std[1], (double)s->pp.std[2]);
  cJSON_AddStringToObject(j, "input", pp);
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  return text;
}

static char *read_small(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = malloc(1 << 16);
  size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

/* ---- run.json and report.html: what the report shows beyond the results ---- */

/* DIR/run.json: the facts of the latest run that settings.json does not fix — versions, date,
 * command line, fingerprints of the model and the manifest, item counts, class names, gallery size.
 * R holds every line of results.jsonl. */
static int write_run_info(eval_state *s, const eval_results *R) {
  sal_ctx *ctx = s->ctx;
  cJSON *j = cJSON_CreateObject();
  const dnnl_version_t *v = dnnl_version();
  char buf[128], hex[65], path[4096];
  cJSON_AddStringToObject(j, "salient", sal_version());
  snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
  cJSON_AddStringToObject(j, "onednn", buf);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cJSON_AddStringToObject(j, "date", buf);
  /* the command line, each argument quoted when it holds anything but plain characters */
  size_t len = 8;
  for (int i = 0; i < s->o->argc; i++) len += 3 + 4 * strlen(s->o->argv[i]); /* a quote becomes 4 characters */
  char *cmd = malloc(len), *q = cmd;
  if (cmd) {
    q += sprintf(q, "salient");
    for (int i = 0; i < s->o->argc; i++) {
      const char *a = s->o->argv[i];
      bool plain = *a != '\0' && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == strlen(a);
      *q++ = ' ';
      if (!plain) *q++ = '\'';
      for (; *a; a++) {
        if (!plain && *a == '\'') q += sprintf(q, "'\\''");
        else *q++ = *a;
      }
      if (!plain) *q++ = '\'';
      *q = '\0';
    }
    cJSON_AddStringToObject(j, "command", cmd);
    free(cmd);
  }
  cJSON_AddStringToObject(j, "model", s->o->model);
  int64_t bytes = 0;
  struct stat sb;
  /* a built-in architecture name is not a file: its weights are fixed by the seed in settings.json */
  if (stat(s->o->model, &sb) == 0 && S_ISREG(sb.st_mode) && !sal_sha256_file(ctx, s->o->model, hex, &bytes)) {
    cJSON_AddStringToObject(j, "model_sha256", hex);
    cJSON_AddNumberToObject(j, "model_bytes", (double)bytes);
  } else {
    cJSON_AddNullToObject(j, "model_sha256");
  }
  cJSON_AddStringToObject(j, "data", s->data_path);
  if (!sal_sha256_file(ctx, s->data_path, hex, NULL)) cJSON_AddStringToObject(j, "data_sha256", hex);
  cJSON_AddNumberToObject(j, "dataset_items", (double)s->ds->n_items);
  int64_t items = 0; /* items with a line of some method */
  for (int64_t i = 0; i < s->ds->n_items; i++) {
    bool any = false;
    for (int m = 0; m < R->n_names && !any; m++) any = eval_results_seen(R, m, i);
    items += any;
  }
  cJSON_AddNumberToObject(j, "items", (double)items);
  cJSON_AddNumberToObject(j, "bad_rows", (double)s->bad_rows);
  cJSON_AddNumberToObject(j, "gallery", (double)s->o->gallery);
  cJSON *cl = cJSON_AddArrayToObject(j, "classes");
  for (int64_t k = 0; k < s->K; k++) {
    const char *name = s->meta->class_names ? s->meta->class_names[k] : k < s->ds->n_classes ? s->ds->class_names[k] : NULL;
    if (!name) break;
    cJSON_AddItemToArray(cl, cJSON_CreateString(name));
  }
  char *text = cJSON_Print(j);
  cJSON_Delete(j);
  snprintf(path, sizeof path, "%s/run.json", s->o->out);
  sal__atomic_file af;
  sal_status st = text ? sal__atomic_open(ctx, path, &af) : SAL_STATUS_OUT_OF_MEMORY;
  if (text && !st) st = sal__atomic_commit(ctx, &af, fputs(text, af.f) >= 0 && fputc('\n', af.f) != EOF);
  free(text);
  return st ? cli_fail(ctx, st, "writing run.json") : 0;
}

/* DIR/report.html from everything in DIR (include/salient/report.h). */
static int write_report(eval_state *s) {
  sal_status st = sal_report_write(s->ctx, s->o->out);
  if (st) return cli_fail(s->ctx, st, "writing the report");
  if (!s->o->quiet) printf("eval: report in %s/report.html\n", s->o->out);
  return 0;
}

static int run(eval_state *s) {
  eval_opts *o = s->o;
  sal_ctx *ctx = s->ctx;
  char path[4096], rpath[4096];
  int rc = 0;
  if (mkdir(o->out, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "salient eval: cannot create %s: %s\n", o->out, strerror(errno));
    return 1;
  }
  snprintf(rpath, sizeof rpath, "%s/results.jsonl", o->out);
  snprintf(path, sizeof path, "%s/settings.json", o->out);
  struct stat sb;
  bool exists = stat(rpath, &sb) == 0 && sb.st_size > 0;
  if (exists && !o->resume) {
    fprintf(stderr, "salient eval: %s already has results: add --resume to continue it, or choose another --out\n",
            rpath);
    return 1;
  }
  /* The settings: written at the start, compared on --resume. */
  char *want = settings_json(s);
  if (!want) return cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "settings");
  char *have = o->resume ? read_small(path) : NULL;
  if (have && strcmp(have, want) != 0) {
    fprintf(stderr, "salient eval: %s was written with other settings than these (%s): use the same options, or "
                    "another --out\n", rpath, path);
    free(have);
    free(want);
    return 1;
  }
  if (!have) {
    sal__atomic_file af;
    sal_status st = sal__atomic_open(ctx, path, &af);
    if (!st) st = sal__atomic_commit(ctx, &af, fputs(want, af.f) >= 0);
    if (st) rc = cli_fail(ctx, st, "writing the settings");
  }
  free(have);
  free(want);
  if (rc) return rc;
  snprintf(path, sizeof path, "%s/gallery", o->out);
  if (o->gallery > 0 && mkdir(path, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "salient eval: cannot create %s: %s\n", path, strerror(errno));
    return 1;
  }

  eval_results R = {0};
  int slot[MAX_METHODS];
  for (int m = 0; m < s->n_methods; m++) slot[m] = eval_results_slot(&R, s->method_names[m]);
  if (o->resume) {
    rc = eval_results_read(rpath, &s->keys, s->ds, true, &R);
    if (rc) goto done;
    if (!o->quiet)
      printf("eval: resuming %s: %lld lines%s\n", rpath, (long long)R.lines, R.torn ? " (a torn last line removed)" : "");
  }
  int64_t n_items = s->ds->n_items;
  if (o->limit > 0 && o->limit < n_items) n_items = o->limit;
  int64_t *todo = malloc((size_t)(n_items ? n_items : 1) * sizeof *todo), n_todo = 0;
  if (!todo) {
    rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "eval");
    goto done;
  }
  for (int64_t i = 0; i < n_items; i++) {
    bool all = true;
    for (int m = 0; m < s->n_methods; m++) all = all && eval_results_seen(&R, slot[m], i);
    if (!all) todo[n_todo++] = i;
  }
  FILE *f = fopen(rpath, "ab");
  if (!f) {
    fprintf(stderr, "salient eval: cannot open %s: %s\n", rpath, strerror(errno));
    free(todo);
    rc = 1;
    goto done;
  }
  rc = evaluate(s, &R, slot, todo, n_todo, f);
  if (fclose(f) != 0 && !rc) rc = cli_fail(ctx, SAL_STATUS_IO, "closing results.jsonl");
  free(todo);
  if (rc) goto done;
  /* The summary comes from the file alone, whatever runs wrote it. */
  eval_results_free(&R);
  for (int m = 0; m < s->n_methods; m++) eval_results_slot(&R, s->method_names[m]);
  rc = eval_results_read(rpath, &s->keys, s->ds, false, &R);
  if (!rc) {
    eval_summary_info info = {o->model, s->data_path, o->out, s->method_names, s->n_methods};
    rc = eval_summary_write(ctx, &info, &s->keys, &R);
  }
  if (!rc && !o->quiet) {
    printf("eval: %lld lines in %s; summary in %s/summary.json and summary.csv\n", (long long)R.n, rpath, o->out);
    for (int m = 0; m < R.n_names; m++) {
      int64_t n = 0;
      for (int64_t i = 0; i < R.n; i++) n += R.r[i].method == m;
      printf("  %-22s %lld images", R.names[m], (long long)n);
      if (R.box_n[m]) printf(", MaxBoxAccV2 %.4f", sal_boxacc_max_v2(&R.box[m]));
      if (R.px_n[m]) printf(", PxAP %.4f", sal_pxap_value(&R.px[m]));
      printf("\n");
    }
  }
  if (!rc) rc = write_run_info(s, &R);
  if (!rc) rc = write_report(s);
done:
  eval_results_free(&R);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  eval_opts o = {0};
  o.a.seed = 1;
  o.batch = 8;
  o.target = "label";
  o.metrics = "loc,om,pointing,overlap,f1,sparsity,maxboxacc,pxap";
  o.percentiles = "80,90,95,99";
  o.tolerance = "15";
  o.gallery = 6;
  o.argc = argc; /* argv[0] is "eval" */
  o.argv = argv;
  cli_opt opts[] = {
      {"--model", CLI_STRING, "a .onnx file or a built-in architecture name (required)", &o.model},
      {"--data", CLI_STRING, "labelled data: a CSV manifest, an image folder, or a directory with test.csv (required)", &o.data},
      {"--methods", CLI_STRING, "NAME[,NAME...] saliency methods (required; see salient explain --help)", &o.methods},
      {"--out", CLI_STRING, "output directory: results.jsonl, summary.json, summary.csv, settings.json, run.json, report.html "
                            "(required)", &o.out},
      {"--metrics", CLI_STRING, "groups among loc,om,pointing,overlap,f1,sparsity,maxboxacc,pxap and the model-based insdel,saliency "
                                       "(default loc,om,pointing,overlap,f1,sparsity,maxboxacc,pxap)", &o.metrics},
      {"--target", CLI_STRING, "class explained: label, top1, a class index or name (default label)", &o.target},
      {"--limit", CLI_INT, "evaluate only the first N items (default 0 = all)", &o.limit},
      {"--resume", CLI_FLAG, "continue the results.jsonl in --out, skipping finished (item, method) pairs (default off)", &o.resume},
      {"--set", CLI_STRING, "key=value method parameter, repeatable, for every method that takes the key (default: none)", NULL},
      {"--batch", CLI_INT, "images explained together (default 8)", &o.batch},
      {"--max-memory", CLI_STRING, "memory budget of one method's passes, e.g. 512M (default 2G)", &o.max_memory},
      {"--percentiles", CLI_STRING, "overlap percentiles p: the top (100 - p) % of a map is kept (default 80,90,95,99)", &o.percentiles},
      {"--tolerance", CLI_STRING, "pointing game tolerance in pixels (default 15)", &o.tolerance},
      {"--sanity", CLI_INT, "then the cascading randomisation sanity check of each method on the first N items: "
                            "sanity.json, sanity/<method>/<stage>.png (default 0 = off)", &o.sanity},
      {"--sanity-stages", CLI_INT, "at most this many randomised stages, evenly spaced over the layers (default 0 = one "
                                   "per layer)", &o.sanity_stages},
      {"--gallery", CLI_INT, "render the first N items (input and each method's overlay) into --out/gallery for the "
                             "report (default 6, 0 = none)", &o.gallery},
      {"--masker", CLI_STRING, "method masker: the masker trained for MODEL by salient train-masker (default none)", &o.masker},
      {"--quiet", CLI_FLAG, "no progress bar and no summary lines (default off)", &o.quiet},
      CLI_MODEL_OPTS(o.a),
  };
  int n_opts = (int)(sizeof opts / sizeof opts[0]);
  const char *usage = "salient eval --model M --data MANIFEST|DIR --methods a,b --out DIR [--metrics x,y] [--target label|top1] "
                      "[--limit N] [--resume] [--set key=value ...] [options]";
  /* --set may repeat: take every occurrence out before cli_parse (which keeps one value per option). */
  char **rest = malloc((size_t)(argc + 1) * sizeof *rest);
  if (!rest) return 1;
  int nr = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--set") == 0 || strncmp(argv[i], "--set=", 6) == 0) {
      const char *v = argv[i][5] == '=' ? argv[i] + 6 : (i + 1 < argc ? argv[++i] : NULL);
      if (!v || o.n_sets == MAX_SETS) {
        fprintf(stderr, "salient eval: --set needs key=value (at most %d)\n", MAX_SETS);
        free(rest);
        return 2;
      }
      o.sets[o.n_sets++] = v;
      continue;
    }
    rest[nr++] = argv[i];
  }
  rest[nr] = NULL;
  int r = cli_parse(nr, rest, usage, opts, n_opts);
  free(rest);
  if (r == 1) {
    printf("\nmethods ('salient explain --method NAME --help' lists a method's parameters):\n");
    for (int i = 0; i < sal_method_count(); i++) printf("  %-22s %s\n", sal_method_name(i), sal_method_summary(i));
    return 0;
  }
  if (r) return 2;
  if (!o.model || !o.data || !o.methods || !o.out) {
    fprintf(stderr, "salient eval: --model, --data, --methods and --out are required\nusage: %s\n", usage);
    return 2;
  }
  if (o.batch < 1 || o.batch > 4096 || o.limit < 0) {
    fprintf(stderr, "salient eval: --batch must be in 1..4096 and --limit >= 0\n");
    return 2;
  }
  if (o.sanity < 0 || o.sanity > 4096 || o.sanity_stages < 0) {
    fprintf(stderr, "salient eval: --sanity must be in 0..4096 and --sanity-stages >= 0\n");
    return 2;
  }
  if (o.gallery < 0 || o.gallery > 10000) {
    fprintf(stderr, "salient eval: --gallery must be in 0..10000\n");
    return 2;
  }
  o.a.model = o.model;
  eval_state s = {0};
  s.o = &o;
  int64_t max_memory = SAL_EXPLAIN_DEFAULT_MEMORY;
  if (o.max_memory && !cli_parse_bytes(o.max_memory, &max_memory)) {
    fprintf(stderr, "salient eval: --max-memory must be a size such as 512M or 2G, got '%s'\n", o.max_memory);
    return 2;
  }
  if (!parse_list(o.percentiles, s.pct, MAX_PCT, &s.n_pct, 0, 100)) {
    fprintf(stderr, "salient eval: --percentiles must be at most %d numbers in [0, 100], got '%s'\n", MAX_PCT,
            o.percentiles);
    return 2;
  }
  int n_tol;
  if (!parse_list(o.tolerance, &s.tolerance, 1, &n_tol, 0, 1e6)) {
    fprintf(stderr, "salient eval: --tolerance must be a number of pixels >= 0, got '%s'\n", o.tolerance);
    return 2;
  }
  {
    char *list = strdup(o.metrics), *save = NULL;
    int rc = list ? 0 : 1;
    for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok && !rc; tok = strtok_r(NULL, ",", &save)) {
      int gi = 0;
      while (gi < N_GROUPS && strcmp(group_names[gi], tok) != 0) gi++;
      if (gi == N_GROUPS) {
        fprintf(stderr, "salient eval: unknown metric '%s' (expected loc, om, pointing, overlap, f1, sparsity, maxboxacc, "
                        "pxap, insdel, saliency)\n", tok);
        rc = 2;
      } else {
        s.group[gi] = true;
      }
    }
    free(list);
    if (rc) return rc;
  }
  build_keys(&s);
  /* Methods and parameters are checked before the model is opened: usage errors come first. */
  int rc = cli_methods_parse("eval", o.methods, o.sets, o.n_sets, max_memory, s.params, s.method_names, &s.n_methods,
                             MAX_METHODS);
  s.max_memory = max_memory;
  if (rc) return rc;

  sal_model_meta meta;
  char dpath[4096];
  sal_masker *masker = NULL;
  rc = cli_model_open(&o.a, &s.ctx, &s.g, &meta);
  s.meta = &meta;
  if (!rc) rc = cli_masker_setup(s.ctx, "eval", o.masker, s.g, s.params, s.n_methods, &masker);
  if (rc) goto done;
  sal_ctx_set_log_level(s.ctx, o.quiet ? SAL_LOG_QUIET : SAL_LOG_INFO);
  if ((rc = cli_model_dims("eval", s.g, &s.C, &s.H, &s.W, &s.K))) goto done;
  sal_status st = SAL_STATUS_OK;
  if (strcmp(o.target, "label") == 0) {
    s.target = TARGET_LABEL;
  } else if ((st = sal_target_parse(s.ctx, o.target, (const char *const *)meta.class_names, s.K, &s.target))) {
    rc = cli_fail(s.ctx, st, "--target");
    goto done;
  }
  /* The model's evaluation transform: a checkpoint's own (as `salient test` applies it: an exact
   * resize to its training size), else the ImageNet one scaled to the input, as `salient explain`. */
  s.pp = sal_preprocess_default();
  s.pp.resize = (s.H * 256 + 112) / 224; /* torchvision's Resize(256) / CenterCrop(224) ratio */
  s.pp.crop_w = s.W;
  s.pp.crop_h = s.H;
  size_t mlen = strlen(o.model);
  if (mlen > 12 && strcmp(o.model + mlen - 12, ".safetensors") == 0) {
    sal_graph *cg = NULL;
    char *json = NULL;
    sal_checkpoint_info info;
    memset(&info, 0, sizeof info);
    st = sal_checkpoint_open(s.ctx, o.model, &cg, &json);
    if (!st) st = sal_checkpoint_info_parse(s.ctx, json, &info);
    if (!st) s.pp = info.pp;
    sal_checkpoint_info_free(&info);
    sal_free(json);
    sal_graph_free(cg);
    if (st) {
      rc = cli_fail(s.ctx, st, "reading the checkpoint's preprocessing");
      goto done;
    }
  }
  s.pp.channels = (int)s.C;
  for (int c = 0; c < 3; c++) {
    s.pp.mean[c] = meta.mean[s.C == 1 ? 0 : c];
    s.pp.std[c] = meta.std[s.C == 1 ? 0 : c];
  }
  snprintf(dpath, sizeof dpath, "%s", o.data);
  struct stat sb;
  if (stat(o.data, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char t[4096];
    snprintf(t, sizeof t, "%s/test.csv", o.data);
    if (stat(t, &sb) == 0 && S_ISREG(sb.st_mode)) snprintf(dpath, sizeof dpath, "%s", t);
  }
  s.data_path = dpath;
  rc = open_dataset(&s, dpath);
  if (rc) goto done;
  if (s.ds->n_classes > s.K) {
    fprintf(stderr, "salient eval: %s has %lld classes, the model only %lld outputs\n", dpath, (long long)s.ds->n_classes,
            (long long)s.K);
    rc = 1;
    goto done;
  }
  /* Labels are the model's class indices: named classes must be the model's, in its order (a
   * dataset without names calls class k "k"). */
  for (int64_t k = 0; meta.class_names && k < s.ds->n_classes && !rc; k++) {
    char idx[24];
    snprintf(idx, sizeof idx, "%lld", (long long)k);
    if (strcmp(s.ds->class_names[k], meta.class_names[k]) != 0 && strcmp(s.ds->class_names[k], idx) != 0) {
      fprintf(stderr, "salient eval: class %lld is '%s' in %s but '%s' in the model\n", (long long)k,
              s.ds->class_names[k], dpath, meta.class_names[k]);
      rc = 1;
    }
  }
  if (rc) goto done;
  if ((s.group[G_INSDEL] || s.group[G_SALIENCY]) && (st = sal_scorer_new(s.ctx, s.g, s.max_memory, &s.scorer))) {
    rc = cli_fail(s.ctx, st, "preparing the model-based metrics");
    goto done;
  }
  if (s.group[G_INSDEL]) {
    s.curve_len = sal_causal_curve_length(s.H, s.W, 0);
    s.curves = malloc((size_t)(2 * s.curve_len) * sizeof *s.curves);
    if (!s.curves) {
      rc = cli_fail(s.ctx, SAL_STATUS_OUT_OF_MEMORY, "insertion/deletion curves");
      goto done;
    }
  }
  rc = run(&s);
  if (!rc && o.sanity > 0) {
    eval_sanity_args sa = {.ctx = s.ctx, .g = s.g, .ds = s.ds, .pp = &s.pp, .C = s.C, .H = s.H, .W = s.W,
                           .methods = s.method_names, .params = s.params, .n_methods = s.n_methods,
                           .target = s.target == TARGET_LABEL ? EVAL_SANITY_LABEL : s.target, .n = o.sanity,
                           .max_stages = o.sanity_stages, .seed = 0, .out = o.out, .quiet = o.quiet};
    rc = eval_sanity_run(&sa);
    /* run() wrote the report before the sanity check existed: write it again with its panels */
    if (!rc) rc = write_report(&s);
  }
  if (!rc && s.bad_rows) {
    fprintf(stderr, "salient eval: %d row%s could not be evaluated (see above)\n", s.bad_rows,
            s.bad_rows == 1 ? "" : "s");
    rc = 1;
  }
done:
  free(s.curves);
  sal_masker_free(masker);
  sal_scorer_free(s.scorer);
  sal_dataset_free(s.ds);
  sal_model_meta_clear(&meta);
  sal_graph_free(s.g);
  sal_ctx_free(s.ctx);
  return rc;
}
