/* report.html of a `salient eval` directory: reads summary.json, settings.json, run.json,
 * results.jsonl, gallery/ and sanity.json, and writes one self-contained page (inline CSS and SVG,
 * images as data: URIs, no script) atomically. Called by `salient eval` at the end of a run and by
 * `salient report DIR`; the page is described in docs/report.md. */
#define _POSIX_C_SOURCE 200809L
#include "salient/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/atomic.h"
#include "report/report_internal.h"

#define MAX_JSON_BYTES ((size_t)256 << 20)  /* summary, settings, run, sanity: far below this */
#define MAX_IMAGE_BYTES ((size_t)32 << 20)  /* one embedded PNG */
#define MAX_METHODS 64
#define MAX_GALLERY 256 /* items scanned when run.json does not say how many were rendered */

typedef struct report {
  sal_ctx *ctx;
  const char *dir;
  cJSON *summary, *settings, *run, *sanity; /* NULL when absent (summary: required) */
  const char *methods[MAX_METHODS];         /* summary order */
  const cJSON *mjson[MAX_METHODS];
  int n_methods;
  sal__buf b;
} report;

/* ---- reading ---- */

/* dir/name parsed as JSON into *out. A missing optional file gives NULL; a missing required one
 * NOT_FOUND; unparsable text BAD_INPUT with the byte where parsing stopped. */
static sal_status read_json(report *r, const char *name, bool required, cJSON **out) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", r->dir, name);
  *out = NULL;
  char *data = NULL;
  size_t n = 0;
  sal_status st = sal__read_file(r->ctx, path, MAX_JSON_BYTES, &data, &n);
  if (st == SAL_STATUS_NOT_FOUND && !required) return SAL_STATUS_OK;
  if (st == SAL_STATUS_NOT_FOUND)
    return sal_ctx_error(r->ctx, st, "%s not found: is %s the output directory of a finished salient eval?", path,
                         r->dir);
  if (st) return st;
  const char *end = NULL;
  *out = cJSON_ParseWithLengthOpts(data, n, &end, false);
  size_t at = end ? (size_t)(end - data) : 0;
  sal_free(data);
  if (!*out) return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s is not valid JSON (parsing stopped at byte %zu)", path, at);
  if (!cJSON_IsObject(*out)) {
    cJSON_Delete(*out);
    *out = NULL;
    return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s is not a JSON object", path);
  }
  return SAL_STATUS_OK;
}

