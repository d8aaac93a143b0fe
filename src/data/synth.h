/* Internal pieces of the synthetic-data generator shared by src/data/synth*.c: a sequential view
 * of one Philox stream, value noise, implicit shapes and their supersampled rasteriser. */
#ifndef SAL_DATA_SYNTH_H
#define SAL_DATA_SYNTH_H

#include "salient/synth.h"

#include <stdint.h>

/* Sequential draws from Philox stream (seed, stream): draw k is element k of the stream, so an
 * image's pixels depend only on (seed, stream) and on the order of draws inside its renderer. */
typedef struct synth_rng {
  uint64_t seed, stream, counter;
  uint32_t buf[4];
  int left;
} synth_rng;

static inline void synth_rng_init(synth_rng *r, uint64_t seed, uint64_t stream) {
  r->seed = seed;
  r->stream = stream;
  r->counter = 0;
  r->left = 0;
}

static inline uint32_t synth_u32(synth_rng *r) {
  if (r->left == 0) {
    sal_philox(r->seed, r->stream, r->counter++, r->buf);
    r->left = 4;
  }
  return r->buf[4 - r->left--];
}

/* min(max(x, lo), hi) without libm calls (fminf/fmaxf are not inlined without -ffast-math). */
static inline float synth_clamp(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Uniform [0, 1) with 24 random bits. */
static inline float synth_unif(synth_rng *r) { return (float)(synth_u32(r) >> 8) * (1.0f / 16777216.0f); }
static inline float synth_range(synth_rng *r, float a, float b) { return a + (b - a) * synth_unif(r); }
/* Uniform integer in [0, n), n >= 1 (multiply-shift: bias below 2^-32 · n). */
static inline int synth_int(synth_rng *r, int n) { return (int)(((uint64_t)synth_u32(r) * (uint64_t)n) >> 32); }

/* Value noise: a (cells+1)^2 lattice of uniform values over the unit square, smoothstep-
 * interpolated. cells <= SYNTH_NOISE_MAX_CELLS. */
#define SYNTH_NOISE_MAX_CELLS 32
typedef struct synth_noise {
  int cells;
  float v[(SYNTH_NOISE_MAX_CELLS + 1) * (SYNTH_NOISE_MAX_CELLS + 1)];
} synth_noise;
void synth_noise_init(synth_noise *n, synth_rng *r, int cells);
/* Noise at (x, y) in [0, 1]^2; result in [0, 1). */
float synth_noise_at(const synth_noise *n, float x, float y);

/* Implicit shapes in their own unit frame; a pixel sample at image point p lies in the shape when
 * inside(kind, T^-1 p) with T = translate(cx, cy) · rotate(angle) · scale(k). */
typedef enum synth_kind {
  SYNTH_POLY,     /* simple polygon pts[0..2n) (even-odd rule) */
  SYNTH_DISC,     /* ellipse u^2/a^2 + v^2 a^2 <= 1 (a = 1: unit disc) */
  SYNTH_RING,     /* a <= |p| <= 1 */
  SYNTH_CRESCENT, /* |p| <= 1 and |p - (a, 0)| > b */
  SYNTH_HEART,    /* (x^2 + y^2 - 1)^3 <= x^2 y^3 with x = u·a, y = b - v·a (upright heart) */
  SYNTH_DISCS,    /* union of n discs (x, y, r) in pts[0..3n) */
  SYNTH_BAND,     /* |u| <= 1 and |v - a u^2| <= b: a bent bar */
  SYNTH_SEGMENT,  /* distance to segment pts[0..4) <= a */
  SYNTH_ARC       /* ||p| - 1| <= a and the angle of p in [b, b + c) */
} synth_kind;

#define SYNTH_MAX_PTS 192
typedef struct synth_shape {
  synth_kind kind;
  int n;
  float a, b, c;
  float pts[SYNTH_MAX_PTS];
  float radius; /* every point of the shape lies within this distance of the origin (unit frame) */
  float area;   /* area in the unit frame */
} synth_shape;

bool synth_inside(const synth_shape *s, float u, float v);
/* Area of a polygon's pts by the shoelace formula (absolute value). */
float synth_poly_area(const float *pts, int n);
/* Largest |vertex| of a polygon. */
float synth_poly_radius(const float *pts, int n);

/* Placement of a shape on an S x S image: centre, rotation, scale (pixels per unit). */
typedef struct synth_place {
  float cx, cy, angle, k;
} synth_place;

/* Supersampling grid per pixel (SYNTH_SS x SYNTH_SS samples): coverage is count / SYNTH_SS^2. */
#define SYNTH_SS 4
#define SYNTH_SS2 (SYNTH_SS * SYNTH_SS)

/* Fills cov (S x S bytes, zeroed first) with the number of covered samples of each pixel
 * (0..SYNTH_SS2), visiting only the pixels within the shape's bounding circle. Writes the touched
 * pixel rectangle to bb (x0, y0, x1, y1; x1, y1 exclusive; empty when x0 >= x1). */
void synth_cover(const synth_shape *s, const synth_place *pl, int S, uint8_t *cov, int bb[4]);

/* The family renderers. canvas is (S, S, C) floats in [0, 1] (C = 3 shapes and pairs, 1
 * lesions); cov is S x S scratch bytes; masks are S x S bytes each (0/255), zeroed by the caller.
 * They fill the sample's labels and sizes; boxes are taken from the masks by the caller. */
typedef struct synth_job {
  const sal_synth_params *p;
  int S;
  float *canvas;
  uint8_t *cov;
  uint8_t *mask[SAL_SYNTH_MAX_OBJECTS];
  int n_objects;
  int label[SAL_SYNTH_MAX_OBJECTS];
  double size[SAL_SYNTH_MAX_OBJECTS];
} synth_job;

void synth_render_shapes(synth_job *j, synth_rng *r, int64_t index);
void synth_render_pairs(synth_job *j, synth_rng *r, int64_t index);
void synth_render_lesions(synth_job *j, synth_rng *r, int64_t index);

/* Adds pixel noise of standard deviation sigma to the canvas (C channels). */
void synth_add_noise(synth_job *j, synth_rng *r, int C, float sigma);
/* Max over shape classes of radius / sqrt(area): an object of size s fits in a circle of radius
 * synth_shape_rho_max() · s · S whatever its class. */
float synth_shape_rho_max(void);

/* The shape of class k of the shapes family (unit frame, area and radius filled). */
const synth_shape *synth_shape_class(int k);
extern const char *const synth_shape_names[10];
extern const char *const synth_lesion_names[5];

#endif
