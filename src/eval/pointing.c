/* The pointing game (Zhang et al. 2016, TorchRay's conventions): is the map's maximum on the object,
 * within a tolerance; and its per-class accumulation. Conventions in docs/metrics.md. */
#include "salient/metrics.h"

#include "core/internal.h"
#include "eval/eval.h"

sal_status sal_pointing_hit(sal_ctx *ctx, const float *map, int64_t h, int64_t w, const uint8_t *mask, double tolerance,
                            bool *hit) {
  sal_status st = sal__eval_check_map(ctx, map, h, w);
  if (st) return st;
  if (!mask || !hit || !(tolerance >= 0) || tolerance > 1e6)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_pointing_hit: NULL mask or output, or tolerance %g not in [0, 1e6]",
                         tolerance);
  *hit = false;
  int64_t peak = sal__eval_argmax(map, h * w);
  if (peak < 0) return SAL_STATUS_OK;
  /* Object pixels within the disc of radius tolerance around the peak (pixel centres). */
  const int64_t py = peak / w, px = peak % w, r = (int64_t)tolerance;
  const double r2 = tolerance * tolerance;
  for (int64_t y = py - r < 0 ? 0 : py - r; y <= py + r && y < h && !*hit; y++)
    for (int64_t x = px - r < 0 ? 0 : px - r; x <= px + r && x < w; x++)
      if (mask[y * w + x] && (double)((y - py) * (y - py) + (x - px) * (x - px)) <= r2) {
        *hit = true;
        break;
      }
  return SAL_STATUS_OK;
}

struct sal_pointing {
  int64_t n_classes;
  int64_t *hits, *trials;
};

sal_status sal_pointing_new(sal_ctx *ctx, int64_t n_classes, sal_pointing **out) {
  if (!out || n_classes < 1 || n_classes > ((int64_t)1 << 24))
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_pointing_new: %lld classes (need 1..2^24)", (long long)n_classes);
  sal_pointing *p = sal_calloc(ctx, 1, sizeof *p);
  if (!p) return SAL_STATUS_OUT_OF_MEMORY;
  p->n_classes = n_classes;
  p->hits = sal_calloc(ctx, (size_t)n_classes, sizeof *p->hits);
  p->trials = sal_calloc(ctx, (size_t)n_classes, sizeof *p->trials);
  if (!p->hits || !p->trials) {
    sal_pointing_free(p);
    return SAL_STATUS_OUT_OF_MEMORY;
  }
  *out = p;
  return SAL_STATUS_OK;
}

void sal_pointing_free(sal_pointing *p) {
  if (!p) return;
  sal_free(p->hits);
  sal_free(p->trials);
  sal_free(p);
}

sal_status sal_pointing_add(sal_ctx *ctx, sal_pointing *p, int64_t cls, bool hit) {
  if (!p || cls < 0 || cls >= p->n_classes)
    return sal_ctx_error(ctx, SAL_STATUS_BAD_INPUT, "sal_pointing_add: class %lld is out of range 0..%lld", (long long)cls,
                         p ? (long long)p->n_classes - 1 : -1LL);
  p->trials[cls]++;
  p->hits[cls] += hit;
  return SAL_STATUS_OK;
}

double sal_pointing_value(const sal_pointing *p) {
  double sum = 0;
  int64_t classes = 0;
  for (int64_t c = 0; c < p->n_classes; c++)
    if (p->trials[c] > 0) sum += (double)p->hits[c] / (double)p->trials[c], classes++;
  return classes > 0 ? sum / (double)classes : 0;
}
