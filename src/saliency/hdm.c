/* Saliency method `hdm` (hierarchical dynamic masks, Peng et al.; METHODS.md §B): DM levels, each on
 * the image with the regions found so far replaced by the baseline, then a learned fusion of the
 * levels' masks. Uses the DM engine of src/saliency/dm.c (dm.h). */
#include "saliency/dm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A pixel's rank key for the region: its masked level mask, then its benchmark value (which breaks
 * the ties of a mask saturated at 1), then raster order. */
typedef struct rank {
  float m, b;
  int64_t q;
} rank;

static int cmp_rank(const void *pa, const void *pb) {
  const rank *a = pa, *b = pb;
  if (a->m != b->m) return a->m < b->m ? 1 : -1;
  if (a->b != b->b) return a->b < b->b ? 1 : -1;
  return a->q < b->q ? -1 : a->q > b->q;
}

/* Forward of the items rows[0..n) of x (N, C, H, W) in batches, gathered into w->xb; out[rows[i]] =
 * z_c of item i. */
static sal_status forward_rows(sal__dm *w, const float *x, const int64_t *rows, int64_t n, float *out) {
  const int64_t per = w->per, K = w->K;
  sal_status st = SAL_STATUS_OK;
  for (int64_t i0 = 0; !st && i0 < n; i0 += w->B) {
    const int64_t b = n - i0 < w->B ? n - i0 : w->B;
    for (int64_t j = 0; j < b; j++) memcpy(w->xb + j * per, x + rows[i0 + j] * per, (size_t)per * sizeof(float));
    st = sal__runner_forward(&w->r, w->xb, b, w->z);
    for (int64_t j = 0; !st && j < b; j++) out[rows[i0 + j]] = w->z[j * K + w->job->targets[rows[i0 + j]]];
  }
  return st;
}

/* S = Σ_t softmax(v)_t P_t over the image's L levels: wts (L) out, S (HW) out; P is (T, N, HW). */
static void fuse(const float *v, int64_t L, const float *P, int64_t N, int64_t i, int64_t HW, float *wts, float *S) {
  double mx = v[0], sum = 0;
  for (int64_t t = 1; t < L; t++) mx = v[t] > mx ? v[t] : mx;
  for (int64_t t = 0; t < L; t++) sum += exp((double)v[t] - mx);
  for (int64_t t = 0; t < L; t++) wts[t] = (float)(exp((double)v[t] - mx) / sum);
  for (int64_t q = 0; q < HW; q++) {
    double s = 0;
    for (int64_t t = 0; t < L; t++) s += (double)wts[t] * P[(t * N + i) * HW + q];
    S[q] = (float)s;
  }
}

/* Fusion: per image, v (L values, start 0) minimises the stage-2 objective with S as the mask:
 * α (z_c(Φ(x, S)) − z_c(x))² + β mean(|S − B1| ⊙ (1 − B1)) + γ TV(S), B1 the level-1 benchmark map;
 * fusion_iterations Adam steps. job->raw gets norm(S). */
