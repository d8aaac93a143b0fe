/* results.jsonl of `salient eval` read back (a torn last line cut off, repeated pairs counted once,
 * lines checked against the dataset) and the summary recomputed from it: summary.json and .csv. */
#define _POSIX_C_SOURCE 200809L
#include "cli/eval_results.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli/cli.h"
#include "salient/meta.h"
#include "src/io/atomic.h"

void eval_results_free(eval_results *R) {
  free(R->r);
  free(R->vals);
  free(R->curves);
  for (int m = 0; m < R->n_names; m++) {
    free(R->names[m]);
    free(R->seen[m]);
    free(R->pt_hits[m]);
    free(R->pt_trials[m]);
  }
  memset(R, 0, sizeof *R);
}

int eval_results_slot(eval_results *R, const char *name) {
  for (int m = 0; m < R->n_names; m++)
    if (strcmp(R->names[m], name) == 0) return m;
  if (R->n_names == EVAL_MAX_NAMES || !(R->names[R->n_names] = strdup(name))) return -1;
  sal_boxacc_init(&R->box[R->n_names]);
  sal_pxap_init(&R->px[R->n_names]);
  return R->n_names++;
}

bool eval_results_seen(const eval_results *R, int m, int64_t item) {
  return m >= 0 && m < R->n_names && item < R->seen_cap[m] * 8 && (R->seen[m][item / 8] >> (item % 8) & 1);
}

static bool mark_seen(eval_results *R, int m, int64_t item) {
  if (item >= R->seen_cap[m] * 8) {
    int64_t cap = item / 8 + 1 > 2 * R->seen_cap[m] ? item / 8 + 1 : 2 * R->seen_cap[m];
    uint8_t *b = realloc(R->seen[m], (size_t)cap);
    if (!b) return false;
    memset(b + R->seen_cap[m], 0, (size_t)(cap - R->seen_cap[m]));
    R->seen[m] = b;
    R->seen_cap[m] = cap;
  }
  R->seen[m][item / 8] |= (uint8_t)(1u << (item % 8));
  return true;
}

/* A string of '0'/'1' of SAL_BOXACC_TAUS characters into hits (added). */
static bool add_bits(const cJSON *j, int64_t *hits) {
  if (!cJSON_IsString(j) || strlen(j->valuestring) != SAL_BOXACC_TAUS) return false;
  for (int t = 0; t < SAL_BOXACC_TAUS; t++) {
    char c = j->valuestring[t];
    if (c != '0' && c != '1') return false;
    hits[t] += c == '1';
  }
  return true;
}

static bool add_counts(const cJSON *j, int64_t *bins) {
  if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != SAL_PXAP_BINS) return false;
  int b = 0;
  for (const cJSON *e = j->child; e; e = e->next, b++) {
    if (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble < 9e15)) return false;
    bins[b] += (int64_t)e->valuedouble;
  }
  return true;
}

#define MAX_CURVE 1000000 /* points of one curve: far above any image's H W / step + 1 */

/* The line's "curves" (insertion and deletion, each curve_len numbers) into R; r->curve = -1 when
 * the line has none. False with the reason in why. */
static bool add_curves(eval_results *R, eval_record *r, const cJSON *c, char *why, size_t nwhy) {
  r->curve = -1;
  if (!c) return true;
  const cJSON *a[2] = {cJSON_GetObjectItemCaseSensitive(c, "insertion"), cJSON_GetObjectItemCaseSensitive(c, "deletion")};
  int64_t len = cJSON_GetArraySize(a[0]);
  if (!cJSON_IsArray(a[0]) || !cJSON_IsArray(a[1]) || len < 2 || len > MAX_CURVE || cJSON_GetArraySize(a[1]) != len) {
    snprintf(why, nwhy, "malformed curves (needs insertion and deletion arrays of one length >= 2)");
    return false;
  }
  if (R->curve_len && len != R->curve_len) {
    snprintf(why, nwhy, "curves of %lld points, earlier lines have %lld", (long long)len, (long long)R->curve_len);
    return false;
  }
  R->curve_len = len;
  if (R->n_curves == R->curves_cap) {
    int64_t cap = 2 * R->curves_cap + 64;
    float *f = realloc(R->curves, (size_t)(cap * 2 * len) * sizeof *f);
    if (!f) {
      snprintf(why, nwhy, "out of memory");
      return false;
    }
    R->curves = f;
    R->curves_cap = cap;
  }
  float *dst = R->curves + R->n_curves * 2 * len;
  for (int k = 0; k < 2; k++) {
    int64_t i = 0;
    for (const cJSON *e = a[k]->child; e; e = e->next, i++) {
      /* null is how a NaN was written (a model that produced one): kept, and the curve left out
       * of the mean */
      if (!cJSON_IsNull(e) && (!cJSON_IsNumber(e) || !(e->valuedouble >= 0 && e->valuedouble <= 1))) {
        snprintf(why, nwhy, "malformed curves (a probability outside [0, 1])");
        return false;
      }
      dst[k * len + i] = cJSON_IsNull(e) ? NAN : (float)e->valuedouble;
    }
  }
  r->curve = R->n_curves++;
  return true;
}

