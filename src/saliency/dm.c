/* Saliency method `dm` (dynamic masks, Peng et al.; METHODS.md §B) and the DM engine hdm.c reuses:
 * stage 1 optimises coarse benchmark masks (all grids of several images as one model batch), their
 * mean normalised upsampling B guides stage 2's fine auxiliary masks; the map is M = clip(B + Σ up(a)). */
#define _POSIX_C_SOURCE 200809L
#include "saliency/dm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic.h"

/* ---- set-up ---- */

static sal_status bad(sal__xjob *job, const char *what) {
  return sal_ctx_error(job->ctx, SAL_STATUS_BAD_INPUT, "parameter %s", what);
}

sal_status sal__dm_init(sal__dm *w, sal__xjob *job, int64_t n_images) {
  const sal_method_params *p = job->p;
  memset(w, 0, sizeof *w);
  w->job = job;
  w->C = job->C, w->H = job->H, w->W = job->W, w->K = job->K;
  w->HW = job->H * job->W, w->per = job->C * w->HW;
  w->stream = sal__stream("dm", 1); /* dm and hdm draw the same noise baseline */
  if (p->iterations < 1) return bad(job, "iterations must be >= 1");
  if (!(p->lr > 0)) return bad(job, "lr must be > 0");
  if (!(p->alpha >= 0) || !(p->area >= 0) || !(p->gamma >= 0)) return bad(job, "alpha, beta and gamma must be >= 0");
  if (p->patience < 0) return bad(job, "patience must be >= 0");
  /* grids: 0-terminated lists, {0} = the 224-pixel defaults scaled with H */
  static const int64_t def_b[] = {6, 9, 12, 15}, def_a[] = {56, 112};
  const int64_t *lists[2] = {p->grids, p->aux_grids};
  for (int l = 0; l < 2; l++) {
    int64_t *out = l ? w->ga : w->gb;
    int n = 0;
    if (lists[l][0] == 0) {
      for (int i = 0; i < (l ? 2 : 4); i++) out[n++] = sal__scaled(l ? def_a[i] : def_b[i], job->H);
    } else {
      for (; n < SAL_MAX_GRIDS && lists[l][n]; n++) {
        if (lists[l][n] < 1 || lists[l][n] > 4096)
          return bad(job, l ? "aux_grids: sides in 1..4096" : "grids: sides in 1..4096");
        out[n] = lists[l][n];
      }
    }
    if (l) w->na = n;
    else w->nb = n;
  }
  int64_t cb = 0, ca = 0;
  for (int i = 0; i < w->nb; i++) cb = w->gb[i] * w->gb[i] > cb ? w->gb[i] * w->gb[i] : cb;
  for (int i = 0; i < w->na; i++) ca += w->ga[i] * w->ga[i];
  w->cells = cb > ca ? cb : ca;
  const int64_t HW = w->HW, per = w->per, K = w->K, cells = w->cells;
  const int64_t curve = p->trace_dir ? p->iterations * 4 : 0;
  /* extra bytes per item: the buffers below */
  int64_t extra = (3 * per + 3 * HW + 4 * cells + 2 * K + curve) * (int64_t)sizeof(float) + 24;
  sal_status st = sal__runner_init(&w->r, job, true, NULL, n_images * (w->nb > w->na ? w->nb : w->na), extra);
  if (st) return st;
  const int64_t B = w->B = w->r.B;
  sal_ctx *ctx = job->ctx;
  w->xb = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
  w->gx = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
  w->d = sal_alloc(ctx, (size_t)(B * per) * sizeof(float));
  w->up = sal_alloc(ctx, (size_t)(B * HW) * sizeof(float));
  w->gup = sal_alloc(ctx, (size_t)(B * HW) * sizeof(float));
  w->Mi = sal_alloc(ctx, (size_t)(B * HW) * sizeof(float));
  w->m = sal_alloc(ctx, (size_t)(B * cells) * sizeof(float));
  w->gm = sal_alloc(ctx, (size_t)(B * cells) * sizeof(float));
  w->m1 = sal_alloc(ctx, (size_t)(B * cells) * sizeof(float));
  w->m2 = sal_alloc(ctx, (size_t)(B * cells) * sizeof(float));
  w->z = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  w->seed = sal_alloc(ctx, (size_t)(B * K) * sizeof(float));
  w->best = sal_alloc(ctx, (size_t)B * sizeof(double));
  w->since = sal_alloc(ctx, (size_t)B * sizeof(int64_t));
  w->stop = sal_alloc(ctx, (size_t)B * sizeof(int64_t));
  w->curve = curve ? sal_calloc(ctx, (size_t)(B * curve), sizeof(float)) : NULL;
  if (!w->xb || !w->gx || !w->d || !w->up || !w->gup || !w->Mi || !w->m || !w->gm || !w->m1 || !w->m2 || !w->z ||
      !w->seed || !w->best || !w->since || !w->stop || (curve && !w->curve))
    return SAL_STATUS_OUT_OF_MEMORY;
  if (p->trace_dir && mkdir(p->trace_dir, 0777) != 0 && errno != EEXIST)
    return sal_ctx_error(ctx, SAL_STATUS_IO, "trace directory %s: %s", p->trace_dir, strerror(errno));
  return SAL_STATUS_OK;
}

