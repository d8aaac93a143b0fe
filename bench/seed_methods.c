/* The acceptance benchmark of the seed methods (issue 7): quality claims of dm, hdm and reliable on
 * the demo models and synthetic data, attack_sensitivity, and time per image; run by bench/seed_methods.sh.
 *
 * Subcommands (each prints a table and writes one JSON object to --json):
 *   quality CKPT MANIFEST  dm vs its benchmark map B (best-percentile IoU with the ground-truth mask)
 *                          and hdm vs dm (recall of the mask at equal area), target = the label
 *   dwsol CKPT MANIFEST    D-WSOL on two-object images (`salient synth pairs`): hits per object query
 *                          (maximum / non-maximum class) and the false-saliency ratio of an absent class
 *   attack CKPT MANIFEST   attack_sensitivity (Spearman, SSIM) of --methods
 *   timing MODEL           median ms per image of --methods (MODEL: a .safetensors checkpoint with
 *                          MANIFEST images, or a built-in architecture with N(0, 1) images); writes the
 *                          images to --save-input for bench/seed_methods_torch.py
 * Options: --images N --methods a,b --json PATH --batch N (images per sal_explain_run) --reps R
 *   --warm W --threads T --size S --set key=value (repeatable: a parameter of the methods that take it,
 *   e.g. patience=0; recorded in the JSON) --manifest PATH --save-input PATH --eps E (attack: PGD radius
 *   in pixel units; default 2/255; 0 measures a method's own run-to-run change). Definitions of every score: docs/methods.md, "Acceptance of the seed methods". */
#define _POSIX_C_SOURCE 200809L
#include "bench_util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "salient/data.h"
#include "salient/eval.h"
#include "salient/explain.h"
#include "salient/metrics.h"
#include "salient/salient.h"
#include "salient/train.h"
#include "saliency/saliency.h"

#define MAX_METHODS 8
#define N_PCT 20 /* percentiles 80, 81, ..., 99 (Peng et al.'s range, METHODS.md §G) */

typedef struct opts {
  const char *cmd, *model, *manifest, *methods, *json, *save_input;
  int64_t images, batch, reps, warm, threads, size;
  double eps;           /* attack: PGD radius in pixel units (< 0: the default 2/255) */
  const char *sets[16]; /* timing: key=value, applied to the methods that take the key */
  int n_sets;
} opts;

/* The model and its data: images preprocessed as the checkpoint's evaluation transform, masks per
 * object at the model's size. */
typedef struct bench {
  sal_ctx *ctx;
  sal_graph *g;
  sal_preprocess pp;
  sal_dataset *ds;
  int64_t C, H, W, K, n; /* n: images used */
  float *x;              /* (n, C, H, W) */
  uint8_t *masks;        /* (n, 2, H, W): object 0, object 1 (zero when absent) */
  sal_box *boxes;        /* (n, 2) */
  int64_t *labels;       /* (n, 2): class of object 0, object 1 (-1 when absent) */
} bench;

static sal_status fail_status(bench *b, sal_status st) {
  if (st) fprintf(stderr, "bench_seed_methods: %s: %s\n", sal_status_name(st), sal_ctx_last_error(b->ctx));
  return st;
}

static sal_status open_model(bench *b, const opts *o) {
  size_t len = strlen(o->model);
  sal_status st;
  if (len > 12 && strcmp(o->model + len - 12, ".safetensors") == 0) {
    char *json = NULL;
    sal_checkpoint_info info;
    memset(&info, 0, sizeof info);
    st = sal_checkpoint_open(b->ctx, o->model, &b->g, &json);
    if (!st) st = sal_checkpoint_info_parse(b->ctx, json, &info);
    if (!st) b->pp = info.pp;
    sal_checkpoint_info_free(&info);
    sal_free(json);
  } else {
    sal_model_spec spec = sal_model_spec_default(o->model);
    if (o->size > 0) spec.image_size = o->size;
    st = sal_model_build(b->ctx, &spec, &b->g);
    b->pp = sal_preprocess_default();
  }
  if (st) return st;
  sal_shape xs, ys;
  st = sal_graph_value_shape(b->g, sal_graph_input_name(b->g, 0), &xs);
  if (!st) st = sal_graph_value_shape(b->g, sal_graph_output_name(b->g, 0), &ys);
  if (st) return st;
  if (xs.ndim != 4 || ys.ndim != 2) return sal_ctx_error(b->ctx, SAL_STATUS_BAD_INPUT, "not an image classifier");
  b->C = xs.d[1], b->H = xs.d[2], b->W = xs.d[3], b->K = ys.d[1];
  b->pp.channels = (int)b->C;
  return SAL_STATUS_OK;
}