/* Adds one line to R. Returns false when it is not a results line (the message says why). */
static bool add_line(eval_results *R, const eval_keys *keys, const sal_dataset *ds, const char *line, char *why,
                     size_t nwhy) {
  cJSON *j = cJSON_Parse(line);
  const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, "item");
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
  const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
  const cJSON *mets = cJSON_GetObjectItemCaseSensitive(j, "metrics");
  bool ok = false;
  if (!j || !cJSON_IsNumber(item) || !(item->valuedouble >= 0 && item->valuedouble < 1e12) || !cJSON_IsString(method) ||
      !cJSON_IsNumber(label) || !(label->valuedouble >= 0 && label->valuedouble < SAL_META_MAX_CLASSES) ||
      !cJSON_IsObject(mets)) {
    snprintf(why, nwhy, "not a results line (needs item, method, label and metrics)");
    goto done;
  }
  int m = eval_results_slot(R, method->valuestring);
  if (m < 0) {
    snprintf(why, nwhy, "too many methods");
    goto done;
  }
  int64_t it = (int64_t)item->valuedouble, lab = (int64_t)label->valuedouble;
  /* A line must describe this dataset's item: results of another manifest are not mixed in. */
  const cJSON *path = cJSON_GetObjectItemCaseSensitive(j, "path");
  if (ds && (it >= ds->n_items || !cJSON_IsString(path) || strcmp(path->valuestring, ds->items[it].path) != 0)) {
    snprintf(why, nwhy, "item %lld is %s here but %s in the data: results of other data (use another --out)",
             (long long)it, cJSON_IsString(path) ? path->valuestring : "?",
             it < ds->n_items ? ds->items[it].path : "absent");
    goto done;
  }
  ok = true;
  if (eval_results_seen(R, m, it)) goto done; /* a repeated pair counts once */
  if (R->n == R->cap) {
    int64_t cap = 2 * R->cap + 256;
    eval_record *r = realloc(R->r, (size_t)cap * sizeof *r);
    if (r) R->r = r;
    double *v = r ? realloc(R->vals, (size_t)(cap * (keys->n ? keys->n : 1)) * sizeof *v) : NULL;
    if (v) R->vals = v, R->cap = cap;
  }
  if (R->n == R->cap || !mark_seen(R, m, it)) {
    snprintf(why, nwhy, "out of memory");
    ok = false;
    goto done;
  }
  eval_record *r = &R->r[R->n];
  r->item = it;
  r->method = m;
  r->row = R->n++;
  if (!add_curves(R, r, cJSON_GetObjectItemCaseSensitive(j, "curves"), why, nwhy)) {
    ok = false;
    goto done;
  }
  for (int k = 0; k < keys->n; k++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mets, keys->names[k]);
    R->vals[r->row * keys->n + k] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  }
  const cJSON *pt = cJSON_GetObjectItemCaseSensitive(mets, "pointing");
  if (cJSON_IsNumber(pt)) {
    if (lab >= R->pt_classes[m]) {
      int64_t nc = lab + 1;
      int64_t *h = realloc(R->pt_hits[m], (size_t)nc * sizeof *h);
      int64_t *t = h ? realloc(R->pt_trials[m], (size_t)nc * sizeof *t) : NULL;
      if (h) R->pt_hits[m] = h;
      if (!h || !t) {
        snprintf(why, nwhy, "out of memory");
        ok = false;
        goto done;
      }
      R->pt_trials[m] = t;
      for (int64_t c = R->pt_classes[m]; c < nc; c++) h[c] = t[c] = 0;
      R->pt_classes[m] = nc;
    }
    R->pt_trials[m][lab]++;
    R->pt_hits[m][lab] += pt->valuedouble != 0;
  }
  const cJSON *bx = cJSON_GetObjectItemCaseSensitive(j, "boxacc");
  if (cJSON_IsArray(bx)) {
    sal_boxacc *a = &R->box[m];
    if (cJSON_GetArraySize(bx) != 4 || !add_bits(cJSON_GetArrayItem(bx, 0), a->hits) ||
        !add_bits(cJSON_GetArrayItem(bx, 1), a->hits_v2[0]) || !add_bits(cJSON_GetArrayItem(bx, 2), a->hits_v2[1]) ||
        !add_bits(cJSON_GetArrayItem(bx, 3), a->hits_v2[2])) {
      snprintf(why, nwhy, "malformed boxacc");
      ok = false;
      goto done;
    }
    a->images++;
    R->box_n[m]++;
  }
  const cJSON *px = cJSON_GetObjectItemCaseSensitive(j, "pxap");
  if (cJSON_IsObject(px)) {
    if (!add_counts(cJSON_GetObjectItemCaseSensitive(px, "pos"), R->px[m].pos) ||
        !add_counts(cJSON_GetObjectItemCaseSensitive(px, "neg"), R->px[m].neg)) {
      snprintf(why, nwhy, "malformed pxap");
      ok = false;
      goto done;
    }
    R->px_n[m]++;
  }