void sal__dm_free(sal__dm *w) {
  float *f[] = {w->xb, w->gx, w->d, w->up, w->gup, w->Mi, w->m, w->gm, w->m1, w->m2, w->z, w->seed, w->curve};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) sal_free(f[i]);
  sal_free(w->best);
  sal_free(w->since);
  sal_free(w->stop);
  sal__runner_free(&w->r);
  memset(w, 0, sizeof *w);
}

/* ---- trace ---- */

static void trace_path(const sal__dm *w, int64_t i, const char *what, const char *ext, char *buf, size_t n) {
  const sal_method_params *p = w->job->p;
  if (p->trace_names && p->trace_names[i])
    snprintf(buf, n, "%s/%s.%s.%s.%s", p->trace_dir, p->trace_names[i], p->method, what, ext);
  else
    snprintf(buf, n, "%s/image%lld.%s.%s.%s", p->trace_dir, (long long)i, p->method, what, ext);
}

sal_status sal__dm_trace_map(const sal__dm *w, int64_t i, const char *what, const float *map, int64_t h, int64_t wd,
                             bool png) {
  if (!w->job->p->trace_dir) return SAL_STATUS_OK;
  sal_ctx *ctx = w->job->ctx;
  char path[4096];
  trace_path(w, i, what, "npy", path, sizeof path);
  sal_tensor t = {{2, {h, wd}}, (float *)map, SAL_LAYOUT_PLAIN, false};
  sal_status st = sal_npy_write(ctx, path, &t);
  if (st || !png) return st;
  sal_image *img = NULL;
  st = sal_overlay(ctx, map, wd, h, NULL, SAL_COLORMAP_JET, 1.0f, &img);
  trace_path(w, i, what, "png", path, sizeof path);
  if (!st) st = sal_image_write(ctx, path, img);
  sal_image_free(img);
  return st;
}

sal_status sal__dm_trace_csv(const sal__dm *w, int64_t i, const char *what, const char *header, const float *rows,
                             int64_t n_rows, int n_cols, int stride) {
  if (!w->job->p->trace_dir) return SAL_STATUS_OK;
  char path[4096];
  trace_path(w, i, what, "csv", path, sizeof path);
  sal__atomic_file af;
  sal_status st = sal__atomic_open(w->job->ctx, path, &af);
  if (st) return st;
  bool ok = fprintf(af.f, "%s\n", header) > 0;
  for (int64_t r = 0; ok && r < n_rows; r++) {
    ok = fprintf(af.f, "%lld", (long long)r) > 0;
    for (int c = 0; ok && c < n_cols; c++) ok = fprintf(af.f, ",%.9g", (double)rows[r * stride + c]) > 0;
    ok = ok && fputc('\n', af.f) != EOF;
  }
  return sal__atomic_commit(w->job->ctx, &af, ok);
}

