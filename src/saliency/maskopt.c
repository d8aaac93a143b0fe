/* Pieces of mask optimisation shared by the perturbation methods (meaningful_perturbation, dm, hdm):
 * the Adam step on mask cells, total variation with its gradient, composites Φ and baselines b(x). */
#include "saliency/saliency.h"

#include <math.h>
#include <string.h>

void sal__adam_step(float *p, const float *g, float *m1, float *m2, int64_t n, int64_t t, double lr, float lo,
                    float hi) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
  for (int64_t q = 0; q < n; q++) {
    m1[q] = (float)(b1 * m1[q] + (1 - b1) * g[q]);
    m2[q] = (float)(b2 * m2[q] + (1 - b2) * (double)g[q] * g[q]);
    double v = p[q] - lr * (m1[q] / c1) / (sqrt(m2[q] / c2) + eps);
    p[q] = (float)(v < lo ? lo : v > hi ? hi : v);
  }
}

/* |t|^β and its derivative β |t|^(β−1) sign(t) (0 at t = 0, as autograd's abs) */
static inline double powabs(double t, double beta) { return beta == 1 ? fabs(t) : pow(fabs(t), beta); }
static inline double dpow(double t, double beta) {
  if (t == 0) return 0;
  return (beta == 1 ? 1 : beta * pow(fabs(t), beta - 1)) * (t > 0 ? 1 : -1);
}

double sal__tv(const float *m, int64_t h, int64_t w, double beta, double weight, float *g) {
  double sum = 0;
  for (int64_t y = 0; y < h; y++)
    for (int64_t x = 0; x < w; x++) {
      int64_t q = y * w + x;
      if (x + 1 < w) {
        double t = (double)m[q + 1] - m[q];
        sum += powabs(t, beta);
        if (g) {
          float d = (float)(weight * dpow(t, beta));
          g[q + 1] += d;
          g[q] -= d;
        }
      }
      if (y + 1 < h) {
        double t = (double)m[q + w] - m[q];
        sum += powabs(t, beta);
        if (g) {
          float d = (float)(weight * dpow(t, beta));
          g[q + w] += d;
          g[q] -= d;
        }
      }
    }
  return weight * sum;
}

void sal__composite(const float *b, const float *d, const float *M, int64_t C, int64_t HW, float *out) {
  for (int64_t c = 0; c < C; c++)
    for (int64_t q = 0; q < HW; q++) out[c * HW + q] = b[c * HW + q] + M[q] * d[c * HW + q];
}

void sal__composite_grad(const float *g, const float *d, int64_t C, int64_t HW, float *gM) {
  for (int64_t q = 0; q < HW; q++) {
    double a = 0;
    for (int64_t c = 0; c < C; c++) a += (double)g[c * HW + q] * d[c * HW + q];
    gM[q] = (float)a;
  }
}

sal_status sal__baseline_image(sal_ctx *ctx, const sal_method_params *p, uint64_t stream, const float *x, int64_t C,
                               int64_t H, int64_t W, float *out) {
  switch (p->baseline) {
  case SAL_BASELINE_BLUR:
    return sal__gauss_blur(ctx, x, C, H, W, p->blur_sigma > 0 ? p->blur_sigma : 10.0f * (float)H / 224.0f, out);
  case SAL_BASELINE_NOISE:
    sal_rng_normal(p->seed, stream, 0, out, (size_t)(C * H * W));
    return SAL_STATUS_OK;
  default:
    memset(out, 0, (size_t)(C * H * W) * sizeof(float));
    return SAL_STATUS_OK;
  }
}