done:
  cJSON_Delete(j);
  return ok;
}

/* Reads path into R. A last line without its newline is the write a kill interrupted: with
 * truncate, it is cut off the file (and counted in R->torn); otherwise ignored. A missing file is
 * empty. Returns 0 or 1 after printing the error. */
int eval_results_read(const char *path, const eval_keys *keys, const sal_dataset *ds, bool truncate_torn,
                      eval_results *R) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    fprintf(stderr, "salient eval: cannot read %s: %s\n", path, strerror(errno));
    return 1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  off_t good = 0; /* bytes up to the end of the last complete line */
  int rc = 0;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') {
      R->torn++;
      break;
    }
    R->lines++;
    good += (off_t)len;
    char why[128];
    if (len > 1 && !add_line(R, keys, ds, line, why, sizeof why)) {
      fprintf(stderr, "salient eval: %s line %lld: %s\n", path, (long long)R->lines, why);
      rc = 1;
      break;
    }
  }
  free(line);
  fclose(f);
  if (!rc && R->torn && truncate_torn && truncate(path, good) != 0) {
    fprintf(stderr, "salient eval: cannot truncate the torn last line of %s: %s\n", path, strerror(errno));
    rc = 1;
  }
  return rc;
}

/* ---- summary ---- */

/* A growing text; failed records an allocation failure (later appends are dropped). */
typedef struct text_buf {
  char *s;
  size_t len, cap;
  bool failed;
} text_buf;

static void buf_printf(text_buf *b, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (b->failed || w < 0 || (size_t)w >= sizeof line) {
    b->failed = true;
    return;
  }
  if (b->len + (size_t)w + 1 > b->cap) {
    size_t cap = 2 * b->cap + (size_t)w + 4096;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->failed = true;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, line, (size_t)w + 1);
  b->len += (size_t)w;
}

static int cmp_rec(const void *a, const void *b) {
  const eval_record *x = a, *y = b;
  if (x->method != y->method) return x->method < y->method ? -1 : 1;
  return x->item < y->item ? -1 : x->item > y->item;
}

/* The mean insertion and deletion curves of records first..last (one method, sorted by item) into
 * jm's "curves", summed in double in item order so that a resumed run gives the same bytes.
 * Curves with an undefined point are left out (and out of "images"). */
