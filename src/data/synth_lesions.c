/* The `lesions` synthetic family: gray tissue-like texture (multi-octave value noise and warped
 * fibres) with one low-contrast lesion whose morphology is the class (docs/synth.md). */
#include "data/synth.h"

#include <math.h>
#include <string.h>

#define PI_F 3.14159265f

const char *const synth_lesion_names[5] = {"round", "spiculated", "ring", "cluster", "linear"};

/* Lesions are placed as if they had radius LESION_RHO · s · S (s = sqrt(area) / S), whatever the
 * class, so that the position does not hint at the class. The bound holds for the morphologies
 * below (the linear band is the widest: radius 1.08 for area 0.8, ratio 1.2); a rare instance
 * above it (a cluster that placed few dots) is placed with its own, larger radius. */
#define LESION_RHO 1.25f

/* Builds the lesion of class k in its unit frame with its exact area and bounding radius. */
static void lesion_shape(synth_rng *r, int k, synth_shape *s) {
  memset(s, 0, sizeof *s);
  switch (k) {
  case 0: /* round: a slightly elongated ellipse of area π */
    s->kind = SYNTH_DISC;
    s->a = synth_range(r, 1.0f, 1.2f);
    s->area = PI_F;
    s->radius = s->a;
    break;
  case 1: { /* spiculated: a disc of radius 0.45 with 6-10 thin spikes reaching 0.8-1.0 */
    int n = 6 + synth_int(r, 5);
    const float r0 = 0.45f, half = 0.3f * PI_F / (float)n;
    float a0 = synth_range(r, 0, 2 * PI_F);
    int m = 0;
    for (int i = 0; i < n; i++) {
      float c = a0 + 2 * PI_F * (float)i / (float)n + synth_range(r, -0.2f, 0.2f) * PI_F / (float)n;
      float tip = synth_range(r, 0.8f, 1.0f);
      float next = a0 + 2 * PI_F * (float)(i + 1) / (float)n;
      /* core point, tip, core point, then the core arc to the next spike (2 points) */
      const float ang[5] = {c - half, c, c + half, c + half + (next - half - c - half) / 3.0f,
                            c + half + 2.0f * (next - half - c - half) / 3.0f};
      const float rad[5] = {r0, tip, r0, r0, r0};
      for (int q = 0; q < 5; q++) {
        s->pts[2 * m] = rad[q] * cosf(ang[q]);
        s->pts[2 * m + 1] = rad[q] * sinf(ang[q]);
        m++;
      }
    }
    s->kind = SYNTH_POLY;
    s->n = m;
    s->area = synth_poly_area(s->pts, m);
    s->radius = synth_poly_radius(s->pts, m);
    break;
  }
  case 2: /* ring: annulus with inner radius 0.6 */
    s->kind = SYNTH_RING;
    s->a = 0.6f;
    s->area = PI_F * (1.0f - 0.36f);
    s->radius = 1.0f;
    break;
  case 3: { /* cluster: 4-6 disjoint dots (radius 0.18-0.22) with centres within 0.5 of the origin */
    int want = 4 + synth_int(r, 3), n = 0;
    s->kind = SYNTH_DISCS;
    for (int t = 0; t < 200 && n < want; t++) {
      float rr = synth_range(r, 0.18f, 0.22f), a = synth_range(r, 0, 2 * PI_F), d = 0.5f * sqrtf(synth_unif(r));
      float x = d * cosf(a), y = d * sinf(a);
      bool ok = true;
      for (int i = 0; i < n && ok; i++) {
        float dx = x - s->pts[3 * i], dy = y - s->pts[3 * i + 1];
        ok = sqrtf(dx * dx + dy * dy) >= rr + s->pts[3 * i + 2] + 0.05f;
      }
      if (!ok) continue;
      s->pts[3 * n] = x;
      s->pts[3 * n + 1] = y;
      s->pts[3 * n + 2] = rr;
      n++;
    }
    s->n = n;
    for (int i = 0; i < n; i++) {
      s->area += PI_F * s->pts[3 * i + 2] * s->pts[3 * i + 2];
      float c = sqrtf(s->pts[3 * i] * s->pts[3 * i] + s->pts[3 * i + 1] * s->pts[3 * i + 1]) + s->pts[3 * i + 2];
      s->radius = fmaxf(s->radius, c);
    }
    break;
  }
  default: /* linear: a bar of half-width 0.2 and half-length 1, bent by up to 0.2 */
    s->kind = SYNTH_BAND;
    s->a = synth_range(r, -0.2f, 0.2f);
    s->b = 0.2f;
    s->area = 4.0f * s->b;
    s->radius = sqrtf(1.0f + (fabsf(s->a) + s->b) * (fabsf(s->a) + s->b));
    break;
  }
}