static const char *jstr(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A number array of exactly n entries into v (null = NaN); false when it is not one. */
static bool jarray(const cJSON *a, double *v, int64_t n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return false;
  int64_t i = 0;
  for (const cJSON *e = a->child; e; e = e->next, i++) {
    if (cJSON_IsNumber(e)) v[i] = e->valuedouble;
    else if (cJSON_IsNull(e)) v[i] = NAN;
    else return false;
  }
  return true;
}

/* Method names become parts of file names (gallery/<item>.<method>.png): only plain ones are. */
static bool plain_name(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
      return false;
  return true;
}

static bool file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ---- page pieces ---- */

#define P(...) sal__buf_printf(&r->b, __VA_ARGS__)
#define S(s) sal__buf_puts(&r->b, s)
#define H(s) sal__buf_html(&r->b, s)

/* A number in a table: 3 decimals for ordinary magnitudes, else 4 significant digits. */
static void num(report *r, double v) {
  if (!isfinite(v)) S("–");
  else if (fabs(v) >= 1e-3 && fabs(v) < 1e4) P("%.3f", v);
  else if (v == 0) S("0");
  else P("%.4g", v);
}

/* Embeds the PNG at dir/rel as an <img>, or a placeholder saying why it cannot. rel must stay
 * inside dir (no absolute path, no "..") since it may come from a file. */
static void embed_png(report *r, const char *rel, const char *alt, const char *cls) {
  char path[4096];
  bool inside = rel[0] != '/' && strstr(rel, "..") == NULL;
  snprintf(path, sizeof path, "%s/%s", r->dir, rel);
  char *data = NULL;
  size_t n = 0;
  sal_status st = inside ? sal__read_file(r->ctx, path, MAX_IMAGE_BYTES, &data, &n) : SAL_STATUS_BAD_INPUT;
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (st || n < 8 || memcmp(data, sig, 8) != 0) {
    S("<div class=\"missing\">");
    H(rel);
    S(st == SAL_STATUS_NOT_FOUND ? "<br>not found" : !inside ? "<br>outside the directory" : "<br>not a PNG file");
    S("</div>");
    sal_free(data);
    return;
  }
  P("<img class=\"%s\" alt=\"", cls);
  H(alt);
  S("\" src=\"data:image/png;base64,");
  sal__buf_base64(&r->b, data, n);
  S("\">");
  sal_free(data);
}

static const char *css =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d1d1f;"
    "background:#fff;margin:0 auto;max-width:1240px;padding:16px 24px 48px}"
    "h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}"
    "h3{font-size:15px;margin:18px 0 6px}nav a{margin-right:14px}p.note{color:#555;max-width:900px}"
    "table{border-collapse:collapse;margin:6px 0 10px}th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:left;"
    "vertical-align:top}th{background:#f3f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.best{background:#dff3e2;font-weight:600}code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12.5px}"
    "td.params{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px;max-width:760px;word-break:break-all}"
    ".charts{display:flex;flex-wrap:wrap;gap:14px}.plot{background:#fff;border:1px solid #e2e2e2}"
    ".plot .pt{font-size:13px;font-weight:600}.plot .tick{font-size:11px;fill:#444}.plot .al{font-size:12px;fill:#222}"
    ".plot .lg{font-size:12px}.plot .grid{stroke:#eee}.plot .axis{stroke:#555}.plot .ci{stroke:#111;stroke-width:1.3;fill:none}"
    "table.gallery td{text-align:center;font-size:12px}img.g{width:160px;height:auto;image-rendering:pixelated;display:block}"
    "img.s{width:120px;height:auto;image-rendering:pixelated;display:block}.missing{width:120px;padding:20px 4px;"
    "background:#f6f6f6;color:#888;font-size:11px;word-break:break-all}.dim{color:#777}";

/* ---- (a) metadata ---- */

static void row_start(report *r, const char *label) {
  S("<tr><th>");
  H(label);
  S("</th><td>");
}

static void row_text(report *r, const char *label, const char *value) {
  if (!value) return;
  row_start(r, label);
  H(value);
  S("</td></tr>");
}

static void section_meta(report *r) {
  const cJSON *set = r->settings, *run = r->run;
  S("<h2 id=\"meta\">Run</h2><table>");
  const char *model = jstr(set, "model") ? jstr(set, "model") : jstr(r->summary, "model");
  row_text(r, "model", model);
  row_start(r, "model SHA-256");
  const char *sha = jstr(run, "model_sha256");
  if (sha) {
    S("<span class=\"mono\">");
    H(sha);
    S("</span>");
    double bytes = jnum(run, "model_bytes");
    if (isfinite(bytes)) P(" <span class=\"dim\">(%.0f bytes)</span>", bytes);
  } else if (run && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(run, "model_sha256"))) {
    P("none: a built-in architecture, weights drawn from seed %.0f", jnum(set, "seed"));
  } else {
    S("<span class=\"dim\">not recorded (run.json absent: a run of an older salient)</span>");
  }
  S("</td></tr>");
  row_text(r, "data", jstr(set, "data") ? jstr(set, "data") : jstr(r->summary, "data"));
  if (jstr(run, "data_sha256")) {
    row_start(r, "data SHA-256");
    S("<span class=\"mono\">");
    H(jstr(run, "data_sha256"));
    S("</span> <span class=\"dim\">(the manifest file)</span></td></tr>");
  }
  double items = jnum(run, "items"), ds_items = jnum(run, "dataset_items");
  if (isfinite(items)) {
    row_start(r, "items");
    P("%.0f evaluated", items);
    if (isfinite(ds_items)) P(" of %.0f in the data", ds_items);
    double bad = jnum(run, "bad_rows");
    if (isfinite(bad) && bad > 0) P(", %.0f bad row%s skipped", bad, bad == 1 ? "" : "s");
    S("</td></tr>");
  }
  if (isfinite(jnum(set, "seed"))) {
    row_start(r, "seed");
    P("%.0f <span class=\"dim\">(the weights of a built-in model; each method's own seed is in its parameters)</span>",
      jnum(set, "seed"));
    S("</td></tr>");
  }
  row_text(r, "target", jstr(set, "target"));
  row_text(r, "input", jstr(set, "input"));
  row_text(r, "metric groups", jstr(set, "metrics"));
  row_text(r, "overlap percentiles", jstr(set, "percentiles"));
  if (isfinite(jnum(set, "tolerance"))) {
    row_start(r, "pointing tolerance");
    P("%g px", jnum(set, "tolerance"));
    S("</td></tr>");
  }
  row_text(r, "interval", jstr(r->summary, "interval"));
  row_text(r, "command", jstr(run, "command"));
  if (jstr(run, "date")) {
    row_start(r, "run finished");
    H(jstr(run, "date"));
    if (jstr(run, "salient")) {
      S(" by salient ");
      H(jstr(run, "salient"));
    }
    if (jstr(run, "onednn")) {
      S(", oneDNN ");
      H(jstr(run, "onednn"));
    }
    S("</td></tr>");
  }
  char when[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  const dnnl_version_t *v = dnnl_version();
  row_start(r, "report written");
  H(when);
  P(" by salient %s, oneDNN %d.%d.%d", sal_version(), v->major, v->minor, v->patch);
  S("</td></tr></table>");
  /* every method with its full parameters, as the run resolved them */
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(set, "methods");
  S("<h3>Methods</h3><table><tr><th>method</th><th>images</th><th>parameters</th></tr>");
  for (int m = 0; m < r->n_methods; m++) {
    S("<tr><td>");
    H(r->methods[m]);
    P("</td><td class=\"n\">%.0f", jnum(r->mjson[m], "images"));
    S("</td><td class=\"params\">");
    const char *p = jstr(ms, r->methods[m]);
    if (p) H(p);
    else S("<span class=\"dim\">not in settings.json</span>");
    S("</td></tr>");
  }
  S("</table>");
}

/* ---- (b) metrics table ---- */

typedef struct metric_info {
  const char *key;
  bool prefix;     /* key is a prefix followed by the percentile */
  int better;      /* +1 higher is better, -1 lower, 0 descriptive */
  const char *what;
} metric_info;

static const metric_info infos[] = {
    {"loc", false, 1, "localisation: the map's box has IoU > 0.5 with a true box"},
    {"loc_iou", false, 1, "best IoU of the map's box with a true box"},
    {"om", false, 1, "OM: localised and classified right"},
    {"pointing", false, 1, "pointing: the map's maximum within the tolerance of the mask"},
    {"dice_p", true, 1, "Dice of the top pixels with the mask at percentile"},
    {"iou_p", true, 1, "IoU of the top pixels with the mask at percentile"},
    {"ppv_p", true, 1, "precision of the top pixels at percentile"},
    {"sens_p", true, 1, "sensitivity (recall at equal area) at percentile"},
    {"f1", false, 1, "F1 of the normalised map against the mask"},
    {"gini", false, 0, "Gini index of |map| (higher = sparser)"},
    {"area", false, 0, "mean of the normalised map"},
    {"entropy", false, 0, "normalised entropy of |map| (lower = more concentrated)"},
    {"insertion", false, 1, "insertion AUC (Petsiuk et al.)"},
    {"deletion", false, -1, "deletion AUC (Petsiuk et al.)"},
    {"saliency_metric", false, -1, "saliency metric log(max(a, 0.05)) − log p (Dabkowski & Gal)"},
    {"maxboxacc", false, 1, "MaxBoxAcc (dataset-level, Choe et al.)"},
    {"maxboxacc_v2", false, 1, "MaxBoxAccV2 (dataset-level)"},
    {"pxap", false, 1, "PxAP (dataset-level)"},
    {"pointing_game", false, 1, "pointing game: mean over classes of the hit rate (dataset-level)"},
};

static const metric_info *info_of(const char *key) {
  for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++)
    if (!infos[i].prefix && strcmp(key, infos[i].key) == 0) return &infos[i];
  for (size_t i = 0; i < sizeof infos / sizeof infos[0]; i++)
    if (infos[i].prefix && strncmp(key, infos[i].key, strlen(infos[i].key)) == 0) return &infos[i];
  return NULL;
}