/* ---- the two stages ---- */

/* Early stopping: records the loss of item j at step t; true when the item stops: its loss has not
 * improved for `patience` steps (0: never), an improvement being a loss below the lowest so far by
 * more than 1e-4 of it (PyTorch's ReduceLROnPlateau default threshold), so that an endless creep of
 * tiny decreases does not keep a converged mask running. */
static bool stops(sal__dm *w, int64_t j, double loss, int64_t t) {
  if (!isfinite(w->best[j]) || loss < w->best[j] - 1e-4 * fabs(w->best[j])) {
    w->best[j] = loss;
    w->since[j] = 0;
  } else if (w->job->p->patience > 0 && ++w->since[j] >= w->job->p->patience) {
    w->stop[j] = t + 1;
    return true;
  }
  return false;
}

static void item_start(sal__dm *w, int64_t j, int64_t cells, float init) {
  float *m = w->m + j * w->cells;
  for (int64_t q = 0; q < cells; q++) m[q] = init;
  memset(w->m1 + j * w->cells, 0, (size_t)cells * sizeof(float));
  memset(w->m2 + j * w->cells, 0, (size_t)cells * sizeof(float));
  w->best[j] = INFINITY;
  w->since[j] = 0;
  w->stop[j] = w->job->p->iterations;
}

/* Seeds backward with ∂L/∂z = 2α (z_c − z0) e_c for active items (0 for stopped ones); returns the
 * activation terms α (z_c − z0)² in act[j]. */
static void seed_activation(sal__dm *w, int64_t b, const int64_t *img, const float *z0, const bool *active,
                            double *act) {
  const double alpha = w->job->p->alpha;
  memset(w->seed, 0, (size_t)(b * w->K) * sizeof(float));
  for (int64_t j = 0; j < b; j++) {
    int64_t c = w->job->targets[img[j]];
    double diff = (double)w->z[j * w->K + c] - z0[img[j]];
    act[j] = alpha * diff * diff;
    if (active[j]) w->seed[j * w->K + c] = (float)(2 * alpha * diff);
  }
}

/* Stage 1: items (image idx[k / nb], grid gb[k % nb]) in batches of B; each mask m_s starts at 0.5
 * and minimises L_s = α (z_c(Φ(x, up_s(m_s))) − z0)² + β mean|m_s|. Adds norm(clip(up_s(m_s), 0, 1)) / nb
 * to the image's row of Bmap. */
