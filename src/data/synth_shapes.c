/* The `shapes` and `pairs` synthetic families: the ten object shapes, textured backgrounds,
 * class-free clutter and the painting of objects with their exact masks (docs/synth.md). */
#include "data/synth.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define PI_F 3.14159265f

const char *const synth_shape_names[10] = {"circle", "square", "triangle", "star",  "cross",
                                           "heart",  "crescent", "ring",   "arrow", "lshape"};

static synth_shape g_shapes[10];
static float g_rho_max; /* max over classes of radius / sqrt(area): placement bound per unit size */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void set_poly(synth_shape *s, const float *xy, int n) {
  s->kind = SYNTH_POLY;
  s->n = n;
  memcpy(s->pts, xy, sizeof(float) * 2 * (size_t)n);
}

/* Area and bounding radius of a shape without a closed form, on a fine grid over [-1.5, 1.5]^2
 * (0.005 units: the relative area error is below 1e-3, far under the pixel discretisation). */
static void measure(synth_shape *s) {
  const int G = 600;
  const float h = 3.0f / (float)G;
  long count = 0;
  float rmax = 0;
  for (int i = 0; i < G; i++)
    for (int j = 0; j < G; j++) {
      float u = -1.5f + ((float)j + 0.5f) * h, v = -1.5f + ((float)i + 0.5f) * h;
      if (synth_inside(s, u, v)) {
        count++;
        rmax = fmaxf(rmax, sqrtf(u * u + v * v));
      }
    }
  s->area = (float)count * h * h;
  s->radius = rmax + h;
}

static void init_shapes(void) {
  synth_shape *s = g_shapes;
  memset(g_shapes, 0, sizeof g_shapes);
  /* 0 circle */
  s[0].kind = SYNTH_DISC;
  s[0].a = 1.0f;
  s[0].area = PI_F;
  s[0].radius = 1.0f;
  /* 1 square */
  const float sq[] = {-0.7071f, -0.7071f, 0.7071f, -0.7071f, 0.7071f, 0.7071f, -0.7071f, 0.7071f};
  set_poly(&s[1], sq, 4);
  /* 2 equilateral triangle inscribed in the unit circle */
  float tri[6];
  for (int i = 0; i < 3; i++) {
    tri[2 * i] = cosf(-PI_F / 2 + 2 * PI_F * (float)i / 3);
    tri[2 * i + 1] = sinf(-PI_F / 2 + 2 * PI_F * (float)i / 3);
  }
  set_poly(&s[2], tri, 3);
  /* 3 five-pointed star, inner radius 0.45 (thick enough to survive 64 x 64) */
  float star[20];
  for (int i = 0; i < 10; i++) {
    float r = (i % 2) ? 0.45f : 1.0f, t = -PI_F / 2 + PI_F * (float)i / 5;
    star[2 * i] = r * cosf(t);
    star[2 * i + 1] = r * sinf(t);
  }
  set_poly(&s[3], star, 10);
  /* 4 cross (plus sign), arm half-width 0.3 */
  const float w = 0.3f, L = 0.95f;
  const float cross[] = {-w, -L, w, -L, w, -w, L, -w, L, w, w, w, w, L, -w, L, -w, w, -L, w, -L, -w, -w, -w};
  set_poly(&s[4], cross, 12);
  /* 5 heart: (x^2 + y^2 - 1)^3 <= x^2 y^3, x in [-1.14, 1.14], y in [-1, 1.24]; a scales it into
   * the unit circle and b centres it vertically. */
  s[5].kind = SYNTH_HEART;
  s[5].a = 1.25f;
  s[5].b = 0.12f;
  measure(&s[5]);
  /* 6 crescent: the unit disc minus a disc of radius 0.8 at (0.5, 0) */
  s[6].kind = SYNTH_CRESCENT;
  s[6].a = 0.5f;
  s[6].b = 0.8f;
  measure(&s[6]);
  /* 7 ring (annulus), inner radius 0.55 */
  s[7].kind = SYNTH_RING;
  s[7].a = 0.55f;
  s[7].area = PI_F * (1.0f - 0.55f * 0.55f);
  s[7].radius = 1.0f;
  /* 8 arrow pointing to +u: shaft half-width 0.25, head half-width 0.6 */
  const float arrow[] = {-1.0f, -0.25f, 0.1f, -0.25f, 0.1f, -0.6f, 1.0f, 0.0f, 0.1f, 0.6f, 0.1f, 0.25f, -1.0f, 0.25f};
  set_poly(&s[8], arrow, 7);
  /* 9 L shape, arms 0.45 thick, centred near its centroid */
  const float ell[] = {-0.55f, -0.85f, -0.1f, -0.85f, -0.1f, 0.4f, 0.75f, 0.4f, 0.75f, 0.85f, -0.55f, 0.85f};
  set_poly(&s[9], ell, 6);
  float rho = 0;
  for (int k = 0; k < 10; k++) {
    if (s[k].kind == SYNTH_POLY) {
      s[k].area = synth_poly_area(s[k].pts, s[k].n);
      s[k].radius = synth_poly_radius(s[k].pts, s[k].n);
    }
    rho = fmaxf(rho, s[k].radius / sqrtf(s[k].area));
  }
  g_rho_max = rho;
}