void synth_render_lesions(synth_job *j, synth_rng *r, int64_t index) {
  const int S = j->S;
  const sal_synth_params *p = j->p;
  int k = (int)(index % 5);
  /* Tissue: three octaves of value noise for density, plus fibres — a sinusoid along a random
   * direction whose phase is warped by low-frequency noise — modulated by a fourth noise. */
  synth_noise n1, n2, n3, warp, fib;
  synth_noise_init(&n1, r, 4);
  synth_noise_init(&n2, r, 8);
  synth_noise_init(&n3, r, 16);
  synth_noise_init(&warp, r, 3);
  synth_noise_init(&fib, r, 6);
  float th = synth_range(r, 0, PI_F), ct = cosf(th), st = sinf(th);
  float lambda = synth_range(r, 4.0f, 7.0f) * (float)S / 64.0f;
  float gain = synth_range(r, 0.85f, 1.15f), offset = synth_range(r, -0.05f, 0.05f);
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      float px = (float)x + 0.5f, py = (float)y + 0.5f, fx = px / (float)S, fy = py / (float)S;
      float dens = 0.5f * synth_noise_at(&n1, fx, fy) + 0.3f * synth_noise_at(&n2, fx, fy) + 0.2f * synth_noise_at(&n3, fx, fy);
      float ph = 2 * PI_F * (px * ct + py * st) / lambda + 8.0f * synth_noise_at(&warp, fx, fy);
      float f = 0.5f + 0.5f * sinf(ph);
      f = f * f * f;
      float v = 0.28f + 0.38f * dens + 0.16f * f * (0.4f + synth_noise_at(&fib, fx, fy));
      j->canvas[(size_t)y * (size_t)S + (size_t)x] = offset + gain * v;
    }
  /* The lesion: brighter than the tissue by a contrast drawn independently of the class, with a
   * faint internal texture; alpha is the supersampled coverage, the mask coverage >= 1/2. */
  synth_shape s;
  lesion_shape(r, k, &s);
  double size = p->size_min + (p->size_max - p->size_min) * (double)synth_unif(r);
  float R = fmaxf(LESION_RHO, s.radius / sqrtf(s.area)) * (float)(size * S) + 1.0f;
  synth_place pl = {synth_range(r, R, (float)S - R), synth_range(r, R, (float)S - R), synth_range(r, 0, 2 * PI_F),
                    (float)(size * S / sqrt((double)s.area))};
  float contrast = synth_range(r, 0.08f, 0.18f);
  synth_noise inner;
  synth_noise_init(&inner, r, 8);
  int bb[4];
  synth_cover(&s, &pl, S, j->cov, bb);
  for (int y = bb[1]; y < bb[3]; y++)
    for (int x = bb[0]; x < bb[2]; x++) {
      size_t q = (size_t)y * (size_t)S + (size_t)x;
      int n = j->cov[q];
      if (n == 0) continue;
      if (2 * n >= SYNTH_SS2) j->mask[0][q] = 255;
      if (p->omit_objects) continue;
      float t = synth_noise_at(&inner, ((float)x + 0.5f) / (float)S, ((float)y + 0.5f) / (float)S);
      j->canvas[q] += contrast * (0.8f + 0.4f * t) * (float)n / SYNTH_SS2;
    }
  synth_add_noise(j, r, 1, 0.02f);
  j->n_objects = 1;
  j->label[0] = k;
  j->size[0] = size;
}