static const char *const dataset_keys[] = {"maxboxacc", "maxboxacc_v2", "pxap", "pointing_game"};
static const char *const dataset_n[] = {"maxboxacc_images", "maxboxacc_images", "pxap_images", "pointing_images"};

/* The value of metric key for method m: a per-image mean with its interval (NaN when null) and n,
 * or a dataset-level score (no interval). False when the method has no such metric. */
static bool metric_value(const report *r, int m, const char *key, double *mean, double *lo, double *hi, double *n) {
  *mean = *lo = *hi = *n = NAN;
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r->mjson[m], "metrics"), key);
  if (cJSON_IsObject(e)) {
    *mean = jnum(e, "mean");
    *n = jnum(e, "n");
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(e, "ci95");
    if (cJSON_GetArraySize(ci) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(ci, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(ci, 1))) {
      *lo = cJSON_GetArrayItem(ci, 0)->valuedouble;
      *hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
    }
    return true;
  }
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(r->mjson[m], "dataset");
  for (int k = 0; k < 4; k++)
    if (strcmp(key, dataset_keys[k]) == 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, key))) {
      *mean = jnum(d, key);
      *n = jnum(d, dataset_n[k]);
      return true;
    }
  return false;
}

/* Every metric key of the summary in order: the per-image ones (the first method's order, then
 * any other method's), then the dataset-level ones present. */
