/* Synthetic-data geometry: value noise, point-in-shape tests for every implicit shape and the
 * supersampled coverage rasteriser from which both the rendered pixels and the exact masks come. */
#include "data/synth.h"

#include <math.h>
#include <string.h>

void synth_noise_init(synth_noise *n, synth_rng *r, int cells) {
  if (cells < 1) cells = 1;
  if (cells > SYNTH_NOISE_MAX_CELLS) cells = SYNTH_NOISE_MAX_CELLS;
  n->cells = cells;
  for (int i = 0; i < (cells + 1) * (cells + 1); i++) n->v[i] = synth_unif(r);
}

static inline float smooth(float t) { return t * t * (3.0f - 2.0f * t); }

float synth_noise_at(const synth_noise *n, float x, float y) {
  int c = n->cells;
  float fx = x * (float)c, fy = y * (float)c;
  int ix = (int)floorf(fx), iy = (int)floorf(fy);
  if (ix < 0) ix = 0;
  if (iy < 0) iy = 0;
  if (ix > c - 1) ix = c - 1;
  if (iy > c - 1) iy = c - 1;
  float tx = smooth(synth_clamp(fx - (float)ix, 0.0f, 1.0f));
  float ty = smooth(synth_clamp(fy - (float)iy, 0.0f, 1.0f));
  const float *row0 = n->v + iy * (c + 1) + ix, *row1 = row0 + (c + 1);
  float a = row0[0] + (row0[1] - row0[0]) * tx;
  float b = row1[0] + (row1[1] - row1[0]) * tx;
  return a + (b - a) * ty;
}

/* Even-odd rule: count edge crossings of the ray from (u, v) towards +u. */
static bool poly_inside(const float *pts, int n, float u, float v) {
  bool in = false;
  for (int i = 0, j = n - 1; i < n; j = i++) {
    float xi = pts[2 * i], yi = pts[2 * i + 1], xj = pts[2 * j], yj = pts[2 * j + 1];
    if ((yi > v) != (yj > v) && u < xi + (v - yi) * (xj - xi) / (yj - yi)) in = !in;
  }
  return in;
}

bool synth_inside(const synth_shape *s, float u, float v) {
  switch (s->kind) {
  case SYNTH_POLY:
    return poly_inside(s->pts, s->n, u, v);
  case SYNTH_DISC:
    return u * u / (s->a * s->a) + v * v * s->a * s->a <= 1.0f;
  case SYNTH_RING: {
    float r2 = u * u + v * v;
    return r2 <= 1.0f && r2 >= s->a * s->a;
  }
  case SYNTH_CRESCENT: {
    float du = u - s->a;
    return u * u + v * v <= 1.0f && du * du + v * v > s->b * s->b;
  }
  case SYNTH_HEART: {
    float x = u * s->a, y = s->b - v * s->a;
    float q = x * x + y * y - 1.0f;
    return q * q * q <= x * x * y * y * y;
  }
  case SYNTH_DISCS:
    for (int i = 0; i < s->n; i++) {
      float du = u - s->pts[3 * i], dv = v - s->pts[3 * i + 1], r = s->pts[3 * i + 2];
      if (du * du + dv * dv <= r * r) return true;
    }
    return false;
  case SYNTH_BAND: {
    float d = v - s->a * u * u;
    return fabsf(u) <= 1.0f && fabsf(d) <= s->b;
  }
  case SYNTH_SEGMENT: {
    float x0 = s->pts[0], y0 = s->pts[1], dx = s->pts[2] - x0, dy = s->pts[3] - y0;
    float l2 = dx * dx + dy * dy;
    float t = l2 > 0 ? ((u - x0) * dx + (v - y0) * dy) / l2 : 0.0f;
    t = synth_clamp(t, 0.0f, 1.0f);
    float ex = u - x0 - t * dx, ey = v - y0 - t * dy;
    return ex * ex + ey * ey <= s->a * s->a;
  }
  case SYNTH_ARC: {
    float r = sqrtf(u * u + v * v);
    if (fabsf(r - 1.0f) > s->a) return false;
    float ang = atan2f(v, u) - s->b; /* angle measured from the arc's start, in [0, 2π) */
    const float two_pi = 6.2831853f;
    while (ang < 0) ang += two_pi;
    while (ang >= two_pi) ang -= two_pi;
    return ang < s->c;
  }
  }
  return false;
}

float synth_poly_area(const float *pts, int n) {
  double a = 0;
  for (int i = 0, j = n - 1; i < n; j = i++) a += (double)pts[2 * j] * pts[2 * i + 1] - (double)pts[2 * i] * pts[2 * j + 1];
  return (float)fabs(0.5 * a);
}

float synth_poly_radius(const float *pts, int n) {
  float r = 0;
  for (int i = 0; i < n; i++) r = fmaxf(r, sqrtf(pts[2 * i] * pts[2 * i] + pts[2 * i + 1] * pts[2 * i + 1]));
  return r;
}

/* Distance from (u, v) to segment (x0, y0)-(x1, y1). */
static float seg_distance(float u, float v, float x0, float y0, float x1, float y1) {
  float dx = x1 - x0, dy = y1 - y0, l2 = dx * dx + dy * dy;
  float t = l2 > 0 ? ((u - x0) * dx + (v - y0) * dy) / l2 : 0.0f;
  t = synth_clamp(t, 0.0f, 1.0f);
  float ex = u - x0 - t * dx, ey = v - y0 - t * dy;
  return sqrtf(ex * ex + ey * ey);
}

