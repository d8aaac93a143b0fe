/* Box-based metrics of saliency maps: connected components of a binarised map, localisation error
 * (and OM), MaxBoxAcc / MaxBoxAccV2 and PxAP (Choe et al. 2020), and the D-WSOL hit. Called by
 * evaluation runs and benchmarks on maps from sal_explain; conventions in docs/metrics.md. */
#include "salient/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "eval/eval.h"

double sal_box_iou(const sal_box *a, const sal_box *b) {
  double iw = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), ih = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
  double inter = iw > 0 && ih > 0 ? iw * ih : 0;
  double aa = fmax(0, (double)a->x1 - a->x0) * fmax(0, (double)a->y1 - a->y0);
  double ab = fmax(0, (double)b->x1 - b->x0) * fmax(0, (double)b->y1 - b->y0);
  double uni = aa + ab - inter;
  return uni > 0 ? inter / uni : 0;
}

sal_status sal__eval_check_map(sal_ctx *ctx, const float *map, int64_t h, int64_t w) {
  if (!map || h < 1 || w < 1 || h > ((int64_t)1 << 20) || w > ((int64_t)1 << 20) || h * w > ((int64_t)1 << 30))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: a map of %lldx%lld values (need 1..2^30 values)",
                         (long long)h, (long long)w);
  for (int64_t i = 0; i < h * w; i++)
    if (!isfinite(map[i]))
      return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "metrics: map value at (row %lld, column %lld) is not finite",
                           (long long)(i / w), (long long)(i % w));
  return SAL_STATUS_OK;
}

int64_t sal__eval_argmax(const float *map, int64_t n) {
  int64_t best = 0;
  bool constant = true;
  for (int64_t i = 1; i < n; i++) {
    if (map[i] != map[0]) constant = false;
    if (map[i] > map[best]) best = i;
  }
  return constant ? -1 : best;
}

typedef struct ranked {
  float v;
  int64_t i;
} ranked;

/* Larger value first; equal values in row-major order. */
static int by_value(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->v != y->v) return x->v > y->v ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

sal_status sal__eval_rank(sal_ctx *ctx, const float *map, int64_t n, int64_t *order) {
  ranked *r = sal_alloc(ctx, (size_t)(n > 0 ? n : 1) * sizeof *r);
  if (!r) return SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; i < n; i++) r[i] = (ranked){map[i], i};
  qsort(r, (size_t)n, sizeof *r, by_value);
  for (int64_t i = 0; i < n; i++) order[i] = r[i].i;
  sal_free(r);
  return SAL_STATUS_OK;
}

void sal__eval_minmax(const float *map, int64_t n, float *out) {
  float lo = map[0], hi = map[0];
  for (int64_t i = 1; i < n; i++) lo = map[i] < lo ? map[i] : lo, hi = map[i] > hi ? map[i] : hi;
  double span = (double)hi - lo;
  for (int64_t i = 0; i < n; i++) out[i] = span > 0 ? (float)(((double)map[i] - lo) / span) : 0.0f;
}

/* Workspace of a labelling: a label per pixel, a stack of pixel indices, the components found. */
typedef struct cc_ws {
  int32_t *label;
  int64_t *stack;
  sal_component *comp;
  int64_t *first; /* first pixel (row-major) of each component: the tie-break */
  int64_t cap;    /* components the arrays hold: at most ceil(h/2) ceil(w/2) exist */
} cc_ws;

static void cc_free(cc_ws *ws) {
  sal_free(ws->label);
  sal_free(ws->stack);
  sal_free(ws->comp);
  sal_free(ws->first);
  memset(ws, 0, sizeof *ws);
}