static bool add_mean_curves(const eval_results *R, cJSON *jm, int64_t first, int64_t last) {
  int64_t n = 0, L = R->curve_len;
  double *sum = calloc((size_t)(2 * L + 1), sizeof *sum);
  if (!sum) return false;
  for (int64_t i = first; i < last; i++) {
    if (R->r[i].curve < 0) continue;
    const float *c = R->curves + R->r[i].curve * 2 * L;
    bool finite = true;
    for (int64_t p = 0; p < 2 * L; p++) finite = finite && isfinite(c[p]);
    if (!finite) continue;
    for (int64_t p = 0; p < 2 * L; p++) sum[p] += (double)c[p];
    n++;
  }
  if (n == 0) {
    free(sum);
    return true;
  }
  cJSON *jc = cJSON_AddObjectToObject(jm, "curves");
  cJSON_AddNumberToObject(jc, "images", (double)n);
  static const char *const kinds[2] = {"insertion", "deletion"};
  for (int k = 0; k < 2; k++) {
    cJSON *a = cJSON_AddArrayToObject(jc, kinds[k]);
    for (int64_t p = 0; p < L; p++) cJSON_AddItemToArray(a, cJSON_CreateNumber(sum[k * L + p] / (double)n));
  }
  free(sum);
  return true;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The summary of R: per method and metric the mean over the images that have it, with the 95 %
 * interval mean ± 1.96 s / √n (s the sample standard deviation; null for n < 2), and the
 * dataset-level scores. Records are taken in (method, item) order so that the floating-point sums
 * do not depend on the order the lines were written in. */
int eval_summary_write(sal_ctx *ctx, const eval_summary_info *s, const eval_keys *keys, eval_results *R) {
  qsort(R->r, (size_t)R->n, sizeof *R->r, cmp_rec);
  /* Output order: the --methods order, then other methods of the file by name. */
  int order[EVAL_MAX_NAMES], n_order = 0;
  for (int k = 0; k < s->n_methods; k++)
    for (int m = 0; m < R->n_names; m++)
      if (strcmp(R->names[m], s->methods[k]) == 0) order[n_order++] = m;
  char *extra[EVAL_MAX_NAMES];
  int n_extra = 0;
  for (int m = 0; m < R->n_names; m++) {
    bool listed = false;
    for (int k = 0; k < s->n_methods; k++) listed = listed || strcmp(R->names[m], s->methods[k]) == 0;
    if (!listed) extra[n_extra++] = R->names[m];
  }
  qsort(extra, (size_t)n_extra, sizeof *extra, cmp_name);
  for (int e = 0; e < n_extra; e++)
    for (int m = 0; m < R->n_names; m++)
      if (R->names[m] == extra[e]) order[n_order++] = m;

  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "model", s->model);
  cJSON_AddStringToObject(root, "data", s->data);
  cJSON_AddStringToObject(root, "interval",
                          "95 % normal interval: mean ± 1.96 · s / √n, s the sample standard deviation");
  cJSON *methods = cJSON_AddObjectToObject(root, "methods");
  text_buf csv = {0};
#define CSV(...) buf_printf(&csv, __VA_ARGS__)
  CSV("method,metric,n,mean,sd,ci95_low,ci95_high\n");
  for (int oi = 0; oi < n_order; oi++) {
    int m = order[oi];
    int64_t first = 0;
    while (first < R->n && R->r[first].method != m) first++;
    int64_t last = first;
    while (last < R->n && R->r[last].method == m) last++;
    cJSON *jm = cJSON_AddObjectToObject(methods, R->names[m]);
    cJSON_AddNumberToObject(jm, "images", (double)(last - first));
    cJSON *jk = cJSON_AddObjectToObject(jm, "metrics");
    for (int k = 0; k < keys->n; k++) {
      int64_t n = 0;
      double sum = 0;
      for (int64_t i = first; i < last; i++) {
        double v = R->vals[R->r[i].row * keys->n + k];
        if (!isnan(v)) sum += v, n++;
      }
      double mean = n ? sum / (double)n : NAN, ss = 0;
      for (int64_t i = first; i < last; i++) {
        double v = R->vals[R->r[i].row * keys->n + k];
        if (!isnan(v)) ss += (v - mean) * (v - mean);
      }
      double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN, half = 1.96 * sd / sqrt((double)n);
      cJSON *e = cJSON_AddObjectToObject(jk, keys->names[k]);
      cJSON_AddNumberToObject(e, "n", (double)n);
      cJSON_AddItemToObject(e, "mean", n ? cJSON_CreateNumber(mean) : cJSON_CreateNull());
      cJSON_AddItemToObject(e, "sd", n > 1 ? cJSON_CreateNumber(sd) : cJSON_CreateNull());
      cJSON *ci = cJSON_AddArrayToObject(e, "ci95");
      cJSON_AddItemToArray(ci, n > 1 ? cJSON_CreateNumber(mean - half) : cJSON_CreateNull());
      cJSON_AddItemToArray(ci, n > 1 ? cJSON_CreateNumber(mean + half) : cJSON_CreateNull());
      if (n > 1)
        CSV("%s,%s,%lld,%.17g,%.17g,%.17g,%.17g\n", R->names[m], keys->names[k], (long long)n, mean, sd, mean - half,
            mean + half);
      else if (n) CSV("%s,%s,%lld,%.17g,,,\n", R->names[m], keys->names[k], (long long)n, mean);
      else CSV("%s,%s,0,,,,\n", R->names[m], keys->names[k]);
    }
    if (!add_mean_curves(R, jm, first, last)) {
      cJSON_Delete(root);
      free(csv.s);
      return cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "writing the summary");
    }
    /* Dataset-level scores (no interval: one value per dataset). */
    cJSON *jd = cJSON_AddObjectToObject(jm, "dataset");
    if (R->box_n[m]) {
      double tau;
      double v1 = sal_boxacc_max(&R->box[m], &tau), v2 = sal_boxacc_max_v2(&R->box[m]);
      cJSON_AddNumberToObject(jd, "maxboxacc", v1);
      cJSON_AddNumberToObject(jd, "maxboxacc_tau", tau);
      cJSON_AddNumberToObject(jd, "maxboxacc_v2", v2);
      cJSON_AddNumberToObject(jd, "maxboxacc_images", (double)R->box_n[m]);
      CSV("%s,maxboxacc,%lld,%.17g,,,\n", R->names[m], (long long)R->box_n[m], v1);
      CSV("%s,maxboxacc_v2,%lld,%.17g,,,\n", R->names[m], (long long)R->box_n[m], v2);
    }
    if (R->px_n[m]) {
      double v = sal_pxap_value(&R->px[m]);
      cJSON_AddNumberToObject(jd, "pxap", v);
      cJSON_AddNumberToObject(jd, "pxap_images", (double)R->px_n[m]);
      CSV("%s,pxap,%lld,%.17g,,,\n", R->names[m], (long long)R->px_n[m], v);
    }
    if (R->pt_classes[m]) {
      /* The pointing game's score: the mean over classes with trials of their hit rates (Zhang et
       * al.), as sal_pointing_value computes it. */
      sal_pointing *p = NULL;
      int64_t trials = 0;
      if (sal_pointing_new(ctx, R->pt_classes[m], &p) == SAL_STATUS_OK) {
        for (int64_t c = 0; c < R->pt_classes[m]; c++)
          for (int64_t t = 0; t < R->pt_trials[m][c]; t++) sal_pointing_add(ctx, p, c, t < R->pt_hits[m][c]);
        for (int64_t c = 0; c < R->pt_classes[m]; c++) trials += R->pt_trials[m][c];
        double v = sal_pointing_value(p);
        cJSON_AddNumberToObject(jd, "pointing_game", v);
        cJSON_AddNumberToObject(jd, "pointing_images", (double)trials);
        CSV("%s,pointing_game,%lld,%.17g,,,\n", R->names[m], (long long)trials, v);
        sal_pointing_free(p);
      }
    }
  }
#undef CSV
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  char path[4096];
  int rc = 0;
  const char *names[2] = {"summary.json", "summary.csv"};
  const char *bodies[2] = {text, csv.failed ? NULL : csv.s};
  for (int k = 0; k < 2 && !rc; k++) {
    if (!bodies[k]) {
      rc = cli_fail(ctx, SAL_STATUS_OUT_OF_MEMORY, "writing the summary");
      break;
    }
    snprintf(path, sizeof path, "%s/%s", s->out, names[k]);
    sal__atomic_file af;
    sal_status st = sal__atomic_open(ctx, path, &af);
    if (!st) {
      bool ok = fputs(bodies[k], af.f) >= 0 && (k == 1 || fputc('\n', af.f) != EOF);
      st = sal__atomic_commit(ctx, &af, ok);
    }
    if (st) rc = cli_fail(ctx, st, "writing the summary");
  }
  free(text);
  free(csv.s);
  return rc;
}