static sal_status fusion(sal__dm *w, const float *base, const float *P, const float *B1, const int64_t *nlev,
                         float *v, float *gv, float *v1, float *v2, float *wts, float *curve) {
  sal__xjob *job = w->job;
  const sal_method_params *p = job->p;
  const int64_t N = job->N, T = p->levels, HW = w->HW, per = w->per, C = w->C, H = w->H, W = w->W, K = w->K;
  const int64_t FI = p->fusion_iterations, cols = 4 + T;
  sal_status st = SAL_STATUS_OK;
  for (int64_t i0 = 0; !st && i0 < N; i0 += w->B) {
    const int64_t b = N - i0 < w->B ? N - i0 : w->B;
    memset(v, 0, (size_t)(b * T) * sizeof(float));
    memset(v1, 0, (size_t)(b * T) * sizeof(float));
    memset(v2, 0, (size_t)(b * T) * sizeof(float));
    for (int64_t j = 0; j < b; j++)
      for (int64_t q = 0; q < per; q++) w->d[j * per + q] = job->images[(i0 + j) * per + q] - base[(i0 + j) * per + q];
    for (int64_t t = 0; !st && t < FI; t++) {
      for (int64_t j = 0; j < b; j++) {
        fuse(v + j * T, nlev[i0 + j], P, N, i0 + j, HW, wts + j * T, w->up + j * HW);
        sal__composite(base + (i0 + j) * per, w->d + j * per, w->up + j * HW, C, HW, w->xb + j * per);
      }
      st = sal__runner_forward(&w->r, w->xb, b, w->z);
      if (st) break;
      memset(w->seed, 0, (size_t)(b * K) * sizeof(float));
      for (int64_t j = 0; j < b; j++) {
        int64_t c = job->targets[i0 + j];
        w->seed[j * K + c] = (float)(2.0 * p->alpha * ((double)w->z[j * K + c] - job->scores[i0 + j]));
      }
      st = sal__runner_backward(&w->r, b, w->seed, w->gx);
      for (int64_t j = 0; !st && j < b; j++) {
        const int64_t i = i0 + j, L = nlev[i];
        const float *S = w->up + j * HW, *Bi = B1 + i * HW;
        float *g = w->gup + j * HW;
        double diff = (double)w->z[j * K + job->targets[i]] - job->scores[i], area = 0;
        sal__composite_grad(w->gx + j * per, w->d + j * per, C, HW, g);
        const double tv = sal__tv(S, H, W, 2.0, p->gamma / (double)HW, g), da = p->area / (double)HW;
        for (int64_t q = 0; q < HW; q++) {
          double e = (double)S[q] - Bi[q];
          area += fabs(e) * (1.0 - Bi[q]);
          if (e != 0) g[q] = (float)(g[q] + (e > 0 ? da : -da) * (1.0 - Bi[q]));
        }
        area *= da;
        if (curve) {
          float *row = curve + (j * FI + t) * cols;
          row[1] = (float)(p->alpha * diff * diff), row[2] = (float)area, row[3] = (float)tv;
          row[0] = row[1] + row[2] + row[3];
          for (int64_t l = 0; l < T; l++) row[4 + l] = l < L ? wts[j * T + l] : 0.0f;
        }
        /* ∂L/∂w_l = <g, P_l>; softmax: ∂L/∂v_l = w_l (∂L/∂w_l − Σ_k w_k ∂L/∂w_k) */
        double gw[64], mean = 0;
        for (int64_t l = 0; l < L; l++) {
          const float *Pl = P + (l * N + i) * HW;
          double a = 0;
          for (int64_t q = 0; q < HW; q++) a += (double)g[q] * Pl[q];
          gw[l] = a;
          mean += wts[j * T + l] * a;
        }
        for (int64_t l = 0; l < L; l++) gv[j * T + l] = (float)(wts[j * T + l] * (gw[l] - mean));
        sal__adam_step(v + j * T, gv + j * T, v1 + j * T, v2 + j * T, L, t + 1, p->lr, -INFINITY, INFINITY);
      }
    }
    for (int64_t j = 0; !st && j < b; j++) {
      const int64_t i = i0 + j;
      float *S = w->up + j * HW;
      fuse(v + j * T, nlev[i], P, N, i, HW, wts + j * T, S);
      st = sal__dm_trace_map(w, i, "S", S, H, W, true);
      for (int64_t l = nlev[i]; l < T; l++) wts[j * T + l] = 0.0f; /* levels not run weigh 0 */
      if (!st) st = sal__dm_trace_map(w, i, "w", wts + j * T, 1, T, false);
      if (!st && curve) {
        char header[64 + 12 * 64];
        size_t u = (size_t)snprintf(header, 64, "step,loss,activation,area,tv");
        for (int64_t l = 0; l < T && u < sizeof header; l++)
          u += (size_t)snprintf(header + u, sizeof header - u, ",w%lld", (long long)l + 1);
        st = sal__dm_trace_csv(w, i, "fusion", header, curve + j * FI * cols, FI, (int)cols, (int)cols);
      }
      sal_map_normalize(S, HW, job->raw + i * HW);
    }
  }
  return st;
}