static int metric_keys(const report *r, const char **keys, int cap) {
  int n = 0;
  for (int m = 0; m < r->n_methods; m++) {
    const cJSON *mets = cJSON_GetObjectItemCaseSensitive(r->mjson[m], "metrics");
    for (const cJSON *e = mets ? mets->child : NULL; e; e = e->next) {
      bool have = false;
      for (int k = 0; k < n; k++) have = have || strcmp(keys[k], e->string) == 0;
      if (!have && n < cap) keys[n++] = e->string;
    }
  }
  for (int k = 0; k < 4; k++) {
    bool any = false;
    for (int m = 0; m < r->n_methods; m++) {
      const cJSON *d = cJSON_GetObjectItemCaseSensitive(r->mjson[m], "dataset");
      any = any || cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(d, dataset_keys[k]));
    }
    if (any && n < cap) keys[n++] = dataset_keys[k];
  }
  return n;
}

static void section_table(report *r) {
  const char *keys[128];
  int nk = metric_keys(r, keys, 128);
  S("<h2 id=\"metrics\">Metrics</h2><p class=\"note\">Mean ± half the 95 % interval over the images that have the "
    "metric (hover for n and the interval); dataset-level scores have no interval. The best method per metric is "
    "highlighted where the direction of “better” is defined (↑ higher, ↓ lower); sparsity measures are descriptive. "
    "Definitions: docs/metrics.md.</p>");
  S("<table><tr><th>metric</th><th>better</th>");
  for (int m = 0; m < r->n_methods; m++) {
    S("<th>");
    H(r->methods[m]);
    S("</th>");
  }
  S("<th>meaning</th></tr>");
  for (int k = 0; k < nk; k++) {
    const metric_info *in = info_of(keys[k]);
    int better = in ? in->better : 0;
    double best = NAN;
    for (int m = 0; m < r->n_methods && better; m++) {
      double mean, lo, hi, n;
      if (metric_value(r, m, keys[k], &mean, &lo, &hi, &n) && isfinite(mean))
        if (!isfinite(best) || (better > 0 ? mean > best : mean < best)) best = mean;
    }
    S("<tr><td class=\"mono\">");
    H(keys[k]);
    P("</td><td>%s</td>", better > 0 ? "↑ higher" : better < 0 ? "↓ lower" : "–");
    for (int m = 0; m < r->n_methods; m++) {
      double mean, lo, hi, n;
      bool have = metric_value(r, m, keys[k], &mean, &lo, &hi, &n);
      bool is_best = have && isfinite(mean) && mean == best;
      P("<td class=\"n%s\"", is_best ? " best" : "");
      if (have) {
        P(" title=\"n = %.0f", n);
        if (isfinite(lo)) P(", 95 %% interval [%.4g, %.4g]", lo, hi);
        S("\"");
      }
      S(">");
      if (!have || !isfinite(mean)) S("<span class=\"dim\">–</span>");
      else {
        num(r, mean);
        if (isfinite(lo)) {
          S(" ± ");
          num(r, (hi - lo) / 2);
        }
      }
      S("</td>");
    }
    S("<td>");
    if (in) {
      H(in->what);
      if (in->prefix) P(" %s", keys[k] + strlen(in->key));
    }
    S("</td></tr>");
  }
  S("</table>");
}