/* Reads the first n items of the manifest: images, per-object masks, boxes and labels. */
static sal_status load_data(bench *b, const char *manifest, int64_t n) {
  sal_ctx *ctx = b->ctx;
  sal_status st = sal_dataset_open(ctx, manifest, NULL, &b->ds);
  if (st) return st;
  if (n > b->ds->n_items) n = b->ds->n_items;
  b->n = n;
  const int64_t HW = b->H * b->W;
  b->x = malloc((size_t)(n * b->C * HW) * sizeof(float));
  b->masks = calloc((size_t)(n * 2 * HW), 1);
  b->boxes = calloc((size_t)(n * 2), sizeof(sal_box));
  b->labels = malloc((size_t)(n * 2) * sizeof(int64_t));
  sal_workspace *ws = NULL;
  if (!b->x || !b->masks || !b->boxes || !b->labels) return sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "data");
  st = sal_workspace_new(ctx, &ws);
  for (int64_t i = 0; !st && i < n; i++) {
    const sal_item *it = &b->ds->items[i];
    sal_image *img = NULL;
    sal_geom geo;
    st = sal_image_read(ctx, it->path, NULL, &img);
    if (!st) st = sal_preprocess_image(ctx, &b->pp, img, ws, b->x + i * b->C * HW, b->C * HW, &geo);
    if (!st && (img->width != b->W || img->height != b->H))
      st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s is %lldx%lld, the model takes %lldx%lld", it->path,
                         (long long)img->width, (long long)img->height, (long long)b->W, (long long)b->H);
    sal_image_free(img);
    for (int k = 0; k < 2; k++) b->labels[i * 2 + k] = k < it->n_objects ? it->objects[k].label : -1;
    for (int k = 0; !st && k < it->n_objects && k < 2; k++) {
      b->boxes[i * 2 + k] = it->objects[k].box;
      if (!it->objects[k].mask_path) {
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "%s has no mask", it->path);
        break;
      }
      sal_image *mk = NULL;
      sal_image_read_opts ro = {.channels = 1, .depth = 8};
      st = sal_image_read(ctx, it->objects[k].mask_path, &ro, &mk);
      if (!st && (mk->width != b->W || mk->height != b->H))
        st = sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "mask %s is not %lldx%lld", it->objects[k].mask_path,
                           (long long)b->W, (long long)b->H);
      for (int64_t p = 0; !st && p < HW; p++) b->masks[(i * 2 + k) * HW + p] = ((uint8_t *)mk->pixels)[p] != 0;
      sal_image_free(mk);
    }
  }
  sal_workspace_free(ws);
  return st;
}

/* Applies the --set key=value pairs that method m takes to p (others are skipped: one list serves
 * several methods). */
static sal_status apply_sets(sal_ctx *ctx, const opts *o, const char *m, sal_method_params *p) {
  sal_status st = SAL_STATUS_OK;
  for (int k = 0; k < o->n_sets && !st; k++) {
    char key[64];
    const char *eq = strchr(o->sets[k], '=');
    size_t kl = eq ? (size_t)(eq - o->sets[k]) : 0;
    if (!eq || kl >= sizeof key) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "--set %s: expected key=value", o->sets[k]);
    memcpy(key, o->sets[k], kl);
    key[kl] = '\0';
    bool takes = false;
    sal_param_info pi;
    for (int q = 0; sal_method_param(m, q, &pi); q++) takes = takes || strcmp(pi.key, key) == 0;
    if (takes) st = sal_method_params_set(ctx, p, key, eq + 1);
  }
  return st;
}

/* The --set pairs as one JSON member "set" (an empty string without any). */
static void sets_json(const opts *o, FILE *js) {
  fputs(", \"set\": \"", js);
  for (int k = 0; k < o->n_sets; k++) fprintf(js, "%s%s", k ? " " : "", o->sets[k]);
  fputs("\"", js);
}

/* Explains images [i0, i0 + n) of b->x for targets t[0..n) with p; the raw maps go to out (n, H, W). */
static sal_status explain(bench *b, const sal_method_params *p, int64_t i0, int64_t n, const int64_t *t, float *out,
                          sal_explanation *keep) {
  const int64_t CHW = b->C * b->H * b->W, HW = b->H * b->W;
  sal_tensor xt = {{4, {n, b->C, b->H, b->W}}, b->x + i0 * CHW, SAL_LAYOUT_PLAIN, false};
  sal_explanation e;
  sal_status st = sal_explain_run(b->ctx, b->g, &xt, t, p, &e);
  if (st) return st;
  memcpy(out, e.raw->data, (size_t)(n * HW) * sizeof(float));
  if (keep) *keep = e;
  else sal_explanation_clear(&e);
  return SAL_STATUS_OK;
}

static double mean_of(const double *v, int64_t n) {
  double s = 0;
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(v[i])) s += v[i], k++;
  return k ? s / (double)k : NAN;
}