sal_status sal__explain_hdm(sal__xjob *job) {
  const sal_method_params *p = job->p;
  const int64_t N = job->N, per = job->C * job->H * job->W, HW = job->H * job->W, T = p->levels;
  if (T < 1 || T > 64) return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "parameter levels must be in 1..64");
  if (!(p->quantile > 0 && p->quantile < 1))
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "parameter quantile must be in (0, 1)");
  if (p->fusion_iterations < 0)
    return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "parameter fusion_iterations must be >= 0");
  sal__dm w;
  sal_status st = sal__dm_init(&w, job, N);
  sal_ctx *ctx = job->ctx;
  const int64_t B = st ? 0 : w.B, FI = p->fusion_iterations;
  float *base = NULL, *xt = NULL, *Bm = NULL, *B1 = NULL, *Mt = NULL, *P = NULL, *R = NULL, *zt = NULL, *zb = NULL;
  rank *scratch = NULL;
  float *v = NULL, *gv = NULL, *v1 = NULL, *v2 = NULL, *wts = NULL, *curve = NULL;
  int64_t *idx = NULL, *nlev = NULL;
  if (!st) {
    base = sal_alloc(ctx, (size_t)(N * per) * sizeof(float)); /* (N, C, H, W) b(x) */
    xt = sal_alloc(ctx, (size_t)(N * per) * sizeof(float));   /* (N, C, H, W) x_t */
    Bm = sal_alloc(ctx, (size_t)(N * HW) * sizeof(float));     /* (N, H, W) level benchmark maps */
    B1 = sal_alloc(ctx, (size_t)(N * HW) * sizeof(float));     /* (N, H, W) level 1's */
    Mt = sal_alloc(ctx, (size_t)(N * HW) * sizeof(float));     /* (N, H, W) M_t */
    P = sal_calloc(ctx, (size_t)(T * N * HW), sizeof(float));  /* (T, N, H, W) M_t ⊙ (1 − R_{t−1}) */
    R = sal_calloc(ctx, (size_t)(N * HW), sizeof(float));      /* (N, H, W) removed region */
    zt = sal_alloc(ctx, (size_t)N * sizeof(float));
    zb = sal_alloc(ctx, (size_t)N * sizeof(float));
    scratch = sal_alloc(ctx, (size_t)HW * sizeof(rank));
    v = sal_alloc(ctx, (size_t)(B * T) * sizeof(float)); /* (B, T) fusion logits, gradient, Adam moments, weights */
    gv = sal_alloc(ctx, (size_t)(B * T) * sizeof(float));
    v1 = sal_alloc(ctx, (size_t)(B * T) * sizeof(float));
    v2 = sal_alloc(ctx, (size_t)(B * T) * sizeof(float));
    wts = sal_alloc(ctx, (size_t)(B * T) * sizeof(float));
    curve = p->trace_dir && FI ? sal_calloc(ctx, (size_t)(B * FI * (4 + T)), sizeof(float)) : NULL;
    idx = sal_alloc(ctx, (size_t)N * sizeof(int64_t));
    nlev = sal_calloc(ctx, (size_t)N, sizeof(int64_t));
    if (!base || !xt || !Bm || !B1 || !Mt || !P || !R || !zt || !zb || !scratch || !v || !gv || !v1 || !v2 || !wts ||
        (p->trace_dir && FI && !curve) || !idx || !nlev)
      st = SAL_STATUS_OUT_OF_MEMORY;
  }
  for (int64_t i = 0; !st && i < N; i++) {
    idx[i] = i;
    zt[i] = job->scores[i];
    st = sal__baseline_image(ctx, p, w.stream, job->images + i * per, job->C, job->H, job->W, base + i * per);
  }
  if (!st) {
    memcpy(xt, job->images, (size_t)(N * per) * sizeof(float));
    st = forward_rows(&w, base, idx, N, zb); /* z_c(b(x)): "no evidence left" */
  }
  /* k: the pixels each level adds to the removed region */
  int64_t k = (int64_t)ceil((double)p->quantile * (double)HW), n = N;
  k = k < 1 ? 1 : k > HW ? HW : k;
  for (int64_t t = 0; !st && t < T && n > 0; t++) {
    st = sal__dm_level(&w, idx, n, xt, base, zt, Bm, Mt, (int)t + 1);
    if (st) break;
    if (t == 0) memcpy(B1, Bm, (size_t)(N * HW) * sizeof(float));
    for (int64_t a = 0; a < n; a++) {
      const int64_t i = idx[a];
      float *Pt = P + (t * N + i) * HW;
      for (int64_t q = 0; q < HW; q++) Pt[q] = Mt[i * HW + q] * (1.0f - R[i * HW + q]);
      nlev[i] = t + 1;
    }
    if (t == T - 1) break;
    /* R_t = R_{t−1} ∪ {the k top-ranked pixels of M_t ⊙ (1 − R_{t−1}) that are > 0};
     * x_{t+1} = Φ(x, 1 − R_t) */
    for (int64_t a = 0; !st && a < n; a++) {
      const int64_t i = idx[a];
      const float *Pt = P + (t * N + i) * HW;
      float *Ri = R + i * HW;
      for (int64_t q = 0; q < HW; q++) scratch[q] = (rank){Pt[q], Bm[i * HW + q], q};
      qsort(scratch, (size_t)HW, sizeof(rank), cmp_rank);
      for (int64_t r = 0; r < k && scratch[r].m > 0; r++) Ri[scratch[r].q] = 1.0f;
      const float *x = job->images + i * per, *b = base + i * per;
      for (int64_t c = 0; c < job->C; c++)
        for (int64_t q = 0; q < HW; q++) xt[i * per + c * HW + q] = Ri[q] > 0 ? b[c * HW + q] : x[c * HW + q];
      char what[32];
      snprintf(what, sizeof what, "L%lld.R", (long long)t + 1);
      st = sal__dm_trace_map(&w, i, what, Ri, job->H, job->W, true);
    }
    if (!st) st = forward_rows(&w, xt, idx, n, zt);
    /* an image whose remaining evidence is gone (z_c(x_{t+1}) <= z_c(b(x))) stops here */
    int64_t kept = 0;
    for (int64_t a = 0; !st && a < n; a++)
      if (zt[idx[a]] > zb[idx[a]]) idx[kept++] = idx[a];
    n = kept;
  }
  if (!st) st = fusion(&w, base, P, B1, nlev, v, gv, v1, v2, wts, curve);
  float *f[] = {base, xt, Bm, B1, Mt, P, R, zt, zb, v, gv, v1, v2, wts, curve};
  sal_free(scratch);
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) sal_free(f[i]);
  sal_free(idx);
  sal_free(nlev);
  sal__dm_free(&w);
  return st;
}