static sal_status cc_alloc(sal_ctx *ctx, cc_ws *ws, int64_t h, int64_t w) {
  memset(ws, 0, sizeof *ws);
  ws->cap = ((h + 1) / 2) * ((w + 1) / 2);
  ws->label = sal_alloc(ctx, (size_t)(h * w) * sizeof *ws->label);
  ws->stack = sal_alloc(ctx, (size_t)(h * w) * sizeof *ws->stack);
  ws->comp = sal_alloc(ctx, (size_t)ws->cap * sizeof *ws->comp);
  ws->first = sal_alloc(ctx, (size_t)ws->cap * sizeof *ws->first);
  if (!ws->label || !ws->stack || !ws->comp || !ws->first) {
    cc_free(ws);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  return SAL_STATUS_OK;
}

/* A component's sort key: larger area first, then earlier first pixel. */
typedef struct cc_key {
  int64_t area, first, idx;
} cc_key;
static int by_area(const void *a, const void *b) {
  const cc_key *x = a, *y = b;
  if (x->area != y->area) return x->area > y->area ? -1 : 1;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* Labels the 8-connected components of {map >= t} into ws (in discovery order, i.e. by first
 * pixel) and returns how many; *largest gets the index of the largest (ties: the first found). */
static int64_t cc_label(cc_ws *ws, const float *map, int64_t h, int64_t w, float t, int64_t *largest) {
  int64_t n = 0, best = -1;
  for (int64_t i = 0; i < h * w; i++) ws->label[i] = -1;
  for (int64_t s = 0; s < h * w; s++) {
    if (ws->label[s] >= 0 || !(map[s] >= t)) continue;
    sal_component c = {{(float)(s % w), (float)(s / w), (float)(s % w + 1), (float)(s / w + 1)}, 0};
    int64_t top = 0;
    ws->stack[top++] = s;
    ws->label[s] = (int32_t)n;
    while (top > 0) {
      int64_t p = ws->stack[--top], y = p / w, x = p % w;
      c.area++;
      c.box.x0 = fminf(c.box.x0, (float)x), c.box.x1 = fmaxf(c.box.x1, (float)(x + 1));
      c.box.y0 = fminf(c.box.y0, (float)y), c.box.y1 = fmaxf(c.box.y1, (float)(y + 1));
      for (int64_t dy = -1; dy <= 1; dy++)
        for (int64_t dx = -1; dx <= 1; dx++) {
          int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
          int64_t q = yy * w + xx;
          if (ws->label[q] < 0 && map[q] >= t) {
            ws->label[q] = (int32_t)n;
            ws->stack[top++] = q;
          }
        }
    }
    ws->comp[n] = c;
    ws->first[n] = s;
    if (best < 0 || c.area > ws->comp[best].area) best = n;
    n++;
  }
  *largest = best;
  return n;
}

sal_status sal_map_components(sal_ctx *ctx, const float *map, int64_t h, int64_t w, float t, sal_component *out,
                              int64_t cap, int64_t *n) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!n || (cap > 0 && !out)) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_map_components: NULL output");
  cc_ws ws;
  if ((st = cc_alloc(ctx, &ws, h, w))) return st;
  int64_t largest, found = cc_label(&ws, map, h, w, t, &largest);
  cc_key *order = sal_alloc(ctx, (size_t)(found > 0 ? found : 1) * sizeof *order);
  if (!order) {
    cc_free(&ws);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; i < found; i++) order[i] = (cc_key){ws.comp[i].area, ws.first[i], i};
  qsort(order, (size_t)found, sizeof *order, by_area);
  for (int64_t i = 0; i < found && i < cap; i++) out[i] = ws.comp[order[i].idx];
  *n = found;
  sal_free(order);
  cc_free(&ws);
  return SAL_STATUS_OK;
}

/* The box of the largest component of the map binarised at its mean; false when nothing is
 * selected (cannot happen: the maximum is >= the mean). */
static bool mean_box(cc_ws *ws, const float *map, int64_t h, int64_t w, sal_box *box) {
  double sum = 0;
  for (int64_t i = 0; i < h * w; i++) sum += map[i];
  float mean = (float)(sum / (double)(h * w));
  /* the float mean of a constant map may round above its value: select all then */
  if (sal__eval_argmax(map, h * w) < 0) mean = map[0];
  int64_t largest;
  if (cc_label(ws, map, h, w, mean, &largest) == 0) return false;
  *box = ws->comp[largest].box;
  return true;
}

static double best_iou(const sal_box *b, const sal_box *gt, int64_t n_gt) {
  double best = 0;
  for (int64_t i = 0; i < n_gt; i++) best = fmax(best, sal_box_iou(b, &gt[i]));
  return best;
}

sal_status sal_metric_localization(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const sal_box *gt,
                                   int64_t n_gt, bool *correct, double *iou_out) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!correct || (n_gt > 0 && !gt) || n_gt < 0)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_metric_localization: NULL output or boxes");
  cc_ws ws;
  if ((st = cc_alloc(ctx, &ws, h, w))) return st;
  sal_box b;
  double iou = mean_box(&ws, map, h, w, &b) ? best_iou(&b, gt, n_gt) : 0;
  cc_free(&ws);
  *correct = iou > 0.5;
  if (iou_out) *iou_out = iou;
  return SAL_STATUS_OK;
}

void sal_boxacc_init(sal_boxacc *a) { memset(a, 0, sizeof *a); }