/* ---- (c) comparison charts ---- */

/* One grouped bar chart of the listed metric keys (those present), bars = methods. Keys ending in
 * '*' match every key with that prefix (the percentiles). */
static void chart(report *r, const char *title, const char *const *want, int n_want, bool strip_prefix) {
  const char *all[128], *keys[128], *labels[128];
  int na = metric_keys(r, all, 128), nk = 0;
  for (int w = 0; w < n_want; w++) {
    size_t len = strlen(want[w]);
    bool pre = want[w][len - 1] == '*';
    for (int k = 0; k < na && nk < 128; k++)
      if (pre ? strncmp(all[k], want[w], len - 1) == 0 : strcmp(all[k], want[w]) == 0) {
        keys[nk] = all[k];
        labels[nk++] = strip_prefix && pre ? all[k] + len - 2 : all[k];
      }
  }
  if (nk == 0) return;
  size_t nv = (size_t)nk * (size_t)r->n_methods;
  double *v = malloc(3 * nv * sizeof *v);
  if (!v) {
    r->b.failed = true;
    return;
  }
  bool any = false;
  for (int k = 0; k < nk; k++)
    for (int m = 0; m < r->n_methods; m++) {
      size_t i = (size_t)k * (size_t)r->n_methods + (size_t)m;
      double n;
      metric_value(r, m, keys[k], &v[i], &v[nv + i], &v[2 * nv + i], &n);
      any = any || isfinite(v[i]);
    }
  if (any) {
    sal__bar_chart c = {title, "mean (95 % interval)", labels, nk, r->methods, r->n_methods, v, v + nv, v + 2 * nv, 0, 0};
    sal__svg_bar_chart(&r->b, &c);
  }
  free(v);
}

static void section_charts(report *r) {
  S("<h2 id=\"charts\">Comparisons</h2><p class=\"note\">Bars: the mean per method; whiskers: the 95 % interval "
    "mean ± 1.96 s/√n (none for dataset-level scores and for n &lt; 2).</p><div class=\"charts\">");
  static const char *const loc[] = {"loc", "loc_iou", "om", "pointing", "f1", "maxboxacc", "maxboxacc_v2", "pxap", "pointing_game"};
  chart(r, "Localisation and pointing", loc, 9, false);
  static const char *const dice[] = {"dice_p*"}, *const iou[] = {"iou_p*"}, *const ppv[] = {"ppv_p*"},
                           *const sens[] = {"sens_p*"};
  chart(r, "Dice at percentile p", dice, 1, true);
  chart(r, "IoU at percentile p", iou, 1, true);
  chart(r, "Precision at percentile p", ppv, 1, true);
  chart(r, "Sensitivity at percentile p", sens, 1, true);
  static const char *const sp[] = {"gini", "area", "entropy"};
  chart(r, "Sparsity (descriptive)", sp, 3, false);
  static const char *const causal[] = {"insertion", "deletion"};
  chart(r, "Insertion (↑) and deletion (↓) AUC", causal, 2, false);
  static const char *const sm[] = {"saliency_metric"};
  chart(r, "Saliency metric (↓)", sm, 1, false);
  S("</div>");
}

/* ---- (d) insertion and deletion curves ---- */

