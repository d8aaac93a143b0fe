/* Saliency method `meaningful_perturbation` (Fong & Vedaldi 2017): a coarse mask m is optimised
 * with Adam so that the blurred composite Φ(x, up(m)) loses the class while deleting little:
 *   min_m λ1 Σ|1 − m| + λ2 Σ |∇m|^β + softmax_c(f(Φ(x_j, up(m)))),  saliency = 1 − up(m)
 * (METHODS.md §A), x_j the image under a random jitter. The masks of up to B images (the memory
 * budget) are optimised together, each step one batch through the model. */
#include "saliency/saliency.h"

#include <math.h>
#include <string.h>

/* Clamped index shift: row/column source of output index i under a shift d. */
static inline int64_t shifted(int64_t i, int64_t d, int64_t n) {
  int64_t v = i - d;
  return v < 0 ? 0 : v >= n ? n - 1 : v;
}

sal_status sal__explain_meaningful_perturbation(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t C = job->C, H = job->H, W = job->W, per = C * H * W, HW = H * W, K = job->K;
  const int64_t s = p->mask_size > 0 ? p->mask_size : sal__scaled(28, H), ss = s * s;
  const int64_t J = p->jitter >= 0 ? p->jitter : sal__scaled(4, H);
  if (p->iterations < 1 || !(p->lr > 0))
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "iterations >= 1 and lr > 0 are needed");
  sal__runner r;
  /* extra per item: composite, its gradient, the upsampled mask and its gradient */
  sal_status st = sal__runner_init(&r, job, true, NULL, job->N, (2 * per + 2 * HW) * (int64_t)sizeof(float));
  if (st) return st;
  const int64_t B = r.B;
  float *base = sal_alloc(job->ctx, (size_t)(job->N * per) * sizeof(float)); /* (N, C, H, W) b(x) */
  float *xb = sal_alloc(job->ctx, (size_t)(B * per) * sizeof(float));        /* (B, C, H, W) Φ */
  float *gx = sal_alloc(job->ctx, (size_t)(B * per) * sizeof(float));        /* (B, C, H, W) */
  float *M = sal_alloc(job->ctx, (size_t)(B * HW) * sizeof(float));          /* (B, H, W) up(m) */
  float *gM = sal_alloc(job->ctx, (size_t)(B * HW) * sizeof(float));         /* (B, H, W) */
  float *m = sal_alloc(job->ctx, (size_t)(B * ss) * sizeof(float));          /* (B, s, s) */
  float *gm = sal_alloc(job->ctx, (size_t)(B * ss) * sizeof(float));
  float *m1 = sal_alloc(job->ctx, (size_t)(B * ss) * sizeof(float));         /* Adam moments */
  float *m2 = sal_alloc(job->ctx, (size_t)(B * ss) * sizeof(float));
  float *z = sal_alloc(job->ctx, (size_t)(B * K) * sizeof(float));
  float *seed = sal_alloc(job->ctx, (size_t)(B * K) * sizeof(float));
  if (!base || !xb || !gx || !M || !gM || !m || !gm || !m1 || !m2 || !z || !seed) st = SAL_STATUS_OUT_OF_MEMORY;
  const uint64_t stream = sal__stream("meaningful_perturbation", 0);
  for (int64_t i = 0; !st && i < job->N; i++)
    st = sal__baseline_image(job->ctx, p, stream + 1, job->images + i * per, C, H, W, base + i * per);
  for (int64_t i0 = 0; !st && i0 < job->N; i0 += B) {
    const int64_t b = job->N - i0 < B ? job->N - i0 : B;
    /* the image starts intact: m = 1 */
    for (int64_t q = 0; q < b * ss; q++) m[q] = 1.0f, m1[q] = 0.0f, m2[q] = 0.0f;
    for (int64_t t = 0; !st && t < p->iterations; t++) {
      /* jitter of step t, the same for every image: shifts in [-J, J] */
      float u[2];
      sal_rng_uniform(p->seed, stream, (uint64_t)(2 * t), u, 2);
      int64_t dy = J ? (int64_t)(u[0] * (float)(2 * J + 1)) - J : 0, dx = J ? (int64_t)(u[1] * (float)(2 * J + 1)) - J : 0;
      for (int64_t j = 0; j < b; j++) {
        const float *x = job->images + (i0 + j) * per, *bl = base + (i0 + j) * per;
        float *Mj = M + j * HW, *dst = xb + j * per;
        sal__bilinear(m + j * ss, s, s, Mj, H, W);
        for (int64_t c = 0; c < C; c++)
          for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++) {
              int64_t src = c * HW + shifted(y, dy, H) * W + shifted(xx, dx, W);
              float mv = Mj[y * W + xx];
              dst[c * HW + y * W + xx] = mv * x[src] + (1.0f - mv) * bl[src];
            }
      }
      st = sal__runner_forward(&r, xb, b, z);
      if (st) break;
      /* seed: ∂softmax_c/∂z_k = p_c (δ_kc − p_k) */
      for (int64_t j = 0; j < b; j++) {
        const float *zj = z + j * K;
        int64_t c = job->targets[i0 + j];
        double mx = zj[0], sum = 0;
        for (int64_t k = 1; k < K; k++) mx = zj[k] > mx ? zj[k] : mx;
        for (int64_t k = 0; k < K; k++) sum += exp((double)zj[k] - mx);
        double pc = exp((double)zj[c] - mx) / sum;
        for (int64_t k = 0; k < K; k++) {
          double pk = exp((double)zj[k] - mx) / sum;
          seed[j * K + k] = (float)(pc * ((k == c ? 1.0 : 0.0) - pk));
        }
      }
      st = sal__runner_backward(&r, b, seed, gx);
      if (st) break;
      for (int64_t j = 0; j < b; j++) {
        const float *x = job->images + (i0 + j) * per, *bl = base + (i0 + j) * per, *g = gx + j * per;
        float *gMj = gM + j * HW, *gmj = gm + j * ss, *mj = m + j * ss;
        /* ∂/∂M = Σ_c g ⊙ (x_j − b_j) */
        for (int64_t y = 0; y < H; y++)
          for (int64_t xx = 0; xx < W; xx++) {
            int64_t q = y * W + xx, sq = shifted(y, dy, H) * W + shifted(xx, dx, W);
            double a = 0;
            for (int64_t c = 0; c < C; c++) a += (double)g[c * HW + q] * ((double)x[c * HW + sq] - bl[c * HW + sq]);
            gMj[q] = (float)a;
          }
        memset(gmj, 0, (size_t)ss * sizeof(float));
        sal__bilinear_adjoint(gMj, H, W, gmj, s, s);
        /* λ1 Σ|1 − m|: −λ1 where m < 1 (m never exceeds 1) */
        for (int64_t q = 0; q < ss; q++)
          if (mj[q] < 1.0f) gmj[q] -= p->l1;
        /* λ2 Σ (|m(i,j+1) − m(i,j)|^β + |m(i+1,j) − m(i,j)|^β) */
        sal__tv(mj, s, s, p->beta, p->tv, gmj);
        /* Adam, then m clipped to [0, 1] */
        sal__adam_step(mj, gmj, m1 + j * ss, m2 + j * ss, ss, t + 1, p->lr, 0.0f, 1.0f);
      }
    }
    /* saliency = 1 − up(m), without jitter */
    for (int64_t j = 0; !st && j < b; j++) {
      float *dst = job->raw + (i0 + j) * HW;
      sal__bilinear(m + j * ss, s, s, dst, H, W);
      for (int64_t q = 0; q < HW; q++) dst[q] = 1.0f - dst[q];
    }
  }
  sal_free(base);
  sal_free(xb);
  sal_free(gx);
  sal_free(M);
  sal_free(gM);
  sal_free(m);
  sal_free(gm);
  sal_free(m1);
  sal_free(m2);
  sal_free(z);
  sal_free(seed);
  sal__runner_free(&r);
  return st;
}