sal_status sal_boxacc_add(sal_ctx *ctx, sal_boxacc *a, const float *map, int64_t h, int64_t w, const sal_box *gt,
                          int64_t n_gt) {
  static const double deltas[3] = {0.3, 0.5, 0.7};
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!a || (n_gt > 0 && !gt) || n_gt < 0) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_boxacc_add: NULL accumulator or boxes");
  cc_ws ws;
  if ((st = cc_alloc(ctx, &ws, h, w))) return st;
  float *norm = sal_alloc(ctx, (size_t)(h * w) * sizeof *norm);
  if (!norm) {
    cc_free(&ws);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  sal__eval_minmax(map, h * w, norm);
  for (int k = 0; k < SAL_BOXACC_TAUS; k++) {
    float tau = (float)k / SAL_BOXACC_TAUS;
    int64_t largest, found = cc_label(&ws, norm, h, w, tau, &largest);
    if (found == 0) continue;
    if (best_iou(&ws.comp[largest].box, gt, n_gt) >= 0.5) a->hits[k]++;
    double any = 0;
    for (int64_t c = 0; c < found; c++) any = fmax(any, best_iou(&ws.comp[c].box, gt, n_gt));
    for (int d = 0; d < 3; d++) a->hits_v2[d][k] += any >= deltas[d];
  }
  a->images++;
  sal_free(norm);
  cc_free(&ws);
  return SAL_STATUS_OK;
}

static double max_over_tau(const int64_t *hits, int64_t images, double *best_tau) {
  int64_t best = 0;
  int arg = 0;
  for (int k = 0; k < SAL_BOXACC_TAUS; k++)
    if (hits[k] > best) best = hits[k], arg = k;
  if (best_tau) *best_tau = (double)arg / SAL_BOXACC_TAUS;
  return images > 0 ? (double)best / (double)images : 0;
}

double sal_boxacc_max(const sal_boxacc *a, double *best_tau) { return max_over_tau(a->hits, a->images, best_tau); }

double sal_boxacc_max_v2(const sal_boxacc *a) {
  double s = 0;
  for (int d = 0; d < 3; d++) s += max_over_tau(a->hits_v2[d], a->images, NULL);
  return s / 3;
}

void sal_pxap_init(sal_pxap *a) { memset(a, 0, sizeof *a); }

/* The largest k with v >= k / BINS (v in [0, 1]), exactly as the comparison with each threshold. */
static int score_bin(float v) {
  int k = (int)(v * SAL_PXAP_BINS);
  if (k > SAL_PXAP_BINS - 1) k = SAL_PXAP_BINS - 1;
  if (k < 0) k = 0;
  while (k > 0 && v < (float)k / SAL_PXAP_BINS) k--;
  while (k < SAL_PXAP_BINS - 1 && v >= (float)(k + 1) / SAL_PXAP_BINS) k++;
  return k;
}

sal_status sal_pxap_add(sal_ctx *ctx, sal_pxap *a, const float *map, int64_t h, int64_t w, const uint8_t *mask) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!a || !mask) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_pxap_add: NULL accumulator or mask");
  float *norm = sal_alloc(ctx, (size_t)(h * w) * sizeof *norm);
  if (!norm) return SAL_STATUS_OUT_OF_MEMORY;
  sal__eval_minmax(map, h * w, norm);
  for (int64_t i = 0; i < h * w; i++) {
    int k = score_bin(norm[i]);
    if (mask[i]) a->pos[k]++;
    else a->neg[k]++;
  }
  sal_free(norm);
  return SAL_STATUS_OK;
}

double sal_pxap_value(const sal_pxap *a) {
  int64_t total_pos = 0;
  for (int k = 0; k < SAL_PXAP_BINS; k++) total_pos += a->pos[k];
  if (total_pos == 0) return 0;
  /* From the highest threshold down: TP and FP count the pixels >= τ_k. */
  double ap = 0, r_above = 0;
  int64_t tp = 0, fp = 0;
  for (int k = SAL_PXAP_BINS - 1; k >= 0; k--) {
    tp += a->pos[k], fp += a->neg[k];
    double r = (double)tp / (double)total_pos, p = tp + fp > 0 ? (double)tp / (double)(tp + fp) : 0;
    ap += p * (r - r_above);
    r_above = r;
  }
  return ap;
}

sal_status sal_metric_dwsol_hit(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const sal_box *box,
                                const uint8_t *other_mask, bool *hit) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!box || !hit) return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_metric_dwsol_hit: NULL box or output");
  cc_ws ws;
  if ((st = cc_alloc(ctx, &ws, h, w))) return st;
  sal_box b;
  bool boxed = mean_box(&ws, map, h, w, &b);
  cc_free(&ws);
  int64_t peak = sal__eval_argmax(map, h * w);
  *hit = boxed && sal_box_iou(&b, box) >= 0.5 && !(other_mask && peak >= 0 && other_mask[peak]);
  return SAL_STATUS_OK;
}