static sal_status section_curves(report *r) {
  S("<h2 id=\"curves\">Insertion and deletion curves</h2>");
  static const char *const kinds[2] = {"insertion", "deletion"};
  sal__series se[MAX_METHODS];
  char names[MAX_METHODS][160];
  double *mem[2 * MAX_METHODS] = {0};
  int any = 0;
  sal_status st = SAL_STATUS_OK;
  for (int k = 0; k < 2 && !st; k++) {
    int ns = 0;
    for (int m = 0; m < r->n_methods; m++) {
      const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->mjson[m], "curves");
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(c, kinds[k]);
      if (!c || !a) continue;
      int64_t n = cJSON_GetArraySize(a);
      double *xy = n >= 2 ? malloc(2 * (size_t)n * sizeof *xy) : NULL;
      if (n < 2 || !xy || !jarray(a, xy + n, n)) {
        free(xy);
        st = sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/summary.json: method %s: curves.%s is not an array of "
                           "at least 2 numbers", r->dir, r->methods[m], kinds[k]);
        break;
      }
      mem[k * MAX_METHODS + m] = xy;
      for (int64_t i = 0; i < n; i++) xy[i] = (double)i / (double)(n - 1);
      double mean, lo, hi, cnt;
      metric_value(r, m, kinds[k], &mean, &lo, &hi, &cnt);
      snprintf(names[ns], sizeof names[ns], "%s (AUC %.3f, %.0f images)", r->methods[m], mean, jnum(c, "images"));
      se[ns] = (sal__series){names[ns], xy, xy + n, n, false};
      ns++;
    }
    if (ns == 0 || st) continue;
    if (!any) S("<p class=\"note\">The mean over images of the class probability as pixels are moved in the order of "
                "decreasing saliency (deletion: set to the model-input zero; insertion: restored into a blurred copy). "
                "The AUC in the legend is the mean of the images' AUCs, which equals the area under the mean curve "
                "(trapezoid rule).</p><div class=\"charts\">");
    any++;
    char title[64];
    snprintf(title, sizeof title, "%s (%s is better)", k == 0 ? "Insertion" : "Deletion", k == 0 ? "higher" : "lower");
    sal__line_plot p = {title, "fraction of pixels moved", "probability of the class", NULL, 0, 0, 1, se, ns, 520, 320};
    sal__svg_line_plot(&r->b, &p);
  }
  if (any) S("</div>");
  for (int i = 0; i < 2 * MAX_METHODS; i++) free(mem[i]);
  if (!any && !st)
    S("<p class=\"note\">No curves in this run: the insertion/deletion metrics were not computed. Run "
      "<code>salient eval … --metrics …,insdel</code> to add them.</p>");
  return st;
}

/* ---- (e) gallery ---- */

typedef struct gitem {
  bool have;
  char *path;
  int64_t label, target, top1;
} gitem;

/* Item facts of results.jsonl for items < n (first line of each). Unreadable lines are skipped:
 * the file may be growing while the report is written. */
static void gallery_items(report *r, gitem *g, int64_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/results.jsonl", r->dir);
  FILE *f = fopen(path, "rb");
  if (!f) return;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    /* eval's lines open with the item: those past the gallery are not parsed (they may be many) */
    if (strncmp(line, "{\"item\":", 8) == 0 && strtoll(line + 8, NULL, 10) >= n) continue;
    cJSON *j = cJSON_Parse(line);
    double it = jnum(j, "item");
    if (isfinite(it) && it >= 0 && it < (double)n && !g[(int64_t)it].have && jstr(j, "path")) {
      gitem *e = &g[(int64_t)it];
      e->path = strdup(jstr(j, "path"));
      e->have = e->path != NULL;
      e->label = (int64_t)jnum(j, "label");
      e->target = (int64_t)jnum(j, "target");
      e->top1 = (int64_t)jnum(j, "top1");
    }
    cJSON_Delete(j);
  }
  free(line);
  fclose(f);
}

static void class_name(report *r, int64_t k) {
  const cJSON *cl = cJSON_GetObjectItemCaseSensitive(r->run, "classes");
  const cJSON *e = k >= 0 && k < cJSON_GetArraySize(cl) ? cJSON_GetArrayItem(cl, (int)k) : NULL;
  if (cJSON_IsString(e)) H(e->valuestring);
  else P("class %lld", (long long)k);
}