static sal_status stage1(sal__dm *w, const int64_t *idx, int64_t n, const float *x, const float *base, const float *z0,
                         float *Bmap, int level, int64_t *img, bool *active, double *act) {
  const sal_method_params *p = w->job->p;
  const int64_t HW = w->HW, per = w->per, C = w->C, H = w->H, W = w->W, nb = w->nb, T = p->iterations;
  sal_status st = SAL_STATUS_OK;
  for (int64_t i = 0; i < n; i++) memset(Bmap + idx[i] * HW, 0, (size_t)HW * sizeof(float));
  for (int64_t k0 = 0; !st && k0 < n * nb; k0 += w->B) {
    const int64_t b = n * nb - k0 < w->B ? n * nb - k0 : w->B;
    int64_t live = b;
    for (int64_t j = 0; j < b; j++) {
      img[j] = idx[(k0 + j) / nb];
      const int64_t s = w->gb[(k0 + j) % nb];
      item_start(w, j, s * s, 0.5f);
      active[j] = true;
      for (int64_t q = 0; q < per; q++) w->d[j * per + q] = x[img[j] * per + q] - base[img[j] * per + q];
    }
    for (int64_t t = 0; !st && t < T && live > 0; t++) {
      for (int64_t j = 0; j < b; j++)
        if (active[j]) {
          const int64_t s = w->gb[(k0 + j) % nb];
          sal__bilinear(w->m + j * w->cells, s, s, w->up + j * HW, H, W);
          sal__composite(base + img[j] * per, w->d + j * per, w->up + j * HW, C, HW, w->xb + j * per);
        }
      st = sal__runner_forward(&w->r, w->xb, b, w->z);
      if (st) break;
      seed_activation(w, b, img, z0, active, act);
      st = sal__runner_backward(&w->r, b, w->seed, w->gx);
      for (int64_t j = 0; !st && j < b; j++) {
        if (!active[j]) continue;
        const int64_t s = w->gb[(k0 + j) % nb], ss = s * s;
        float *m = w->m + j * w->cells, *gm = w->gm + j * w->cells;
        double l1 = 0;
        for (int64_t q = 0; q < ss; q++) l1 += fabs((double)m[q]);
        const double area = p->area * l1 / (double)ss, loss = act[j] + area;
        if (w->curve) {
          float *row = w->curve + (j * T + t) * 4;
          row[0] = (float)loss, row[1] = (float)act[j], row[2] = (float)area;
        }
        if (stops(w, j, loss, t)) {
          active[j] = false;
          live--;
          continue;
        }
        sal__composite_grad(w->gx + j * per, w->d + j * per, C, HW, w->gup + j * HW);
        memset(gm, 0, (size_t)ss * sizeof(float));
        sal__bilinear_adjoint(w->gup + j * HW, H, W, gm, s, s);
        const float da = (float)(p->area / (double)ss);
        for (int64_t q = 0; q < ss; q++) gm[q] += m[q] > 0 ? da : m[q] < 0 ? -da : 0.0f;
        sal__adam_step(m, gm, w->m1 + j * w->cells, w->m2 + j * w->cells, ss, t + 1, p->lr, -INFINITY, INFINITY);
      }
    }
    /* B += norm(clip(up_s(m_s), 0, 1)) / nb; traces of the finished masks */
    for (int64_t j = 0; !st && j < b; j++) {
      const int64_t s = w->gb[(k0 + j) % nb];
      float *u = w->up + j * HW, *Bi = Bmap + img[j] * HW;
      sal__bilinear(w->m + j * w->cells, s, s, u, H, W);
      for (int64_t q = 0; q < HW; q++) u[q] = u[q] < 0 ? 0 : u[q] > 1 ? 1 : u[q];
      sal_map_normalize(u, HW, u);
      for (int64_t q = 0; q < HW; q++) Bi[q] += u[q] / (float)nb;
      if (p->trace_dir) {
        char what[64];
        snprintf(what, sizeof what, "L%d.bench%lld", level, (long long)s);
        st = sal__dm_trace_map(w, img[j], what, w->m + j * w->cells, s, s, false);
        if (!st)
          st = sal__dm_trace_csv(w, img[j], what, "step,loss,activation,area", w->curve + j * T * 4, w->stop[j], 3, 4);
      }
    }
  }
  return st;
}

/* A = Σ_t up(a_t) of item j into w->up, M = clip(Bi + A, 0, 1) into w->Mi (both (H, W)); w->gup is
 * scratch. */
