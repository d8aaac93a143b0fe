/* `salient eval --sanity N`: after the evaluation, the cascading model-parameter randomisation test
 * (sal_sanity_cascade, src/eval/sanity.c) of each method on the first N readable items; writes
 * DIR/sanity.json (atomically) and each stage's heat map of the first image as a PNG overlay. */
#define _POSIX_C_SOURCE 200809L
#include "cli/eval_sanity.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "salient/eval.h"
#include "src/io/atomic.h"

static int make_dir(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "salient eval: cannot create %s: %s\n", path, strerror(errno));
    return 1;
  }
  return 0;
}

/* Reads and preprocesses the first a->n items that can be read into *x (n, C, H, W) and their
 * targets; unreadable items are reported and passed over. */
static int load_images(const eval_sanity_args *a, sal_tensor **x, int64_t **targets) {
  sal_ctx *ctx = a->ctx;
  const int64_t per = a->C * a->H * a->W;
  int64_t n = a->n < a->ds->n_items ? a->n : a->ds->n_items;
  *x = NULL;
  *targets = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
  sal_workspace *ws = NULL;
  sal_status st = n > 0 ? sal_tensor_new(ctx, 4, (int64_t[]){n, a->C, a->H, a->W}, x) : SAL_STATUS_OK;
  if (!st) st = sal_workspace_new(ctx, &ws);
  if (!st && !*targets) st = SAL_STATUS_OUT_OF_MEMORY;
  if (st) {
    sal_workspace_free(ws);
    return cli_fail(ctx, st, "sanity");
  }
  int64_t got = 0;
  for (int64_t i = 0; i < a->ds->n_items && got < n; i++) {
    const sal_item *it = &a->ds->items[i];
    sal_image *img = NULL;
    st = sal_image_read(ctx, it->path, NULL, &img);
    if (!st) st = sal_preprocess_image(ctx, a->pp, img, ws, (*x)->data + got * per, per, NULL);
    sal_image_free(img);
    if (st) {
      fprintf(stderr, "salient eval: sanity: item %lld (%s): %s (skipped)\n", (long long)i, it->path,
              sal_ctx_last_error(ctx));
      continue;
    }
    (*targets)[got++] = a->target == EVAL_SANITY_LABEL ? it->label : a->target;
  }
  sal_workspace_free(ws);
  if (got == 0) {
    fprintf(stderr, "salient eval: sanity: no item could be read\n");
    return 1;
  }
  (*x)->shape.d[0] = got; /* the tail of a shorter batch is unused */
  return 0;
}