static void section_gallery(report *r) {
  S("<h2 id=\"gallery\">Gallery</h2>");
  double gn = jnum(r->run, "gallery");
  int64_t n = isfinite(gn) && gn >= 0 ? (int64_t)fmin(gn, 1e6) : MAX_GALLERY;
  char rel[512];
  int64_t shown = 0;
  gitem *g = n > 0 ? calloc((size_t)n, sizeof *g) : NULL;
  if (n > 0 && !g) {
    r->b.failed = true;
    return;
  }
  if (n > 0) gallery_items(r, g, n);
  for (int64_t k = 0; k < n; k++) {
    char path[4096];
    snprintf(rel, sizeof rel, "gallery/%lld.input.png", (long long)k);
    snprintf(path, sizeof path, "%s/%s", r->dir, rel);
    if (!file_exists(path)) continue;
    if (shown++ == 0) {
      S("<p class=\"note\">The first items of the data: the model input, then each method's normalised map (jet "
        "colour map, blue = 0, red = 1) blended over it. Ground truth: white = the outline of the object mask, "
        "magenta = the boxes of the image's class.</p><table class=\"gallery\"><tr><th>item</th><th>input</th>");
      for (int m = 0; m < r->n_methods; m++) {
        S("<th>");
        H(r->methods[m]);
        S("</th>");
      }
      S("</tr>");
    }
    P("<tr><td>%lld", (long long)k);
    if (g[k].have) {
      const char *base = strrchr(g[k].path, '/');
      S("<br><span class=\"mono\">");
      H(base ? base + 1 : g[k].path);
      S("</span><br>label: ");
      class_name(r, g[k].label);
      S("<br>top-1: ");
      class_name(r, g[k].top1);
      if (g[k].target != g[k].label) {
        S("<br>explained: ");
        class_name(r, g[k].target);
      }
    }
    S("</td><td>");
    embed_png(r, rel, "input", "g");
    S("</td>");
    for (int m = 0; m < r->n_methods; m++) {
      S("<td>");
      if (plain_name(r->methods[m])) {
        snprintf(rel, sizeof rel, "gallery/%lld.%s.png", (long long)k, r->methods[m]);
        embed_png(r, rel, r->methods[m], "g");
      }
      S("</td>");
    }
    S("</tr>");
  }
  if (shown) S("</table>");
  else
    S("<p class=\"note\">No gallery images in this run: <code>salient eval --gallery G</code> (default 6) renders the "
      "first G items as they are evaluated.</p>");
  for (int64_t k = 0; g && k < n; k++) free(g[k].path);
  free(g);
}

/* ---- (f) sanity checks ---- */

static sal_status section_sanity(report *r) {
  S("<h2 id=\"sanity\">Sanity checks</h2>");
  if (!r->sanity) {
    S("<p class=\"note\">No sanity checks in this run. <code>salient eval … --sanity N</code> runs the "
      "model-randomisation test of Adebayo et al. (2018) on N images and writes <code>sanity.json</code> and "
      "<code>sanity/</code>; <code>salient report DIR</code> then adds them here.</p>");
    return SAL_STATUS_OK;
  }
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(r->sanity, "methods");
  if (!cJSON_IsObject(ms))
    return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/sanity.json has no \"methods\" object", r->dir);
  P("<p class=\"note\">Cascading randomisation (Adebayo et al., “Sanity Checks for Saliency Maps”, NeurIPS 2018): "
    "stage 0 is the trained model, stage s has its top s parameterised layers re-initialised from the output down. "
    "Each point is the mean over %.0f images of the similarity between the map of the trained model and the map at "
    "that stage: a method that depends on the model should fall towards 0. The maps are those of the first image.</p>",
    jnum(r->sanity, "images"));
  static const char *const arrays[3] = {"spearman", "spearman_abs", "ssim"};
  static const char *const labels[3] = {"Spearman", "|Spearman| (of |map|)", "SSIM"};
  for (const cJSON *m = ms->child; m; m = m->next) {
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(m, "stages");
    int n = cJSON_GetArraySize(stages);
    if (!cJSON_IsArray(stages) || n < 1 || n > 4096)
      return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/sanity.json: method %s: \"stages\" must be a non-empty array",
                           r->dir, m->string);
    const char **names = calloc((size_t)n, sizeof *names);
    double *v = malloc((size_t)(4 * n) * sizeof *v);
    sal_status st = names && v ? SAL_STATUS_OK : sal_ctx_error(r->ctx, SAL_STATUS_OUT_OF_MEMORY, "report: sanity");
    int i = 0;
    for (const cJSON *e = stages->child; !st && e; e = e->next, i++) {
      if (!cJSON_IsString(e))
        st = sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/sanity.json: method %s: stage %d is not a string", r->dir,
                           m->string, i);
      else names[i] = e->valuestring, v[i] = i;
    }
    sal__series se[3];
    for (int a = 0; a < 3 && !st; a++) {
      if (!jarray(cJSON_GetObjectItemCaseSensitive(m, arrays[a]), v + (a + 1) * n, n))
        st = sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/sanity.json: method %s: \"%s\" must be %d numbers or nulls "
                           "(one per stage)", r->dir, m->string, arrays[a], n);
      se[a] = (sal__series){labels[a], v, v + (a + 1) * n, n, a == 1};
    }
    if (!st) {
      S("<h3>");
      H(m->string);
      S("</h3><div class=\"charts\">");
      char title[200];
      snprintf(title, sizeof title, "%.150s: similarity to the trained model's map", m->string);
      sal__line_plot p = {title, NULL, "similarity", names, n, NAN, 1, se, 3, n > 8 ? 40 * n + 120 : 480, 340};
      if (p.width > 1200) p.width = 1200;
      sal__svg_line_plot(&r->b, &p);
      S("</div>");
      const cJSON *maps = cJSON_GetObjectItemCaseSensitive(m, "maps");
      if (cJSON_IsArray(maps)) {
        S("<table class=\"gallery\"><tr>");
        int k = 0;
        for (const cJSON *e = maps->child; e; e = e->next, k++) {
          S("<td>");
          if (cJSON_IsString(e)) embed_png(r, e->valuestring, k < n ? names[k] : "map", "s");
          S("<br>");
          if (k < n) H(names[k]);
          S("</td>");
        }
        S("</tr></table>");
      }
    }
    free(names);
    free(v);
    if (st) return st;
  }
  return SAL_STATUS_OK;
}