static void superimpose(sal__dm *w, int64_t j, const float *Bi) {
  const int64_t HW = w->HW;
  float *A = w->up + j * HW, *tmp = w->gup + j * HW, *M = w->Mi + j * HW;
  const float *a = w->m + j * w->cells;
  memset(A, 0, (size_t)HW * sizeof(float));
  for (int g = 0; g < w->na; g++) {
    sal__bilinear(a, w->ga[g], w->ga[g], tmp, w->H, w->W);
    for (int64_t q = 0; q < HW; q++) A[q] += tmp[q];
    a += w->ga[g] * w->ga[g];
  }
  for (int64_t q = 0; q < HW; q++) {
    float v = Bi[q] + A[q];
    M[q] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/* Stage 2: per image, auxiliary masks a_t (grids ga, start 0) minimise
 * L = α (z_c(Φ(x, M)) − z0)² + β mean(|A| ⊙ (1 − B)) + γ TV(M), M = clip(B + A, 0, 1), A = Σ_t up(a_t),
 * TV(M) the mean over pixels of |Δ_h M| + |Δ_w M|. Writes M into the image's row of M. */
static sal_status stage2(sal__dm *w, const int64_t *idx, int64_t n, const float *x, const float *base, const float *z0,
                         const float *Bmap, float *Mout, int level, int64_t *img, bool *active, double *act) {
  const sal_method_params *p = w->job->p;
  const int64_t HW = w->HW, per = w->per, C = w->C, H = w->H, W = w->W, T = p->iterations;
  int64_t ca = 0;
  for (int g = 0; g < w->na; g++) ca += w->ga[g] * w->ga[g];
  sal_status st = SAL_STATUS_OK;
  for (int64_t i0 = 0; !st && i0 < n; i0 += w->B) {
    const int64_t b = n - i0 < w->B ? n - i0 : w->B;
    int64_t live = b;
    for (int64_t j = 0; j < b; j++) {
      img[j] = idx[i0 + j];
      item_start(w, j, ca, 0.0f);
      active[j] = true;
      for (int64_t q = 0; q < per; q++) w->d[j * per + q] = x[img[j] * per + q] - base[img[j] * per + q];
    }
    for (int64_t t = 0; !st && t < T && live > 0; t++) {
      for (int64_t j = 0; j < b; j++)
        if (active[j]) {
          superimpose(w, j, Bmap + img[j] * HW);
          sal__composite(base + img[j] * per, w->d + j * per, w->Mi + j * HW, C, HW, w->xb + j * per);
        }
      st = sal__runner_forward(&w->r, w->xb, b, w->z);
      if (st) break;
      seed_activation(w, b, img, z0, active, act);
      st = sal__runner_backward(&w->r, b, w->seed, w->gx);
      for (int64_t j = 0; !st && j < b; j++) {
        if (!active[j]) continue;
        const float *Bi = Bmap + img[j] * HW, *A = w->up + j * HW, *M = w->Mi + j * HW;
        float *g = w->gup + j * HW;
        double area = 0;
        for (int64_t q = 0; q < HW; q++) area += fabs((double)A[q]) * (1.0 - Bi[q]);
        area *= p->area / (double)HW;
        sal__composite_grad(w->gx + j * per, w->d + j * per, C, HW, g);
        const double tv = sal__tv(M, H, W, 2.0, p->gamma / (double)HW, g), loss = act[j] + area + tv;
        if (w->curve) {
          float *row = w->curve + (j * T + t) * 4;
          row[0] = (float)loss, row[1] = (float)act[j], row[2] = (float)area, row[3] = (float)tv;
        }
        if (stops(w, j, loss, t)) {
          active[j] = false;
          live--;
          continue;
        }
        /* ∂M/∂A = 1 where 0 <= B + A <= 1 (autograd's clamp passes the boundary); the area term's
         * ∂/∂A = β/HW · sign(A) (1 − B) */
        const double da = p->area / (double)HW;
        for (int64_t q = 0; q < HW; q++) {
          float v = Bi[q] + A[q];
          double gq = v >= 0 && v <= 1 ? g[q] : 0.0;
          if (A[q] != 0) gq += (A[q] > 0 ? da : -da) * (1.0 - Bi[q]);
          g[q] = (float)gq;
        }
        float *a = w->m + j * w->cells, *ga = w->gm + j * w->cells;
        memset(ga, 0, (size_t)ca * sizeof(float));
        int64_t off = 0;
        for (int gi = 0; gi < w->na; off += w->ga[gi] * w->ga[gi], gi++)
          sal__bilinear_adjoint(g, H, W, ga + off, w->ga[gi], w->ga[gi]);
        sal__adam_step(a, ga, w->m1 + j * w->cells, w->m2 + j * w->cells, ca, t + 1, p->lr, -INFINITY, INFINITY);
      }
    }
    for (int64_t j = 0; !st && j < b; j++) {
      superimpose(w, j, Bmap + img[j] * HW);
      memcpy(Mout + img[j] * HW, w->Mi + j * HW, (size_t)HW * sizeof(float));
      if (p->trace_dir) {
        char what[64];
        const float *a = w->m + j * w->cells;
        for (int gi = 0; !st && gi < w->na; a += w->ga[gi] * w->ga[gi], gi++) {
          snprintf(what, sizeof what, "L%d.aux%lld", level, (long long)w->ga[gi]);
          st = sal__dm_trace_map(w, img[j], what, a, w->ga[gi], w->ga[gi], false);
        }
        snprintf(what, sizeof what, "L%d.B", level);
        if (!st) st = sal__dm_trace_map(w, img[j], what, Bmap + img[j] * HW, H, W, true);
        snprintf(what, sizeof what, "L%d.M", level);
        if (!st) st = sal__dm_trace_map(w, img[j], what, w->Mi + j * HW, H, W, true);
        snprintf(what, sizeof what, "L%d.aux", level);
        if (!st)
          st = sal__dm_trace_csv(w, img[j], what, "step,loss,activation,area,tv", w->curve + j * T * 4, w->stop[j],
                                 4, 4);
      }
    }
  }
  return st;
}

sal_status sal__dm_level(sal__dm *w, const int64_t *idx, int64_t n, const float *x, const float *base,
                         const float *z0, float *Bmap, float *M, int level) {
  sal_ctx *ctx = w->job->ctx;
  /* per-batch bookkeeping (B entries), allocated before either stage's loop */
  int64_t *img = sal_alloc(ctx, (size_t)w->B * sizeof(int64_t));
  bool *active = sal_alloc(ctx, (size_t)w->B * sizeof(bool));
  double *act = sal_alloc(ctx, (size_t)w->B * sizeof(double));
  sal_status st = img && active && act ? SAL_STATUS_OK : SAL_STATUS_OUT_OF_MEMORY;
  if (!st) st = stage1(w, idx, n, x, base, z0, Bmap, level, img, active, act);
  if (!st) st = stage2(w, idx, n, x, base, z0, Bmap, M, level, img, active, act);
  sal_free(img);
  sal_free(active);
  sal_free(act);
  return st;
}

/* ---- dm ---- */

sal_status sal__explain_dm(sal__xjob *job) {
  sal__dm w;
  const int64_t N = job->N, per = job->C * job->H * job->W, HW = job->H * job->W;
  sal_status st = sal__dm_init(&w, job, N);
  float *base = st ? NULL : sal_alloc(job->ctx, (size_t)(N * per) * sizeof(float)); /* (N, C, H, W) b(x) */
  float *Bmap = st ? NULL : sal_alloc(job->ctx, (size_t)(N * HW) * sizeof(float));  /* (N, H, W) */
  int64_t *idx = st ? NULL : sal_alloc(job->ctx, (size_t)N * sizeof(int64_t));
  if (!st && (!base || !Bmap || !idx)) st = SAL_STATUS_OUT_OF_MEMORY;
  for (int64_t i = 0; !st && i < N; i++) {
    idx[i] = i;
    st = sal__baseline_image(job->ctx, job->p, w.stream, job->images + i * per, job->C, job->H, job->W, base + i * per);
  }
  /* z0 = z_c(x): the dispatcher's pre-pass recorded it in job->scores */
  if (!st) st = sal__dm_level(&w, idx, N, job->images, base, job->scores, Bmap, job->raw, 1);
  sal_free(base);
  sal_free(Bmap);
  sal_free(idx);
  sal__dm_free(&w);
  return st;
}