static int cmp_d(const void *a, const void *b) { return bench_cmp_double(a, b); }

/* Median over the entries that are not NaN (+inf sorts last and counts). */
static double median_of(const double *v, int64_t n) {
  double *s = malloc((size_t)(n ? n : 1) * sizeof *s);
  int64_t k = 0;
  if (!s) return NAN;
  for (int64_t i = 0; i < n; i++)
    if (!isnan(v[i])) s[k++] = v[i];
  qsort(s, (size_t)k, sizeof *s, cmp_d);
  double m = k == 0 ? NAN : k % 2 ? s[k / 2] : 0.5 * (s[k / 2 - 1] + s[k / 2]);
  free(s);
  return m;
}

/* Fraction of images where a[i] > b[i] (paired comparison). */
static double frac_greater(const double *a, const double *b, int64_t n) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; i++) k += a[i] > b[i];
  return n ? (double)k / (double)n : NAN;
}

/* ---- quality: dm finer than B, hdm more complete than dm ---- */

/* Best IoU over the percentiles 80..99 of the map's top against the mask. */
static sal_status best_iou(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double *out) {
  *out = 0;
  for (int q = 0; q < N_PCT; q++) {
    sal_overlap ov;
    sal_status st = sal_metric_overlap(ctx, map, h, w, mask, 80.0 + q, &ov);
    if (st) return st;
    if (ov.iou > *out) *out = ov.iou;
  }
  return SAL_STATUS_OK;
}

/* Recall of the mask by the map's top k = factor · |mask| pixels (ties: row-major order first). */
static sal_status recall_at(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double factor,
                            double *out) {
  int64_t area = 0, n = h * w;
  for (int64_t p = 0; p < n; p++) area += mask[p] != 0;
  double k = factor * (double)area;
  if (k > (double)n) k = (double)n;
  sal_overlap ov;
  sal_status st = sal_metric_overlap(ctx, map, h, w, mask, 100.0 * (1.0 - k / (double)n), &ov);
  *out = ov.sensitivity;
  return st;
}