static cJSON *numbers(const double *v, int64_t n) {
  cJSON *arr = cJSON_CreateArray();
  for (int64_t i = 0; arr && i < n; i++)
    cJSON_AddItemToArray(arr, isnan(v[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(v[i]));
  return arr;
}

/* One method's entry of sanity.json and its PNGs; bg is the first image in 8-bit RGB. */
static int one_method(const eval_sanity_args *a, int m, const sal_tensor *x, const int64_t *targets,
                      const sal_image *bg, cJSON *methods) {
  sal_ctx *ctx = a->ctx;
  const char *name = a->methods[m];
  sal_sanity_opts so = sal_sanity_opts_default();
  so.max_stages = a->max_stages;
  so.seed = a->seed;
  so.keep_maps = true;
  sal_sanity_result r;
  sal_status st = sal_sanity_cascade(ctx, a->g, x, targets, &a->params[m], &so, &r);
  if (st) {
    char what[96];
    snprintf(what, sizeof what, "sanity check of %s", name);
    return cli_fail(ctx, st, what);
  }
  char dir[4096], path[4096], rel[512];
  snprintf(dir, sizeof dir, "%s/sanity/%s", a->out, name);
  int rc = make_dir(dir);
  cJSON *j = cJSON_AddObjectToObject(methods, name);
  cJSON *stages = cJSON_AddArrayToObject(j, "stages");
  for (int64_t s = 0; s < r.n_stages; s++) cJSON_AddItemToArray(stages, cJSON_CreateString(r.stage_names[s]));
  cJSON_AddItemToObject(j, "spearman", numbers(r.mean_spearman, r.n_stages));
  cJSON_AddItemToObject(j, "spearman_abs", numbers(r.mean_spearman_abs, r.n_stages));
  cJSON_AddItemToObject(j, "ssim", numbers(r.mean_ssim, r.n_stages));
  cJSON *maps = cJSON_AddArrayToObject(j, "maps");
  const int64_t HW = a->H * a->W;
  for (int64_t s = 0; !rc && s < r.n_stages; s++) {
    /* the overlay of `salient explain`: the min–max normalised map in jet at opacity 0.5 over the image */
    sal_image *ov = NULL;
    snprintf(rel, sizeof rel, "sanity/%s/%lld.png", name, (long long)s);
    snprintf(path, sizeof path, "%s/%s", a->out, rel);
    float *map = r.maps->data + s * HW;
    sal_map_normalize(map, HW, map);
    st = sal_overlay(ctx, map, a->W, a->H, bg, SAL_COLORMAP_JET, 0.5f, &ov);
    if (!st) st = sal_image_write(ctx, path, ov);
    sal_image_free(ov);
    if (st) rc = cli_fail(ctx, st, path);
    cJSON_AddItemToArray(maps, cJSON_CreateString(rel));
  }
  if (!rc && !a->quiet) {
    const int64_t L = r.n_stages - 1;
    printf("  %-22s sanity: all %lld layers randomised: spearman %.4f, |spearman| %.4f, SSIM %.4f (%lld images)\n",
           name, (long long)r.n_layers, r.mean_spearman[L], r.mean_spearman_abs[L], r.mean_ssim[L],
           (long long)r.n_images);
  }
  sal_sanity_result_clear(&r);
  return rc;
}

int eval_sanity_run(const eval_sanity_args *a) {
  sal_ctx *ctx = a->ctx;
  char path[4096];
  snprintf(path, sizeof path, "%s/sanity", a->out);
  if (make_dir(path)) return 1;
  sal_tensor *x = NULL;
  int64_t *targets = NULL;
  int rc = load_images(a, &x, &targets);
  sal_image *bg = NULL;
  if (!rc) {
    sal_status st = sal_denormalize_image(ctx, x->data, a->C, a->H, a->W, a->pp->mean, a->pp->std, &bg);
    if (st) rc = cli_fail(ctx, st, "sanity");
  }
  cJSON *root = cJSON_CreateObject(), *methods = NULL;
  if (!rc && root) {
    cJSON_AddNumberToObject(root, "images", (double)x->shape.d[0]);
    methods = cJSON_AddObjectToObject(root, "methods");
  }
  if (!rc && !methods) rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "sanity");
  int checked = 0;
  for (int m = 0; !rc && m < a->n_methods; m++) {
    /* A masker is trained for one classifier's weights and refuses any other: randomising the
     * classifier under it tests the fingerprint, not the map (docs/metrics.md, "Sanity checks"). */
    if (a->params[m].masker) {
      if (!a->quiet) printf("  %-22s sanity: skipped (a masker is bound to its classifier's weights)\n", a->methods[m]);
      continue;
    }
    rc = one_method(a, m, x, targets, bg, methods);
    checked++;
  }
  if (!rc) {
    char *text = cJSON_Print(root);
    snprintf(path, sizeof path, "%s/sanity.json", a->out);
    sal__atomic_file af;
    sal_status st = text ? sal__atomic_open(ctx, path, &af) : SAL_STATUS_OUT_OF_MEMORY;
    if (!st) st = sal__atomic_commit(ctx, &af, fputs(text, af.f) >= 0 && fputc('\n', af.f) != EOF);
    if (st) rc = cli_fail(ctx, st, "writing sanity.json");
    else if (!a->quiet)
      printf("eval: sanity checks of %d method%s in %s\n", checked, checked == 1 ? "" : "s", path);
    free(text);
  }
  cJSON_Delete(root);
  sal_image_free(bg);
  sal_tensor_free(x);
  free(targets);
  return rc;
}