const synth_shape *synth_shape_class(int k) {
  pthread_once(&g_once, init_shapes);
  return &g_shapes[k];
}

float synth_shape_rho_max(void) {
  pthread_once(&g_once, init_shapes);
  return g_rho_max;
}

typedef struct rgb {
  float c[3];
} rgb;

static rgb rand_rgb(synth_rng *r) {
  rgb x;
  for (int i = 0; i < 3; i++) x.c[i] = synth_unif(r);
  return x;
}

static rgb mix(rgb a, rgb b, float t) {
  rgb x;
  for (int i = 0; i < 3; i++) x.c[i] = a.c[i] + (b.c[i] - a.c[i]) * t;
  return x;
}

/* Distance in RGB from p to the segment [a, b]: every background pixel colour lies on it. */
static float seg_dist(rgb p, rgb a, rgb b) {
  float ab2 = 0, t = 0;
  for (int i = 0; i < 3; i++) {
    ab2 += (b.c[i] - a.c[i]) * (b.c[i] - a.c[i]);
    t += (p.c[i] - a.c[i]) * (b.c[i] - a.c[i]);
  }
  t = ab2 > 0 ? synth_clamp(t / ab2, 0.0f, 1.0f) : 0.0f;
  float d = 0;
  for (int i = 0; i < 3; i++) {
    float e = p.c[i] - a.c[i] - t * (b.c[i] - a.c[i]);
    d += e * e;
  }
  return sqrtf(d);
}

/* A procedural texture t(x, y) in [0, 1] (pixel coordinates), shared by backgrounds and objects. */
typedef struct texture {
  int type; /* 0 flat, 1 stripes, 2 checker, 3 noise, 4 linear gradient */
  float cosa, sina, period, phase;
  synth_noise noise;
} texture;

static void texture_init(texture *t, synth_rng *r, int type, int S, float pmin, float pmax, int cells) {
  t->type = type;
  float a = synth_range(r, 0, 2 * PI_F);
  t->cosa = cosf(a);
  t->sina = sinf(a);
  t->period = synth_range(r, pmin, pmax) * (float)S / 64.0f;
  t->phase = synth_range(r, 0, 2 * PI_F);
  t->noise.cells = 1;
  if (type == 3) synth_noise_init(&t->noise, r, cells);
}

static float texture_at(const texture *t, float x, float y, int S) {
  float proj = x * t->cosa + y * t->sina;
  switch (t->type) {
  case 1: return 0.5f + 0.5f * sinf(2 * PI_F * proj / t->period + t->phase);
  case 2: {
    float q = x * t->cosa + y * t->sina, p = -x * t->sina + y * t->cosa;
    int a = (int)floorf(q / t->period), b = (int)floorf(p / t->period);
    return (float)((a + b) & 1);
  }
  case 3: return synth_noise_at(&t->noise, x / (float)S, y / (float)S);
  case 4: return synth_clamp(0.5f + proj / ((float)S * 1.4142f), 0.0f, 1.0f);
  default: return 0.0f;
  }
}

/* The background: a texture between two random colours (value noise of three octaves, a linear
 * gradient or soft stripes). Returns the two colours for the contrast rule. */
static void paint_background(synth_job *j, synth_rng *r, rgb *b1, rgb *b2) {
  const int S = j->S;
  *b1 = rand_rgb(r);
  *b2 = rand_rgb(r);
  int type = synth_int(r, 3);
  synth_noise n1, n2, n3;
  texture tex;
  if (type == 0) {
    synth_noise_init(&n1, r, 3);
    synth_noise_init(&n2, r, 6);
    synth_noise_init(&n3, r, 12);
  } else {
    texture_init(&tex, r, type == 1 ? 4 : 1, S, 8.0f, 24.0f, 1);
  }
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      float px = (float)x + 0.5f, py = (float)y + 0.5f, t;
      if (type == 0) {
        float fx = px / (float)S, fy = py / (float)S;
        t = 0.6f * synth_noise_at(&n1, fx, fy) + 0.3f * synth_noise_at(&n2, fx, fy) + 0.1f * synth_noise_at(&n3, fx, fy);
      } else {
        t = texture_at(&tex, px, py, S);
      }
      rgb c = mix(*b1, *b2, t);
      memcpy(j->canvas + ((size_t)y * (size_t)S + (size_t)x) * 3, c.c, sizeof c.c);
    }
}