static int cmd_quality(bench *b, const opts *o, FILE *js) {
  sal_ctx *ctx = b->ctx;
  const int64_t n = b->n, HW = b->H * b->W;
  enum { MB, MDM, MHDM, NM };
  static const char *const names[NM] = {"dm benchmark map B", "dm (M)", "hdm"};
  float *maps = malloc((size_t)(NM * n * HW) * sizeof(float));
  double *iou = malloc((size_t)(NM * n) * sizeof(double)), *rec1 = malloc((size_t)(NM * n) * sizeof(double)),
         *rec2 = malloc((size_t)(NM * n) * sizeof(double));
  int64_t *t = malloc((size_t)n * sizeof(int64_t));
  char dir[] = "/tmp/seed_methods_trace.XXXXXX", path[4200];
  char **stems = calloc((size_t)n, sizeof(char *));
  sal_status st = SAL_STATUS_OK;
  if (!maps || !iou || !rec1 || !rec2 || !t || !stems || !mkdtemp(dir)) {
    fprintf(stderr, "bench_seed_methods: out of memory or no temporary directory\n");
    return 1;
  }
  for (int64_t i = 0; i < n; i++) {
    t[i] = b->labels[i * 2];
    stems[i] = malloc(32);
    if (stems[i]) snprintf(stems[i], 32, "i%lld", (long long)i);
  }
  double ms[NM] = {0};
  int64_t levels[9] = {0}; /* images by the number of levels hdm ran */
  for (int m = 1; m < NM && !st; m++) {
    sal_method_params p;
    st = sal_method_params_default(ctx, m == MDM ? "dm" : "hdm", &p);
    if (!st) st = apply_sets(ctx, o, m == MDM ? "dm" : "hdm", &p);
    double t0 = bench_now_ms();
    for (int64_t i0 = 0; !st && i0 < n; i0 += o->batch) {
      int64_t nb = n - i0 < o->batch ? n - i0 : o->batch;
      /* the traces give dm's B and the number of levels hdm ran */
      p.trace_dir = dir;
      p.trace_names = (const char *const *)stems + i0;
      st = explain(b, &p, i0, nb, t + i0, maps + (m * n + i0) * HW, NULL);
      for (int64_t i = i0; !st && m == MDM && i < i0 + nb; i++) {
        /* B of the image, as the trace wrote it (trace_names are relative to the batch's first image) */
        sal_tensor *bt = NULL;
        snprintf(path, sizeof path, "%s/%s.dm.L1.B.npy", dir, stems[i]);
        st = sal_npy_read(ctx, path, &bt);
        if (!st) memcpy(maps + (MB * n + i) * HW, bt->data, (size_t)HW * sizeof(float));
        sal_tensor_free(bt);
      }
      for (int64_t i = i0; m == MHDM && i < i0 + nb; i++) {
        int lv = 0;
        for (int l = 1; l <= p.levels; l++) {
          snprintf(path, sizeof path, "%s/%s.hdm.L%d.M.npy", dir, stems[i], l);
          if (access(path, F_OK) == 0) lv = l;
        }
        levels[lv < 8 ? lv : 8]++;
      }
      fprintf(stderr, "  quality: %s %lld/%lld images\n", m == MDM ? "dm" : "hdm", (long long)(i0 + nb), (long long)n);
    }
    ms[m] = (bench_now_ms() - t0) / (double)n;
  }
  for (int m = 0; m < NM && !st; m++)
    for (int64_t i = 0; i < n && !st; i++) {
      const float *mp = maps + (m * n + i) * HW;
      const uint8_t *mk = b->masks + i * 2 * HW;
      st = best_iou(ctx, mp, b->H, b->W, mk, &iou[m * n + i]);
      if (!st) st = recall_at(ctx, mp, b->H, b->W, mk, 1.0, &rec1[m * n + i]);
      if (!st) st = recall_at(ctx, mp, b->H, b->W, mk, 2.0, &rec2[m * n + i]);
    }
  if (!st) {
    printf("\nQuality on %s (%lld images, target = label): best-percentile IoU (p = 80..99) and recall of the mask\n"
           "at k = |mask| and k = 2 |mask| top pixels; per-image means (ms/image: wall time of the method on this run)\n",
           o->manifest, (long long)n);
    printf("%-22s %14s %14s %14s %10s\n", "map", "best IoU", "recall@|GT|", "recall@2|GT|", "ms/image");
    for (int m = 0; m < NM; m++)
      printf("%-22s %14.4f %14.4f %14.4f %10s\n", names[m], mean_of(iou + m * n, n), mean_of(rec1 + m * n, n),
             mean_of(rec2 + m * n, n), m == MB ? "(in dm)" : "");
    printf("dm ms/image %.1f, hdm ms/image %.1f; hdm levels run: 1: %lld, 2: %lld, 3: %lld images\n", ms[MDM], ms[MHDM],
           (long long)levels[1], (long long)levels[2], (long long)levels[3]);
    double f_iou = frac_greater(iou + MDM * n, iou + MB * n, n);
    double f_rec = frac_greater(rec1 + MHDM * n, rec1 + MDM * n, n);
    printf("DM finer than B (mean best IoU, dm > B): %s; images with dm IoU > B IoU: %.1f %%\n",
           mean_of(iou + MDM * n, n) > mean_of(iou + MB * n, n) ? "holds" : "does not hold", 100 * f_iou);
    printf("HDM more complete than DM (mean recall@|GT|, hdm > dm): %s; images with hdm recall > dm recall: %.1f %%\n",
           mean_of(rec1 + MHDM * n, n) > mean_of(rec1 + MDM * n, n) ? "holds" : "does not hold", 100 * f_rec);
    fprintf(js, "{\"claim\": \"quality\", \"manifest\": \"%s\", \"images\": %lld, \"maps\": {", o->manifest, (long long)n);
    static const char *const keys[NM] = {"dm_B", "dm", "hdm"};
    for (int m = 0; m < NM; m++)
      fprintf(js, "%s\"%s\": {\"best_iou\": %.6f, \"recall_at_gt\": %.6f, \"recall_at_2gt\": %.6f}", m ? ", " : "",
              keys[m], mean_of(iou + m * n, n), mean_of(rec1 + m * n, n), mean_of(rec2 + m * n, n));
    fprintf(js, "}, \"ms_per_image\": {\"dm\": %.3f, \"hdm\": %.3f}, \"frac_dm_iou_gt_B\": %.4f, "
                "\"frac_hdm_recall_gt_dm\": %.4f, \"hdm_levels\": [%lld, %lld, %lld]", ms[MDM], ms[MHDM], f_iou, f_rec,
            (long long)levels[1], (long long)levels[2], (long long)levels[3]);
    sets_json(o, js);
    fputs("}\n", js);
  }
  for (int64_t i = 0; i < n; i++) free(stems[i]);
  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  if (system(path) != 0) fprintf(stderr, "bench_seed_methods: could not remove %s\n", dir);
  free(stems);
  free(maps), free(iou), free(rec1), free(rec2), free(t);
  return fail_status(b, st) ? 1 : 0;
}

/* ---- dwsol: two-object images ---- */