/* A lower bound on the distance from (u, v) to the shape's boundary (unit frame), or -1 when the
 * kind has no cheap bound (heart, band). Each bound is the distance to a set of curves that
 * contains the boundary, or a Lipschitz bound of a function that is 1 on it. */
static float boundary_distance(const synth_shape *s, float u, float v) {
  switch (s->kind) {
  case SYNTH_POLY: {
    float d = 1e30f;
    for (int i = 0, j = s->n - 1; i < s->n; j = i++)
      d = fminf(d, seg_distance(u, v, s->pts[2 * j], s->pts[2 * j + 1], s->pts[2 * i], s->pts[2 * i + 1]));
    return d;
  }
  case SYNTH_DISC: { /* f = sqrt(u^2/a^2 + v^2 a^2) is max(a, 1/a)-Lipschitz and 1 on the boundary */
    float f = sqrtf(u * u / (s->a * s->a) + v * v * s->a * s->a);
    return fabsf(f - 1.0f) / fmaxf(s->a, 1.0f / s->a);
  }
  case SYNTH_RING: {
    float r = sqrtf(u * u + v * v);
    return fminf(fabsf(r - 1.0f), fabsf(r - s->a));
  }
  case SYNTH_CRESCENT: {
    float du = u - s->a;
    return fminf(fabsf(sqrtf(u * u + v * v) - 1.0f), fabsf(sqrtf(du * du + v * v) - s->b));
  }
  case SYNTH_DISCS: {
    float d = 1e30f;
    for (int i = 0; i < s->n; i++) {
      float du = u - s->pts[3 * i], dv = v - s->pts[3 * i + 1];
      d = fminf(d, fabsf(sqrtf(du * du + dv * dv) - s->pts[3 * i + 2]));
    }
    return d;
  }
  case SYNTH_SEGMENT:
    return fabsf(seg_distance(u, v, s->pts[0], s->pts[1], s->pts[2], s->pts[3]) - s->a);
  case SYNTH_ARC: { /* two circles and the two radial end caps */
    float r = sqrtf(u * u + v * v);
    float d = fminf(fabsf(r - 1.0f - s->a), fabsf(r - 1.0f + s->a));
    for (int e = 0; e < 2; e++) {
      float t = s->b + (float)e * s->c, ct = cosf(t), st = sinf(t);
      d = fminf(d, seg_distance(u, v, (1.0f - s->a) * ct, (1.0f - s->a) * st, (1.0f + s->a) * ct, (1.0f + s->a) * st));
    }
    return d;
  }
  default:
    return -1.0f;
  }
}

void synth_cover(const synth_shape *s, const synth_place *pl, int S, uint8_t *cov, int bb[4]) {
  memset(cov, 0, (size_t)S * (size_t)S);
  /* Pixel (x, y) covers [x, x+1) x [y, y+1); only those meeting the bounding circle can hold
   * samples inside the shape. */
  float R = s->radius * pl->k + 1.0f;
  int x0 = (int)floorf(pl->cx - R), x1 = (int)ceilf(pl->cx + R);
  int y0 = (int)floorf(pl->cy - R), y1 = (int)ceilf(pl->cy + R);
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 > S) x1 = S;
  if (y1 > S) y1 = S;
  bb[0] = x0; bb[1] = y0; bb[2] = x1; bb[3] = y1;
  /* Inverse transform: (u, v) = R(-angle) (p - c) / k. */
  float ca = cosf(pl->angle) / pl->k, sa = sinf(pl->angle) / pl->k;
  /* Every sample lies within 0.375·sqrt(2) = 0.53 px of its pixel's centre: when the boundary is
   * farther than 0.6 px from the centre, all 16 samples share the centre's side and one test
   * decides the pixel — the same coverage the 16 tests would give, at a fraction of the cost. */
  const float far = 0.6f / pl->k;
  for (int y = y0; y < y1; y++) {
    for (int x = x0; x < x1; x++) {
      float dxc = (float)x + 0.5f - pl->cx, dyc = (float)y + 0.5f - pl->cy;
      float uc = ca * dxc + sa * dyc, vc = -sa * dxc + ca * dyc;
      if (uc * uc + vc * vc > (s->radius + far) * (s->radius + far)) continue; /* wholly outside */
      int n = 0;
      if (boundary_distance(s, uc, vc) > far) {
        n = synth_inside(s, uc, vc) ? SYNTH_SS2 : 0;
      } else {
        for (int sy = 0; sy < SYNTH_SS; sy++) {
          float dy = (float)y + ((float)sy + 0.5f) / SYNTH_SS - pl->cy;
          for (int sx = 0; sx < SYNTH_SS; sx++) {
            float dx = (float)x + ((float)sx + 0.5f) / SYNTH_SS - pl->cx;
            n += synth_inside(s, ca * dx + sa * dy, -sa * dx + ca * dy);
          }
        }
      }
      cov[(size_t)y * (size_t)S + (size_t)x] = (uint8_t)n;
    }
  }
}