/* Paints cov (alpha = coverage) in colour col(x, y) = mix(c1, c2, tex); sets mask pixels whose
 * coverage is >= 1/2 when mask is given (an object, left unpainted under omit_objects). */
static void paint_cov(synth_job *j, const int bb[4], rgb c1, rgb c2, const texture *tex, uint8_t *mask) {
  const int S = j->S;
  for (int y = bb[1]; y < bb[3]; y++)
    for (int x = bb[0]; x < bb[2]; x++) {
      size_t p = (size_t)y * (size_t)S + (size_t)x;
      int n = j->cov[p];
      if (n == 0) continue;
      if (mask && 2 * n >= SYNTH_SS2) mask[p] = 255;
      if (mask && j->p->omit_objects) continue;
      float a = (float)n / SYNTH_SS2;
      rgb c = tex ? mix(c1, c2, texture_at(tex, (float)x + 0.5f, (float)y + 0.5f, S)) : c1;
      float *d = j->canvas + p * 3;
      for (int i = 0; i < 3; i++) d[i] += (c.c[i] - d[i]) * a;
    }
}

/* Clutter that belongs to no class: thin straight strokes, thin open arcs (at most 200 degrees,
 * never closed like a ring) and specks far smaller than the smallest object. */
static void paint_clutter(synth_job *j, synth_rng *r) {
  const int S = j->S;
  const float u = (float)S / 64.0f;
  int n = 2 + synth_int(r, 4);
  for (int i = 0; i < n; i++) {
    int type = synth_int(r, 3);
    rgb c = rand_rgb(r);
    synth_shape s;
    memset(&s, 0, sizeof s);
    synth_place pl = {synth_range(r, 0, (float)S), synth_range(r, 0, (float)S), 0.0f, 1.0f};
    if (type == 0) {
      float len = synth_range(r, 0.15f, 0.5f) * (float)S, a = synth_range(r, 0, 2 * PI_F);
      s.kind = SYNTH_SEGMENT;
      s.a = synth_range(r, 0.4f, 0.8f) * u; /* half-width: strokes 0.8-1.6 px at 64 */
      s.pts[0] = -0.5f * len * cosf(a);
      s.pts[1] = -0.5f * len * sinf(a);
      s.pts[2] = -s.pts[0];
      s.pts[3] = -s.pts[1];
      s.radius = 0.5f * len + s.a;
    } else if (type == 1) {
      pl.k = synth_range(r, 0.06f, 0.2f) * (float)S;
      s.kind = SYNTH_ARC;
      s.a = synth_range(r, 0.4f, 0.8f) * u / pl.k;
      s.b = synth_range(r, 0, 2 * PI_F);
      s.c = synth_range(r, 40.0f, 200.0f) * PI_F / 180.0f;
      s.radius = 1.0f + s.a;
    } else {
      pl.k = synth_range(r, 0.6f, 1.6f) * u;
      s.kind = SYNTH_DISC;
      s.a = 1.0f;
      s.radius = 1.0f;
    }
    int bb[4];
    synth_cover(&s, &pl, S, j->cov, bb);
    paint_cov(j, bb, c, c, NULL, NULL);
  }
}

/* Object colours: c1 uniform in the RGB cube, c2 within 0.2 of it per channel; redrawn (at most
 * 64 times) until both are at least 0.3 / 0.2 away from every background colour. The rule looks at
 * colours only, so the accepted colours are independent of the class. */
static void object_colours(synth_rng *r, rgb b1, rgb b2, rgb *c1, rgb *c2) {
  for (int tries = 0; tries < 64; tries++) {
    *c1 = rand_rgb(r);
    for (int i = 0; i < 3; i++) c2->c[i] = synth_clamp(c1->c[i] + synth_range(r, -0.2f, 0.2f), 0.0f, 1.0f);
    if (seg_dist(*c1, b1, b2) >= 0.3f && seg_dist(*c2, b1, b2) >= 0.2f) return;
  }
}

static void object_texture(synth_rng *r, texture *t, int S) {
  int type = synth_int(r, 5);
  texture_init(t, r, type, S, 3.0f, 8.0f, 4 + synth_int(r, 7));
}