static int cmd_dwsol(bench *b, const opts *o, FILE *js) {
  sal_ctx *ctx = b->ctx;
  const int64_t n = b->n, HW = b->H * b->W;
  sal_status st = SAL_STATUS_OK;
  /* queries per image: class of object 0, of object 1, an absent class */
  int64_t *t = malloc((size_t)(3 * n) * sizeof(int64_t)), *top = malloc((size_t)n * sizeof(int64_t));
  float *maps = malloc((size_t)(3 * n * HW) * sizeof(float));
  double *hit_max = malloc((size_t)n * sizeof(double)), *hit_non = malloc((size_t)n * sizeof(double)),
         *fs = malloc((size_t)n * sizeof(double)), *pk_max = malloc((size_t)n * sizeof(double)),
         *pk_non = malloc((size_t)n * sizeof(double));
  if (!t || !top || !maps || !hit_max || !hit_non || !fs || !pk_max || !pk_non) return 1;
  for (int64_t i = 0; i < n; i++) {
    if (b->labels[i * 2 + 1] < 0) {
      fprintf(stderr, "bench_seed_methods: dwsol needs two-object images (salient synth pairs); item %lld has one\n",
              (long long)i);
      return 1;
    }
    int64_t c[16], nc = 0;
    for (int64_t k = 0; k < b->K && nc < 16; k++)
      if (k != b->labels[i * 2] && k != b->labels[i * 2 + 1]) c[nc++] = k;
    t[i] = b->labels[i * 2], t[n + i] = b->labels[i * 2 + 1], t[2 * n + i] = c[i % nc];
  }
  /* which present class has the larger logit: the "maximum" query; the other is the non-maximum one */
  {
    sal_method_params p;
    st = sal_method_params_default(ctx, "gradient", &p);
    for (int64_t i0 = 0; !st && i0 < n; i0 += o->batch) {
      int64_t nb = n - i0 < o->batch ? n - i0 : o->batch;
      sal_explanation e;
      const int64_t CHW = b->C * HW;
      sal_tensor xt = {{4, {nb, b->C, b->H, b->W}}, b->x + i0 * CHW, SAL_LAYOUT_PLAIN, false};
      float *z = malloc((size_t)(2 * nb) * sizeof(float));
      for (int k = 0; !st && k < 2; k++) {
        st = sal_explain_run(ctx, b->g, &xt, t + k * n + i0, &p, &e);
        if (!st) memcpy(z + k * nb, e.scores, (size_t)nb * sizeof(float)), sal_explanation_clear(&e);
      }
      for (int64_t j = 0; !st && j < nb; j++) top[i0 + j] = z[j] >= z[nb + j] ? 0 : 1;
      free(z);
    }
  }
  char list[256];
  snprintf(list, sizeof list, "%s", o->methods);
  int64_t nmax0 = 0;
  for (int64_t i = 0; i < n; i++) nmax0 += top[i] == 0;
  printf("\nD-WSOL on %s (%lld two-object images; the maximum query is the present class with the larger logit,\n"
         "object 0 in %lld images): D-WSOL hit rate per query; peak: the map's maximum lies on the queried object;\n"
         "false-saliency ratio FS = energy(absent class) / energy(maximum class), energy = sum of max(v, 0) of the raw map\n",
         o->manifest, (long long)n, (long long)nmax0);
  printf("%-24s %8s %12s %9s %9s %9s %10s %7s %9s\n", "method", "hit max", "hit non-max", "peak max", "peak non",
         "FS mean", "FS median", "FS inf", "ms/query");
  fprintf(js, "{\"claim\": \"dwsol\", \"manifest\": \"%s\", \"images\": %lld, \"methods\": {", o->manifest, (long long)n);
  char *save = NULL;
  int mi = 0;
  for (char *m = strtok_r(list, ",", &save); m && !st; m = strtok_r(NULL, ",", &save), mi++) {
    sal_method_params p;
    st = sal_method_params_default(ctx, m, &p);
    if (!st) st = apply_sets(ctx, o, m, &p);
    double t0 = bench_now_ms();
    for (int q = 0; q < 3 && !st; q++)
      for (int64_t i0 = 0; !st && i0 < n; i0 += o->batch) {
        int64_t nb = n - i0 < o->batch ? n - i0 : o->batch;
        st = explain(b, &p, i0, nb, t + q * n + i0, maps + (q * n + i0) * HW, NULL);
        fprintf(stderr, "  dwsol: %s query %d, %lld/%lld images\n", m, q, (long long)(i0 + nb), (long long)n);
      }
    double ms = (bench_now_ms() - t0) / (double)(3 * n);
    int64_t ninf = 0;
    for (int64_t i = 0; i < n && !st; i++) {
      bool h[2], pk[2];
      for (int k = 0; k < 2 && !st; k++) {
        st = sal_metric_dwsol_hit(ctx, maps + (k * n + i) * HW, b->H, b->W, &b->boxes[i * 2 + k],
                                  b->masks + (i * 2 + (1 - k)) * HW, &h[k]);
        if (!st) st = sal_pointing_hit(ctx, maps + (k * n + i) * HW, b->H, b->W, b->masks + (i * 2 + k) * HW, 0.0, &pk[k]);
      }
      hit_max[i] = h[top[i]], hit_non[i] = h[1 - top[i]];
      pk_max[i] = pk[top[i]], pk_non[i] = pk[1 - top[i]];
      fs[i] = sal_metric_false_saliency(maps + (2 * n + i) * HW, maps + (top[i] * n + i) * HW, HW);
      ninf += isinf(fs[i]);
    }
    if (st) break;
    printf("%-24s %8.3f %12.3f %9.3f %9.3f %9.4f %10.4f %7lld %9.1f\n", m, mean_of(hit_max, n), mean_of(hit_non, n),
           mean_of(pk_max, n), mean_of(pk_non, n), mean_of(fs, n), median_of(fs, n), (long long)ninf, ms);
    fprintf(js, "%s\"%s\": {\"hit_max\": %.6f, \"hit_nonmax\": %.6f, \"peak_max\": %.6f, \"peak_nonmax\": %.6f, "
                "\"fs_mean\": %.6f, \"fs_median\": %.6f, \"fs_inf\": %lld, \"ms_per_query\": %.3f}", mi ? ", " : "", m,
            mean_of(hit_max, n), mean_of(hit_non, n), mean_of(pk_max, n), mean_of(pk_non, n), mean_of(fs, n),
            median_of(fs, n), (long long)ninf, ms);
    fflush(stdout);
  }
  fputs("}", js);
  sets_json(o, js);
  fputs("}\n", js);
  free(t), free(top), free(maps), free(hit_max), free(hit_non), free(fs), free(pk_max), free(pk_non);
  return fail_status(b, st) ? 1 : 0;
}

