/* Colour maps for rendering normalised saliency maps: jet, viridis, inferno, gray. Used by the
 * overlays (src/report/overlay.c) that `salient explain` writes as PNG. */
#include "core/internal.h"
#include "salient/explain.h"

#include <math.h>
#include <string.h>

/* viridis and inferno as 9 stops at v = 0, 1/8, …, 1 (matplotlib's published colours at those
 * points), linearly interpolated in between: within a few levels of the 256-entry tables. */
static const uint8_t viridis[9][3] = {{68, 1, 84},    {71, 45, 123},  {59, 82, 139},
                                      {44, 114, 142}, {33, 145, 140}, {40, 174, 128},
                                      {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};
static const uint8_t inferno[9][3] = {{0, 0, 4},      {31, 12, 72},  {85, 15, 109},
                                      {136, 34, 106}, {186, 54, 85}, {227, 89, 51},
                                      {249, 142, 9},  {248, 201, 50}, {252, 255, 164}};

static const char *const names[] = {"jet", "viridis", "inferno", "gray"};

sal_status sal_colormap_parse(sal_ctx *ctx, const char *name, sal_colormap *out) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, names[i]) == 0) {
      *out = (sal_colormap)i;
      return SAL_STATUS_OK;
    }
  return sal_ctx_error(ctx, SAL_STATUS_NOT_FOUND, "unknown colour map '%s' (jet, viridis, inferno, gray)",
                       name ? name : "(null)");
}

static uint8_t to8(double v) {
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return (uint8_t)lround(v * 255.0);
}

static void stops(const uint8_t t[9][3], float v, uint8_t rgb[3]) {
  double f = (double)v * 8.0;
  int i = (int)f;
  if (i > 7) i = 7;
  double w = f - i;
  for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)lround((1 - w) * t[i][c] + w * t[i + 1][c]);
}

void sal_colormap_rgb(sal_colormap cm, float v, uint8_t rgb[3]) {
  if (!(v > 0)) v = 0; /* also NaN */
  if (v > 1) v = 1;
  switch (cm) {
  case SAL_COLORMAP_VIRIDIS: stops(viridis, v, rgb); break;
  case SAL_COLORMAP_INFERNO: stops(inferno, v, rgb); break;
  case SAL_COLORMAP_GRAY: rgb[0] = rgb[1] = rgb[2] = to8(v); break;
  default:
    /* jet: the classic piecewise-linear blue → cyan → yellow → red ramp */
    rgb[0] = to8(1.5 - fabs(4.0 * v - 3.0));
    rgb[1] = to8(1.5 - fabs(4.0 * v - 2.0));
    rgb[2] = to8(1.5 - fabs(4.0 * v - 1.0));
    break;
  }
}