/* ---- the page ---- */

static sal_status build(report *r) {
  sal_status st = read_json(r, "summary.json", true, &r->summary);
  if (!st) st = read_json(r, "settings.json", false, &r->settings);
  if (!st) st = read_json(r, "run.json", false, &r->run);
  if (!st) st = read_json(r, "sanity.json", false, &r->sanity);
  if (st) return st;
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(r->summary, "methods");
  if (!cJSON_IsObject(ms))
    return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/summary.json has no \"methods\" object", r->dir);
  for (const cJSON *m = ms->child; m; m = m->next) {
    if (r->n_methods == MAX_METHODS || !cJSON_IsObject(m))
      return sal_ctx_error(r->ctx, SAL_STATUS_BAD_INPUT, "%s/summary.json: %s", r->dir,
                           cJSON_IsObject(m) ? "more than 64 methods" : "a method entry is not an object");
    r->methods[r->n_methods] = m->string;
    r->mjson[r->n_methods++] = m;
  }
  S("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>salient eval: ");
  H(r->dir);
  S("</title><style>");
  S(css);
  S("</style></head><body><h1>salient evaluation report</h1><p class=\"dim mono\">");
  H(r->dir);
  S("</p><nav><a href=\"#meta\">run</a><a href=\"#metrics\">metrics</a><a href=\"#charts\">comparisons</a>"
    "<a href=\"#curves\">curves</a><a href=\"#gallery\">gallery</a><a href=\"#sanity\">sanity checks</a></nav>\n");
  section_meta(r);
  S("\n");
  section_table(r);
  S("\n");
  section_charts(r);
  S("\n");
  st = section_curves(r);
  S("\n");
  if (!st) section_gallery(r);
  S("\n");
  if (!st) st = section_sanity(r);
  S("\n<p class=\"dim\">Written by salient ");
  H(sal_version());
  S(". Regenerate with <code>salient report ");
  H(r->dir);
  S("</code>.</p></body></html>\n");
  return st;
}

sal_status sal_report_write(sal_ctx *ctx, const char *dir) {
  report r = {ctx, dir, NULL, NULL, NULL, NULL, {0}, {0}, 0, {0}};
  sal_status st = build(&r);
  if (!st && r.b.failed) st = sal_ctx_error(ctx, SAL_STATUS_OUT_OF_MEMORY, "report: out of memory building the page");
  char path[4096];
  snprintf(path, sizeof path, "%s/report.html", dir);
  if (!st) {
    sal__atomic_file af;
    st = sal__atomic_open(ctx, path, &af);
    if (!st) st = sal__atomic_commit(ctx, &af, fwrite(r.b.s, 1, r.b.len, af.f) == r.b.len);
  }
  cJSON_Delete(r.summary);
  cJSON_Delete(r.settings);
  cJSON_Delete(r.run);
  cJSON_Delete(r.sanity);
  sal__buf_free(&r.b);
  return st;
}