/* ---- attack_sensitivity ---- */

static int cmd_attack(bench *b, const opts *o, FILE *js) {
  sal_ctx *ctx = b->ctx;
  sal_status st = SAL_STATUS_OK;
  sal_attack_opts ao = sal_attack_opts_default();
  ao.mean = b->pp.mean;
  ao.std = b->pp.std;
  if (o->eps >= 0) ao.eps = (float)o->eps;
  char list[256];
  snprintf(list, sizeof list, "%s", o->methods);
  printf("\nattack_sensitivity on %s (%lld images, PGD eps = %.5f keeping the class, %lld steps): Spearman and SSIM\n"
         "between the min-max normalised maps of x and x + delta (higher = less sensitive)\n",
         o->manifest, (long long)b->n, (double)ao.eps, (long long)ao.steps);
  printf("%-24s %10s %10s %12s %10s\n", "method", "Spearman", "SSIM", "mean steps", "ms/image");
  fprintf(js, "{\"claim\": \"attack\", \"manifest\": \"%s\", \"images\": %lld, \"eps\": %.6f, \"methods\": {", o->manifest,
          (long long)b->n, (double)ao.eps);
  char *save = NULL;
  int mi = 0;
  const int64_t CHW = b->C * b->H * b->W;
  for (char *m = strtok_r(list, ",", &save); m && !st; m = strtok_r(NULL, ",", &save), mi++) {
    sal_method_params p;
    st = sal_method_params_default(ctx, m, &p);
    if (!st) st = apply_sets(ctx, o, m, &p);
    double *sp = malloc((size_t)b->n * sizeof(double)), *ss = malloc((size_t)b->n * sizeof(double)), steps = 0;
    double t0 = bench_now_ms();
    for (int64_t i0 = 0; !st && i0 < b->n; i0 += o->batch) {
      int64_t nb = b->n - i0 < o->batch ? b->n - i0 : o->batch;
      sal_tensor xt = {{4, {nb, b->C, b->H, b->W}}, b->x + i0 * CHW, SAL_LAYOUT_PLAIN, false};
      sal_attack_result r;
      memset(&r, 0, sizeof r);
      st = sal_attack_sensitivity(ctx, b->g, &xt, &p, &ao, &r);
      for (int64_t j = 0; !st && j < nb; j++) {
        sp[i0 + j] = r.spearman[j], ss[i0 + j] = r.ssim[j], steps += (double)r.steps[j];
        fprintf(stderr, "  attack: %s image %lld: steps %lld, max |delta| %.5f, logit drop %.4f, Spearman %.4f, SSIM %.4f\n", m,
                (long long)(i0 + j), (long long)r.steps[j], (double)r.linf[j], (double)r.drop[j], r.spearman[j], r.ssim[j]);
      }
      sal_attack_result_clear(&r);
      fprintf(stderr, "  attack: %s %lld/%lld images\n", m, (long long)(i0 + nb), (long long)b->n);
    }
    double ms = (bench_now_ms() - t0) / (double)b->n;
    if (!st) {
      printf("%-24s %10.4f %10.4f %12.2f %10.1f\n", m, mean_of(sp, b->n), mean_of(ss, b->n), steps / (double)b->n, ms);
      fprintf(js, "%s\"%s\": {\"spearman\": %.6f, \"ssim\": %.6f, \"spearman_median\": %.6f, \"ssim_median\": %.6f, "
                  "\"mean_steps\": %.3f, \"ms_per_image\": %.3f}", mi ? ", " : "", m, mean_of(sp, b->n),
              mean_of(ss, b->n), median_of(sp, b->n), median_of(ss, b->n), steps / (double)b->n, ms);
      fflush(stdout);
    }
    free(sp), free(ss);
  }
  fputs("}", js);
  sets_json(o, js);
  fputs("}\n", js);
  return fail_status(b, st) ? 1 : 0;
}