/* Paints one object of class k at placement pl (size s) with a random colour pair and texture. */
static void paint_object(synth_job *j, synth_rng *r, int k, const synth_place *pl, rgb b1, rgb b2, uint8_t *mask) {
  rgb c1, c2;
  texture tex;
  object_colours(r, b1, b2, &c1, &c2);
  object_texture(r, &tex, j->S);
  int bb[4];
  synth_cover(synth_shape_class(k), pl, j->S, j->cov, bb);
  paint_cov(j, bb, c1, c2, &tex, mask);
}

/* Pixel noise: the sum of two uniform bytes per sample (a triangular distribution of standard
 * deviation sqrt(2 · (256^2 - 1) / 12) = 104.5), scaled to sigma; one 32-bit draw serves two
 * samples. */
void synth_add_noise(synth_job *j, synth_rng *r, int C, float sigma) {
  size_t n = (size_t)j->S * (size_t)j->S * (size_t)C;
  const float scale = sigma / 104.5f;
  for (size_t i = 0; i < n; i += 2) {
    uint32_t u = synth_u32(r);
    j->canvas[i] += (float)((int)(u & 255) + (int)((u >> 8) & 255) - 255) * scale;
    if (i + 1 < n) j->canvas[i + 1] += (float)((int)((u >> 16) & 255) + (int)(u >> 24) - 255) * scale;
  }
}

/* Scale (pixels per unit) for class k at size s: the object's area is (s·S)^2 whatever its class. */
static float scale_for(int k, double s, int S) { return (float)(s * (double)S / sqrt((double)synth_shape_class(k)->area)); }

void synth_render_shapes(synth_job *j, synth_rng *r, int64_t index) {
  const int S = j->S;
  const sal_synth_params *p = j->p;
  int k = (int)(index % 10); /* balanced classes; the pixels never see the index */
  rgb b1, b2;
  paint_background(j, r, &b1, &b2);
  paint_clutter(j, r);
  double s = p->size_min + (p->size_max - p->size_min) * (double)synth_unif(r);
  /* The centre is drawn so that the largest class at this size would fit: the same placement
   * range for every class. */
  float R = synth_shape_rho_max() * (float)(s * S) + 1.0f;
  synth_place pl = {synth_range(r, R, (float)S - R), synth_range(r, R, (float)S - R), synth_range(r, 0, 2 * PI_F),
                    scale_for(k, s, S)};
  paint_object(j, r, k, &pl, b1, b2, j->mask[0]);
  synth_add_noise(j, r, 3, 0.015f);
  j->n_objects = 1;
  j->label[0] = k;
  j->size[0] = s;
}

void synth_render_pairs(synth_job *j, synth_rng *r, int64_t index) {
  const int S = j->S;
  const sal_synth_params *p = j->p;
  int ka = (int)(index % 10), kb = (ka + 1 + synth_int(r, 9)) % 10;
  rgb b1, b2;
  paint_background(j, r, &b1, &b2);
  paint_clutter(j, r);
  double sa = p->size_min + (p->size_max - p->size_min) * (double)synth_unif(r);
  double sb = p->size_min + (p->size_max - p->size_min) * (double)synth_unif(r);
  /* Bounding circles (class-independent radius, as for shapes) at least 2 px apart: the masks
   * cannot share a pixel. When 64 draws fail, both objects shrink by 5 % and the search goes on. */
  synth_place pa, pb;
  for (;;) {
    float Ra = synth_shape_rho_max() * (float)(sa * S) + 1.0f, Rb = synth_shape_rho_max() * (float)(sb * S) + 1.0f;
    bool ok = false;
    for (int t = 0; t < 64 && !ok; t++) {
      pa.cx = synth_range(r, Ra, (float)S - Ra);
      pa.cy = synth_range(r, Ra, (float)S - Ra);
      pb.cx = synth_range(r, Rb, (float)S - Rb);
      pb.cy = synth_range(r, Rb, (float)S - Rb);
      float dx = pa.cx - pb.cx, dy = pa.cy - pb.cy;
      ok = sqrtf(dx * dx + dy * dy) >= Ra + Rb + 2.0f;
    }
    if (ok) break;
    sa *= 0.95;
    sb *= 0.95;
  }
  pa.angle = synth_range(r, 0, 2 * PI_F);
  pb.angle = synth_range(r, 0, 2 * PI_F);
  pa.k = scale_for(ka, sa, S);
  pb.k = scale_for(kb, sb, S);
  paint_object(j, r, ka, &pa, b1, b2, j->mask[0]);
  paint_object(j, r, kb, &pb, b1, b2, j->mask[1]);
  synth_add_noise(j, r, 3, 0.015f);
  j->n_objects = 2;
  j->label[0] = ka;
  j->label[1] = kb;
  j->size[0] = sa;
  j->size[1] = sb;
}