/* ---- timing ---- */

static int cmd_timing(bench *b, const opts *o, FILE *js) {
  sal_ctx *ctx = b->ctx;
  sal_status st = SAL_STATUS_OK;
  const int64_t n = o->images;
  if (!b->x) {
    /* a built-in model: N(0, 1) images from a fixed seed */
    b->n = n;
    b->x = malloc((size_t)(n * b->C * b->H * b->W) * sizeof(float));
    if (!b->x) return 1;
    sal_rng_normal(7, 1, 0, b->x, (size_t)(n * b->C * b->H * b->W));
  }
  if (o->save_input) {
    sal_tensor xt = {{4, {b->n, b->C, b->H, b->W}}, b->x, SAL_LAYOUT_PLAIN, false};
    if ((st = sal_npy_write(ctx, o->save_input, &xt))) return fail_status(b, st) ? 1 : 0;
  }
  char list[256];
  snprintf(list, sizeof list, "%s", o->methods);
  char *save = NULL;
  for (char *m = strtok_r(list, ",", &save); m && !st; m = strtok_r(NULL, ",", &save)) {
    sal_method_params p;
    st = sal_method_params_default(ctx, m, &p);
    if (st) break;
    if (!st) st = apply_sets(ctx, o, m, &p);
    if (st) break;
    double tm[100];
    char levels[1024] = "";
    /* hdm: the warm-up run writes a trace, from which the levels each image ran are counted (they
     * decide its cost; the PyTorch side reports its own) */
    char dir[] = "/tmp/seed_methods_timing.XXXXXX", hlev[256] = "";
    bool trace = !strcmp(m, "hdm") && o->warm > 0 && mkdtemp(dir);
    for (int64_t r = 0; r < o->warm + o->reps && !st; r++) {
      sal_tensor xt = {{4, {b->n, b->C, b->H, b->W}}, b->x, SAL_LAYOUT_PLAIN, false};
      sal_explanation e;
      p.trace_dir = trace && r == 0 ? dir : NULL;
      double t0 = bench_now_ms();
      st = sal_explain_run(ctx, b->g, &xt, NULL, &p, &e);
      double dt = (bench_now_ms() - t0) / (double)b->n;
      if (st) break;
      for (int64_t i = 0; p.trace_dir && i < b->n; i++) {
        int lv = 0;
        for (int l = 1; l <= p.levels; l++) {
          char path[4200];
          snprintf(path, sizeof path, "%s/image%lld.hdm.L%d.M.npy", dir, (long long)i, l);
          if (access(path, F_OK) == 0) lv = l;
        }
        snprintf(hlev + strlen(hlev), sizeof hlev - strlen(hlev), "%s%d", i ? "," : "", lv);
      }
      if (r == 0)
        for (int l = 0; l < e.n_levels; l++)
          snprintf(levels + strlen(levels), sizeof levels - strlen(levels), "%s%s", l ? "," : "", e.level_names[l]);
      sal_explanation_clear(&e);
      if (r >= o->warm) tm[r - o->warm] = dt;
      fprintf(stderr, "  salient %s rep %lld: %.1f ms/image\n", m, (long long)r, dt);
    }
    p.trace_dir = NULL;
    if (trace) {
      char cmd[256];
      snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
      if (system(cmd) != 0) fprintf(stderr, "bench_seed_methods: could not remove %s\n", dir);
    }
    if (st) break;
    qsort(tm, (size_t)o->reps, sizeof tm[0], bench_cmp_double);
    double med = o->reps % 2 ? tm[o->reps / 2] : 0.5 * (tm[o->reps / 2 - 1] + tm[o->reps / 2]);
    char pb[1024];
    printf("RESULT impl=salient method=%s ms=%.3f\n", m, med);
    /* dm, hdm: the grids as resolved for this input (0 = the 224-pixel sides scaled) */
    char grids[128] = "", aux[128] = "";
    static const int64_t def_b[] = {6, 9, 12, 15, 0}, def_a[] = {56, 112, 0};
    const int64_t *gl = p.grids[0] ? p.grids : def_b, *al = p.aux_grids[0] ? p.aux_grids : def_a;
    for (int k = 0; gl[k] && k < SAL_MAX_GRIDS; k++)
      snprintf(grids + strlen(grids), sizeof grids - strlen(grids), "%s%lld", k ? "," : "",
               (long long)(p.grids[0] ? gl[k] : sal__scaled(gl[k], b->H)));
    for (int k = 0; al[k] && k < SAL_MAX_GRIDS; k++)
      snprintf(aux + strlen(aux), sizeof aux - strlen(aux), "%s%lld", k ? "," : "",
               (long long)(p.aux_grids[0] ? al[k] : sal__scaled(al[k], b->H)));
    printf("INFO impl=salient method=%s images=%lld layers=%s grids=%s aux_grids=%s%s%s params=\"%s\"\n", m,
           (long long)b->n, levels[0] ? levels : "-", grids, aux, hlev[0] ? " levels_run=" : "", hlev,
           sal_method_params_str(&p, pb, sizeof pb));
    fprintf(js, "{\"claim\": \"timing\", \"impl\": \"salient\", \"model\": \"%s\", \"method\": \"%s\", \"images\": %lld, "
                "\"ms_per_image\": %.3f, \"layers\": \"%s\", \"hdm_levels\": \"%s\"}\n", o->model, m, (long long)b->n, med,
            levels, hlev);
    fflush(stdout);
  }
  return fail_status(b, st) ? 1 : 0;
}

static int usage(void) {
  fprintf(stderr, "usage: bench_seed_methods quality|dwsol|attack CKPT MANIFEST [options]\n"
                  "       bench_seed_methods timing MODEL [--manifest M] [options]  (see bench/seed_methods.c)\n");
  return 2;
}

int main(int argc, char **argv) {
  opts o = {0};
  o.methods = "dm,hdm,reliable";
  o.json = "/dev/stdout";
  o.images = 200, o.batch = 20, o.reps = 3, o.warm = 1, o.threads = 2, o.eps = -1;
  if (argc < 3) return usage();
  o.cmd = argv[1], o.model = argv[2];
  int i = 3;
  if (strcmp(o.cmd, "timing") != 0) {
    if (argc < 4) return usage();
    o.manifest = argv[3];
    i = 4;
  }
  for (; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return usage();
    if (!strcmp(a, "--images")) o.images = atoll(v);
    else if (!strcmp(a, "--methods")) o.methods = v;
    else if (!strcmp(a, "--json")) o.json = v;
    else if (!strcmp(a, "--batch")) o.batch = atoll(v);
    else if (!strcmp(a, "--reps")) o.reps = atoll(v);
    else if (!strcmp(a, "--warm")) o.warm = atoll(v);
    else if (!strcmp(a, "--threads")) o.threads = atoll(v);
    else if (!strcmp(a, "--size")) o.size = atoll(v);
    else if (!strcmp(a, "--set") && o.n_sets < 16) o.sets[o.n_sets++] = v;
    else if (!strcmp(a, "--manifest")) o.manifest = v;
    else if (!strcmp(a, "--save-input")) o.save_input = v;
    else if (!strcmp(a, "--eps")) o.eps = atof(v);
    else {
      fprintf(stderr, "bench_seed_methods: unknown option %s\n", a);
      return 2;
    }
  }
  if (o.images < 1 || o.batch < 1 || o.reps < 1 || o.reps > 100 || o.warm < 0 || o.threads < 0) return usage();
  bench b;
  memset(&b, 0, sizeof b);
  if (sal_ctx_new((int)o.threads, 1, &b.ctx)) return 1;
  int rc = 1;
  FILE *js = NULL;
  sal_status st = open_model(&b, &o);
  if (!st && o.manifest) st = load_data(&b, o.manifest, o.images);
  if (fail_status(&b, st)) goto done;
  js = fopen(o.json, "a");
  if (!js) {
    fprintf(stderr, "bench_seed_methods: cannot open %s\n", o.json);
    goto done;
  }
  if (!strcmp(o.cmd, "quality")) rc = cmd_quality(&b, &o, js);
  else if (!strcmp(o.cmd, "dwsol")) rc = cmd_dwsol(&b, &o, js);
  else if (!strcmp(o.cmd, "attack")) rc = cmd_attack(&b, &o, js);
  else if (!strcmp(o.cmd, "timing")) rc = cmd_timing(&b, &o, js);
  else rc = usage();
  if (fclose(js) != 0) rc = 1;
done:
  free(b.x), free(b.masks), free(b.boxes), free(b.labels);
  sal_dataset_free(b.ds);
  sal_graph_free(b.g);
  sal_ctx_free(b.ctx);
  return rc;
}
